//! `srs-tools`: the tools SRS shipped with srs-librtmp, as subcommands of one binary over
//! the `srs-client` crate:
//! - `ingest-flv` (srs_ingest_flv): publish an FLV file in real time, `--loop` to repeat;
//! - `ingest-rtmp` (srs_ingest_rtmp): relay an RTMP stream to another server;
//! - `dump` (srs_rtmp_dump): record a stream to an FLV file;
//! - `detect` (srs_detect_rtmp): connect, first packet, timings, codecs and the server's
//!   identity, as one JSON object;
//! - `flv-parse` (srs_flv_parser): an FLV file tag by tag, with AVC/AAC details.

use clap::{Parser, Subcommand};
use srs_client::flv::{describe_tag, FlvReader, FlvWriter};
use srs_client::{Client, Options, Packet, RtmpUrl};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "srs-tools",
    version,
    about = "srs-librtmp's tools: ingest, relay, dump, detect, parse"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Publish an FLV file to an RTMP URL in real time.
    IngestFlv {
        /// The FLV file.
        #[arg(short, long)]
        input: String,
        /// rtmp://host[:port]/app/stream to publish to.
        #[arg(short = 'y', long)]
        output: String,
        /// Start over at the end of the file, forever (timestamps go on).
        #[arg(long = "loop")]
        repeat: bool,
    },
    /// Play an RTMP stream and publish it to another RTMP URL.
    IngestRtmp {
        /// rtmp://... to play.
        #[arg(short, long)]
        input: String,
        /// rtmp://... to publish to.
        #[arg(short = 'y', long)]
        output: String,
    },
    /// Record an RTMP stream to an FLV file.
    Dump {
        /// rtmp://... to play.
        #[arg(short, long)]
        input: String,
        /// The FLV file to write.
        #[arg(short, long)]
        output: String,
        /// Stop after this many seconds.
        #[arg(short, long)]
        duration: Option<f64>,
        /// Stop after this many audio/video/data messages.
        #[arg(short = 'n', long)]
        packets: Option<u64>,
    },
    /// Connect to a stream and report timings, codecs and the server (JSON).
    Detect {
        /// rtmp://... to play.
        #[arg(short, long)]
        input: String,
        /// How long to sample, seconds.
        #[arg(short, long, default_value_t = 3.0)]
        duration: f64,
    },
    /// SRS's bandwidth check against a `bandcheck` vhost: the tcUrl with its key, e.g.
    /// rtmp://host/app?key=KEY&vhost=bandcheck.srs.com
    BandwidthCheck {
        /// The tcUrl (no stream name).
        #[arg(short, long)]
        input: String,
    },
    /// Print an FLV file tag by tag.
    FlvParse {
        /// The FLV file.
        file: String,
    },
}

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("srs-tools: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let done = match cli.cmd {
        Cmd::IngestFlv {
            input,
            output,
            repeat,
        } => rt.block_on(ingest_flv(&input, &output, repeat)),
        Cmd::IngestRtmp { input, output } => rt.block_on(ingest_rtmp(&input, &output)),
        Cmd::Dump {
            input,
            output,
            duration,
            packets,
        } => rt.block_on(dump(&input, &output, duration, packets)),
        Cmd::Detect { input, duration } => rt.block_on(detect(&input, duration)),
        Cmd::BandwidthCheck { input } => rt.block_on(bandwidth_check(&input)),
        Cmd::FlvParse { file } => flv_parse(&file),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("srs-tools: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(url: &str) -> Result<(Client, RtmpUrl)> {
    let u = RtmpUrl::parse(url).map_err(|e| e.to_string())?;
    let c = Client::connect_url(&u, &Options::default())
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    Ok((c, u))
}

async fn publisher(url: &str) -> Result<(Client, RtmpUrl)> {
    let (mut c, u) = connect(url).await?;
    c.publish(&u.stream)
        .await
        .map_err(|e| format!("publish {url}: {e}"))?;
    Ok((c, u))
}

async fn player(url: &str) -> Result<(Client, RtmpUrl)> {
    let (mut c, u) = connect(url).await?;
    c.play(&u.stream)
        .await
        .map_err(|e| format!("play {url}: {e}"))?;
    Ok((c, u))
}

async fn ingest_flv(input: &str, output: &str, repeat: bool) -> Result<()> {
    let (mut c, u) = publisher(output).await?;
    let start = Instant::now();
    // Where this pass of the file starts on the stream's timeline (loops go on from it).
    let mut base: u32 = 0;
    let mut sent = 0u64;
    loop {
        let file = std::fs::File::open(input).map_err(|e| format!("{input}: {e}"))?;
        let mut r = FlvReader::new(std::io::BufReader::new(file));
        let mut first: Option<u32> = None;
        let mut last = 0u32;
        while let Some(tag) = r.next_tag().map_err(|e| format!("{input}: {e}"))? {
            let t0 = *first.get_or_insert(tag.timestamp);
            let ts = base.wrapping_add(tag.timestamp.wrapping_sub(t0));
            last = last.max(ts);
            // Real time: wait for the tag's time on the stream's clock.
            let due = start + Duration::from_millis(u64::from(ts));
            tokio::time::sleep_until(due.into()).await;
            c.drain_input().map_err(|e| format!("{output}: {e}"))?;
            c.write(tag.tag_type, ts, &tag.body)
                .await
                .map_err(|e| format!("{output}: {e}"))?;
            sent += 1;
        }
        if !repeat {
            break;
        }
        base = last.wrapping_add(40);
    }
    c.close(&u.stream).await;
    println!(
        "{}",
        serde_json::json!({ "published": sent, "file": input, "url": output })
    );
    Ok(())
}

async fn ingest_rtmp(input: &str, output: &str) -> Result<()> {
    let (mut src, _) = player(input).await?;
    let (mut dst, du) = publisher(output).await?;
    let mut n = 0u64;
    loop {
        match src.read().await.map_err(|e| format!("{input}: {e}"))? {
            Packet::Media {
                type_id,
                timestamp,
                payload,
            } => {
                dst.drain_input().map_err(|e| format!("{output}: {e}"))?;
                dst.write(type_id, timestamp, &payload)
                    .await
                    .map_err(|e| format!("{output}: {e}"))?;
                n += 1;
            }
            Packet::Status { code, .. } if code == "NetStream.Play.UnpublishNotify" => break,
            Packet::Status { .. } => {}
        }
    }
    dst.close(&du.stream).await;
    println!(
        "{}",
        serde_json::json!({ "relayed": n, "from": input, "to": output })
    );
    Ok(())
}

async fn dump(
    input: &str,
    output: &str,
    duration: Option<f64>,
    packets: Option<u64>,
) -> Result<()> {
    let (mut c, _) = player(input).await?;
    let file = std::fs::File::create(output).map_err(|e| format!("{output}: {e}"))?;
    let mut w = FlvWriter::new(std::io::BufWriter::new(file), true, true)
        .map_err(|e| format!("{output}: {e}"))?;
    let end = duration.map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d.max(0.0)));
    let mut n = 0u64;
    while packets.map_or(true, |p| n < p) {
        let next = match end {
            Some(end) => match tokio::time::timeout_at(end, c.read()).await {
                Ok(r) => r,
                Err(_) => break,
            },
            None => c.read().await,
        };
        match next.map_err(|e| format!("{input}: {e}"))? {
            Packet::Media {
                type_id,
                timestamp,
                payload,
            } => {
                w.write_tag(type_id, timestamp, &payload)
                    .map_err(|e| format!("{output}: {e}"))?;
                n += 1;
            }
            Packet::Status { code, .. } if code == "NetStream.Play.UnpublishNotify" => break,
            Packet::Status { .. } => {}
        }
    }
    w.into_inner().map_err(|e| format!("{output}: {e}"))?;
    println!(
        "{}",
        serde_json::json!({ "dumped": n, "url": input, "file": output })
    );
    Ok(())
}

async fn detect(input: &str, duration: f64) -> Result<()> {
    let t0 = Instant::now();
    let u = RtmpUrl::parse(input).map_err(|e| e.to_string())?;
    let mut c = Client::connect_url(&u, &Options::default())
        .await
        .map_err(|e| format!("{input}: {e}"))?;
    let connect_ms = t0.elapsed().as_millis() as u64;
    let server = c.server_info();
    c.play(&u.stream)
        .await
        .map_err(|e| format!("play {input}: {e}"))?;
    let play_ms = t0.elapsed().as_millis() as u64;
    let mut first_packet_ms = None;
    let (mut video, mut audio, mut data) = (0u64, 0u64, 0u64);
    let (mut first_ts, mut last_ts) = (None, 0u32);
    let mut video_codec = serde_json::Value::Null;
    let mut audio_codec = serde_json::Value::Null;
    let end = tokio::time::Instant::now() + Duration::from_secs_f64(duration.max(0.1));
    loop {
        let p = match tokio::time::timeout_at(end, c.read()).await {
            Ok(p) => p.map_err(|e| format!("{input}: {e}"))?,
            Err(_) => break,
        };
        let Packet::Media {
            type_id,
            timestamp,
            payload,
        } = p
        else {
            continue;
        };
        first_packet_ms.get_or_insert(t0.elapsed().as_millis() as u64);
        first_ts.get_or_insert(timestamp);
        last_ts = last_ts.max(timestamp);
        match type_id {
            9 => {
                video += 1;
                if let Ok(Some(v)) = srs_protocol::codec::video_info(&payload) {
                    video_codec = serde_json::json!({
                        "codec": v.codec.name(), "profile": v.profile, "level": v.level,
                        "width": v.width, "height": v.height,
                    });
                }
            }
            8 => {
                audio += 1;
                if let Ok(Some(a)) = srs_protocol::codec::audio_info(&payload) {
                    audio_codec = serde_json::json!({
                        "codec": a.codec, "sample_rate": a.sample_rate, "channels": a.channels, "profile": a.profile,
                    });
                }
            }
            _ => data += 1,
        }
    }
    let stream_ms = first_ts.map_or(0, |f| last_ts.wrapping_sub(f));
    let sampled_ms = t0.elapsed().as_millis() as u64 - play_ms;
    println!(
        "{}",
        serde_json::json!({
            "url": input,
            "connect_ms": connect_ms,
            "play_ms": play_ms,
            "first_packet_ms": first_packet_ms,
            "sampled_ms": sampled_ms,
            "stream_ms": stream_ms,
            "packets": { "video": video, "audio": audio, "data": data },
            "video": video_codec,
            "audio": audio_codec,
            "bytes_in": c.bytes_in(),
            "server": {
                "srs_server": server.server, "srs_version": server.version,
                "srs_pid": server.pid, "srs_id": server.id, "srs_server_ip": server.ip,
            },
        })
    );
    Ok(())
}

async fn bandwidth_check(tc_url: &str) -> Result<()> {
    // A stream name, as SRS's srs_rtmp_create2 adds it: the check needs none.
    let (mut c, _) = connect(&format!("{}/livestream", tc_url.trim_end_matches('/'))).await?;
    let r = c
        .bandwidth_check()
        .await
        .map_err(|e| format!("{tc_url}: {e}"))?;
    println!(
        "{}",
        serde_json::json!({
            "url": tc_url,
            "start_time": r.start_time, "end_time": r.end_time,
            "play_kbps": r.play_kbps, "publish_kbps": r.publish_kbps,
            "play_bytes": r.play_bytes, "publish_bytes": r.publish_bytes,
            "play_time": r.play_time, "publish_time": r.publish_time,
        })
    );
    Ok(())
}

fn flv_parse(file: &str) -> Result<()> {
    let f = std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?;
    let mut r = FlvReader::new(std::io::BufReader::new(f));
    let (a, v) = r.read_header().map_err(|e| format!("{file}: {e}"))?;
    println!("FLV header: audio={a} video={v}");
    let mut n = 0u64;
    let mut offset = 13u64;
    while let Some(t) = r.next_tag().map_err(|e| format!("{file}: {e}"))? {
        println!(
            "#{n} offset={offset} {}",
            describe_tag(t.tag_type, t.timestamp, &t.body)
        );
        if t.tag_type == 9 {
            if let Ok(Some(info)) = srs_protocol::codec::video_info(&t.body) {
                println!(
                    "    AVC sequence header: {} {} {} {:?}x{:?}",
                    info.codec.name(),
                    info.profile,
                    info.level,
                    info.width,
                    info.height
                );
            }
        } else if t.tag_type == 8 {
            if let Ok(Some(info)) = srs_protocol::codec::audio_info(&t.body) {
                println!(
                    "    AAC sequence header: {} {:?} Hz {:?} channels {:?}",
                    info.codec, info.sample_rate, info.channels, info.profile
                );
            }
        } else if t.tag_type == 18 {
            if let Ok(v) = srs_protocol::amf0::decode_all(&t.body) {
                println!("    {v:?}");
            }
        }
        offset += 15 + t.body.len() as u64;
        n += 1;
    }
    println!("{n} tags");
    Ok(())
}
