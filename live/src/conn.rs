//! What every process that holds RTMP connections shares about them: connection ids (SRS's
//! "cid", on every log line about a connection), byte counters, why a connection ended, the
//! bounded write of a session's output, and where a publishing connection goes.

use rand::Rng;
use srs_ipc::handover::{HandoverError, PublishRequest};
use srs_protocol::session::{ServerSession, SessionError};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long one write to a client may block before the client is dropped (SRS's
/// SRS_CONSTS_RTMP_TIMEOUT_US). A peer whose socket does not drain for this long is dead
/// or hopelessly slow.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

tokio::task_local! {
    /// The id of the connection the current task serves (SRS's "cid").
    pub static CID: String;
}

/// A new connection id: 8 lowercase letters and digits, as SRS prints them.
pub fn new_cid() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The connection id of the current task (empty outside a connection).
pub fn current_cid() -> String {
    CID.try_with(|c| c.clone()).unwrap_or_default()
}

/// Bytes a connection received and sent, shared with whoever reports on it.
#[derive(Debug, Default)]
pub struct ConnStats {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl ConnStats {
    /// Bytes received.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// Bytes sent.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    /// Count bytes received.
    pub fn add_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count bytes sent.
    pub fn add_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Add another connection's totals (when it closes).
    pub fn add(&self, other: &ConnStats) {
        self.add_in(other.bytes_in() as usize);
        self.add_out(other.bytes_out() as usize);
    }
}

/// Why a connection ended (all are logged with the connection id).
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Reading from or writing to the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The RTMP session broke (bad handshake, chunk, AMF0, command order).
    #[error("{0}")]
    Session(#[from] SessionError),
    /// The client did not finish the handshake and commands in time.
    #[error("no publish or play within {0:?} of connecting")]
    HandshakeTimeout(Duration),
    /// A publisher sent nothing for too long.
    #[error("publisher sent no media for {0:?}")]
    PublishTimeout(Duration),
    /// A write did not complete within [`SEND_TIMEOUT`].
    #[error("send timed out after {0:?}: client not reading")]
    SendTimeout(Duration),
    /// We refused the client (vhost, refer, busy stream); it was told why.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The connection could not be handed to the backsource process.
    #[error("handover to backsource failed: {0}")]
    Handover(#[from] HandoverError),
}

/// Send the session's pending output, bounded by [`SEND_TIMEOUT`].
pub async fn flush(
    socket: &mut TcpStream,
    session: &mut ServerSession,
    stats: &ConnStats,
) -> Result<(), ConnError> {
    if session.has_output() {
        let out = session.take_output();
        stats.add_out(out.len());
        match timeout(SEND_TIMEOUT, socket.write_all(&out)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnError::SendTimeout(SEND_TIMEOUT)),
        }
    }
    Ok(())
}

/// Best-effort send of a rejection, then the error for the log.
pub async fn reject(
    socket: &mut TcpStream,
    session: &mut ServerSession,
    why: String,
) -> Result<(), ConnError> {
    let out = session.take_output();
    // The client may already be gone; do not wait long for it.
    let _ = timeout(Duration::from_secs(2), socket.write_all(&out)).await;
    let _ = timeout(Duration::from_secs(2), socket.flush()).await;
    Err(ConnError::Rejected(why))
}

/// The future of a publishing connection taken over by [`Publishers`].
pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ConnError>> + Send + 'a>>;

/// Where a stream worker sends a connection that asked to publish (after admitting it and
/// flushing its replies): to the backsource process over its handover socket, or (one
/// process) to the backsource role running in the same process. The future ends when the
/// connection is no longer the caller's business.
pub trait Publishers: Send + Sync + std::fmt::Debug {
    /// Take over `socket` and `session` (the `publish` is its pending decision).
    fn publish(
        &self,
        socket: TcpStream,
        session: ServerSession,
        request: PublishRequest,
    ) -> PublishFuture<'_>;
}

/// Environment variable carrying the first RTMP address as bound, from the master to its
/// children.
pub const RTMP_ADDR_ENV: &str = "SRS_RS_RTMP_ADDR";

/// Environment variable carrying the server's id from the master to its children.
pub const SERVER_ID_ENV: &str = "SRS_RS_SERVER_ID";

/// This server's id: what its relays put in their `connect` (`srs_rs_id`), so that a
/// connection coming back to us is recognised as our own relay and refused. The master
/// makes one at start ([`init_server_id`]); its children inherit it.
pub fn server_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        std::env::var(SERVER_ID_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(fresh_id)
    })
}

fn fresh_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", now as u64, std::process::id())
}

/// Make the server's id and put it in the environment for the children to inherit. Call
/// once at start, before any thread exists.
pub fn init_server_id() {
    if std::env::var(SERVER_ID_ENV).map_or(true, |s| s.is_empty()) {
        std::env::set_var(SERVER_ID_ENV, fresh_id());
    }
}
