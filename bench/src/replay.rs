//! An FLV file prepared for publishing in a loop: the metadata and sequence headers that go
//! out once at the start, then the media tags with timestamps rewritten so that they keep
//! increasing from one pass to the next. Tag bodies are sent as they are in the file: no
//! transcoding, no parsing beyond the FLV tag header and the first bytes that say whether a
//! tag is a sequence header.

use crate::BenchError;
use bytes::Bytes;
use srs_protocol::flv::{self, tag_type, FlvReader, Tag};
use std::path::Path;

/// Largest input file we load into memory.
pub const MAX_FILE_SIZE: u64 = 512 * 1024 * 1024;

/// Frame duration assumed when the file does not tell (25 fps).
const DEFAULT_FRAME_MS: u64 = 40;

/// An FLV file split into what is sent once and what is looped.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The first `onMetaData` script tag body (sent as `@setDataFrame` + this).
    pub metadata: Option<Bytes>,
    /// The first video and audio sequence headers, in file order.
    pub headers: Vec<Tag>,
    /// Everything else that is audio or video, in file order, timestamps made relative to
    /// the earliest one. Later sequence headers and other script tags are left out: a
    /// player needs the headers once, and script tags of a recording (cue points, an old
    /// bench clock) would be stale.
    pub tags: Vec<Tag>,
    /// Duration of one pass: the last relative timestamp plus one frame, so that the next
    /// pass starts one frame after this one ends.
    pub loop_ms: u64,
    /// Bytes of tag bodies in one pass.
    pub loop_bytes: u64,
}

impl Replay {
    /// Read and split a file.
    pub fn load(path: &Path) -> Result<Self, BenchError> {
        let input = |why: String| BenchError::Input {
            path: path.to_path_buf(),
            why,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| input(e.to_string()))?
            .len();
        if len > MAX_FILE_SIZE {
            return Err(input(format!(
                "{len} bytes is larger than the limit of {MAX_FILE_SIZE}"
            )));
        }
        let data = std::fs::read(path).map_err(|e| input(e.to_string()))?;
        Self::from_flv(&data).map_err(input)
    }

    /// Split FLV bytes (a whole file).
    pub fn from_flv(data: &[u8]) -> Result<Self, String> {
        let mut reader = FlvReader::new();
        reader.push(data);
        let mut metadata = None;
        let (mut video_sh, mut audio_sh) = (false, false);
        let mut headers = Vec::new();
        let mut tags = Vec::new();
        while let Some(tag) = reader.next_tag().map_err(|e| e.to_string())? {
            match tag.tag_type {
                tag_type::SCRIPT if metadata.is_none() => {
                    metadata = flv::metadata_for_players(&tag.body);
                }
                tag_type::VIDEO | tag_type::AUDIO => {
                    let video = tag.tag_type == tag_type::VIDEO;
                    let info = if video {
                        flv::video_info(&tag.body)
                    } else {
                        flv::audio_info(&tag.body)
                    };
                    if info.sequence_header {
                        let seen = if video { &mut video_sh } else { &mut audio_sh };
                        if !*seen {
                            *seen = true;
                            headers.push(tag);
                        }
                    } else if !tag.body.is_empty() {
                        tags.push(tag);
                    }
                }
                _ => {}
            }
        }
        if tags.is_empty() {
            return Err("no audio or video tags to replay".to_string());
        }
        let base = tags.iter().map(|t| t.timestamp).min().unwrap_or(0);
        for t in &mut tags {
            t.timestamp -= base;
        }
        let last = tags.iter().map(|t| t.timestamp).max().unwrap_or(0) as u64;
        let loop_ms = last + frame_ms(&tags);
        let loop_bytes = tags.iter().map(|t| t.body.len() as u64).sum();
        Ok(Self {
            metadata,
            headers,
            tags,
            loop_ms,
            loop_bytes,
        })
    }

    /// Average bitrate of the looped tags in kbps.
    pub fn kbps(&self) -> u64 {
        crate::stats::kbps(self.loop_bytes, self.loop_ms)
    }

    /// The metadata as a publisher sends it: `@setDataFrame` then the `onMetaData` values.
    pub fn set_data_frame(&self) -> Option<Vec<u8>> {
        self.metadata.as_ref().map(|m| {
            let mut b = b"\x02\x00\x0d@setDataFrame".to_vec();
            b.extend_from_slice(m);
            b
        })
    }

    /// Tags in sending order, endlessly, with their stream timestamps in milliseconds.
    pub fn cursor(&self) -> Cursor {
        Cursor { index: 0, pass: 0 }
    }
}

/// The median gap between consecutive video timestamps (audio if there is no video), as
/// the duration of one frame.
fn frame_ms(tags: &[Tag]) -> u64 {
    for ty in [tag_type::VIDEO, tag_type::AUDIO] {
        let ts: Vec<u32> = tags
            .iter()
            .filter(|t| t.tag_type == ty)
            .map(|t| t.timestamp)
            .collect();
        let mut gaps: Vec<u64> = ts
            .windows(2)
            .filter(|w| w[1] > w[0])
            .map(|w| (w[1] - w[0]) as u64)
            .collect();
        if !gaps.is_empty() {
            gaps.sort_unstable();
            return gaps[gaps.len() / 2].clamp(1, 1000);
        }
    }
    DEFAULT_FRAME_MS
}

/// Position in an endless replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    index: usize,
    pass: u64,
}

impl Cursor {
    /// The current tag and its stream timestamp (ms since the replay started).
    pub fn peek<'r>(&self, r: &'r Replay) -> (u64, &'r Tag) {
        let tag = &r.tags[self.index];
        (self.pass * r.loop_ms + tag.timestamp as u64, tag)
    }

    /// Move to the next tag, wrapping to the start of the next pass.
    pub fn advance(&mut self, r: &Replay) {
        self.index += 1;
        if self.index == r.tags.len() {
            self.index = 0;
            self.pass += 1;
        }
    }

    /// Completed passes.
    pub fn passes(&self) -> u64 {
        self.pass
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::BytesMut;
    use srs_protocol::amf0::{self, Amf0Value};

    /// A small FLV: metadata, AVC and AAC sequence headers, then 25 fps video with a
    /// keyframe every 10 frames and audio every 23 ms, starting at `start_ts`, for
    /// `frames` frames; a repeated sequence header and a cue point in the middle.
    pub(crate) fn sample_flv(start_ts: u32, frames: u32) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.extend_from_slice(&flv::file_header(true, true));
        let meta = amf0::encode_all(&[
            Amf0Value::string("onMetaData"),
            Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(320.0))]),
        ]);
        flv::write_tag(&mut out, tag_type::SCRIPT, 0, &meta);
        flv::write_tag(&mut out, tag_type::VIDEO, 0, &[0x17, 0, 0, 0, 0, 1, 2]);
        flv::write_tag(&mut out, tag_type::AUDIO, 0, &[0xaf, 0, 0x12, 0x10]);
        let mut audio_ts = start_ts;
        for i in 0..frames {
            let ts = start_ts + i * 40;
            while audio_ts <= ts {
                flv::write_tag(&mut out, tag_type::AUDIO, audio_ts, &[0xaf, 1, 9, 9, 9]);
                audio_ts += 23;
            }
            let b0 = if i % 10 == 0 { 0x17 } else { 0x27 };
            flv::write_tag(&mut out, tag_type::VIDEO, ts, &[b0, 1, 0, 0, 0, 7, 7, 7, 7]);
            if i == frames / 2 {
                flv::write_tag(&mut out, tag_type::VIDEO, ts, &[0x17, 0, 0, 0, 0, 1, 2]);
                let cue = amf0::encode_all(&[Amf0Value::string("onCuePoint")]);
                flv::write_tag(&mut out, tag_type::SCRIPT, ts, &cue);
            }
        }
        out.to_vec()
    }

    #[test]
    fn splits_headers_from_the_loop() {
        let r = Replay::from_flv(&sample_flv(1000, 50)).unwrap();
        let meta = amf0::decode_all(r.metadata.as_ref().unwrap()).unwrap();
        assert_eq!(meta[0].as_str(), Some("onMetaData"));
        let sdf = amf0::decode_all(&r.set_data_frame().unwrap()).unwrap();
        assert_eq!(sdf[0].as_str(), Some("@setDataFrame"));
        assert_eq!(sdf[1].as_str(), Some("onMetaData"));
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.headers[0].tag_type, tag_type::VIDEO);
        assert_eq!(r.headers[1].tag_type, tag_type::AUDIO);
        // No sequence header or script tag in the loop; timestamps start at 0.
        assert!(r.tags.iter().all(|t| t.tag_type != tag_type::SCRIPT));
        assert!(r
            .tags
            .iter()
            .all(|t| !flv::video_info(&t.body).sequence_header
                && !flv::audio_info(&t.body).sequence_header));
        assert_eq!(r.tags[0].timestamp, 0);
        // 50 frames at 40 ms: last at 1960, one pass is 2000 ms.
        assert_eq!(r.loop_ms, 2000);
        assert!(r.kbps() > 0);
    }

    #[test]
    fn timestamps_keep_increasing_across_passes() {
        let r = Replay::from_flv(&sample_flv(0, 20)).unwrap();
        let mut c = r.cursor();
        let mut last_video = None;
        let mut last_audio = None;
        let mut first_of_pass = Vec::new();
        for _ in 0..r.tags.len() * 3 {
            let (ts, tag) = c.peek(&r);
            if c.index == 0 {
                first_of_pass.push(ts);
            }
            let last = if tag.tag_type == tag_type::VIDEO {
                &mut last_video
            } else {
                &mut last_audio
            };
            if let Some(l) = *last {
                assert!(ts > l, "{} ts {ts} after {l}", tag.tag_type);
            }
            *last = Some(ts);
            c.advance(&r);
        }
        assert_eq!(c.passes(), 3);
        assert_eq!(first_of_pass, vec![0, 800, 1600]);
    }

    #[test]
    fn refuses_what_cannot_be_replayed() {
        assert!(Replay::from_flv(b"not an flv at all").is_err());
        let mut only_headers = BytesMut::new();
        only_headers.extend_from_slice(&flv::file_header(true, true));
        flv::write_tag(&mut only_headers, 9, 0, &[0x17, 0, 0, 0, 0]);
        assert!(Replay::from_flv(&only_headers).is_err());
    }
}
