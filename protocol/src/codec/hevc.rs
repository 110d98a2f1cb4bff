//! H.265/HEVC: the HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 section 8.3.3.1) that an
//! HEVC sequence header carries, read far enough to name the profile and level and to get the
//! VPS/SPS/PPS the MPEG-TS muxer repeats before each random access point. Picture size is
//! not parsed (the HEVC SPS needs profile_tier_level for every sub-layer first).

use bytes::Bytes;

use super::avc::ByteReader;
use super::CodecError;

/// NAL unit types (H.265 table 7-1) the muxer needs.
pub mod nal_type {
    /// First IRAP type (BLA_W_LP); IRAP pictures are types 16 ..= 23.
    pub const IRAP_FIRST: u8 = 16;
    /// Last IRAP type (RSV_IRAP_VCL23).
    pub const IRAP_LAST: u8 = 23;
    /// Video parameter set.
    pub const VPS: u8 = 32;
    /// Sequence parameter set.
    pub const SPS: u8 = 33;
    /// Picture parameter set.
    pub const PPS: u8 = 34;
    /// Access unit delimiter.
    pub const AUD: u8 = 35;
}

/// Type of an HEVC NAL unit from its two-byte header.
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| (b >> 1) & 0x3f)
}

/// Most NAL units we keep from one record (all arrays together). Encoders send 3 (one VPS,
/// SPS and PPS), sometimes a few SEI.
pub const MAX_RECORD_NALUS: usize = 64;

/// One `HEVCDecoderConfigurationRecord`, reduced to what we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcDecoderConfig {
    /// `general_profile_idc` (1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions).
    pub profile_idc: u8,
    /// `general_tier_flag` (false Main tier, true High tier).
    pub high_tier: bool,
    /// `general_level_idc` (level × 30, e.g. 93 for 3.1).
    pub level_idc: u8,
    /// Bytes of the length prefix before each NAL unit in frames (1, 2 or 4).
    pub nal_length_size: u8,
    /// Parameter-set and SEI NAL units from the arrays, in record order, headers included.
    pub nalus: Vec<Bytes>,
}

impl HevcDecoderConfig {
    /// Parse a record (the sequence header body after the FLV/enhanced-RTMP video header).
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        let mut r = ByteReader::new(data);
        let _version = r.u8()?;
        let b = r.u8()?;
        let high_tier = b & 0x20 != 0;
        let profile_idc = b & 0x1f;
        // general_profile_compatibility_flags (4), general_constraint_indicator_flags (6).
        r.bytes(10)?;
        let level_idc = r.u8()?;
        // min_spatial_segmentation (2), parallelism, chroma, luma depth, chroma depth (4),
        // avgFrameRate (2).
        r.bytes(8)?;
        let nal_length_size = (r.u8()? & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(CodecError::BadNalLengthSize(3));
        }
        let arrays = r.u8()?;
        let mut nalus = Vec::new();
        for _ in 0..arrays {
            let _type = r.u8()? & 0x3f;
            let count = r.u16()? as usize;
            for _ in 0..count {
                if nalus.len() == MAX_RECORD_NALUS {
                    return Err(CodecError::TooManyParameterSets(nalus.len() + 1));
                }
                let len = r.u16()? as usize;
                nalus.push(Bytes::copy_from_slice(r.bytes(len)?));
            }
        }
        Ok(Self {
            profile_idc,
            high_tier,
            level_idc,
            nal_length_size,
            nalus,
        })
    }

    /// Profile name as SRS reports it.
    pub fn profile_name(&self) -> &'static str {
        profile_name(self.profile_idc)
    }

    /// Level name as SRS reports it ("3.1").
    pub fn level_name(&self) -> &'static str {
        level_name(self.level_idc)
    }
}

/// Profile name (`srs_hevc_profile2str`).
pub fn profile_name(profile_idc: u8) -> &'static str {
    match profile_idc {
        1 => "Main",
        2 => "Main10",
        3 => "Main Still Picture",
        4 => "Rext",
        _ => "Other",
    }
}

/// Level name for `general_level_idc` (`srs_hevc_level2str`).
pub fn level_name(level_idc: u8) -> &'static str {
    match level_idc {
        30 => "1",
        60 => "2",
        63 => "2.1",
        90 => "3",
        93 => "3.1",
        120 => "4",
        123 => "4.1",
        150 => "5",
        153 => "5.1",
        156 => "5.2",
        180 => "6",
        183 => "6.1",
        186 => "6.2",
        _ => "Other",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record as libx265 (Main, level 2.1) would produce it, with short stand-in parameter
    /// sets: VPS, SPS, PPS arrays.
    pub(crate) fn sample_record() -> Vec<u8> {
        let mut v = vec![
            1,    // configurationVersion
            0x01, // profile space 0, main tier, Main
            0x60, 0, 0, 0, // compatibility flags
            0x90, 0, 0, 0, 0, 0,  // constraint flags
            63, // level 2.1
            0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0,    //
            0x0f, // lengthSizeMinusOne = 3
            3,    // arrays
        ];
        for (t, nal) in [
            (32u8, &[0x40u8, 0x01, 0x0c][..]),
            (33, &[0x42, 0x01, 0x01]),
            (34, &[0x44, 0x01, 0xc1]),
        ] {
            v.push(0x80 | t);
            v.extend_from_slice(&1u16.to_be_bytes());
            v.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            v.extend_from_slice(nal);
        }
        v
    }

    #[test]
    fn record() {
        let c = HevcDecoderConfig::parse(&sample_record()).unwrap();
        assert_eq!(
            (c.profile_idc, c.high_tier, c.level_idc, c.nal_length_size),
            (1, false, 63, 4)
        );
        assert_eq!((c.profile_name(), c.level_name()), ("Main", "2.1"));
        assert_eq!(c.nalus.len(), 3);
        assert_eq!(nal_unit_type(&c.nalus[0]), Some(nal_type::VPS));
        assert_eq!(nal_unit_type(&c.nalus[2]), Some(nal_type::PPS));
        let rec = sample_record();
        for n in 0..rec.len() {
            assert!(HevcDecoderConfig::parse(&rec[..n]).is_err(), "{n}");
        }
    }
}
