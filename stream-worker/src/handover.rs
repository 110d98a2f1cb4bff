//! Handing a publishing connection to the backsource process (DESIGN.md): the socket goes
//! over a Unix socket as a descriptor (SCM_RIGHTS) with one control frame carrying the
//! serialized session — chunk sizes, per-chunk-stream header state and partial messages,
//! window sizes, message streams, bytes already read, unread input — and the publish
//! request. The encoder never notices: backsource answers its `publish` and reads on.

use srs_backsource::publish::{ConnError, HandoverFrame, PublishRequest};
use srs_ipc::{control, fdpass};
use srs_protocol::session::ServerSession;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UnixStream};
use tracing::{info, warn};

/// How long to keep trying to reach backsource (it restarts within a second).
const REACH_BACKSOURCE: Duration = Duration::from_secs(3);

/// Where publishers go.
#[derive(Debug, Clone)]
pub struct Handover {
    /// Backsource's handover socket.
    pub socket_path: PathBuf,
}

impl Handover {
    /// Pass `socket` and `session` to backsource; the connection is then no longer ours.
    pub async fn hand_over(
        &self,
        socket: TcpStream,
        session: ServerSession,
        request: PublishRequest,
    ) -> Result<(), ConnError> {
        let state = session
            .export()
            .map_err(|e| ConnError::Handover(e.to_string()))?;
        let frame = control::encode(&HandoverFrame { state, request });
        let deadline = tokio::time::Instant::now() + REACH_BACKSOURCE;
        let mut link = loop {
            match UnixStream::connect(&self.socket_path).await {
                Ok(l) => break l,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    warn!("backsource not reachable yet ({e}), retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(ConnError::Handover(format!(
                        "{}: {e}",
                        self.socket_path.display()
                    )))
                }
            }
        };
        fdpass::send_with_fds(&link, &frame, &[socket.as_fd()])
            .await
            .map_err(|e| ConnError::Handover(e.to_string()))?;
        // Wait for backsource to confirm it owns the socket before letting ours go: if it
        // died in between, the client is closed here instead of hanging.
        let mut ack = [0u8; 1];
        match tokio::time::timeout(REACH_BACKSOURCE, link.read_exact(&mut ack)).await {
            Ok(Ok(_)) => {
                info!("publisher handed over to backsource");
                Ok(())
            }
            Ok(Err(e)) => Err(ConnError::Handover(format!(
                "backsource closed the link: {e}"
            ))),
            Err(_) => Err(ConnError::Handover(
                "no confirmation from backsource".into(),
            )),
        }
    }
}
