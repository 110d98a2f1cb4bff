#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 30) each; installs cargo-fuzz when missing.
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-30}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $(cargo fuzz list); do
    if ! cargo fuzz run -O "$target" -- -max_total_time="$seconds" -max_len=16384 >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz: $target FAILED (artifacts in fuzz/artifacts/$target)" >&2
        exit 1
    fi
    echo "fuzz: $target ok: $(grep -E '^Done' "$log" | tail -1)"
done
