//! Fuzzing entry point for the TS reader and muxer.

use bytes::BytesMut;

use super::{
    ms_to_ts90, parse_packet, validate_muxed, EsFrame, MediaKind, Prepared, TsEvent, TsMuxer,
    TsReader, AUDIO_PID, PACKET_SIZE, VIDEO_PID,
};

/// An AVC sequence header (High, 320x240) as ffmpeg sends it.
const AVC_SEQUENCE_HEADER: [u8; 51] = [
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00,
    0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
    0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
    0xf8, 0xf8, 0x00,
];

/// AAC sequence headers: LC 44.1 kHz stereo, LC 48 kHz mono, HE-AAC 22.05/44.1 kHz stereo.
const AAC_SEQUENCE_HEADERS: [&[u8]; 3] = [
    &[0xaf, 0x00, 0x12, 0x10],
    &[0xaf, 0x00, 0x11, 0x88],
    &[0xaf, 0x00, 0x2b, 0x92, 0x08, 0x00],
];

/// Reads script operands from the fuzz input; runs dry as zeros.
struct Script<'a> {
    data: &'a [u8],
}

impl<'a> Script<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (b, rest) = self.data.split_at(n);
        self.data = rest;
        b
    }
}

/// Fuzz target for the TS reader and muxer.
///
/// Asserts:
/// 1. reading arbitrary bytes, split in input-derived pieces, never panics and never yields
///    more PES data than was read;
/// 2. the same bytes read as a script of media messages (sequence headers, frames of
///    arbitrary content and timing, raw message bodies, segment starts, timestamp jumps
///    across the 2^32 ms wrap, republishes) produce output that [`validate_muxed`] accepts,
///    as a whole and per segment (each starts with PAT and PMT), and that reads back, per
///    PID, as exactly the frames written, with their PTS, DTS and random access flags.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn fuzz_ts(data: &[u8]) {
    read_arbitrary(data);
    mux_script(data);
}

fn read_arbitrary(data: &[u8]) {
    let mut r = TsReader::new();
    let mut lcg = u32::from(data.first().copied().unwrap_or(0));
    let mut rest = data;
    let mut pes_bytes = 0usize;
    let mut count = |e: Option<Result<TsEvent, _>>| {
        if let Some(Ok(TsEvent::Pes(p))) = e {
            pes_bytes += p.data.len();
        }
    };
    while !rest.is_empty() {
        lcg = lcg.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let n = (1 + (lcg >> 8) as usize % 400).min(rest.len());
        r.push(&rest[..n]);
        rest = &rest[n..];
        while let Some(e) = r.next_event() {
            count(Some(e));
        }
    }
    for e in r.finish() {
        count(Some(e));
    }
    assert!(pes_bytes <= data.len());
    for c in data.chunks(PACKET_SIZE) {
        let _ = parse_packet(c);
    }
}

fn mux_script(data: &[u8]) {
    let mut s = Script { data };
    let mut m = TsMuxer::new();
    let mut out = BytesMut::new();
    let mut ts = u32::from_be_bytes([
        s.byte().unwrap_or(0),
        s.byte().unwrap_or(0),
        s.byte().unwrap_or(0),
        s.byte().unwrap_or(0),
    ]);
    let mut written: Vec<EsFrame> = Vec::new();
    let mut boundaries = vec![0usize];
    let mut segment_pending = false;
    while let Some(op) = s.byte() {
        let prepared = match op % 8 {
            0 => m.prepare(MediaKind::Video, ts, &AVC_SEQUENCE_HEADER),
            1 => {
                let i = s.byte().unwrap_or(0) as usize % AAC_SEQUENCE_HEADERS.len();
                m.prepare(MediaKind::Audio, ts, AAC_SEQUENCE_HEADERS[i])
            }
            2 => {
                let flags = s.byte().unwrap_or(0);
                let len = s.byte().unwrap_or(0) as usize;
                let payload = s.bytes(len);
                ts = ts.wrapping_add(u32::from(s.byte().unwrap_or(0)));
                let keyframe = flags & 1 != 0;
                let nal_type = if keyframe { 0x65 } else { 0x41 };
                let mut body = vec![if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, flags >> 1];
                body.extend_from_slice(&(payload.len() as u32 + 1).to_be_bytes());
                body.push(nal_type);
                body.extend_from_slice(payload);
                m.prepare(MediaKind::Video, ts, &body)
            }
            3 => {
                let len = s.byte().unwrap_or(0) as usize;
                let mut body = vec![0xaf, 1];
                body.extend_from_slice(s.bytes(len));
                ts = ts.wrapping_add(u32::from(s.byte().unwrap_or(0) % 50));
                m.prepare(MediaKind::Audio, ts, &body)
            }
            4 => {
                m.start_segment();
                segment_pending = true;
                continue;
            }
            5 | 6 => {
                let len = s.byte().unwrap_or(0) as usize;
                let body = s.bytes(len);
                let kind = if op % 8 == 5 {
                    MediaKind::Video
                } else {
                    MediaKind::Audio
                };
                m.prepare(kind, ts, body)
            }
            _ => {
                let b = s.bytes(4);
                let mut jump = [0u8; 4];
                jump[..b.len()].copy_from_slice(b);
                ts = ts.wrapping_add(u32::from_be_bytes(jump));
                match op >> 6 {
                    1 => m.reset_timeline(),
                    2 => m.reset_stream(),
                    _ => {}
                }
                continue;
            }
        };
        if let Ok(Prepared::Frame(f)) = prepared {
            if segment_pending {
                boundaries.push(out.len());
                segment_pending = false;
            }
            m.write(&f, &mut out);
            written.push(f);
        }
    }
    assert_eq!(out.len() % PACKET_SIZE, 0);
    if out.is_empty() {
        assert!(written.is_empty());
        return;
    }
    let whole = validate_muxed(&out, false).unwrap_or_else(|e| panic!("whole output: {e}"));
    boundaries.push(out.len());
    for w in boundaries.windows(2) {
        validate_muxed(&out[w[0]..w[1]], false)
            .unwrap_or_else(|e| panic!("segment at {}: {e}", w[0]));
    }
    for (kind, pid) in [(MediaKind::Video, VIDEO_PID), (MediaKind::Audio, AUDIO_PID)] {
        let frames: Vec<&EsFrame> = written.iter().filter(|f| f.kind == kind).collect();
        let pes: Vec<_> = whole.pes.iter().filter(|p| p.pid == pid).collect();
        assert_eq!(frames.len(), pes.len(), "{kind:?} PES count");
        for (f, p) in frames.iter().zip(pes) {
            assert_eq!(p.data, f.data);
            let pts = ms_to_ts90(f.pts_ms.max(f.dts_ms));
            let dts = ms_to_ts90(f.dts_ms);
            assert_eq!(p.pts, Some(pts));
            assert_eq!(p.dts, (pts != dts).then_some(dts));
            assert_eq!(p.random_access, f.keyframe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_invariant_on_random_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(188);
        for round in 0..1500 {
            let n = rng.gen_range(0..2000);
            let mut v: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            if round % 3 == 0 {
                // Bias towards real media: sequence headers first, then frames.
                v.splice(0..0, [0, 0, 0, 0, 0, 1, 0]);
            }
            fuzz_ts(&v);
        }
    }

    #[test]
    fn fuzz_script_long_stream() {
        // A deterministic long script: headers, then frames with segments and a wrap.
        let mut v = vec![0xff, 0xff, 0xf0, 0x00, 0, 1, 0];
        for i in 0..300u32 {
            if i % 50 == 0 {
                v.push(4);
            }
            v.extend_from_slice(&[2, (i % 25 == 0) as u8 | 0x50, 3, 1, 2, 3, 40]);
            v.extend_from_slice(&[3, 2, 9, 9, 23]);
        }
        fuzz_ts(&v);
    }
}
