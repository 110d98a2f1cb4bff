//! Passing file descriptors between processes (SCM_RIGHTS, via nix), with a control frame
//! attached: how a stream worker hands a publishing connection to backsource.
//!
//! The descriptors ride on the first byte of their frame. The receiver queues descriptors in
//! arrival order and frames in arrival order, so the N-th frame that carries descriptors
//! takes the next ones from the queue.

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use tokio::io::Interest;
use tokio::net::UnixStream;

/// Most descriptors accepted in one message.
pub const MAX_FDS: usize = 8;

/// Send `bytes` with `fds` attached to its first byte. Waits for the socket to be writable;
/// the rest of the bytes (if the first send was short) go as plain writes.
pub async fn send_with_fds(
    sock: &UnixStream,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors",
        ));
    }
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let mut sent = loop {
        sock.writable().await?;
        let r = sock.try_io(Interest::WRITABLE, || {
            let iov = [IoSlice::new(bytes)];
            let cmsg = [ControlMessage::ScmRights(&raw)];
            sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
                .map_err(io::Error::from)
        });
        match r {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    };
    while sent < bytes.len() {
        sock.writable().await?;
        match sock.try_write(&bytes[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Receiving side: bytes go to the caller's frame decoder, descriptors into a queue.
#[derive(Debug, Default)]
pub struct FdReceiver {
    fds: VecDeque<OwnedFd>,
}

impl FdReceiver {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read once (waiting for readability) into `buf`, queueing any descriptors. Returns
    /// the number of bytes read; 0 means the peer closed.
    pub async fn recv(&mut self, sock: &UnixStream, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            sock.readable().await?;
            let r = sock.try_io(Interest::READABLE, || {
                let mut iov = [IoSliceMut::new(buf)];
                let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
                let msg = recvmsg::<()>(
                    sock.as_raw_fd(),
                    &mut iov,
                    Some(&mut space),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                )
                .map_err(io::Error::from)?;
                let mut fds = Vec::new();
                for c in msg.cmsgs().map_err(io::Error::from)? {
                    if let ControlMessageOwned::ScmRights(list) = c {
                        for fd in list {
                            // SAFETY: the kernel just installed this descriptor in our table
                            // for us (SCM_RIGHTS); nothing else owns it.
                            fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                        }
                    }
                }
                if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "descriptors truncated",
                    ));
                }
                Ok((msg.bytes, fds))
            });
            match r {
                Ok((n, fds)) => {
                    self.fds.extend(fds);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The oldest descriptor received and not yet taken.
    pub fn take(&mut self) -> Option<OwnedFd> {
        self.fds.pop_front()
    }

    /// Descriptors waiting.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// Whether no descriptor waits.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsFd;

    #[tokio::test]
    async fn passes_a_real_descriptor_with_its_frame() {
        let (a, b) = UnixStream::pair().unwrap();
        // A file whose content proves the descriptor is the same open file.
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"hello from the other side").unwrap();
        let frame = crate::control::encode(&crate::control::ToMaster::ListProcesses);
        send_with_fds(&a, &frame, &[f.as_fd()]).await.unwrap();
        drop(f);
        let mut rx = FdReceiver::new();
        let mut buf = [0u8; 64];
        let n = rx.recv(&b, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], &frame[..]);
        let fd = rx.take().expect("descriptor arrived");
        let mut file = std::fs::File::from(fd);
        file.rewind().unwrap();
        let mut s = String::new();
        file.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello from the other side");
        assert!(rx.is_empty());
    }

    #[tokio::test]
    async fn passes_a_connected_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        send_with_fds(&a, b"x", &[server_side.as_fd()])
            .await
            .unwrap();
        drop(server_side);
        let mut rx = FdReceiver::new();
        let mut buf = [0u8; 8];
        rx.recv(&b, &mut buf).await.unwrap();
        let mut moved = std::net::TcpStream::from(rx.take().unwrap());
        moved.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
    }

    #[tokio::test]
    async fn too_many_descriptors_is_an_error() {
        let (a, _b) = UnixStream::pair().unwrap();
        let f = tempfile::tempfile().unwrap();
        let fds: Vec<BorrowedFd> = (0..MAX_FDS + 1).map(|_| f.as_fd()).collect();
        assert!(send_with_fds(&a, b"x", &fds).await.is_err());
    }
}
