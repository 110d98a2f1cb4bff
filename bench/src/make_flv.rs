//! `srs-bench make-flv`: a synthetic H.264 + AAC test file for `publish` to replay, made by
//! ffmpeg (test pattern and a sine tone). The video is constant-bitrate (x264 with
//! `nal-hrd=cbr` pads with filler) so that the file's bitrate is the one asked for even
//! though a test pattern compresses to almost nothing; GOP of 2 s at 25 fps, like the
//! encoders SRS users run.

use crate::{BenchError, MakeFlvArgs};
use std::process::{Command, Stdio};

/// Audio bitrate for a total of `kbps`: 64 kbps, less for very low totals.
pub fn audio_kbps(kbps: u32) -> u32 {
    (kbps / 4).clamp(16, 64)
}

/// The ffmpeg arguments that make the file.
pub fn ffmpeg_args(args: &MakeFlvArgs) -> Vec<String> {
    let audio = audio_kbps(args.kbps);
    let video = args.kbps.saturating_sub(audio).max(20);
    let v = format!("{video}k");
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
    a.push(format!("testsrc2=size={}:rate=25", args.size));
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
        "-g",
        "50",
        "-keyint_min",
        "50",
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
        "srs-bench: wrote {} ({} s, {} kbps measured)",
        args.out.display(),
        replay.loop_ms / 1000,
        replay.kbps()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates_add_up() {
        let args = MakeFlvArgs {
            out: "x.flv".into(),
            seconds: 30,
            kbps: 500,
            size: "640x360".into(),
        };
        let a = ffmpeg_args(&args);
        let at = |flag: &str| a[a.iter().position(|x| x == flag).unwrap() + 1].clone();
        assert_eq!(at("-b:v"), "436k");
        assert_eq!(at("-b:a"), "64k");
        assert_eq!(at("-t"), "30");
        assert_eq!(a.last().unwrap(), "x.flv");
        assert_eq!(audio_kbps(40), 16);
    }
}
