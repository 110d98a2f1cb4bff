//! Reading MP4 (ISO/IEC 14496-12) files, sans-I/O: the top-level box headers a reader
//! walks to find `moov` (before or after `mdat`), and the `moov` itself turned into the
//! tracks' decoder configurations and one list of samples in decoding order, each with its
//! place in the file. What srs-librtmp's `srs_mp4_*` reader gives C programs.
//!
//! Handled: H.264 (`avc1`/`avc3` with `avcC`), AAC and MP3 (`mp4a` with `esds`), the sample
//! tables (`stts`, `ctts` v0/v1, `stss`, `stsc`, `stsz`, `stco`/`co64`) and the start of
//! the edit list (a track that starts late, or skips its first media). Other tracks are
//! skipped. Every count is checked against the bytes that carry it, so a hostile file
//! cannot make us allocate more than [`MAX_SAMPLES`] samples.

use crate::codec::aac::AudioSpecificConfig;
use crate::mp4::TrackKind;

/// Why a file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mp4ReadError {
    /// A box or field runs past its container.
    #[error("mp4: {0} truncated")]
    Truncated(&'static str),
    /// A box or table says something impossible.
    #[error("mp4: bad {0}")]
    Bad(&'static str),
    /// More samples than we hold.
    #[error("mp4: {0} samples, more than {MAX_SAMPLES}")]
    TooManySamples(u64),
    /// No track we can read.
    #[error("mp4: no H.264, AAC or MP3 track")]
    NoTrack,
}

/// Most samples a file may have (about 17 hours of 25 fps video with 44.1 kHz AAC): a
/// table that says more is refused before anything is allocated for it.
pub const MAX_SAMPLES: u64 = 4 << 20;

/// A box header: type, header length (8 or 16) and the whole box's size (`None`: it runs
/// to the end of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    /// The four-character type.
    pub kind: [u8; 4],
    /// Bytes of header before the body.
    pub header_len: u64,
    /// Size of the box with its header; `None` for a last box of size 0.
    pub size: Option<u64>,
}

/// Parse the box header at the start of `b` (16 bytes are enough for any header).
pub fn box_header(b: &[u8]) -> Result<BoxHeader, Mp4ReadError> {
    let head = b.get(..8).ok_or(Mp4ReadError::Truncated("box header"))?;
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let kind = [head[4], head[5], head[6], head[7]];
    let (header_len, size) = match size32 {
        0 => (8, None),
        1 => {
            let large = b.get(8..16).ok_or(Mp4ReadError::Truncated("box header"))?;
            let mut s = [0u8; 8];
            s.copy_from_slice(large);
            (16, Some(u64::from_be_bytes(s)))
        }
        n => (8, Some(u64::from(n))),
    };
    if size.is_some_and(|s| s < header_len) {
        return Err(Mp4ReadError::Bad("box size"));
    }
    Ok(BoxHeader {
        kind,
        header_len,
        size,
    })
}

/// The child boxes of a body: (type, body).
fn children(mut b: &[u8]) -> impl Iterator<Item = Result<([u8; 4], &[u8]), Mp4ReadError>> {
    std::iter::from_fn(move || {
        if b.is_empty() {
            return None;
        }
        let h = match box_header(b) {
            Ok(h) => h,
            Err(e) => {
                b = &[];
                return Some(Err(e));
            }
        };
        let size = h.size.unwrap_or(b.len() as u64);
        let Some(size) = usize::try_from(size).ok().filter(|&s| s <= b.len()) else {
            b = &[];
            return Some(Err(Mp4ReadError::Truncated("box")));
        };
        let body = &b[h.header_len as usize..size];
        b = &b[size..];
        Some(Ok((h.kind, body)))
    })
}

/// The first child of type `kind`, if any.
fn child<'a>(b: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, Mp4ReadError> {
    for c in children(b) {
        let (k, body) = c?;
        if &k == kind {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

/// A big-endian reader over a box body.
struct Rd<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8], what: &'static str) -> Rd<'a> {
        Rd { b, what }
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Mp4ReadError> {
        if self.b.len() < n {
            return Err(Mp4ReadError::Truncated(self.what));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, Mp4ReadError> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Mp4ReadError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, Mp4ReadError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, Mp4ReadError> {
        Ok(u64::from(self.u32()?) << 32 | u64::from(self.u32()?))
    }
    /// A table's entry count, checked against the bytes left for `entry` bytes each.
    fn count(&mut self, entry: usize) -> Result<usize, Mp4ReadError> {
        let n = self.u32()? as usize;
        if n.checked_mul(entry).is_none_or(|len| len > self.b.len()) {
            return Err(Mp4ReadError::Truncated(self.what));
        }
        Ok(n)
    }
}

/// A track's codec and its decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackCodec {
    /// H.264 with its AVCDecoderConfigurationRecord.
    Avc { avcc: Vec<u8> },
    /// AAC with its AudioSpecificConfig.
    Aac {
        asc: Vec<u8>,
        sample_rate: u32,
        channels: u16,
    },
    /// MP3.
    Mp3 { sample_rate: u32, channels: u16 },
}

/// One track we can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// Video or audio.
    pub kind: TrackKind,
    /// Its codec.
    pub codec: TrackCodec,
}

/// One sample: where it is in the file and when it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// The track it belongs to.
    pub track: TrackKind,
    /// Offset of its data from the start of the file.
    pub offset: u64,
    /// Bytes of data.
    pub size: u32,
    /// Decoding time, ms.
    pub dts_ms: u64,
    /// Presentation time minus decoding time, ms (negative with `ctts` version 1).
    pub cts_ms: i32,
    /// A sync sample (a keyframe; every audio sample).
    pub sync: bool,
}

/// What a `moov` describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Movie {
    /// The first video track we can read.
    pub video: Option<Track>,
    /// The first audio track we can read.
    pub audio: Option<Track>,
    /// Both tracks' samples, by decoding time (file order among equal times).
    pub samples: Vec<Sample>,
}

/// Read a `moov` box body.
pub fn parse_moov(moov: &[u8]) -> Result<Movie, Mp4ReadError> {
    let mvhd = child(moov, b"mvhd")?.ok_or(Mp4ReadError::Bad("moov without mvhd"))?;
    let movie_timescale = timescale(mvhd, "mvhd")?;
    let mut movie = Movie::default();
    // The tracks read: each with its samples and its edit offset (ms).
    let mut read: Vec<(Track, Vec<Sample>, i64)> = Vec::new();
    for c in children(moov) {
        let (kind, trak) = c?;
        if &kind != b"trak" {
            continue;
        }
        // Only the first track of each kind is read; the others are not expanded.
        let taken = match trak_kind(trak)? {
            Some(TrackKind::Video) => movie.video.is_some(),
            Some(TrackKind::Audio) => movie.audio.is_some(),
            None => true,
        };
        if taken {
            continue;
        }
        let budget = MAX_SAMPLES - read.iter().map(|(_, s, _)| s.len() as u64).sum::<u64>();
        if let Some(t) = parse_trak(trak, movie_timescale, budget)? {
            match t.0.kind {
                TrackKind::Video => movie.video = Some(t.0.clone()),
                TrackKind::Audio => movie.audio = Some(t.0.clone()),
            }
            read.push(t);
        }
    }
    if movie.video.is_none() && movie.audio.is_none() {
        return Err(Mp4ReadError::NoTrack);
    }
    // Each track's edit moves it on the movie's timeline; the earliest start is time 0.
    let shift = read.iter().map(|(_, _, o)| *o).min().unwrap_or(0).min(0);
    for (_, samples, offset) in read {
        let by = offset - shift;
        movie.samples.extend(samples.into_iter().map(|mut s| {
            s.dts_ms = s.dts_ms.saturating_add_signed(by);
            s
        }));
    }
    movie.samples.sort_by_key(|s| (s.dts_ms, s.offset));
    Ok(movie)
}

/// The timescale of an `mvhd` or `mdhd` body.
fn timescale(b: &[u8], what: &'static str) -> Result<u32, Mp4ReadError> {
    let mut r = Rd::new(b, what);
    let version = r.u8()?;
    r.bytes(3)?;
    r.bytes(if version == 1 { 16 } else { 8 })?;
    match r.u32()? {
        0 => Err(Mp4ReadError::Bad("timescale 0")),
        t => Ok(t),
    }
}

/// A track's kind by its handler: `None` for neither video nor audio.
fn trak_kind(trak: &[u8]) -> Result<Option<TrackKind>, Mp4ReadError> {
    let mdia = child(trak, b"mdia")?.ok_or(Mp4ReadError::Bad("trak without mdia"))?;
    let hdlr = child(mdia, b"hdlr")?.ok_or(Mp4ReadError::Bad("mdia without hdlr"))?;
    Ok(match &Rd::new(hdlr, "hdlr").bytes(12)?[8..12] {
        b"vide" => Some(TrackKind::Video),
        b"soun" => Some(TrackKind::Audio),
        _ => None,
    })
}

/// A track we can read, its samples (at most `budget` of them) and where its edit list
/// puts it on the movie's timeline (ms, negative when it skips media); `None` for any
/// other track.
fn parse_trak(
    trak: &[u8],
    movie_timescale: u32,
    budget: u64,
) -> Result<Option<(Track, Vec<Sample>, i64)>, Mp4ReadError> {
    let Some(kind) = trak_kind(trak)? else {
        return Ok(None);
    };
    let mdia = child(trak, b"mdia")?.ok_or(Mp4ReadError::Bad("trak without mdia"))?;
    let mdhd = child(mdia, b"mdhd")?.ok_or(Mp4ReadError::Bad("mdia without mdhd"))?;
    let ts = u64::from(timescale(mdhd, "mdhd")?);
    let stbl = child(mdia, b"minf")?
        .map(|minf| child(minf, b"stbl"))
        .transpose()?
        .flatten()
        .ok_or(Mp4ReadError::Bad("track without stbl"))?;
    let stsd = child(stbl, b"stsd")?.ok_or(Mp4ReadError::Bad("stbl without stsd"))?;
    let Some(codec) = sample_entry(stsd)? else {
        return Ok(None);
    };
    let offset_ms = match child(trak, b"edts")?
        .map(|e| child(e, b"elst"))
        .transpose()?
    {
        Some(Some(elst)) => edit_offset(elst, movie_timescale, ts),
        _ => 0,
    };
    let samples = sample_table(stbl, kind, ts, budget)?;
    Ok(Some((Track { kind, codec }, samples, offset_ms)))
}

/// Where an edit list puts a track, in ms: empty edits first delay it (movie timescale),
/// then the first edit with media starts at its media time (media timescale), which
/// skips what comes before it (ffmpeg's B-frame delay, AAC priming). Later edits are not
/// followed.
fn edit_offset(elst: &[u8], movie_timescale: u32, media_timescale: u64) -> i64 {
    // A list cut short counts for what it has: a slightly wrong edit list is no reason to
    // refuse the file.
    let mut delay = 0i128;
    let mut skip = 0i128;
    let _ = (|| -> Result<(), Mp4ReadError> {
        let mut r = Rd::new(elst, "elst");
        let version = r.u8()?;
        r.bytes(3)?;
        let entries = r.u32()?;
        for _ in 0..entries {
            let (duration, media_time) = if version == 1 {
                (i128::from(r.u64()?), i128::from(r.u64()? as i64))
            } else {
                (i128::from(r.u32()?), i128::from(r.u32()? as i32))
            };
            r.bytes(4)?; // media rate
            if media_time == -1 {
                delay += duration;
            } else {
                skip = media_time.max(0);
                break;
            }
        }
        Ok(())
    })();
    let ms = delay * 1000 / i128::from(movie_timescale) - skip * 1000 / i128::from(media_timescale);
    i64::try_from(ms.clamp(-(1 << 40), 1 << 40)).unwrap_or(0)
}

/// The first sample entry of an `stsd`, if it is a codec we read.
fn sample_entry(stsd: &[u8]) -> Result<Option<TrackCodec>, Mp4ReadError> {
    let mut r = Rd::new(stsd, "stsd");
    r.bytes(8)?; // version, flags, entry count
    let Some(first) = children(r.b).next() else {
        return Ok(None);
    };
    let (kind, body) = first?;
    match &kind {
        b"avc1" | b"avc3" => {
            // VisualSampleEntry: 78 bytes before its child boxes.
            let boxes = body.get(78..).ok_or(Mp4ReadError::Truncated("avc1"))?;
            let avcc = child(boxes, b"avcC")?.ok_or(Mp4ReadError::Bad("avc1 without avcC"))?;
            Ok(Some(TrackCodec::Avc {
                avcc: avcc.to_vec(),
            }))
        }
        b"mp4a" | b".mp3" => {
            // AudioSampleEntry: 28 bytes before its child boxes.
            let mut e = Rd::new(body, "mp4a");
            e.bytes(16)?;
            let channels = e.u16()?;
            e.bytes(6)?;
            let rate = e.u32()? >> 16;
            if &kind == b".mp3" {
                return Ok(Some(TrackCodec::Mp3 {
                    sample_rate: rate,
                    channels,
                }));
            }
            let esds = child(e.b, b"esds")?.ok_or(Mp4ReadError::Bad("mp4a without esds"))?;
            let (object_type, dsi) = parse_esds(esds)?;
            match object_type {
                0x40 | 0x66 | 0x67 | 0x68 => {
                    let asc = dsi.ok_or(Mp4ReadError::Bad("AAC without its config"))?;
                    let c = AudioSpecificConfig::parse(asc)
                        .map_err(|_| Mp4ReadError::Bad("AudioSpecificConfig"))?;
                    Ok(Some(TrackCodec::Aac {
                        asc: asc.to_vec(),
                        sample_rate: c.sample_rate,
                        channels: u16::from(c.channels()),
                    }))
                }
                0x69 | 0x6b => Ok(Some(TrackCodec::Mp3 {
                    sample_rate: rate,
                    channels,
                })),
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// An MPEG-4 descriptor: tag and body (ISO/IEC 14496-1 8.3.3, lengths of up to 4 bytes).
fn descriptor<'a>(r: &mut Rd<'a>) -> Result<(u8, &'a [u8]), Mp4ReadError> {
    let tag = r.u8()?;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = r.u8()?;
        len = len << 7 | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    Ok((tag, r.bytes(len)?))
}

/// `esds`: the object type and the decoder specific info (an AAC AudioSpecificConfig).
fn parse_esds(esds: &[u8]) -> Result<(u8, Option<&[u8]>), Mp4ReadError> {
    let mut r = Rd::new(esds, "esds");
    r.bytes(4)?;
    let (tag, es) = descriptor(&mut r)?;
    if tag != 0x03 {
        return Err(Mp4ReadError::Bad("esds without ES_Descriptor"));
    }
    let mut e = Rd::new(es, "ES_Descriptor");
    e.bytes(2)?;
    let flags = e.u8()?;
    if flags & 0x80 != 0 {
        e.bytes(2)?;
    }
    if flags & 0x40 != 0 {
        let n = e.u8()?;
        e.bytes(usize::from(n))?;
    }
    if flags & 0x20 != 0 {
        e.bytes(2)?;
    }
    while !e.b.is_empty() {
        let (tag, body) = descriptor(&mut e)?;
        if tag != 0x04 {
            continue;
        }
        let mut d = Rd::new(body, "DecoderConfigDescriptor");
        let object_type = d.u8()?;
        d.bytes(12)?;
        while !d.b.is_empty() {
            let (tag, info) = descriptor(&mut d)?;
            if tag == 0x05 {
                return Ok((object_type, Some(info)));
            }
        }
        return Ok((object_type, None));
    }
    Err(Mp4ReadError::Bad("esds without DecoderConfigDescriptor"))
}

/// Expand a track's sample table into samples.
fn sample_table(
    stbl: &[u8],
    track: TrackKind,
    timescale: u64,
    budget: u64,
) -> Result<Vec<Sample>, Mp4ReadError> {
    let need = |k: &[u8; 4], what: &'static str| {
        child(stbl, k).and_then(|b| b.ok_or(Mp4ReadError::Bad(what)))
    };
    // stsz: sizes.
    let mut r = Rd::new(need(b"stsz", "stbl without stsz")?, "stsz");
    r.bytes(4)?;
    let fixed = r.u32()?;
    let n = if fixed == 0 {
        r.count(4)?
    } else {
        r.u32()? as usize
    };
    if n as u64 > budget.min(MAX_SAMPLES) {
        return Err(Mp4ReadError::TooManySamples(n as u64));
    }
    let mut sizes = Vec::with_capacity(n);
    for _ in 0..n {
        sizes.push(if fixed == 0 { r.u32()? } else { fixed });
    }
    // stts: decoding times.
    let mut r = Rd::new(need(b"stts", "stbl without stts")?, "stts");
    r.bytes(4)?;
    let entries = r.count(8)?;
    let mut dts = Vec::with_capacity(n);
    let mut t = 0u64;
    for _ in 0..entries {
        let (count, delta) = (r.u32()?, u64::from(r.u32()?));
        for _ in 0..count {
            if dts.len() == n {
                break;
            }
            dts.push(t);
            t = t.saturating_add(delta);
        }
    }
    if dts.len() != n {
        return Err(Mp4ReadError::Bad("stts shorter than stsz"));
    }
    // ctts: composition offsets (optional).
    let mut cts = vec![0i64; n];
    if let Some(ctts) = child(stbl, b"ctts")? {
        let mut r = Rd::new(ctts, "ctts");
        r.bytes(4)?;
        let entries = r.count(8)?;
        let mut i = 0;
        for _ in 0..entries {
            let (count, offset) = (r.u32()?, i64::from(r.u32()? as i32));
            for _ in 0..count {
                if i == n {
                    break;
                }
                cts[i] = offset;
                i += 1;
            }
        }
    }
    // stss: sync samples (absent: all are).
    let sync: Option<Vec<bool>> = match child(stbl, b"stss")? {
        None => None,
        Some(stss) => {
            let mut r = Rd::new(stss, "stss");
            r.bytes(4)?;
            let entries = r.count(4)?;
            let mut v = vec![false; n];
            for _ in 0..entries {
                let i = r.u32()? as usize;
                if let Some(s) = i.checked_sub(1).and_then(|i| v.get_mut(i)) {
                    *s = true;
                }
            }
            Some(v)
        }
    };
    // stco/co64: chunk offsets.
    let chunks: Vec<u64> = match (child(stbl, b"stco")?, child(stbl, b"co64")?) {
        (Some(stco), _) => {
            let mut r = Rd::new(stco, "stco");
            r.bytes(4)?;
            let entries = r.count(4)?;
            (0..entries)
                .map(|_| r.u32().map(u64::from))
                .collect::<Result<_, _>>()?
        }
        (None, Some(co64)) => {
            let mut r = Rd::new(co64, "co64");
            r.bytes(4)?;
            let entries = r.count(8)?;
            (0..entries).map(|_| r.u64()).collect::<Result<_, _>>()?
        }
        (None, None) => return Err(Mp4ReadError::Bad("stbl without stco")),
    };
    // stsc: samples per chunk, by runs of chunks.
    let mut r = Rd::new(need(b"stsc", "stbl without stsc")?, "stsc");
    r.bytes(4)?;
    let entries = r.count(12)?;
    let mut runs = Vec::with_capacity(entries);
    for _ in 0..entries {
        let first = r.u32()? as usize;
        let per_chunk = r.u32()? as usize;
        r.u32()?;
        if first == 0 || runs.last().is_some_and(|&(f, _)| first - 1 <= f) {
            return Err(Mp4ReadError::Bad("stsc"));
        }
        runs.push((first - 1, per_chunk));
    }
    let ms = |t: u64| t.saturating_mul(1000) / timescale;
    // Composition offset in ms, clamped (i128: no overflow whatever the table says).
    let cts_ms = |d: u64, c: i64| {
        let pts = (i128::from(d) + i128::from(c)).max(0) * 1000 / i128::from(timescale);
        let dts = i128::from(d) * 1000 / i128::from(timescale);
        i32::try_from(pts - dts).unwrap_or(if pts > dts { i32::MAX } else { i32::MIN })
    };
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    for (k, &(first, per_chunk)) in runs.iter().enumerate() {
        let end = runs
            .get(k + 1)
            .map_or(chunks.len(), |&(f, _)| f.min(chunks.len()));
        for &chunk_offset in chunks.get(first..end).unwrap_or(&[]) {
            let mut offset = chunk_offset;
            for _ in 0..per_chunk {
                if i == n {
                    break;
                }
                let d = dts[i];
                out.push(Sample {
                    track,
                    offset,
                    size: sizes[i],
                    dts_ms: ms(d),
                    cts_ms: cts_ms(d, cts[i]),
                    sync: sync.as_ref().is_none_or(|s| s[i]),
                });
                offset = offset.saturating_add(u64::from(sizes[i]));
                i += 1;
            }
        }
    }
    if i != n {
        return Err(Mp4ReadError::Bad("stsc/stco hold fewer samples than stsz"));
    }
    Ok(out)
}

/// Fuzz entry: `data` as a `moov` body. Never panics; what parses has a track, at most
/// [`MAX_SAMPLES`] samples, in decoding order.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn fuzz_moov(data: &[u8]) {
    let _ = box_header(data);
    let Ok(movie) = parse_moov(data) else {
        return;
    };
    assert!(movie.video.is_some() || movie.audio.is_some());
    assert!(movie.samples.len() as u64 <= MAX_SAMPLES);
    assert!(movie.samples.windows(2).all(|w| w[0].dts_ms <= w[1].dts_ms));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::tests::avc_header;
    use crate::mp4::Mp4Muxer;

    /// What our muxer writes, read back: the same configurations, and every sample at its
    /// offset, time, composition offset and sync flag, by decoding time.
    #[test]
    fn reads_what_the_muxer_writes() {
        let mut m = Mp4Muxer::new();
        let header = avc_header();
        m.video(0, &header).unwrap();
        m.audio(0, &[0xaf, 0, 0x12, 0x10]).unwrap();
        let mut file = Mp4Muxer::head();
        let mut want = Vec::new();
        for i in 0..12u32 {
            let key = i % 6 == 0;
            let body = [
                if key { 0x17 } else { 0x27 },
                1,
                0,
                0,
                80,
                0,
                0,
                0,
                2,
                0x65,
                i as u8,
            ];
            let (s, d) = m.video(i * 40, &body).unwrap().unwrap();
            want.push((
                TrackKind::Video,
                file.len() as u64,
                6,
                u64::from(i * 40),
                80,
                key,
            ));
            file.extend_from_slice(&d);
            m.add(s);
            let aac = [0xaf, 1, 0x21, i as u8, 7];
            let (s, d) = m.audio(i * 40 + 10, &aac).unwrap().unwrap();
            want.push((
                TrackKind::Audio,
                file.len() as u64,
                3,
                u64::from(i * 40 + 10),
                0,
                true,
            ));
            file.extend_from_slice(&d);
            m.add(s);
        }
        let moov_at = file.len();
        file.extend_from_slice(&m.moov());
        let h = box_header(&file[moov_at..]).unwrap();
        assert_eq!(&h.kind, b"moov");
        let movie = parse_moov(&file[moov_at + 8..]).unwrap();
        assert_eq!(
            movie.video.as_ref().map(|t| &t.codec),
            Some(&TrackCodec::Avc {
                avcc: header[5..].to_vec()
            })
        );
        assert!(matches!(
            movie.audio.as_ref().map(|t| &t.codec),
            Some(TrackCodec::Aac {
                sample_rate: 44100,
                channels: 2,
                ..
            })
        ));
        let got: Vec<_> = movie
            .samples
            .iter()
            .map(|s| (s.track, s.offset, s.size, s.dts_ms, s.cts_ms, s.sync))
            .collect();
        assert_eq!(got, want);
    }

    /// `elst` (version 0 and 1): empty edits delay, the first media time skips; a list cut
    /// short counts for what it has.
    #[test]
    fn edit_list_offsets() {
        let v0 = |entries: &[(u32, i32)]| {
            let mut b = vec![0, 0, 0, 0];
            b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
            for &(d, t) in entries {
                b.extend_from_slice(&d.to_be_bytes());
                b.extend_from_slice(&t.to_be_bytes());
                b.extend_from_slice(&[0, 1, 0, 0]);
            }
            b
        };
        // ffmpeg's B-frame delay: 1024 at 12800 Hz skips 80 ms.
        assert_eq!(edit_offset(&v0(&[(4000, 1024)]), 1000, 12800), -80);
        // Late by 500 ms, then skipping AAC priming (1024 at 44100 Hz, 23 ms).
        assert_eq!(
            edit_offset(&v0(&[(500, -1), (4000, 1024)]), 1000, 44100),
            477
        );
        // Only what the first media edit says counts.
        assert_eq!(edit_offset(&v0(&[(10, 0), (500, -1)]), 1000, 1000), 0);
        let mut v1 = vec![1, 0, 0, 0, 0, 0, 0, 1];
        v1.extend_from_slice(&300u64.to_be_bytes());
        v1.extend_from_slice(&(-1i64).to_be_bytes());
        v1.extend_from_slice(&[0, 1, 0, 0]);
        assert_eq!(edit_offset(&v1, 600, 90000), 500);
        // A count larger than the list: what is there counts.
        let mut cut = v0(&[(250, -1)]);
        cut[7] = 9;
        assert_eq!(edit_offset(&cut, 1000, 1000), 250);
        assert_eq!(edit_offset(&[], 1000, 1000), 0);
    }

    #[test]
    fn hostile_tables_are_errors_not_allocations() {
        assert_eq!(
            box_header(&[0, 0, 0, 4, b'f', b'r', b'e', b'e']),
            Err(Mp4ReadError::Bad("box size"))
        );
        assert!(box_header(&[0, 0, 0, 1, b'm', b'd', b'a', b't']).is_err());
        // An stsz that claims a billion entries in a few bytes.
        let mut stbl = Vec::new();
        let mut put = |kind: &[u8; 4], body: &[u8]| {
            stbl.extend_from_slice(&(8 + body.len() as u32).to_be_bytes());
            stbl.extend_from_slice(kind);
            stbl.extend_from_slice(body);
        };
        put(
            b"stsz",
            &[0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4],
        );
        assert_eq!(
            sample_table(&stbl, TrackKind::Video, 1000, MAX_SAMPLES),
            Err(Mp4ReadError::Truncated("stsz"))
        );
        // A fixed size for a billion samples is refused before any allocation.
        let mut stbl2 = Vec::new();
        stbl2.extend_from_slice(&20u32.to_be_bytes());
        stbl2.extend_from_slice(b"stsz");
        stbl2.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0x40, 0, 0, 0]);
        assert_eq!(
            sample_table(&stbl2, TrackKind::Video, 1000, MAX_SAMPLES),
            Err(Mp4ReadError::TooManySamples(0x4000_0000))
        );
        assert_eq!(parse_moov(&[]), Err(Mp4ReadError::Bad("moov without mvhd")));
        // Every truncation of a real moov is an error or a movie, never a panic.
        let mut m = Mp4Muxer::new();
        m.video(0, &avc_header()).unwrap();
        let (s, _) = m
            .video(0, &[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65])
            .unwrap()
            .unwrap();
        m.add(s);
        let moov = m.moov();
        for cut in 0..moov.len() {
            let _ = parse_moov(&moov[8..cut.max(8)]);
        }
        assert!(parse_moov(&moov[8..]).is_ok());
    }
}
