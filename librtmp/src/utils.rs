//! `srs_utils_*`: the fields of FLV tag bodies, timestamps and the clock.

use crate::{c_bytes, error, guard, srs_bool};
use std::ffi::{c_char, c_int};

/// Whether `b` starts with an ADTS syncword.
pub fn is_adts(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] == 0xff && b[1] & 0xf0 == 0xf0
}

/// A byte of a body at `i`, through `f`; -1 when the body is too short.
unsafe fn field(
    data: *mut c_char,
    size: c_int,
    need: usize,
    f: impl FnOnce(&[u8]) -> i8,
) -> c_char {
    guard(-1, || {
        // SAFETY: the caller's buffer of `size` bytes, checked.
        match unsafe { c_bytes(data, size) } {
            Some(b) if b.len() >= need => f(b) as c_char,
            _ => -1,
        }
    })
}

#[no_mangle]
pub extern "C" fn srs_utils_time_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[no_mangle]
pub unsafe extern "C" fn srs_utils_parse_timestamp(
    time: u32,
    type_: c_char,
    data: *mut c_char,
    size: c_int,
    ppts: *mut u32,
) -> c_int {
    if ppts.is_null() {
        return error::INVALID;
    }
    guard(error::INVALID, || {
        let pts = if type_ as u8 != 9 {
            time
        } else {
            // SAFETY: the caller's buffer of `size` bytes, checked.
            let Some(b) = (unsafe { c_bytes(data, size) }) else {
                return error::INVALID;
            };
            if b.len() < 5 || b[0] & 0x0f != 7 {
                return error::FLV_INVALID_VIDEO_TAG;
            }
            if b[1] == 0 {
                time
            } else {
                let cts =
                    (i32::from(b[2]) << 16 | i32::from(b[3]) << 8 | i32::from(b[4])) << 8 >> 8;
                time.wrapping_add(cts as u32)
            }
        };
        // SAFETY: checked for NULL.
        unsafe { *ppts = pts };
        0
    })
}

#[no_mangle]
pub extern "C" fn srs_utils_flv_tag_is_ok(type_: c_char) -> srs_bool {
    c_int::from(matches!(type_ as u8, 8 | 9 | 18))
}

#[no_mangle]
pub extern "C" fn srs_utils_flv_tag_is_audio(type_: c_char) -> srs_bool {
    c_int::from(type_ as u8 == 8)
}

#[no_mangle]
pub extern "C" fn srs_utils_flv_tag_is_video(type_: c_char) -> srs_bool {
    c_int::from(type_ as u8 == 9)
}

#[no_mangle]
pub extern "C" fn srs_utils_flv_tag_is_av(type_: c_char) -> srs_bool {
    c_int::from(matches!(type_ as u8, 8 | 9))
}

#[no_mangle]
pub unsafe extern "C" fn srs_utils_flv_video_codec_id(data: *mut c_char, size: c_int) -> c_char {
    // SRS gives 0, not -1, when there is no body.
    match field(data, size, 1, |b| (b[0] & 0x0f) as i8) {
        -1 => 0,
        v => v,
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_utils_flv_video_avc_packet_type(
    data: *mut c_char,
    size: c_int,
) -> c_char {
    field(data, size, 2, |b| {
        if b[0] & 0x0f == 7 {
            b[1] as i8
        } else {
            -1
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_utils_flv_video_frame_type(data: *mut c_char, size: c_int) -> c_char {
    field(data, size, 1, |b| {
        if b[0] & 0x0f == 7 {
            (b[0] >> 4) as i8
        } else {
            -1
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_utils_flv_audio_sound_format(
    data: *mut c_char,
    size: c_int,
) -> c_char {
    field(data, size, 1, |b| (b[0] >> 4) as i8)
}

#[no_mangle]
pub unsafe extern "C" fn srs_utils_flv_audio_sound_rate(data: *mut c_char, size: c_int) -> c_char {
    field(data, size, 1, |b| ((b[0] >> 2) & 3) as i8)
}

#[no_mangle]
pub unsafe extern "C" fn srs_utils_flv_audio_sound_size(data: *mut c_char, size: c_int) -> c_char {
    field(data, size, 1, |b| ((b[0] >> 1) & 1) as i8)
}

#[no_mangle]
pub unsafe extern "C" fn srs_utils_flv_audio_sound_type(data: *mut c_char, size: c_int) -> c_char {
    field(data, size, 1, |b| (b[0] & 1) as i8)
}

#[no_mangle]
pub unsafe extern "C" fn srs_utils_flv_audio_aac_packet_type(
    data: *mut c_char,
    size: c_int,
) -> c_char {
    field(
        data,
        size,
        2,
        |b| if b[0] >> 4 == 10 { b[1] as i8 } else { -1 },
    )
}
