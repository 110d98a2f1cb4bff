//! Bit-level reading of codec headers: the `u(n)`, `ue(v)` and `se(v)` descriptors of
//! ITU-T H.264 section 7.2 / 9.1, and the removal of emulation-prevention bytes
//! (section 7.4.1) that turns a NAL unit payload (EBSP) back into its RBSP.

use super::CodecError;

/// Longest run of leading zero bits an Exp-Golomb code may have here. 31 zeros already encode
/// values up to 2^32 - 2; more only come from garbage, and would overflow `u32`.
pub const MAX_EXP_GOLOMB_ZEROS: u32 = 31;

/// Reads bits most-significant first from a byte slice.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bits not read yet.
    pub fn bits_left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// `u(1)`.
    pub fn read_bit(&mut self) -> Result<bool, CodecError> {
        let byte = *self
            .data
            .get(self.pos / 8)
            .ok_or(CodecError::BitstreamEnded)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// `u(n)` for `n` up to 32.
    pub fn read_bits(&mut self, n: u32) -> Result<u32, CodecError> {
        debug_assert!(n <= 32);
        if self.bits_left() < n as usize {
            return Err(CodecError::BitstreamEnded);
        }
        let mut v: u64 = 0;
        for _ in 0..n {
            v = v << 1 | u64::from(self.read_bit()?);
        }
        Ok(v as u32)
    }

    /// Skip `n` bits.
    pub fn skip_bits(&mut self, n: usize) -> Result<(), CodecError> {
        if self.bits_left() < n {
            return Err(CodecError::BitstreamEnded);
        }
        self.pos += n;
        Ok(())
    }

    /// `ue(v)`: unsigned Exp-Golomb (H.264 9.1).
    pub fn read_ue(&mut self) -> Result<u32, CodecError> {
        let mut zeros = 0u32;
        while !self.read_bit()? {
            zeros += 1;
            if zeros > MAX_EXP_GOLOMB_ZEROS {
                return Err(CodecError::ExpGolombTooLong);
            }
        }
        if zeros == 0 {
            return Ok(0);
        }
        let rest = self.read_bits(zeros)?;
        // 2^zeros - 1 + rest <= 2^32 - 2 for zeros <= 31.
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }

    /// `se(v)`: signed Exp-Golomb (H.264 9.1.1): 0, 1, -1, 2, -2, ...
    pub fn read_se(&mut self) -> Result<i32, CodecError> {
        let k = i64::from(self.read_ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

/// Removes emulation-prevention bytes: every `0x03` that follows two zero bytes inside a NAL
/// unit was inserted by the encoder so the payload never looks like a start code.
pub fn ebsp_to_rbsp(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0usize;
    for &b in ebsp {
        if zeros >= 2 && b == 0x03 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 | 0000 0001 0000 = 0,1,2,3,4 then 15
        // bits: 1 010 011 00100 00101 000010000
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0100, 0b0000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_ue().unwrap(), 0);
        assert_eq!(r.read_ue().unwrap(), 1);
        assert_eq!(r.read_ue().unwrap(), 2);
        assert_eq!(r.read_ue().unwrap(), 3);
        assert_eq!(r.read_ue().unwrap(), 4);
        assert_eq!(r.read_ue().unwrap(), 15);
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_se().unwrap(), 0);
        assert_eq!(r.read_se().unwrap(), 1);
        assert_eq!(r.read_se().unwrap(), -1);
        assert_eq!(r.read_se().unwrap(), 2);
        assert_eq!(r.read_se().unwrap(), -2);
    }

    #[test]
    fn exp_golomb_limits() {
        // 31 zeros then a one and 31 ones: the largest value we accept.
        let mut data = vec![0u8; 3];
        data.extend_from_slice(&[0x01, 0xff, 0xff, 0xff, 0xfe]);
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_ue().unwrap(), u32::MAX - 1);
        // 32 zeros: refused rather than overflowing.
        let mut r = BitReader::new(&[0, 0, 0, 0, 0x80]);
        assert_eq!(r.read_ue(), Err(CodecError::ExpGolombTooLong));
        let mut r = BitReader::new(&[0x00]);
        assert_eq!(r.read_ue(), Err(CodecError::BitstreamEnded));
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(9), Err(CodecError::BitstreamEnded));
        assert_eq!(r.read_bits(8).unwrap(), 0xff);
    }

    #[test]
    fn emulation_prevention() {
        assert_eq!(
            ebsp_to_rbsp(&[0x67, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3]),
            vec![0x67, 0, 0, 1, 0, 0, 0, 0]
        );
        // A 0x03 after a single zero is data.
        assert_eq!(ebsp_to_rbsp(&[0, 3, 0, 0, 0, 3]), vec![0, 3, 0, 0, 0]);
    }
}
