//! Listening sockets, bound once by the master.

use anyhow::Context;
use socket2::{Domain, Socket, Type};
use std::net::SocketAddr;

/// Backlog of every listening socket: large enough that a burst of players (or a restart of
/// a worker) loses no connection.
pub const BACKLOG: i32 = 4096;

/// Bind every address (`listen` may name several ports).
pub fn bind_all(addrs: &[SocketAddr]) -> anyhow::Result<Vec<std::net::TcpListener>> {
    addrs
        .iter()
        .map(|a| bind(*a).with_context(|| format!("cannot listen on {a}")))
        .collect()
}

/// Bind one TCP listener with SO_REUSEADDR (a restart does not wait for TIME_WAIT).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
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
