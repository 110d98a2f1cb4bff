#!/usr/bin/env bash
# Run every test: unit and property tests of each crate, and the end-to-end tests that start
# the real server binaries and drive them with ffmpeg, ffprobe, rtmpdump, GStreamer,
# Chromium and our own client. Installs what is missing first (Debian, apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
# The scripts' own tests (scripts/bench.py): Python standard library only.
python3 -m unittest discover -s scripts/tests
# The end-to-end tests run the release binaries, and the C examples link the C library
# (libsrs_librtmp.a/.so, which `cargo test` does not build), so build them first.
cargo build --release --workspace --bins --lib
# Each end-to-end test runs its own server and encoders; on a 2-core machine more than a
# few at a time would only measure CPU starvation.
cargo test --release --workspace -- --test-threads="${SRS_TEST_THREADS:-3}"
