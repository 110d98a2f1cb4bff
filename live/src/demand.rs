//! Which streams of edge vhosts this process's players want: backsource pulls such a stream
//! from the origin while any process of the node wants it (DESIGN.md: one upstream per
//! stream per node, whatever the number of workers, players and protocols).
//!
//! A player holds a [`DemandGuard`] while it plays; the first guard of a stream sends
//! [`DemandEvent::Want`] with that player's request, the last one to go sends
//! [`DemandEvent::Unwant`]. The reader plumbing passes both on to the master, which keeps
//! the union over the processes and tells backsource.

use srs_ipc::control::{PullRequest, StreamKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;

/// A change of what this process wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemandEvent {
    /// The first player of a stream came.
    Want(PullRequest),
    /// Its last player left.
    Unwant(StreamKey),
}

#[derive(Debug, Default)]
struct State {
    /// Holders per stream, with the request of the first, and where a failure of its
    /// pull is announced to them.
    wanted: HashMap<StreamKey, (usize, PullRequest, watch::Sender<Option<String>>)>,
    tx: Option<UnboundedSender<DemandEvent>>,
}

/// The streams this process wants, by key.
#[derive(Debug, Default)]
pub struct Demands {
    state: Mutex<State>,
}

impl Demands {
    /// Nothing wanted yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Want `req.key` until the guard is dropped.
    pub fn want(self: &Arc<Self>, req: PullRequest) -> DemandGuard {
        let key = req.key.clone();
        let mut st = self.lock();
        let (first, failure) = match st.wanted.get_mut(&key) {
            Some((n, _, tx)) => {
                *n += 1;
                (false, tx.subscribe())
            }
            None => {
                let (tx, rx) = watch::channel(None);
                st.wanted.insert(key.clone(), (1, req.clone(), tx));
                (true, rx)
            }
        };
        if first {
            if let Some(tx) = &st.tx {
                let _ = tx.send(DemandEvent::Want(req));
            }
        }
        DemandGuard {
            demands: self.clone(),
            key,
            failure,
        }
    }

    /// No origin could deliver `key`: tell its holders.
    pub fn fail(&self, key: &StreamKey, reason: &str) {
        if let Some((_, _, tx)) = self.lock().wanted.get(key) {
            tx.send_replace(Some(reason.to_string()));
        }
    }

    /// Where changes go from now on; what is wanted already is sent first.
    pub fn attach(&self) -> UnboundedReceiver<DemandEvent> {
        let (tx, rx) = unbounded_channel();
        let mut st = self.lock();
        for (_, req, _) in st.wanted.values() {
            let _ = tx.send(DemandEvent::Want(req.clone()));
        }
        st.tx = Some(tx);
        rx
    }

    /// The streams wanted now.
    pub fn wanted(&self) -> Vec<StreamKey> {
        let mut v: Vec<StreamKey> = self.lock().wanted.keys().cloned().collect();
        v.sort();
        v
    }

    fn release(&self, key: &StreamKey) {
        let mut st = self.lock();
        let last = match st.wanted.get_mut(key) {
            Some((n, _, _)) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                st.wanted.remove(key);
                true
            }
            None => false,
        };
        if last {
            if let Some(tx) = &st.tx {
                let _ = tx.send(DemandEvent::Unwant(key.clone()));
            }
        }
    }
}

/// One holder's claim on a stream; dropping it gives the claim up.
#[derive(Debug)]
pub struct DemandGuard {
    demands: Arc<Demands>,
    key: StreamKey,
    failure: watch::Receiver<Option<String>>,
}

impl DemandGuard {
    /// The stream wanted.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Resolves when no origin could deliver the stream, with what they answered: a
    /// failure announced after this guard was made (one before it concerns earlier
    /// holders, not this one).
    pub fn failed(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        let mut rx = self.failure.clone();
        async move {
            loop {
                if rx.changed().await.is_err() {
                    return std::future::pending().await;
                }
                if let Some(r) = rx.borrow_and_update().clone() {
                    return r;
                }
            }
        }
    }
}

impl Drop for DemandGuard {
    fn drop(&mut self) {
        self.demands.release(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(stream: &str) -> PullRequest {
        PullRequest {
            key: StreamKey {
                vhost: "v".into(),
                app: "live".into(),
                stream: stream.into(),
            },
            tc_url: "rtmp://h/live".into(),
            stream: format!("{stream}?token=1"),
            page_url: String::new(),
        }
    }

    #[test]
    fn first_and_last_holders_are_announced_once() {
        let d = Demands::new();
        let early = d.want(req("a"));
        let mut rx = d.attach();
        // What was wanted before the attach comes first.
        assert_eq!(rx.try_recv().unwrap(), DemandEvent::Want(req("a")));
        let a2 = d.want(req("a"));
        let b = d.want(req("b"));
        assert_eq!(rx.try_recv().unwrap(), DemandEvent::Want(req("b")));
        assert!(rx.try_recv().is_err());
        drop(early);
        assert!(rx.try_recv().is_err(), "a still has a holder");
        drop(a2);
        assert_eq!(rx.try_recv().unwrap(), DemandEvent::Unwant(req("a").key));
        assert_eq!(d.wanted(), vec![req("b").key]);
        drop(b);
        assert_eq!(rx.try_recv().unwrap(), DemandEvent::Unwant(req("b").key));
        assert!(d.wanted().is_empty());
    }

    #[tokio::test]
    async fn a_failed_pull_reaches_every_holder() {
        let d = Demands::new();
        let a = d.want(req("a"));
        let b = d.want(req("a"));
        let other = d.want(req("b"));
        d.fail(&req("a").key, "origin down");
        assert_eq!(a.failed().await, "origin down");
        assert_eq!(b.failed().await, "origin down");
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(50), other.failed());
        assert!(quiet.await.is_err(), "b's pull did not fail");
        // A holder that comes after the failure is not failed by it; a later one is.
        let late = d.want(req("a"));
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(50), late.failed());
        assert!(
            quiet.await.is_err(),
            "an old failure does not fail a new holder"
        );
        d.fail(&req("a").key, "again");
        assert_eq!(late.failed().await, "again");
    }
}
