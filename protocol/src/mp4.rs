//! An MP4 (ISO/IEC 14496-12 `isom`) muxer for recordings, sans-I/O: it turns FLV/RTMP
//! audio and video bodies into samples and builds the boxes around them. The caller
//! writes the bytes where it wants.
//!
//! The file is laid out as `ftyp`, `mdat` (a 64-bit size patched when the file closes),
//! then `moov` at the end: the samples go to disk as they come, nothing is copied at the
//! close, and a player seeks with the sample tables (`stts`, `ctts`, `stss`, `stsz`,
//! `stco`/`co64`). Times are in milliseconds (the timescale is 1000), as RTMP's are.
//!
//! Codecs: H.264 video (`avc1` with the stream's `avcC`), AAC (`mp4a` with its
//! AudioSpecificConfig) and MP3 audio (`mp4a`, object type 0x6B).

use crate::codec::{
    aac::AudioSpecificConfig, avc, avc::AvcDecoderConfig, AudioPacket, AudioTag, CodecError,
    VideoCodec, VideoPacket, VideoTag,
};
use crate::flv::sound_format;
use std::borrow::Cow;

/// Why a message cannot go into the file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Mp4Error {
    /// A codec this muxer does not put in MP4.
    #[error("mp4: {0} is not recorded to MP4")]
    Unsupported(String),
    /// A malformed body.
    #[error("mp4: {0}")]
    Codec(#[from] CodecError),
}

/// Which track a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// The video track.
    Video,
    /// The audio track.
    Audio,
}

/// One sample about to be written: its data is the slice returned beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Its track.
    pub track: TrackKind,
    /// Decoding time, in ms from the file's start.
    pub dts: u32,
    /// Composition offset (PTS − DTS), in ms.
    pub cts: i32,
    /// Bytes of data.
    pub size: u32,
    /// A sync sample (a video keyframe; every audio sample).
    pub sync: bool,
}

#[derive(Debug, Clone)]
enum Codec {
    Avc {
        avcc: Vec<u8>,
        width: u16,
        height: u16,
    },
    Aac {
        asc: Vec<u8>,
        sample_rate: u32,
        channels: u16,
    },
    Mp3 {
        sample_rate: u32,
        channels: u16,
    },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    dts: u32,
    cts: i32,
    size: u32,
    offset: u64,
    sync: bool,
}

#[derive(Debug, Clone)]
struct Track {
    codec: Codec,
    samples: Vec<Entry>,
}

impl Track {
    fn new(codec: Codec) -> Track {
        Track {
            codec,
            samples: Vec::new(),
        }
    }

    /// Duration of sample `i`: up to the next one; the last one lasts as long as the one
    /// before it (or an AAC frame, 1024 samples).
    fn duration(&self, i: usize) -> u32 {
        let s = &self.samples;
        if i + 1 < s.len() {
            return s[i + 1].dts - s[i].dts;
        }
        if i > 0 {
            return s[i].dts - s[i - 1].dts;
        }
        match &self.codec {
            Codec::Aac { sample_rate, .. } => 1024 * 1000 / (*sample_rate).max(1),
            Codec::Mp3 { sample_rate, .. } => 1152 * 1000 / (*sample_rate).max(1),
            Codec::Avc { .. } => 40,
        }
    }

    fn first_dts(&self) -> u32 {
        self.samples.first().map_or(0, |s| s.dts)
    }

    /// From the file's start to the end of its last sample.
    fn end(&self) -> u64 {
        self.samples.last().map_or(0, |l| {
            u64::from(l.dts) + u64::from(self.duration(self.samples.len() - 1))
        })
    }
}

/// Length of the `ftyp` box.
const FTYP_LEN: u64 = 32;
/// Where the `mdat` box's 64-bit size is, from the file's start.
pub const MDAT_SIZE_AT: u64 = FTYP_LEN + 8;
/// Where the samples start, from the file's start.
pub const DATA_AT: u64 = FTYP_LEN + 16;

/// The muxer of one file.
#[derive(Debug, Clone, Default)]
pub struct Mp4Muxer {
    video: Option<Track>,
    audio: Option<Track>,
    /// An empty AVC sequence header came: the track is configured from the first
    /// keyframe's in-band SPS and PPS.
    video_in_band: bool,
    /// Sample bytes in `mdat` so far.
    data: u64,
}

/// A video track for an AVCDecoderConfigurationRecord, with the SPS's picture size.
fn avc_track(avcc: Vec<u8>) -> Result<Track, Mp4Error> {
    let sps = AvcDecoderConfig::parse(&avcc)?.parse_sps()?;
    Ok(Track::new(Codec::Avc {
        avcc,
        width: u16::try_from(sps.width).unwrap_or(u16::MAX),
        height: u16::try_from(sps.height).unwrap_or(u16::MAX),
    }))
}

impl Mp4Muxer {
    /// A muxer for a new file.
    pub fn new() -> Mp4Muxer {
        Mp4Muxer::default()
    }

    /// The file's first bytes: `ftyp`, and the `mdat` header whose size
    /// [`mdat_size`](Self::mdat_size) gives at the close (at [`MDAT_SIZE_AT`]).
    pub fn head() -> Vec<u8> {
        let mut out = Vec::with_capacity(DATA_AT as usize);
        bx(&mut out, b"ftyp", |b| {
            b.extend_from_slice(b"isom");
            put32(b, 512);
            for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
                b.extend_from_slice(brand);
            }
        });
        put32(&mut out, 1);
        out.extend_from_slice(b"mdat");
        put64(&mut out, 16);
        debug_assert_eq!(out.len() as u64, DATA_AT);
        out
    }

    /// Whether any sample was added.
    pub fn is_empty(&self) -> bool {
        self.data == 0
    }

    /// Sample bytes added so far.
    pub fn data_len(&self) -> u64 {
        self.data
    }

    /// A video message at `dts`: a sequence header configures the track (`Ok(None)`: the
    /// first configuration stays; a frame before any is skipped), a frame gives its
    /// sample and data, to be written and then [`add`](Self::add)ed.
    pub fn video<'a>(
        &mut self,
        dts: u32,
        body: &'a [u8],
    ) -> Result<Option<(Sample, Cow<'a, [u8]>)>, Mp4Error> {
        let tag = VideoTag::parse(body)?;
        if tag.codec != VideoCodec::Avc {
            return Err(Mp4Error::Unsupported(tag.codec.name().to_string()));
        }
        match tag.packet {
            VideoPacket::SequenceHeader(record) => {
                if self.video.is_none() {
                    if record.is_empty() {
                        self.video_in_band = true;
                    } else {
                        self.video = Some(avc_track(record.to_vec())?);
                    }
                }
                Ok(None)
            }
            VideoPacket::Frame { data, .. }
                if self.video.is_none() && self.video_in_band && tag.keyframe =>
            {
                if let Some(record) = AvcDecoderConfig::record_in_band(data) {
                    self.video = Some(avc_track(record)?);
                    return self.video(dts, body);
                }
                Ok(None)
            }
            VideoPacket::Frame {
                composition_time,
                data,
            } if self.video.is_some() && !data.is_empty() => {
                // Samples are length-prefixed: an in-band stream's Annex B frame is
                // converted, any other goes as it came.
                let annexb = self
                    .video_in_band
                    .then(|| avc::in_band_nal_units(data).ok())
                    .flatten()
                    .filter(|u| u.annexb)
                    .map(|u| u.units);
                let data = match annexb {
                    Some(units) => {
                        let mut v = Vec::with_capacity(data.len() + units.len());
                        for u in units {
                            v.extend_from_slice(&u32::try_from(u.len()).unwrap_or(0).to_be_bytes());
                            v.extend_from_slice(u);
                        }
                        Cow::Owned(v)
                    }
                    None => Cow::Borrowed(data),
                };
                Ok(Some((
                    Sample {
                        track: TrackKind::Video,
                        dts,
                        cts: composition_time,
                        size: u32::try_from(data.len()).unwrap_or(u32::MAX),
                        sync: tag.keyframe,
                    },
                    data,
                )))
            }
            _ => Ok(None),
        }
    }

    /// An audio message at `dts`, as [`video`](Self::video) does it.
    pub fn audio<'a>(
        &mut self,
        dts: u32,
        body: &'a [u8],
    ) -> Result<Option<(Sample, Cow<'a, [u8]>)>, Mp4Error> {
        let tag = AudioTag::parse(body)?;
        match (tag.sound_format, tag.packet) {
            (sound_format::AAC, AudioPacket::SequenceHeader(asc)) => {
                if self.audio.is_none() {
                    let c = AudioSpecificConfig::parse(asc)?;
                    self.audio = Some(Track::new(Codec::Aac {
                        asc: asc.to_vec(),
                        sample_rate: c.sample_rate,
                        channels: u16::from(c.channels().max(1)),
                    }));
                }
                return Ok(None);
            }
            (sound_format::MP3, _) if self.audio.is_none() => {
                let b0 = body[0];
                let sample_rate = [5512, 11025, 22050, 44100][usize::from((b0 >> 2) & 3)];
                self.audio = Some(Track::new(Codec::Mp3 {
                    sample_rate,
                    channels: u16::from(b0 & 1) + 1,
                }));
            }
            (sound_format::AAC | sound_format::MP3, _) => {}
            (f, _) => {
                return Err(Mp4Error::Unsupported(
                    crate::codec::audio_codec_name(f).to_string(),
                ))
            }
        }
        let AudioPacket::Frame(data) = tag.packet else {
            return Ok(None);
        };
        if self.audio.is_none() || data.is_empty() {
            return Ok(None);
        }
        Ok(Some((
            Sample {
                track: TrackKind::Audio,
                dts,
                cts: 0,
                size: u32::try_from(data.len()).unwrap_or(u32::MAX),
                sync: true,
            },
            Cow::Borrowed(data),
        )))
    }

    /// Record a sample whose data was written just after the samples before it.
    pub fn add(&mut self, s: Sample) {
        let offset = DATA_AT + self.data;
        self.data += u64::from(s.size);
        let track = match s.track {
            TrackKind::Video => self.video.as_mut(),
            TrackKind::Audio => self.audio.as_mut(),
        };
        let Some(t) = track else { return };
        // Decoding times never go back within a track.
        let dts = t.samples.last().map_or(s.dts, |l| s.dts.max(l.dts));
        t.samples.push(Entry {
            dts,
            cts: s.cts,
            size: s.size,
            offset,
            sync: s.sync,
        });
    }

    /// Keep only the samples that end at file offset `at` or before (a file cut short:
    /// what follows `at` is overwritten or cut off).
    pub fn cut(&mut self, at: u64) {
        let mut end = DATA_AT;
        for t in [self.video.as_mut(), self.audio.as_mut()]
            .into_iter()
            .flatten()
        {
            t.samples.retain(|s| s.offset + u64::from(s.size) <= at);
            if let Some(l) = t.samples.last() {
                end = end.max(l.offset + u64::from(l.size));
            }
        }
        self.data = end - DATA_AT;
    }

    /// The `mdat` box's size, for the 8 bytes at [`MDAT_SIZE_AT`].
    pub fn mdat_size(&self) -> [u8; 8] {
        (16 + self.data).to_be_bytes()
    }

    /// Duration of the recording in ms (the longest track).
    pub fn duration_ms(&self) -> u64 {
        self.tracks().map(|t| t.end()).max().unwrap_or(0)
    }

    fn tracks(&self) -> impl Iterator<Item = &Track> {
        self.video
            .iter()
            .chain(self.audio.iter())
            .filter(|t| !t.samples.is_empty())
    }

    /// The `moov` box, to write after the samples.
    pub fn moov(&self) -> Vec<u8> {
        let duration = u32::try_from(self.duration_ms()).unwrap_or(u32::MAX);
        let tracks: Vec<&Track> = self.tracks().collect();
        let mut out = Vec::new();
        bx(&mut out, b"moov", |b| {
            full(b, b"mvhd", 0, 0, |b| {
                put32(b, 0);
                put32(b, 0);
                put32(b, 1000);
                put32(b, duration);
                put32(b, 0x0001_0000);
                put16(b, 0x0100);
                b.extend_from_slice(&[0; 10]);
                matrix(b);
                b.extend_from_slice(&[0; 24]);
                put32(b, tracks.len() as u32 + 1);
            });
            for (i, t) in tracks.iter().enumerate() {
                trak(b, t, i as u32 + 1);
            }
        });
        out
    }
}

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_be_bytes());
}

/// A box: its size, its type, what `f` writes.
fn bx(out: &mut Vec<u8>, name: &[u8; 4], f: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(name);
    f(out);
    let size = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: version and flags first.
fn full(out: &mut Vec<u8>, name: &[u8; 4], version: u8, flags: u32, f: impl FnOnce(&mut Vec<u8>)) {
    bx(out, name, |b| {
        put32(b, u32::from(version) << 24 | (flags & 0x00ff_ffff));
        f(b);
    });
}

fn matrix(b: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        put32(b, v);
    }
}

fn trak(b: &mut Vec<u8>, t: &Track, id: u32) {
    let video = matches!(t.codec, Codec::Avc { .. });
    let first = t.first_dts();
    let media_duration = u32::try_from(t.end() - u64::from(first)).unwrap_or(u32::MAX);
    let track_duration = u32::try_from(t.end()).unwrap_or(u32::MAX);
    bx(b, b"trak", |b| {
        full(b, b"tkhd", 0, 3, |b| {
            put32(b, 0);
            put32(b, 0);
            put32(b, id);
            put32(b, 0);
            put32(b, track_duration);
            b.extend_from_slice(&[0; 8]);
            put16(b, 0);
            put16(b, 0);
            put16(b, if video { 0 } else { 0x0100 });
            put16(b, 0);
            matrix(b);
            let (w, h) = match t.codec {
                Codec::Avc { width, height, .. } => (width, height),
                _ => (0, 0),
            };
            put32(b, u32::from(w) << 16);
            put32(b, u32::from(h) << 16);
        });
        // A track starting after the file's start begins with an empty edit, so that
        // the tracks keep the time they had in the stream.
        if first > 0 {
            bx(b, b"edts", |b| {
                full(b, b"elst", 0, 0, |b| {
                    put32(b, 2);
                    put32(b, first);
                    put32(b, u32::MAX); // media_time -1: empty
                    put32(b, 0x0001_0000);
                    put32(b, media_duration);
                    put32(b, 0);
                    put32(b, 0x0001_0000);
                });
            });
        }
        bx(b, b"mdia", |b| {
            full(b, b"mdhd", 0, 0, |b| {
                put32(b, 0);
                put32(b, 0);
                put32(b, 1000);
                put32(b, media_duration);
                put16(b, 0x55c4); // "und"
                put16(b, 0);
            });
            full(b, b"hdlr", 0, 0, |b| {
                put32(b, 0);
                b.extend_from_slice(if video { b"vide" } else { b"soun" });
                b.extend_from_slice(&[0; 12]);
                b.extend_from_slice(if video {
                    b"VideoHandler\0".as_slice()
                } else {
                    b"SoundHandler\0".as_slice()
                });
            });
            bx(b, b"minf", |b| {
                if video {
                    full(b, b"vmhd", 0, 1, |b| b.extend_from_slice(&[0; 8]));
                } else {
                    full(b, b"smhd", 0, 0, |b| put32(b, 0));
                }
                bx(b, b"dinf", |b| {
                    full(b, b"dref", 0, 0, |b| {
                        put32(b, 1);
                        full(b, b"url ", 0, 1, |_| {});
                    });
                });
                stbl(b, t);
            });
        });
    });
}

fn sample_entry(b: &mut Vec<u8>, codec: &Codec) {
    match codec {
        Codec::Avc {
            avcc,
            width,
            height,
        } => bx(b, b"avc1", |b| {
            b.extend_from_slice(&[0; 6]);
            put16(b, 1); // data_reference_index
            b.extend_from_slice(&[0; 16]);
            put16(b, *width);
            put16(b, *height);
            put32(b, 0x0048_0000);
            put32(b, 0x0048_0000);
            put32(b, 0);
            put16(b, 1); // frame_count
            b.extend_from_slice(&[0; 32]); // compressorname
            put16(b, 0x0018);
            put16(b, 0xffff);
            bx(b, b"avcC", |b| b.extend_from_slice(avcc));
        }),
        Codec::Aac {
            asc,
            sample_rate,
            channels,
        } => mp4a(b, 0x40, Some(asc), *sample_rate, *channels),
        Codec::Mp3 {
            sample_rate,
            channels,
        } => mp4a(b, 0x6b, None, *sample_rate, *channels),
    }
}

/// An MPEG-4 descriptor (14496-1 8.3.3): tag, length (7 bits a byte), body.
fn descriptor(b: &mut Vec<u8>, tag: u8, body: &[u8]) {
    b.push(tag);
    let len = body.len() as u32;
    for shift in [21, 14, 7] {
        if len >> shift != 0 {
            b.push(0x80 | ((len >> shift) & 0x7f) as u8);
        }
    }
    b.push((len & 0x7f) as u8);
    b.extend_from_slice(body);
}

fn mp4a(b: &mut Vec<u8>, object_type: u8, asc: Option<&Vec<u8>>, sample_rate: u32, channels: u16) {
    bx(b, b"mp4a", |b| {
        b.extend_from_slice(&[0; 6]);
        put16(b, 1);
        b.extend_from_slice(&[0; 8]);
        put16(b, channels);
        put16(b, 16);
        put32(b, 0);
        // 16.16 fixed point; rates past 65535 Hz do not fit and the decoder config rules.
        put32(
            b,
            if sample_rate <= 0xffff {
                sample_rate << 16
            } else {
                0
            },
        );
        full(b, b"esds", 0, 0, |b| {
            let mut dec = vec![object_type, 0x15, 0, 0, 0];
            dec.extend_from_slice(&0u32.to_be_bytes());
            dec.extend_from_slice(&0u32.to_be_bytes());
            if let Some(asc) = asc {
                descriptor(&mut dec, 0x05, asc);
            }
            let mut es = vec![0, 0, 0];
            descriptor(&mut es, 0x04, &dec);
            descriptor(&mut es, 0x06, &[0x02]);
            descriptor(b, 0x03, &es);
        });
    });
}

fn stbl(b: &mut Vec<u8>, t: &Track) {
    let s = &t.samples;
    bx(b, b"stbl", |b| {
        full(b, b"stsd", 0, 0, |b| {
            put32(b, 1);
            sample_entry(b, &t.codec);
        });
        // Decoding times as runs of equal durations.
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for i in 0..s.len() {
            let d = t.duration(i);
            match runs.last_mut() {
                Some((n, last)) if *last == d => *n += 1,
                _ => runs.push((1, d)),
            }
        }
        full(b, b"stts", 0, 0, |b| {
            put32(b, runs.len() as u32);
            for (n, d) in &runs {
                put32(b, *n);
                put32(b, *d);
            }
        });
        if s.iter().any(|e| e.cts != 0) {
            let mut runs: Vec<(u32, i32)> = Vec::new();
            for e in s {
                match runs.last_mut() {
                    Some((n, last)) if *last == e.cts => *n += 1,
                    _ => runs.push((1, e.cts)),
                }
            }
            // Version 1 when an offset is negative (signed offsets).
            let version = u8::from(runs.iter().any(|(_, c)| *c < 0));
            full(b, b"ctts", version, 0, |b| {
                put32(b, runs.len() as u32);
                for (n, c) in &runs {
                    put32(b, *n);
                    put32(b, *c as u32);
                }
            });
        }
        if matches!(t.codec, Codec::Avc { .. }) {
            let sync: Vec<u32> = (0..s.len())
                .filter(|&i| s[i].sync)
                .map(|i| i as u32 + 1)
                .collect();
            full(b, b"stss", 0, 0, |b| {
                put32(b, sync.len() as u32);
                for n in sync {
                    put32(b, n);
                }
            });
        }
        // One sample per chunk: each sample's offset is its chunk's.
        full(b, b"stsc", 0, 0, |b| {
            put32(b, 1);
            put32(b, 1);
            put32(b, 1);
            put32(b, 1);
        });
        full(b, b"stsz", 0, 0, |b| {
            put32(b, 0);
            put32(b, s.len() as u32);
            for e in s {
                put32(b, e.size);
            }
        });
        let wide = s.last().is_some_and(|e| e.offset > u64::from(u32::MAX));
        if wide {
            full(b, b"co64", 0, 0, |b| {
                put32(b, s.len() as u32);
                for e in s {
                    put64(b, e.offset);
                }
            });
        } else {
            full(b, b"stco", 0, 0, |b| {
                put32(b, s.len() as u32);
                for e in s {
                    put32(b, e.offset as u32);
                }
            });
        }
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An AVC sequence header body (FLV) for 640x360 High.
    pub(crate) fn avc_header() -> Vec<u8> {
        let hex = "6764001eacd940a02ff97011000003000100000300320f162d96";
        let sps: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let pps = vec![0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];
        let mut b = vec![0x17, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1];
        b.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        b.extend_from_slice(&sps);
        b.push(1);
        b.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        b.extend_from_slice(&pps);
        b
    }

    fn find<'a>(data: &'a [u8], name: &[u8; 4]) -> Option<&'a [u8]> {
        data.windows(4)
            .position(|w| w == name)
            .map(|p| &data[p - 4..])
    }

    #[test]
    fn samples_tables_and_offsets() {
        let mut m = Mp4Muxer::new();
        assert_eq!(m.video(0, &avc_header()).unwrap(), None);
        assert_eq!(
            m.audio(0, &[0xaf, 0, 0x12, 0x10]).unwrap(),
            None,
            "AAC LC 44.1 kHz stereo"
        );
        let mut file = Mp4Muxer::head();
        for i in 0..10u32 {
            let key = i % 5 == 0;
            let body = [
                if key { 0x17 } else { 0x27 },
                1,
                0,
                0,
                40,
                0,
                0,
                0,
                2,
                0x65,
                i as u8,
            ];
            let (s, data) = m.video(i * 40, &body).unwrap().unwrap();
            assert_eq!((s.sync, s.cts, s.size), (key, 40, 6));
            file.extend_from_slice(&data);
            m.add(s);
            let aac = [0xaf, 1, 0x21, i as u8];
            let (s, data) = m.audio(i * 23 + 5, &aac).unwrap().unwrap();
            file.extend_from_slice(&data);
            m.add(s);
        }
        file[MDAT_SIZE_AT as usize..DATA_AT as usize].copy_from_slice(&m.mdat_size());
        let moov = m.moov();
        file.extend_from_slice(&moov);
        assert_eq!(&file[4..8], b"ftyp");
        assert_eq!(&file[36..40], b"mdat");
        let mdat_size = u64::from_be_bytes(file[40..48].try_into().unwrap());
        assert_eq!(32 + mdat_size, file.len() as u64 - moov.len() as u64);
        // stss: samples 1 and 6.
        let stss = find(&moov, b"stss").unwrap();
        assert_eq!(&stss[12..24], &[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 6]);
        // The audio track starts 5 ms in: an empty edit first.
        assert!(find(&moov, b"elst").is_some());
        // The first video sample's offset is the data's start.
        let stco = find(&moov, b"stco").unwrap();
        assert_eq!(
            u32::from_be_bytes(stco[16..20].try_into().unwrap()),
            DATA_AT as u32
        );
        assert_eq!(
            &file[DATA_AT as usize + 4..DATA_AT as usize + 6],
            &[0x65, 0]
        );
        assert_eq!(m.duration_ms(), 400);
        // Cut short: samples past the cut are gone from the tables.
        let mut cut = m.clone();
        cut.cut(DATA_AT + 3 * 6 + 2 * 2);
        assert_eq!(cut.data_len(), 3 * 6 + 2 * 2);
        assert_eq!(cut.video.as_ref().unwrap().samples.len(), 3);
        assert_eq!(cut.audio.as_ref().unwrap().samples.len(), 2);
    }

    #[test]
    fn frames_before_the_header_and_other_codecs() {
        let mut m = Mp4Muxer::new();
        assert_eq!(
            m.video(0, &[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]).unwrap(),
            None
        );
        assert!(matches!(
            m.video(0, &[0x1c, 0, 0, 0, 0]),
            Err(Mp4Error::Unsupported(_))
        ));
        assert!(matches!(
            m.audio(0, &[0xd0, 1]),
            Err(Mp4Error::Unsupported(_))
        ));
        assert!(m.video(0, &[]).is_err());
        assert!(m.is_empty());
        // MP3: configured by its first frame.
        let (s, d) = m.audio(0, &[0x2f, 0xff, 0xfb]).unwrap().unwrap();
        assert_eq!((s.size, d.len()), (2, 2));
    }

    /// An empty sequence header (ffmpeg's tee muxer without `global_header`): the track is
    /// configured from the first keyframe's SPS and PPS, which stay in its sample.
    #[test]
    fn parameter_sets_in_band() {
        let header = avc_header();
        let sps = &header[13..13 + 26];
        let pps = &header[13 + 26 + 3..];
        let mut m = Mp4Muxer::new();
        assert_eq!(m.video(0, &[0x17, 0, 0, 0, 0]).unwrap(), None);
        // A frame before any keyframe has nothing to configure the track with.
        assert_eq!(
            m.video(0, &[0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0])
                .unwrap(),
            None
        );
        let mut key = vec![0x17, 1, 0, 0, 0];
        for n in [sps, pps, &[0x65, 7][..]] {
            key.extend_from_slice(&(n.len() as u32).to_be_bytes());
            key.extend_from_slice(n);
        }
        let (s, d) = m.video(40, &key).unwrap().unwrap();
        assert_eq!(
            (s.sync, s.size as usize, d.len()),
            (true, key.len() - 5, key.len() - 5)
        );
        m.add(s);
        let moov = m.moov();
        let avcc = find(&moov, b"avcC").unwrap();
        assert_eq!(
            &avcc[8..8 + header.len() - 5],
            &header[5..],
            "the record ffmpeg would send"
        );
        let avc1 = find(&moov, b"avc1").unwrap();
        // width and height at 32 bytes into the sample entry's body.
        assert_eq!(&avc1[8 + 24..8 + 28], &[2, 0x80, 1, 0x68], "640x360");

        // ffmpeg's FLV muxer without a decoder configuration writes the encoder's Annex B
        // as it is: the same record, and samples length-prefixed.
        let mut m = Mp4Muxer::new();
        assert_eq!(m.video(0, &[0x17, 0, 0, 0, 0]).unwrap(), None);
        let mut key = vec![0x17, 1, 0, 0, 0];
        for (code, n) in [
            (&[0, 0, 0, 1][..], sps),
            (&[0, 0, 1], pps),
            (&[0, 0, 1], &[0x65, 7]),
        ] {
            key.extend_from_slice(code);
            key.extend_from_slice(n);
        }
        let (s, d) = m.video(0, &key).unwrap().unwrap();
        let mut want = Vec::new();
        for n in [sps, pps, &[0x65, 7][..]] {
            want.extend_from_slice(&(n.len() as u32).to_be_bytes());
            want.extend_from_slice(n);
        }
        assert_eq!((&d[..], s.size as usize), (&want[..], want.len()));
        m.add(s);
        let p = [0x27, 1, 0, 0, 0, 0, 0, 1, 0x41, 9];
        let (s, d) = m.video(40, &p).unwrap().unwrap();
        assert_eq!((&d[..], s.sync), (&[0, 0, 0, 2, 0x41, 9][..], false));
        m.add(s);
        let avcc = find(&m.moov(), b"avcC").unwrap().to_vec();
        assert_eq!(&avcc[8..8 + header.len() - 5], &header[5..]);
    }

    #[test]
    fn descriptor_lengths() {
        let mut b = Vec::new();
        descriptor(&mut b, 5, &[1; 200]);
        assert_eq!(&b[..3], &[5, 0x81, 0x48]);
        assert_eq!(b.len(), 203);
    }
}
