#!/usr/bin/env bash
# Benchmark srs-rs against nginx-rtmp and SRS 6: see scripts/bench.py (its docstring lists the
# modes and the environment variables; scripts/bench.sh --help prints it).
exec python3 "$(dirname "$0")/bench.py" "$@"
