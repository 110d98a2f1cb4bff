//! The client side of SRS's bandwidth check: after `connect` to a `bandcheck` vhost (with
//! `key=...` in the tcUrl), answer the server's calls, send `onSrsBandCheckPublishing`
//! data while it measures, and read its figures from `onSrsBandCheckFinished`.

use crate::{Client, ClientError};
use srs_protocol::amf0::Amf0Value;
use srs_protocol::message::Command;
use srs_protocol::session::ClientEvent;
use tokio::time::{Duration, Instant};

/// What the server measured (`onSrsBandCheckFinished`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BandwidthReport {
    /// When the check started and ended, ms since the epoch (server clock).
    pub start_time: i64,
    /// See `start_time`.
    pub end_time: i64,
    /// The server's send rate to us, kbps.
    pub play_kbps: i64,
    /// Our send rate to the server, kbps.
    pub publish_kbps: i64,
    /// Bytes the server sent while measuring.
    pub play_bytes: i64,
    /// Bytes we sent while measuring.
    pub publish_bytes: i64,
    /// How long the play half took, ms.
    pub play_time: i64,
    /// How long the publish half took, ms.
    pub publish_time: i64,
}

/// How long each step may take.
const STEP: Duration = Duration::from_secs(15);

impl Client {
    /// The next call from the server (media and other events are read and dropped).
    async fn next_call(&mut self, deadline: Instant) -> Result<Command, ClientError> {
        loop {
            if let ClientEvent::Command(c) = self.next_event(deadline, "bandwidth check").await? {
                return Ok(c);
            }
        }
    }

    async fn expect_call(&mut self, name: &str) -> Result<Command, ClientError> {
        let deadline = Instant::now() + STEP;
        loop {
            let c = self.next_call(deadline).await?;
            if c.name == name {
                return Ok(c);
            }
        }
    }

    async fn call(&mut self, name: &str) -> Result<(), ClientError> {
        self.session.send_call(name, Amf0Value::Object(vec![]));
        self.flush().await
    }

    /// Run SRS's bandwidth check on this connection (right after `connect`, no stream).
    pub async fn bandwidth_check(&mut self) -> Result<BandwidthReport, ClientError> {
        self.expect_call("onSrsBandCheckStartPlayBytes").await?;
        self.call("onSrsBandCheckStartingPlayBytes").await?;
        // The server plays to us until it says stop.
        self.expect_call("onSrsBandCheckStopPlayBytes").await?;
        self.call("onSrsBandCheckStoppedPlayBytes").await?;
        let start = self.expect_call("onSrsBandCheckStartPublishBytes").await?;
        self.call("onSrsBandCheckStartingPublishBytes").await?;
        let duration_ms = start
            .args
            .first()
            .and_then(|d| d.get_f64("duration_ms"))
            .unwrap_or(3000.0);
        // Publish for the duration (and until the server says stop), reading what it says.
        let text: String = (0..4096)
            .map(|i| char::from(b'A' + (i * 11 % 26) as u8))
            .collect();
        let until = Instant::now() + Duration::from_millis(duration_ms as u64);
        let deadline = until + STEP;
        loop {
            self.session.send_call(
                "onSrsBandCheckPublishing",
                Amf0Value::Object(vec![("data".into(), Amf0Value::string(text.as_str()))]),
            );
            self.flush().await?;
            self.read_available()?;
            let mut stop = false;
            while let Some(ev) = self.session.poll_event() {
                if let ClientEvent::Command(c) = ev {
                    stop |= c.name == "onSrsBandCheckStopPublishBytes";
                }
            }
            if stop {
                break;
            }
            if Instant::now() >= until {
                self.expect_call("onSrsBandCheckStopPublishBytes").await?;
                break;
            }
            if Instant::now() > deadline {
                return Err(ClientError::Timeout("bandwidth check publish"));
            }
            // Writes block when the server reads slowly (its limit): no sleep needed.
            tokio::task::yield_now().await;
        }
        self.call("onSrsBandCheckStoppedPublishBytes").await?;
        let fin = self.expect_call("onSrsBandCheckFinished").await?;
        self.call("finalClientPacket").await?;
        let data = fin.args.first().cloned().unwrap_or(Amf0Value::Null);
        let n = |k: &str| data.get_f64(k).unwrap_or(0.0) as i64;
        Ok(BandwidthReport {
            start_time: n("start_time"),
            end_time: n("end_time"),
            play_kbps: n("play_kbps"),
            publish_kbps: n("publish_kbps"),
            play_bytes: n("play_bytes"),
            publish_bytes: n("publish_bytes"),
            play_time: n("play_time"),
            publish_time: n("publish_time"),
        })
    }
}
