//! The wall clock a publisher stamps into its stream so that players on the same machine can
//! measure end-to-end lag: an AMF0 data message (RTMP type 18, FLV script tag)
//! `"onSrsBenchClock", <Number: milliseconds since the Unix epoch>`.
//!
//! Players recognise it by its exact first bytes and read the number at a fixed offset, so
//! the hot path never runs an AMF0 decoder.

use std::time::{SystemTime, UNIX_EPOCH};

/// Name of the data message.
pub const CLOCK_NAME: &str = "onSrsBenchClock";

/// AMF0 string marker, u16 length 15, the name, then the AMF0 number marker.
const PREFIX: &[u8; 19] = b"\x02\x00\x0fonSrsBenchClock\x00";

/// Size of a clock message body.
pub const CLOCK_BODY_LEN: usize = PREFIX.len() + 8;

/// Milliseconds since the Unix epoch.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The body of a clock data message stamped `ms`.
pub fn encode(ms: u64) -> [u8; CLOCK_BODY_LEN] {
    let mut b = [0u8; CLOCK_BODY_LEN];
    b[..PREFIX.len()].copy_from_slice(PREFIX);
    b[PREFIX.len()..].copy_from_slice(&(ms as f64).to_be_bytes());
    b
}

/// The stamp of a data message body if it is a clock message (a server may have added
/// nothing or stripped an `@setDataFrame`; anything else is not ours).
pub fn parse(body: &[u8]) -> Option<u64> {
    let n = body.strip_prefix(PREFIX.as_slice())?.get(..8)?;
    let ms = f64::from_be_bytes(n.try_into().ok()?);
    (ms.is_finite() && ms >= 0.0).then_some(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use srs_protocol::amf0::{self, Amf0Value};

    #[test]
    fn round_trip_and_is_real_amf0() {
        let ms = 1_700_000_000_123;
        let body = encode(ms);
        assert_eq!(parse(&body), Some(ms));
        let v = amf0::decode_all(&body).unwrap();
        assert_eq!(
            v,
            vec![Amf0Value::string(CLOCK_NAME), Amf0Value::Number(ms as f64)]
        );
    }

    #[test]
    fn other_data_is_not_a_clock() {
        let meta = amf0::encode_all(&[Amf0Value::string("onMetaData"), Amf0Value::Null]);
        assert_eq!(parse(&meta), None);
        assert_eq!(parse(&encode(5)[..CLOCK_BODY_LEN - 1]), None);
        let mut neg = encode(0);
        neg[PREFIX.len()..].copy_from_slice(&(-1.0f64).to_be_bytes());
        assert_eq!(parse(&neg), None);
        assert_eq!(parse(b""), None);
    }
}
