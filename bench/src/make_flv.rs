//! `srs-bench make-flv`: a synthetic H.264 + AAC test file for `publish` to replay, made by
//! ffmpeg (test pattern and a sine tone). The video is constant-bitrate (x264 with
//! `nal-hrd=cbr` pads with filler) so that the file's bitrate is the one asked for even
//! though a test pattern compresses to almost nothing; a fixed GOP of `--gop-seconds`
//! (2 s by default, like the encoders SRS users run) at 25 fps.

use crate::{BenchError, MakeFlvArgs};
use std::process::{Command, Stdio};

/// Frame rate of the test pattern.
pub const FPS: u32 = 25;

/// Longest GOP `--gop-seconds` may ask for: an hour, far beyond any live encoder's.
pub const MAX_GOP_SECONDS: f64 = 3600.0;

/// Frames in a GOP of `seconds` at [`FPS`] (at least one: every frame a keyframe).
pub fn gop_frames(seconds: f64) -> u32 {
    ((seconds * FPS as f64).round() as u32).max(1)
}

/// Audio bitrate for a total of `kbps`: 64 kbps, less for very low totals.
pub fn audio_kbps(kbps: u32) -> u32 {
    (kbps / 4).clamp(16, 64)
}

/// The ffmpeg arguments that make the file.
pub fn ffmpeg_args(args: &MakeFlvArgs) -> Vec<String> {
    let audio = audio_kbps(args.kbps);
    let video = args.kbps.saturating_sub(audio).max(20);
    let v = format!("{video}k");
    let gop = gop_frames(args.gop_seconds).to_string();
    let mut a: Vec<String> = [
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(format!("testsrc2=size={}:rate={FPS}", args.size));
    a.extend(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    a.push(args.seconds.to_string());
    for s in [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-x264-params",
        "nal-hrd=cbr",
        "-b:v",
        &v,
        "-minrate",
        &v,
        "-maxrate",
        &v,
        "-bufsize",
        &v,
        // A keyframe every GOP and nowhere else (no scene-cut keyframes): the GOP a
        // server caches, and a new player waits for, is exactly the asked length.
        "-g",
        &gop,
        "-keyint_min",
        &gop,
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
    ] {
        a.push(s.to_string());
    }
    a.push(format!("{audio}k"));
    a.extend(["-f", "flv"].iter().map(|s| s.to_string()));
    a.push(args.out.display().to_string());
    a
}

/// Run ffmpeg; a missing ffmpeg is an error that says how to install it.
pub fn run(args: &MakeFlvArgs) -> Result<(), BenchError> {
    if args.seconds == 0 || args.kbps == 0 {
        return Err(BenchError::Args("--seconds and --kbps must be > 0".into()));
    }
    if !(args.gop_seconds > 0.0 && args.gop_seconds <= MAX_GOP_SECONDS) {
        return Err(BenchError::Args(format!(
            "--gop-seconds must be > 0 and at most {MAX_GOP_SECONDS}"
        )));
    }
    let out = Command::new("ffmpeg")
        .args(ffmpeg_args(args))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BenchError::Ffmpeg(
                "ffmpeg is not installed (apt-get install -y ffmpeg); make-flv needs it".into(),
            ),
            _ => BenchError::Ffmpeg(format!("cannot run ffmpeg: {e}")),
        })?;
    if !out.status.success() {
        return Err(BenchError::Ffmpeg(format!(
            "ffmpeg failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let replay = crate::replay::Replay::load(&args.out)?;
    eprintln!(
        "srs-bench: wrote {} ({} s, {} kbps measured, GOP {} frames = {} s)",
        args.out.display(),
        replay.loop_ms / 1000,
        replay.kbps(),
        gop_frames(args.gop_seconds),
        gop_frames(args.gop_seconds) as f64 / FPS as f64
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(kbps: u32, gop_seconds: f64) -> MakeFlvArgs {
        MakeFlvArgs {
            out: "x.flv".into(),
            seconds: 30,
            kbps,
            size: "640x360".into(),
            gop_seconds,
        }
    }

    fn at(a: &[String], flag: &str) -> String {
        a[a.iter().position(|x| x == flag).unwrap() + 1].clone()
    }

    #[test]
    fn bitrates_add_up() {
        let a = ffmpeg_args(&args(500, 2.0));
        assert_eq!(at(&a, "-b:v"), "436k");
        assert_eq!(at(&a, "-b:a"), "64k");
        assert_eq!(at(&a, "-t"), "30");
        assert_eq!(a.last().unwrap(), "x.flv");
        assert_eq!(audio_kbps(40), 16);
        // The default GOP is the one the file always had: 2 s, 50 frames at 25 fps.
        assert_eq!(at(&a, "-g"), "50");
        assert_eq!(at(&a, "-keyint_min"), "50");
        assert_eq!(at(&a, "-i"), "testsrc2=size=640x360:rate=25");
    }

    #[test]
    fn gop_length_in_seconds() {
        // "2 Mbps with a 6 s GOP".
        let a = ffmpeg_args(&args(2000, 6.0));
        assert_eq!(at(&a, "-b:v"), "1936k");
        assert_eq!(at(&a, "-maxrate"), "1936k");
        assert_eq!(at(&a, "-g"), "150");
        assert_eq!(at(&a, "-keyint_min"), "150");
        assert_eq!(at(&a, "-sc_threshold"), "0");
        assert_eq!(gop_frames(0.5), 13); // 12.5 frames, rounded
        assert_eq!(gop_frames(0.01), 1); // every frame a keyframe, never 0
    }

    #[test]
    fn bad_gop_is_an_argument_error() {
        for g in [0.0, -1.0, f64::NAN, f64::INFINITY, 3601.0] {
            let e = run(&args(500, g)).unwrap_err();
            assert!(matches!(e, BenchError::Args(_)), "{g}: {e}");
        }
    }
}
