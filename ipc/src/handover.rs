//! Handing a publishing connection from a stream worker to backsource (DESIGN.md): the
//! client's socket goes over backsource's Unix socket as a descriptor (SCM_RIGHTS) with one
//! control frame carrying the serialized RTMP session (chunk sizes, per-chunk-stream header
//! state and partial messages, window sizes, message streams, bytes already read, unread
//! input) and the publish request. The encoder never notices: backsource answers its
//! `publish` and reads on.
//!
//! Both ends live here. The sender ([`Handover::send`]) keeps its copy of the socket until
//! backsource confirms with one byte that it holds the descriptor, so a backsource that dies
//! in between costs the client a closed connection, never a hang. A burst of publishers
//! (a reconnect storm after a network blip) queues behind a bounded number of handovers in
//! flight per worker instead of failing: backsource confirms on receipt, before any work.

use crate::control::{self, StreamKey};
use crate::fdpass;
use crate::link::Link;
use serde::{Deserialize, Serialize};
use srs_protocol::session::SessionState;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::sync::Semaphore;

/// The `publish` a connection asked for, resolved by the stream worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// Connection id, kept across the handover so logs follow the client.
    pub cid: String,
    /// Peer address, for logs.
    pub peer: String,
    /// Message stream the client publishes on.
    pub stream_id: u32,
    /// Stream name as the client sent it (with its query).
    pub name: String,
    /// `live`, `record` or `append`.
    pub publish_type: String,
    /// The stream.
    pub key: StreamKey,
    /// tcUrl the client connected with.
    pub tc_url: String,
    /// The client's page URL.
    pub page_url: String,
    /// Bytes received from the client before the handover.
    pub bytes_in: u64,
    /// Bytes sent to the client before the handover.
    pub bytes_out: u64,
}

/// The frame that travels with a publisher's socket from a stream worker to backsource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoverFrame {
    /// The connection's RTMP state.
    pub state: SessionState,
    /// What it asked to publish.
    pub request: PublishRequest,
}

/// Why a handover failed. The sender still holds the client's socket and closes it.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// Backsource's socket did not accept a connection within the reach time (it is not
    /// running, or restarting for longer than that).
    #[error("backsource not reachable at {path}: {source}")]
    Unreachable {
        /// The handover socket.
        path: PathBuf,
        /// The last connect error.
        source: io::Error,
    },
    /// Sending the frame and descriptor failed.
    #[error("sending to backsource: {0}")]
    Send(io::Error),
    /// Backsource closed the link before confirming.
    #[error("backsource closed the link before confirming: {0}")]
    Closed(io::Error),
    /// No confirmation within the limit: backsource is alive but hung.
    #[error("no confirmation from backsource within {0:?}")]
    NoConfirmation(Duration),
    /// The receiving end got something that is not a handover.
    #[error("bad handover: {0}")]
    Bad(String),
}

/// Limits of the sending side.
#[derive(Debug, Clone, Copy)]
pub struct HandoverLimits {
    /// Handovers in flight at once from one process; the rest wait their turn. A handover
    /// is a connect, a frame of a few KB and one byte back: a few dozen at once keep
    /// backsource's accept queue short without starving a burst.
    pub in_flight: usize,
    /// How long to keep retrying the connect (backsource restarts within a second).
    pub reach: Duration,
    /// How long to wait for the confirmation once sent. Backsource confirms on receipt, so
    /// only a hung backsource takes this long.
    pub confirm: Duration,
}

impl Default for HandoverLimits {
    fn default() -> Self {
        Self {
            in_flight: 32,
            reach: Duration::from_secs(3),
            confirm: Duration::from_secs(10),
        }
    }
}

/// The sending side: where publishers go, and how many may be on their way at once.
#[derive(Debug)]
pub struct Handover {
    socket_path: PathBuf,
    limits: HandoverLimits,
    permits: Semaphore,
}

impl Handover {
    /// Hand publishers to the backsource listening at `socket_path`.
    pub fn new(socket_path: PathBuf, limits: HandoverLimits) -> Self {
        Self {
            socket_path,
            permits: Semaphore::new(limits.in_flight.max(1)),
            limits,
        }
    }

    /// Pass `socket` with `frame` to backsource and wait for its confirmation; the caller
    /// then drops its copy of the socket. Waits for a turn first when
    /// [`HandoverLimits::in_flight`] handovers are already on their way.
    pub async fn send(
        &self,
        frame: &HandoverFrame,
        socket: BorrowedFd<'_>,
    ) -> Result<(), HandoverError> {
        // The semaphore is never closed: acquiring cannot fail.
        let _turn = self.permits.acquire().await;
        let bytes = control::encode(frame);
        let deadline = tokio::time::Instant::now() + self.limits.reach;
        let mut link = loop {
            match UnixStream::connect(&self.socket_path).await {
                Ok(l) => break l,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!("backsource not reachable yet ({e}), retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(source) => {
                    return Err(HandoverError::Unreachable {
                        path: self.socket_path.clone(),
                        source,
                    })
                }
            }
        };
        fdpass::send_with_fds(&link, &bytes, &[socket])
            .await
            .map_err(HandoverError::Send)?;
        let mut ack = [0u8; 1];
        match tokio::time::timeout(self.limits.confirm, link.read_exact(&mut ack)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(HandoverError::Closed(e)),
            Err(_) => Err(HandoverError::NoConfirmation(self.limits.confirm)),
        }
    }
}

/// The receiving side (backsource): read one handover from an accepted connection on the
/// handover socket, and confirm it as soon as the descriptor is ours.
pub async fn receive(sock: UnixStream) -> Result<(HandoverFrame, OwnedFd), HandoverError> {
    let mut link = Link::new(sock);
    let frame: HandoverFrame = link
        .recv()
        .await
        .map_err(|e| HandoverError::Bad(e.to_string()))?
        .ok_or_else(|| HandoverError::Bad("link closed before a frame".into()))?;
    let fd = link
        .take_fd()
        .ok_or_else(|| HandoverError::Bad("frame without a socket".into()))?;
    link.send_raw(&[1]).await.map_err(HandoverError::Send)?;
    Ok((frame, fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use srs_protocol::session::{ServerConfig, ServerSession};
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A connected session to export: handshake and `connect` done by our own client.
    fn connected_state() -> SessionState {
        use srs_protocol::session::{ClientConfig, ClientSession};
        let mut c = ClientSession::new(ClientConfig::new("rtmp://127.0.0.1/live", "live"));
        let mut s = ServerSession::new(ServerConfig::default());
        let pump = |c: &mut ClientSession, s: &mut ServerSession| {
            for _ in 0..10 {
                let out = c.take_output();
                if !out.is_empty() {
                    s.feed(&out).unwrap();
                }
                let back = s.take_output();
                if !back.is_empty() {
                    c.feed(&back).unwrap();
                }
            }
        };
        pump(&mut c, &mut s);
        while s.poll_event().unwrap().is_some() {}
        s.accept_connect();
        pump(&mut c, &mut s);
        s.export().unwrap()
    }

    fn request(cid: &str) -> PublishRequest {
        PublishRequest {
            cid: cid.into(),
            peer: "127.0.0.1:1".into(),
            stream_id: 1,
            name: "s".into(),
            publish_type: "live".into(),
            key: StreamKey {
                vhost: "__defaultVhost__".into(),
                app: "live".into(),
                stream: "s".into(),
            },
            tc_url: "rtmp://127.0.0.1/live".into(),
            page_url: String::new(),
            bytes_in: 3073,
            bytes_out: 3073,
        }
    }

    /// A real TCP connection handed over: the receiver's descriptor is the same socket (a
    /// byte written through it reaches the peer), and many at once all arrive although
    /// only a few may be in flight.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sockets_arrive_and_a_burst_queues_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let received = Arc::new(AtomicUsize::new(0));
        let r = received.clone();
        tokio::spawn(async move {
            loop {
                let (s, _) = listener.accept().await.unwrap();
                let r = r.clone();
                tokio::spawn(async move {
                    // A slow receiver: the senders must wait, not fail.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let (frame, fd) = receive(s).await.unwrap();
                    let mut tcp = std::net::TcpStream::from(fd);
                    tcp.write_all(frame.request.cid.as_bytes()).unwrap();
                    r.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        let handover = Arc::new(Handover::new(
            path,
            HandoverLimits {
                in_flight: 2,
                ..Default::default()
            },
        ));
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        let state = connected_state();
        let mut tasks = Vec::new();
        let mut clients = Vec::new();
        for i in 0..20 {
            let client = std::net::TcpStream::connect(addr).unwrap();
            let (server_side, _) = tcp.accept().unwrap();
            clients.push(client);
            let h = handover.clone();
            let frame = HandoverFrame {
                state: state.clone(),
                request: request(&format!("c{i:02}")),
            };
            tasks.push(tokio::spawn(async move {
                h.send(&frame, server_side.as_fd()).await.unwrap();
                // Our copy goes; backsource's stays.
                drop(server_side);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Backsource confirms on receipt, before its task goes on: the last receiver may
        // count a moment after the last sender returns.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while received.load(Ordering::SeqCst) < 20 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(received.load(Ordering::SeqCst), 20);
        for (i, mut c) in clients.into_iter().enumerate() {
            let mut got = [0u8; 3];
            c.read_exact(&mut got).unwrap();
            assert_eq!(&got, format!("c{i:02}").as_bytes());
        }
    }

    #[tokio::test]
    async fn nobody_listening_is_an_error_after_the_reach_time() {
        let dir = tempfile::tempdir().unwrap();
        let h = Handover::new(
            dir.path().join("none.sock"),
            HandoverLimits {
                reach: Duration::from_millis(200),
                ..Default::default()
            },
        );
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let frame = HandoverFrame {
            state: connected_state(),
            request: request("x"),
        };
        let t0 = std::time::Instant::now();
        let e = h.send(&frame, tcp.as_fd()).await.unwrap_err();
        assert!(matches!(e, HandoverError::Unreachable { .. }), "{e}");
        assert!(t0.elapsed() >= Duration::from_millis(200));
    }
}
