//! H.264/AVC: the AVCDecoderConfigurationRecord that RTMP carries as the video sequence header
//! (ISO/IEC 14496-15 section 5.2.4.1), and the sequence parameter set (ITU-T H.264 section
//! 7.3.2.1.1) for the profile, level and picture size the HTTP API reports.

use bytes::Bytes;

use super::bits::{ebsp_to_rbsp, BitReader};
use super::CodecError;

/// NAL unit types (H.264 table 7-1) the muxer needs.
pub mod nal_type {
    /// Coded slice of a non-IDR picture.
    pub const NON_IDR: u8 = 1;
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// Type of a NAL unit from its first byte.
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

/// Most parameter sets of each kind a record may carry. The SPS count is a 5-bit field (31 at
/// most); the PPS count is 8 bits, capped here because real encoders send one or two.
pub const MAX_PPS: usize = 64;

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.2.4.1.1), the body of an AVC
/// sequence header after the 5-byte FLV video tag header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    /// `configurationVersion` (1 in every stream we have seen; not enforced).
    pub version: u8,
    /// `AVCProfileIndication`: the SPS `profile_idc`.
    pub profile_idc: u8,
    /// `profile_compatibility`: the SPS constraint flags byte.
    pub profile_compatibility: u8,
    /// `AVCLevelIndication`: the SPS `level_idc`.
    pub level_idc: u8,
    /// Bytes of the length prefix before each NAL unit in frames (1, 2 or 4).
    pub nal_length_size: u8,
    /// Sequence parameter set NAL units (with their NAL header byte).
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units (with their NAL header byte).
    pub pps: Vec<Bytes>,
}

impl AvcDecoderConfig {
    /// Parse a record; trailing bytes (the high-profile chroma/bit-depth extension) are ignored.
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        let mut r = ByteReader::new(data);
        let version = r.u8()?;
        let profile_idc = r.u8()?;
        let profile_compatibility = r.u8()?;
        let level_idc = r.u8()?;
        let nal_length_size = (r.u8()? & 0x03) + 1;
        if nal_length_size == 3 {
            // 14496-15 allows 1, 2 and 4 only.
            return Err(CodecError::BadNalLengthSize(3));
        }
        let sps_count = r.u8()? & 0x1f;
        let mut sps = Vec::with_capacity(sps_count as usize);
        for _ in 0..sps_count {
            let len = r.u16()? as usize;
            sps.push(Bytes::copy_from_slice(r.bytes(len)?));
        }
        let pps_count = r.u8()? as usize;
        if pps_count > MAX_PPS {
            return Err(CodecError::TooManyParameterSets(pps_count));
        }
        let mut pps = Vec::with_capacity(pps_count);
        for _ in 0..pps_count {
            let len = r.u16()? as usize;
            pps.push(Bytes::copy_from_slice(r.bytes(len)?));
        }
        Ok(Self {
            version,
            profile_idc,
            profile_compatibility,
            level_idc,
            nal_length_size,
            sps,
            pps,
        })
    }

    /// The first SPS, parsed.
    pub fn parse_sps(&self) -> Result<Sps, CodecError> {
        Sps::parse(self.sps.first().ok_or(CodecError::NoSps)?)
    }

    /// The record for one SPS and one PPS, with 4-byte NAL lengths; `None` when a set does
    /// not fit its 16-bit length or the SPS is too short to carry profile and level.
    pub fn record(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
        let sps_len = u16::try_from(sps.len()).ok()?;
        let pps_len = u16::try_from(pps.len()).ok()?;
        let &[_, profile, compatibility, level, ..] = sps else {
            return None;
        };
        let mut r = Vec::with_capacity(11 + sps.len() + pps.len());
        // version, profile, compatibility, level, 4-byte lengths, one SPS.
        r.extend_from_slice(&[1, profile, compatibility, level, 0xff, 0xe1]);
        r.extend_from_slice(&sps_len.to_be_bytes());
        r.extend_from_slice(sps);
        r.push(1);
        r.extend_from_slice(&pps_len.to_be_bytes());
        r.extend_from_slice(pps);
        Some(r)
    }

    /// The record an encoder that sends its parameter sets in band (an empty sequence
    /// header, as ffmpeg's tee muxer without `global_header` does) would have sent: built
    /// from the first SPS and PPS of `frame` (see [`in_band_nal_units`]).
    pub fn record_in_band(frame: &[u8]) -> Option<Vec<u8>> {
        let mut sps = None;
        let mut pps = None;
        for n in in_band_nal_units(frame).ok()?.units {
            match nal_unit_type(n) {
                Some(nal_type::SPS) if sps.is_none() => sps = Some(n),
                Some(nal_type::PPS) if pps.is_none() => pps = Some(n),
                _ => {}
            }
        }
        Self::record(sps?, pps?)
    }
}

/// NAL length size of frames that follow an empty sequence header, when they are
/// length-prefixed at all: the 4 bytes of encoders that convert Annex B.
pub const IN_BAND_NAL_LENGTH_SIZE: u8 = 4;

/// How the NAL units of a frame that follows an empty sequence header are framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InBandUnits<'a> {
    /// The units, without their framing.
    pub units: Vec<&'a [u8]>,
    /// They came as Annex B (start codes), not length-prefixed.
    pub annexb: bool,
}

/// The NAL units of a frame that follows an empty sequence header. ffmpeg's FLV muxer
/// writes the encoder's Annex B as it is when it has no decoder configuration (its tee
/// muxer without `global_header`); others convert to 4-byte lengths. A length-prefixed
/// frame can start with `00 00 01` too (a unit of 256 to 511 bytes), so the frame is read
/// as 4-byte lengths when they account for it exactly and its first unit is longer than
/// one byte (Annex B's `00 00 00 01` would read as a 1-byte unit); as Annex B otherwise.
pub fn in_band_nal_units(frame: &[u8]) -> Result<InBandUnits<'_>, CodecError> {
    let prefixed: Result<Vec<&[u8]>, CodecError> =
        super::nal_units(frame, IN_BAND_NAL_LENGTH_SIZE).collect();
    match prefixed {
        Ok(units) if units.first().is_some_and(|u| u.len() > 1) || !super::is_annexb(frame) => {
            Ok(InBandUnits {
                units: units.into_iter().filter(|u| !u.is_empty()).collect(),
                annexb: false,
            })
        }
        Err(e) if !super::is_annexb(frame) => Err(e),
        _ => Ok(InBandUnits {
            units: super::annexb_nal_units(frame).unwrap_or_default(),
            annexb: true,
        }),
    }
}

/// The AVC sequence header (an FLV video body) for `sps` and `pps`; with an empty record
/// when a set is too long for the record's 16-bit length or the SPS too short.
pub fn sequence_header(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    sequence_header_of(&AvcDecoderConfig::record(sps, pps).unwrap_or_default())
}

/// The AVC sequence header (an FLV video body) carrying `record`.
pub fn sequence_header_of(record: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(5 + record.len());
    b.extend_from_slice(&[0x17, 0, 0, 0, 0]);
    b.extend_from_slice(record);
    b
}

/// Profiles whose SPS carries chroma format, bit depths and scaling matrices (H.264 7.3.2.1.1).
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Largest picture side, in macroblocks, that we accept: level 6.2 allows 8192 pixels
/// (512 macroblocks) a side; 4096 leaves room and keeps every product far from overflow.
pub const MAX_MBS_PER_SIDE: u32 = 4096;

/// What the HTTP API and the muxer need from a sequence parameter set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sps {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// `constraint_set0_flag` .. `constraint_set5_flag` and the reserved bits, as one byte.
    pub constraint_flags: u8,
    /// `level_idc` (level × 10, e.g. 31 for 3.1).
    pub level_idc: u8,
    /// `seq_parameter_set_id`.
    pub id: u32,
    /// `chroma_format_idc` (1 = 4:2:0 when absent).
    pub chroma_format_idc: u32,
    /// Luma bit depth.
    pub bit_depth_luma: u32,
    /// `frame_mbs_only_flag`: false for interlaced (field/MBAFF) coding.
    pub frame_mbs_only: bool,
    /// Displayed width in pixels, after frame cropping.
    pub width: u32,
    /// Displayed height in pixels (frame, not field), after frame cropping.
    pub height: u32,
}

impl Sps {
    /// Parse an SPS NAL unit, header byte included (`0x67 ...`).
    pub fn parse(nal: &[u8]) -> Result<Self, CodecError> {
        match nal_unit_type(nal) {
            Some(nal_type::SPS) => {}
            Some(t) => return Err(CodecError::UnexpectedNalType(t)),
            None => return Err(CodecError::Truncated),
        }
        let rbsp = ebsp_to_rbsp(&nal[1..]);
        let mut r = BitReader::new(&rbsp);
        let profile_idc = r.read_bits(8)? as u8;
        let constraint_flags = r.read_bits(8)? as u8;
        let level_idc = r.read_bits(8)? as u8;
        let id = r.read_ue()?;
        if id > 31 {
            return Err(CodecError::BadSps("seq_parameter_set_id"));
        }
        let mut chroma_format_idc = 1;
        let mut separate_colour_plane = false;
        let mut bit_depth_luma = 8;
        if has_chroma_info(profile_idc) {
            chroma_format_idc = r.read_ue()?;
            if chroma_format_idc > 3 {
                return Err(CodecError::BadSps("chroma_format_idc"));
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = r.read_bit()?;
            }
            let luma_minus8 = r.read_ue()?;
            let chroma_minus8 = r.read_ue()?;
            if luma_minus8 > 6 || chroma_minus8 > 6 {
                return Err(CodecError::BadSps("bit_depth"));
            }
            bit_depth_luma = 8 + luma_minus8;
            let _qpprime_y_zero_transform_bypass = r.read_bit()?;
            if r.read_bit()? {
                // seq_scaling_matrix_present_flag: six 4x4 lists, then two (or six for
                // 4:4:4) 8x8 lists, each present or not.
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.read_bit()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let log2_max_frame_num_minus4 = r.read_ue()?;
        if log2_max_frame_num_minus4 > 12 {
            return Err(CodecError::BadSps("log2_max_frame_num_minus4"));
        }
        match r.read_ue()? {
            0 => {
                let log2_max_poc_lsb_minus4 = r.read_ue()?;
                if log2_max_poc_lsb_minus4 > 12 {
                    return Err(CodecError::BadSps("log2_max_pic_order_cnt_lsb_minus4"));
                }
            }
            1 => {
                let _delta_pic_order_always_zero = r.read_bit()?;
                let _offset_for_non_ref_pic = r.read_se()?;
                let _offset_for_top_to_bottom_field = r.read_se()?;
                let cycle = r.read_ue()?;
                if cycle > 255 {
                    return Err(CodecError::BadSps("num_ref_frames_in_pic_order_cnt_cycle"));
                }
                for _ in 0..cycle {
                    let _offset_for_ref_frame = r.read_se()?;
                }
            }
            2 => {}
            _ => return Err(CodecError::BadSps("pic_order_cnt_type")),
        }
        let _max_num_ref_frames = r.read_ue()?;
        let _gaps_in_frame_num_value_allowed = r.read_bit()?;
        let width_mbs = r.read_ue()? as u64 + 1;
        let height_map_units = r.read_ue()? as u64 + 1;
        let frame_mbs_only = r.read_bit()?;
        if !frame_mbs_only {
            let _mb_adaptive_frame_field = r.read_bit()?;
        }
        let _direct_8x8_inference = r.read_bit()?;
        let (mut crop_left, mut crop_right, mut crop_top, mut crop_bottom) = (0u64, 0, 0, 0);
        if r.read_bit()? {
            crop_left = r.read_ue()?.into();
            crop_right = r.read_ue()?.into();
            crop_top = r.read_ue()?.into();
            crop_bottom = r.read_ue()?.into();
        }
        // VUI and the rest are not needed.

        let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
        let height_mbs = height_map_units * field_factor;
        if width_mbs > MAX_MBS_PER_SIDE as u64 || height_mbs > MAX_MBS_PER_SIDE as u64 {
            return Err(CodecError::BadSps("picture size"));
        }
        // H.264 7.4.2.1.1, equations 7-19 .. 7-22: the cropping unit depends on the chroma
        // subsampling and, for interlaced coding, counts field lines twice.
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (crop_unit_x, crop_unit_y) = match chroma_array_type {
            0 => (1, field_factor),
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        let full_w = width_mbs * 16;
        let full_h = height_mbs * 16;
        let crop_w = (crop_left + crop_right) * crop_unit_x;
        let crop_h = (crop_top + crop_bottom) * crop_unit_y;
        if crop_w >= full_w || crop_h >= full_h {
            return Err(CodecError::BadSps("frame cropping"));
        }
        Ok(Self {
            profile_idc,
            constraint_flags,
            level_idc,
            id,
            chroma_format_idc,
            bit_depth_luma,
            frame_mbs_only,
            width: (full_w - crop_w) as u32,
            height: (full_h - crop_h) as u32,
        })
    }

    /// Profile name as SRS reports it.
    pub fn profile_name(&self) -> &'static str {
        profile_name(self.profile_idc)
    }

    /// Level as SRS reports it ("3.1").
    pub fn level_name(&self) -> &'static str {
        level_name(self.level_idc)
    }
}

/// `scaling_list()` (H.264 7.3.2.1.1.1): read and discard, since only its length matters.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = r.read_se()?;
            if !(-128..=127).contains(&delta) {
                return Err(CodecError::BadSps("delta_scale"));
            }
            next_scale = (last_scale + delta + 256) % 256;
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

/// Profile name for a `profile_idc`, with SRS's strings (`srs_avc_profile2str`). SRS keys on
/// `profile_idc` alone, so a constrained-baseline stream reports "Baseline"; we do the same so
/// dashboards see the same values.
pub fn profile_name(profile_idc: u8) -> &'static str {
    match profile_idc {
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 => "High(10)",
        122 => "High(422)",
        144 => "High(444)",
        244 => "High(444+Predictive)",
        _ => "Other",
    }
}

/// Level name for a `level_idc` ("3.1" for 31), as SRS writes it; levels SRS does not list
/// (1b, 4.2, 5.2, 6.x) are named too instead of "Other".
pub fn level_name(level_idc: u8) -> &'static str {
    match level_idc {
        9 => "1b",
        10 => "1",
        11 => "1.1",
        12 => "1.2",
        13 => "1.3",
        20 => "2",
        21 => "2.1",
        22 => "2.2",
        30 => "3",
        31 => "3.1",
        32 => "3.2",
        40 => "4",
        41 => "4.1",
        42 => "4.2",
        50 => "5",
        51 => "5.1",
        52 => "5.2",
        60 => "6",
        61 => "6.1",
        62 => "6.2",
        _ => "Other",
    }
}

/// Big-endian reads with bounds checks, for the configuration records.
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated)?;
        let s = self.data.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, CodecError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames after an empty sequence header: Annex B or 4-byte lengths, told apart even
    /// when a length starts with `00 00 01` (a unit of 256 to 511 bytes).
    #[test]
    fn in_band_framing() {
        let mut unit = vec![0x41u8; 300];
        unit[0] = 0x41;
        let mut prefixed = (unit.len() as u32).to_be_bytes().to_vec();
        prefixed.extend_from_slice(&unit);
        assert!(crate::codec::is_annexb(&prefixed), "it looks like Annex B");
        let got = in_band_nal_units(&prefixed).unwrap();
        assert_eq!((got.annexb, got.units), (false, vec![&unit[..]]));
        let annexb = [
            0, 0, 0, 1, 0x67, 0x64, 0, 0x1e, 0, 0, 0, 1, 0x68, 0xeb, 0, 0, 1, 0x65, 9,
        ];
        let got = in_band_nal_units(&annexb).unwrap();
        assert_eq!(
            (got.annexb, got.units),
            (
                true,
                vec![&[0x67, 0x64, 0, 0x1e][..], &[0x68, 0xeb], &[0x65, 9]]
            )
        );
        assert!(
            in_band_nal_units(&[0, 0, 0, 9, 1]).is_err(),
            "neither framing"
        );
        assert_eq!(
            AvcDecoderConfig::record_in_band(&annexb).map(|r| r.len()),
            Some(6 + 2 + 4 + 1 + 2 + 2)
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Captured with:
    // ffmpeg -f lavfi -i testsrc=size=640x360 -pix_fmt yuv420p -c:v libx264 -profile:v high \
    //   -frames:v 1 -f h264 out.h264
    const HIGH_640X360_SPS: &str = "6764001eacd940a02ff97011000003000100000300320f162d96";
    const HIGH_640X360_PPS: &str = "68ebe3cb22c0";
    // ... -s 320x240 -profile:v baseline
    const BASELINE_320X240_SPS: &str = "6742c00dd90141fb011000000300100000030320f142a480";
    // ... -s 1280x720 -profile:v main
    const MAIN_1280X720_SPS: &str = "674d401feca02802dd80880000030008000003019078c18cb0";
    // ... -s 720x576 -pix_fmt yuv422p -x264-params interlaced=1:cqm=jvt (High 4:2:2, fields)
    const HIGH422_INTERLACED_720X576_SPS: &str = "677a001ebcd940b424d8088000000300800000190f8a14cb";

    #[test]
    fn sps_high_640x360_cropped() {
        let sps = Sps::parse(&hex(HIGH_640X360_SPS)).unwrap();
        assert_eq!(
            sps,
            Sps {
                profile_idc: 100,
                constraint_flags: 0,
                level_idc: 30,
                id: 0,
                chroma_format_idc: 1,
                bit_depth_luma: 8,
                frame_mbs_only: true,
                // 23 macroblock rows (368 lines) cropped by 8.
                width: 640,
                height: 360,
            }
        );
        assert_eq!(sps.profile_name(), "High");
        assert_eq!(sps.level_name(), "3");
    }

    #[test]
    fn sps_baseline_main_and_interlaced_422() {
        let b = Sps::parse(&hex(BASELINE_320X240_SPS)).unwrap();
        assert_eq!((b.width, b.height), (320, 240));
        assert_eq!((b.profile_name(), b.level_name()), ("Baseline", "1.3"));
        assert_eq!(b.constraint_flags, 0xc0);
        let m = Sps::parse(&hex(MAIN_1280X720_SPS)).unwrap();
        assert_eq!((m.width, m.height), (1280, 720));
        assert_eq!((m.profile_name(), m.level_name()), ("Main", "3.1"));
        let i = Sps::parse(&hex(HIGH422_INTERLACED_720X576_SPS)).unwrap();
        assert_eq!((i.width, i.height), (720, 576));
        assert_eq!(i.chroma_format_idc, 2);
        assert!(!i.frame_mbs_only);
        assert_eq!((i.profile_name(), i.level_name()), ("High(422)", "3"));
    }

    #[test]
    fn decoder_config_from_flv() {
        // The video sequence header body of `ffmpeg -f lavfi -i testsrc=size=320x240:rate=25
        // -c:v libx264 -g 25 -f flv`, after the 5-byte tag header.
        let body = hex(concat!(
            "0164000dffe100196764000dacd94141fb011000000300100000030320f142996001",
            "000668ebe3cb22c0fdf8f800"
        ));
        let c = AvcDecoderConfig::parse(&body).unwrap();
        assert_eq!(
            (c.version, c.profile_idc, c.level_idc, c.nal_length_size),
            (1, 100, 13, 4)
        );
        assert_eq!(c.sps.len(), 1);
        assert_eq!(c.pps, vec![Bytes::from(hex("68ebe3cb22c0"))]);
        let sps = c.parse_sps().unwrap();
        assert_eq!((sps.width, sps.height), (320, 240));
        assert_eq!((sps.profile_name(), sps.level_name()), ("High", "1.3"));
    }

    #[test]
    fn decoder_config_errors() {
        assert_eq!(
            AvcDecoderConfig::parse(&[1, 100]),
            Err(CodecError::Truncated)
        );
        // SPS length beyond the body.
        assert_eq!(
            AvcDecoderConfig::parse(&[1, 100, 0, 30, 0xff, 0xe1, 0x00, 0x10, 0x67]),
            Err(CodecError::Truncated)
        );
        assert_eq!(
            AvcDecoderConfig::parse(&[1, 100, 0, 30, 0xfe, 0xe0, 0]),
            Err(CodecError::BadNalLengthSize(3))
        );
        let no_sps = AvcDecoderConfig::parse(&[1, 66, 0, 30, 0xff, 0xe0, 0]).unwrap();
        assert_eq!(no_sps.parse_sps(), Err(CodecError::NoSps));
        assert_eq!(
            Sps::parse(&hex(HIGH_640X360_PPS)),
            Err(CodecError::UnexpectedNalType(8))
        );
        // Every truncation of a real SPS fails cleanly.
        let sps = hex(HIGH_640X360_SPS);
        for n in 0..9 {
            assert!(Sps::parse(&sps[..n]).is_err(), "{n}");
        }
    }

    /// Writes `u(n)`/`ue(v)`/`se(v)` to build SPSs with features x264 does not emit.
    struct BitWriter {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        fn new() -> Self {
            Self {
                bytes: Vec::new(),
                bits: 0,
            }
        }
        // `%`, not `is_multiple_of` (Rust 1.87): the workspace supports 1.80.
        #[allow(unknown_lints, clippy::manual_is_multiple_of)]
        fn bit(&mut self, b: bool) {
            if self.bits % 8 == 0 {
                self.bytes.push(0);
            }
            if b {
                *self.bytes.last_mut().unwrap() |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
        }
        fn bits(&mut self, n: u32, v: u32) {
            for i in (0..n).rev() {
                self.bit(v >> i & 1 == 1);
            }
        }
        fn ue(&mut self, v: u32) {
            let x = v as u64 + 1;
            let len = 64 - x.leading_zeros();
            self.bits(len - 1, 0);
            for i in (0..len).rev() {
                self.bit(x >> i & 1 == 1);
            }
        }
        fn se(&mut self, v: i32) {
            self.ue(if v > 0 {
                (2 * v - 1) as u32
            } else {
                (-2 * v) as u32
            });
        }
        /// rbsp_trailing_bits, then emulation prevention.
        fn finish(mut self) -> Vec<u8> {
            self.bit(true);
            let mut out = vec![0x67];
            let mut zeros = 0;
            for b in self.bytes {
                if zeros >= 2 && b <= 3 {
                    out.push(3);
                    zeros = 0;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                out.push(b);
            }
            out
        }
    }

    #[test]
    fn sps_with_scaling_lists_444_and_poc_type_1() {
        let mut w = BitWriter::new();
        w.bits(8, 244); // High 4:4:4 Predictive
        w.bits(8, 0);
        w.bits(8, 40);
        w.ue(0); // sps id
        w.ue(3); // chroma 4:4:4
        w.bit(false); // separate_colour_plane
        w.ue(2); // bit depth luma - 8
        w.ue(2); // bit depth chroma - 8
        w.bit(false); // qpprime bypass
        w.bit(true); // scaling matrix present: 12 lists for 4:4:4
        for i in 0..12 {
            let present = i % 3 != 1;
            w.bit(present);
            if present {
                let n = if i < 6 { 16 } else { 64 };
                if i == 0 {
                    // delta that ends the list early (nextScale == 0).
                    w.se(-8);
                } else {
                    for j in 0..n {
                        w.se(if j % 2 == 0 { 3 } else { -2 });
                    }
                }
            }
        }
        w.ue(0); // log2_max_frame_num - 4
        w.ue(1); // poc type 1
        w.bit(false);
        w.se(-3);
        w.se(5);
        w.ue(3);
        for v in [1, -1, 7] {
            w.se(v);
        }
        w.ue(4); // max_num_ref_frames
        w.bit(false);
        w.ue(119); // 1920 / 16 - 1
        w.ue(67); // 1088 / 16 - 1
        w.bit(true); // frame_mbs_only
        w.bit(true); // direct_8x8
        w.bit(true); // cropping: 4:4:4 crops in whole pixels
        w.ue(0);
        w.ue(0);
        w.ue(0);
        w.ue(8);
        w.bit(false); // no VUI
        let sps = Sps::parse(&w.finish()).unwrap();
        assert_eq!((sps.width, sps.height), (1920, 1080));
        assert_eq!((sps.chroma_format_idc, sps.bit_depth_luma), (3, 10));
        assert_eq!(
            (sps.profile_name(), sps.level_name()),
            ("High(444+Predictive)", "4")
        );
    }

    #[test]
    fn sps_field_coding_monochrome_crop() {
        // High profile, 4:0:0, interlaced: crop unit is (1, 2) lines.
        let mut w = BitWriter::new();
        w.bits(8, 100);
        w.bits(8, 0);
        w.bits(8, 31);
        w.ue(1);
        w.ue(0); // monochrome
        w.ue(0);
        w.ue(0);
        w.bit(false);
        w.bit(false);
        w.ue(0);
        w.ue(2); // poc type 2
        w.ue(1);
        w.bit(false);
        w.ue(44); // 720 / 16 - 1
        w.ue(17); // 18 map units = 36 macroblock rows = 576 lines
        w.bit(false); // field coding
        w.bit(true); // mbaff
        w.bit(true);
        w.bit(true);
        w.ue(2);
        w.ue(2);
        w.ue(4);
        w.ue(4);
        w.bit(false);
        let sps = Sps::parse(&w.finish()).unwrap();
        assert_eq!((sps.width, sps.height, sps.id), (716, 560, 1));
        assert_eq!(sps.level_name(), "3.1");
    }

    #[test]
    fn names() {
        assert_eq!(profile_name(110), "High(10)");
        assert_eq!(profile_name(1), "Other");
        assert_eq!(level_name(51), "5.1");
        assert_eq!(level_name(99), "Other");
    }
}
