//! AAC: the AudioSpecificConfig an AAC sequence header carries (ISO/IEC 14496-3 section
//! 1.6.2.1), and the ADTS header (ISO/IEC 13818-7 section 6.2 / 14496-3 1.A.2) that MPEG-TS
//! needs in front of every raw AAC frame.

use super::bits::BitReader;
use super::CodecError;

/// Sampling frequencies by `samplingFrequencyIndex` (14496-3 table 1.18).
pub const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Audio object types we name (14496-3 table 1.17).
pub mod object_type {
    /// AAC Main.
    pub const MAIN: u8 = 1;
    /// AAC Low Complexity.
    pub const LC: u8 = 2;
    /// AAC Scalable Sample Rate.
    pub const SSR: u8 = 3;
    /// AAC Long Term Prediction.
    pub const LTP: u8 = 4;
    /// Spectral band replication: HE-AAC.
    pub const SBR: u8 = 5;
    /// Parametric stereo: HE-AAC v2.
    pub const PS: u8 = 29;
}

/// Largest raw frame an ADTS header can frame: the 13-bit frame length includes the 7-byte
/// header.
pub const MAX_ADTS_PAYLOAD: usize = 0x1fff - 7;

/// The fields of an AudioSpecificConfig that players and the muxer use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Signalled audio object type (2 LC, 5 HE, 29 HEv2, ...).
    pub object_type: u8,
    /// Object type of the core AAC layer: the signalled type, or for explicit HE-AAC
    /// signalling (types 5 and 29) the type that follows (usually 2, LC).
    pub core_object_type: u8,
    /// `samplingFrequencyIndex`, 15 when the frequency is explicit.
    pub sampling_frequency_index: u8,
    /// Sampling frequency of the core layer in Hz.
    pub sample_rate: u32,
    /// Output sampling frequency of the SBR layer (HE-AAC), when signalled.
    pub extension_sample_rate: Option<u32>,
    /// `channelConfiguration` (1 mono, 2 stereo, ..., 0 defined in-band).
    pub channel_configuration: u8,
}

fn object_type(r: &mut BitReader<'_>) -> Result<u8, CodecError> {
    let t = r.read_bits(5)? as u8;
    if t == 31 {
        Ok(32 + r.read_bits(6)? as u8)
    } else {
        Ok(t)
    }
}

fn frequency(r: &mut BitReader<'_>) -> Result<(u8, u32), CodecError> {
    let index = r.read_bits(4)? as u8;
    let hz = match index {
        15 => r.read_bits(24)?,
        i if (i as usize) < SAMPLE_RATES.len() => SAMPLE_RATES[i as usize],
        i => return Err(CodecError::BadSamplingFrequencyIndex(i)),
    };
    if hz == 0 {
        return Err(CodecError::BadSamplingFrequencyIndex(index));
    }
    Ok((index, hz))
}

impl AudioSpecificConfig {
    /// Parse the config (the sequence header body after the 2-byte FLV audio tag header).
    /// What follows the fields above (GASpecificConfig, extensions) is not needed and ignored.
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        let mut r = BitReader::new(data);
        let signalled = object_type(&mut r)?;
        if signalled == 0 {
            return Err(CodecError::BadAudioObjectType(0));
        }
        let (sampling_frequency_index, sample_rate) = frequency(&mut r)?;
        let channel_configuration = r.read_bits(4)? as u8;
        let mut core_object_type = signalled;
        let mut extension_sample_rate = None;
        if signalled == object_type::SBR || signalled == object_type::PS {
            // Explicit hierarchical signalling (14496-3 1.6.5.2): the first frequency is the
            // core's, then the SBR output frequency and the core object type follow.
            extension_sample_rate = Some(frequency(&mut r)?.1);
            core_object_type = object_type(&mut r)?;
        }
        Ok(Self {
            object_type: signalled,
            core_object_type,
            sampling_frequency_index,
            sample_rate,
            extension_sample_rate,
            channel_configuration,
        })
    }

    /// Profile name as SRS reports it (`srs_aac_object2str`): "LC", "HE", "HEv2", "Main",
    /// "SSR", else "Other".
    pub fn profile_name(&self) -> &'static str {
        match self.object_type {
            object_type::MAIN => "Main",
            object_type::LC => "LC",
            object_type::SSR => "SSR",
            object_type::SBR => "HE",
            object_type::PS => "HEv2",
            _ => "Other",
        }
    }

    /// Channel count (configurations 1..=6 are that many channels, 7 is 7.1, 0 is unknown).
    pub fn channels(&self) -> u8 {
        match self.channel_configuration {
            7 => 8,
            c => c,
        }
    }

    /// The 7-byte ADTS header (no CRC) for a raw frame of `payload_len` bytes. HE-AAC is framed
    /// as its LC core (players find the SBR data implicitly), which is what SRS and ffmpeg do.
    pub fn adts_header(&self, payload_len: usize) -> Result<[u8; 7], CodecError> {
        // ADTS profile is a 2-bit object type minus one: only Main, LC, SSR and LTP fit.
        if !(object_type::MAIN..=object_type::LTP).contains(&self.core_object_type) {
            return Err(CodecError::NotAdtsCompatible("object type"));
        }
        let index = if self.sampling_frequency_index == 15 {
            // An explicit frequency that happens to be a standard one still fits.
            SAMPLE_RATES
                .iter()
                .position(|&hz| hz == self.sample_rate)
                .ok_or(CodecError::NotAdtsCompatible("sampling frequency"))? as u8
        } else {
            self.sampling_frequency_index
        };
        if self.channel_configuration > 7 {
            return Err(CodecError::NotAdtsCompatible("channel configuration"));
        }
        if payload_len > MAX_ADTS_PAYLOAD {
            return Err(CodecError::AdtsFrameTooLarge(payload_len));
        }
        let profile = self.core_object_type - 1;
        let ch = self.channel_configuration;
        let len = payload_len + 7;
        Ok([
            0xff,
            // MPEG-4, layer 0, no CRC.
            0xf1,
            profile << 6 | index << 2 | (ch >> 2),
            (ch & 3) << 6 | (len >> 11) as u8,
            (len >> 3) as u8,
            // Buffer fullness 0x7ff (variable rate), one raw data block.
            ((len & 7) as u8) << 5 | 0x1f,
            0xfc,
        ])
    }
}

/// Parse an ADTS header: (config, frame length including the header). For tests and tools.
pub fn parse_adts(data: &[u8]) -> Result<(AudioSpecificConfig, usize), CodecError> {
    if data.len() < 7 || data[0] != 0xff || data[1] & 0xf0 != 0xf0 {
        return Err(CodecError::Truncated);
    }
    let index = (data[2] >> 2) & 0x0f;
    let sample_rate = *SAMPLE_RATES
        .get(index as usize)
        .ok_or(CodecError::BadSamplingFrequencyIndex(index))?;
    let object = (data[2] >> 6) + 1;
    let ch = (data[2] & 1) << 2 | data[3] >> 6;
    let len = ((data[3] & 3) as usize) << 11 | (data[4] as usize) << 3 | (data[5] >> 5) as usize;
    Ok((
        AudioSpecificConfig {
            object_type: object,
            core_object_type: object,
            sampling_frequency_index: index,
            sample_rate,
            extension_sample_rate: None,
            channel_configuration: ch,
        },
        len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_configs() {
        // `ffmpeg -f lavfi -i sine -c:a aac -f flv`: sequence header body af 00 12 08 56 e5 00
        // (LC, 44.1 kHz, mono, then the 0x2b7 backward-compatible SBR sync extension).
        let c = AudioSpecificConfig::parse(&[0x12, 0x08, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!(
            c,
            AudioSpecificConfig {
                object_type: 2,
                core_object_type: 2,
                sampling_frequency_index: 4,
                sample_rate: 44100,
                extension_sample_rate: None,
                channel_configuration: 1,
            }
        );
        assert_eq!((c.profile_name(), c.channels()), ("LC", 1));
        // `-i sine=sample_rate=48000 -ac 1`: af 00 11 88 56 e5 00.
        let c = AudioSpecificConfig::parse(&[0x11, 0x88, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!((c.sample_rate, c.channels()), (48000, 1));
        // LC 44.1 kHz stereo, the most common config of all.
        let c = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!((c.sample_rate, c.channels()), (44100, 2));
        assert_eq!(
            c.adts_header(371).unwrap(),
            // frame length 378 = 0x17a
            [0xff, 0xf1, 0x50, 0x80, 0x2f, 0x5f, 0xfc]
        );
        let (back, len) = parse_adts(&c.adts_header(371).unwrap()).unwrap();
        assert_eq!(
            (back.sample_rate, back.channel_configuration, len),
            (44100, 2, 378)
        );
    }

    #[test]
    fn he_aac_explicit() {
        // HE-AAC: object 5, core 22.05 kHz (index 7), stereo, SBR at 44.1 kHz (index 4), core
        // LC: 00101 0111 0010 0100 00010 000
        let c = AudioSpecificConfig::parse(&[0x2b, 0x92, 0x08, 0x00]).unwrap();
        assert_eq!(c.profile_name(), "HE");
        assert_eq!(
            (c.core_object_type, c.sample_rate, c.extension_sample_rate),
            (2, 22050, Some(44100))
        );
        // Framed as LC at the core rate.
        assert_eq!(c.adts_header(0).unwrap()[2], 1 << 6 | 7 << 2);
        // HEv2: object 29 (11101) 0110 (24 kHz) 0001 (mono, PS upmixes) 0011 (48 kHz) 00010
        let c = AudioSpecificConfig::parse(&[0xeb, 0x09, 0x88, 0x00]).unwrap();
        assert_eq!(
            (c.profile_name(), c.sample_rate, c.extension_sample_rate),
            ("HEv2", 24000, Some(48000))
        );
    }

    #[test]
    fn explicit_frequency_and_errors() {
        // LC, index 15, 24-bit 44100 (0x00ac44), stereo: 00010 1111 000000001010110001000100 0010
        let c = AudioSpecificConfig::parse(&[0x17, 0x80, 0x56, 0x22, 0x10]).unwrap();
        assert_eq!((c.sampling_frequency_index, c.sample_rate), (15, 44100));
        assert_eq!(c.adts_header(0).unwrap()[2] >> 2 & 0xf, 4);
        // 12345 Hz cannot be written in ADTS.
        let c = AudioSpecificConfig::parse(&[0x17, 0x80, 0x18, 0x1c, 0x90]).unwrap();
        assert_eq!(c.sample_rate, 12345);
        assert_eq!(
            c.adts_header(0),
            Err(CodecError::NotAdtsCompatible("sampling frequency"))
        );
        assert_eq!(
            AudioSpecificConfig::parse(&[0x12]),
            Err(CodecError::BitstreamEnded)
        );
        assert_eq!(
            AudioSpecificConfig::parse(&[0x16, 0x90]),
            Err(CodecError::BadSamplingFrequencyIndex(13))
        );
        assert_eq!(
            AudioSpecificConfig::parse(&[0x02, 0x10]),
            Err(CodecError::BadAudioObjectType(0))
        );
        let lc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(
            lc.adts_header(MAX_ADTS_PAYLOAD + 1),
            Err(CodecError::AdtsFrameTooLarge(MAX_ADTS_PAYLOAD + 1))
        );
        assert!(lc.adts_header(MAX_ADTS_PAYLOAD).is_ok());
    }
}
