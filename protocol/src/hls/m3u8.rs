//! HLS media playlists (RFC 8216 section 4.3): the model, rendering as the segmenter writes
//! it, and a parser for tests, tools and fuzzing.

use std::fmt::Write as _;

/// Most segments a parsed playlist may list (a 60 s window of 1 s segments is 60; a day of
/// 1 s segments is 86400).
pub const MAX_SEGMENTS: usize = 100_000;

/// One media segment of a playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSegment {
    /// `EXTINF` duration in milliseconds.
    pub duration_ms: u64,
    /// `EXTINF` title (usually empty).
    pub title: String,
    /// URI, relative to the playlist.
    pub uri: String,
    /// Preceded by `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
}

/// A media playlist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaPlaylist {
    /// `EXT-X-VERSION`.
    pub version: Option<u32>,
    /// `EXT-X-TARGETDURATION` in seconds.
    pub target_duration: u64,
    /// `EXT-X-MEDIA-SEQUENCE`: sequence number of the first segment.
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE`: discontinuities that have left the playlist.
    pub discontinuity_sequence: u64,
    /// Segments, oldest first.
    pub segments: Vec<MediaSegment>,
    /// `EXT-X-ENDLIST`: no more segments will be added.
    pub end_list: bool,
}

/// Why a playlist could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum M3u8Error {
    /// The first line is not `#EXTM3U`.
    #[error("m3u8: missing #EXTM3U")]
    MissingHeader,
    /// No `EXT-X-TARGETDURATION` (required by RFC 8216 4.3.3.1).
    #[error("m3u8: missing #EXT-X-TARGETDURATION")]
    MissingTargetDuration,
    /// A tag with a value that does not parse.
    #[error("m3u8: line {line}: bad value for {tag}")]
    BadValue { line: usize, tag: &'static str },
    /// A URI line without an `EXTINF` before it.
    #[error("m3u8: line {0}: segment URI without #EXTINF")]
    UriWithoutExtinf(usize),
    /// An `EXTINF` that no URI follows.
    #[error("m3u8: #EXTINF without a URI")]
    ExtinfWithoutUri,
    /// `EXT-X-STREAM-INF`: a master playlist, not a media playlist.
    #[error("m3u8: line {0}: a master playlist")]
    MasterPlaylist(usize),
    /// More segments than [`MAX_SEGMENTS`].
    #[error("m3u8: more than {MAX_SEGMENTS} segments")]
    TooManySegments,
}

/// `EXTINF` duration with millisecond precision ("10.000").
pub fn format_duration(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A decimal-floating-point duration in milliseconds (digits beyond the third decimal are
/// dropped).
fn parse_duration(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut millis = 0u64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        millis += u64::from(b - b'0') * 10u64.pow(2 - i as u32);
    }
    whole.checked_mul(1000)?.checked_add(millis)
}

/// A decimal-integer.
fn parse_int(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl MediaPlaylist {
    /// Longest segment, in milliseconds.
    pub fn max_duration_ms(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.duration_ms)
            .max()
            .unwrap_or(0)
    }

    /// The playlist text (LF line endings, as SRS writes it).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(128 + self.segments.len() * 48);
        out.push_str("#EXTM3U\n");
        if let Some(v) = self.version {
            let _ = writeln!(out, "#EXT-X-VERSION:{v}");
        }
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence);
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        for s in &self.segments {
            if s.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(
                out,
                "#EXTINF:{},{}",
                format_duration(s.duration_ms),
                s.title
            );
            out.push_str(&s.uri);
            out.push('\n');
        }
        if self.end_list {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }

    /// Parse a media playlist. Unknown tags and comments are ignored (RFC 8216 4.1); lines
    /// are trimmed; CRLF is accepted.
    pub fn parse(text: &str) -> Result<Self, M3u8Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty());
        match lines.next() {
            Some((_, "#EXTM3U")) => {}
            _ => return Err(M3u8Error::MissingHeader),
        }
        let mut p = MediaPlaylist::default();
        let mut target = None;
        let mut pending: Option<(u64, String)> = None;
        let mut discontinuity = false;
        for (n, line) in lines {
            if !line.starts_with('#') {
                let (duration_ms, title) = pending.take().ok_or(M3u8Error::UriWithoutExtinf(n))?;
                if p.segments.len() == MAX_SEGMENTS {
                    return Err(M3u8Error::TooManySegments);
                }
                p.segments.push(MediaSegment {
                    duration_ms,
                    title,
                    uri: line.to_string(),
                    discontinuity: std::mem::take(&mut discontinuity),
                });
                continue;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let bad = |tag| M3u8Error::BadValue { line: n, tag };
            match name {
                "#EXTINF" => {
                    let (d, title) = value.split_once(',').unwrap_or((value, ""));
                    let d = parse_duration(d.trim()).ok_or(bad("EXTINF"))?;
                    pending = Some((d, title.to_string()));
                }
                "#EXT-X-TARGETDURATION" => {
                    target = Some(parse_int(value).ok_or(bad("EXT-X-TARGETDURATION"))?);
                }
                "#EXT-X-MEDIA-SEQUENCE" => {
                    p.media_sequence = parse_int(value).ok_or(bad("EXT-X-MEDIA-SEQUENCE"))?;
                }
                "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                    p.discontinuity_sequence =
                        parse_int(value).ok_or(bad("EXT-X-DISCONTINUITY-SEQUENCE"))?;
                }
                "#EXT-X-VERSION" => {
                    let v = parse_int(value).and_then(|v| u32::try_from(v).ok());
                    p.version = Some(v.ok_or(bad("EXT-X-VERSION"))?);
                }
                "#EXT-X-DISCONTINUITY" => discontinuity = true,
                "#EXT-X-ENDLIST" => p.end_list = true,
                "#EXT-X-STREAM-INF" => return Err(M3u8Error::MasterPlaylist(n)),
                _ => {}
            }
        }
        if pending.is_some() {
            return Err(M3u8Error::ExtinfWithoutUri);
        }
        p.target_duration = target.ok_or(M3u8Error::MissingTargetDuration)?;
        Ok(p)
    }
}

/// Fuzz target for the playlist parser.
///
/// Asserts: parsing arbitrary bytes (as lossy UTF-8) never panics; a playlist that parses
/// renders to text that parses back to the same playlist, and renders again to the same
/// text; no parsed playlist exceeds [`MAX_SEGMENTS`].
///
/// # Panics
///
/// When an invariant does not hold.
pub fn fuzz_m3u8(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(p) = MediaPlaylist::parse(&text) else {
        return;
    };
    assert!(p.segments.len() <= MAX_SEGMENTS);
    let rendered = p.render();
    let again = MediaPlaylist::parse(&rendered)
        .unwrap_or_else(|e| panic!("rendered playlist does not parse: {e}\n{rendered}"));
    assert_eq!(again, p);
    assert_eq!(again.render(), rendered);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRS_STYLE: &str = "#EXTM3U\r\n#EXT-X-VERSION:3\r\n#EXT-X-ALLOW-CACHE:YES\r\n\
        #EXT-X-MEDIA-SEQUENCE:7\r\n#EXT-X-TARGETDURATION:12\r\n\
        #EXTINF:10.005, no desc\r\nlivestream-7.ts\r\n\
        #EXT-X-DISCONTINUITY\r\n# a comment\r\n\
        #EXTINF:9.96,\r\nhttp://cdn/live/livestream-8.ts?token=1\r\n\
        #EXTINF:4\r\n\r\n  livestream-9.ts  \r\n";

    #[test]
    fn parse_srs_style_playlist() {
        let p = MediaPlaylist::parse(SRS_STYLE).unwrap();
        assert_eq!(
            (p.version, p.media_sequence, p.target_duration, p.end_list),
            (Some(3), 7, 12, false)
        );
        let d: Vec<_> = p
            .segments
            .iter()
            .map(|s| {
                (
                    s.duration_ms,
                    s.title.as_str(),
                    s.uri.as_str(),
                    s.discontinuity,
                )
            })
            .collect();
        assert_eq!(
            d,
            vec![
                (10005, " no desc", "livestream-7.ts", false),
                (9960, "", "http://cdn/live/livestream-8.ts?token=1", true),
                (4000, "", "livestream-9.ts", false),
            ]
        );
        assert_eq!(p.max_duration_ms(), 10005);
    }

    #[test]
    fn render_exact_and_round_trip() {
        let p = MediaPlaylist {
            version: Some(3),
            target_duration: 3,
            media_sequence: 41,
            discontinuity_sequence: 2,
            segments: vec![
                MediaSegment {
                    duration_ms: 2400,
                    title: String::new(),
                    uri: "a-41.ts".into(),
                    discontinuity: false,
                },
                MediaSegment {
                    duration_ms: 1001,
                    title: String::new(),
                    uri: "a-42.ts".into(),
                    discontinuity: true,
                },
            ],
            end_list: true,
        };
        let text = p.render();
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:41\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:2\n#EXT-X-TARGETDURATION:3\n\
             #EXTINF:2.400,\na-41.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.001,\na-42.ts\n\
             #EXT-X-ENDLIST\n"
        );
        assert_eq!(MediaPlaylist::parse(&text).unwrap(), p);
    }

    #[test]
    fn errors() {
        assert_eq!(MediaPlaylist::parse(""), Err(M3u8Error::MissingHeader));
        assert_eq!(
            MediaPlaylist::parse("#EXTM3U\n#EXTINF:1,\na.ts\n"),
            Err(M3u8Error::MissingTargetDuration)
        );
        assert_eq!(
            MediaPlaylist::parse("#EXTM3U\n#EXT-X-TARGETDURATION:2\na.ts\n"),
            Err(M3u8Error::UriWithoutExtinf(3))
        );
        assert_eq!(
            MediaPlaylist::parse("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\n"),
            Err(M3u8Error::ExtinfWithoutUri)
        );
        assert_eq!(
            MediaPlaylist::parse("#EXTM3U\n#EXT-X-TARGETDURATION:-2\n"),
            Err(M3u8Error::BadValue {
                line: 2,
                tag: "EXT-X-TARGETDURATION"
            })
        );
        for bad in ["-1", "1e3", "", ".", "1.2.3", "nan", "99999999999999999999"] {
            assert_eq!(
                MediaPlaylist::parse(&format!("#EXTM3U\n#EXTINF:{bad},\na.ts\n")),
                Err(M3u8Error::BadValue {
                    line: 2,
                    tag: "EXTINF"
                }),
                "{bad}"
            );
        }
        assert_eq!(
            MediaPlaylist::parse("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nx.m3u8\n"),
            Err(M3u8Error::MasterPlaylist(2))
        );
        assert_eq!(parse_duration(".5"), Some(500));
        assert_eq!(parse_duration("2.0999"), Some(2099));
    }

    #[test]
    fn fuzz_invariant_on_random_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(8216);
        let pieces = [
            "#EXTM3U\n",
            "#EXT-X-TARGETDURATION:5\n",
            "#EXTINF:1.5,\n",
            "#EXTINF:2,t i\r\n",
            "#EXT-X-DISCONTINUITY\n",
            "#EXT-X-MEDIA-SEQUENCE:9\n",
            "#EXT-X-DISCONTINUITY-SEQUENCE:3\n",
            "#EXT-X-VERSION:3\n",
            "#EXT-X-ENDLIST\n",
            "seg.ts\n",
            " \u{2028}x\u{85}.ts \n",
            "#\n",
            "\n",
        ];
        for _ in 0..3000 {
            let mut s = String::from("#EXTM3U\n");
            for _ in 0..rng.gen_range(0..20) {
                if rng.gen_bool(0.1) {
                    let junk: Vec<u8> = (0..rng.gen_range(0..8)).map(|_| rng.gen()).collect();
                    s.push_str(&String::from_utf8_lossy(&junk));
                } else {
                    s.push_str(pieces[rng.gen_range(0..pieces.len())]);
                }
            }
            fuzz_m3u8(s.as_bytes());
        }
        fuzz_m3u8(SRS_STYLE.as_bytes());
        fuzz_m3u8(&[0xff, 0xfe]);
    }
}
