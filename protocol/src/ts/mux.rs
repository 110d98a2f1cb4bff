//! The MPEG-TS muxer: RTMP message bodies in, 188-byte packets out.

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    crc32_mpeg2, stream_id, stream_type, Timeline, TsError, AUDIO_PID, PACKET_SIZE, PAT_PID,
    PMT_PID, PROGRAM_NUMBER, SYNC_BYTE, TICKS_PER_MS, TIMESTAMP_MODULUS, TRANSPORT_STREAM_ID,
    VIDEO_PID,
};
use crate::codec::aac::AudioSpecificConfig;
use crate::codec::avc::{self, AvcDecoderConfig};
use crate::codec::hevc::{self, HevcDecoderConfig};
use crate::codec::{nal_units, AudioPacket, AudioTag, VideoCodec, VideoPacket, VideoTag};
use crate::flv::sound_format;
use crate::message::type_id;

/// A PES on the PCR PID carries a PCR when the last one is at least this old (and always on
/// keyframes and after the tables). At 25 fps every video frame carries one.
pub const PCR_INTERVAL_MS: i64 = 40;

/// A PES on another PID is preceded by a PCR-only packet on the PCR PID when the last PCR is
/// this old, so that slow or stalled video still gives a PCR at least every 100 ms
/// (13818-1 2.7.2).
const PCR_MAX_GAP_MS: i64 = 80;

/// A PCR that would go back by more than this is a new time base (signalled with the
/// discontinuity indicator); a smaller step back (audio interleaved ahead of video) repeats
/// the last PCR so that PCRs never decrease.
const PCR_BACKSTEP_TOLERANCE: i64 = 1000 * TICKS_PER_MS;

/// Payload bytes after the 4-byte packet header.
const PAYLOAD_SIZE: usize = PACKET_SIZE - 4;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// An RTMP audio message (type 8).
    Audio,
    /// An RTMP video message (type 9).
    Video,
}

impl MediaKind {
    /// The kind of an RTMP message type id, if it is media.
    pub fn from_type_id(t: u8) -> Option<Self> {
        match t {
            type_id::AUDIO => Some(MediaKind::Audio),
            type_id::VIDEO => Some(MediaKind::Video),
            _ => None,
        }
    }
}

/// One access unit (video) or frame (audio), converted to its TS elementary-stream form and
/// ready to be packetized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsFrame {
    /// Audio or video.
    pub kind: MediaKind,
    /// Decoding time in milliseconds on the unwrapped timeline (see [`Timeline`]).
    pub dts_ms: i64,
    /// Presentation time in milliseconds: DTS plus the composition time (never below DTS).
    pub pts_ms: i64,
    /// A random access point: a video keyframe, or any audio frame.
    pub keyframe: bool,
    /// Annex B byte stream (video, starting with an access unit delimiter) or an ADTS frame.
    pub data: Vec<u8>,
}

/// What [`TsMuxer::prepare`] made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// A frame to write with [`TsMuxer::write`].
    Frame(EsFrame),
    /// A sequence header: the codec configuration was updated.
    SequenceHeader,
    /// Nothing to write, and why.
    Skipped(Skipped),
}

/// Why a message produces no TS output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// A frame before its codec's sequence header (or after a codec change without one).
    NoSequenceHeader,
    /// End of sequence, a command frame or enhanced-RTMP metadata.
    NotMedia,
    /// An audio format other than AAC (sound format given).
    UnsupportedAudio(u8),
    /// A frame without any NAL unit or audio data.
    Empty,
}

/// The current video codec configuration.
#[derive(Debug, Clone)]
struct VideoConfig {
    codec: VideoCodec,
    nal_length_size: u8,
    /// Parameter sets in the order they go before a keyframe (VPS, SPS, PPS).
    parameter_sets: Vec<Bytes>,
    /// The sequence header was empty: frames carry their parameter sets, and may be
    /// Annex B ([`avc::in_band_nal_units`]).
    in_band: bool,
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// H.264 access unit delimiter, primary_pic_type 7 (any slice type).
const AVC_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];
/// H.265 access unit delimiter, pic_type 2 (any slice type), temporal id 0.
const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];

/// Index of a PID in the continuity counter table.
fn cc_slot(pid: u16) -> usize {
    match pid {
        PAT_PID => 0,
        PMT_PID => 1,
        VIDEO_PID => 2,
        _ => 3,
    }
}

/// Sans-I/O MPEG-TS muxer for one program with at most one video (H.264/H.265) and one audio
/// (AAC) stream.
///
/// Feed every message of the stream, sequence headers included, in order, with
/// [`push`](Self::push) (or [`prepare`](Self::prepare) then [`write`](Self::write) to decide
/// something between the two, as the HLS segmenter does). Call
/// [`start_segment`](Self::start_segment) when a new file starts: PAT and PMT are written
/// before the next PES, and that PES on the PCR PID carries a PCR. Tables are also written
/// before the very first PES and again (PMT version + 1) when the set of streams changes.
///
/// PCR policy: the PCR rides on the video PID when there is video, else on audio. A PES on
/// the PCR PID carries a PCR (equal to its DTS, as SRS does) after the tables, on every
/// keyframe, and whenever the last PCR is [`PCR_INTERVAL_MS`] old; a PES on the other PID is
/// preceded by a PCR-only packet when the last PCR is 80 ms old. PCRs never decrease, except
/// across a new time base, which is flagged with the discontinuity indicator.
#[derive(Debug)]
pub struct TsMuxer {
    timeline: Timeline,
    video: Option<VideoConfig>,
    audio: Option<AudioSpecificConfig>,
    /// Next continuity counter per PID (PAT, PMT, video, audio).
    cc: [u8; 4],
    pmt_version: u8,
    tables_pending: bool,
    pcr_pending: bool,
    /// Last PCR written, in 90 kHz ticks on the unwrapped timeline.
    last_pcr: Option<i64>,
    /// The next PCR starts a new time base.
    pcr_discontinuity: bool,
    scratch: Vec<u8>,
}

impl Default for TsMuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl TsMuxer {
    /// A muxer that has seen no sequence header yet.
    pub fn new() -> Self {
        Self {
            timeline: Timeline::new(),
            video: None,
            audio: None,
            cc: [0; 4],
            pmt_version: 0,
            tables_pending: true,
            pcr_pending: true,
            last_pcr: None,
            pcr_discontinuity: false,
            scratch: Vec::new(),
        }
    }

    /// A video sequence header has been seen: the stream has video.
    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }

    /// An AAC sequence header has been seen: the stream has audio.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// The video codec, once its sequence header came.
    pub fn video_codec(&self) -> Option<VideoCodec> {
        self.video.as_ref().map(|v| v.codec)
    }

    /// The AAC configuration, once its sequence header came.
    pub fn audio_config(&self) -> Option<&AudioSpecificConfig> {
        self.audio.as_ref()
    }

    /// The PID that carries the PCR: video if any, else audio.
    pub fn pcr_pid(&self) -> u16 {
        if self.video.is_some() || self.audio.is_none() {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    }

    /// The next PES is the first of a new segment: write PAT and PMT before it, and give it
    /// a PCR.
    pub fn start_segment(&mut self) {
        self.tables_pending = true;
    }

    /// A new publish: forget codec configurations and restart the timeline (the new stream's
    /// first timestamp is taken at face value). Continuity counters go on.
    pub fn reset_stream(&mut self) {
        if self.video.is_some() || self.audio.is_some() {
            self.bump_pmt();
        }
        self.video = None;
        self.audio = None;
        self.reset_timeline();
    }

    /// Restart the timeline only.
    pub fn reset_timeline(&mut self) {
        self.timeline.reset();
        self.pcr_discontinuity = self.last_pcr.is_some();
        self.last_pcr = None;
        self.pcr_pending = true;
    }

    fn bump_pmt(&mut self) {
        self.pmt_version = (self.pmt_version + 1) & 0x1f;
        self.tables_pending = true;
    }

    /// Prepare and write one message. Returns what the message was; frames are returned
    /// after being written.
    pub fn push(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Prepared, TsError> {
        let p = self.prepare(kind, timestamp, body)?;
        if let Prepared::Frame(f) = &p {
            self.write(f, out);
        }
        Ok(p)
    }

    /// Parse one message: sequence headers update the codec configuration; frames are
    /// converted (Annex B with parameter sets before keyframes, or ADTS) but not written.
    /// On error nothing changed.
    pub fn prepare(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        body: &[u8],
    ) -> Result<Prepared, TsError> {
        match kind {
            MediaKind::Video => self.prepare_video(timestamp, body),
            MediaKind::Audio => self.prepare_audio(timestamp, body),
        }
    }

    fn prepare_video(&mut self, timestamp: u32, body: &[u8]) -> Result<Prepared, TsError> {
        let tag = VideoTag::parse(body)?;
        let (composition_time, data) = match tag.packet {
            VideoPacket::SequenceHeader(record) => {
                let config = match tag.codec {
                    // An empty record: the parameter sets come in band, before keyframes.
                    VideoCodec::Avc if record.is_empty() => VideoConfig {
                        codec: tag.codec,
                        nal_length_size: avc::IN_BAND_NAL_LENGTH_SIZE,
                        parameter_sets: Vec::new(),
                        in_band: true,
                    },
                    VideoCodec::Avc => {
                        let c = AvcDecoderConfig::parse(record)?;
                        VideoConfig {
                            codec: tag.codec,
                            nal_length_size: c.nal_length_size,
                            parameter_sets: c.sps.into_iter().chain(c.pps).collect(),
                            in_band: false,
                        }
                    }
                    VideoCodec::Hevc => {
                        let c = HevcDecoderConfig::parse(record)?;
                        let mut sets: Vec<Bytes> = c
                            .nalus
                            .into_iter()
                            .filter(|n| {
                                matches!(
                                    hevc::nal_unit_type(n),
                                    Some(hevc::nal_type::VPS..=hevc::nal_type::PPS)
                                )
                            })
                            .collect();
                        sets.sort_by_key(|n| hevc::nal_unit_type(n));
                        VideoConfig {
                            codec: tag.codec,
                            nal_length_size: c.nal_length_size,
                            parameter_sets: sets,
                            in_band: false,
                        }
                    }
                };
                if self.video_codec() != Some(config.codec) {
                    self.bump_pmt();
                }
                self.video = Some(config);
                return Ok(Prepared::SequenceHeader);
            }
            VideoPacket::Other => return Ok(Prepared::Skipped(Skipped::NotMedia)),
            VideoPacket::Frame {
                composition_time,
                data,
            } => (composition_time, data),
        };
        let Some(config) = self.video.as_ref().filter(|c| c.codec == tag.codec) else {
            return Ok(Prepared::Skipped(Skipped::NoSequenceHeader));
        };
        let hevc = config.codec == VideoCodec::Hevc;
        let nals = if config.in_band {
            avc::in_band_nal_units(data)?.units
        } else {
            nal_units(data, config.nal_length_size)
                .filter(|n| !matches!(n, Ok(n) if n.is_empty()))
                .collect::<Result<Vec<&[u8]>, _>>()?
        };
        let nal_type = |n: &[u8]| {
            if hevc {
                hevc::nal_unit_type(n)
            } else {
                avc::nal_unit_type(n)
            }
        };
        let is_aud = |t| {
            if hevc {
                t == hevc::nal_type::AUD
            } else {
                t == avc::nal_type::AUD
            }
        };
        let mut random_access = false;
        let mut in_band_parameter_sets = false;
        let mut any = false;
        for n in &nals {
            let t = nal_type(n).unwrap_or(0);
            if is_aud(t) {
                continue;
            }
            any = true;
            if hevc {
                random_access |=
                    (hevc::nal_type::IRAP_FIRST..=hevc::nal_type::IRAP_LAST).contains(&t);
                in_band_parameter_sets |= t == hevc::nal_type::SPS;
            } else {
                random_access |= t == avc::nal_type::IDR;
                in_band_parameter_sets |= t == avc::nal_type::SPS;
            }
        }
        if !any {
            return Ok(Prepared::Skipped(Skipped::Empty));
        }
        let keyframe = tag.keyframe || random_access;
        // Parameter sets that only came in band are kept for keyframes that lack them.
        let learned = (in_band_parameter_sets && config.parameter_sets.is_empty() && !hevc)
            .then(|| {
                let sets: Vec<Bytes> = [avc::nal_type::SPS, avc::nal_type::PPS]
                    .iter()
                    .filter_map(|&t| nals.iter().find(|n| nal_type(n) == Some(t)))
                    .map(|n| Bytes::copy_from_slice(n))
                    .collect();
                sets
            })
            .filter(|sets| sets.len() == 2);
        let sets: &[Bytes] = if keyframe && !in_band_parameter_sets {
            &config.parameter_sets
        } else {
            &[]
        };
        let size =
            8 + data.len() + nals.len() * 4 + sets.iter().map(|s| s.len() + 4).sum::<usize>();
        let mut es = Vec::with_capacity(size);
        // H.264 7.4.1.2.3: delimiter first, then parameter sets, SEI, slices. Players that
        // join at any segment need the parameter sets before every keyframe.
        es.extend_from_slice(if hevc { &HEVC_AUD[..] } else { &AVC_AUD[..] });
        for s in sets {
            es.extend_from_slice(&START_CODE);
            es.extend_from_slice(s);
        }
        for n in nals {
            if is_aud(nal_type(n).unwrap_or(0)) {
                continue;
            }
            es.extend_from_slice(&START_CODE);
            es.extend_from_slice(n);
        }
        if let (Some(sets), Some(config)) = (learned, self.video.as_mut()) {
            config.parameter_sets = sets;
        }
        let dts_ms = self.timeline.unwrap(timestamp);
        Ok(Prepared::Frame(EsFrame {
            kind: MediaKind::Video,
            dts_ms,
            // A negative composition time would put PTS before DTS, which no decoder accepts.
            pts_ms: dts_ms + i64::from(composition_time.max(0)),
            keyframe,
            data: es,
        }))
    }

    fn prepare_audio(&mut self, timestamp: u32, body: &[u8]) -> Result<Prepared, TsError> {
        let tag = AudioTag::parse(body)?;
        if tag.sound_format != sound_format::AAC {
            return Ok(Prepared::Skipped(Skipped::UnsupportedAudio(
                tag.sound_format,
            )));
        }
        match tag.packet {
            AudioPacket::SequenceHeader(asc) => {
                let c = AudioSpecificConfig::parse(asc)?;
                // Refuse now what could never be framed later.
                c.adts_header(0)?;
                if self.audio.is_none() {
                    self.bump_pmt();
                }
                self.audio = Some(c);
                Ok(Prepared::SequenceHeader)
            }
            AudioPacket::Frame(raw) => {
                let Some(config) = &self.audio else {
                    return Ok(Prepared::Skipped(Skipped::NoSequenceHeader));
                };
                if raw.is_empty() {
                    return Ok(Prepared::Skipped(Skipped::Empty));
                }
                let header = config.adts_header(raw.len())?;
                let mut data = Vec::with_capacity(7 + raw.len());
                data.extend_from_slice(&header);
                data.extend_from_slice(raw);
                let dts_ms = self.timeline.unwrap(timestamp);
                Ok(Prepared::Frame(EsFrame {
                    kind: MediaKind::Audio,
                    dts_ms,
                    pts_ms: dts_ms,
                    keyframe: true,
                    data,
                }))
            }
        }
    }

    /// Packetize one prepared frame (after PAT/PMT if they are due).
    pub fn write(&mut self, frame: &EsFrame, out: &mut BytesMut) {
        if self.tables_pending {
            self.write_pat(out);
            self.write_pmt(out);
            self.tables_pending = false;
            self.pcr_pending = true;
        }
        let (pid, sid) = match frame.kind {
            MediaKind::Video => (VIDEO_PID, stream_id::VIDEO),
            MediaKind::Audio => (AUDIO_PID, stream_id::AUDIO),
        };
        let dts = frame.dts_ms.saturating_mul(TICKS_PER_MS);
        let pts = frame.pts_ms.max(frame.dts_ms).saturating_mul(TICKS_PER_MS);
        let pcr_pid = self.pcr_pid();
        let stale = |gap_ms: i64| match self.last_pcr {
            None => true,
            Some(last) => dts - last >= gap_ms * TICKS_PER_MS || dts < last,
        };
        let mut pcr = None;
        if pid == pcr_pid {
            if self.pcr_pending
                || (frame.keyframe && frame.kind == MediaKind::Video)
                || stale(PCR_INTERVAL_MS)
            {
                pcr = Some(self.next_pcr(dts));
            }
        } else if self.pcr_pending || stale(PCR_MAX_GAP_MS) {
            let p = self.next_pcr(dts);
            self.write_pcr_only(pcr_pid, p, out);
        }
        self.write_pes(out, pid, sid, pts, dts, frame, pcr);
    }

    /// The PCR for a packet sent at `dts` (ticks): never below the previous one unless the
    /// time base changed.
    fn next_pcr(&mut self, dts: i64) -> (u64, bool) {
        let (value, discontinuity) = match self.last_pcr {
            Some(last) if dts < last && last - dts <= PCR_BACKSTEP_TOLERANCE => (last, false),
            Some(last) if dts < last => (dts, true),
            _ => (dts, self.pcr_discontinuity),
        };
        self.last_pcr = Some(value);
        self.pcr_pending = false;
        self.pcr_discontinuity = false;
        (value.rem_euclid(TIMESTAMP_MODULUS) as u64, discontinuity)
    }

    fn next_cc(&mut self, pid: u16) -> u8 {
        let slot = &mut self.cc[cc_slot(pid)];
        let cc = *slot;
        *slot = (cc + 1) & 0x0f;
        cc
    }

    fn write_pat(&mut self, out: &mut BytesMut) {
        let mut s = Vec::with_capacity(16);
        s.put_u8(0x00); // table_id: program_association_section
        s.put_u16(0xb000 | 13); // section_syntax_indicator, reserved, section_length
        s.put_u16(TRANSPORT_STREAM_ID);
        s.put_u8(0xc1); // reserved, version 0, current_next_indicator
        s.put_u8(0); // section_number
        s.put_u8(0); // last_section_number
        s.put_u16(PROGRAM_NUMBER);
        s.put_u16(0xe000 | PMT_PID);
        let crc = crc32_mpeg2(&s);
        s.put_u32(crc);
        self.write_section(out, PAT_PID, &s);
    }

    fn write_pmt(&mut self, out: &mut BytesMut) {
        let mut streams = Vec::new();
        if let Some(v) = &self.video {
            let t = match v.codec {
                VideoCodec::Avc => stream_type::H264,
                VideoCodec::Hevc => stream_type::H265,
            };
            streams.push((t, VIDEO_PID));
        }
        if self.audio.is_some() {
            streams.push((stream_type::AAC, AUDIO_PID));
        }
        let pcr_pid = if streams.is_empty() {
            0x1fff
        } else {
            self.pcr_pid()
        };
        let mut s = Vec::with_capacity(32);
        s.put_u8(0x02); // table_id: TS_program_map_section
        s.put_u16(0xb000 | (9 + 5 * streams.len() as u16 + 4));
        s.put_u16(PROGRAM_NUMBER);
        s.put_u8(0xc1 | self.pmt_version << 1);
        s.put_u8(0);
        s.put_u8(0);
        s.put_u16(0xe000 | pcr_pid);
        s.put_u16(0xf000); // program_info_length 0
        for (t, pid) in streams {
            s.put_u8(t);
            s.put_u16(0xe000 | pid);
            s.put_u16(0xf000); // ES_info_length 0
        }
        let crc = crc32_mpeg2(&s);
        s.put_u32(crc);
        self.write_section(out, PMT_PID, &s);
    }

    /// One PSI section in one packet: pointer_field 0, section, 0xff stuffing.
    fn write_section(&mut self, out: &mut BytesMut, pid: u16, section: &[u8]) {
        let cc = self.next_cc(pid);
        out.reserve(PACKET_SIZE);
        out.put_u8(SYNC_BYTE);
        out.put_u16(0x4000 | pid); // payload_unit_start_indicator
        out.put_u8(0x10 | cc); // payload only
        out.put_u8(0); // pointer_field
        out.put_slice(section);
        out.put_bytes(0xff, PAYLOAD_SIZE - 1 - section.len());
    }

    /// A packet with only an adaptation field carrying a PCR. The continuity counter does not
    /// advance for packets without payload (13818-1 2.4.3.3), so it repeats the last one.
    fn write_pcr_only(&mut self, pid: u16, (pcr, discontinuity): (u64, bool), out: &mut BytesMut) {
        let cc = self.cc[cc_slot(pid)].wrapping_sub(1) & 0x0f;
        out.reserve(PACKET_SIZE);
        out.put_u8(SYNC_BYTE);
        out.put_u16(pid);
        out.put_u8(0x20 | cc); // adaptation field only
        out.put_u8((PAYLOAD_SIZE - 1) as u8);
        out.put_u8(0x10 | if discontinuity { 0x80 } else { 0 });
        put_pcr(out, pcr);
        out.put_bytes(0xff, PAYLOAD_SIZE - 2 - 6);
    }

    #[allow(clippy::too_many_arguments)]
    fn write_pes(
        &mut self,
        out: &mut BytesMut,
        pid: u16,
        sid: u8,
        pts: i64,
        dts: i64,
        frame: &EsFrame,
        pcr: Option<(u64, bool)>,
    ) {
        let with_dts = frame.kind == MediaKind::Video && pts != dts;
        let header_data_len: usize = if with_dts { 10 } else { 5 };
        let pes_len = 3 + header_data_len + frame.data.len();
        // Video may use 0 (unbounded, 13818-1 2.4.3.7); audio frames always fit.
        let packet_length = if frame.kind == MediaKind::Video || pes_len > 0xffff {
            0
        } else {
            pes_len as u16
        };
        let mut pes = std::mem::take(&mut self.scratch);
        pes.clear();
        pes.reserve(9 + header_data_len + frame.data.len());
        pes.extend_from_slice(&[0, 0, 1, sid]);
        pes.put_u16(packet_length);
        pes.put_u8(0x80); // '10', not scrambled, no priority/alignment/copyright/original
        pes.put_u8(if with_dts { 0xc0 } else { 0x80 });
        pes.put_u8(header_data_len as u8);
        put_timestamp(&mut pes, if with_dts { 0x3 } else { 0x2 }, pts);
        if with_dts {
            put_timestamp(&mut pes, 0x1, dts);
        }
        pes.extend_from_slice(&frame.data);

        let mut rest = &pes[..];
        let mut first = true;
        while first || !rest.is_empty() {
            let random_access = first && frame.keyframe;
            let pcr_here = if first { pcr } else { None };
            // Adaptation field bytes we need before stuffing: length, flags, PCR.
            let af_needed = if random_access || pcr_here.is_some() {
                2 + if pcr_here.is_some() { 6 } else { 0 }
            } else {
                0
            };
            let take = rest.len().min(PAYLOAD_SIZE - af_needed);
            // The last packet of a PES is filled up with adaptation-field stuffing.
            let af_len = PAYLOAD_SIZE - take;
            let cc = self.next_cc(pid);
            out.reserve(PACKET_SIZE);
            out.put_u8(SYNC_BYTE);
            out.put_u16(if first { 0x4000 } else { 0 } | pid);
            out.put_u8(if af_len > 0 { 0x30 } else { 0x10 } | cc);
            if af_len > 0 {
                out.put_u8((af_len - 1) as u8);
                if af_len > 1 {
                    let mut flags = 0u8;
                    if random_access {
                        flags |= 0x40;
                    }
                    if let Some((_, discontinuity)) = pcr_here {
                        flags |= 0x10;
                        if discontinuity {
                            flags |= 0x80;
                        }
                    }
                    out.put_u8(flags);
                    let mut used = 2;
                    if let Some((value, _)) = pcr_here {
                        put_pcr(out, value);
                        used += 6;
                    }
                    out.put_bytes(0xff, af_len - used);
                }
            }
            out.put_slice(&rest[..take]);
            rest = &rest[take..];
            first = false;
        }
        self.scratch = pes;
    }
}

/// PTS or DTS (13818-1 2.4.3.7): 4-bit prefix, 33 bits in three marker-separated parts.
fn put_timestamp(out: &mut Vec<u8>, prefix: u8, ticks: i64) {
    let v = ticks.rem_euclid(TIMESTAMP_MODULUS) as u64;
    out.put_u8(prefix << 4 | ((v >> 29) as u8 & 0x0e) | 1);
    out.put_u16((((v >> 14) & 0xfffe) | 1) as u16);
    out.put_u16((((v << 1) & 0xfffe) | 1) as u16);
}

/// PCR (13818-1 2.4.3.5): 33-bit base, 6 reserved bits, 9-bit extension (0).
fn put_pcr(out: &mut BytesMut, base: u64) {
    let v = (base & 0x1_ffff_ffff) << 15 | 0x7e00;
    out.put_slice(&v.to_be_bytes()[2..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::{parse_packet, parse_pat, parse_pmt, TsEvent, TsReader};

    const AVC_SEQUENCE_HEADER: [u8; 51] = [
        0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64,
        0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
        0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb,
        0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
    ];
    const AAC_SEQUENCE_HEADER: [u8; 4] = [0xaf, 0x00, 0x12, 0x10];

    fn video(keyframe: bool, cts: i32, nals: &[&[u8]]) -> Vec<u8> {
        let mut b = vec![if keyframe { 0x17 } else { 0x27 }, 1];
        b.extend_from_slice(&cts.to_be_bytes()[1..]);
        for n in nals {
            b.extend_from_slice(&(n.len() as u32).to_be_bytes());
            b.extend_from_slice(n);
        }
        b
    }

    #[test]
    fn pat_and_pmt_exact_bytes() {
        let mut m = TsMuxer::new();
        let mut out = BytesMut::new();
        m.push(MediaKind::Video, 0, &AVC_SEQUENCE_HEADER, &mut out)
            .unwrap();
        m.push(MediaKind::Audio, 0, &AAC_SEQUENCE_HEADER, &mut out)
            .unwrap();
        assert!(out.is_empty(), "sequence headers write nothing");
        m.push(MediaKind::Audio, 0, &[0xaf, 1, 0x21, 0x10], &mut out)
            .unwrap();
        let pat: [u8; 21] = [
            0x47, 0x40, 0x00, 0x10, 0x00, // header, pointer field
            0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x01, //
            0x2e, 0x70, 0x19, 0x05, // CRC32/MPEG-2
        ];
        assert_eq!(&out[..21], &pat);
        assert!(out[21..188].iter().all(|&b| b == 0xff));
        // Version 2: the video and the audio sequence header each bumped it.
        let pmt: [u8; 31] = [
            0x47, 0x50, 0x01, 0x10, 0x00, //
            0x02, 0xb0, 0x17, 0x00, 0x01, 0xc5, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00, //
            0x1b, 0xe1, 0x00, 0xf0, 0x00, // H.264 on 0x100
            0x0f, 0xe1, 0x01, 0xf0, 0x00, // AAC on 0x101
            0x70, 0x08, 0x7c, 0xef, // CRC32/MPEG-2 (computed independently)
        ];
        assert_eq!(&out[188..188 + 31], &pmt);
        assert_eq!(crc32_mpeg2(&out[188 + 5..188 + 31]), 0);
        assert!(out[188 + 31..376].iter().all(|&b| b == 0xff));
        // And the reader agrees.
        let p = parse_packet(&out[..188]).unwrap();
        assert_eq!(
            parse_pat(0, p.payload.unwrap()).unwrap(),
            vec![(1, PMT_PID)]
        );
        let p = parse_packet(&out[188..376]).unwrap();
        let pmt = parse_pmt(PMT_PID, p.payload.unwrap()).unwrap();
        assert_eq!(
            (pmt.version, pmt.pcr_pid, pmt.streams.len()),
            (2, VIDEO_PID, 2)
        );
    }

    /// An empty sequence header (ffmpeg's tee muxer without `global_header`): frames use
    /// 4-byte lengths, the in-band SPS and PPS go out as they came, and a later keyframe
    /// without them gets the ones learned.
    #[test]
    fn parameter_sets_in_band() {
        let sps = &AVC_SEQUENCE_HEADER[13..38];
        let pps = &AVC_SEQUENCE_HEADER[41..];
        let mut m = TsMuxer::new();
        assert_eq!(
            m.prepare(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0]).unwrap(),
            Prepared::SequenceHeader
        );
        let frame = |m: &mut TsMuxer, body: &[u8]| match m.prepare(MediaKind::Video, 0, body) {
            Ok(Prepared::Frame(f)) => f.data,
            other => panic!("{other:?}"),
        };
        let annexb = |nals: &[&[u8]]| {
            let mut b = AVC_AUD.to_vec();
            for n in nals {
                b.extend_from_slice(&START_CODE);
                b.extend_from_slice(n);
            }
            b
        };
        let first = frame(&mut m, &video(true, 0, &[sps, pps, &[0x65, 1]]));
        assert_eq!(
            first,
            annexb(&[sps, pps, &[0x65, 1]]),
            "the sets once, as they came"
        );
        let p = frame(&mut m, &video(false, 0, &[&[0x41, 2]]));
        assert_eq!(p, annexb(&[&[0x41, 2]]));
        let second = frame(&mut m, &video(true, 0, &[&[0x65, 3]]));
        assert_eq!(
            second,
            annexb(&[sps, pps, &[0x65, 3]]),
            "learned sets before it"
        );

        // ffmpeg's FLV muxer without a decoder configuration writes Annex B as it is (this
        // PPS's trailing zero byte would read as part of the next start code).
        let pps = &pps[..pps.len() - 1];
        let mut m = TsMuxer::new();
        m.prepare(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0]).unwrap();
        let mut key = vec![0x17, 1, 0, 0, 0, 0, 0, 0, 1];
        key.extend_from_slice(sps);
        key.extend_from_slice(&[0, 0, 1]);
        key.extend_from_slice(pps);
        key.extend_from_slice(&[0, 0, 1, 0x65, 4]);
        assert_eq!(frame(&mut m, &key), annexb(&[sps, pps, &[0x65, 4]]));
        let p = [0x27, 1, 0, 0, 0, 0, 0, 1, 0x41, 5];
        assert_eq!(frame(&mut m, &p), annexb(&[&[0x41, 5]]));
    }

    #[test]
    fn pat_crc_is_the_known_value() {
        // The PAT of every SRS/ffmpeg-style stream with program 1 on PMT PID 0x1001.
        let s = [
            0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x01,
        ];
        assert_eq!(crc32_mpeg2(&s), 0x2e70_1905);
    }

    #[test]
    fn audio_pes_exact_bytes() {
        let mut m = TsMuxer::new();
        let mut out = BytesMut::new();
        m.push(MediaKind::Audio, 0, &AAC_SEQUENCE_HEADER, &mut out)
            .unwrap();
        m.push(MediaKind::Audio, 1000, &[0xaf, 1, 0xde, 0xad], &mut out)
            .unwrap();
        assert_eq!(out.len(), 3 * 188);
        let pes = &out[376..];
        // PUSI on 0x101, adaptation field + payload, cc 0.
        assert_eq!(&pes[..4], &[0x47, 0x41, 0x01, 0x30]);
        // 184 - (14 PES header + 9 ADTS+raw) = 161 bytes of adaptation field: random access
        // and PCR (audio-only: PCR on audio) = 90000 << 15 | 0x7e00.
        assert_eq!(pes[4], 160);
        assert_eq!(pes[5], 0x50);
        assert_eq!(&pes[6..12], &[0x00, 0x00, 0xaf, 0xc8, 0x7e, 0x00]);
        assert!(pes[12..165].iter().all(|&b| b == 0xff));
        assert_eq!(
            &pes[165..],
            &[
                0, 0, 1, 0xc0, 0, 17, 0x80, 0x80, 5, // PES header, length 3 + 5 + 9
                0x21, 0x00, 0x05, 0xbf, 0x21, // PTS 90000
                0xff, 0xf1, 0x50, 0x80, 0x01, 0x3f, 0xfc, 0xde, 0xad, // ADTS + frame
            ]
        );
    }

    #[test]
    fn video_annex_b_with_parameter_sets_and_aud() {
        let mut m = TsMuxer::new();
        assert_eq!(
            m.prepare(MediaKind::Video, 0, &video(true, 0, &[&[0x65, 1]]))
                .unwrap(),
            Prepared::Skipped(Skipped::NoSequenceHeader)
        );
        m.prepare(MediaKind::Video, 0, &AVC_SEQUENCE_HEADER)
            .unwrap();
        let Prepared::Frame(f) = m
            .prepare(
                MediaKind::Video,
                40,
                &video(true, 80, &[&[0x09, 0x10], &[0x06, 5], &[0x65, 1]]),
            )
            .unwrap()
        else {
            panic!()
        };
        let mut want = vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1];
        want.extend_from_slice(&AVC_SEQUENCE_HEADER[13..38]);
        want.extend_from_slice(&[0, 0, 0, 1]);
        want.extend_from_slice(&AVC_SEQUENCE_HEADER[41..47]);
        want.extend_from_slice(&[0, 0, 0, 1, 0x06, 5, 0, 0, 0, 1, 0x65, 1]);
        assert_eq!(
            f.data, want,
            "AUD, SPS, PPS, SEI, IDR; the input AUD dropped"
        );
        assert_eq!((f.dts_ms, f.pts_ms, f.keyframe), (40, 120, true));
        // Inter frame: no parameter sets; in-band SPS: not repeated.
        let Prepared::Frame(f) = m
            .prepare(MediaKind::Video, 80, &video(false, 0, &[&[0x41, 2]]))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(f.data, vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x41, 2]);
        let Prepared::Frame(f) = m
            .prepare(
                MediaKind::Video,
                120,
                &video(true, 0, &[&[0x67, 7], &[0x68, 8], &[0x65, 3]]),
            )
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(f.data.len(), 6 + 3 * 6);
        // Bad NAL length: an error, nothing changes.
        let mut bad = video(false, 0, &[&[0x41]]);
        bad[8] = 9;
        assert!(matches!(
            m.prepare(MediaKind::Video, 160, &bad),
            Err(TsError::Codec(_))
        ));
        assert_eq!(
            m.prepare(MediaKind::Video, 160, &video(false, 0, &[]))
                .unwrap(),
            Prepared::Skipped(Skipped::Empty)
        );
    }

    #[test]
    fn pes_with_dts_and_pcr_and_continuity() {
        let mut m = TsMuxer::new();
        let mut out = BytesMut::new();
        m.push(MediaKind::Video, 0, &AVC_SEQUENCE_HEADER, &mut out)
            .unwrap();
        let big = vec![0x41; 1000];
        for i in 0..40u32 {
            m.push(
                MediaKind::Video,
                i * 40,
                &video(
                    i % 10 == 0,
                    80,
                    &[&[if i % 10 == 0 { 0x65 } else { 0x41 }], &big],
                ),
                &mut out,
            )
            .unwrap();
        }
        assert_eq!(out.len() % 188, 0);
        let mut r = TsReader::new();
        r.push(&out);
        let mut pes = Vec::new();
        while let Some(e) = r.next_event() {
            if let TsEvent::Pes(p) = e.unwrap() {
                pes.push(p);
            }
        }
        pes.extend(r.finish().into_iter().map(|e| match e.unwrap() {
            TsEvent::Pes(p) => p,
            e => panic!("{e:?}"),
        }));
        assert_eq!(pes.len(), 40);
        for (i, p) in pes.iter().enumerate() {
            let dts = i as u64 * 40 * 90;
            assert_eq!((p.dts, p.pts), (Some(dts), Some(dts + 80 * 90)));
            // 40 ms apart: every frame carries a PCR equal to its DTS.
            assert_eq!(p.pcr, Some(dts * 300));
            assert_eq!(p.random_access, i % 10 == 0);
        }
    }

    #[test]
    fn pcr_policy() {
        let mut m = TsMuxer::new();
        let mut out = BytesMut::new();
        m.push(MediaKind::Video, 0, &AVC_SEQUENCE_HEADER, &mut out)
            .unwrap();
        m.push(MediaKind::Audio, 0, &AAC_SEQUENCE_HEADER, &mut out)
            .unwrap();
        // 60 fps video: PCR every other frame; audio every 23 ms never needs its own.
        for i in 0..12u32 {
            m.push(
                MediaKind::Video,
                i * 1000 / 60,
                &video(i == 0, 0, &[&[0x41, 1]]),
                &mut out,
            )
            .unwrap();
            m.push(MediaKind::Audio, i * 23, &[0xaf, 1, 1, 2, 3], &mut out)
                .unwrap();
        }
        // Video stalls: audio brings PCR-only packets on the video PID.
        for i in 12..40u32 {
            m.push(MediaKind::Audio, i * 23, &[0xaf, 1, 1, 2, 3], &mut out)
                .unwrap();
        }
        let s = crate::ts::validate_muxed(&out, true).unwrap();
        assert_eq!(s.pes_count, 12 + 40);
        assert!(s.pcr_only_packets >= 5, "{s:?}");
        assert!(s.max_pcr_gap_ms <= 100, "{s:?}");
    }

    #[test]
    fn timestamps_continue_across_rtmp_wrap() {
        let mut m = TsMuxer::new();
        let mut out = BytesMut::new();
        m.push(MediaKind::Audio, 0, &AAC_SEQUENCE_HEADER, &mut out)
            .unwrap();
        let start = u32::MAX - 100;
        let mut ptss = Vec::new();
        for i in 0..10u32 {
            let Prepared::Frame(f) = m
                .push(
                    MediaKind::Audio,
                    start.wrapping_add(i * 23),
                    &[0xaf, 1, 9],
                    &mut out,
                )
                .unwrap()
            else {
                panic!()
            };
            ptss.push(f.pts_ms);
        }
        assert!(ptss.windows(2).all(|w| w[1] - w[0] == 23), "{ptss:?}");
        let s = crate::ts::validate_muxed(&out, false).unwrap();
        assert_eq!(s.pes_count, 10);
        // In 90 kHz the wrap of 2^32 ms is not a wrap of 2^33 ticks: every step is 23 ms.
        for w in s.audio_pts.windows(2) {
            assert_eq!(crate::ts::ts90_diff(w[1], w[0]), 23 * 90);
        }
    }

    #[test]
    fn hevc_stream_type_and_aud() {
        let mut m = TsMuxer::new();
        let mut out = BytesMut::new();
        let mut sh = vec![0x1c, 0, 0, 0, 0];
        sh.extend_from_slice(&crate::codec::hevc::tests::sample_record());
        m.push(MediaKind::Video, 0, &sh, &mut out).unwrap();
        let mut body = vec![0x1c, 1, 0, 0, 0];
        body.extend_from_slice(&[0, 0, 0, 3, 0x26, 0x01, 0xaf]); // IDR_W_RADL
        let Prepared::Frame(f) = m.push(MediaKind::Video, 0, &body, &mut out).unwrap() else {
            panic!()
        };
        assert!(f.keyframe);
        assert_eq!(&f.data[..7], &HEVC_AUD);
        assert_eq!(&f.data[7..14], &[0, 0, 0, 1, 0x40, 0x01, 0x0c]);
        let p = parse_packet(&out[188..376]).unwrap();
        let pmt = parse_pmt(PMT_PID, p.payload.unwrap()).unwrap();
        assert_eq!(pmt.streams[0].stream_type, stream_type::H265);
    }
}
