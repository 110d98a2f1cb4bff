//! SRS 3's `srs_mp4_*` reader: an MP4 file's samples, the sequence headers first, as FLV
//! tags. The file is walked box by box to its `moov` (before or after `mdat`: SRS's reader
//! needs it first, ours does not), which `srs_protocol::mp4read` turns into samples; each
//! sample's bytes are read from the file when it is asked for.

use crate::{c_str, error, guard, srs_bool, Table};
use srs_protocol::mp4::TrackKind;
use srs_protocol::mp4read::{box_header, parse_moov, Movie, TrackCodec};
use std::ffi::{c_char, c_int, c_void};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::OnceLock;

/// An MP4 reader handle.
#[allow(non_camel_case_types)]
pub type srs_mp4_t = *mut c_void;

/// One sample given to C (the layout of `srs_mp4_sample_t` in `srs_librtmp.h`).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct srs_mp4_sample_t {
    pub handler_type: u32,
    pub dts: u32,
    pub codec: u16,
    pub frame_trait: u16,
    pub pts: u32,
    pub frame_type: u16,
    pub sample_rate: u8,
    pub sound_bits: u8,
    pub channels: u8,
    pub nb_sample: u32,
    pub sample: *mut u8,
}

/// Ours: the file is not an MP4 we can read (no `moov`, a bad table, no H.264/AAC/MP3).
pub const MP4_INVALID: i32 = 3080;

/// Largest `moov` we read into memory (a 24-hour recording's is a few tens of MB).
const MAX_MOOV: u64 = 256 << 20;
/// Largest sample we read (a 4K keyframe is a few MB).
const MAX_SAMPLE: u32 = 64 << 20;

const VIDE: u32 = u32::from_be_bytes(*b"vide");
const SOUN: u32 = u32::from_be_bytes(*b"soun");
/// FLV codec ids.
const AVC: u16 = 7;
const AAC: u16 = 10;
const MP3: u16 = 2;

struct Mp4 {
    file: File,
    movie: Option<Movie>,
    /// Sequence headers given so far (video, then audio).
    headers: usize,
    /// The next sample.
    next: usize,
}

fn mp4s() -> &'static Table<Mp4> {
    static T: OnceLock<Table<Mp4>> = OnceLock::new();
    T.get_or_init(Table::new)
}

fn with_mp4(h: srs_mp4_t, f: impl FnOnce(&mut Mp4) -> i32) -> c_int {
    mp4s().with(h, f)
}

/// # Safety
/// `file` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn srs_mp4_open_read(file: *const c_char) -> srs_mp4_t {
    guard(std::ptr::null_mut(), || {
        // SAFETY: a C string, checked for NULL.
        let Some(path) = (unsafe { c_str(file) }) else {
            return std::ptr::null_mut();
        };
        match File::open(path) {
            Ok(file) => mp4s().insert(Mp4 {
                file,
                movie: None,
                headers: 0,
                next: 0,
            }),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

#[no_mangle]
pub extern "C" fn srs_mp4_close(mp4: srs_mp4_t) {
    guard((), || {
        mp4s().remove(mp4);
    })
}

/// Find the `moov` and read it.
fn init(m: &mut Mp4) -> Result<Movie, i32> {
    let len = m
        .file
        .metadata()
        .map_err(|_| error::SYSTEM_FILE_READ)?
        .len();
    let mut at = 0u64;
    while at < len {
        let mut head = [0u8; 16];
        let n = (len - at).min(16) as usize;
        m.file
            .seek(SeekFrom::Start(at))
            .and_then(|_| m.file.read_exact(&mut head[..n]))
            .map_err(|_| error::SYSTEM_FILE_READ)?;
        let h = box_header(&head[..n]).map_err(|_| MP4_INVALID)?;
        let size = h.size.unwrap_or(len - at);
        if &h.kind == b"moov" {
            let body_len = size - h.header_len;
            if body_len > MAX_MOOV || at + size > len {
                return Err(MP4_INVALID);
            }
            let mut body = vec![0u8; body_len as usize];
            m.file
                .seek(SeekFrom::Start(at + h.header_len))
                .and_then(|_| m.file.read_exact(&mut body))
                .map_err(|_| error::SYSTEM_FILE_READ)?;
            return parse_moov(&body).map_err(|_| MP4_INVALID);
        }
        at = at.saturating_add(size);
    }
    Err(MP4_INVALID)
}

#[no_mangle]
pub extern "C" fn srs_mp4_init_demuxer(mp4: srs_mp4_t) -> c_int {
    with_mp4(mp4, |m| match init(m) {
        Ok(movie) => {
            m.movie = Some(movie);
            m.headers = 0;
            m.next = 0;
            error::SUCCESS
        }
        Err(e) => e,
    })
}

/// FLV's audio rate index for a sample rate (0: 5.5 kHz ... 3: 44 kHz).
fn rate_index(rate: u32) -> u8 {
    match rate {
        r if r >= 44_000 => 3,
        r if r >= 22_000 => 2,
        r if r >= 11_000 => 1,
        _ => 0,
    }
}

/// A malloc'd buffer of `len` bytes for C, filled by `fill` (freed again if that fails).
fn give(len: usize, fill: impl FnOnce(&mut [u8]) -> Result<(), i32>) -> Result<*mut u8, i32> {
    // SAFETY: a fresh allocation of at least one byte.
    let p = unsafe { libc::malloc(len.max(1)) } as *mut u8;
    if p.is_null() {
        return Err(error::SYSTEM_FILE_READ);
    }
    // SAFETY: `p` holds `len` bytes, ours until handed to C.
    let buf = unsafe { std::slice::from_raw_parts_mut(p, len) };
    // Zeroed first: `fill` may read into it.
    buf.fill(0);
    match fill(buf) {
        Ok(()) => Ok(p),
        Err(e) => {
            // SAFETY: allocated above, not handed out.
            unsafe { libc::free(p as *mut c_void) };
            Err(e)
        }
    }
}

/// The next sample, its bytes read from the file.
fn read(m: &mut Mp4, out: &mut srs_mp4_sample_t) -> i32 {
    let Some(movie) = &m.movie else {
        return error::INVALID;
    };
    let audio = movie.audio.as_ref().map(|t| match &t.codec {
        TrackCodec::Aac {
            sample_rate,
            channels,
            ..
        } => (AAC, *sample_rate, *channels),
        TrackCodec::Mp3 {
            sample_rate,
            channels,
        } => (MP3, *sample_rate, *channels),
        TrackCodec::Avc { .. } => (0, 0, 0),
    });
    let set_audio = |s: &mut srs_mp4_sample_t| {
        if let Some((codec, rate, channels)) = audio {
            s.handler_type = SOUN;
            s.codec = codec;
            s.sample_rate = rate_index(rate);
            s.sound_bits = 1;
            s.channels = u8::from(channels > 1);
        }
    };
    // The sequence headers first: the video's, then the audio's.
    let header = [&movie.video, &movie.audio]
        .into_iter()
        .flatten()
        .filter_map(|t| match &t.codec {
            TrackCodec::Avc { avcc } => Some((t.kind, &avcc[..])),
            TrackCodec::Aac { asc, .. } => Some((t.kind, &asc[..])),
            TrackCodec::Mp3 { .. } => None,
        })
        .nth(m.headers);
    let first_dts = movie.samples.first().map_or(0, |s| s.dts_ms as u32);
    if let Some((kind, config)) = header {
        let p = match give(config.len(), |b| {
            b.copy_from_slice(config);
            Ok(())
        }) {
            Ok(p) => p,
            Err(e) => return e,
        };
        *out = srs_mp4_sample_t {
            handler_type: VIDE,
            dts: first_dts,
            codec: AVC,
            frame_trait: 0,
            pts: first_dts,
            frame_type: 1,
            sample_rate: 0,
            sound_bits: 0,
            channels: 0,
            nb_sample: config.len() as u32,
            sample: p,
        };
        if kind == TrackKind::Audio {
            set_audio(out);
        }
        m.headers += 1;
        return error::SUCCESS;
    }
    let Some(s) = movie.samples.get(m.next).copied() else {
        return error::SYSTEM_FILE_EOF;
    };
    if s.size > MAX_SAMPLE {
        return MP4_INVALID;
    }
    // Read straight into the buffer C gets; a sample past the end of the file (a recording
    // cut short) ends the reading.
    let file = &mut m.file;
    let p = match give(s.size as usize, |b| {
        file.seek(SeekFrom::Start(s.offset))
            .and_then(|_| file.read_exact(b))
            .map_err(|_| error::SYSTEM_FILE_EOF)
    }) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let dts = s.dts_ms as u32;
    *out = srs_mp4_sample_t {
        handler_type: VIDE,
        dts,
        codec: AVC,
        frame_trait: 1,
        pts: dts.wrapping_add_signed(s.cts_ms),
        frame_type: if s.sync { 1 } else { 2 },
        sample_rate: 0,
        sound_bits: 0,
        channels: 0,
        nb_sample: s.size,
        sample: p,
    };
    if s.track == TrackKind::Audio {
        set_audio(out);
        out.pts = dts;
    }
    m.next += 1;
    error::SUCCESS
}

/// # Safety
/// `sample` is NULL or points to a `srs_mp4_sample_t`.
#[no_mangle]
pub unsafe extern "C" fn srs_mp4_read_sample(
    mp4: srs_mp4_t,
    sample: *mut srs_mp4_sample_t,
) -> c_int {
    // SAFETY: the caller's struct, checked for NULL.
    let Some(out) = (unsafe { sample.as_mut() }) else {
        return error::INVALID;
    };
    with_mp4(mp4, |m| read(m, out))
}

/// # Safety
/// `sample` is NULL or a sample filled by `srs_mp4_read_sample`.
#[no_mangle]
pub unsafe extern "C" fn srs_mp4_free_sample(sample: *mut srs_mp4_sample_t) {
    // SAFETY: the caller's struct, checked for NULL.
    if let Some(s) = unsafe { sample.as_mut() } {
        if !s.sample.is_null() {
            // SAFETY: malloc'd by srs_mp4_read_sample.
            unsafe { libc::free(s.sample as *mut c_void) };
            s.sample = std::ptr::null_mut();
        }
        s.nb_sample = 0;
    }
}

/// Bytes of the FLV tag header before a sample's data.
fn tag_header_len(s: &srs_mp4_sample_t) -> u32 {
    match (s.handler_type, s.codec) {
        (VIDE, _) => 5,
        (_, AAC) => 2,
        _ => 1,
    }
}

/// # Safety
/// `sample` is NULL or points to a `srs_mp4_sample_t`.
#[no_mangle]
pub unsafe extern "C" fn srs_mp4_sizeof(_mp4: srs_mp4_t, sample: *mut srs_mp4_sample_t) -> i32 {
    // SAFETY: the caller's struct, checked for NULL.
    let Some(s) = (unsafe { sample.as_ref() }) else {
        return 0;
    };
    i32::try_from(s.nb_sample.saturating_add(tag_header_len(s))).unwrap_or(0)
}

/// # Safety
/// Each pointer is NULL or valid; `data` holds `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn srs_mp4_to_flv_tag(
    _mp4: srs_mp4_t,
    sample: *mut srs_mp4_sample_t,
    type_: *mut c_char,
    time: *mut u32,
    data: *mut c_char,
    size: i32,
) -> c_int {
    guard(error::INVALID, || {
        // SAFETY: the caller's pointers, each checked for NULL.
        let (Some(s), Some(type_), Some(time)) =
            (unsafe { (sample.as_ref(), type_.as_mut(), time.as_mut()) })
        else {
            return error::INVALID;
        };
        let head = tag_header_len(s);
        let need = s.nb_sample.saturating_add(head);
        if data.is_null()
            || size < 0
            || (size as u32) < need
            || (s.sample.is_null() && s.nb_sample > 0)
        {
            return error::INVALID;
        }
        // SAFETY: `data` holds `size` >= `need` bytes.
        let out = unsafe { std::slice::from_raw_parts_mut(data as *mut u8, need as usize) };
        if s.handler_type == VIDE {
            let cts = s.pts.wrapping_sub(s.dts) as i32;
            out[0] = (s.frame_type as u8) << 4 | s.codec as u8;
            out[1] = s.frame_trait as u8;
            out[2..5].copy_from_slice(&cts.to_be_bytes()[1..]);
            *type_ = 9;
        } else {
            out[0] = (s.codec as u8) << 4 | s.sample_rate << 2 | s.sound_bits << 1 | s.channels;
            if s.codec == AAC {
                out[1] = s.frame_trait as u8;
            }
            *type_ = 8;
        }
        if s.nb_sample > 0 {
            // SAFETY: `sample` holds `nb_sample` bytes (from srs_mp4_read_sample).
            let src = unsafe { std::slice::from_raw_parts(s.sample, s.nb_sample as usize) };
            out[head as usize..].copy_from_slice(src);
        }
        *time = s.dts;
        error::SUCCESS
    })
}

#[no_mangle]
pub extern "C" fn srs_mp4_is_eof(error_code: c_int) -> srs_bool {
    c_int::from(error_code == error::SYSTEM_FILE_EOF)
}
