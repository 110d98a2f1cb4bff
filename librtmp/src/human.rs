//! `srs_human_*`: names of FLV fields and one-line packet descriptions, as SRS prints them.

use crate::{c_bytes, guard};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

/// A static C string.
macro_rules! cstr {
    ($s:expr) => {
        concat!($s, "\0").as_ptr() as *const c_char
    };
}

fn name(v: c_char, names: &[*const c_char]) -> *const c_char {
    usize::try_from(v as i8)
        .ok()
        .and_then(|i| names.get(i).copied())
        .filter(|p| !p.is_null())
        .unwrap_or(cstr!("Unknown"))
}

#[no_mangle]
pub extern "C" fn srs_human_flv_tag_type2string(t: c_char) -> *const c_char {
    match t as u8 {
        8 => cstr!("Audio"),
        9 => cstr!("Video"),
        18 => cstr!("Data"),
        _ => cstr!("Unknown"),
    }
}

#[no_mangle]
pub extern "C" fn srs_human_flv_video_codec_id2string(c: c_char) -> *const c_char {
    let n = std::ptr::null();
    name(
        c,
        &[
            n,
            n,
            cstr!("H.263"),
            cstr!("Screen"),
            cstr!("VP6"),
            cstr!("VP6Alpha"),
            cstr!("Screen2"),
            cstr!("H.264"),
            n,
            n,
            n,
            n,
            cstr!("H.265"),
        ],
    )
}

#[no_mangle]
pub extern "C" fn srs_human_flv_video_avc_packet_type2string(t: c_char) -> *const c_char {
    name(t, &[cstr!("SH"), cstr!("Nalu"), cstr!("SpsPpsEnd")])
}

#[no_mangle]
pub extern "C" fn srs_human_flv_video_frame_type2string(t: c_char) -> *const c_char {
    let n = std::ptr::null();
    name(
        t,
        &[
            n,
            cstr!("I"),
            cstr!("P/B"),
            cstr!("DI"),
            cstr!("GI"),
            cstr!("VI"),
        ],
    )
}

#[no_mangle]
pub extern "C" fn srs_human_flv_audio_sound_format2string(f: c_char) -> *const c_char {
    let n = std::ptr::null();
    name(
        f,
        &[
            cstr!("LinearPCM"),
            cstr!("ADPCM"),
            cstr!("MP3"),
            cstr!("LinearPCMLe"),
            cstr!("NellymoserKHz16"),
            cstr!("NellymoserKHz8"),
            cstr!("Nellymoser"),
            cstr!("G711APCM"),
            cstr!("G711MuPCM"),
            cstr!("Reserved"),
            cstr!("AAC"),
            cstr!("Speex"),
            n,
            cstr!("Opus"),
            cstr!("MP3KHz8"),
            cstr!("DeviceSpecific"),
        ],
    )
}

#[no_mangle]
pub extern "C" fn srs_human_flv_audio_sound_rate2string(r: c_char) -> *const c_char {
    name(
        r,
        &[
            cstr!("5.5KHz"),
            cstr!("11KHz"),
            cstr!("22KHz"),
            cstr!("44KHz"),
        ],
    )
}

#[no_mangle]
pub extern "C" fn srs_human_flv_audio_sound_size2string(s: c_char) -> *const c_char {
    name(s, &[cstr!("8bit"), cstr!("16bit")])
}

#[no_mangle]
pub extern "C" fn srs_human_flv_audio_sound_type2string(t: c_char) -> *const c_char {
    name(t, &[cstr!("Mono"), cstr!("Stereo")])
}

#[no_mangle]
pub extern "C" fn srs_human_flv_audio_aac_packet_type2string(t: c_char) -> *const c_char {
    name(t, &[cstr!("SH"), cstr!("Raw")])
}

/// One line about a packet, as SRS 3's `srs_human_format_rtmp_packet`.
pub fn describe(ty: u8, timestamp: u32, body: &[u8]) -> String {
    srs_client::flv::describe_tag(ty, timestamp, body)
}

#[no_mangle]
pub unsafe extern "C" fn srs_human_format_rtmp_packet(
    buffer: *mut c_char,
    nb_buffer: c_int,
    type_: c_char,
    timestamp: u32,
    data: *mut c_char,
    size: c_int,
) -> c_int {
    if buffer.is_null() || nb_buffer <= 0 {
        return crate::error::INVALID;
    }
    guard(crate::error::INVALID, || {
        // SAFETY: the caller's buffer of `size` bytes, checked.
        let Some(b) = (unsafe { c_bytes(data, size) }) else {
            return crate::error::INVALID;
        };
        let line = describe(type_ as u8, timestamp, b);
        // SAFETY: the caller's output buffer of `nb_buffer` bytes.
        unsafe { crate::copy_out(buffer, nb_buffer as usize, &line) };
        0
    })
}

fn print_line(line: &str) {
    let Ok(c) = CString::new(format!("[{}][{}] {line}\n", now_text(), std::process::id())) else {
        return;
    };
    // SAFETY: printf with a constant format and our NUL-terminated text: C's stdio, so
    // that the line is ordered with the caller's own printf output.
    unsafe { libc::printf(c"%s".as_ptr(), c.as_ptr()) };
}

#[no_mangle]
pub unsafe extern "C" fn srs_human_print_rtmp_packet(
    type_: c_char,
    timestamp: u32,
    data: *mut c_char,
    size: c_int,
) -> c_int {
    srs_human_print_rtmp_packet4(type_, timestamp, data, size, 0, 0, 0, 0)
}

#[no_mangle]
pub unsafe extern "C" fn srs_human_print_rtmp_packet2(
    type_: c_char,
    timestamp: u32,
    data: *mut c_char,
    size: c_int,
    pre_timestamp: u32,
) -> c_int {
    srs_human_print_rtmp_packet4(type_, timestamp, data, size, pre_timestamp, 0, 0, 0)
}

#[no_mangle]
pub unsafe extern "C" fn srs_human_print_rtmp_packet3(
    type_: c_char,
    timestamp: u32,
    data: *mut c_char,
    size: c_int,
    pre_timestamp: u32,
    pre_now: i64,
) -> c_int {
    srs_human_print_rtmp_packet4(type_, timestamp, data, size, pre_timestamp, pre_now, 0, 0)
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn srs_human_print_rtmp_packet4(
    type_: c_char,
    timestamp: u32,
    data: *mut c_char,
    size: c_int,
    pre_timestamp: u32,
    pre_now: i64,
    starttime: i64,
    nb_packets: i64,
) -> c_int {
    guard(crate::error::INVALID, || {
        // SAFETY: the caller's buffer of `size` bytes, checked.
        let Some(b) = (unsafe { c_bytes(data, size) }) else {
            return crate::error::INVALID;
        };
        let mut line = describe(type_ as u8, timestamp, b);
        let now = crate::utils::srs_utils_time_ms();
        line.push_str(&format!(
            ", diff={}",
            timestamp.wrapping_sub(pre_timestamp) as i32
        ));
        if pre_now > 0 {
            line.push_str(&format!(", ndiff={}", now - pre_now));
        }
        if starttime > 0 && nb_packets > 0 && now > starttime {
            line.push_str(&format!(
                ", pps={:.1}",
                nb_packets as f64 * 1000.0 / (now - starttime) as f64
            ));
        }
        print_line(&line);
        0
    })
}

fn now_text() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r fills the struct we own from the time we pass.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

thread_local! {
    static TIME_TEXT: RefCell<CString> = RefCell::new(CString::default());
}

/// The local time as `YYYY-MM-DD HH:MM:SS.mmm`, in a buffer of the calling thread (valid
/// until its next call, as SRS's static buffer).
#[no_mangle]
pub extern "C" fn srs_human_format_time() -> *const c_char {
    guard(cstr!(""), || {
        TIME_TEXT.with(|t| {
            *t.borrow_mut() = CString::new(now_text()).unwrap_or_default();
            t.borrow().as_ptr()
        })
    })
}
