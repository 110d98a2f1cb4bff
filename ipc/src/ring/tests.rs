use super::layout::{HEADER_BYTES, SLOT_BYTES};
use super::*;
use proptest::prelude::*;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SMALL: RingConfig = RingConfig {
    index_slots: 16,
    data_bytes: 256 << 10,
    aside_bytes: 4096,
};

fn ring(cfg: RingConfig) -> (tempfile::TempDir, PathBuf, RingWriter, RingReader) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(ring_file_name("__defaultVhost__/live/test"));
    let w = RingWriter::create(&path, cfg).unwrap();
    let r = RingReader::open(&path).unwrap();
    (dir, path, w, r)
}

/// Payload bytes derived from (seq, len), as in the stress test.
fn content(seq: u64, len: usize) -> Vec<u8> {
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn read_msg(r: &RingReader, seq: u64) -> Option<(u32, u8, u8, Vec<u8>)> {
    let mut out = Vec::new();
    match r.read(seq, &mut out) {
        ReadResult::Message {
            timestamp,
            type_id,
            flags,
        } => Some((timestamp, type_id, flags, out)),
        _ => None,
    }
}

#[test]
fn push_read_round_trip() {
    let (_d, _p, mut w, r) = ring(RingConfig::default());
    assert_eq!(r.next_seq(), 0);
    let sizes = [0usize, 1, 7, 8, 9, 1000, 65536, 1 << 20];
    for (i, &n) in sizes.iter().enumerate() {
        let seq = w
            .push(40 * i as u32, TYPE_VIDEO, 0, &content(i as u64, n))
            .unwrap();
        assert_eq!(seq, i as u64);
    }
    assert_eq!(r.next_seq(), sizes.len() as u64);
    for (i, &n) in sizes.iter().enumerate() {
        let (ts, ty, fl, body) = read_msg(&r, i as u64).unwrap();
        assert_eq!((ts, ty, fl), (40 * i as u32, TYPE_VIDEO, 0));
        assert_eq!(body, content(i as u64, n), "seq {i}");
    }
    // The buffer is replaced, not appended to.
    let mut out = vec![1, 2, 3];
    assert!(matches!(r.read(1, &mut out), ReadResult::Message { .. }));
    assert_eq!(out, content(1, 1));
}

#[test]
fn not_yet_past_the_end() {
    let (_d, _p, mut w, r) = ring(SMALL);
    let mut out = Vec::new();
    assert_eq!(r.read(0, &mut out), ReadResult::NotYet);
    w.push(0, TYPE_AUDIO, 0, b"abc").unwrap();
    assert!(matches!(r.read(0, &mut out), ReadResult::Message { .. }));
    assert_eq!(r.read(1, &mut out), ReadResult::NotYet);
    assert_eq!(r.read(u64::MAX, &mut out), ReadResult::NotYet);
}

#[test]
fn payload_limit() {
    let (_d, _p, mut w, r) = ring(SMALL);
    let max = w.max_payload();
    assert_eq!(max, 128 << 10);
    assert_eq!(r.max_payload(), max);
    assert!(matches!(
        w.push(0, TYPE_VIDEO, 0, &vec![0; max + 1]),
        Err(RingError::PayloadTooLarge { len, .. }) if len == max + 1
    ));
    // Nothing was pushed by the refused call; the largest payload goes through, repeatedly.
    assert_eq!(w.next_seq(), 0);
    for i in 0..5 {
        w.push(i, TYPE_VIDEO, 0, &content(u64::from(i), max))
            .unwrap();
        assert_eq!(
            read_msg(&r, u64::from(i)).unwrap().3,
            content(u64::from(i), max)
        );
    }
}

#[test]
fn headers_kept_aside_replaced_and_cleared() {
    let (_d, _p, mut w, r) = ring(SMALL);
    assert_eq!(r.headers(), AsideHeaders::default());
    w.set_publishing(true, 1);
    assert_eq!(r.state(), (true, 1));
    w.push(0, TYPE_DATA, flags::METADATA, b"meta1").unwrap();
    w.push(0, TYPE_VIDEO, flags::SEQUENCE_HEADER, b"vsh1")
        .unwrap();
    w.push(0, TYPE_AUDIO, flags::SEQUENCE_HEADER, b"ash1")
        .unwrap();
    let h = r.headers();
    assert_eq!(h.metadata.as_ref().unwrap().payload, b"meta1");
    assert_eq!(h.metadata.as_ref().unwrap().seq, 0);
    assert_eq!(h.metadata.as_ref().unwrap().type_id, TYPE_DATA);
    assert_eq!(h.video.as_ref().unwrap().payload, b"vsh1");
    assert_eq!(h.audio.as_ref().unwrap().payload, b"ash1");
    assert_eq!(h.audio.as_ref().unwrap().flags, flags::SEQUENCE_HEADER);
    // They stay aside however far the ring moves on.
    for i in 0..100u32 {
        w.push(i, TYPE_VIDEO, 0, &[0; 10_000]).unwrap();
    }
    let mut out = Vec::new();
    assert!(matches!(r.read(0, &mut out), ReadResult::Lapped { .. }));
    assert_eq!(r.headers(), h);
    // A newer video sequence header replaces the old one, the others stay.
    let seq = w
        .push(4000, TYPE_VIDEO, flags::SEQUENCE_HEADER, b"vsh2 longer")
        .unwrap();
    let h2 = r.headers();
    assert_eq!(h2.video.as_ref().unwrap().payload, b"vsh2 longer");
    assert_eq!(h2.video.as_ref().unwrap().seq, seq);
    assert_eq!(h2.video.as_ref().unwrap().timestamp, 4000);
    assert_eq!(h2.metadata, h.metadata);
    assert_eq!(h2.audio, h.audio);
    // A header too large to keep aside is not kept (rather than a stale one).
    w.push(0, TYPE_DATA, flags::METADATA, &[7; 5000]).unwrap();
    assert_eq!(r.headers().metadata, None);
    w.push(0, TYPE_DATA, flags::METADATA, b"meta3").unwrap();
    assert_eq!(r.headers().metadata.unwrap().payload, b"meta3");
    // Unpublish clears them.
    w.set_publishing(false, 1);
    assert_eq!(r.state(), (false, 1));
    assert_eq!(r.headers(), AsideHeaders::default());
    // So does a republish under a new generation.
    w.set_publishing(true, 2);
    w.push(0, TYPE_DATA, flags::METADATA, b"meta4").unwrap();
    assert!(r.headers().metadata.is_some());
    w.set_publishing(true, 3);
    assert_eq!(r.state(), (true, 3));
    assert_eq!(r.headers(), AsideHeaders::default());
}

#[test]
fn keyframe_seq_tracks_newest_and_leaves_with_it() {
    let (_d, _p, mut w, r) = ring(SMALL);
    w.set_publishing(true, 1);
    assert_eq!(r.keyframe_seq(), None);
    w.push(
        0,
        TYPE_VIDEO,
        flags::SEQUENCE_HEADER | flags::KEYFRAME,
        b"sh",
    )
    .unwrap();
    // A sequence header is not where a player starts.
    assert_eq!(r.keyframe_seq(), None);
    let k1 = w.push(0, TYPE_VIDEO, flags::KEYFRAME, b"k1").unwrap();
    w.push(40, TYPE_VIDEO, 0, b"p").unwrap();
    assert_eq!(r.keyframe_seq(), Some(k1));
    let k2 = w.push(80, TYPE_VIDEO, flags::KEYFRAME, b"k2").unwrap();
    assert_eq!(r.keyframe_seq(), Some(k2));
    // Push enough to overwrite k2's slot: the keyframe is gone with it.
    for i in 0..SMALL.index_slots {
        w.push(i, TYPE_AUDIO, 0, b"a").unwrap();
    }
    assert_eq!(r.keyframe_seq(), None);
    let k3 = w.push(0, TYPE_VIDEO, flags::KEYFRAME, b"k3").unwrap();
    assert_eq!(r.keyframe_seq(), Some(k3));
    let (_, _, fl, body) = read_msg(&r, k3).unwrap();
    assert_eq!((fl, &body[..]), (flags::KEYFRAME, &b"k3"[..]));
    // Unpublish forgets it.
    w.set_publishing(false, 1);
    assert_eq!(r.keyframe_seq(), None);
}

#[test]
fn data_area_wraps_many_times_with_random_sizes() {
    let cfg = RingConfig {
        index_slots: 1024,
        data_bytes: 1 << 20,
        aside_bytes: 64,
    };
    let (_d, _p, mut w, r) = ring(cfg);
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut sizes = Vec::new();
    let mut total = 0u64;
    while total < 40 * cfg.data_bytes {
        let n = (next() % (100 << 10)) as usize;
        let seq = w.push(
            seq_ts(sizes.len()),
            TYPE_VIDEO,
            0,
            &content(sizes.len() as u64, n),
        );
        assert_eq!(seq.unwrap(), sizes.len() as u64);
        sizes.push(n);
        total += n as u64;
        // The newest message always reads back; so does every one the reader calls intact.
        let newest = sizes.len() as u64 - 1;
        assert_eq!(read_msg(&r, newest).unwrap().3, content(newest, n));
        let oldest = r.oldest_seq();
        for s in oldest..=newest {
            let (ts, _, _, body) = read_msg(&r, s).unwrap_or_else(|| panic!("seq {s}"));
            assert_eq!(ts, seq_ts(s as usize));
            assert_eq!(body, content(s, sizes[s as usize]), "seq {s}");
        }
        let mut out = Vec::new();
        for s in oldest.saturating_sub(5)..oldest {
            assert!(matches!(r.read(s, &mut out), ReadResult::Lapped { oldest: o } if o > s));
        }
    }
    assert!(sizes.len() > 500);
}

fn seq_ts(i: usize) -> u32 {
    (i as u32).wrapping_mul(33)
}

#[test]
fn lapped_reader_learns_it_and_resyncs_at_keyframe() {
    let (_d, _p, mut w, r) = ring(SMALL);
    w.set_publishing(true, 1);
    let mut out = Vec::new();
    // A reader at seq 0 that never reads while 5 GOPs of 10 messages go by.
    for i in 0..50u64 {
        let fl = if i % 10 == 0 { flags::KEYFRAME } else { 0 };
        w.push(i as u32, TYPE_VIDEO, fl, &content(i, 3000)).unwrap();
    }
    let ReadResult::Lapped { oldest } = r.read(0, &mut out) else {
        panic!("not lapped");
    };
    // 16 slots: only the last 16 can be there.
    assert!((50 - 16..50).contains(&oldest), "{oldest}");
    let k = r.keyframe_seq().unwrap();
    assert_eq!(k, 40);
    let (_, _, fl, body) = read_msg(&r, k).unwrap();
    assert_eq!(fl, flags::KEYFRAME);
    assert_eq!(body, content(40, 3000));
    // Lapping by data (big messages, plenty of slots) is seen too.
    let (_d2, _p2, mut w2, r2) = ring(RingConfig {
        index_slots: 1024,
        ..SMALL
    });
    for i in 0..20u64 {
        w2.push(0, TYPE_VIDEO, 0, &content(i, 60_000)).unwrap();
    }
    assert!(matches!(r2.read(0, &mut out), ReadResult::Lapped { oldest } if oldest > 10));
    assert!(read_msg(&r2, 19).is_some());
}

#[test]
fn open_refuses_missing_short_foreign_and_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    assert!(matches!(
        RingReader::open(&p("missing")),
        Err(RingError::Io { .. })
    ));
    std::fs::write(p("empty"), b"").unwrap();
    assert!(matches!(
        RingReader::open(&p("empty")),
        Err(RingError::NotARing { .. })
    ));
    std::fs::write(p("foreign"), vec![0x5a; 100_000]).unwrap();
    assert!(matches!(
        RingReader::open(&p("foreign")),
        Err(RingError::NotARing { .. })
    ));
    assert!(matches!(
        RingReader::open(dir.path()),
        Err(RingError::Io { .. } | RingError::NotARing { .. })
    ));

    // Start from a good ring and break one thing at a time (the writer is kept alive so the
    // file stays).
    let good = p("good");
    let _w = RingWriter::create(&good, SMALL).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    RingReader::open(&good).unwrap();
    let broken = |name: &str, f: &dyn Fn(&mut Vec<u8>)| -> RingError {
        let mut b = bytes.clone();
        f(&mut b);
        std::fs::write(p(name), &b).unwrap();
        RingReader::open(&p(name)).unwrap_err()
    };
    let set = |b: &mut Vec<u8>, word: usize, v: u64| {
        b[word * 8..word * 8 + 8].copy_from_slice(&v.to_ne_bytes())
    };
    // Only a magic: shorter than a header.
    assert!(matches!(
        broken("short", &|b| b.truncate(8)),
        RingError::Corrupt { .. }
    ));
    assert!(matches!(
        broken("half header", &|b| b.truncate(HEADER_BYTES as usize / 2)),
        RingError::Corrupt { .. }
    ));
    assert!(matches!(
        broken("truncated", &|b| b.truncate(b.len() - 4096)),
        RingError::Corrupt { .. }
    ));
    assert!(matches!(
        broken("longer", &|b| b.extend_from_slice(&[0; 4096])),
        RingError::Corrupt { .. }
    ));
    assert!(matches!(
        broken("version", &|b| set(b, 1, 99)),
        RingError::Version { found: 99, .. }
    ));
    for (word, v) in [
        (2, 0),               // no slots
        (2, 3),               // not a power of two
        (2, 1 << 40),         // absurd
        (3, 0),               // no data
        (3, 1000),            // not page-sized
        (3, u64::MAX - 4095), // absurd (and would overflow)
        (4, 7),               // aside not word-sized
        (4, u64::MAX),
        (5, 12345), // file size disagrees
        (2, 256),   // plausible, but the sizes no longer add up
    ] {
        assert!(
            matches!(
                broken("sizes", &|b| set(b, word, v)),
                RingError::Corrupt { .. }
            ),
            "word {word} = {v}"
        );
    }
}

#[test]
fn corrupt_slot_is_reported_not_followed() {
    let (_d, path, mut w, r) = ring(SMALL);
    w.push(0, TYPE_VIDEO, 0, b"hello").unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let data = SMALL.data_bytes;
    let mut out = Vec::new();
    // (position, length) a writer never stores: mid-word, crossing the end of the data
    // area, longer than the limit.
    for (pos, len) in [(3u64, 1u64), (data - 8, 200), (0, data)] {
        let seq = w.push(0, TYPE_VIDEO, 0, b"x").unwrap();
        let slot = HEADER_BYTES + (seq % u64::from(SMALL.index_slots)) * SLOT_BYTES;
        file.write_at(&pos.to_ne_bytes(), slot + 8).unwrap();
        file.write_at(&len.to_ne_bytes(), slot + 16).unwrap();
        assert_eq!(
            r.read(seq, &mut out),
            ReadResult::Corrupt,
            "pos {pos} len {len}"
        );
    }
    // A slot holding an older seq than `next_seq` promises.
    let seq = w.push(0, TYPE_VIDEO, 0, b"y").unwrap();
    let slot = HEADER_BYTES + (seq % u64::from(SMALL.index_slots)) * SLOT_BYTES;
    file.write_at(&(seq - 1).to_ne_bytes(), slot).unwrap();
    assert_eq!(r.read(seq, &mut out), ReadResult::Corrupt);
    // The rest of the ring is still fine.
    assert_eq!(read_msg(&r, 0).unwrap().3, b"hello");
}

#[test]
fn writer_drop_removes_file_and_marks_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let w = RingWriter::create(&path, SMALL).unwrap();
    assert_eq!(w.path(), path);
    let r = RingReader::open(&path).unwrap();
    assert!(!r.is_closed());
    assert_eq!(r.writer_pid(), std::process::id());
    drop(w);
    assert!(r.is_closed());
    assert!(!path.exists());

    let mut w = RingWriter::create(&path, SMALL).unwrap();
    w.persist();
    drop(w);
    assert!(path.exists());
    // Creating again replaces the stale file; its old reader keeps the old one.
    let old = RingReader::open(&path).unwrap();
    let mut w = RingWriter::create(&path, SMALL).unwrap();
    w.push(0, TYPE_AUDIO, 0, b"new").unwrap();
    assert!(old.is_closed() && old.is_stale());
    assert_eq!(old.next_seq(), 0);
    let new = RingReader::open(&path).unwrap();
    assert!(!new.is_closed() && !new.is_stale());
    // A writer that crashed does not mark its ring closed; its replacement still shows.
    std::mem::forget(w);
    let _w2 = RingWriter::create(&path, SMALL).unwrap();
    assert!(!new.is_closed() && new.is_stale());
    assert_eq!(new.next_seq(), 1);
    // No temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn create_refuses_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    for cfg in [
        RingConfig {
            index_slots: 1000,
            ..SMALL
        },
        RingConfig {
            index_slots: 0,
            ..SMALL
        },
        RingConfig {
            data_bytes: 5000,
            ..SMALL
        },
        RingConfig {
            data_bytes: 0,
            ..SMALL
        },
        RingConfig {
            aside_bytes: 3,
            ..SMALL
        },
    ] {
        assert!(matches!(
            RingWriter::create(&dir.path().join("r"), cfg),
            Err(RingError::Config(_))
        ));
    }
    assert!(matches!(
        RingWriter::create(&dir.path().join("no/such/dir"), SMALL),
        Err(RingError::Io { .. })
    ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn wait_sleeps_until_push_or_timeout() {
    let (_d, _p, mut w, r) = ring(SMALL);
    // Timeout with nothing pushed.
    let seen = r.wake_counter();
    let t = Instant::now();
    r.wait(seen, Some(Duration::from_millis(50)));
    assert!(t.elapsed() >= Duration::from_millis(45));
    // A stale counter returns at once.
    w.push(0, TYPE_AUDIO, 0, b"a").unwrap();
    let t = Instant::now();
    r.wait(seen, Some(Duration::from_secs(5)));
    assert!(t.elapsed() < Duration::from_secs(1));
    // A sleeping reader is woken by a push from another thread.
    let r = Arc::new(r);
    let woke = Arc::new(AtomicBool::new(false));
    let t = {
        let (r, woke) = (r.clone(), woke.clone());
        std::thread::spawn(move || {
            let seen = r.wake_counter();
            let start = Instant::now();
            while r.next_seq() < 2 && start.elapsed() < Duration::from_secs(10) {
                r.wait(seen, Some(Duration::from_secs(10)));
            }
            woke.store(true, Ordering::SeqCst);
            start.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(!woke.load(Ordering::SeqCst));
    assert_eq!(r.sleeping(), 1);
    w.push(0, TYPE_AUDIO, 0, b"b").unwrap();
    let slept = t.join().unwrap();
    assert!(slept < Duration::from_secs(5), "{slept:?}");
    // Nobody asleep: the next push makes no FUTEX_WAKE.
    assert_eq!(r.sleeping(), 0);
    // State changes wake too.
    let seen = r.wake_counter();
    w.set_publishing(true, 9);
    assert_ne!(r.wake_counter(), seen);
}

#[test]
fn file_names_are_safe_and_stale_files_removed() {
    let a = ring_file_name("__defaultVhost__/live/livestream");
    assert!(a.starts_with(RING_FILE_PREFIX));
    assert!(a.ends_with("-__defaultVhost___live_livestream"));
    assert_eq!(a, ring_file_name("__defaultVhost__/live/livestream"));
    // Same sanitized form, different keys: different names.
    assert_ne!(ring_file_name("a/b"), ring_file_name("a_b"));
    for key in [
        "../../etc/passwd",
        "",
        ".",
        "a b;$(rm -rf)",
        &"é".repeat(300),
    ] {
        let n = ring_file_name(key);
        assert!(n.len() <= RING_FILE_PREFIX.len() + 17 + 64, "{n}");
        assert!(n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join(ring_file_name("x")), b"").unwrap();
    std::fs::write(d.join(format!("{}.tmp-1", ring_file_name("y"))), b"").unwrap();
    std::fs::write(d.join("other"), b"").unwrap();
    std::fs::create_dir(d.join(format!("{RING_FILE_PREFIX}dir"))).unwrap();
    assert_eq!(remove_stale(d, RING_FILE_PREFIX).unwrap(), 2);
    assert_eq!(remove_stale(d, RING_FILE_PREFIX).unwrap(), 0);
    assert!(d.join("other").exists());
    assert_eq!(remove_stale(d, "").unwrap(), 0);
}

/// Writer and readers on threads of one process: a quick, in-process cousin of the
/// cross-process stress test (`ring-stress`).
#[test]
fn concurrent_readers_never_see_torn_messages() {
    let cfg = RingConfig {
        index_slots: 64,
        data_bytes: 64 << 10,
        aside_bytes: 256,
    };
    let (_d, path, mut w, _r) = ring(cfg);
    const N: u64 = 20_000;
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let r = RingReader::open(&path).unwrap();
            std::thread::spawn(move || {
                let (mut ok, mut laps, mut cursor) = (0u64, 0u64, 0u64);
                let mut out = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(60);
                while cursor < N && Instant::now() < deadline {
                    let seen = r.wake_counter();
                    match r.read(cursor, &mut out) {
                        ReadResult::Message { timestamp, .. } => {
                            assert_eq!(timestamp, cursor as u32);
                            assert_eq!(out, content(cursor, size_of(cursor)), "seq {cursor}");
                            ok += 1;
                            cursor += 1;
                        }
                        ReadResult::NotYet => r.wait(seen, Some(Duration::from_millis(10))),
                        ReadResult::Lapped { oldest } => {
                            assert!(oldest > cursor);
                            laps += 1;
                            cursor = oldest;
                        }
                        ReadResult::Corrupt => panic!("corrupt at {cursor}"),
                    }
                }
                (ok, laps)
            })
        })
        .collect();
    for seq in 0..N {
        w.push(seq as u32, TYPE_VIDEO, 0, &content(seq, size_of(seq)))
            .unwrap();
        if seq % 64 == 0 {
            std::thread::yield_now();
        }
    }
    for t in readers {
        let (ok, laps) = t.join().unwrap();
        assert!(ok > 0);
        eprintln!("reader: {ok} messages, {laps} laps");
    }
}

fn size_of(seq: u64) -> usize {
    (seq.wrapping_mul(2_654_435_761) % 9000) as usize
}

#[derive(Debug, Clone)]
enum Op {
    Push(usize),
    Read(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..=65536).prop_map(Op::Push),
        1 => (0usize..=64).prop_map(Op::Push),
        3 => (0u64..40).prop_map(Op::Read),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever was pushed, a read returns exactly the bytes pushed at that seq, or NotYet
    /// (not pushed), or Lapped (overwritten) — never other bytes. Single-threaded, so it is
    /// exact: a message is there iff `oldest_seq() <= seq < next_seq()`, and every recent
    /// message that fits in half the data area and the index is there.
    #[test]
    fn reads_return_pushed_bytes_or_say_why_not(ops in proptest::collection::vec(op(), 1..200)) {
        let (_d, _p, mut w, r) = ring(SMALL);
        let mut pushed: Vec<usize> = Vec::new();
        let mut out = Vec::new();
        for op in ops {
            match op {
                Op::Push(n) => {
                    let seq = w.push(pushed.len() as u32, TYPE_AUDIO, 0, &content(pushed.len() as u64, n)).unwrap();
                    prop_assert_eq!(seq, pushed.len() as u64);
                    pushed.push(n);
                }
                Op::Read(back) => {
                    // Positions around and past the end, and far back.
                    let seq = (pushed.len() as u64 + 2).saturating_sub(back);
                    let oldest = r.oldest_seq();
                    match r.read(seq, &mut out) {
                        ReadResult::Message { timestamp, .. } => {
                            prop_assert!(seq >= oldest && (seq as usize) < pushed.len());
                            prop_assert_eq!(timestamp, seq as u32);
                            prop_assert_eq!(&out, &content(seq, pushed[seq as usize]));
                        }
                        ReadResult::NotYet => prop_assert!(seq as usize >= pushed.len()),
                        ReadResult::Lapped { oldest: o } => {
                            prop_assert!(seq < oldest);
                            prop_assert!(o > seq && o <= pushed.len() as u64);
                        }
                        ReadResult::Corrupt => prop_assert!(false, "corrupt"),
                    }
                }
            }
            // Lower bound on what is kept, computed without the writer's bookkeeping.
            let mut bytes = 0u64;
            for (k, &n) in pushed.iter().enumerate().rev().take(SMALL.index_slots as usize) {
                bytes += (n as u64).div_ceil(8) * 8;
                if bytes > SMALL.data_bytes / 2 {
                    break;
                }
                prop_assert!(read_msg(&r, k as u64).is_some(), "seq {} should be kept", k);
            }
        }
    }
}

#[allow(dead_code)]
fn _assert_send_sync(_: &Path) {
    fn is<T: Send + Sync>() {}
    is::<RingReader>();
    is::<RingWriter>();
}

#[test]
fn grow_continues_the_stream_in_a_bigger_ring() {
    let (_d, path, mut w, old) = ring(SMALL);
    w.set_publishing(true, 7);
    w.push(0, TYPE_DATA, flags::METADATA, b"meta").unwrap();
    w.push(0, TYPE_VIDEO, flags::SEQUENCE_HEADER, b"avc")
        .unwrap();
    w.push(0, TYPE_VIDEO, flags::KEYFRAME, &content(2, 500))
        .unwrap();
    w.push(40, TYPE_VIDEO, 0, &content(3, 300)).unwrap();
    w.push(80, TYPE_VIDEO, flags::KEYFRAME, &content(4, 900))
        .unwrap();
    w.push(120, TYPE_AUDIO, 0, &content(5, 20)).unwrap();
    // A reader that has read up to seq 3 only.
    let bigger = RingConfig {
        index_slots: 64,
        data_bytes: 1 << 20,
        aside_bytes: 8192,
    };
    w.grow(bigger).unwrap();
    assert_eq!(w.config(), bigger);
    assert_eq!(w.next_seq(), 6, "sequence numbers go on");
    // The old ring is closed but still readable to its end, and points to its successor.
    assert!(old.is_closed());
    for seq in 3..6 {
        assert_eq!(
            read_msg(&old, seq).unwrap().3.len(),
            [300, 900, 20][seq as usize - 3]
        );
    }
    let new = old.successor().expect("successor");
    assert_eq!(new.state(), (true, 7));
    assert_eq!(
        new.keyframe_seq(),
        Some(4),
        "the GOP a new reader starts with"
    );
    assert_eq!(read_msg(&new, 4).unwrap().3, content(4, 900));
    assert_eq!(read_msg(&new, 5).unwrap().3, content(5, 20));
    assert!(matches!(
        new.read(3, &mut Vec::new()),
        ReadResult::Lapped { .. }
    ));
    let h = new.headers();
    assert_eq!(
        h.metadata.as_ref().map(|m| (m.seq, &m.payload[..])),
        Some((0, &b"meta"[..]))
    );
    assert_eq!(h.video.as_ref().map(|m| m.seq), Some(1));
    // New pushes land in the new ring, after the copy.
    assert_eq!(w.push(160, TYPE_VIDEO, 0, &content(6, 100)).unwrap(), 6);
    assert_eq!(read_msg(&new, 6).unwrap().0, 160);
    assert_eq!(RingReader::open(&path).unwrap().next_seq(), 7);
    // A ring that ended (unpublished) has no successor, nor does a live one.
    assert!(new.successor().is_none());
    drop(w);
    assert!(new.successor().is_none(), "unpublished is the end");
    assert!(!path.exists(), "the grown ring goes with its writer");
}

#[test]
fn failed_grow_leaves_the_ring_as_it_was() {
    let (_d, path, mut w, r) = ring(SMALL);
    w.set_publishing(true, 1);
    w.push(0, TYPE_VIDEO, flags::KEYFRAME, b"k").unwrap();
    let bad = RingConfig {
        index_slots: 3,
        ..SMALL
    };
    assert!(w.grow(bad).is_err());
    assert!(!r.is_closed() && !r.is_stale());
    assert_eq!(w.push(40, TYPE_VIDEO, 0, b"p").unwrap(), 1);
    assert_eq!(read_msg(&r, 1).unwrap().3, b"p");
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left");
}

#[test]
fn one_thread_sleeps_on_many_rings_and_its_own_bell() {
    let dir = tempfile::tempdir().unwrap();
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for i in 0..3 {
        let path = dir.path().join(format!("r{i}"));
        writers.push(RingWriter::create(&path, SMALL).unwrap());
        readers.push(Arc::new(RingReader::open(&path).unwrap()));
    }
    let bell = Arc::new(std::sync::atomic::AtomicU32::new(0));
    // Nothing changes: the timeout.
    let seen: Vec<(&RingReader, u32)> = readers.iter().map(|r| (&**r, r.wake_counter())).collect();
    let t = Instant::now();
    wait_any(&seen, Some((&bell, 0)), Some(Duration::from_millis(60))).unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(55),
        "{:?}",
        t.elapsed()
    );
    // A push to the third ring from another thread wakes the sleeper, counted as asleep
    // on every ring meanwhile.
    let sleeper = {
        let readers = readers.clone();
        let bell = bell.clone();
        std::thread::spawn(move || {
            let seen: Vec<(&RingReader, u32)> =
                readers.iter().map(|r| (&**r, r.wake_counter())).collect();
            let start = Instant::now();
            while readers[2].next_seq() == 0 && start.elapsed() < Duration::from_secs(10) {
                wait_any(&seen, Some((&bell, 0)), Some(Duration::from_secs(10))).unwrap();
            }
            start.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(readers.iter().all(|r| r.sleeping() == 1));
    writers[2].push(0, TYPE_AUDIO, 0, b"x").unwrap();
    assert!(sleeper.join().unwrap() < Duration::from_secs(5));
    assert!(readers.iter().all(|r| r.sleeping() == 0));
    // The bell, rung by this process, wakes it too.
    let sleeper = {
        let readers = readers.clone();
        let bell = bell.clone();
        std::thread::spawn(move || {
            let seen: Vec<(&RingReader, u32)> =
                readers.iter().map(|r| (&**r, r.wake_counter())).collect();
            let start = Instant::now();
            while bell.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(10) {
                wait_any(&seen, Some((&bell, 0)), Some(Duration::from_secs(10))).unwrap();
            }
            start.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    bell.store(1, Ordering::SeqCst);
    wake_private(&bell);
    assert!(sleeper.join().unwrap() < Duration::from_secs(5));
}
