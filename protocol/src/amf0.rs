//! AMF0 (Action Message Format 0), the encoding of RTMP commands and data messages.
//!
//! Implements Adobe's "AMF0 File Format Specification" (2006), section 2: every type that
//! encoders and players send. Decoding is bounded: nesting depth is limited
//! ([`MAX_DEPTH`]) so a hostile peer cannot overflow the stack, and no allocation is sized from
//! a count on the wire beyond what the input can actually hold.

use bytes::{BufMut, BytesMut};

/// Deepest nesting of objects/arrays we decode. Real encoders nest at most 3 levels
/// (`connect` command object → `data` object); 64 leaves room and bounds recursion.
pub const MAX_DEPTH: usize = 64;

/// AMF0 type markers (spec section 2.1).
pub mod marker {
    pub const NUMBER: u8 = 0x00;
    pub const BOOLEAN: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const OBJECT: u8 = 0x03;
    pub const MOVIECLIP: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const UNDEFINED: u8 = 0x06;
    pub const REFERENCE: u8 = 0x07;
    pub const ECMA_ARRAY: u8 = 0x08;
    pub const OBJECT_END: u8 = 0x09;
    pub const STRICT_ARRAY: u8 = 0x0a;
    pub const DATE: u8 = 0x0b;
    pub const LONG_STRING: u8 = 0x0c;
    pub const UNSUPPORTED: u8 = 0x0d;
    pub const RECORDSET: u8 = 0x0e;
    pub const XML_DOCUMENT: u8 = 0x0f;
    pub const TYPED_OBJECT: u8 = 0x10;
    pub const AVMPLUS: u8 = 0x11;
}

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    /// IEEE-754 double.
    Number(f64),
    /// Boolean.
    Boolean(bool),
    /// UTF-8 string (invalid UTF-8 from the wire is replaced lossily). One longer than
    /// 65535 bytes is encoded as a long string.
    String(String),
    /// Anonymous object: ordered key/value pairs.
    Object(Vec<(String, Amf0Value)>),
    /// Null.
    Null,
    /// Undefined.
    Undefined,
    /// Reference to an earlier complex value by index (kept as-is; we never resolve it).
    Reference(u16),
    /// ECMA (associative) array: ordered key/value pairs; the count on the wire is a hint.
    EcmaArray(Vec<(String, Amf0Value)>),
    /// Strict (dense) array.
    StrictArray(Vec<Amf0Value>),
    /// Date: milliseconds since the epoch and a time-zone field (reserved, usually 0).
    Date { millis: f64, timezone: i16 },
    /// String longer than 65535 bytes (marker 0x0c).
    LongString(String),
    /// Unsupported marker (0x0d): a value that has no AMF0 representation.
    Unsupported,
    /// XML document (a long string).
    XmlDocument(String),
    /// Typed object: class name and properties.
    TypedObject {
        class: String,
        properties: Vec<(String, Amf0Value)>,
    },
}

/// Why AMF0 bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    /// The input ended in the middle of a value.
    #[error("amf0: truncated value (needed {needed} more bytes at offset {offset})")]
    Truncated { offset: usize, needed: usize },
    /// Objects/arrays nested deeper than [`MAX_DEPTH`].
    #[error("amf0: nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A marker we do not know (or one the spec reserves, such as movieclip/recordset).
    #[error("amf0: unknown or unsupported marker 0x{0:02x}")]
    UnknownMarker(u8),
}

impl Amf0Value {
    /// The string, if this is a String or LongString.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is a Number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is a Boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Properties of an Object, ECMA array or typed object.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => Some(p),
            Amf0Value::TypedObject { properties, .. } => Some(properties),
            _ => None,
        }
    }

    /// Look a property up by name in an Object, ECMA array or typed object.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Convenience: a string property.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Amf0Value::as_str)
    }

    /// Convenience: a number property.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Amf0Value::as_f64)
    }

    /// Build an Object from `(&str, value)` pairs.
    pub fn object<I, K>(pairs: I) -> Amf0Value
    where
        I: IntoIterator<Item = (K, Amf0Value)>,
        K: Into<String>,
    {
        Amf0Value::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A String value.
    pub fn string(s: impl Into<String>) -> Amf0Value {
        Amf0Value::String(s.into())
    }

    /// Number of bytes `encode` writes.
    pub fn encoded_len(&self) -> usize {
        fn props_len(p: &[(String, Amf0Value)]) -> usize {
            p.iter()
                .map(|(k, v)| 2 + short_len(k) + v.encoded_len())
                .sum::<usize>()
                + 3
        }
        match self {
            Amf0Value::Number(_) => 9,
            Amf0Value::Boolean(_) => 2,
            Amf0Value::String(s) if s.len() <= u16::MAX as usize => 3 + s.len(),
            Amf0Value::String(s) | Amf0Value::LongString(s) | Amf0Value::XmlDocument(s) => {
                5 + s.len()
            }
            Amf0Value::Object(p) => 1 + props_len(p),
            Amf0Value::Null | Amf0Value::Undefined | Amf0Value::Unsupported => 1,
            Amf0Value::Reference(_) => 3,
            Amf0Value::EcmaArray(p) => 5 + props_len(p),
            Amf0Value::StrictArray(v) => 5 + v.iter().map(Amf0Value::encoded_len).sum::<usize>(),
            Amf0Value::Date { .. } => 11,
            Amf0Value::TypedObject { class, properties } => {
                3 + short_len(class) + props_len(properties)
            }
        }
    }

    /// Append the AMF0 encoding of this value.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Amf0Value::Number(n) => {
                out.put_u8(marker::NUMBER);
                out.put_f64(*n);
            }
            Amf0Value::Boolean(b) => {
                out.put_u8(marker::BOOLEAN);
                out.put_u8(*b as u8);
            }
            Amf0Value::String(s) if s.len() <= u16::MAX as usize => {
                out.put_u8(marker::STRING);
                put_utf8(out, s);
            }
            Amf0Value::String(s) | Amf0Value::LongString(s) => {
                out.put_u8(marker::LONG_STRING);
                put_utf8_long(out, s);
            }
            Amf0Value::XmlDocument(s) => {
                out.put_u8(marker::XML_DOCUMENT);
                put_utf8_long(out, s);
            }
            Amf0Value::Object(p) => {
                out.put_u8(marker::OBJECT);
                put_properties(out, p);
            }
            Amf0Value::Null => out.put_u8(marker::NULL),
            Amf0Value::Undefined => out.put_u8(marker::UNDEFINED),
            Amf0Value::Unsupported => out.put_u8(marker::UNSUPPORTED),
            Amf0Value::Reference(r) => {
                out.put_u8(marker::REFERENCE);
                out.put_u16(*r);
            }
            Amf0Value::EcmaArray(p) => {
                out.put_u8(marker::ECMA_ARRAY);
                out.put_u32(p.len() as u32);
                put_properties(out, p);
            }
            Amf0Value::StrictArray(v) => {
                out.put_u8(marker::STRICT_ARRAY);
                out.put_u32(v.len() as u32);
                for x in v {
                    x.encode(out);
                }
            }
            Amf0Value::Date { millis, timezone } => {
                out.put_u8(marker::DATE);
                out.put_f64(*millis);
                out.put_i16(*timezone);
            }
            Amf0Value::TypedObject { class, properties } => {
                out.put_u8(marker::TYPED_OBJECT);
                put_utf8(out, class);
                put_properties(out, properties);
            }
        }
    }
}

/// Bytes of `s` that fit a short AMF0 "UTF-8" (u16 length), cut at a char boundary.
fn short_len(s: &str) -> usize {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// Encode `s` as an AMF0 "UTF-8" (u16 length + bytes). Longer strings are truncated at a
/// char boundary: property names and class names have no long form in AMF0.
fn put_utf8(out: &mut BytesMut, s: &str) {
    let end = short_len(s);
    out.put_u16(end as u16);
    out.put_slice(&s.as_bytes()[..end]);
}

fn put_utf8_long(out: &mut BytesMut, s: &str) {
    let mut end = s.len().min(u32::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.put_u32(end as u32);
    out.put_slice(&s.as_bytes()[..end]);
}

fn put_properties(out: &mut BytesMut, props: &[(String, Amf0Value)]) {
    for (k, v) in props {
        put_utf8(out, k);
        v.encode(out);
    }
    // Object end: an empty name followed by the object-end marker.
    out.put_slice(&[0, 0, marker::OBJECT_END]);
}

/// Encode a sequence of values (a command or data message body).
pub fn encode_all(values: &[Amf0Value]) -> BytesMut {
    let mut out = BytesMut::with_capacity(values.iter().map(Amf0Value::encoded_len).sum());
    for v in values {
        v.encode(&mut out);
    }
    out
}

/// A cursor over AMF0 bytes.
pub struct Amf0Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Amf0Decoder<'a> {
    /// Start decoding at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        let avail = self.buf.len() - self.pos;
        if n > avail {
            return Err(Amf0Error::Truncated {
                offset: self.pos,
                needed: n - avail,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self) -> Result<String, Amf0Error> {
        let n = self.u16()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn utf8_long(&mut self) -> Result<String, Amf0Error> {
        let n = self.u32()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    /// Decode one value.
    pub fn decode(&mut self) -> Result<Amf0Value, Amf0Error> {
        self.value(0)
    }

    /// Decode values until the input is exhausted.
    pub fn decode_all(&mut self) -> Result<Vec<Amf0Value>, Amf0Error> {
        let mut v = Vec::new();
        while !self.is_empty() {
            v.push(self.decode()?);
        }
        Ok(v)
    }

    fn value(&mut self, depth: usize) -> Result<Amf0Value, Amf0Error> {
        if depth >= MAX_DEPTH {
            return Err(Amf0Error::TooDeep);
        }
        let m = self.u8()?;
        Ok(match m {
            marker::NUMBER => Amf0Value::Number(self.f64()?),
            marker::BOOLEAN => Amf0Value::Boolean(self.u8()? != 0),
            marker::STRING => Amf0Value::String(self.utf8()?),
            marker::OBJECT => Amf0Value::Object(self.properties(depth)?),
            marker::NULL => Amf0Value::Null,
            marker::UNDEFINED => Amf0Value::Undefined,
            marker::REFERENCE => Amf0Value::Reference(self.u16()?),
            marker::ECMA_ARRAY => {
                // The count is only a hint (encoders get it wrong); the list ends at the
                // object-end marker like an object.
                let _count = self.u32()?;
                Amf0Value::EcmaArray(self.properties(depth)?)
            }
            marker::STRICT_ARRAY => {
                let count = self.u32()? as usize;
                // Every element takes at least one byte: cap the reservation by what is left.
                let mut v = Vec::with_capacity(count.min(self.buf.len() - self.pos));
                for _ in 0..count {
                    v.push(self.value(depth + 1)?);
                }
                Amf0Value::StrictArray(v)
            }
            marker::DATE => {
                let millis = self.f64()?;
                let timezone = self.u16()? as i16;
                Amf0Value::Date { millis, timezone }
            }
            marker::LONG_STRING => Amf0Value::LongString(self.utf8_long()?),
            marker::UNSUPPORTED => Amf0Value::Unsupported,
            marker::XML_DOCUMENT => Amf0Value::XmlDocument(self.utf8_long()?),
            marker::TYPED_OBJECT => {
                let class = self.utf8()?;
                let properties = self.properties(depth)?;
                Amf0Value::TypedObject { class, properties }
            }
            other => return Err(Amf0Error::UnknownMarker(other)),
        })
    }

    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Amf0Value)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            let key = self.utf8()?;
            if key.is_empty() {
                // An empty key is followed by the object-end marker; some encoders omit it at
                // the very end of a message, which we tolerate.
                if self.is_empty() {
                    return Ok(props);
                }
                if self.buf[self.pos] == marker::OBJECT_END {
                    self.pos += 1;
                    return Ok(props);
                }
            }
            let v = self.value(depth + 1)?;
            props.push((key, v));
        }
    }
}

/// Decode every value in `buf`.
pub fn decode_all(buf: &[u8]) -> Result<Vec<Amf0Value>, Amf0Error> {
    Amf0Decoder::new(buf).decode_all()
}

/// Fuzz invariant shared by the cargo-fuzz target and the property tests: decoding never
/// panics, and anything that decodes re-encodes to bytes that decode to the same values.
pub fn fuzz_decode(data: &[u8]) {
    if let Ok(values) = decode_all(data) {
        let bytes = encode_all(&values);
        assert_eq!(
            bytes.len(),
            values.iter().map(Amf0Value::encoded_len).sum::<usize>()
        );
        let again = decode_all(&bytes).expect("re-encoded AMF0 must decode");
        // NaN != NaN: compare encodings instead of values.
        assert_eq!(encode_all(&again), bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Amf0Value) -> Vec<u8> {
        let mut b = BytesMut::new();
        v.encode(&mut b);
        b.to_vec()
    }

    #[test]
    fn number_exact_bytes() {
        assert_eq!(
            enc(&Amf0Value::Number(1.0)),
            [0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn string_and_bool_exact_bytes() {
        assert_eq!(
            enc(&Amf0Value::string("connect")),
            b"\x02\x00\x07connect".to_vec()
        );
        assert_eq!(enc(&Amf0Value::Boolean(true)), [1, 1]);
        assert_eq!(enc(&Amf0Value::Null), [5]);
        assert_eq!(enc(&Amf0Value::Undefined), [6]);
        assert_eq!(enc(&Amf0Value::Reference(0x0102)), [7, 1, 2]);
    }

    #[test]
    fn object_exact_bytes() {
        let v = Amf0Value::object([("app", Amf0Value::string("live"))]);
        assert_eq!(
            enc(&v),
            b"\x03\x00\x03app\x02\x00\x04live\x00\x00\x09".to_vec()
        );
        assert_eq!(decode_all(&enc(&v)).unwrap(), vec![v]);
    }

    #[test]
    fn ecma_strict_date_long_typed_round_trip() {
        let vals = vec![
            Amf0Value::EcmaArray(vec![
                ("duration".into(), Amf0Value::Number(0.0)),
                ("width".into(), Amf0Value::Number(1280.0)),
            ]),
            Amf0Value::StrictArray(vec![Amf0Value::Number(1.0), Amf0Value::Null]),
            Amf0Value::Date {
                millis: 1.5e12,
                timezone: -60,
            },
            Amf0Value::LongString("x".repeat(70_000)),
            Amf0Value::XmlDocument("<a/>".into()),
            Amf0Value::TypedObject {
                class: "Point".into(),
                properties: vec![("x".into(), Amf0Value::Number(3.0))],
            },
            Amf0Value::Unsupported,
        ];
        let b = encode_all(&vals);
        assert_eq!(decode_all(&b).unwrap(), vals);
    }

    #[test]
    fn ecma_array_exact_bytes() {
        let v = Amf0Value::EcmaArray(vec![("a".into(), Amf0Value::Boolean(false))]);
        assert_eq!(enc(&v), [8, 0, 0, 0, 1, 0, 1, b'a', 1, 0, 0, 0, 9].to_vec());
    }

    #[test]
    fn long_plain_string_encodes_as_long_string() {
        let s = "y".repeat(65_536);
        let b = enc(&Amf0Value::String(s.clone()));
        assert_eq!(b[0], marker::LONG_STRING);
        assert_eq!(&b[1..5], &65_536u32.to_be_bytes());
        assert_eq!(decode_all(&b).unwrap(), vec![Amf0Value::LongString(s)]);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        // 10,000 nested objects: {"a": {"a": ...
        let mut b = Vec::new();
        for _ in 0..10_000 {
            b.extend_from_slice(&[marker::OBJECT, 0, 1, b'a']);
        }
        assert_eq!(decode_all(&b), Err(Amf0Error::TooDeep));
        let mut s = Vec::new();
        for _ in 0..10_000 {
            s.extend_from_slice(&[marker::STRICT_ARRAY, 0, 0, 0, 1]);
        }
        assert_eq!(decode_all(&s), Err(Amf0Error::TooDeep));
    }

    #[test]
    fn truncated_and_unknown() {
        assert!(matches!(
            decode_all(&[0x00, 1, 2]),
            Err(Amf0Error::Truncated { .. })
        ));
        assert_eq!(decode_all(&[0x04]), Err(Amf0Error::UnknownMarker(4)));
        assert_eq!(decode_all(&[0x11]), Err(Amf0Error::UnknownMarker(0x11)));
        // Huge strict array count with no elements: error, no giant allocation.
        assert!(matches!(
            decode_all(&[0x0a, 0xff, 0xff, 0xff, 0xff]),
            Err(Amf0Error::Truncated { .. })
        ));
        // Huge long string length.
        assert!(matches!(
            decode_all(&[0x0c, 0xff, 0xff, 0xff, 0xff, b'a']),
            Err(Amf0Error::Truncated { .. })
        ));
    }

    #[test]
    fn object_without_end_marker_at_message_end_is_tolerated() {
        let b = b"\x03\x00\x01k\x05\x00\x00";
        assert_eq!(
            decode_all(b).unwrap(),
            vec![Amf0Value::object([("k", Amf0Value::Null)])]
        );
    }

    #[test]
    fn getters() {
        let v = Amf0Value::object([
            ("app", Amf0Value::string("live")),
            ("objectEncoding", Amf0Value::Number(0.0)),
        ]);
        assert_eq!(v.get_str("app"), Some("live"));
        assert_eq!(v.get_f64("objectEncoding"), Some(0.0));
        assert_eq!(v.get("nope"), None);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        fn arb_value() -> impl Strategy<Value = Amf0Value> {
            let leaf = prop_oneof![
                any::<f64>()
                    .prop_filter("nan", |f| !f.is_nan())
                    .prop_map(Amf0Value::Number),
                any::<bool>().prop_map(Amf0Value::Boolean),
                ".{0,20}".prop_map(Amf0Value::String),
                Just(Amf0Value::Null),
                Just(Amf0Value::Undefined),
                any::<u16>().prop_map(Amf0Value::Reference),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(("[a-z]{1,8}", inner.clone()), 0..6)
                        .prop_map(Amf0Value::Object),
                    prop::collection::vec(("[a-z]{1,8}", inner.clone()), 0..6)
                        .prop_map(Amf0Value::EcmaArray),
                    prop::collection::vec(inner, 0..6).prop_map(Amf0Value::StrictArray),
                ]
            })
        }

        proptest! {
            #[test]
            fn round_trip(vals in prop::collection::vec(arb_value(), 0..5)) {
                let b = encode_all(&vals);
                prop_assert_eq!(decode_all(&b).unwrap(), vals);
            }

            #[test]
            fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
                fuzz_decode(&data);
            }
        }
    }
}
