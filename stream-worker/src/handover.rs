//! Publishers go to the backsource process: the socket and the exported session travel
//! over backsource's handover socket (`srs_ipc::handover`), and the connection is no longer
//! this worker's once backsource confirms.

use srs_ipc::handover::{Handover, HandoverFrame, HandoverLimits, PublishRequest};
use srs_live::conn::{PublishFuture, Publishers};
use srs_protocol::session::ServerSession;
use std::os::fd::AsFd;
use std::path::PathBuf;
use tokio::net::TcpStream;
use tracing::info;

/// [`Publishers`] over backsource's handover socket.
#[derive(Debug)]
pub struct HandOver(Handover);

impl HandOver {
    /// Hand publishers to the backsource listening at `socket_path`.
    pub fn new(socket_path: PathBuf, limits: HandoverLimits) -> Self {
        Self(Handover::new(socket_path, limits))
    }
}

impl Publishers for HandOver {
    fn publish(
        &self,
        socket: TcpStream,
        session: ServerSession,
        request: PublishRequest,
    ) -> PublishFuture<'_> {
        Box::pin(async move {
            let state = session.export()?;
            let frame = HandoverFrame { state, request };
            self.0.send(&frame, socket.as_fd()).await?;
            info!("publisher handed over to backsource");
            Ok(())
        })
    }
}
