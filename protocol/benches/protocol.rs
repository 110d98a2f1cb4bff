//! Micro-benchmarks of the per-message protocol work on the media path and of the command
//! codec: `cargo bench -p srs-protocol` (add a filter, e.g. `-- chunk`).
//!
//! - `chunk/write_message`: one message chunked the way every player's copy is built
//!   (`Media::chunked`), for typical AAC and H.264 sizes, at SRS's default chunk size
//!   (60000) and at the RTMP default (128) that some players keep.
//! - `chunk/decode`: a publisher's stream of the same messages reassembled.
//! - `amf0/*`: encode and decode of a `connect` command and of an `onMetaData` body.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use srs_protocol::amf0::{self, Amf0Value};
use srs_protocol::chunk::{self, ChunkDecoder, ChunkLimits};
use srs_protocol::message::{csid, decode_command, type_id, Command};
use std::hint::black_box;

/// (name, chunk stream, message type, body size): an AAC frame, a P-frame and a keyframe
/// of a ~500 kbps H.264 stream, and a 1080p keyframe.
const MESSAGES: &[(&str, u32, u8, usize)] = &[
    ("audio_aac_180B", csid::AUDIO, type_id::AUDIO, 180),
    ("video_p_2KB", csid::VIDEO, type_id::VIDEO, 2_000),
    ("video_key_40KB", csid::VIDEO, type_id::VIDEO, 40_000),
    ("video_key_300KB", csid::VIDEO, type_id::VIDEO, 300_000),
];

const CHUNK_SIZES: &[u32] = &[60_000, 4_096, 128];

fn write_message(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunk/write_message");
    for &(name, cs, ty, len) in MESSAGES {
        let payload = vec![0x5au8; len];
        for &chunk_size in CHUNK_SIZES {
            g.throughput(Throughput::Bytes(len as u64));
            g.bench_with_input(
                BenchmarkId::new(name, format!("chunk_{chunk_size}")),
                &payload,
                |b, p| {
                    b.iter(|| {
                        // As Media::chunked: a fresh buffer per message, frozen and shared.
                        let mut out = BytesMut::new();
                        chunk::write_message(&mut out, chunk_size, cs, 123_456, ty, 1, p);
                        black_box(out.freeze())
                    })
                },
            );
        }
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunk/decode");
    for &(name, cs, ty, len) in MESSAGES {
        for &chunk_size in &[4_096u32, 128] {
            // 16 messages back to back, as they arrive from a publisher.
            let mut wire = BytesMut::new();
            for i in 0..16u32 {
                chunk::write_message(&mut wire, chunk_size, cs, i * 40, ty, 1, &vec![7u8; len]);
            }
            let wire = wire.freeze();
            g.throughput(Throughput::Bytes(16 * len as u64));
            g.bench_with_input(
                BenchmarkId::new(name, format!("chunk_{chunk_size}")),
                &wire,
                |b, wire| {
                    b.iter(|| {
                        let mut dec = ChunkDecoder::new(ChunkLimits::default());
                        dec.set_chunk_size(chunk_size).unwrap();
                        let mut buf = BytesMut::from(&wire[..]);
                        let mut n = 0;
                        while let Some(m) = dec.decode(&mut buf).unwrap() {
                            n += m.payload.len();
                        }
                        assert_eq!(n, 16 * len);
                        n
                    })
                },
            );
        }
    }
    g.finish();
}

/// What ffmpeg sends as `connect`.
fn connect_command() -> Command {
    Command::new(
        "connect",
        1.0,
        Amf0Value::object([
            ("app", Amf0Value::string("live")),
            (
                "flashVer",
                Amf0Value::string("FMLE/3.0 (compatible; Lavf61.7.100)"),
            ),
            ("tcUrl", Amf0Value::string("rtmp://127.0.0.1:1935/live")),
            ("fpad", Amf0Value::Boolean(false)),
            ("capabilities", Amf0Value::Number(15.0)),
            ("audioCodecs", Amf0Value::Number(4071.0)),
            ("videoCodecs", Amf0Value::Number(252.0)),
            ("videoFunction", Amf0Value::Number(1.0)),
        ]),
        vec![],
    )
}

/// `onMetaData` as an encoder writes it (an ECMA array of the usual fields).
fn metadata() -> Vec<Amf0Value> {
    let props: Vec<(String, Amf0Value)> = [
        ("duration", Amf0Value::Number(0.0)),
        ("width", Amf0Value::Number(1280.0)),
        ("height", Amf0Value::Number(720.0)),
        ("videodatarate", Amf0Value::Number(2500.0)),
        ("framerate", Amf0Value::Number(30.0)),
        ("videocodecid", Amf0Value::Number(7.0)),
        ("audiodatarate", Amf0Value::Number(128.0)),
        ("audiosamplerate", Amf0Value::Number(48000.0)),
        ("audiosamplesize", Amf0Value::Number(16.0)),
        ("stereo", Amf0Value::Boolean(true)),
        ("audiocodecid", Amf0Value::Number(10.0)),
        ("encoder", Amf0Value::string("Lavf61.7.100")),
        ("filesize", Amf0Value::Number(0.0)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    vec![Amf0Value::string("onMetaData"), Amf0Value::EcmaArray(props)]
}

fn amf0_codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("amf0");
    let connect = connect_command();
    let connect_body = connect.encode();
    g.bench_function("connect/encode", |b| {
        b.iter(|| black_box(&connect).encode())
    });
    g.bench_function("connect/decode", |b| {
        b.iter(|| decode_command(black_box(&connect_body)).unwrap())
    });
    let meta = metadata();
    let meta_body = amf0::encode_all(&meta).freeze();
    g.bench_function("onMetaData/encode", |b| {
        b.iter(|| amf0::encode_all(black_box(&meta)))
    });
    g.bench_function("onMetaData/decode", |b| {
        b.iter(|| amf0::decode_all(black_box(&meta_body)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, write_message, decode, amf0_codec);
criterion_main!(benches);
