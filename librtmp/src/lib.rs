//! srs-librtmp for today: SRS's C client API (`include/srs_librtmp.h`), source-compatible
//! with srs-librtmp (SRS 2 and 3), over the `srs-client` crate (which drives the same
//! sans-I/O RTMP session as the server). Built as a shared and a static library.
//!
//! Handles (`srs_rtmp_t`, `srs_flv_t`) are keys into a table, never pointers we
//! dereference: a NULL, unknown or destroyed handle gives `ERROR_SRS_LIBRTMP_INVALID`, not a
//! crash. Every pointer from C is checked; nothing panics across the boundary (a panic
//! would be caught and reported as an error).
//!
//! Each RTMP handle runs its own single-threaded tokio runtime: a C caller blocks in each
//! call, with the receive and send timeouts of `srs_rtmp_set_timeout` (30 s by default,
//! as SRS 3).

#![allow(clippy::missing_safety_doc, non_camel_case_types, non_snake_case)]

use bytes::Bytes;
use srs_client::raw::{AdtsPacker, H264Packer, RawError};
use srs_client::{Client, ClientError, Options, Packet, RtmpUrl, ServerInfo};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, CStr, CString};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub mod amf0;
pub mod human;
pub mod mp4;
pub mod utils;

/// SRS's error codes (`srs_kernel_error.hpp`) this library returns.
pub mod error {
    pub const SUCCESS: i32 = 0;
    pub const SOCKET_CLOSED: i32 = 1004;
    pub const SOCKET_READ: i32 = 1007;
    pub const SOCKET_WRITE: i32 = 1009;
    pub const SOCKET_TIMEOUT: i32 = 1011;
    pub const SOCKET_CONNECT: i32 = 1012;
    pub const SYSTEM_IP_INVALID: i32 = 1029;
    pub const SYSTEM_FILE_OPENE: i32 = 1041;
    pub const SYSTEM_FILE_READ: i32 = 1044;
    pub const SYSTEM_FILE_WRITE: i32 = 1045;
    pub const SYSTEM_FILE_EOF: i32 = 1046;
    pub const SYSTEM_IO_INVALID: i32 = 1050;
    pub const RTMP_CHUNK_START: i32 = 2002;
    pub const RTMP_REQ_TCURL: i32 = 2006;
    pub const RTMP_CLIENT_REJECTED: i32 = 2035;
    pub const FLV_INVALID_VIDEO_TAG: i32 = 3042;
    pub const H264_DROP_BEFORE_SPS_PPS: i32 = 3043;
    pub const H264_DUPLICATED_SPS: i32 = 3044;
    pub const H264_DUPLICATED_PPS: i32 = 3045;
    pub const AAC_REQUIRED_ADTS: i32 = 3046;
    pub const AAC_ADTS_HEADER: i32 = 3047;
    /// Ours: a NULL pointer, a destroyed handle, or a call out of order.
    pub const INVALID: i32 = 9001;
}

/// Run `f`, turning a panic into `fallback` (nothing unwinds into C).
fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// A table of live handles: opaque keys given to C, never reused.
struct Table<T> {
    items: Mutex<HashMap<usize, Arc<Mutex<T>>>>,
}

static NEXT_KEY: AtomicUsize = AtomicUsize::new(0x5152_0000);

impl<T> Table<T> {
    fn new() -> Table<T> {
        Table {
            items: Mutex::new(HashMap::new()),
        }
    }

    fn insert(&self, v: T) -> *mut std::ffi::c_void {
        let key = NEXT_KEY.fetch_add(16, Ordering::Relaxed);
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, Arc::new(Mutex::new(v)));
        key as *mut std::ffi::c_void
    }

    fn get(&self, h: *mut std::ffi::c_void) -> Option<Arc<Mutex<T>>> {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(h as usize))
            .cloned()
    }

    /// Run `f` on the live handle `h`: an error code for an unknown (NULL, destroyed)
    /// handle, and for a panic, which never unwinds into C.
    fn with(&self, h: *mut std::ffi::c_void, f: impl FnOnce(&mut T) -> i32) -> c_int {
        guard(error::INVALID, || {
            let Some(v) = self.get(h) else {
                return error::INVALID;
            };
            let mut v = v.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut v)
        })
    }

    fn remove(&self, h: *mut std::ffi::c_void) -> Option<Arc<Mutex<T>>> {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(h as usize))
    }
}

/// One RTMP connection of a C caller.
struct Rtmp {
    url: Option<RtmpUrl>,
    rt: tokio::runtime::Runtime,
    addr: Option<std::net::SocketAddr>,
    socket: Option<tokio::net::TcpStream>,
    client: Option<Client>,
    tc_url: Option<String>,
    page_url: String,
    swf_url: String,
    /// `set_connect_args`'s arguments, sent after `connect`'s command object.
    connect_args: Option<srs_protocol::amf0::Amf0Value>,
    recv_timeout: Duration,
    send_timeout: Duration,
    h264: H264Packer,
    adts: AdtsPacker,
    info: ServerInfo,
    /// Strings handed to C by `get_server_*`, alive as long as the handle.
    ip: CString,
    sig: CString,
    /// The play or publish stream name (create2: none until a check).
    stream: String,
}

fn rtmps() -> &'static Table<Rtmp> {
    static T: OnceLock<Table<Rtmp>> = OnceLock::new();
    T.get_or_init(Table::new)
}

fn code_of(e: &ClientError) -> i32 {
    match e {
        ClientError::Url(_) => error::RTMP_REQ_TCURL,
        ClientError::Resolve(_) => error::SYSTEM_IP_INVALID,
        ClientError::Io { what, .. } if what.contains("connect") => error::SOCKET_CONNECT,
        ClientError::Io { what, .. } if what.contains("write") => error::SOCKET_WRITE,
        ClientError::Io { .. } => error::SOCKET_READ,
        ClientError::Timeout(_) => error::SOCKET_TIMEOUT,
        ClientError::Session(_) => error::RTMP_CHUNK_START,
        ClientError::Refused { .. } => error::RTMP_CLIENT_REJECTED,
        ClientError::Closed => error::SOCKET_CLOSED,
    }
}

unsafe fn c_str<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    CStr::from_ptr(p).to_str().ok()
}

/// A byte slice from C, or None for a NULL pointer with a size.
unsafe fn c_bytes<'a>(p: *const c_char, size: c_int) -> Option<&'a [u8]> {
    if size < 0 || (p.is_null() && size > 0) {
        return None;
    }
    if size == 0 {
        return Some(&[]);
    }
    Some(std::slice::from_raw_parts(p as *const u8, size as usize))
}

fn create(url: *const c_char, tc_url_only: bool) -> srs_rtmp_t {
    guard(std::ptr::null_mut(), || {
        // SAFETY: a C string the caller passes, checked for NULL.
        let Some(url) = (unsafe { c_str(url) }) else {
            return std::ptr::null_mut();
        };
        // create2 takes a tcUrl: SRS adds a stream name to it.
        let full = if tc_url_only {
            format!("{}/livestream", url.trim_end_matches('/'))
        } else {
            url.to_string()
        };
        let Ok(parsed) = RtmpUrl::parse(&full) else {
            return std::ptr::null_mut();
        };
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return std::ptr::null_mut();
        };
        rtmps().insert(Rtmp {
            stream: parsed.stream.clone(),
            url: Some(parsed),
            rt,
            addr: None,
            socket: None,
            client: None,
            tc_url: None,
            page_url: String::new(),
            swf_url: String::new(),
            connect_args: None,
            recv_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            h264: H264Packer::new(),
            adts: AdtsPacker::new(),
            info: ServerInfo::default(),
            ip: CString::default(),
            sig: CString::default(),
        })
    })
}

/// Run `f` on the live handle `h`, or give `INVALID`.
fn with_rtmp(h: srs_rtmp_t, f: impl FnOnce(&mut Rtmp) -> i32) -> c_int {
    rtmps().with(h, f)
}

pub type srs_rtmp_t = *mut std::ffi::c_void;
pub type srs_flv_t = *mut std::ffi::c_void;
pub type srs_amf0_t = *mut std::ffi::c_void;
pub type srs_bool = c_int;

#[no_mangle]
pub extern "C" fn srs_version_major() -> c_int {
    env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0)
}

#[no_mangle]
pub extern "C" fn srs_version_minor() -> c_int {
    env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0)
}

#[no_mangle]
pub extern "C" fn srs_version_revision() -> c_int {
    env!("CARGO_PKG_VERSION_PATCH").parse().unwrap_or(0)
}

#[no_mangle]
pub extern "C" fn srs_rtmp_create(url: *const c_char) -> srs_rtmp_t {
    create(url, false)
}

#[no_mangle]
pub extern "C" fn srs_rtmp_create2(url: *const c_char) -> srs_rtmp_t {
    create(url, true)
}

#[no_mangle]
pub extern "C" fn srs_rtmp_destroy(rtmp: srs_rtmp_t) {
    guard((), || {
        if let Some(r) = rtmps().remove(rtmp) {
            let mut r = r.lock().unwrap_or_else(|e| e.into_inner());
            // A graceful close (unpublish, FIN, read until the server closes; bounded): a
            // socket closed with unread data sends a reset, which makes the server drop
            // the last messages it had not read yet.
            if let Some(client) = r.client.take() {
                let name = r.stream.clone();
                r.rt.block_on(client.close(&name));
            }
        }
    })
}

#[no_mangle]
pub extern "C" fn srs_rtmp_set_timeout(
    rtmp: srs_rtmp_t,
    recv_timeout_ms: c_int,
    send_timeout_ms: c_int,
) -> c_int {
    with_rtmp(rtmp, |r| {
        let ms = |v: c_int| Duration::from_millis(u64::try_from(v).unwrap_or(0).max(1));
        r.recv_timeout = ms(recv_timeout_ms);
        r.send_timeout = ms(send_timeout_ms);
        0
    })
}

#[no_mangle]
pub extern "C" fn srs_rtmp_handshake(rtmp: srs_rtmp_t) -> c_int {
    let ret = srs_rtmp_dns_resolve(rtmp);
    if ret != 0 {
        return ret;
    }
    let ret = srs_rtmp_connect_server(rtmp);
    if ret != 0 {
        return ret;
    }
    srs_rtmp_do_simple_handshake(rtmp)
}

#[no_mangle]
pub extern "C" fn srs_rtmp_dns_resolve(rtmp: srs_rtmp_t) -> c_int {
    with_rtmp(rtmp, |r| {
        let Some(url) = r.url.clone() else {
            return error::RTMP_REQ_TCURL;
        };
        let timeout = r.send_timeout;
        let found = r.rt.block_on(async {
            tokio::time::timeout(timeout, tokio::net::lookup_host(url.addr())).await
        });
        match found {
            Ok(Ok(mut addrs)) => match addrs.next() {
                Some(a) => {
                    r.addr = Some(a);
                    0
                }
                None => error::SYSTEM_IP_INVALID,
            },
            Ok(Err(_)) => error::SYSTEM_IP_INVALID,
            Err(_) => error::SOCKET_TIMEOUT,
        }
    })
}

#[no_mangle]
pub extern "C" fn srs_rtmp_connect_server(rtmp: srs_rtmp_t) -> c_int {
    with_rtmp(rtmp, |r| {
        let Some(addr) = r.addr else {
            return error::INVALID;
        };
        let timeout = r.send_timeout;
        match r.rt.block_on(async {
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await
        }) {
            Ok(Ok(s)) => {
                r.socket = Some(s);
                0
            }
            Ok(Err(_)) => error::SOCKET_CONNECT,
            Err(_) => error::SOCKET_TIMEOUT,
        }
    })
}

/// The handshake goes out with `connect` (the session sends C0 C1, reads S0 S1 S2 and
/// answers C2 before its `connect`): here only the order of calls is checked.
#[no_mangle]
pub extern "C" fn srs_rtmp_do_simple_handshake(rtmp: srs_rtmp_t) -> c_int {
    with_rtmp(rtmp, |r| {
        if r.socket.is_some() {
            0
        } else {
            error::INVALID
        }
    })
}

#[no_mangle]
pub extern "C" fn srs_rtmp_do_complex_handshake(rtmp: srs_rtmp_t) -> c_int {
    srs_rtmp_do_simple_handshake(rtmp)
}

#[no_mangle]
pub unsafe extern "C" fn srs_rtmp_set_connect_args(
    rtmp: srs_rtmp_t,
    tc_url: *const c_char,
    swf_url: *const c_char,
    page_url: *const c_char,
    args: srs_amf0_t,
) -> c_int {
    // The arguments become the library's, as in SRS: taken (and freed) here, sent after
    // `connect`'s command object.
    let args = unsafe { amf0::take_value(args) };
    // SAFETY: C strings the caller passes, each checked for NULL.
    let (tc, swf, page) = unsafe {
        (
            c_str(tc_url).map(str::to_string),
            c_str(swf_url).map(str::to_string),
            c_str(page_url).map(str::to_string),
        )
    };
    with_rtmp(rtmp, |r| {
        if let Some(tc) = tc {
            r.tc_url = Some(tc);
        }
        if let Some(s) = swf {
            r.swf_url = s;
        }
        if let Some(p) = page {
            r.page_url = p;
        }
        if args.is_some() {
            r.connect_args = args;
        }
        0
    })
}

#[no_mangle]
pub extern "C" fn srs_rtmp_connect_app(rtmp: srs_rtmp_t) -> c_int {
    with_rtmp(rtmp, |r| {
        let (Some(socket), Some(url)) = (r.socket.take(), r.url.clone()) else {
            return error::INVALID;
        };
        let opts = Options {
            connect_timeout: r.recv_timeout.max(r.send_timeout),
            command_timeout: r.recv_timeout,
            page_url: r.page_url.clone(),
            swf_url: r.swf_url.clone(),
            connect_args: r.connect_args.clone(),
            ..Options::default()
        };
        let tc_url = r.tc_url.clone().unwrap_or(url.tc_url.clone());
        match r
            .rt
            .block_on(Client::connect_socket(socket, &tc_url, &url.app, &opts))
        {
            Ok(c) => {
                r.info = c.server_info();
                r.ip = CString::new(r.info.ip.clone()).unwrap_or_default();
                let sig = r
                    .info
                    .other
                    .iter()
                    .find(|(k, _)| k == "srs_sig")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| r.info.server.clone());
                r.sig = CString::new(sig).unwrap_or_default();
                r.client = Some(c);
                0
            }
            Err(e) => code_of(&e),
        }
    })
}

/// Copy `s` into a C buffer of `cap` bytes, NUL-terminated (cut to fit).
unsafe fn copy_out(dst: *mut c_char, cap: usize, s: &str) {
    if dst.is_null() || cap == 0 {
        return;
    }
    let n = s.len().min(cap - 1);
    // SAFETY: the caller's buffer holds `cap` bytes, as the header says.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), dst as *mut u8, n);
        *dst.add(n) = 0;
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_rtmp_connect_app2(
    rtmp: srs_rtmp_t,
    srs_server_ip: *mut c_char,
    srs_server: *mut c_char,
    srs_primary: *mut c_char,
    srs_authors: *mut c_char,
    srs_version: *mut c_char,
    srs_id: *mut c_int,
    srs_pid: *mut c_int,
) -> c_int {
    let ret = srs_rtmp_connect_app(rtmp);
    if ret != 0 {
        return ret;
    }
    with_rtmp(rtmp, |r| {
        let other = |k: &str| {
            r.info
                .other
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        // SAFETY: the caller's buffers, of the sizes the header gives.
        unsafe {
            copy_out(srs_server_ip, 128, &r.info.ip);
            copy_out(srs_server, 128, &r.info.server);
            copy_out(srs_primary, 128, &other("srs_primary"));
            copy_out(srs_authors, 128, &other("srs_authors"));
            copy_out(srs_version, 32, &r.info.version);
            if !srs_id.is_null() {
                *srs_id = r.info.id.parse().unwrap_or(-1);
            }
            if !srs_pid.is_null() {
                *srs_pid = i32::try_from(r.info.pid).unwrap_or(-1);
            }
        }
        0
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_rtmp_get_server_id(
    rtmp: srs_rtmp_t,
    ip: *mut *mut c_char,
    pid: *mut c_int,
    cid: *mut c_int,
) -> c_int {
    with_rtmp(rtmp, |r| {
        if r.client.is_none() {
            return error::INVALID;
        }
        // SAFETY: output pointers from the caller, each checked for NULL.
        unsafe {
            if !ip.is_null() {
                *ip = r.ip.as_ptr() as *mut c_char;
            }
            if !pid.is_null() {
                *pid = if r.info.pid == 0 {
                    -1
                } else {
                    r.info.pid as c_int
                };
            }
            if !cid.is_null() {
                *cid = r.info.id.parse().unwrap_or(-1);
            }
        }
        0
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_rtmp_get_server_sig(rtmp: srs_rtmp_t, sig: *mut *mut c_char) -> c_int {
    with_rtmp(rtmp, |r| {
        if r.client.is_none() || sig.is_null() {
            return error::INVALID;
        }
        // SAFETY: checked for NULL; the string lives as long as the handle.
        unsafe { *sig = r.sig.as_ptr() as *mut c_char };
        0
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_rtmp_get_server_version(
    rtmp: srs_rtmp_t,
    major: *mut c_int,
    minor: *mut c_int,
    revision: *mut c_int,
    build: *mut c_int,
) -> c_int {
    with_rtmp(rtmp, |r| {
        if r.client.is_none() {
            return error::INVALID;
        }
        let mut parts = r
            .info
            .version
            .split('.')
            .map(|p| p.parse::<c_int>().unwrap_or(0));
        // SAFETY: output pointers from the caller, each checked for NULL.
        unsafe {
            for out in [major, minor, revision, build] {
                let v = parts.next().unwrap_or(0);
                if !out.is_null() {
                    *out = v;
                }
            }
        }
        0
    })
}

fn start(rtmp: srs_rtmp_t, publish: bool) -> c_int {
    with_rtmp(rtmp, |r| {
        let stream = r.stream.clone();
        let Some(c) = r.client.as_mut() else {
            return error::INVALID;
        };
        let done = if publish {
            r.rt.block_on(c.publish(&stream))
        } else {
            r.rt.block_on(c.play(&stream))
        };
        match done {
            Ok(()) => 0,
            Err(e) => code_of(&e),
        }
    })
}

#[no_mangle]
pub extern "C" fn srs_rtmp_play_stream(rtmp: srs_rtmp_t) -> c_int {
    start(rtmp, false)
}

#[no_mangle]
pub extern "C" fn srs_rtmp_publish_stream(rtmp: srs_rtmp_t) -> c_int {
    start(rtmp, true)
}

/// SRS's bandwidth check, on a connection to a `bandcheck` vhost (made with
/// `srs_rtmp_create2` and a tcUrl carrying `key=...`), right after `srs_rtmp_connect_app`.
/// Every output is zeroed first, then filled with the server's figures.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn srs_rtmp_bandwidth_check(
    rtmp: srs_rtmp_t,
    start_time: *mut i64,
    end_time: *mut i64,
    play_kbps: *mut c_int,
    publish_kbps: *mut c_int,
    play_bytes: *mut c_int,
    publish_bytes: *mut c_int,
    play_duration: *mut c_int,
    publish_duration: *mut c_int,
) -> c_int {
    let ints = [
        play_kbps,
        publish_kbps,
        play_bytes,
        publish_bytes,
        play_duration,
        publish_duration,
    ];
    // SAFETY: output pointers from the caller, each checked for NULL.
    unsafe {
        for p in [start_time, end_time] {
            if !p.is_null() {
                *p = 0;
            }
        }
        for p in ints {
            if !p.is_null() {
                *p = 0;
            }
        }
    }
    let mut report = None;
    let ret = with_rtmp(rtmp, |r| {
        let Some(c) = r.client.as_mut() else {
            return error::INVALID;
        };
        match r.rt.block_on(c.bandwidth_check()) {
            Ok(rep) => {
                report = Some(rep);
                0
            }
            Err(e) => code_of(&e),
        }
    });
    if let Some(rep) = report {
        let clamp = |v: i64| c_int::try_from(v).unwrap_or(c_int::MAX);
        let vals = [
            rep.play_kbps,
            rep.publish_kbps,
            rep.play_bytes,
            rep.publish_bytes,
            rep.play_time,
            rep.publish_time,
        ];
        // SAFETY: as above.
        unsafe {
            if !start_time.is_null() {
                *start_time = rep.start_time;
            }
            if !end_time.is_null() {
                *end_time = rep.end_time;
            }
            for (p, v) in ints.into_iter().zip(vals) {
                if !p.is_null() {
                    *p = clamp(v);
                }
            }
        }
    }
    ret
}

#[no_mangle]
pub unsafe extern "C" fn srs_rtmp_read_packet(
    rtmp: srs_rtmp_t,
    type_: *mut c_char,
    timestamp: *mut u32,
    data: *mut *mut c_char,
    size: *mut c_int,
) -> c_int {
    if type_.is_null() || timestamp.is_null() || data.is_null() || size.is_null() {
        return error::INVALID;
    }
    // SAFETY: checked for NULL above.
    unsafe {
        *type_ = 0;
        *timestamp = 0;
        *data = std::ptr::null_mut();
        *size = 0;
    }
    let mut got: Option<(u8, u32, Bytes)> = None;
    let ret = with_rtmp(rtmp, |r| {
        let wait = r.recv_timeout;
        let Some(c) = r.client.as_mut() else {
            return error::INVALID;
        };
        loop {
            match r
                .rt
                .block_on(async { tokio::time::timeout(wait, c.read()).await })
            {
                Err(_) => return error::SOCKET_TIMEOUT,
                Ok(Err(e)) => return code_of(&e),
                Ok(Ok(Packet::Media {
                    type_id,
                    timestamp,
                    payload,
                })) => {
                    got = Some((type_id, timestamp, payload));
                    return 0;
                }
                // Statuses are the session's business; media is what is read.
                Ok(Ok(Packet::Status { .. })) => {}
            }
        }
    });
    if ret != 0 {
        return ret;
    }
    let Some((ty, ts, payload)) = got else {
        return error::INVALID;
    };
    // SAFETY: malloc'd so that the caller frees it with free(), as SRS's examples do.
    unsafe {
        let p = libc::malloc(payload.len().max(1)) as *mut c_char;
        if p.is_null() {
            return error::SOCKET_READ;
        }
        std::ptr::copy_nonoverlapping(payload.as_ptr(), p as *mut u8, payload.len());
        *type_ = ty as c_char;
        *timestamp = ts;
        *data = p;
        *size = payload.len() as c_int;
    }
    0
}

#[no_mangle]
pub unsafe extern "C" fn srs_rtmp_free_packet(data: *mut c_char) {
    if !data.is_null() {
        // SAFETY: a packet srs_rtmp_read_packet allocated with malloc.
        unsafe { libc::free(data as *mut libc::c_void) };
    }
}

fn send(r: &mut Rtmp, ty: u8, ts: u32, body: &[u8]) -> i32 {
    let wait = r.send_timeout;
    let Some(c) = r.client.as_mut() else {
        return error::INVALID;
    };
    // A publisher that never reads still answers the server (acknowledgements).
    if let Err(e) = c.drain_input() {
        return code_of(&e);
    }
    match r
        .rt
        .block_on(async { tokio::time::timeout(wait, c.write(ty, ts, body)).await })
    {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => code_of(&e),
        Err(_) => error::SOCKET_TIMEOUT,
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_rtmp_write_packet(
    rtmp: srs_rtmp_t,
    type_: c_char,
    timestamp: u32,
    data: *mut c_char,
    size: c_int,
) -> c_int {
    // SAFETY: the caller's malloc'd buffer of `size` bytes (checked), freed here as SRS does.
    let ret = match unsafe { c_bytes(data, size) } {
        Some(body) => with_rtmp(rtmp, |r| send(r, type_ as u8, timestamp, body)),
        None => error::INVALID,
    };
    if !data.is_null() {
        unsafe { libc::free(data as *mut libc::c_void) };
    }
    ret
}

#[no_mangle]
pub unsafe extern "C" fn srs_rtmp_is_onMetaData(
    type_: c_char,
    data: *mut c_char,
    size: c_int,
) -> srs_bool {
    guard(0, || {
        if type_ as u8 != 18 {
            return 0;
        }
        // SAFETY: the caller's buffer of `size` bytes, checked.
        let Some(b) = (unsafe { c_bytes(data, size) }) else {
            return 0;
        };
        let name = srs_protocol::amf0::decode_all(b)
            .ok()
            .and_then(|v| v.first().and_then(|n| n.as_str().map(str::to_string)));
        c_int::from(matches!(
            name.as_deref(),
            Some("onMetaData" | "@setDataFrame")
        ))
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_audio_write_raw_frame(
    rtmp: srs_rtmp_t,
    sound_format: c_char,
    sound_rate: c_char,
    sound_size: c_char,
    sound_type: c_char,
    frame: *mut c_char,
    frame_size: c_int,
    timestamp: u32,
) -> c_int {
    // SAFETY: the caller's buffer of `frame_size` bytes, checked; it stays the caller's.
    let Some(frame) = (unsafe { c_bytes(frame, frame_size) }) else {
        return error::INVALID;
    };
    with_rtmp(rtmp, |r| {
        if sound_format == 10 {
            if !utils::is_adts(&frame) {
                return error::AAC_REQUIRED_ADTS;
            }
            let bodies = match r.adts.pack(&frame, timestamp) {
                Ok(b) => b,
                Err(_) => return error::AAC_ADTS_HEADER,
            };
            for (ts, body) in bodies {
                let ret = send(r, 8, ts, &body);
                if ret != 0 {
                    return ret;
                }
            }
            return 0;
        }
        let flags = (sound_format as u8 & 0x0f) << 4
            | (sound_rate as u8 & 3) << 2
            | (sound_size as u8 & 1) << 1
            | (sound_type as u8 & 1);
        let mut body = Vec::with_capacity(1 + frame.len());
        body.push(flags);
        body.extend_from_slice(&frame);
        send(r, 8, timestamp, &body)
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_aac_is_adts(data: *mut c_char, size: c_int) -> srs_bool {
    // SAFETY: the caller's buffer of `size` bytes, checked.
    guard(0, || {
        c_int::from(unsafe { c_bytes(data, size) }.is_some_and(utils::is_adts))
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_aac_adts_frame_size(data: *mut c_char, size: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller's buffer of `size` bytes, checked.
        let Some(b) = (unsafe { c_bytes(data, size) }) else {
            return -1;
        };
        if b.len() <= 7 || !utils::is_adts(b) {
            return -1;
        }
        srs_protocol::codec::aac::parse_adts(b).map_or(-1, |(_, n)| n as c_int)
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_h264_write_raw_frames(
    rtmp: srs_rtmp_t,
    frames: *mut c_char,
    frames_size: c_int,
    dts: u32,
    pts: u32,
) -> c_int {
    // SAFETY: the caller's buffer of `frames_size` bytes, checked; it stays the caller's.
    let Some(data) = (unsafe { c_bytes(frames, frames_size) }) else {
        return error::INVALID;
    };
    if data.is_empty() {
        return error::INVALID;
    }
    with_rtmp(rtmp, |r| {
        let bodies = match r.h264.pack(&data, dts, pts) {
            Ok(b) => b,
            Err(RawError::BeforeParameterSets) => return error::H264_DROP_BEFORE_SPS_PPS,
            Err(_) => return error::FLV_INVALID_VIDEO_TAG,
        };
        for (ts, body) in bodies {
            let ret = send(r, 9, ts, &body);
            if ret != 0 {
                return ret;
            }
        }
        0
    })
}

#[no_mangle]
pub extern "C" fn srs_h264_is_dvbsp_error(error_code: c_int) -> srs_bool {
    c_int::from(error_code == error::H264_DROP_BEFORE_SPS_PPS)
}

#[no_mangle]
pub extern "C" fn srs_h264_is_duplicated_sps_error(error_code: c_int) -> srs_bool {
    c_int::from(error_code == error::H264_DUPLICATED_SPS)
}

#[no_mangle]
pub extern "C" fn srs_h264_is_duplicated_pps_error(error_code: c_int) -> srs_bool {
    c_int::from(error_code == error::H264_DUPLICATED_PPS)
}

#[no_mangle]
pub unsafe extern "C" fn srs_h264_startswith_annexb(
    data: *mut c_char,
    size: c_int,
    pnb_start_code: *mut c_int,
) -> srs_bool {
    guard(0, || {
        // SAFETY: the caller's buffer of `size` bytes, checked.
        let Some(b) = (unsafe { c_bytes(data, size) }) else {
            return 0;
        };
        let zeros = b.iter().take_while(|&&x| x == 0).count();
        if zeros >= 2 && b.get(zeros) == Some(&1) {
            if !pnb_start_code.is_null() {
                // SAFETY: checked for NULL.
                unsafe { *pnb_start_code = (zeros + 1) as c_int };
            }
            return 1;
        }
        0
    })
}

/// An FLV file of a C caller.
enum Flv {
    Read(BufReader<File>),
    Write(BufWriter<File>),
}

fn flvs() -> &'static Table<Flv> {
    static T: OnceLock<Table<Flv>> = OnceLock::new();
    T.get_or_init(Table::new)
}

fn with_flv(h: srs_flv_t, f: impl FnOnce(&mut Flv) -> i32) -> c_int {
    flvs().with(h, f)
}

#[no_mangle]
pub unsafe extern "C" fn srs_flv_open_read(file: *const c_char) -> srs_flv_t {
    guard(std::ptr::null_mut(), || {
        // SAFETY: a C string, checked for NULL.
        let Some(path) = (unsafe { c_str(file) }) else {
            return std::ptr::null_mut();
        };
        match File::open(path) {
            Ok(f) => flvs().insert(Flv::Read(BufReader::new(f))),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_flv_open_write(file: *const c_char) -> srs_flv_t {
    guard(std::ptr::null_mut(), || {
        // SAFETY: a C string, checked for NULL.
        let Some(path) = (unsafe { c_str(file) }) else {
            return std::ptr::null_mut();
        };
        match File::create(path) {
            Ok(f) => flvs().insert(Flv::Write(BufWriter::new(f))),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

#[no_mangle]
pub extern "C" fn srs_flv_close(flv: srs_flv_t) {
    guard((), || {
        if let Some(f) = flvs().remove(flv) {
            if let Flv::Write(w) = &mut *f.lock().unwrap_or_else(|e| e.into_inner()) {
                let _ = w.flush();
            }
        }
    })
}

fn read_exact_or_eof(r: &mut BufReader<File>, buf: &mut [u8]) -> i32 {
    match r.read_exact(buf) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => error::SYSTEM_FILE_EOF,
        Err(_) => error::SYSTEM_FILE_READ,
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_flv_read_header(flv: srs_flv_t, header: *mut c_char) -> c_int {
    if header.is_null() {
        return error::INVALID;
    }
    with_flv(flv, |f| {
        let Flv::Read(r) = f else {
            return error::SYSTEM_IO_INVALID;
        };
        let mut h = [0u8; 13];
        let ret = read_exact_or_eof(r, &mut h);
        if ret != 0 {
            return ret;
        }
        if &h[..3] != b"FLV" {
            return error::SYSTEM_FILE_READ;
        }
        // SAFETY: the caller's 9-byte header buffer, checked for NULL.
        unsafe { std::ptr::copy_nonoverlapping(h.as_ptr(), header as *mut u8, 9) };
        0
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_flv_read_tag_header(
    flv: srs_flv_t,
    ptype: *mut c_char,
    pdata_size: *mut i32,
    ptime: *mut u32,
) -> c_int {
    if ptype.is_null() || pdata_size.is_null() || ptime.is_null() {
        return error::INVALID;
    }
    with_flv(flv, |f| {
        let Flv::Read(r) = f else {
            return error::SYSTEM_IO_INVALID;
        };
        let mut h = [0u8; 11];
        let ret = read_exact_or_eof(r, &mut h);
        if ret != 0 {
            return ret;
        }
        let size = i32::from(h[1]) << 16 | i32::from(h[2]) << 8 | i32::from(h[3]);
        let time =
            u32::from(h[7]) << 24 | u32::from(h[4]) << 16 | u32::from(h[5]) << 8 | u32::from(h[6]);
        // SAFETY: output pointers, checked for NULL above.
        unsafe {
            *ptype = (h[0] & 0x1f) as c_char;
            *pdata_size = size;
            *ptime = time;
        }
        0
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_flv_read_tag_data(
    flv: srs_flv_t,
    data: *mut c_char,
    size: i32,
) -> c_int {
    if size < 0 || (data.is_null() && size > 0) {
        return error::INVALID;
    }
    with_flv(flv, |f| {
        let Flv::Read(r) = f else {
            return error::SYSTEM_IO_INVALID;
        };
        let mut body = vec![0u8; size as usize];
        let ret = read_exact_or_eof(r, &mut body);
        if ret != 0 {
            return ret;
        }
        let mut prev = [0u8; 4];
        let ret = read_exact_or_eof(r, &mut prev);
        if ret != 0 {
            return ret;
        }
        if size > 0 {
            // SAFETY: the caller's buffer of `size` bytes, checked above.
            unsafe { std::ptr::copy_nonoverlapping(body.as_ptr(), data as *mut u8, body.len()) };
        }
        0
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_flv_write_header(flv: srs_flv_t, header: *mut c_char) -> c_int {
    if header.is_null() {
        return error::INVALID;
    }
    // SAFETY: the caller's 9-byte header, checked for NULL.
    let h: [u8; 9] = unsafe { *(header as *const [u8; 9]) };
    with_flv(flv, |f| {
        let Flv::Write(w) = f else {
            return error::SYSTEM_IO_INVALID;
        };
        match w.write_all(&h).and_then(|()| w.write_all(&[0, 0, 0, 0])) {
            Ok(()) => 0,
            Err(_) => error::SYSTEM_FILE_WRITE,
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_flv_write_tag(
    flv: srs_flv_t,
    type_: c_char,
    time: i32,
    data: *mut c_char,
    size: c_int,
) -> c_int {
    // SAFETY: the caller's buffer of `size` bytes, checked; it stays the caller's.
    let Some(body) = (unsafe { c_bytes(data, size) }) else {
        return error::INVALID;
    };
    with_flv(flv, |f| {
        let Flv::Write(w) = f else {
            return error::SYSTEM_IO_INVALID;
        };
        let ty = match type_ as u8 {
            8 => 8,
            9 => 9,
            _ => 18,
        };
        let mut b = bytes::BytesMut::new();
        srs_protocol::flv::write_tag(&mut b, ty, time as u32, &body);
        match w.write_all(&b) {
            Ok(()) => 0,
            Err(_) => error::SYSTEM_FILE_WRITE,
        }
    })
}

#[no_mangle]
pub extern "C" fn srs_flv_size_tag(data_size: c_int) -> c_int {
    data_size.saturating_add(15)
}

#[no_mangle]
pub extern "C" fn srs_flv_tellg(flv: srs_flv_t) -> i64 {
    let mut pos = -1i64;
    with_flv(flv, |f| {
        pos = match f {
            Flv::Read(r) => r.stream_position().map_or(-1, |p| p as i64),
            Flv::Write(w) => w.stream_position().map_or(-1, |p| p as i64),
        };
        0
    });
    pos
}

#[no_mangle]
pub extern "C" fn srs_flv_lseek(flv: srs_flv_t, offset: i64) {
    with_flv(flv, |f| {
        let to = SeekFrom::Start(u64::try_from(offset).unwrap_or(0));
        let _ = match f {
            Flv::Read(r) => r.seek(to),
            Flv::Write(w) => w.seek(to),
        };
        0
    });
}

#[no_mangle]
pub extern "C" fn srs_flv_is_eof(error_code: c_int) -> srs_bool {
    c_int::from(error_code == error::SYSTEM_FILE_EOF)
}

#[no_mangle]
pub unsafe extern "C" fn srs_flv_is_sequence_header(data: *mut c_char, size: i32) -> srs_bool {
    // SAFETY: the caller's buffer of `size` bytes, checked.
    guard(0, || {
        c_int::from(
            unsafe { c_bytes(data, size) }
                .is_some_and(|b| b.len() >= 2 && b[0] & 0x0f == 7 && b[1] == 0),
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_flv_is_keyframe(data: *mut c_char, size: i32) -> srs_bool {
    // SAFETY: the caller's buffer of `size` bytes, checked.
    guard(0, || {
        c_int::from(unsafe { c_bytes(data, size) }.is_some_and(|b| !b.is_empty() && b[0] >> 4 == 1))
    })
}

/// The byte counters of a connection (0 before it connected).
fn counter(rtmp: srs_rtmp_t, sent: bool) -> i64 {
    let mut n = 0i64;
    with_rtmp(rtmp, |r| {
        if let Some(c) = &r.client {
            n = if sent { c.bytes_out() } else { c.bytes_in() } as i64;
        }
        0
    });
    n
}

#[no_mangle]
pub extern "C" fn srs_utils_send_bytes(rtmp: srs_rtmp_t) -> i64 {
    counter(rtmp, true)
}

#[no_mangle]
pub extern "C" fn srs_utils_recv_bytes(rtmp: srs_rtmp_t) -> i64 {
    counter(rtmp, false)
}
