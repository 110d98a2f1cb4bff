//! `mix_correct on`: audio and video put in timestamp order before the stream takes them,
//! for encoders that send one kind ahead of the other (SRS's `SrsMixQueue`).
//!
//! A message leaves the queue once the queue holds both kinds (the oldest of all goes),
//! or, for a stream with one kind only, once ten of it wait. At the end of a publish
//! what is left goes out in order.

use bytes::Bytes;
use srs_protocol::message::type_id;
use std::collections::VecDeque;

/// Messages of one kind waiting, for a stream without the other kind.
const PURE_AV: usize = 10;

/// One message: type, timestamp, body.
pub type Msg = (u8, u32, Bytes);

/// The queue of one publish.
#[derive(Debug, Default)]
pub struct MixQueue {
    audio: VecDeque<Msg>,
    video: VecDeque<Msg>,
}

impl MixQueue {
    /// An empty queue.
    pub fn new() -> MixQueue {
        MixQueue::default()
    }

    /// Take one message; return those that may go now, oldest first. Data messages go
    /// at once.
    pub fn push(&mut self, m: Msg) -> Vec<Msg> {
        match m.0 {
            type_id::AUDIO => self.audio.push_back(m),
            type_id::VIDEO => self.video.push_back(m),
            _ => return vec![m],
        }
        let mut out = Vec::new();
        loop {
            let (a, v) = (self.audio.front(), self.video.front());
            let next = match (a, v) {
                (Some(a), Some(v)) => {
                    if a.1 <= v.1 {
                        self.audio.pop_front()
                    } else {
                        self.video.pop_front()
                    }
                }
                (Some(_), None) if self.audio.len() >= PURE_AV => self.audio.pop_front(),
                (None, Some(_)) if self.video.len() >= PURE_AV => self.video.pop_front(),
                _ => None,
            };
            match next {
                Some(m) => out.push(m),
                None => return out,
            }
        }
    }

    /// The publish ended: everything left, in order.
    pub fn drain(&mut self) -> Vec<Msg> {
        let mut all: Vec<Msg> = self.audio.drain(..).chain(self.video.drain(..)).collect();
        all.sort_by_key(|m| m.1);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ty: u8, ts: u32) -> Msg {
        (ty, ts, Bytes::new())
    }

    #[test]
    fn audio_ahead_of_video_comes_out_in_order() {
        let mut q = MixQueue::new();
        let mut out = Vec::new();
        // Audio arrives 100 ms ahead of the video of the same time.
        for i in 0..10u32 {
            out.extend(q.push(m(type_id::AUDIO, i * 20 + 100)));
            out.extend(q.push(m(type_id::VIDEO, i * 20)));
        }
        out.extend(q.drain());
        let ts: Vec<u32> = out.iter().map(|m| m.1).collect();
        let mut sorted = ts.clone();
        sorted.sort_unstable();
        assert_eq!(ts, sorted);
        assert_eq!(ts.len(), 20);
    }

    #[test]
    fn one_kind_waits_for_ten_and_data_goes_at_once() {
        let mut q = MixQueue::new();
        for i in 0..9u32 {
            assert!(q.push(m(type_id::AUDIO, i)).is_empty());
        }
        assert_eq!(q.push(m(type_id::AUDIO, 9)).len(), 1);
        assert_eq!(q.push(m(type_id::DATA_AMF0, 0)).len(), 1);
    }
}
