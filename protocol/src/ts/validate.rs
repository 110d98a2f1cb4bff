//! What the muxer guarantees about its output, as a checking function.

use std::collections::HashMap;

use super::{
    parse_packet, parse_pes_header, parse_pmt, stream_type, ts90_diff, Pes, PmtStream, TsError,
    TsEvent, TsReader, PACKET_SIZE, PAT_PID, PMT_PID,
};

/// Largest distance allowed between a PES's DTS and the last PCR before it (13818-1 2.7.2
/// asks for a PCR at least every 100 ms).
pub const MAX_PCR_GAP_MS: i64 = 100;

/// What [`validate_muxed`] saw.
#[derive(Debug, Clone, Default)]
pub struct MuxedSummary {
    /// 188-byte packets.
    pub packets: usize,
    /// PES packets (all PIDs).
    pub pes_count: usize,
    /// Video PES packets that are random access points.
    pub video_keyframes: usize,
    /// Packets carrying only a PCR.
    pub pcr_only_packets: usize,
    /// Largest DTS − last PCR at a PES start, in milliseconds.
    pub max_pcr_gap_ms: i64,
    /// Streams of the last PMT.
    pub streams: Vec<PmtStream>,
    /// PTS of each video PES, in packet order (90 kHz).
    pub video_pts: Vec<u64>,
    /// DTS (PTS when absent) of each video PES, in packet order.
    pub video_dts: Vec<u64>,
    /// PTS of each audio PES, in packet order.
    pub audio_pts: Vec<u64>,
    /// Every PES, reassembled, in completion order.
    pub pes: Vec<Pes>,
}

fn is_video(t: u8) -> bool {
    t == stream_type::H264 || t == stream_type::H265
}

/// Checks bytes written by [`TsMuxer`](super::TsMuxer) from a call of
/// [`start_segment`](super::TsMuxer::start_segment) (or its creation) on:
///
/// - whole 188-byte packets, each starting with 0x47;
/// - the first packet is the PAT and the second the PMT;
/// - continuity counters continuous per PID, section CRCs right, every PES header well
///   formed (no [`TsReader`] error at all);
/// - every PES has a PTS, and a DTS not after it; every packet is on a PID of the PMT;
/// - PCRs only on the PCR PID, one before the first PES, and none older than 100 ms at the
///   start of any PES; video keyframes on the PCR PID carry one;
/// - with `keyframe_first`, the first video PES is a random access point.
// `%`, not `is_multiple_of` (Rust 1.87): the workspace supports 1.80.
#[allow(unknown_lints, clippy::manual_is_multiple_of)]
pub fn validate_muxed(data: &[u8], keyframe_first: bool) -> Result<MuxedSummary, TsError> {
    let invalid = |s: &str| TsError::Invalid(s.to_string());
    if data.len() % PACKET_SIZE != 0 {
        return Err(invalid("not a whole number of packets"));
    }
    let mut summary = MuxedSummary::default();
    let mut r = TsReader::new();
    r.push(data);
    while let Some(e) = r.next_event() {
        if let TsEvent::Pes(p) = e? {
            summary.pes.push(p);
        }
    }
    for e in r.finish() {
        if let TsEvent::Pes(p) = e? {
            summary.pes.push(p);
        }
    }

    let mut streams: HashMap<u16, u8> = HashMap::new();
    let mut pcr_pid = None;
    let mut last_pcr: Option<u64> = None;
    let mut seen_video = false;
    for (i, chunk) in data.chunks(PACKET_SIZE).enumerate() {
        let p = parse_packet(chunk)?;
        summary.packets += 1;
        if i == 0 && !(p.pid == PAT_PID && p.payload_unit_start) {
            return Err(invalid("the first packet is not a PAT"));
        }
        if i == 1 && !(p.pid == PMT_PID && p.payload_unit_start) {
            return Err(invalid("the second packet is not the PMT"));
        }
        if p.pid == PAT_PID {
            continue;
        }
        if p.pid == PMT_PID {
            let pmt = parse_pmt(p.pid, p.payload.unwrap_or(&[]))?;
            pcr_pid = Some(pmt.pcr_pid);
            streams = pmt.streams.iter().map(|s| (s.pid, s.stream_type)).collect();
            summary.streams = pmt.streams;
            continue;
        }
        let Some(&st) = streams.get(&p.pid) else {
            return Err(invalid("packet on a PID not in the PMT"));
        };
        let af = p.adaptation;
        if let Some(pcr) = af.and_then(|a| a.pcr) {
            if Some(p.pid) != pcr_pid {
                return Err(invalid("PCR on a PID other than PCR_PID"));
            }
            last_pcr = Some(pcr / 300);
            if p.payload.is_none() {
                summary.pcr_only_packets += 1;
            }
        }
        if !p.payload_unit_start {
            continue;
        }
        // Our PES headers always fit in the first packet.
        let h = parse_pes_header(p.pid, p.payload.unwrap_or(&[]))?;
        let pts = h.pts.ok_or_else(|| invalid("PES without PTS"))?;
        let dts = h.dts.unwrap_or(pts);
        if ts90_diff(pts, dts) < 0 {
            return Err(invalid("PTS before DTS"));
        }
        let last = last_pcr.ok_or_else(|| invalid("PES before any PCR"))?;
        let gap_ms = ts90_diff(dts, last) / 90;
        summary.max_pcr_gap_ms = summary.max_pcr_gap_ms.max(gap_ms);
        if gap_ms >= MAX_PCR_GAP_MS {
            return Err(invalid("last PCR older than 100 ms"));
        }
        let random_access = af.is_some_and(|a| a.random_access);
        summary.pes_count += 1;
        if is_video(st) {
            if keyframe_first && !seen_video && !random_access {
                return Err(invalid("the first video PES is not a keyframe"));
            }
            seen_video = true;
            if random_access {
                summary.video_keyframes += 1;
                if Some(p.pid) == pcr_pid && af.and_then(|a| a.pcr).is_none() {
                    return Err(invalid("keyframe without PCR"));
                }
            }
            summary.video_pts.push(pts);
            summary.video_dts.push(dts);
        } else {
            summary.audio_pts.push(pts);
        }
    }
    Ok(summary)
}
