//! Listening sockets, bound once by the master.
//!
//! Each RTMP listen address is a [`Port`]: a group of sockets bound with SO_REUSEPORT, one
//! per stream worker, so that the kernel spreads new connections evenly over the workers
//! (by a hash of the client's address and port) whatever the arrival pattern. With one
//! socket shared by every worker, the worker that happens to be waiting in `accept` takes
//! the next connection, and an idle worker keeps winning: with 2 workers all 40 players of
//! a test run landed on one, and 8 workers on 16 cores ranged from 0.07 to 0.37 core.
//!
//! The master holds every socket of the group for as long as the port is configured: a
//! worker that dies leaves its socket, and the connections queued on it, to the master,
//! which lends it to a live worker until the restarted one takes it back (see the tree).

use anyhow::Context;
use socket2::{Domain, Socket, Type};
use std::net::{SocketAddr, TcpListener};

/// Backlog of every listening socket: large enough that a burst of players (or a restart of
/// a worker) loses no connection.
pub const BACKLOG: i32 = 4096;

/// One RTMP listen address and its socket group: `sockets[i]` is stream worker `i`'s.
#[derive(Debug)]
pub struct Port {
    /// The address, with the port the kernel chose when the config said 0.
    pub addr: SocketAddr,
    /// One socket per stream worker, all bound to `addr` with SO_REUSEPORT.
    pub sockets: Vec<TcpListener>,
}

impl Port {
    /// Bind `workers` sockets (at least one) to `addr`.
    pub fn bind(addr: SocketAddr, workers: usize) -> anyhow::Result<Port> {
        let first = bind(addr, true).with_context(|| format!("cannot listen on {addr}"))?;
        let addr = first.local_addr().unwrap_or(addr);
        let mut port = Port {
            addr,
            sockets: vec![first],
        };
        port.resize(workers)?;
        Ok(port)
    }

    /// Make the group `workers` sockets (at least one): bind more to the same address, or
    /// close the last ones (connections already queued on a closed socket are reset by
    /// the kernel, unless `net.ipv4.tcp_migrate_req` is on).
    pub fn resize(&mut self, workers: usize) -> anyhow::Result<()> {
        let workers = workers.max(1);
        while self.sockets.len() < workers {
            let s = bind(self.addr, true)
                .with_context(|| format!("cannot add a socket to {}", self.addr))?;
            self.sockets.push(s);
        }
        self.sockets.truncate(workers);
        Ok(())
    }
}

/// Bind every address (`listen` may name several ports), each as a group of `workers`
/// sockets.
pub fn bind_all(addrs: &[SocketAddr], workers: usize) -> anyhow::Result<Vec<Port>> {
    addrs.iter().map(|a| Port::bind(*a, workers)).collect()
}

/// Bind one TCP listener with SO_REUSEADDR (a restart does not wait for TIME_WAIT), and
/// SO_REUSEPORT when it is one of a group.
pub fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(s.into())
}

/// Raise the soft limit on open files to the hard limit: every client is a descriptor, and
/// the usual soft limit of 1024 is far below `max_connections` on a busy node.
pub fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!("cannot raise the open files limit from {soft} to {hard}: {e}");
            } else {
                tracing::info!("open files limit raised from {soft} to {hard}");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot read the open files limit: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::io::Write;

    /// Connections to a port spread over every socket of its group, and a group can grow
    /// and shrink on the port the kernel chose.
    #[test]
    fn a_group_spreads_connections_over_its_sockets() {
        let mut port = Port::bind("127.0.0.1:0".parse().unwrap(), 4).unwrap();
        assert_ne!(port.addr.port(), 0);
        assert_eq!(port.sockets.len(), 4);
        for s in &port.sockets {
            assert_eq!(s.local_addr().unwrap(), port.addr);
            s.set_nonblocking(true).unwrap();
        }
        let _clients: Vec<_> = (0..200)
            .map(|_| {
                let mut c = std::net::TcpStream::connect(port.addr).unwrap();
                c.write_all(b"x").unwrap();
                c
            })
            .collect();
        // On loopback a connect returns once the connection is queued on one socket of
        // the group: each queue holds its share now.
        let per_socket: Vec<usize> = port
            .sockets
            .iter()
            .map(|s| std::iter::from_fn(|| s.accept().ok()).count())
            .collect();
        assert_eq!(per_socket.iter().sum::<usize>(), 200, "{per_socket:?}");
        // 50 expected each; 20 is more than 4 standard deviations away.
        assert!(per_socket.iter().all(|n| *n >= 20), "{per_socket:?}");
        port.resize(6).unwrap();
        port.resize(2).unwrap();
        let addrs: HashSet<_> = port
            .sockets
            .iter()
            .map(|s| s.local_addr().unwrap())
            .collect();
        assert_eq!(addrs.len(), 1);
        assert_eq!(port.sockets.len(), 2);
    }
}
