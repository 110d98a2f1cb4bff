//! `srs_amf0_*`: AMF0 values for C. An `srs_amf0_t` points to a node on the heap: the ones
//! `srs_amf0_parse`, `srs_amf0_create_*` and `srs_amf0_ecma_array_to_object` return are the
//! caller's (free with `srs_amf0_free`); properties and elements are borrowed from their
//! parent; `*_property_set` and `strict_array_append` take the value they are given. NULL
//! is checked everywhere (an answer of 0, NULL or nothing).

use crate::{c_bytes, guard, srs_amf0_t, srs_bool};
use srs_protocol::amf0::{Amf0Decoder, Amf0Value};
use std::ffi::{c_char, c_int, CStr, CString};

/// One value; children are boxed so that borrowed pointers to them stay put.
enum Node {
    Number(f64),
    Boolean(bool),
    String(CString),
    Null,
    Undefined,
    Object(Vec<(CString, Box<Node>)>),
    Ecma(Vec<(CString, Box<Node>)>),
    Strict(Vec<Box<Node>>),
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

fn from_value(v: &Amf0Value) -> Node {
    let props = |p: &[(String, Amf0Value)]| {
        p.iter()
            .map(|(k, v)| (cstring(k), Box::new(from_value(v))))
            .collect()
    };
    match v {
        Amf0Value::Number(n) => Node::Number(*n),
        Amf0Value::Boolean(b) => Node::Boolean(*b),
        Amf0Value::String(s) | Amf0Value::LongString(s) | Amf0Value::XmlDocument(s) => {
            Node::String(cstring(s))
        }
        Amf0Value::Object(p) | Amf0Value::TypedObject { properties: p, .. } => {
            Node::Object(props(p))
        }
        Amf0Value::EcmaArray(p) => Node::Ecma(props(p)),
        Amf0Value::StrictArray(a) => {
            Node::Strict(a.iter().map(|v| Box::new(from_value(v))).collect())
        }
        Amf0Value::Date { millis, .. } => Node::Number(*millis),
        Amf0Value::Null => Node::Null,
        _ => Node::Undefined,
    }
}

fn to_value(n: &Node) -> Amf0Value {
    let props = |p: &[(CString, Box<Node>)]| {
        p.iter()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), to_value(v)))
            .collect()
    };
    match n {
        Node::Number(v) => Amf0Value::Number(*v),
        Node::Boolean(b) => Amf0Value::Boolean(*b),
        Node::String(s) => Amf0Value::string(s.to_string_lossy().as_ref()),
        Node::Null => Amf0Value::Null,
        Node::Undefined => Amf0Value::Undefined,
        Node::Object(p) => Amf0Value::Object(props(p)),
        Node::Ecma(p) => Amf0Value::EcmaArray(props(p)),
        Node::Strict(a) => Amf0Value::StrictArray(a.iter().map(|v| to_value(v)).collect()),
    }
}

fn new(n: Node) -> srs_amf0_t {
    Box::into_raw(Box::new(n)) as srs_amf0_t
}

/// The node behind `p`, if any.
unsafe fn node<'a>(p: srs_amf0_t) -> Option<&'a mut Node> {
    // SAFETY: a pointer this module handed out (or NULL).
    unsafe { (p as *mut Node).as_mut() }
}

/// Take ownership of a node the caller gives.
unsafe fn take(p: srs_amf0_t) -> Option<Box<Node>> {
    // SAFETY: a pointer this module handed out, now given back.
    (!p.is_null()).then(|| unsafe { Box::from_raw(p as *mut Node) })
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_parse(
    data: *mut c_char,
    size: c_int,
    nparsed: *mut c_int,
) -> srs_amf0_t {
    guard(std::ptr::null_mut(), || {
        // SAFETY: the caller's buffer of `size` bytes, checked.
        let Some(b) = (unsafe { c_bytes(data, size) }) else {
            return std::ptr::null_mut();
        };
        let mut d = Amf0Decoder::new(b);
        match d.decode() {
            Ok(v) => {
                if !nparsed.is_null() {
                    // SAFETY: checked for NULL.
                    unsafe { *nparsed = d.position() as c_int };
                }
                new(from_value(&v))
            }
            Err(_) => std::ptr::null_mut(),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_create_string(value: *const c_char) -> srs_amf0_t {
    if value.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: a C string, checked for NULL.
    new(Node::String(unsafe { CStr::from_ptr(value) }.to_owned()))
}

#[no_mangle]
pub extern "C" fn srs_amf0_create_number(value: f64) -> srs_amf0_t {
    new(Node::Number(value))
}

#[no_mangle]
pub extern "C" fn srs_amf0_create_ecma_array() -> srs_amf0_t {
    new(Node::Ecma(Vec::new()))
}

#[no_mangle]
pub extern "C" fn srs_amf0_create_strict_array() -> srs_amf0_t {
    new(Node::Strict(Vec::new()))
}

#[no_mangle]
pub extern "C" fn srs_amf0_create_object() -> srs_amf0_t {
    new(Node::Object(Vec::new()))
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_ecma_array_to_object(ecma: srs_amf0_t) -> srs_amf0_t {
    match unsafe { node(ecma) } {
        Some(n @ Node::Ecma(_)) => match from_value(&to_value(n)) {
            Node::Ecma(p) => new(Node::Object(p)),
            _ => std::ptr::null_mut(),
        },
        _ => std::ptr::null_mut(),
    }
}

/// Take a caller's value out of its handle (freeing the handle): `None` for NULL or a
/// handle already freed.
///
/// # Safety
/// `amf0` is NULL or a handle this library gave out.
pub(crate) unsafe fn take_value(amf0: srs_amf0_t) -> Option<Amf0Value> {
    unsafe { take(amf0) }.map(|n| to_value(&n))
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_free(amf0: srs_amf0_t) {
    drop(unsafe { take(amf0) });
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_size(amf0: srs_amf0_t) -> c_int {
    unsafe { node(amf0) }.map_or(0, |n| to_value(n).encoded_len() as c_int)
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_serialize(
    amf0: srs_amf0_t,
    data: *mut c_char,
    size: c_int,
) -> c_int {
    let Some(n) = (unsafe { node(amf0) }) else {
        return crate::error::INVALID;
    };
    let mut out = bytes::BytesMut::new();
    to_value(n).encode(&mut out);
    if data.is_null() || size < 0 || (size as usize) < out.len() {
        return crate::error::INVALID;
    }
    // SAFETY: the caller's buffer of `size` bytes, at least the encoded length.
    unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), data as *mut u8, out.len()) };
    0
}

macro_rules! is {
    ($name:ident, $pat:pat) => {
        #[no_mangle]
        pub unsafe extern "C" fn $name(amf0: srs_amf0_t) -> srs_bool {
            c_int::from(matches!(unsafe { node(amf0) }, Some($pat)))
        }
    };
}

is!(srs_amf0_is_string, Node::String(_));
is!(srs_amf0_is_boolean, Node::Boolean(_));
is!(srs_amf0_is_number, Node::Number(_));
is!(srs_amf0_is_null, Node::Null);
is!(srs_amf0_is_object, Node::Object(_));
is!(srs_amf0_is_ecma_array, Node::Ecma(_));
is!(srs_amf0_is_strict_array, Node::Strict(_));

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_to_string(amf0: srs_amf0_t) -> *const c_char {
    match unsafe { node(amf0) } {
        Some(Node::String(s)) => s.as_ptr(),
        _ => std::ptr::null(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_to_boolean(amf0: srs_amf0_t) -> srs_bool {
    c_int::from(matches!(unsafe { node(amf0) }, Some(Node::Boolean(true))))
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_to_number(amf0: srs_amf0_t) -> f64 {
    match unsafe { node(amf0) } {
        Some(Node::Number(v)) => *v,
        _ => 0.0,
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_set_number(amf0: srs_amf0_t, value: f64) {
    if let Some(n) = unsafe { node(amf0) } {
        *n = Node::Number(value);
    }
}

/// The properties of an object (`object` true) or an ECMA array.
unsafe fn props<'a>(amf0: srs_amf0_t, object: bool) -> Option<&'a mut Vec<(CString, Box<Node>)>> {
    match unsafe { node(amf0) } {
        Some(Node::Object(p)) if object => Some(p),
        Some(Node::Ecma(p)) if !object => Some(p),
        _ => None,
    }
}

unsafe fn count(amf0: srs_amf0_t, object: bool) -> c_int {
    unsafe { props(amf0, object) }.map_or(0, |p| p.len() as c_int)
}

unsafe fn name_at(amf0: srs_amf0_t, index: c_int, object: bool) -> *const c_char {
    unsafe { props(amf0, object) }
        .and_then(|p| p.get(usize::try_from(index).ok()?))
        .map_or(std::ptr::null(), |(k, _)| k.as_ptr())
}

unsafe fn value_at(amf0: srs_amf0_t, index: c_int, object: bool) -> srs_amf0_t {
    unsafe { props(amf0, object) }
        .and_then(|p| p.get_mut(usize::try_from(index).ok()?))
        .map_or(std::ptr::null_mut(), |(_, v)| {
            v.as_mut() as *mut Node as srs_amf0_t
        })
}

unsafe fn property(amf0: srs_amf0_t, name: *const c_char, object: bool) -> srs_amf0_t {
    if name.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: a C string, checked for NULL.
    let name = unsafe { CStr::from_ptr(name) };
    unsafe { props(amf0, object) }
        .and_then(|p| p.iter_mut().find(|(k, _)| k.as_c_str() == name))
        .map_or(std::ptr::null_mut(), |(_, v)| {
            v.as_mut() as *mut Node as srs_amf0_t
        })
}

unsafe fn property_set(amf0: srs_amf0_t, name: *const c_char, value: srs_amf0_t, object: bool) {
    // The value is ours now, set or not.
    let value = unsafe { take(value) };
    let (Some(p), Some(value), false) = (unsafe { props(amf0, object) }, value, name.is_null())
    else {
        return;
    };
    // SAFETY: a C string, checked for NULL.
    let name = unsafe { CStr::from_ptr(name) }.to_owned();
    match p.iter_mut().find(|(k, _)| *k == name) {
        Some((_, v)) => *v = value,
        None => p.push((name, value)),
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_object_property_count(amf0: srs_amf0_t) -> c_int {
    unsafe { count(amf0, true) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_object_property_name_at(
    amf0: srs_amf0_t,
    index: c_int,
) -> *const c_char {
    unsafe { name_at(amf0, index, true) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_object_property_value_at(
    amf0: srs_amf0_t,
    index: c_int,
) -> srs_amf0_t {
    unsafe { value_at(amf0, index, true) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_object_property(
    amf0: srs_amf0_t,
    name: *const c_char,
) -> srs_amf0_t {
    unsafe { property(amf0, name, true) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_object_property_set(
    amf0: srs_amf0_t,
    name: *const c_char,
    value: srs_amf0_t,
) {
    unsafe { property_set(amf0, name, value, true) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_object_clear(amf0: srs_amf0_t) {
    if let Some(p) = unsafe { props(amf0, true) } {
        p.clear();
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_ecma_array_property_count(amf0: srs_amf0_t) -> c_int {
    unsafe { count(amf0, false) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_ecma_array_property_name_at(
    amf0: srs_amf0_t,
    index: c_int,
) -> *const c_char {
    unsafe { name_at(amf0, index, false) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_ecma_array_property_value_at(
    amf0: srs_amf0_t,
    index: c_int,
) -> srs_amf0_t {
    unsafe { value_at(amf0, index, false) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_ecma_array_property(
    amf0: srs_amf0_t,
    name: *const c_char,
) -> srs_amf0_t {
    unsafe { property(amf0, name, false) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_ecma_array_property_set(
    amf0: srs_amf0_t,
    name: *const c_char,
    value: srs_amf0_t,
) {
    unsafe { property_set(amf0, name, value, false) }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_strict_array_property_count(amf0: srs_amf0_t) -> c_int {
    match unsafe { node(amf0) } {
        Some(Node::Strict(a)) => a.len() as c_int,
        _ => 0,
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_strict_array_property_at(
    amf0: srs_amf0_t,
    index: c_int,
) -> srs_amf0_t {
    match unsafe { node(amf0) } {
        Some(Node::Strict(a)) => usize::try_from(index)
            .ok()
            .and_then(|i| a.get_mut(i))
            .map_or(std::ptr::null_mut(), |v| {
                v.as_mut() as *mut Node as srs_amf0_t
            }),
        _ => std::ptr::null_mut(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn srs_amf0_strict_array_append(amf0: srs_amf0_t, value: srs_amf0_t) {
    let value = unsafe { take(value) };
    if let (Some(Node::Strict(a)), Some(v)) = (unsafe { node(amf0) }, value) {
        a.push(v);
    }
}

/// A text dump of `amf0`, malloc'd into `*pdata` (free it with `srs_amf0_free_bytes` or
/// `free`), its length in `*psize`; returns `*pdata` (NULL for a NULL value).
#[no_mangle]
pub unsafe extern "C" fn srs_human_amf0_print(
    amf0: srs_amf0_t,
    pdata: *mut *mut c_char,
    psize: *mut c_int,
) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        let Some(n) = (unsafe { node(amf0) }) else {
            return std::ptr::null_mut();
        };
        let text = format!("{:#?}\n", to_value(n));
        // SAFETY: malloc'd for the caller, NUL-terminated.
        unsafe {
            let p = libc::malloc(text.len() + 1) as *mut c_char;
            if p.is_null() {
                return p;
            }
            std::ptr::copy_nonoverlapping(text.as_ptr(), p as *mut u8, text.len());
            *p.add(text.len()) = 0;
            if !pdata.is_null() {
                *pdata = p;
            }
            if !psize.is_null() {
                *psize = text.len() as c_int;
            }
            p
        }
    })
}

/// Free what `srs_human_amf0_print` gave.
#[no_mangle]
pub unsafe extern "C" fn srs_amf0_free_bytes(data: *mut c_char) {
    if !data.is_null() {
        // SAFETY: malloc'd by srs_human_amf0_print.
        unsafe { libc::free(data as *mut libc::c_void) };
    }
}
