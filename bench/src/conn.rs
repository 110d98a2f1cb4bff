//! What a player or publisher connection can run into, and the bounded tally of those
//! reasons that the final report shows.

use srs_protocol::session::SessionError;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// Why one connection failed or ended. Never fatal to the run: each is counted.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The socket failed (connect refused, reset, ...).
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The server broke the RTMP protocol (or we could not follow it).
    #[error("rtmp: {0}")]
    Session(#[from] SessionError),
    /// The HTTP-FLV response could not be read.
    #[error("http-flv: {0}")]
    Scan(#[from] crate::scan::ScanError),
    /// The server refused us: the status code it gave.
    #[error("refused: {0}")]
    Refused(String),
    /// A step took longer than the connect timeout.
    #[error("timeout: {0}")]
    Timeout(&'static str),
    /// The server closed the connection.
    #[error("closed by the server")]
    Closed,
}

impl ConnError {
    /// A short key to count this reason under: the message without per-connection details.
    pub fn reason(&self) -> String {
        let s = self.to_string();
        let mut r: String = s.chars().take(100).collect();
        if r.len() < s.len() {
            r.push('…');
        }
        r
    }
}

/// Open a TCP connection by `deadline`, with Nagle off (commands and media go out at once).
pub async fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, ConnError> {
    let sock = timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnError::Timeout("tcp connect"))??;
    sock.set_nodelay(true)?;
    Ok(sock)
}

/// Most distinct reasons kept; others are counted under [`OTHER`].
pub const MAX_REASONS: usize = 32;
/// Where reasons beyond [`MAX_REASONS`] are counted.
pub const OTHER: &str = "(other reasons)";

/// Counts of why connections failed or ended, bounded in size.
#[derive(Debug, Default)]
pub struct Reasons {
    map: Mutex<BTreeMap<String, u64>>,
}

impl Reasons {
    /// Count one occurrence; returns true for the first of its kind (worth a log line).
    pub fn count(&self, reason: String) -> bool {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&reason) {
            *n += 1;
            return false;
        }
        let key = if m.len() >= MAX_REASONS {
            OTHER.to_string()
        } else {
            reason
        };
        *m.entry(key).or_insert(0) += 1;
        true
    }

    /// The counts, as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_bounded() {
        let r = Reasons::default();
        assert!(r.count("a".into()));
        assert!(!r.count("a".into()));
        for i in 0..100 {
            r.count(format!("r{i}"));
        }
        let j = r.to_json();
        let o = j.as_object().unwrap();
        assert_eq!(o.len(), MAX_REASONS + 1);
        assert_eq!(o["a"], 2);
        assert_eq!(o[OTHER], 100 - (MAX_REASONS as u64 - 1));
    }
}
