//! Micro-benchmark of the fan-out queue: `cargo bench -p srs-live`.
//!
//! One publisher pushes a GOP's worth of messages (a keyframe, P-frames and AAC frames,
//! about 350 ms of a 500 kbps stream) into a source, then N players take them the way a
//! stream worker feeds its players at every merged write: `Player::poll_each` and the
//! message's shared chunked bytes. The figure per iteration is for all N players, so
//! divide by N for the cost of one player's wake-up.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use srs_ipc::ring::flags;
use srs_live::{Hub, Media, PlayItem, SourceConfig, StreamKey};
use srs_protocol::message::type_id;
use std::hint::black_box;

const CHUNK_SIZE: u32 = 60_000;

fn key() -> StreamKey {
    StreamKey {
        vhost: "__defaultVhost__".into(),
        app: "live".into(),
        stream: "livestream".into(),
    }
}

/// One merged write's worth of a 500 kbps stream: 9 video frames (the first a keyframe)
/// and 16 AAC frames, interleaved by time.
fn batch(ts: &mut u32, first: bool) -> Vec<Media> {
    let mut v = Vec::new();
    for i in 0..9u32 {
        let key = first && i == 0;
        let mut body = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        body.resize(if key { 20_000 } else { 1_800 }, 0x42);
        v.push(Media::new(
            type_id::VIDEO,
            *ts,
            Bytes::from(body),
            if key { flags::KEYFRAME } else { 0 },
        ));
        for _ in 0..2 {
            let mut a = vec![0xaf, 1];
            a.resize(180, 0x21);
            v.push(Media::new(type_id::AUDIO, *ts, Bytes::from(a), 0));
        }
        *ts += 40;
    }
    v
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout/push_then_poll");
    for &players in &[1usize, 100, 1000] {
        let hub = Hub::new();
        let publisher = hub.feed(&key(), SourceConfig::default(), true).unwrap();
        // Sequence headers first, as an encoder sends them.
        publisher.push(Media::new(
            type_id::VIDEO,
            0,
            Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64]),
            flags::SEQUENCE_HEADER,
        ));
        publisher.push(Media::new(
            type_id::AUDIO,
            0,
            Bytes::from_static(&[0xaf, 0, 0x12, 0x10]),
            flags::SEQUENCE_HEADER,
        ));
        let mut ts = 0;
        for m in batch(&mut ts, true) {
            publisher.push(m);
        }
        let mut pl: Vec<_> = (0..players)
            .map(|_| hub.play(&key(), SourceConfig::default()))
            .collect();
        // Everyone has the headers and the first GOP: the steady state.
        for p in pl.iter_mut() {
            p.poll_each(usize::MAX, usize::MAX, |_| {});
        }
        let mut out = Vec::with_capacity(64);
        g.throughput(Throughput::Elements(players as u64));
        g.bench_with_input(BenchmarkId::from_parameter(players), &players, |b, _| {
            b.iter(|| {
                for m in batch(&mut ts, false) {
                    publisher.push(m);
                }
                for p in pl.iter_mut() {
                    p.poll_each(128, 256 * 1024, |item| {
                        if let PlayItem::Media(m) = item {
                            m.push_chunks(CHUNK_SIZE, 1, &mut out);
                        }
                    });
                    black_box(&out);
                    out.clear();
                }
            })
        });
    }
    g.finish();
}

/// The same through `Player::poll`, which collects the items into vectors (httpd's readers
/// use it): the difference is what `poll_each` saves per wake-up.
fn fanout_collected(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout/push_then_poll_vec");
    let players = 1000usize;
    let hub = Hub::new();
    let publisher = hub.feed(&key(), SourceConfig::default(), true).unwrap();
    let mut ts = 0;
    for m in batch(&mut ts, true) {
        publisher.push(m);
    }
    let mut pl: Vec<_> = (0..players)
        .map(|_| hub.play(&key(), SourceConfig::default()))
        .collect();
    for p in pl.iter_mut() {
        p.poll(usize::MAX, usize::MAX);
    }
    g.throughput(Throughput::Elements(players as u64));
    g.bench_function(BenchmarkId::from_parameter(players), |b| {
        b.iter(|| {
            for m in batch(&mut ts, false) {
                publisher.push(m);
            }
            for p in pl.iter_mut() {
                black_box(p.poll(128, 256 * 1024));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, fanout, fanout_collected);
criterion_main!(benches);
