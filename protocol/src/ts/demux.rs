//! Reading transport streams: packet headers and adaptation fields (13818-1 2.4.3.2-2.4.3.5),
//! PAT and PMT sections (2.4.4), PES headers (2.4.3.6), and [`TsReader`], which checks a
//! stream as it goes and reassembles PES packets. For tests, tools and fuzzing.

use std::collections::{HashMap, VecDeque};

use super::{crc32_mpeg2, TsError, PACKET_SIZE, PAT_PID, SYNC_BYTE};

/// Largest PES packet [`TsReader`] reassembles (a 4K keyframe is a few MiB).
pub const MAX_PES_SIZE: usize = 16 * 1024 * 1024;

/// The adaptation field of a packet, reduced to what HLS cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptationField {
    /// `adaptation_field_length` (bytes after the length byte).
    pub length: usize,
    /// `discontinuity_indicator`.
    pub discontinuity: bool,
    /// `random_access_indicator`.
    pub random_access: bool,
    /// PCR in 27 MHz units (base × 300 + extension).
    pub pcr: Option<u64>,
}

/// One 188-byte packet, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsPacket<'a> {
    /// Packet identifier.
    pub pid: u16,
    /// `payload_unit_start_indicator`: a PES or section starts here.
    pub payload_unit_start: bool,
    /// `transport_error_indicator`.
    pub transport_error: bool,
    /// `transport_scrambling_control`.
    pub scrambling: u8,
    /// `continuity_counter`.
    pub continuity_counter: u8,
    /// Adaptation field, if present.
    pub adaptation: Option<AdaptationField>,
    /// Payload, if present.
    pub payload: Option<&'a [u8]>,
}

/// Parse one packet from the first 188 bytes of `data`.
pub fn parse_packet(data: &[u8]) -> Result<TsPacket<'_>, TsError> {
    if data.len() < PACKET_SIZE {
        return Err(TsError::ShortPacket(data.len()));
    }
    let p = &data[..PACKET_SIZE];
    if p[0] != SYNC_BYTE {
        return Err(TsError::LostSync { offset: 0 });
    }
    let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1fff;
    let control = (p[3] >> 4) & 0x03;
    let mut at = 4;
    let mut adaptation = None;
    if control & 0x02 != 0 {
        let length = p[4] as usize;
        // 183 when there is no payload, at most 182 with one.
        let max = if control & 0x01 != 0 { 182 } else { 183 };
        if length > max {
            return Err(TsError::BadAdaptationField(length));
        }
        let mut af = AdaptationField {
            length,
            discontinuity: false,
            random_access: false,
            pcr: None,
        };
        if length > 0 {
            let flags = p[5];
            af.discontinuity = flags & 0x80 != 0;
            af.random_access = flags & 0x40 != 0;
            if flags & 0x10 != 0 {
                if length < 7 {
                    return Err(TsError::BadAdaptationField(length));
                }
                let b = &p[6..12];
                let base = (b[0] as u64) << 25
                    | (b[1] as u64) << 17
                    | (b[2] as u64) << 9
                    | (b[3] as u64) << 1
                    | (b[4] as u64) >> 7;
                let ext = ((b[4] as u64) & 1) << 8 | b[5] as u64;
                af.pcr = Some(base * 300 + ext);
            }
        }
        adaptation = Some(af);
        at += 1 + length;
    }
    Ok(TsPacket {
        pid,
        payload_unit_start: p[1] & 0x40 != 0,
        transport_error: p[1] & 0x80 != 0,
        scrambling: p[3] >> 6,
        continuity_counter: p[3] & 0x0f,
        adaptation,
        payload: (control & 0x01 != 0).then(|| &p[at..]),
    })
}

/// The section in a payload that starts one (after the pointer field), checked: table id,
/// syntax indicator, length within this packet (sections spanning packets are not supported:
/// ours never do), CRC. Returns the section without its CRC.
fn section(pid: u16, payload: &[u8], table_id: u8) -> Result<&[u8], TsError> {
    let bad = |what| TsError::BadSection { pid, what };
    let pointer = *payload.first().ok_or(bad("empty payload"))? as usize;
    let s = payload
        .get(1 + pointer..)
        .ok_or(bad("pointer field past the payload"))?;
    if s.len() < 3 {
        return Err(bad("truncated header"));
    }
    if s[0] != table_id {
        return Err(bad("unexpected table id"));
    }
    if s[1] & 0x80 == 0 {
        return Err(bad("section_syntax_indicator not set"));
    }
    let len = (u16::from_be_bytes([s[1], s[2]]) & 0x0fff) as usize;
    if len < 9 {
        return Err(bad("section too short"));
    }
    let s = s.get(..3 + len).ok_or(bad("section spans packets"))?;
    if crc32_mpeg2(s) != 0 {
        return Err(bad("CRC mismatch"));
    }
    Ok(&s[..s.len() - 4])
}

/// Parse a PAT from the payload of a packet that starts it: (program number, PMT PID) pairs.
pub fn parse_pat(pid: u16, payload: &[u8]) -> Result<Vec<(u16, u16)>, TsError> {
    let s = section(pid, payload, 0x00)?;
    let entries = &s[8..];
    if entries.len() % 4 != 0 {
        return Err(TsError::BadSection {
            pid,
            what: "PAT entries",
        });
    }
    Ok(entries
        .chunks_exact(4)
        .map(|e| {
            (
                u16::from_be_bytes([e[0], e[1]]),
                u16::from_be_bytes([e[2], e[3]]) & 0x1fff,
            )
        })
        .collect())
}

/// One elementary stream of a PMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmtStream {
    /// `stream_type` (0x1b H.264, 0x24 H.265, 0x0f AAC, ...).
    pub stream_type: u8,
    /// Its PID.
    pub pid: u16,
}

/// A program map table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmt {
    /// `program_number`.
    pub program_number: u16,
    /// `version_number`.
    pub version: u8,
    /// PID carrying the PCR (0x1fff: none).
    pub pcr_pid: u16,
    /// Elementary streams in table order.
    pub streams: Vec<PmtStream>,
}

/// Parse a PMT from the payload of a packet that starts it.
pub fn parse_pmt(pid: u16, payload: &[u8]) -> Result<Pmt, TsError> {
    let bad = |what| TsError::BadSection { pid, what };
    let s = section(pid, payload, 0x02)?;
    if s.len() < 12 {
        return Err(bad("PMT too short"));
    }
    let program_info_length = (u16::from_be_bytes([s[10], s[11]]) & 0x0fff) as usize;
    let mut es = s
        .get(12 + program_info_length..)
        .ok_or(bad("program info length"))?;
    let mut streams = Vec::new();
    while !es.is_empty() {
        if es.len() < 5 {
            return Err(bad("truncated stream entry"));
        }
        let info_len = (u16::from_be_bytes([es[3], es[4]]) & 0x0fff) as usize;
        streams.push(PmtStream {
            stream_type: es[0],
            pid: u16::from_be_bytes([es[1], es[2]]) & 0x1fff,
        });
        es = es.get(5 + info_len..).ok_or(bad("ES info length"))?;
    }
    Ok(Pmt {
        program_number: u16::from_be_bytes([s[3], s[4]]),
        version: (s[5] >> 1) & 0x1f,
        pcr_pid: u16::from_be_bytes([s[8], s[9]]) & 0x1fff,
        streams,
    })
}

/// A PES packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesHeader {
    /// `stream_id` (0xe0 video, 0xc0 audio, ...).
    pub stream_id: u8,
    /// `PES_packet_length` (0: unbounded, video only).
    pub packet_length: u16,
    /// PTS, 90 kHz, 33 bits.
    pub pts: Option<u64>,
    /// DTS, 90 kHz, 33 bits (only written when it differs from the PTS).
    pub dts: Option<u64>,
    /// Bytes before the elementary-stream data.
    pub header_len: usize,
}

fn pes_timestamp(pid: u16, b: &[u8]) -> Result<u64, TsError> {
    if b[0] & 1 == 0 || b[2] & 1 == 0 || b[4] & 1 == 0 {
        return Err(TsError::BadPes {
            pid,
            what: "timestamp marker bit",
        });
    }
    Ok(((b[0] as u64 >> 1) & 0x07) << 30
        | ((b[1] as u64) << 7 | b[2] as u64 >> 1) << 15
        | ((b[3] as u64) << 7 | b[4] as u64 >> 1))
}

/// Parse the header at the start of a PES packet (the payload of a packet that starts one).
/// Only audio, video and private stream 1 ids are expected here, all with the optional header.
pub fn parse_pes_header(pid: u16, data: &[u8]) -> Result<PesHeader, TsError> {
    let bad = |what| TsError::BadPes { pid, what };
    if data.len() < 9 {
        return Err(bad("truncated header"));
    }
    if data[..3] != [0, 0, 1] {
        return Err(bad("no start code prefix"));
    }
    let stream_id = data[3];
    if !matches!(stream_id, 0xbd | 0xc0..=0xef) {
        return Err(bad("unexpected stream id"));
    }
    if data[6] & 0xc0 != 0x80 {
        return Err(bad("optional header marker"));
    }
    let header_len = 9 + data[8] as usize;
    if data.len() < header_len {
        return Err(bad("header data length past the data"));
    }
    let (pts, dts) = match data[7] >> 6 {
        0 => (None, None),
        2 if header_len >= 14 => (Some(pes_timestamp(pid, &data[9..14])?), None),
        3 if header_len >= 19 => (
            Some(pes_timestamp(pid, &data[9..14])?),
            Some(pes_timestamp(pid, &data[14..19])?),
        ),
        1 => return Err(bad("forbidden PTS_DTS_flags")),
        _ => return Err(bad("timestamps past the header")),
    };
    Ok(PesHeader {
        stream_id,
        packet_length: u16::from_be_bytes([data[4], data[5]]),
        pts,
        dts,
        header_len,
    })
}

/// A reassembled PES packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pes {
    /// PID it came on.
    pub pid: u16,
    /// Stream type from the PMT.
    pub stream_type: u8,
    /// `stream_id`.
    pub stream_id: u8,
    /// PTS (90 kHz).
    pub pts: Option<u64>,
    /// DTS (90 kHz), when written.
    pub dts: Option<u64>,
    /// The first packet had the random access indicator.
    pub random_access: bool,
    /// PCR (27 MHz) carried by the first packet.
    pub pcr: Option<u64>,
    /// Elementary-stream data.
    pub data: Vec<u8>,
}

/// What [`TsReader`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TsEvent {
    /// A PAT: (program number, PMT PID) pairs.
    Pat(Vec<(u16, u16)>),
    /// A PMT.
    Pmt(Pmt),
    /// A complete PES packet.
    Pes(Pes),
    /// A PCR in a packet that does not start a PES (PCR-only packets).
    Pcr {
        /// PID.
        pid: u16,
        /// PCR, 27 MHz.
        pcr: u64,
    },
}

#[derive(Debug)]
struct PesBuilder {
    stream_type: u8,
    random_access: bool,
    pcr: Option<u64>,
    data: Vec<u8>,
}

/// Sans-I/O transport stream reader: push bytes, pull events. Errors are reported in line
/// and reading goes on (after a lost sync, at the next 0x47), so one stream can be checked
/// completely. PES packets are reassembled for the PIDs of the last PMT only, each up to
/// [`MAX_PES_SIZE`].
#[derive(Debug, Default)]
pub struct TsReader {
    buf: Vec<u8>,
    start: usize,
    /// Bytes before `buf[start]` consumed so far, for error offsets.
    offset: u64,
    in_sync: bool,
    last_cc: HashMap<u16, u8>,
    pmt_pids: Vec<u16>,
    streams: HashMap<u16, u8>,
    pes: HashMap<u16, PesBuilder>,
    events: VecDeque<Result<TsEvent, TsError>>,
}

impl TsReader {
    /// A reader expecting a packet boundary first.
    pub fn new() -> Self {
        Self {
            in_sync: true,
            ..Self::default()
        }
    }

    /// Add bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Next event or error, `None` when more bytes are needed.
    pub fn next_event(&mut self) -> Option<Result<TsEvent, TsError>> {
        while self.events.is_empty() && self.buf.len() - self.start >= PACKET_SIZE {
            if self.buf[self.start] != SYNC_BYTE {
                let skip = self.buf[self.start..]
                    .iter()
                    .position(|&b| b == SYNC_BYTE)
                    .unwrap_or(self.buf.len() - self.start);
                if self.in_sync {
                    self.events.push_back(Err(TsError::LostSync {
                        offset: self.offset,
                    }));
                }
                self.in_sync = false;
                self.start += skip;
                self.offset += skip as u64;
                continue;
            }
            self.in_sync = true;
            let packet: [u8; PACKET_SIZE] = self.buf[self.start..self.start + PACKET_SIZE]
                .try_into()
                .expect("188 bytes");
            self.start += PACKET_SIZE;
            self.offset += PACKET_SIZE as u64;
            self.packet(&packet);
        }
        self.events.pop_front()
    }

    /// End of stream: the PES packets still open (in PID order) and, if bytes are left
    /// over, a short packet error.
    pub fn finish(&mut self) -> Vec<Result<TsEvent, TsError>> {
        let mut out: Vec<_> = self.events.drain(..).collect();
        let mut pids: Vec<u16> = self.pes.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            if let Some(b) = self.pes.remove(&pid) {
                out.push(Self::complete(pid, b));
            }
        }
        let left = self.buf.len() - self.start;
        if left > 0 {
            out.push(Err(TsError::ShortPacket(left)));
            self.start = self.buf.len();
        }
        out
    }

    fn packet(&mut self, bytes: &[u8]) {
        let p = match parse_packet(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.events.push_back(Err(e));
                return;
            }
        };
        if p.transport_error {
            self.events.push_back(Err(TsError::TransportError(p.pid)));
            return;
        }
        if p.pid == 0x1fff {
            return; // null packets
        }
        let af = p.adaptation.unwrap_or(AdaptationField {
            length: 0,
            discontinuity: false,
            random_access: false,
            pcr: None,
        });
        if let Some(&last) = self.last_cc.get(&p.pid) {
            let expected = if p.payload.is_some() {
                (last + 1) & 0x0f
            } else {
                last
            };
            if p.continuity_counter != expected && !af.discontinuity {
                self.events.push_back(Err(TsError::Continuity {
                    pid: p.pid,
                    expected,
                    found: p.continuity_counter,
                }));
            }
        }
        self.last_cc.insert(p.pid, p.continuity_counter);

        let mut pcr_used = false;
        if let Some(payload) = p.payload {
            if p.pid == PAT_PID {
                if p.payload_unit_start {
                    match parse_pat(p.pid, payload) {
                        Ok(programs) => {
                            self.pmt_pids = programs
                                .iter()
                                .filter(|(program, _)| *program != 0)
                                .map(|&(_, pid)| pid)
                                .collect();
                            self.events.push_back(Ok(TsEvent::Pat(programs)));
                        }
                        Err(e) => self.events.push_back(Err(e)),
                    }
                }
            } else if self.pmt_pids.contains(&p.pid) {
                if p.payload_unit_start {
                    match parse_pmt(p.pid, payload) {
                        Ok(pmt) => {
                            let mut gone: Vec<u16> = self
                                .pes
                                .keys()
                                .copied()
                                .filter(|pid| !pmt.streams.iter().any(|s| s.pid == *pid))
                                .collect();
                            gone.sort_unstable();
                            for pid in gone {
                                let b = self.pes.remove(&pid).expect("present");
                                self.events.push_back(Self::complete(pid, b));
                            }
                            self.streams =
                                pmt.streams.iter().map(|s| (s.pid, s.stream_type)).collect();
                            self.events.push_back(Ok(TsEvent::Pmt(pmt)));
                        }
                        Err(e) => self.events.push_back(Err(e)),
                    }
                }
            } else if let Some(&stream_type) = self.streams.get(&p.pid) {
                if p.payload_unit_start {
                    if let Some(b) = self.pes.remove(&p.pid) {
                        let done = Self::complete(p.pid, b);
                        self.events.push_back(done);
                    }
                    pcr_used = true;
                    self.pes.insert(
                        p.pid,
                        PesBuilder {
                            stream_type,
                            random_access: af.random_access,
                            pcr: af.pcr,
                            data: payload.to_vec(),
                        },
                    );
                } else if let Some(b) = self.pes.get_mut(&p.pid) {
                    if b.data.len() + payload.len() > MAX_PES_SIZE {
                        self.pes.remove(&p.pid);
                        self.events.push_back(Err(TsError::PesTooLarge(p.pid)));
                    } else {
                        b.data.extend_from_slice(payload);
                    }
                }
                // A PES with a length is complete as soon as all its bytes are in.
                if let Some(b) = self.pes.get(&p.pid) {
                    if b.data.len() >= 6 {
                        let len = u16::from_be_bytes([b.data[4], b.data[5]]) as usize;
                        if len != 0 && b.data.len() >= 6 + len {
                            let b = self.pes.remove(&p.pid).expect("present");
                            self.events.push_back(Self::complete(p.pid, b));
                        }
                    }
                }
            }
        }
        if let (Some(pcr), false) = (af.pcr, pcr_used) {
            self.events.push_back(Ok(TsEvent::Pcr { pid: p.pid, pcr }));
        }
    }

    fn complete(pid: u16, b: PesBuilder) -> Result<TsEvent, TsError> {
        let h = parse_pes_header(pid, &b.data)?;
        let end = if h.packet_length == 0 {
            b.data.len()
        } else {
            6 + h.packet_length as usize
        };
        if end < h.header_len || end > b.data.len() {
            return Err(TsError::BadPes {
                pid,
                what: "PES_packet_length does not match the data",
            });
        }
        Ok(TsEvent::Pes(Pes {
            pid,
            stream_type: b.stream_type,
            stream_id: h.stream_id,
            pts: h.pts,
            dts: h.dts,
            random_access: b.random_access,
            pcr: b.pcr,
            data: b.data[h.header_len..end].to_vec(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pid: u16, pusi: bool, cc: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x47,
            (pusi as u8) << 6 | (pid >> 8) as u8,
            pid as u8,
            0x10 | cc,
        ];
        p.extend_from_slice(payload);
        p.resize(PACKET_SIZE, 0xff);
        p
    }

    #[test]
    fn packet_fields() {
        let mut p = vec![
            0x47, 0x41, 0x00, 0x37, 7, 0xd0, 0, 0, 0xaf, 0xc8, 0x7f, 0x05,
        ];
        p.resize(PACKET_SIZE, 0xaa);
        let t = parse_packet(&p).unwrap();
        assert_eq!(
            (t.pid, t.payload_unit_start, t.continuity_counter),
            (0x100, true, 7)
        );
        let af = t.adaptation.unwrap();
        assert!(af.discontinuity && af.random_access);
        assert_eq!(af.pcr, Some(90000 * 300 + 0x105));
        assert_eq!(t.payload.unwrap().len(), 188 - 12);
        assert_eq!(parse_packet(&p[..100]), Err(TsError::ShortPacket(100)));
        p[4] = 183;
        assert_eq!(parse_packet(&p), Err(TsError::BadAdaptationField(183)));
        p[0] = 0x46;
        assert_eq!(parse_packet(&p), Err(TsError::LostSync { offset: 0 }));
    }

    #[test]
    fn reader_reports_continuity_sync_and_crc() {
        let mut r = TsReader::new();
        r.push(&packet(0x100, false, 3, &[]));
        r.push(&packet(0x100, false, 5, &[]));
        r.push(&[1, 2, 3]);
        r.push(&packet(0x100, false, 6, &[]));
        let mut pat = vec![0, 0x00, 0xb0, 0x0d, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0x01];
        pat.extend_from_slice(&[0x2e, 0x70, 0x19, 0x06]); // wrong CRC
        r.push(&packet(0, true, 0, &pat));
        let mut got = Vec::new();
        while let Some(e) = r.next_event() {
            got.push(e);
        }
        got.extend(r.finish());
        assert_eq!(
            got,
            vec![
                Err(TsError::Continuity {
                    pid: 0x100,
                    expected: 4,
                    found: 5
                }),
                Err(TsError::LostSync { offset: 376 }),
                Err(TsError::BadSection {
                    pid: 0,
                    what: "CRC mismatch"
                }),
            ]
        );
    }
}
