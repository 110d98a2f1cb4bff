//! Raw codec data to RTMP/FLV bodies, with the sequence headers built for you:
//! - [`H264Packer`]: H.264 Annex B (NAL units after `00 00 01` / `00 00 00 01` start
//!   codes), as encoders and `.h264` files give it;
//! - [`AdtsPacker`]: AAC in ADTS frames, as encoders and `.aac` files give it.
//!
//! Each returns the FLV bodies to send, in order, with their timestamps: the AVC or AAC
//! sequence header first when the stream's parameters are new or changed, then the frame.

use bytes::{BufMut, Bytes, BytesMut};
use srs_protocol::codec::aac::parse_adts;

/// Why raw data could not be packed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RawError {
    /// Frames came before the SPS and PPS a decoder needs (dropped).
    #[error("h264: frame before SPS and PPS, dropped")]
    BeforeParameterSets,
    /// Not Annex B: no start code at the beginning.
    #[error("h264: not Annex B (no start code)")]
    NotAnnexB,
    /// Not an ADTS frame.
    #[error("aac: not ADTS: {0}")]
    NotAdts(String),
}

/// Split Annex B data into NAL units (start codes removed, empty units skipped).
pub fn annexb_nal_units(data: &[u8]) -> Result<Vec<&[u8]>, RawError> {
    srs_protocol::codec::annexb_nal_units(data).ok_or(RawError::NotAnnexB)
}

/// Packs H.264 Annex B into FLV video bodies (AVC, codec id 7).
#[derive(Debug, Default, Clone)]
pub struct H264Packer {
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// The SPS/PPS of the last sequence header sent.
    sent: Option<(Vec<u8>, Vec<u8>)>,
}

impl H264Packer {
    /// A packer that has seen no parameter sets yet.
    pub fn new() -> H264Packer {
        H264Packer::default()
    }

    /// One or more NAL units of one frame (Annex B), decoded at `dts` and shown at `pts`
    /// (ms): the bodies to send, each with its timestamp (the DTS). SPS and PPS are kept
    /// for the sequence header, which goes first when new or changed; access unit
    /// delimiters are dropped; the other units make one frame (a keyframe with an IDR).
    pub fn pack(&mut self, data: &[u8], dts: u32, pts: u32) -> Result<Vec<(u32, Bytes)>, RawError> {
        let mut frame = BytesMut::new();
        let mut keyframe = false;
        for nal in annexb_nal_units(data)? {
            match nal[0] & 0x1f {
                7 => self.sps = Some(nal.to_vec()),
                8 => self.pps = Some(nal.to_vec()),
                9 => {}
                t => {
                    keyframe |= t == 5;
                    frame.put_u32(nal.len() as u32);
                    frame.put_slice(nal);
                }
            }
        }
        let mut out = Vec::new();
        if let (Some(sps), Some(pps)) = (&self.sps, &self.pps) {
            if self.sent.as_ref() != Some(&(sps.clone(), pps.clone())) {
                out.push((dts, avc_sequence_header(sps, pps)));
                self.sent = Some((sps.clone(), pps.clone()));
            }
        }
        if frame.is_empty() {
            return Ok(out);
        }
        if self.sent.is_none() {
            return Err(RawError::BeforeParameterSets);
        }
        let cts = pts.wrapping_sub(dts) as i32;
        let mut body = BytesMut::with_capacity(5 + frame.len());
        body.put_u8(if keyframe { 0x17 } else { 0x27 });
        body.put_u8(1);
        body.put_slice(&cts.to_be_bytes()[1..]);
        body.put_slice(&frame);
        out.push((dts, body.freeze()));
        Ok(out)
    }
}

/// The AVC sequence header (an FLV video body) for `sps` and `pps`; with an empty record
/// when a set is too long for the record's 16-bit length or the SPS too short.
pub fn avc_sequence_header(sps: &[u8], pps: &[u8]) -> Bytes {
    Bytes::from(srs_protocol::codec::avc::sequence_header(sps, pps))
}

/// Packs AAC ADTS frames into FLV audio bodies (sound format 10).
#[derive(Debug, Default, Clone)]
pub struct AdtsPacker {
    /// The AudioSpecificConfig of the last sequence header sent.
    sent: Option<[u8; 2]>,
}

impl AdtsPacker {
    /// A packer that has sent nothing yet.
    pub fn new() -> AdtsPacker {
        AdtsPacker::default()
    }

    /// One or more ADTS frames at `timestamp` (ms): the bodies to send (the AAC sequence
    /// header first when the configuration is new or changed, then each raw frame; a
    /// frame's timestamp advances by its 1024 samples).
    pub fn pack(&mut self, mut data: &[u8], timestamp: u32) -> Result<Vec<(u32, Bytes)>, RawError> {
        let mut out = Vec::new();
        let mut ts = timestamp;
        while !data.is_empty() {
            let (cfg, len) = parse_adts(data).map_err(|e| RawError::NotAdts(e.to_string()))?;
            let header = if data[1] & 1 == 0 { 9 } else { 7 };
            if len < header || len > data.len() {
                return Err(RawError::NotAdts(format!(
                    "frame of {len} bytes, {} left",
                    data.len()
                )));
            }
            let asc = [
                cfg.object_type << 3 | cfg.sampling_frequency_index >> 1,
                (cfg.sampling_frequency_index & 1) << 7 | cfg.channel_configuration << 3,
            ];
            let flags = flv_aac_flags(cfg.channel_configuration);
            if self.sent != Some(asc) {
                out.push((ts, Bytes::from(vec![flags, 0, asc[0], asc[1]])));
                self.sent = Some(asc);
            }
            let mut body = BytesMut::with_capacity(2 + len - header);
            body.put_u8(flags);
            body.put_u8(1);
            body.put_slice(&data[header..len]);
            out.push((ts, body.freeze()));
            ts = ts.wrapping_add(1024 * 1000 / cfg.sample_rate.max(1));
            data = &data[len..];
        }
        Ok(out)
    }
}

/// The FLV audio tag's first byte for AAC: format 10, 44 kHz, 16-bit, mono or stereo (FLV
/// readers take the real values from the AudioSpecificConfig).
fn flv_aac_flags(channels: u8) -> u8 {
    0xa0 | 3 << 2 | 1 << 1 | u8::from(channels != 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9];
    const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb];

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&[0, 0, 0, 1]);
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn h264_sequence_header_then_frames() {
        let mut p = H264Packer::new();
        assert_eq!(
            p.pack(&annexb(&[&[0x41, 1, 2]]), 0, 0),
            Err(RawError::BeforeParameterSets)
        );
        let out = p
            .pack(
                &annexb(&[&[0x09, 0xf0], SPS, PPS, &[0x65, 0xaa, 0, 0, 0]]),
                40,
                80,
            )
            .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(&out[0].1[..5], &[0x17, 0, 0, 0, 0]);
        let rec = srs_protocol::codec::avc::AvcDecoderConfig::parse(&out[0].1[5..]).unwrap();
        assert_eq!((rec.sps[0].as_ref(), rec.pps[0].as_ref()), (SPS, PPS));
        // The IDR: keyframe, cts 40, one 4-byte-length NAL (trailing zeros of the unit kept
        // only inside it: here the 00 00 00 belongs to no next code, so it stays).
        assert_eq!(&out[1].1[..5], &[0x17, 1, 0, 0, 40]);
        assert_eq!(&out[1].1[5..9], &[0, 0, 0, 5]);
        // Same parameter sets again: no new header.
        let out = p.pack(&annexb(&[SPS, PPS, &[0x41, 9]]), 80, 80).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1[0], 0x27);
        assert_eq!(annexb_nal_units(&[1, 2, 3]), Err(RawError::NotAnnexB));
        assert_eq!(
            annexb_nal_units(&[0, 0, 1, 0x41, 0, 0, 0, 1, 0x65, 7]).unwrap(),
            vec![&[0x41][..], &[0x65, 7][..]]
        );
    }

    #[test]
    fn adts_frames_become_a_header_and_raw_frames() {
        let cfg = srs_protocol::codec::aac::AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        let mut data = Vec::new();
        for i in 0..3u8 {
            data.extend_from_slice(&cfg.adts_header(4).unwrap());
            data.extend_from_slice(&[i; 4]);
        }
        let mut p = AdtsPacker::new();
        let out = p.pack(&data, 1000).unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(&out[0].1[..], &[0xaf, 0, 0x12, 0x10]);
        assert_eq!(&out[2].1[..], &[0xaf, 1, 1, 1, 1, 1]);
        assert_eq!(out[3].0, 1000 + 2 * 23);
        assert!(p.pack(&[0xff, 0xf1, 0, 0], 0).is_err());
    }
}
