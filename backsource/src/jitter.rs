//! Time jitter correction: the timestamps a stream hands to players are continuous even when
//! publishers' are not (SRS's `time_jitter full`).
//!
//! Correction is per stream, at ingest, so that every player of a stream sees the same
//! timestamps and the chunked bytes of a message can be shared. The stream keeps its time
//! base: the first publish's first timestamp passes through unchanged, later ones advance by
//! the publisher's own deltas, computed in wrapping 32-bit arithmetic so that crossing the
//! 2^32 ms wrap of RTMP timestamps is a normal small delta. A delta that is a jump (backwards
//! by more than [`MAX_BACKWARD_MS`], forwards by more than [`MAX_FORWARD_MS`]), and the first
//! message of a republish, advances time by [`DEFAULT_FRAME_MS`] instead: players keep a
//! continuous clock across an encoder restart.

/// Largest backwards step kept as is. Audio and video interleave a few milliseconds out of
/// order, which must survive; SRS uses the same bound.
pub const MAX_BACKWARD_MS: i64 = 250;
/// Largest forwards step kept as is. SRS uses 250 ms, which slows down streams with sparse
/// frames (1 fps slides, gaps in audio-only streams); 3 s keeps those while still catching
/// an encoder that restarts its clock.
pub const MAX_FORWARD_MS: i64 = 3_000;
/// Step used in place of a jump (SRS's DEFAULT_FRAME_TIME_MS).
pub const DEFAULT_FRAME_MS: i64 = 10;

/// How timestamps are corrected (`time_jitter`, `atc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `time_jitter full`: continuous, as described above.
    #[default]
    Full,
    /// `time_jitter zero`: each publish starts at zero, its own deltas after that.
    Zero,
    /// `time_jitter off`, or `atc on`: the encoder's timestamps as they are.
    Off,
}

/// Per-stream jitter state.
#[derive(Debug, Clone, Default)]
pub struct Jitter {
    /// Last input timestamp of the current publish session.
    last_in: Option<u32>,
    /// Last output timestamp (64-bit; players get its low 32 bits).
    last_out: Option<i64>,
    /// The first input timestamp of the current publish (for `Zero`).
    first_in: Option<u32>,
    mode: Mode,
}

impl Jitter {
    /// A fresh stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new publisher took over: its first timestamp is unrelated to the previous one.
    pub fn new_session(&mut self) {
        self.last_in = None;
        self.first_in = None;
    }

    /// Correct with `mode` from now on.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// The mode in use.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The last corrected timestamp, if any.
    pub fn current(&self) -> Option<u32> {
        self.last_out.map(|t| t as u32)
    }

    /// Correct one timestamp.
    pub fn correct(&mut self, ts: u32) -> u32 {
        match self.mode {
            Mode::Full => {}
            Mode::Off => {
                self.last_in = Some(ts);
                self.last_out = Some(i64::from(ts));
                return ts;
            }
            Mode::Zero => {
                let first = *self.first_in.get_or_insert(ts);
                let out = ts.wrapping_sub(first);
                // Interleaving a little before the first message stays at zero.
                let out = if out > 0x7fff_ffff { 0 } else { out };
                self.last_in = Some(ts);
                self.last_out = Some(i64::from(out));
                return out;
            }
        }
        let out = match (self.last_in, self.last_out) {
            (_, None) => ts as i64,
            (None, Some(prev)) => prev + DEFAULT_FRAME_MS,
            (Some(last), Some(prev)) => {
                // Wrapping difference: u32::MAX → 5 is +6, not -4294967290.
                let delta = ts.wrapping_sub(last) as i32 as i64;
                let delta = if !(-MAX_BACKWARD_MS..=MAX_FORWARD_MS).contains(&delta) {
                    DEFAULT_FRAME_MS
                } else {
                    delta
                };
                (prev + delta).max(0)
            }
        };
        self.last_in = Some(ts);
        self.last_out = Some(out);
        out as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_base_and_deltas() {
        let mut j = Jitter::new();
        assert_eq!(j.correct(1000), 1000);
        assert_eq!(j.correct(1040), 1040);
        // Audio slightly behind video: kept.
        assert_eq!(j.correct(1030), 1030);
        assert_eq!(j.correct(1080), 1080);
    }

    #[test]
    fn jumps_become_one_frame() {
        let mut j = Jitter::new();
        j.correct(5000);
        assert_eq!(j.correct(0), 5010);
        assert_eq!(j.correct(40), 5050);
        assert_eq!(j.correct(100_000), 5060);
    }

    #[test]
    fn wrap_at_2_pow_32_is_a_small_step() {
        let mut j = Jitter::new();
        let a = j.correct(u32::MAX - 20);
        let b = j.correct(u32::MAX);
        let c = j.correct(19);
        assert_eq!(b.wrapping_sub(a), 20);
        assert_eq!(c.wrapping_sub(b), 20);
    }

    #[test]
    fn extended_timestamp_boundary_passes_through() {
        let mut j = Jitter::new();
        let ts: Vec<u32> = [0x00ff_ffd0u32, 0x00ff_fff0, 0x0100_0010, 0x0100_0030]
            .iter()
            .map(|t| j.correct(*t))
            .collect();
        assert_eq!(ts, vec![0x00ff_ffd0, 0x00ff_fff0, 0x0100_0010, 0x0100_0030]);
    }

    #[test]
    fn off_and_zero() {
        let mut j = Jitter::new();
        j.set_mode(Mode::Off);
        assert_eq!(j.correct(5000), 5000);
        assert_eq!(j.correct(0), 0);
        assert_eq!(j.correct(100_000), 100_000);
        let mut j = Jitter::new();
        j.set_mode(Mode::Zero);
        assert_eq!(j.correct(5000), 0);
        assert_eq!(j.correct(5040), 40);
        assert_eq!(j.correct(4990), 0);
        j.new_session();
        assert_eq!(j.correct(90_000), 0);
    }

    #[test]
    fn republish_continues() {
        let mut j = Jitter::new();
        j.correct(10_000);
        j.correct(10_040);
        j.new_session();
        assert_eq!(j.correct(0), 10_050);
        assert_eq!(j.correct(40), 10_090);
    }
}
