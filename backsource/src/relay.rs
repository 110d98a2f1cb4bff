//! What every relay of a stream to or from another server shares (edge pull and push,
//! forward): the RTMP client connection to the first server of a list that answers, the
//! back-off between rounds of failures, the status the API shows, and the mark that lets a
//! server of ours recognise its own relays (a forward loop).

use srs_client::{Client, ClientError, Options};
use srs_conf::DEFAULT_VHOST;
use srs_ipc::control::{RelayInfo, StreamKey};
use srs_live::conn::server_id;
use std::sync::Mutex;
use std::time::Duration;

/// Client options of a relay: our mark in `connect`, and `page_url` passed through.
pub fn options(page_url: &str) -> Options {
    Options::relay(server_id(), page_url)
}

/// The tcUrl a relay sends to `server` for a stream of vhost `key.vhost` and app
/// `key.app`: the server's own address, and the vhost as a parameter when it is not the
/// default (the upstream resolves its vhost from it, whatever host the address names), as
/// SRS's edge and forwarder do.
pub fn tc_url(server: &str, key: &StreamKey) -> String {
    if key.vhost == DEFAULT_VHOST {
        format!("rtmp://{server}/{}", key.app)
    } else {
        format!("rtmp://{server}/{}?vhost={}", key.app, key.vhost)
    }
}

/// The stream name a relay sends upstream for a client's `name` (with its query): the
/// params the client put in its tcUrl go along too (as SRS's edge passes them), so that the
/// upstream's hooks and checks see all of them; `vhost`/`domain` are left out (the relay's
/// tcUrl says the vhost).
pub fn upstream_stream(name: &str, client_tc_url: &str) -> String {
    let tc_query = client_tc_url.split_once('?').map_or("", |(_, q)| q);
    let (stream, query) = name.split_once('?').unwrap_or((name, ""));
    let params: Vec<&str> = query
        .split('&')
        .chain(tc_query.split('&'))
        .filter(|kv| !kv.is_empty())
        .filter(|kv| {
            let k = kv.split('=').next().unwrap_or("");
            k != "vhost" && k != "domain"
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let params: Vec<&str> = params.into_iter().filter(|kv| seen.insert(*kv)).collect();
    if params.is_empty() {
        stream.to_string()
    } else {
        format!("{stream}?{}", params.join("&"))
    }
}

/// Whether to publish or play once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Play (edge pull).
    Play,
    /// Publish (edge push, forward).
    Publish,
}

/// Connect to `server` and publish or play `stream` (a name with its query).
pub async fn open(
    server: &str,
    key: &StreamKey,
    stream: &str,
    mode: Mode,
    page_url: &str,
) -> Result<Client, ClientError> {
    let mut c = Client::connect(server, &tc_url(server, key), &key.app, &options(page_url)).await?;
    match mode {
        Mode::Play => c.play(stream).await?,
        Mode::Publish => c.publish(stream).await?,
    }
    Ok(c)
}

/// Waits between rounds of failed attempts: 1 s, 2 s, 4 s, then 5 s each, until a
/// connection works again. Short enough that players waiting on an edge get the stream
/// soon after the origin is back, long enough that a dead origin is not hammered.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

/// Longest wait between rounds.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Backoff {
    /// The wait after one more failed round.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let secs = 1u64 << (self.failures - 1).min(8);
        Duration::from_secs(secs).min(MAX_BACKOFF)
    }

    /// A connection worked: start over.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A relay's state, for the API and `srs-cli streams`.
#[derive(Debug)]
pub struct RelayStatus {
    info: Mutex<RelayInfo>,
}

impl RelayStatus {
    /// A relay of `kind` (`pull`, `push`, `forward`) that has not started.
    pub fn new(kind: &str) -> Self {
        RelayStatus {
            info: Mutex::new(RelayInfo {
                kind: kind.to_string(),
                state: "connecting".into(),
                since_ms: now_ms(),
                ..RelayInfo::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RelayInfo> {
        self.info.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enter `state` talking to `server`.
    pub fn set(&self, server: &str, state: &str) {
        let mut i = self.lock();
        if i.state != state || i.server != server {
            i.state = state.to_string();
            i.server = server.to_string();
            i.since_ms = now_ms();
        }
    }

    /// An attempt failed or a connection was lost.
    pub fn failed(&self, server: &str, error: &str) {
        let mut i = self.lock();
        i.retries = i.retries.saturating_add(1);
        i.last_error = error.to_string();
        i.server = server.to_string();
        if i.state != "retrying" {
            i.state = "retrying".into();
            i.since_ms = now_ms();
        }
    }

    /// Count the bytes of a connection: `base` is what earlier connections moved.
    pub fn bytes(&self, base: (u64, u64), c: &Client) {
        let mut i = self.lock();
        i.bytes_in = base.0 + c.bytes_in();
        i.bytes_out = base.1 + c.bytes_out();
    }

    /// Bytes moved so far (in, out).
    pub fn totals(&self) -> (u64, u64) {
        let i = self.lock();
        (i.bytes_in, i.bytes_out)
    }

    /// A copy for the API.
    pub fn info(&self) -> RelayInfo {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_resets() {
        let mut b = Backoff::default();
        let got: Vec<u64> = (0..6).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 5, 5, 5]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn client_params_go_upstream_without_the_vhost() {
        assert_eq!(upstream_stream("s", "rtmp://e/live"), "s");
        assert_eq!(
            upstream_stream("s?token=a", "rtmp://e/live?vhost=v&sig=b"),
            "s?token=a&sig=b"
        );
        assert_eq!(
            upstream_stream("s?vhost=v", "rtmp://e/live?token=a"),
            "s?token=a"
        );
        assert_eq!(upstream_stream("s?t=1", "rtmp://e/live?t=1"), "s?t=1");
    }

    #[test]
    fn tc_url_names_the_server_and_a_non_default_vhost() {
        let k = |v: &str| StreamKey {
            vhost: v.into(),
            app: "live".into(),
            stream: "s".into(),
        };
        assert_eq!(
            tc_url("127.0.0.1:1935", &k(DEFAULT_VHOST)),
            "rtmp://127.0.0.1:1935/live"
        );
        assert_eq!(
            tc_url("10.0.0.1:19350", &k("edge.example.com")),
            "rtmp://10.0.0.1:19350/live?vhost=edge.example.com"
        );
    }
}

/// Whether `server` (`host:port`) is this server: one of its RTMP `listen` addresses, or a
/// local address on the port of a wildcard listen. A relay there would loop.
pub async fn is_self(server: &str, listen: &[std::net::SocketAddr]) -> bool {
    let lookup = tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host(server));
    let Ok(Ok(addrs)) = lookup.await else {
        return false;
    };
    for a in addrs {
        for l in listen {
            if l.port() != a.port() {
                continue;
            }
            if l.ip() == a.ip() || (l.ip().is_unspecified() && is_local_ip(a.ip())) {
                return true;
            }
        }
    }
    false
}

/// Whether `ip` is an address of this machine: one we can bind to.
fn is_local_ip(ip: std::net::IpAddr) -> bool {
    ip.is_loopback()
        || ip.is_unspecified()
        || std::net::UdpSocket::bind(std::net::SocketAddr::new(ip, 0)).is_ok()
}
