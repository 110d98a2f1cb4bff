//! Async ends of the control protocol: a framed link over a Unix socket (with descriptors
//! riding along), and the private API over TCP on 127.0.0.1 that every process serves.

use crate::control::{self, ApiRequest, ApiResponse, FrameDecoder, FrameError};
use crate::fdpass::{self, FdReceiver};
use serde::{de::DeserializeOwned, Serialize};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

fn frame_err(e: FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A framed control link (either end).
#[derive(Debug)]
pub struct Link {
    sock: UnixStream,
    decoder: FrameDecoder,
    fds: FdReceiver,
    buf: Vec<u8>,
}

impl Link {
    /// Wrap a connected socket.
    pub fn new(sock: UnixStream) -> Self {
        Self {
            sock,
            decoder: FrameDecoder::new(),
            fds: FdReceiver::new(),
            buf: vec![0u8; 64 * 1024],
        }
    }

    /// Connect to the Unix socket at `path`.
    pub async fn connect(path: &Path) -> io::Result<Self> {
        Ok(Self::new(UnixStream::connect(path).await?))
    }

    /// Send one message.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> io::Result<()> {
        self.sock.write_all(&control::encode(msg)).await
    }

    /// Send raw bytes (an acknowledgement byte, say).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sock.write_all(bytes).await
    }

    /// Send one message with descriptors attached.
    pub async fn send_with_fds<T: Serialize>(
        &mut self,
        msg: &T,
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<()> {
        fdpass::send_with_fds(&self.sock, &control::encode(msg), fds).await
    }

    /// The next message; `Ok(None)` when the peer closed. A malformed or oversized frame
    /// is an error (the caller closes the link).
    pub async fn recv<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        loop {
            if let Some(m) = self.decoder.next::<T>().map_err(frame_err)? {
                return Ok(Some(m));
            }
            let n = self.fds.recv(&self.sock, &mut self.buf).await?;
            if n == 0 {
                return Ok(None);
            }
            self.decoder.push(&self.buf[..n]);
        }
    }

    /// A descriptor that arrived with the messages, oldest first.
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        self.fds.take()
    }

    /// The underlying socket.
    pub fn socket(&self) -> &UnixStream {
        &self.sock
    }
}

/// Largest private API exchange: one request or answer.
const API_TIMEOUT: Duration = Duration::from_secs(5);

/// Ask a private API (127.0.0.1:`port`) one question.
pub async fn query(port: u16, req: &ApiRequest) -> io::Result<ApiResponse> {
    let fut = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(&control::encode(req)).await?;
        let mut d = FrameDecoder::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(r) = d.next::<ApiResponse>().map_err(frame_err)? {
                return Ok(r);
            }
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "API closed"));
            }
            d.push(&buf[..n]);
        }
    };
    tokio::time::timeout(API_TIMEOUT, fut)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "API did not answer"))?
}

/// Serve the private API on `listener` (bind it to 127.0.0.1:0): one request per
/// connection, answered by `handler`. Malformed requests close that connection only.
pub async fn serve_api<F>(listener: TcpListener, handler: F)
where
    F: Fn(ApiRequest) -> ApiResponse + Send + Sync + 'static,
{
    let handler = std::sync::Arc::new(handler);
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(API_TIMEOUT, async {
                let mut d = FrameDecoder::new();
                let mut buf = vec![0u8; 4096];
                loop {
                    match d.next::<ApiRequest>() {
                        Ok(Some(req)) => {
                            let resp = handler(req);
                            let _ = s.write_all(&control::encode(&resp)).await;
                            return;
                        }
                        Ok(None) => {}
                        Err(_) => return,
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => d.push(&buf[..n]),
                    }
                }
            })
            .await;
        });
    }
}

/// Resident set size of this process in KiB (0 if unknown).
pub fn own_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
