#!/usr/bin/env python3
"""Benchmark srs-rs against nginx-rtmp and SRS 6 on this machine, in the same run.

    scripts/bench.sh                          # fan-out: 500, 1000, 2000, 4000 players (15-20 minutes)
    STEPS="500 1000" DURATION=20 scripts/bench.sh
    REV=HEAD scripts/bench.sh                 # a clean build of a commit, not the working tree
    MODE=streams scripts/bench.sh             # many streams: 1000 publishers at once, 2 players each
    MODE=streams STREAM_KBPS=2000 GOP_SECONDS=6 scripts/bench.sh
    scripts/bench.sh --mode streams           # the same as MODE=streams
    MODE=edge scripts/bench.sh                # 1 origin + 3 edges: 300, then 900 players on the edges
    MODE=edge EDGE_PLAYERS="150" DURATION=10 scripts/bench.sh   # (or --mode edge)

(scripts/bench.sh runs this file; Python 3.11 standard library only.)

Builds the release binaries, installs nginx and libnginx-mod-rtmp (and ffmpeg, for the test
file) with apt-get when missing. Each server is started afresh for every step and measured
alone, on a free loopback port with matching settings (chunk_size 60000, one worker process
where the server has a choice, live only: no HLS, no recording, no exec, no HTTP but SRS 6's
API on an edge-mode origin):
nginx-rtmp, SRS 6 (the real one, ../shared/peers/srs6/srs) and srs-rs.

Fan-out mode (the default): for each step and each server, publishes one ~500 kbps stream
with `srs-bench publish`, runs `srs-bench play` with the step's player count, and measures
the server over a fixed window once every player has started:

- CPU-seconds per delivered Gbit: utime + stime of every process of the server (master and
  children, from /proc/PID/stat) over the window, divided by the payload (audio, video and
  data message bodies, as srs-bench counts them) the players received in the same window;
- memory per player: PSS of every process of the server (/proc/PID/smaps_rollup) with the
  players connected, minus PSS with the publisher alone, divided by the players;
- from srs-bench: players below 90 % of the stream's bitrate, first-frame p99, lag p99 (lag
  from the clock SEI srs-bench puts in the H.264 frames: nginx-rtmp drops data messages).

Streams mode (MODE=streams or --mode streams): for each step N of STREAMS and each server
(srs-rs with its default worker count, SRS 6, nginx-rtmp), N publishers of the test file
arrive together (`srs-bench publish -m N`, all at once), then PLAYERS_PER_STREAM players per
stream (`srs-bench play --streams N`). It reports publishers accepted, publish start
latency, players connected, and memory per published stream: (RSS of every process of the
server + the bytes of the server's files in /dev/shm) with the streams and players on,
minus the same with the server idle, divided by N; and the same with PSS. The RSS figure
counts a /dev/shm page twice or more (once in the file, once per process mapping it), so a
third figure, PSS + the /dev/shm bytes no process of the server maps, counts every page
once.

Edge mode (MODE=edge or --mode edge): for each step N of EDGE_PLAYERS and each server that
can pull from an origin (srs-rs with its default worker count and `cluster { mode remote;
origin ...; }`, SRS 6 with the same, nginx-rtmp with `pull rtmp://origin/live;`), starts one
origin and 3 edges of that server, publishes one stream to the origin (`srs-bench publish`,
as fan-out), then runs EDGE_ORIGIN_PLAYERS players on the origin (every one a lag probe)
and N players spread evenly over the edges (one `srs-bench play` per edge), and measures
over a window as fan-out does:

- the origin's upstreams: its play connections for the stream minus its own players
  (srs-rs: `srs-cli clients`; SRS 6: its HTTP API, /api/v1/clients, on for the origin
  only; nginx-rtmp: established TCP connections to the origin's port minus the publisher
  and the players, which is also shown for every server as a check). 3 is right: one per
  edge;
- CPU-seconds of every process of the origin over the window, and of the 3 edges together;
- lag p50 and p99 of the origin's players and of the edges' players (the worst edge: each
  edge has its own srs-bench), and the latency a tier adds: edge minus origin. The target
  is at most 50 ms p99 per tier on loopback.

The servers run on core 0 and srs-bench on the other cores (taskset) when there are two or
more; the output says which. On loopback the kernel's receive work for the players lands on
the server's core, so the fan-out table also shows that whole core per Gbit.

Tables go to stdout, progress to stderr; every number is also written as JSON (path
printed). Every process the script starts is stopped by its pid when it ends, Ctrl-C
included (and dies with the script if the script is killed).

Environment (every mode unless said):
  MODE        fanout | streams | edge                                  fanout
  DURATION    measured seconds per step                                20
  SETTLE      seconds from the last player's start to the window       3
  RAMP        players started per second (edge: per srs-bench play)    250
  GOP_SECONDS GOP of the test stream, seconds                          2
  BUILD       1: cargo build --release --bins first                    1
  REV         measure this commit instead of the working tree: it is exported (git
              archive) to the work directory and built there, into target/bench-rev
  SERVER_CPUS cores for the servers                                    0 (when nproc >= 2)
  LOAD_CPUS   cores for srs-bench and this script                      the others
  OUT         JSON output                                  target/bench/bench-<time>.json
  KEEP        1: keep the work directory (configs, logs, per-run JSON)
  QUIET_WAIT  seconds to wait, before each run, for the machine to be idle          30
  QUIET_BUSY  idle means: all cores together less busy than this (%)               15
  SRS6        the SRS 6 binary                             ../shared/peers/srs6/srs
 fan-out:
  STEPS       player counts                                            "500 1000 2000 4000"
  KBPS        bitrate of the test stream (edge mode's too)             500
  WORKERS2    1: also run srs-rs with worker_processes 2 (not pinned)   1
 streams:
  STREAMS     stream counts, one step each                             "1000"
  STREAM_KBPS bitrate of each stream                                   500
  PLAYERS_PER_STREAM  players of each stream                           2
 edge:
  EDGE_PLAYERS        players on the edges, one step each, split evenly over
                      the 3 edges                                      "300 900"
  EDGE_ORIGIN_PLAYERS players on the origin itself (all lag probes)    20
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

CHUNK_SIZE = 60000
# Most connections any server is configured for (players + publishers).
MAX_CONNECTIONS = 20000
# SRS 6 refuses to start unless max_connections + 128 is below the open files limit.
SRS6_RESERVED_FDS = 128
SHM = "/dev/shm"
# Seconds a publisher may take to reach NetStream.Publish.Start (srs-bench publish --timeout).
PUBLISH_TIMEOUT = 10
# A streams step stops early when the machine's available memory falls below this share of
# its total (or 1 GiB): a server that reserves too much per stream must not take the
# machine down with it.
LOW_MEMORY_SHARE = 0.10
LOW_MEMORY_KB = 1 << 20

# Edge mode: edges per origin, and the most latency a tier may add (lag p99, ms).
EDGES = 3
TIER_TARGET_MS = 50

# Display names, in the order of the columns.
NAMES = {
    "nginx": "nginx-rtmp",
    "srs6": "SRS 6",
    "ours": "srs-rs",
    "ours1": "srs-rs",
    "ours2": "srs-rs w2*",
}


class BenchError(Exception):
    """A reason to stop the whole run (printed as `bench: ...`)."""


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------


@dataclass
class Settings:
    mode: str
    steps: list[int]
    streams: list[int]
    duration: int
    settle: int
    ramp: int
    kbps: int
    stream_kbps: int
    gop_seconds: float
    players_per_stream: int
    edge_players: list[int]
    edge_origin_players: int
    workers2: bool
    build: bool
    rev: str | None
    keep: bool
    quiet_wait: int
    quiet_busy: int
    out: Path
    server_cpus: str | None
    load_cpus: str | None
    srs6: Path


def _positive_ints(name: str, text: str) -> list[int]:
    words = text.split()
    if not words or not all(re.fullmatch(r"[0-9]+", w) and int(w) > 0 for w in words):
        raise BenchError(f"{name} takes positive integers (got '{text}')")
    return [int(w) for w in words]


def _positive_int(name: str, text: str) -> int:
    v = _positive_ints(name, text)
    if len(v) != 1:
        raise BenchError(f"{name} takes one positive integer (got '{text}')")
    return v[0]


def _edge_players(text: str) -> list[int]:
    v = _positive_ints("EDGE_PLAYERS", text)
    if min(v) < EDGES:
        raise BenchError(f"EDGE_PLAYERS takes player counts of at least {EDGES}, one player per edge (got '{text}')")
    return v


def _int_at_least(name: str, text: str, low: int, high: int | None = None) -> int:
    if not re.fullmatch(r"[0-9]+", text.strip()) or int(text) < low or (high is not None and int(text) > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise BenchError(f"{name} takes an integer {bound} (got '{text}')")
    return int(text)


def _cpu_list(name: str, text: str | None) -> str | None:
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*", text):
        raise BenchError(f"{name} takes a taskset core list like 0 or 1-3,5 (got '{text}')")
    return text


def parse_mode(argv: list[str], env_mode: str | None) -> str:
    """The mode from the command line (`--mode`), else MODE, else fan-out."""
    p = argparse.ArgumentParser(
        prog="scripts/bench.sh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mode", choices=["fanout", "streams", "edge"], help="overrides MODE")
    a = p.parse_args(argv)
    mode = a.mode or (env_mode or "fanout")
    mode = {"fan-out": "fanout"}.get(mode, mode)
    if mode not in ("fanout", "streams", "edge"):
        raise BenchError(f"MODE is fanout, streams or edge (got '{mode}')")
    return mode


def parse_settings(env: Mapping[str, str], argv: list[str], root: Path, stamp: str) -> Settings:
    """Every setting from the environment and the command line, validated."""
    g = lambda k, d: env.get(k, d)  # noqa: E731
    mode = parse_mode(argv, env.get("MODE"))
    gop_text = g("GOP_SECONDS", "2")
    try:
        gop = float(gop_text)
    except ValueError:
        gop = float("nan")
    if not (0 < gop <= 60):
        raise BenchError(f"GOP_SECONDS takes a number of seconds in (0, 60] (got '{gop_text}')")
    # The same rule as the bash script had, and the same message.
    for name, text in (("STEPS", g("STEPS", "500 1000 2000 4000")), ("DURATION", g("DURATION", "20")),
                       ("SETTLE", g("SETTLE", "3")), ("RAMP", g("RAMP", "250")), ("KBPS", g("KBPS", "500"))):
        if not text.split() or not all(re.fullmatch(r"[0-9]+", w) and int(w) > 0 for w in text.split()):
            raise BenchError(f"STEPS, DURATION, SETTLE, RAMP and KBPS take positive integers (got '{text}')")
    out = g("OUT", "") or str(root / "target" / "bench" / f"bench-{stamp}.json")
    return Settings(
        mode=mode,
        steps=_positive_ints("STEPS", g("STEPS", "500 1000 2000 4000")),
        streams=_positive_ints("STREAMS", g("STREAMS", "1000")),
        duration=_positive_int("DURATION", g("DURATION", "20")),
        settle=_positive_int("SETTLE", g("SETTLE", "3")),
        ramp=_positive_int("RAMP", g("RAMP", "250")),
        kbps=_positive_int("KBPS", g("KBPS", "500")),
        stream_kbps=_positive_int("STREAM_KBPS", g("STREAM_KBPS", "500")),
        gop_seconds=gop,
        players_per_stream=_positive_int("PLAYERS_PER_STREAM", g("PLAYERS_PER_STREAM", "2")),
        edge_players=_edge_players(g("EDGE_PLAYERS", "300 900")),
        edge_origin_players=_positive_int("EDGE_ORIGIN_PLAYERS", g("EDGE_ORIGIN_PLAYERS", "20")),
        workers2=g("WORKERS2", "1") == "1",
        build=g("BUILD", "1") == "1",
        rev=g("REV", "") or None,
        keep=g("KEEP", "0") == "1",
        quiet_wait=_int_at_least("QUIET_WAIT", g("QUIET_WAIT", "30"), 0),
        quiet_busy=_int_at_least("QUIET_BUSY", g("QUIET_BUSY", "15"), 1, 100),
        out=Path(out),
        server_cpus=_cpu_list("SERVER_CPUS", env.get("SERVER_CPUS")),
        load_cpus=_cpu_list("LOAD_CPUS", env.get("LOAD_CPUS")),
        srs6=Path(g("SRS6", "") or root.parent / "shared" / "peers" / "srs6" / "srs"),
    )


def flv_seconds(gop_seconds: float) -> int:
    """Length of the looped test file: about 30 s, a whole number of GOPs."""
    return max(1, math.ceil(math.ceil(30 / gop_seconds) * gop_seconds - 1e-9))


# ---------------------------------------------------------------------------------------
# Cores: pinning and taskset lists
# ---------------------------------------------------------------------------------------


def expand_cpus(spec: str) -> list[int]:
    """A taskset list ("1-3,5") as cores ([1, 2, 3, 5])."""
    out: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


@dataclass
class Pinning:
    server_cpus: str
    load_cpus: str
    all_cpus: str
    how: str

    @property
    def server_ncpu(self) -> int:
        return len(expand_cpus(self.server_cpus))

    @property
    def load_ncpu(self) -> int:
        return len(expand_cpus(self.load_cpus))


def pinning(ncpu: int, server_env: str | None, load_env: str | None) -> Pinning:
    """Servers on one core, the load tool (and this script) on the others."""
    all_cpus = f"0-{ncpu - 1}"
    if ncpu >= 2:
        server = server_env or "0"
        load = load_env or ("1" if ncpu == 2 else f"1-{ncpu - 1}")
        how = f"servers pinned to core(s) {server}, srs-bench (players and publishers) to core(s) {load}, with taskset -c"
        return Pinning(server, load, all_cpus, how)
    return Pinning(all_cpus, all_cpus, all_cpus,
                   "not pinned: 1 core, servers and srs-bench share it (CPU figures of the server are still its own)")


# ---------------------------------------------------------------------------------------
# /proc: parsing (pure) and reading
# ---------------------------------------------------------------------------------------


def parse_stat(text: str) -> tuple[int, int, int, int]:
    """/proc/PID/stat: (pid, parent pid, utime, stime). The command name may hold spaces
    and parentheses, so the fields are counted from its last `)`."""
    pid = int(text[: text.index(" ")])
    f = text[text.rindex(")") + 2:].split()
    return pid, int(f[1]), int(f[11]), int(f[12])


def descendants(root: int, parents: Mapping[int, int]) -> list[int]:
    """ROOT and all its descendants (empty when ROOT is gone)."""
    if root not in parents:
        return []
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return sorted(out)


def parse_smaps_rollup(text: str) -> dict[str, int]:
    """/proc/PID/smaps_rollup (or smaps): each `Name: N kB` field summed, in KB."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s+(\d+) kB", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(2))
    return out


def parse_core_times(text: str) -> dict[str, tuple[int, int]]:
    """/proc/stat: per core, (total ticks, idle + iowait ticks)."""
    out = {}
    for line in text.splitlines():
        f = line.split()
        if f and re.fullmatch(r"cpu[0-9]+", f[0]):
            v = [int(x) for x in f[1:]]
            out[f[0]] = (sum(v), v[3] + v[4])
    return out


def core_busy(a: Mapping[str, tuple[int, int]], b: Mapping[str, tuple[int, int]]) -> dict[str, int]:
    """Busy share (%) of each core between two samples."""
    out = {}
    for cpu, (t1, i1) in b.items():
        t0, i0 = a.get(cpu, (t1, i1))
        dt, di = t1 - t0, i1 - i0
        out[cpu] = round(100 * (dt - di) / dt) if dt > 0 else 0
    return out


def format_core_busy(busy: Mapping[str, int]) -> str:
    """"cpu0=97% cpu1=40%"."""
    return " ".join(f"{c}={v}%" for c, v in sorted(busy.items(), key=lambda kv: int(kv[0][3:])))


def all_busy(a: Mapping[str, tuple[int, int]], b: Mapping[str, tuple[int, int]]) -> int:
    """Busy share (%) of all cores together between two samples."""
    dt = sum(t for t, _ in b.values()) - sum(t for t, _ in a.values())
    di = sum(i for _, i in b.values()) - sum(i for _, i in a.values())
    return round(100 * (dt - di) / dt) if dt > 0 else 0


def cores_cpu_s(cpus: Iterable[int], a, b, hz: int) -> float:
    """CPU-seconds the given cores were busy between two samples, whoever used them
    (processes, softirq)."""
    s = 0
    for c in cpus:
        k = f"cpu{c}"
        if k in a and k in b:
            s += (b[k][0] - a[k][0]) - (b[k][1] - a[k][1])
    return s / hz


def max_busy(cpus: Iterable[int], busy: Mapping[str, int]) -> int:
    """The highest busy share among some cores."""
    return max([busy.get(f"cpu{c}", 0) for c in cpus] or [0])


def tcp_ports(text: str) -> list[tuple[int, str]]:
    """/proc/net/tcp or tcp6: (local port, state) of every socket."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) > 3 and ":" in f[1]:
            out.append((int(f[1].rsplit(":", 1)[1], 16), f[3]))
    return out


def port_in_use(port: int, tables: Iterable[str]) -> bool:
    return any(p == port for t in tables for p, _ in tcp_ports(t))


def port_listening(port: int, tables: Iterable[str]) -> bool:
    return any(p == port and st == "0A" for t in tables for p, st in tcp_ports(t))


def established(port: int, tables: Iterable[str]) -> int:
    """Established connections a server accepted on PORT (its side of each: local port
    PORT; the clients' sides have their own ephemeral ports)."""
    return sum(p == port and st == "01" for t in tables for p, st in tcp_ports(t))


def shm_maps(text: str) -> dict[int, str]:
    """Files under /dev/shm in /proc/PID/maps: inode -> path (" (deleted)" kept)."""
    out = {}
    for line in text.splitlines():
        f = line.split(maxsplit=5)
        if len(f) == 6 and f[5].startswith(SHM + "/"):
            out[int(f[4])] = f[5]
    return out


def shm_root(path: str) -> str:
    """The entry directly under /dev/shm that holds PATH (a server's own directory)."""
    rel = path[len(SHM) + 1:].split(" (deleted)")[0]
    return f"{SHM}/{rel.split('/')[0]}"


def parse_meminfo(text: str) -> dict[str, int]:
    return parse_smaps_rollup(text)


def low_memory(meminfo: Mapping[str, int]) -> bool:
    total = meminfo.get("MemTotal", 0)
    avail = meminfo.get("MemAvailable", total)
    return avail < max(LOW_MEMORY_KB, LOW_MEMORY_SHARE * total)


_TICK = re.compile(r"^t=(\d+)s ")


def parse_play_tick(line: str) -> tuple[int, int, int] | None:
    """srs-bench play's line a second: (t, kbps_total, connected)."""
    m = _TICK.match(line)
    k = re.search(r" kbps_total=(\d+)", line)
    c = re.search(r" connected=(\d+)", line)
    if not (m and k and c):
        return None
    return int(m.group(1)), int(k.group(1)), int(c.group(1))


def parse_publish_tick(line: str) -> tuple[int, int, int, int] | None:
    """srs-bench publish's line a second: (t, publishing, failed, disconnects)."""
    m = re.match(r"^t=(\d+)s publishing=(\d+) failed=(\d+) disconnects=(\d+)", line)
    return tuple(int(x) for x in m.groups()) if m else None  # type: ignore[return-value]


def file_kbps_from(stderr: str) -> int | None:
    """The test file's rate, from what `srs-bench publish` says about it on stderr."""
    for line in stderr.splitlines():
        m = re.search(r" (\d+) kbps$", line)
        if m:
            return int(m.group(1))
    return None


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def proc_parents() -> dict[int, int]:
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            t = read(f"/proc/{d}/stat")
            if t:
                pid, ppid, _, _ = parse_stat(t)
                out[pid] = ppid
    return out


def tree_pids(root: int) -> list[int]:
    return descendants(root, proc_parents())


def cpu_ticks(pids: Iterable[int]) -> int:
    """utime + stime of PIDS (all their threads), in clock ticks."""
    s = 0
    for p in pids:
        t = read(f"/proc/{p}/stat")
        if t:
            _, _, u, st = parse_stat(t)
            s += u + st
    return s


def rollup(pids: Iterable[int]) -> dict[str, int]:
    """smaps_rollup of PIDS summed (Rss, Pss, Pss_Shmem, ...), in KB."""
    total: dict[str, int] = {}
    for p in pids:
        t = read(f"/proc/{p}/smaps_rollup") or read(f"/proc/{p}/smaps")
        for k, v in parse_smaps_rollup(t).items():
            total[k] = total.get(k, 0) + v
    return total


def pss_kb(pids: Iterable[int]) -> int:
    return rollup(pids).get("Pss", 0)


def core_times() -> dict[str, tuple[int, int]]:
    return parse_core_times(read("/proc/stat"))


def tcp_tables() -> list[str]:
    return [read("/proc/net/tcp"), read("/proc/net/tcp6")]


def files_under(roots: Iterable[str]) -> list[str]:
    """Every regular file that is one of ROOTS or under one of them."""
    out = []
    for root in roots:
        if os.path.isfile(root):
            out.append(root)
        for d, _, names in os.walk(root):
            out.extend(os.path.join(d, n) for n in names)
    return out


@dataclass
class ShmUse:
    """What a server holds in /dev/shm, in KB of allocated blocks (a sparse file costs
    only what it uses)."""
    kb: int = 0
    unmapped_kb: int = 0
    files: int = 0
    roots: list[str] = field(default_factory=list)


def shm_use(pids: Iterable[int]) -> ShmUse:
    """The files under /dev/shm that the processes map or hold open, with everything else
    in their directories (a server's own directory under /dev/shm), counted once each."""
    mapped: set[int] = set()
    roots: set[str] = set()
    extra: dict[tuple[int, int], int] = {}  # deleted files still open or mapped
    for p in pids:
        maps = shm_maps(read(f"/proc/{p}/maps"))
        mapped.update(maps)
        for path in maps.values():
            if not path.endswith(" (deleted)"):
                roots.add(shm_root(path))
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            fds = []
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{p}/fd/{fd}")
                if not target.startswith(SHM + "/"):
                    continue
                if target.endswith(" (deleted)"):
                    st = os.stat(f"/proc/{p}/fd/{fd}")
                    extra[(st.st_dev, st.st_ino)] = st.st_blocks * 512
                else:
                    roots.add(shm_root(target))
            except OSError:
                pass
    files: dict[tuple[int, int], tuple[int, bool]] = {}
    for path in files_under(sorted(roots)):
        try:
            st = os.lstat(path)
        except OSError:
            continue  # removed meanwhile
        files[(st.st_dev, st.st_ino)] = (st.st_blocks * 512, st.st_ino in mapped)
    for key, b in extra.items():
        files.setdefault(key, (b, key[1] in mapped))
    total = sum(b for b, _ in files.values())
    unmapped = sum(b for b, m in files.values() if not m)
    return ShmUse(kb=total // 1024, unmapped_kb=unmapped // 1024, files=len(files), roots=sorted(roots))


# ---------------------------------------------------------------------------------------
# Memory per stream (pure)
# ---------------------------------------------------------------------------------------


@dataclass
class MemSample:
    """Memory of all the processes of a server, in KB."""
    rss_kb: int = 0
    pss_kb: int = 0
    shm_kb: int = 0
    shm_unmapped_kb: int = 0
    processes: int = 0


def mem_sample(pids: list[int]) -> MemSample:
    r = rollup(pids)
    s = shm_use(pids)
    return MemSample(r.get("Rss", 0), r.get("Pss", 0), s.kb, s.unmapped_kb, len(pids))


def memory_per_stream(idle: MemSample, on: MemSample, n: int) -> dict[str, float | None]:
    """KB per stream: (RSS + /dev/shm) and (PSS + /dev/shm) with the streams on minus idle,
    over N; and PSS + the /dev/shm bytes no process maps (every page once)."""
    if n <= 0:
        return {"rss_shm_kb": None, "pss_shm_kb": None, "pss_unmapped_shm_kb": None, "shm_kb": None}

    def per(f: Callable[[MemSample], int]) -> float:
        return round((f(on) - f(idle)) / n, 1)

    return {
        "rss_shm_kb": per(lambda m: m.rss_kb + m.shm_kb),
        "pss_shm_kb": per(lambda m: m.pss_kb + m.shm_kb),
        "pss_unmapped_shm_kb": per(lambda m: m.pss_kb + m.shm_unmapped_kb),
        "shm_kb": per(lambda m: m.shm_kb),
    }


# ---------------------------------------------------------------------------------------
# Formatting (pure)
# ---------------------------------------------------------------------------------------

# How a metric is shown; others are shown as they are.
FORMATS = {
    "window_s": ".3f", "cpu_s": ".3f", "payload_gbit": ".4f", "payload_mbps": ".1f",
    "cpu_per_gbit": ".3f", "core_cpu_per_gbit": ".3f", "server_cores": ".2f", "load_cores": ".2f",
    "pss_per_player_kb": ".1f", "mem_rss_per_stream_kb": ".1f", "mem_pss_per_stream_kb": ".1f",
    "mem_unique_per_stream_kb": ".1f", "shm_per_stream_kb": ".1f",
    "origin_cpu_s": ".3f", "edges_cpu_s": ".3f", "origin_cores": ".2f", "edges_cores": ".2f",
}


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def cell(metric: str, v) -> str:
    """A value as a table shows it ("" when missing)."""
    if v is None:
        return ""
    if is_num(v) and metric in FORMATS:
        return format(v, FORMATS[metric])
    return str(v)


def ratio(a, b) -> str:
    """a / b as "0.42", or "-" when either is missing or b is not positive."""
    if is_num(a) and is_num(b) and b > 0:
        return f"{a / b:.2f}"
    return "-"


def ratio_value(a, b) -> float | None:
    r = ratio(a, b)
    return None if r == "-" else float(r)


def target_le(r: str, limit: float, unit: str) -> str:
    if re.fullmatch(r"-?[0-9.]+", r):
        return f"{'met' if float(r) <= limit else 'NOT met'} ({r}{unit})"
    return "not measured"


def target_lt(v, limit: float, unit: str) -> str:
    if is_num(v):
        return f"{'met' if v < limit else 'NOT met'} ({v}{unit})"
    return "not measured"


LABEL_W, VALUE_W, RATIO_W = 38, 14, 11


def table_row(label: str, values: list[str], ratios: list[str], extra: list[str] = (), note: str = "") -> str:
    """One line of a comparison table: label, a column per server, the ratios, more
    columns, then a free-text note."""
    s = f"{label:<{LABEL_W}}"
    s += "".join(f" {v:>{VALUE_W}}" for v in values)
    s += "".join(f" {r:>{RATIO_W}}" for r in ratios)
    s += "".join(f" {v:>{VALUE_W}}" for v in extra)
    return f"{s}   {note}".rstrip()


# ---------------------------------------------------------------------------------------
# Server configurations (pure)
# ---------------------------------------------------------------------------------------


def nginx_conf(rtmp_so: str, port: int, d: Path, nofile: int, pull: int | None = None) -> str:
    """PULL: an edge of the origin on that port (it pulls a stream when a player asks)."""
    # nginx-rtmp defaults kept (see the report): wait_key on, wait_video off, interleave
    # off, sync 300ms, buflen 1000ms, out_queue 256, out_cork 32.
    pull_line = f"\n            pull rtmp://127.0.0.1:{pull}/live;" if pull is not None else ""
    return f"""load_module {rtmp_so};
worker_processes 1;
worker_rlimit_nofile {nofile};
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections {MAX_CONNECTIONS};
}}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size {CHUNK_SIZE};
        application live {{
            live on;{pull_line}
        }}
    }}
}}
"""


def ours_conf(port: int, d: Path, workers: int | None, origin: int | None = None) -> str:
    """srs-rs: WORKERS stream workers, or its default (one per core it may run on) when
    None; fan-out runs log to the console, as the bash script did. ORIGIN: an edge of the
    origin on that port."""
    lines = [
        f"listen 127.0.0.1:{port};",
        f"max_connections {MAX_CONNECTIONS};",
        f"chunk_size {CHUNK_SIZE};",
        f"pid {d}/srs.pid;",
        f"run_dir {d}/run;",
        "daemon off;",
    ]
    if workers is not None:
        lines.append("srs_log_tank console;")
    lines.append("srs_log_level warn;")
    if workers is not None:
        lines.append(f"worker_processes {workers};")
    lines.append("vhost __defaultVhost__ {")
    lines += cluster_lines(origin)
    lines.append("}")
    return "\n".join(lines) + "\n"


def cluster_lines(origin: int | None) -> list[str]:
    """An edge's cluster block, in SRS 6 syntax (srs-rs and SRS 6 both read it)."""
    if origin is None:
        return []
    return ["    cluster {", "        mode remote;", f"        origin 127.0.0.1:{origin};", "    }"]


def srs6_max_connections(nofile: int) -> int:
    return max(1, min(MAX_CONNECTIONS, nofile - SRS6_RESERVED_FDS - 1))


def srs6_conf(port: int, d: Path, nofile: int, origin: int | None = None, api_port: int | None = None) -> str:
    """SRS 6 with SRS's play defaults written out, live RTMP only (no HLS, no HTTP server;
    the HTTP API only on API_PORT when given). ORIGIN: an edge of the origin on that port."""
    api = f"enabled on;\n    listen 127.0.0.1:{api_port};" if api_port is not None else "enabled off;"
    cluster = "".join(line + "\n" for line in cluster_lines(origin))
    return f"""listen 127.0.0.1:{port};
max_connections {srs6_max_connections(nofile)};
daemon off;
srs_log_tank file;
srs_log_file {d}/srs.log;
srs_log_level warn;
pid {d}/srs.pid;
chunk_size {CHUNK_SIZE};
http_api {{
    {api}
}}
http_server {{
    enabled off;
}}
vhost __defaultVhost__ {{
{cluster}    play {{
        gop_cache on;
        queue_length 30;
        mw_latency 350;
    }}
}}
"""


# ---------------------------------------------------------------------------------------
# Processes: starting them, stopping them
# ---------------------------------------------------------------------------------------

_libc = None


def _die_with_parent() -> None:
    """In the child: SIGTERM when this script dies, even by SIGKILL (prctl
    PR_SET_PDEATHSIG, kept across exec)."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM, 0, 0, 0)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Procs:
    """Every process the script starts, each stopped by its pid (with whatever it left
    behind) when the script ends."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], cpus: str | None = None, stdout=None, stderr=None,
              cwd: Path | None = None) -> subprocess.Popen:
        if cpus is not None:
            argv = ["taskset", "-c", cpus, *argv]
        # A process group of its own: Ctrl-C reaches only this script, which then stops
        # everything in order (as bash does for background jobs).
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=cwd,
                             text=True, process_group=0, preexec_fn=_die_with_parent)
        self.started.append(p)
        return p

    def forget(self, p: subprocess.Popen) -> None:
        if p in self.started:
            self.started.remove(p)

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 8.0) -> None:
        """SIGTERM (or SIG), then SIGKILL after GRACE seconds; then SIGKILL to whatever of
        its tree outlived it (nginx workers of a killed master)."""
        if p.poll() is not None:
            self.forget(p)
            return
        kids = tree_pids(p.pid)
        try:
            p.send_signal(sig)
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for k in kids:
            if k != p.pid and alive(k):
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass
        self.forget(p)

    def stop_all(self) -> None:
        for p in reversed(list(self.started)):
            self.stop(p)


class Ports:
    """A random high port below the ephemeral range that nothing on this machine uses, and
    that this run has not handed out yet."""

    def __init__(self) -> None:
        self.used: set[int] = set()

    def free(self) -> int:
        for _ in range(200):
            p = random.randrange(20000, 32000)
            if p in self.used or port_in_use(p, tcp_tables()):
                continue
            self.used.add(p)
            return p
        raise BenchError("no free port found")


def wait_listen(port: int, proc: subprocess.Popen, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if port_listening(port, tcp_tables()):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def wait_quiet(s: Settings) -> int:
    """Wait until the machine is idle apart from us (up to QUIET_WAIT seconds): a build or
    a test run of someone else would be measured as slowness of the server or of the load
    tool. Returns the busy share seen last."""
    waited = 0
    while True:
        a = core_times()
        time.sleep(1)
        busy = all_busy(a, core_times())
        if busy < s.quiet_busy or waited >= s.quiet_wait:
            break
        if waited == 0:
            say(f"bench: machine {busy}% busy, waiting up to {s.quiet_wait}s for it to calm down")
        time.sleep(1)
        waited += 2
    if busy >= s.quiet_busy:
        say(f"bench: WARNING: machine still {busy}% busy after {s.quiet_wait}s: measuring anyway, expect noise")
    return busy


def tail(path: Path, n: int = 20) -> str:
    return "\n".join(read(str(path)).splitlines()[-n:])


# ---------------------------------------------------------------------------------------
# Dependencies, binaries, the machine
# ---------------------------------------------------------------------------------------


def rtmp_module() -> str | None:
    for f in ("/usr/lib/nginx/modules/ngx_rtmp_module.so", "/usr/share/nginx/modules/ngx_rtmp_module.so"):
        if os.path.isfile(f):
            return f
    # Debian names the module in modules-available; a relative path is under the prefix.
    d = Path("/usr/share/nginx/modules-available")
    for conf in sorted(d.glob("*rtmp*")) if d.is_dir() else []:
        for line in read(str(conf)).splitlines():
            m = re.match(r"^\s*load_module\s+([^;]*rtmp[^;]*);", line)
            if m:
                f = m.group(1)
                if not f.startswith("/"):
                    f = "/usr/share/nginx/" + f
                if os.path.isfile(f):
                    return f
    return None


def install_packages(pkgs: list[str]) -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    say(f"bench: installing {' '.join(pkgs)} (apt-get)")
    # Keep the package's own nginx service from starting on port 80: we run our own.
    policy = "/usr/sbin/policy-rc.d"
    made_policy = False
    if not os.path.exists(policy):
        subprocess.run([*sudo, "tee", policy], input="#!/bin/sh\nexit 101\n", text=True,
                       stdout=subprocess.DEVNULL, check=False)
        subprocess.run([*sudo, "chmod", "+x", policy], check=False)
        made_policy = True
    install = [*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
               "--no-install-recommends", *pkgs]
    try:
        ok = subprocess.run(install, stdout=sys.stderr).returncode == 0
        if not ok:
            ok = (subprocess.run([*sudo, "apt-get", "update"], stdout=sys.stderr).returncode == 0
                  and subprocess.run(install, stdout=sys.stderr).returncode == 0)
    finally:
        if made_policy:
            subprocess.run([*sudo, "rm", "-f", policy], check=False)
    if not ok:
        raise BenchError(f"could not install {' '.join(pkgs)}")


def which_nginx() -> str | None:
    # Debian puts it in /usr/sbin, which a user's PATH may not have.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


def ensure_dependencies() -> tuple[str, str]:
    """nginx and its RTMP module (installed when missing), ffmpeg, taskset."""
    need = []
    if not which_nginx():
        need.append("nginx")
    if not rtmp_module():
        need.append("libnginx-mod-rtmp")
    if not shutil.which("ffmpeg"):
        need.append("ffmpeg")
    if not shutil.which("taskset"):
        need.append("util-linux")
    if need:
        install_packages(need)
    nginx = which_nginx()
    if not nginx:
        raise BenchError("nginx not found after installing it")
    so = rtmp_module()
    if not so:
        raise BenchError("ngx_rtmp_module.so not found after installing libnginx-mod-rtmp")
    return nginx, so


def output(argv: list[str], cwd: Path | None = None) -> str | None:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    except OSError:
        return None
    return (r.stdout + r.stderr).strip() if r.returncode == 0 else None


def raise_nofile() -> int:
    """Players and publishers need a descriptor each, in srs-bench and in the server."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


@dataclass
class Ctx:
    s: Settings
    root: Path
    work: Path
    procs: Procs
    ports: Ports
    pin: Pinning
    ncpu: int
    hz: int
    nofile: int
    bench: str
    master: str
    nginx: str
    rtmp_so: str
    srs6: str | None
    commit: str
    flv: Path = Path()
    file_kbps: int = 0
    # Results: (kind, step) -> metrics.
    r: dict = field(default_factory=dict)
    # Targets: step -> name -> text.
    targets: dict = field(default_factory=dict)
    failed_start: bool = False

    def bench_cmd(self, *args: str) -> list[str]:
        return [self.bench, *args]


class StepFailed(Exception):
    """A server could not be started or published to: this run is not measured."""


def start_server(c: Ctx, kind: str, port: int, d: Path, origin: int | None = None,
                 api_port: int | None = None) -> subprocess.Popen:
    """nginx | srs6 | ours1 | ours2 (fan-out) | ours (streams, edge: default workers).
    ORIGIN: an edge of the origin on that port; API_PORT: SRS 6's HTTP API there."""
    d.mkdir(parents=True, exist_ok=True)
    log = open(d / "stdout.log", "w")
    cpus = c.pin.server_cpus
    if kind == "nginx":
        (d / "nginx.conf").write_text(nginx_conf(c.rtmp_so, port, d, c.nofile, pull=origin))
        argv = [c.nginx, "-p", f"{d}/", "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")]
    elif kind == "srs6":
        (d / "srs.conf").write_text(srs6_conf(port, d, c.nofile, origin=origin, api_port=api_port))
        argv = [str(c.srs6), "-c", str(d / "srs.conf")]
    else:
        workers = {"ours1": 1, "ours2": 2, "ours": None}[kind]
        # Two workers on one core would only take turns: the 2-worker run gets every core.
        if workers == 2:
            cpus = c.pin.all_cpus
        (d / "srs.conf").write_text(ours_conf(port, d, workers, origin=origin))
        argv = [c.master, "-c", str(d / "srs.conf")]
    try:
        p = c.procs.start(argv, cpus=cpus, stdout=log, stderr=subprocess.STDOUT, cwd=d)
    except OSError as e:
        raise StepFailed(f"cannot start {kind}: {e}") from e
    finally:
        log.close()
    if not wait_listen(port, p):
        say("\n".join(filter(None, (tail(d / "stdout.log"), tail(d / "error.log"), tail(d / "srs.log")))))
        c.procs.stop(p)
        raise StepFailed(f"{kind} did not listen on port {port}")
    return p


def start_publisher(c: Ctx, port: int, d: Path) -> subprocess.Popen:
    """One publisher of the test file; waits until it publishes."""
    out, err = open(d / "publish.log", "w"), open(d / "publish.err", "w")
    p = c.procs.start(c.bench_cmd("publish", "--url", f"rtmp://127.0.0.1:{port}/live/livestream",
                                  "--file", str(c.flv), "--duration", "86400"),
                      cpus=c.pin.load_cpus, stdout=out, stderr=err)
    out.close()
    err.close()
    for _ in range(150):
        if "publishing=1" in read(str(d / "publish.log")):
            return p
        if p.poll() is not None:
            break
        time.sleep(0.1)
    say(read(str(d / "publish.err")))
    c.procs.stop(p)
    raise StepFailed(f"the publisher did not start publishing to port {port}")


def last_json(text: str) -> dict | None:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def loadavg() -> float:
    return float(read("/proc/loadavg").split()[0])


@dataclass
class Window:
    """What happens between the first and the last second of the measured window."""
    t0: int
    t1: int
    pids0: list[int] = field(default_factory=list)
    pids1: list[int] = field(default_factory=list)
    c0: int = 0
    c1: int = 0
    b0: int = 0
    b1: int = 0
    w0: float = 0.0
    w1: float = 0.0
    cores0: dict = field(default_factory=dict)
    cores1: dict = field(default_factory=dict)
    sum_kbps: int = 0
    connected: int = 0
    loadavg: float | None = None
    done: bool = False
    summary: dict | None = None


def run_players(c: Ctx, d: Path, server: subprocess.Popen, load_pids: list[int], argv: list[str],
                win: Window, at_end: Callable[[], None], check: Callable[[], str | None] = lambda: None,
                at_start: Callable[[], None] = lambda: None) -> str | None:
    """Run `srs-bench play` and take the window's samples on its once-a-second lines:
    CPU samples and the payload counts then cover the same seconds (AT_START and AT_END
    take more, right after the window's own). Returns why it was stopped early (or None)."""
    err = open(d / "play.err", "w")
    play = c.procs.start(argv, cpus=c.pin.load_cpus, stdout=subprocess.PIPE, stderr=err)
    err.close()
    stopped = None
    with open(d / "play.log", "w") as log:
        for line in play.stdout:
            log.write(line)
            line = line.rstrip("\n")
            tick = parse_play_tick(line)
            if tick:
                t, kbps, connected = tick
                if t == win.t0:
                    win.pids0 = tree_pids(server.pid)
                    win.c0 = cpu_ticks(win.pids0)
                    win.b0 = cpu_ticks([play.pid, *load_pids])
                    win.cores0 = core_times()
                    win.w0 = time.time()
                    win.loadavg = loadavg()
                    at_start()
                elif win.t0 < t <= win.t1:
                    win.sum_kbps += kbps
                if t == win.t1:
                    win.pids1 = tree_pids(server.pid)
                    win.c1 = cpu_ticks(win.pids1)
                    win.b1 = cpu_ticks([play.pid, *load_pids])
                    win.cores1 = core_times()
                    win.w1 = time.time()
                    win.connected = connected
                    at_end()
                    win.done = True
                why = check()
                if why and not stopped:
                    stopped = why
                    play.send_signal(signal.SIGINT)
            elif line.startswith("{"):
                try:
                    win.summary = json.loads(line)
                except ValueError:
                    pass
    try:
        play.wait(15)
    except subprocess.TimeoutExpired:
        pass
    c.procs.stop(play)
    return stopped


def window_metrics(c: Ctx, kind: str, win: Window) -> dict:
    window = win.w1 - win.w0
    cpu_s = (win.c1 - win.c0) / c.hz
    gbit = win.sum_kbps / 1e6
    m = {
        "window_s": round(window, 3),
        "cpu_s": round(cpu_s, 3),
        "payload_gbit": round(gbit, 4),
        "payload_mbps": round(win.sum_kbps / 1000 / c.s.duration, 1),
        "cpu_per_gbit": round(cpu_s / gbit, 3) if gbit > 0 else None,
        "server_cores": round(cpu_s / window, 2) if window > 0 else None,
        "load_cores": round((win.b1 - win.b0) / c.hz / window, 2) if window > 0 else None,
        "core_busy": format_core_busy(core_busy(win.cores0, win.cores1)),
        "processes": len(win.pids1),
        "loadavg": win.loadavg,
    }
    # The whole server core, softirq included: on loopback the kernel's receive work for
    # the players' sockets runs on the sending core, and is nobody's utime or stime.
    if c.pin.server_ncpu < c.ncpu and kind != "ours2":
        busy = cores_cpu_s(expand_cpus(c.pin.server_cpus), win.cores0, win.cores1, c.hz)
        m["core_cpu_per_gbit"] = round(busy / gbit, 3) if gbit > 0 else None
    if sorted(win.pids0) != sorted(win.pids1):
        say(f"bench: WARNING: {kind}'s processes changed during the window (a restart?): {win.pids0} -> {win.pids1}")
    return m


def play_fields(summary: dict) -> dict:
    g = lambda k, sub=None: (summary.get(k) or {}).get(sub) if sub else summary.get(k)  # noqa: E731
    m = {f: g(f) for f in ("connected", "failed", "disconnects", "below_90pct", "judged", "stream_kbps", "lag_source")}
    m.update(first_frame_p99=g("first_frame_ms", "p99"), first_frame_p50=g("first_frame_ms", "p50"),
             lag_p99=g("lag_ms", "p99"), lag_p50=g("lag_ms", "p50"))
    return m


# --- fan-out ---------------------------------------------------------------------------


def fanout_kinds(c: Ctx) -> list[str]:
    kinds = ["nginx"] + (["srs6"] if c.srs6 else []) + ["ours1"]
    return kinds + (["ours2"] if c.s.workers2 else [])


def run_fanout_one(c: Ctx, kind: str, n: int) -> dict:
    s = c.s
    d = c.work / f"{kind}-{n}"
    d.mkdir(parents=True, exist_ok=True)
    port = c.ports.free()
    ramp_s = -(-n // s.ramp)
    win = Window(ramp_s + s.settle, ramp_s + s.settle + s.duration)
    res: dict = {"ok": False, "busy_before": wait_quiet(s)}
    say(f"bench: {kind}, {n} players: port {port}, ramp {ramp_s}s, window t={win.t0}s..{win.t1}s")
    server = pub = None
    try:
        server = start_server(c, kind, port, d)
        pub = start_publisher(c, port, d)
        # One GOP (2 s) in, so the stream and the GOP cache are in their steady state.
        time.sleep(max(3, c.s.gop_seconds + 1))
        pss0 = pss_kb(tree_pids(server.pid))
        pss1 = 0

        def at_end() -> None:
            nonlocal pss1
            pss1 = pss_kb(win.pids1)

        argv = c.bench_cmd("play", "--url", f"rtmp://127.0.0.1:{port}/live/livestream", "-n", str(n),
                           "--ramp", str(s.ramp), "--duration", str(win.t1 + 1), "--stream-kbps", str(c.file_kbps),
                           "--threads", str(c.pin.load_ncpu), "--json-out", str(d / "play.json"))
        run_players(c, d, server, [pub.pid], argv, win, at_end=at_end)
    except StepFailed as e:
        say(f"bench: {kind}, {n} players: {e}; step not measured")
        c.failed_start = True
        res["why"] = str(e)
        return res
    finally:
        for p in (pub, server):
            if p is not None:
                c.procs.stop(p)
    if not win.done or win.summary is None:
        say(f"bench: {kind}, {n} players: srs-bench ended early (see below); step not measured")
        say(tail(d / "play.err", 5))
        res["why"] = "srs-bench ended early"
        return res
    res.update(window_metrics(c, kind, win))
    res.update(ok=True, pss0_kb=pss0, pss_kb=pss1, connected_at_window_end=win.connected,
               pss_per_player_kb=round((pss1 - pss0) / win.connected, 1) if win.connected > 0 else None,
               summary=win.summary, **play_fields(win.summary))
    say(f"bench: {kind}, {n} players: {res['server_cores']} server cores, {cell('payload_mbps', res['payload_mbps'])} Mbit/s, "
        f"first frame p99 {res['first_frame_p99']} ms, below 90%: {res['below_90pct']}")
    return res


FANOUT_ROWS = [
    # label, metric, ratio?, target
    ("server CPU-s per Gbit of payload", "cpu_per_gbit", True, "ours <= 0.25x nginx"),
    ("  server CPU, cores", "server_cores", True, ""),
    ("  whole server core, CPU-s per Gbit", "core_cpu_per_gbit", True, ""),
    ("  payload delivered, Mbit/s", "payload_mbps", True, ""),
    ("memory PSS per player, KB", "pss_per_player_kb", True, "ours <= 0.5x nginx"),
    ("  PSS with publisher only, KB", "pss0_kb", True, ""),
    ("  PSS with players, KB", "pss_kb", True, ""),
    ("players connected", "connected", False, ""),
    ("  failed to connect", "failed", False, ""),
    ("  dropped after playing", "disconnects", False, ""),
    ("players below 90% of {kbps} kbps", "below_90pct", False, "0 until CPU-bound"),
    ("first frame p50, ms", "first_frame_p50", True, ""),
    ("first frame p99, ms", "first_frame_p99", True, "ours < 150 ms"),
    ("lag p50, ms", "lag_p50", True, ""),
    ("lag p99, ms", "lag_p99", True, ""),
    ("load tool CPU (srs-bench), cores", "load_cores", False, ""),
    ("machine busy before the run, %", "busy_before", False, ""),
    ("load average at the window start", "loadavg", False, ""),
]


def comparison_table(c: Ctx, step: int, baselines: list[str], ours: str, others: list[str],
                     rows: list[tuple[str, str, bool, str]], fill: Mapping[str, str]) -> list[str]:
    """A table: a column per baseline, ours, ours/each baseline, then other columns."""
    val = lambda k, m: c.r.get((k, step), {}).get(m)  # noqa: E731
    header = table_row("", [NAMES[k] for k in baselines + [ours]], [f"ours/{b}" for b in baselines],
                       [NAMES[k] for k in others], "target" if any(r[3] for r in rows) else "")
    lines = [header]
    for label, m, with_ratio, target in rows:
        values = [cell(m, val(k, m)) for k in baselines + [ours]]
        ratios = [ratio(val(ours, m), val(b, m)) if with_ratio else "" for b in baselines]
        lines.append(table_row(label.format(**fill), values, ratios, [cell(m, val(k, m)) for k in others], target))
    return lines


def print_fanout_step(c: Ctx, n: int) -> None:
    kinds = fanout_kinds(c)
    baselines = [k for k in ("nginx", "srs6") if k in kinds]
    others = ["ours2"] if "ours2" in kinds else []
    runs = {k: c.r.get((k, n), {}) for k in kinds}
    print()
    print(f"=== {n} players: ramp {c.s.ramp}/s, window of {c.s.duration}s starting {c.s.settle}s"
          " after the last player started ===")
    for line in comparison_table(c, n, baselines, "ours1", others, FANOUT_ROWS, {"kbps": c.file_kbps}):
        print(line)
    for k in kinds:
        if not runs[k].get("ok"):
            print(f"  ({NAMES[k]}: not measured, see the messages above)")
    for k in kinds:
        if not runs[k].get("ok"):
            continue
        print(f"  {NAMES[k]:<12} core busy in the window: {runs[k].get('core_busy')}")
        errs = (runs[k].get("summary") or {}).get("errors")
        if errs:
            print(f"  {NAMES[k]:<12} player errors: {json.dumps(errs)}")
    targets, notes = fanout_targets(runs, c.pin, c.ncpu)
    c.targets[n] = targets
    for line in notes:
        print(line)


def fanout_targets(runs: Mapping[str, dict], pin: Pinning, ncpu: int) -> tuple[dict[str, str], list[str]]:
    """The targets of one step (srs-rs with one worker against nginx-rtmp; the ratios
    against SRS 6 beside them), and the notes and warnings the step's table gets."""
    val = lambda k, m: runs.get(k, {}).get(m)  # noqa: E731
    t = {
        "cpu": target_le(ratio(val("ours1", "cpu_per_gbit"), val("nginx", "cpu_per_gbit")), 0.25, "x"),
        "mem": target_le(ratio(val("ours1", "pss_per_player_kb"), val("nginx", "pss_per_player_kb")), 0.5, "x"),
        "cpu_srs6": ratio(val("ours1", "cpu_per_gbit"), val("srs6", "cpu_per_gbit")),
        "mem_srs6": ratio(val("ours1", "pss_per_player_kb"), val("srs6", "pss_per_player_kb")),
        "first_frame": target_lt(val("ours1", "first_frame_p99"), 150, " ms"),
    }
    notes = []
    below = val("ours1", "below_90pct")
    busy = max_busy(expand_cpus(pin.server_cpus), parse_busy(val("ours1", "core_busy")))
    if below is None:
        t["bitrate"] = "not measured"
    elif below == 0:
        t["bitrate"] = "met (0 below)"
    elif busy >= 95:
        t["bitrate"] = f"{below} below, server core {busy}% busy: CPU-bound"
    else:
        t["bitrate"] = f"NOT met ({below} below, server core only {busy}% busy)"
    for b in ("nginx", "srs6"):
        nf, nb = val(b, "failed"), val(b, "below_90pct")
        if (nf or 0) != 0 or (nb or 0) != 0:
            nf, nb = "?" if nf is None else nf, "?" if nb is None else nb
            notes += [f"  NOTE: {NAMES[b]} did not serve every player at this step ({nf} failed, {nb} below 90 %):"
                      " the ratios compare", f"        against an overloaded {NAMES[b]}."]
            t[b] = f"{NAMES[b]} overloaded: {nf} failed, {nb} below 90 %"
    for k, run in runs.items():
        lt = run.get("load_cores")
        if lt is None:
            continue
        lb = max_busy(expand_cpus(pin.load_cpus), parse_busy(run.get("core_busy")))
        if lt >= 0.9 * pin.load_ncpu:
            notes += [f"  WARNING: srs-bench used {lt} of its {pin.load_ncpu} core(s) in the {NAMES[k]} run:"
                      " the load tool is at its limit, so",
                      "           rates, first frames and lag of that run partly measure srs-bench, not the server."]
            t["load"] = f"srs-bench saturated in the {NAMES[k]} run"
        elif pin.server_ncpu < ncpu and k != "ours2" and lb >= 95:
            notes += [f"  WARNING: the load core(s) were {lb}% busy in the {NAMES[k]} run but srs-bench used only"
                      f" {lt} core(s): other work",
                      "           (loopback softirq, other processes) crowded it, so players may have read late."]
            t["load"] = f"load core(s) crowded in the {NAMES[k]} run"
    return t, notes


def parse_busy(text: str | None) -> dict[str, int]:
    """"cpu0=97% cpu1=40%" -> {"cpu0": 97, "cpu1": 40}."""
    out = {}
    for part in (text or "").split():
        k, _, v = part.partition("=")
        if v.endswith("%") and v[:-1].isdigit():
            out[k] = int(v[:-1])
    return out


def print_fanout_targets(c: Ctx) -> None:
    print()
    print("=== Targets (srs-rs, worker_processes 1, against nginx-rtmp in this run; against SRS 6 for reference;"
          f" commit {c.commit.split(' ')[0]}) ===")
    fmt = "{:<8} {:<22} {:<22} {:>13} {:>13}  {:<22} {}"
    print(fmt.format("players", "CPU/Gbit <= 0.25x", "PSS/player <= 0.5x", "CPU vs SRS 6", "PSS vs SRS 6",
                     "first frame < 150 ms", "no player below 90%"))
    for n in c.s.steps:
        t = c.targets.get(n, {})
        print(fmt.format(n, t.get("cpu", ""), t.get("mem", ""), t.get("cpu_srs6", "-"), t.get("mem_srs6", "-"),
                         t.get("first_frame", ""), t.get("bitrate", "")))
        for b in ("nginx", "srs6"):
            if t.get(b):
                print(f"         ({t[b]}: the ratios against it flatter srs-rs)")
        if t.get("load"):
            print(f"         ({t['load']}: its rates and latencies partly measure the load side)")


def fanout_header(c: Ctx) -> None:
    s = c.s
    load = loadavg()
    print(f"srs-rs vs nginx-rtmp and SRS 6 (fan-out), {now_iso()}")
    print(f"commit:   {c.commit}")
    print(f"machine:  {c.ncpu} cores ({cpu_model()}), load average {load} at start")
    print(f"pinning:  {c.pin.how}")
    print(f"stream:   srs-bench make-flv, H.264 + AAC, {c.file_kbps} kbps of payload, GOP {s.gop_seconds:g} s,"
          " one publisher (srs-bench publish)")
    print(f"nginx:    {nginx_version(c)}, libnginx-mod-rtmp {rtmp_version()}; worker_processes 1, chunk_size {CHUNK_SIZE}, live on;")
    print("          its defaults kept: wait_key on (a new player waits for the next keyframe: no GOP cache), wait_video off,")
    print("          interleave off, sync 300ms, buflen 1000ms, out_queue 256, out_cork 32. It relays no data messages, so")
    print("          lag comes from SEI stamps in the video frames (for every server).")
    print(srs6_line(c))
    print(f"srs-rs:   worker_processes 1, chunk_size {CHUNK_SIZE}, its defaults otherwise (gop_cache on, mw_latency 350)")
    if s.workers2:
        print(f"          srs-rs w2* = worker_processes 2, not pinned (server on all cores, srs-bench still on {c.pin.load_cpus})")
    print(f"players:  srs-bench play, RTMP, --read-interval-ms 200 (one lag probe per 50 players), --threads {c.pin.load_ncpu}")
    print("CPU per Gbit = CPU-seconds of all server processes / Gbit of payload received by the players, same window.")
    print('  ("whole server core": every busy CPU-second of the server\'s core, softirq and any other process included;')
    print("  on loopback the kernel's receive work for the players' sockets lands there and is no process's CPU time)")
    if load > 0.5 * c.ncpu:
        say(f"bench: WARNING: load average {load} before starting: something else is busy, numbers will be noisy")


def srs6_line(c: Ctx) -> str:
    if not c.srs6:
        return f"srs6:     not found at {c.s.srs6}: not measured (set SRS6=path/to/srs)"
    return (f"srs6:     SRS {srs6_version(c)} ({c.srs6}), one process, chunk_size {CHUNK_SIZE}, play {{ gop_cache on;"
            f" queue_length 30; mw_latency 350; }},\n          max_connections {srs6_max_connections(c.nofile)}"
            f" (SRS 6 wants max_connections + {SRS6_RESERVED_FDS} < open files, {c.nofile} here), no HLS, no HTTP")


def fanout_json(c: Ctx) -> dict:
    s = c.s
    runs = []
    metrics = ("window_s", "cpu_s", "payload_gbit", "payload_mbps", "cpu_per_gbit", "core_cpu_per_gbit", "server_cores",
               "load_cores", "pss0_kb", "pss_kb", "connected_at_window_end", "pss_per_player_kb", "processes", "loadavg",
               "busy_before")
    for n in s.steps:
        for k in fanout_kinds(c):
            r = c.r.get((k, n), {})
            run = {"server": NAMES[k], "players": n, "measured": bool(r.get("ok"))}
            if r.get("ok"):
                run["workers"] = 2 if k == "ours2" else 1
                run.update({m: r.get(m) for m in metrics})
                run["core_busy"] = r.get("core_busy")
                run["srs_bench"] = r.get("summary")
            elif r.get("why"):
                run["why"] = r["why"]
            runs.append(run)
    targets = {}
    for n in s.steps:
        t = c.targets.get(n, {})
        targets[str(n)] = {
            "cpu_ratio_le_0.25": t.get("cpu", ""), "memory_ratio_le_0.5": t.get("mem", ""),
            "first_frame_p99_lt_150ms": t.get("first_frame", ""), "no_player_below_90pct": t.get("bitrate", ""),
            "load_tool": t.get("load", "ok"), "nginx": t.get("nginx", "ok"),
            "cpu_ratio_vs_srs6": ratio_value_str(t.get("cpu_srs6")),
            "memory_ratio_vs_srs6": ratio_value_str(t.get("mem_srs6")),
            "srs6": t.get("srs6", "ok"),
        }
    return {
        "mode": "fanout", **common_json(c),
        "settings": {"steps": s.steps, "duration_s": s.duration, "settle_s": s.settle, "ramp_per_s": s.ramp,
                     "file_kbps": c.file_kbps, "gop_seconds": s.gop_seconds, "chunk_size": CHUNK_SIZE},
        "notes": ("payload = audio, video and data message bodies received by the players; cpu = utime+stime of every "
                  "server process over the window; pss per player = (PSS with players - PSS with the publisher only) / "
                  "players connected at the end of the window; srs-rs w2 = worker_processes 2, not pinned"),
        "runs": runs, "targets": targets,
    }


def ratio_value_str(r: str | None) -> float | None:
    return None if r in (None, "-") else float(r)


# --- many streams ----------------------------------------------------------------------


STREAM_KINDS = ["ours", "srs6", "nginx"]


def streams_kinds(c: Ctx) -> list[str]:
    return [k for k in STREAM_KINDS if k != "srs6" or c.srs6]


def run_streams_one(c: Ctx, kind: str, n: int) -> dict:
    s = c.s
    d = c.work / f"streams-{kind}-{n}"
    d.mkdir(parents=True, exist_ok=True)
    port = c.ports.free()
    players = n * s.players_per_stream
    ramp_s = -(-players // s.ramp)
    win = Window(ramp_s + s.settle, ramp_s + s.settle + s.duration)
    res: dict = {"ok": False, "busy_before": wait_quiet(s)}
    meminfo = parse_meminfo(read("/proc/meminfo"))
    if low_memory(meminfo):
        res["why"] = f"machine low on memory before the run ({meminfo.get('MemAvailable')} KB available)"
        say(f"bench: {kind}, {n} streams: {res['why']}; step not run")
        return res
    say(f"bench: {kind}, {n} streams: port {port}, {players} players at {s.ramp}/s, window t={win.t0}s..{win.t1}s")
    server = pub = None
    url = f"rtmp://127.0.0.1:{port}/live/livestream"
    try:
        server = start_server(c, kind, port, d)
        # The tree's children start after the master listens; let them settle.
        time.sleep(2)
        idle = mem_sample(tree_pids(server.pid))
        pub = start_publishers(c, url, n, d)
        # One GOP in, so each stream's GOP cache (or ring) holds a whole GOP.
        time.sleep(max(3, s.gop_seconds + 1))
        sampled: dict[str, MemSample] = {}
        argv = c.bench_cmd("play", "--url", url, "--streams", str(n), "-n", str(players), "--ramp", str(s.ramp),
                           "--duration", str(win.t1 + 1), "--stream-kbps", str(c.file_kbps),
                           "--threads", str(c.pin.load_ncpu), "--json-out", str(d / "play.json"))

        def check() -> str | None:
            mi = parse_meminfo(read("/proc/meminfo"))
            if low_memory(mi):
                return f"machine low on memory ({mi.get('MemAvailable')} KB available): step stopped"
            return None

        def at_end() -> None:
            sampled["on"] = mem_sample(win.pids1)

        stopped = run_players(c, d, server, [pub.pid], argv, win, at_end=at_end, check=check)
        # The publishers' own summary (publish start latency): SIGINT ends srs-bench cleanly.
        c.procs.stop(pub, signal.SIGINT, grace=10)
        published = read_json(d / "publish.json") or last_json(read(str(d / "publish.log")))
        pub = None
    except StepFailed as e:
        say(f"bench: {kind}, {n} streams: {e}; step not measured")
        c.failed_start = True
        res["why"] = str(e)
        return res
    finally:
        for p in (pub, server):
            if p is not None:
                c.procs.stop(p)
    if stopped:
        say(f"bench: {kind}, {n} streams: {stopped}")
        res["why"] = stopped
        return res
    if not win.done or win.summary is None:
        say(f"bench: {kind}, {n} streams: srs-bench play ended early (see below); step not measured")
        say(tail(d / "play.err", 5))
        res["why"] = "srs-bench play ended early"
        return res
    res.update(window_metrics(c, kind, win))
    res.update(streams_fields(n, players, idle, sampled["on"], published or {}, win.summary))
    res["ok"] = True
    say(f"bench: {kind}, {n} streams: {res['published']} published, publish start p99 {res['publish_start_p99']} ms, "
        f"{res['players_connected']} players, {cell('mem_rss_per_stream_kb', res['mem_rss_per_stream_kb'])} KB RSS per stream")
    return res


def streams_fields(n: int, players: int, idle: MemSample, on: MemSample, pub: dict, play: dict) -> dict:
    """The streams mode's figures for one server and step (pure)."""
    per = memory_per_stream(idle, on, n)
    pf = play_fields(play)
    return {
        "published": pub.get("published", pub.get("connected")),
        "publish_failed": pub.get("publish_failed", pub.get("failed")),
        "publish_still_connecting": pub.get("still_connecting"),
        "publish_disconnects": pub.get("disconnects"),
        "publish_start_p50": pub.get("publish_start_ms_p50"),
        "publish_start_p99": pub.get("publish_start_ms_p99"),
        "publish_start_max": pub.get("publish_start_ms_max"),
        "publish_errors": pub.get("errors") or {},
        "players": players,
        "players_connected": pf["connected"],
        "players_failed": pf["failed"],
        "below_90pct": pf["below_90pct"],
        "first_frame_p50": pf["first_frame_p50"],
        "first_frame_p99": pf["first_frame_p99"],
        "lag_p99": pf["lag_p99"],
        "mem_rss_per_stream_kb": per["rss_shm_kb"],
        "mem_pss_per_stream_kb": per["pss_shm_kb"],
        "mem_unique_per_stream_kb": per["pss_unmapped_shm_kb"],
        "shm_per_stream_kb": per["shm_kb"],
        "rss0_kb": idle.rss_kb, "rss1_kb": on.rss_kb, "pss0_kb": idle.pss_kb, "pss1_kb": on.pss_kb,
        "shm0_kb": idle.shm_kb, "shm1_kb": on.shm_kb, "idle_processes": idle.processes,
        "summary": play, "publish_summary": pub,
    }


def start_publishers(c: Ctx, url: str, n: int, d: Path) -> subprocess.Popen:
    """N publishers of the test file, all at once (`srs-bench publish -m N`); returns once
    each has published or failed (or the publish timeout has passed)."""
    out, err = open(d / "publish.log", "w"), open(d / "publish.err", "w")
    pub = c.procs.start(c.bench_cmd("publish", "--url", url, "-m", str(n), "--file", str(c.flv),
                                    "--duration", "86400", "--timeout", str(PUBLISH_TIMEOUT),
                                    "--threads", str(c.pin.load_ncpu), "--json-out", str(d / "publish.json")),
                        cpus=c.pin.load_cpus, stdout=out, stderr=err)
    out.close()
    err.close()
    (published, failed), why = wait_publishers(pub, d / "publish.log", n, PUBLISH_TIMEOUT + 5)
    if why or published == 0:
        say(tail(d / "publish.err", 5))
        c.procs.stop(pub)
        raise StepFailed(why or "no publisher could publish")
    say(f"bench: {n} publishers: {published} publishing, {failed} failed")
    return pub


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(read(str(path)) or "null")
    except ValueError:
        return None


def wait_publishers(pub: subprocess.Popen, log: Path, n: int, seconds: float) -> tuple[tuple[int, int], str | None]:
    """Until every publisher published or failed (srs-bench's once-a-second line)."""
    end = time.monotonic() + seconds
    last = (0, 0)
    while time.monotonic() < end:
        for line in reversed(read(str(log)).splitlines()):
            t = parse_publish_tick(line)
            if t:
                last = (t[1] + t[3], t[2])
                break
        if sum(last) >= n:
            return last, None
        if pub.poll() is not None:
            return last, "srs-bench publish ended early"
        time.sleep(0.2)
    return last, None


STREAMS_ROWS = [
    ("publishers accepted (of {n})", "published", False, ""),
    ("  failed to publish", "publish_failed", False, ""),
    ("  publish start p50, ms", "publish_start_p50", True, ""),
    ("  publish start p99, ms", "publish_start_p99", True, ""),
    ("  publish start max, ms", "publish_start_max", True, ""),
    ("players connected (of {players})", "players_connected", False, ""),
    ("  failed to connect", "players_failed", False, ""),
    ("  players below 90% of {kbps} kbps", "below_90pct", False, ""),
    ("  first frame p99, ms", "first_frame_p99", True, ""),
    ("memory per stream, RSS + /dev/shm, KB", "mem_rss_per_stream_kb", True, ""),
    ("memory per stream, PSS + /dev/shm, KB", "mem_pss_per_stream_kb", True, ""),
    ("  PSS + unmapped /dev/shm, KB/stream", "mem_unique_per_stream_kb", True, ""),
    ("  /dev/shm, KB per stream", "shm_per_stream_kb", False, ""),
    ("  RSS idle, KB", "rss0_kb", False, ""),
    ("  RSS with streams, KB", "rss1_kb", False, ""),
    ("  PSS idle, KB", "pss0_kb", False, ""),
    ("  PSS with streams, KB", "pss1_kb", False, ""),
    ("  /dev/shm idle, KB", "shm0_kb", False, ""),
    ("  /dev/shm with streams, KB", "shm1_kb", False, ""),
    ("  server processes", "processes", False, ""),
    ("server CPU, cores", "server_cores", True, ""),
    ("  payload delivered, Mbit/s", "payload_mbps", False, ""),
    ("load tool CPU (srs-bench), cores", "load_cores", False, ""),
    ("machine busy before the run, %", "busy_before", False, ""),
]


def print_streams_step(c: Ctx, n: int) -> None:
    s = c.s
    kinds = streams_kinds(c)
    baselines = [k for k in ("nginx", "srs6") if k in kinds]
    val = lambda k, m: c.r.get((k, n), {}).get(m)  # noqa: E731
    players = n * s.players_per_stream
    print()
    print(f"=== {n} streams of {c.file_kbps} kbps, GOP {s.gop_seconds:g} s, {s.players_per_stream} player(s) per stream: publishers"
          f" all at once, players at {s.ramp}/s, memory at the end of a {s.duration}s window ===")
    for line in comparison_table(c, n, baselines, "ours", [], STREAMS_ROWS,
                                 {"n": n, "players": players, "kbps": c.file_kbps}):
        print(line)
    for k in kinds:
        if not val(k, "ok"):
            why = val(k, "why")
            print(f"  ({NAMES[k]}: not measured{': ' + why if why else ', see the messages above'})")
            continue
        print(f"  {NAMES[k]:<12} core busy in the window: {val(k, 'core_busy')}")
        if val(k, "publish_errors"):
            print(f"  {NAMES[k]:<12} publisher errors: {json.dumps(val(k, 'publish_errors'))}")
        errs = (val(k, "summary") or {}).get("errors")
        if errs:
            print(f"  {NAMES[k]:<12} player errors: {json.dumps(errs)}")
        if is_num(val(k, "published")) and val(k, "published") < n:
            print(f"  NOTE: only {val(k, 'published')} of {n} publishers of {NAMES[k]} published:"
                  f" its memory per stream still divides by {n}.")
        lt = val(k, "load_cores")
        if is_num(lt) and lt >= 0.9 * c.pin.load_ncpu:
            print(f"  WARNING: srs-bench used {lt} of its {c.pin.load_ncpu} core(s) in the {NAMES[k]} run:"
                  " the load tool is at its limit.")


def print_streams_summary(c: Ctx) -> None:
    s = c.s
    kinds = streams_kinds(c)
    baselines = [k for k in ("nginx", "srs6") if k in kinds]
    print()
    print(f"=== Memory per published stream, KB ({c.file_kbps} kbps, GOP {s.gop_seconds:g} s, {s.players_per_stream} player(s)"
          f" per stream; commit {c.commit.split(' ')[0]}) ===")
    fmt = "{:<8} {:<24}" + " {:>12}" * (len(baselines) + 1) + " {:>11}" * len(baselines)
    print(fmt.format("streams", "figure", *[NAMES[k] for k in baselines + ["ours"]],
                     *[f"ours/{b}" for b in baselines]))
    for n in s.streams:
        for label, m in (("RSS + /dev/shm", "mem_rss_per_stream_kb"),
                         ("PSS + /dev/shm", "mem_pss_per_stream_kb"),
                         ("PSS + unmapped /dev/shm", "mem_unique_per_stream_kb"),
                         ("publish start p99, ms", "publish_start_p99")):
            v = lambda k: c.r.get((k, n), {}).get(m)  # noqa: E731
            print(fmt.format(n, label, *[cell(m, v(k)) or "-" for k in baselines + ["ours"]],
                             *[ratio(v("ours"), v(b)) for b in baselines]))


def streams_header(c: Ctx) -> None:
    s = c.s
    load = loadavg()
    print(f"srs-rs vs SRS 6 and nginx-rtmp (many streams), {now_iso()}")
    print(f"commit:   {c.commit}")
    print(f"machine:  {c.ncpu} cores ({cpu_model()}), load average {load} at start")
    print(f"pinning:  {c.pin.how}")
    print(f"streams:  {' '.join(map(str, s.streams))} (one step each); srs-bench make-flv, H.264 + AAC,"
          f" {c.file_kbps} kbps of payload"
          f" (asked {s.stream_kbps}), GOP {s.gop_seconds:g} s")
    print(f"          publishers: srs-bench publish -m N, all at once (timeout {PUBLISH_TIMEOUT} s); players: "
          f"{s.players_per_stream} per stream, srs-bench play --streams N, {s.ramp}/s")
    print(f"srs-rs:   its default worker count (one per core it runs on), chunk_size {CHUNK_SIZE}, plain __defaultVhost__")
    print(srs6_line(c))
    print(f"nginx:    {nginx_version(c)}, libnginx-mod-rtmp {rtmp_version()}; worker_processes 1, chunk_size {CHUNK_SIZE}, live on")
    print("memory per stream = ((sum of RSS of every server process + the server's /dev/shm files) with streams and players")
    print("          - the same with the server idle) / streams; the same with PSS. RSS counts a mapped /dev/shm page twice")
    print("          or more (file + each process mapping it); PSS + unmapped /dev/shm counts every page once.")
    if load > 0.5 * c.ncpu:
        say(f"bench: WARNING: load average {load} before starting: something else is busy, numbers will be noisy")


def streams_json(c: Ctx) -> dict:
    s = c.s
    runs = []
    skip = {"ok", "summary", "publish_summary"}
    for n in s.streams:
        for k in streams_kinds(c):
            r = c.r.get((k, n), {})
            run = {"server": NAMES[k], "streams": n, "measured": bool(r.get("ok"))}
            run.update({m: v for m, v in r.items() if m not in skip})
            if r.get("ok"):
                run["srs_bench_publish"] = r.get("publish_summary")
                run["srs_bench_play"] = r.get("summary")
            runs.append(run)
    ratios = {}
    for n in s.streams:
        v = lambda k, m: c.r.get((k, n), {}).get(m)  # noqa: E731
        ratios[str(n)] = {m: {f"ours/{b}": ratio_value(v("ours", m), v(b, m)) for b in ("nginx", "srs6")}
                          for m in ("mem_rss_per_stream_kb", "mem_pss_per_stream_kb", "mem_unique_per_stream_kb",
                                    "publish_start_p99", "server_cores")}
    return {
        "mode": "streams", **common_json(c),
        "settings": {"streams": s.streams, "stream_kbps": s.stream_kbps, "file_kbps": c.file_kbps,
                     "gop_seconds": s.gop_seconds, "players_per_stream": s.players_per_stream, "duration_s": s.duration,
                     "settle_s": s.settle, "ramp_per_s": s.ramp, "publish_timeout_s": PUBLISH_TIMEOUT,
                     "chunk_size": CHUNK_SIZE},
        "notes": ("mem_rss_per_stream_kb = ((RSS of all server processes + allocated bytes of the server's /dev/shm files) "
                  "with streams and players - the same idle) / streams; mem_pss_per_stream_kb the same with PSS; "
                  "mem_unique_per_stream_kb = PSS + /dev/shm bytes no server process maps (every page once)"),
        "runs": runs, "ratios": ratios,
    }


# --- edge ------------------------------------------------------------------------------


EDGE_KINDS = ["ours", "srs6", "nginx"]
# The test stream as each origin names it among its clients.
OURS_STREAM = "__defaultVhost__/live/livestream"
SRS6_STREAM_URL = "/live/livestream"


def edge_kinds(c: Ctx) -> list[str]:
    return [k for k in EDGE_KINDS if k != "srs6" or c.srs6]


def spread(n: int, k: int) -> list[int]:
    """N players over K servers, as evenly as can be (the first ones take the remainder)."""
    return [n // k + (i < n % k) for i in range(k)]


def ours_play_clients(doc: dict | None, stream: str = OURS_STREAM) -> int | None:
    """Players of STREAM in `srs-cli --json clients` (an edge's upstream is one); None
    when srs-cli gave no answer."""
    if not isinstance(doc, dict) or not isinstance(doc.get("clients"), list):
        return None
    return sum(1 for cl in doc["clients"] if cl.get("type") == "play" and cl.get("stream") == stream)


def srs6_play_clients(doc: dict | None, url: str = SRS6_STREAM_URL) -> int | None:
    """Players of URL in SRS 6's /api/v1/clients/ (an edge pulls as a player); None when
    the API gave no answer."""
    if not isinstance(doc, dict) or doc.get("code") != 0 or not isinstance(doc.get("clients"), list):
        return None
    return sum(1 for cl in doc["clients"] if cl.get("publish") is False and cl.get("url") == url)


def minus(a, b):
    """a - b, or None when either is missing."""
    return a - b if is_num(a) and is_num(b) else None


def worst(values: Iterable) -> int | float | None:
    """The highest of the values measured (None when none is)."""
    nums = [v for v in values if is_num(v)]
    return max(nums) if nums else None


def edge_fields(origin: dict, edges: list[dict], per_edge: list[int]) -> dict:
    """Edge mode's player figures for one server and step (pure), from the srs-bench play
    summaries of the origin's players and of each edge's: counts summed over the edges,
    latencies of the worst edge (percentiles of separate runs do not merge), and what the
    tier adds: the edges' lag minus the origin's."""
    o = play_fields(origin)
    e = [play_fields(x) for x in edges]

    def total(f: str):
        return sum(x[f] for x in e) if e and all(is_num(x[f]) for x in e) else None

    m = {
        "origin_players": origin.get("players"),
        "origin_connected": o["connected"], "origin_failed": o["failed"], "origin_below_90pct": o["below_90pct"],
        "origin_first_frame_p99": o["first_frame_p99"], "origin_lag_p50": o["lag_p50"], "origin_lag_p99": o["lag_p99"],
        "edge_players": sum(per_edge),
        "edge_connected": total("connected"), "edge_failed": total("failed"),
        "edge_disconnects": total("disconnects"), "edge_below_90pct": total("below_90pct"),
        "edge_first_frame_p99": worst(x["first_frame_p99"] for x in e),
        "edge_lag_p50": worst(x["lag_p50"] for x in e), "edge_lag_p99": worst(x["lag_p99"] for x in e),
        "edges": [{"players": n, **{f: x[f] for f in ("connected", "failed", "below_90pct", "first_frame_p99",
                                                      "lag_p50", "lag_p99")}} for n, x in zip(per_edge, e)],
    }
    m["tier_p50"] = minus(m["edge_lag_p50"], m["origin_lag_p50"])
    m["tier_p99"] = minus(m["edge_lag_p99"], m["origin_lag_p99"])
    return m


def edge_targets(runs: Mapping[str, dict]) -> dict[str, str]:
    """Per server: does a tier add at most TIER_TARGET_MS of lag p99?"""
    return {k: target_le(str(r.get("tier_p99")) if is_num(r.get("tier_p99")) else "-", TIER_TARGET_MS, " ms")
            for k, r in runs.items()}


def http_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None


def origin_upstreams(c: Ctx, kind: str, run_dir: Path, port: int, api_port: int | None, direct: int) -> dict:
    """The origin's upstreams (the edges' play connections) as the server counts them
    (srs-cli, SRS 6's API) minus its DIRECT players, and from its established TCP
    connections minus the publisher and DIRECT (nginx-rtmp has only that)."""
    tcp = established(port, tcp_tables()) - 1 - direct
    if kind == "ours":
        cli = str(Path(c.master).parent / "srs-cli")
        plays = ours_play_clients(last_json(output([cli, "--run-dir", str(run_dir), "--json", "clients"]) or ""))
        return {"upstreams": minus(plays, direct), "upstreams_tcp": tcp, "upstreams_from": "srs-cli clients"}
    if kind == "srs6" and api_port is not None:
        plays = srs6_play_clients(http_json(f"http://127.0.0.1:{api_port}/api/v1/clients/?start=0&count=1000"))
        return {"upstreams": minus(plays, direct), "upstreams_tcp": tcp, "upstreams_from": "/api/v1/clients/"}
    return {"upstreams": tcp, "upstreams_tcp": tcp, "upstreams_from": "TCP connections"}


def run_edge_one(c: Ctx, kind: str, n: int) -> dict:
    s = c.s
    d = c.work / f"edge-{kind}-{n}"
    d.mkdir(parents=True, exist_ok=True)
    port = c.ports.free()
    edge_ports = [c.ports.free() for _ in range(EDGES)]
    api_port = c.ports.free() if kind == "srs6" else None
    per_edge = spread(n, EDGES)
    ramp_s = -(-max(*per_edge, s.edge_origin_players) // s.ramp)
    win = Window(ramp_s + s.settle, ramp_s + s.settle + s.duration)
    res: dict = {"ok": False, "busy_before": wait_quiet(s)}
    say(f"bench: {kind}, edge, {n} players: origin port {port}, edges {' '.join(map(str, edge_ports))},"
        f" ramp {ramp_s}s, window t={win.t0}s..{win.t1}s")
    origin = pub = None
    edges: list[subprocess.Popen] = []
    plays: list[subprocess.Popen] = []
    edge_ticks: list[int] = []
    up: dict = {}

    def play_argv(p: int, players: int, pd: Path, *more: str) -> list[str]:
        return c.bench_cmd("play", "--url", f"rtmp://127.0.0.1:{p}/live/livestream", "-n", str(players),
                           "--ramp", str(s.ramp), "--duration", str(win.t1 + 1), "--stream-kbps", str(c.file_kbps),
                           "--threads", str(c.pin.load_ncpu), "--json-out", str(pd / "play.json"), *more)

    def edges_cpu() -> None:
        edge_ticks.append(cpu_ticks([p for e in edges for p in tree_pids(e.pid)]))

    def at_end() -> None:
        edges_cpu()
        up.update(origin_upstreams(c, kind, d / "origin" / "run", port, api_port, win.connected))

    try:
        origin = start_server(c, kind, port, d / "origin", api_port=api_port)
        for i, p in enumerate(edge_ports):
            edges.append(start_server(c, kind, p, d / f"edge{i}", origin=port))
        pub = start_publisher(c, port, d / "origin")
        time.sleep(max(3, c.s.gop_seconds + 1))
        # One srs-bench per edge, started with the origin's players: their seconds line up.
        for i, (p, k) in enumerate(zip(edge_ports, per_edge)):
            ed = d / f"edge{i}"
            out, err = open(ed / "play.log", "w"), open(ed / "play.err", "w")
            plays.append(c.procs.start(play_argv(p, k, ed), cpus=c.pin.load_cpus, stdout=out, stderr=err))
            out.close()
            err.close()
        # The origin's few players all read at once and measure lag (probes).
        run_players(c, d / "origin", origin, [pub.pid, *(p.pid for p in plays)],
                    play_argv(port, s.edge_origin_players, d / "origin", "--read-interval-ms", "0"),
                    win, at_end=at_end, at_start=edges_cpu)
        for p in plays:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                pass
            c.procs.stop(p)
    except StepFailed as e:
        say(f"bench: {kind}, edge, {n} players: {e}; step not measured")
        c.failed_start = True
        res["why"] = str(e)
        return res
    finally:
        for p in (*plays, pub, *edges, origin):
            if p is not None:
                c.procs.stop(p)
    summaries = [read_json(d / f"edge{i}" / "play.json") for i in range(EDGES)]
    ended = [i for i, x in enumerate(summaries) if not x]
    if not win.done or win.summary is None or ended or len(edge_ticks) != 2:
        why = f"srs-bench play of edge {ended[0]} ended early" if ended else "srs-bench play ended early"
        say(f"bench: {kind}, edge, {n} players: {why} (see below); step not measured")
        say(tail(d / (f"edge{ended[0]}" if ended else "origin") / "play.err", 5))
        res["why"] = why
        return res
    m = window_metrics(c, kind, win)
    # The origin's figures: its payload (and CPU per Gbit) would leave out what the edges take.
    for k in ("payload_gbit", "payload_mbps", "cpu_per_gbit", "core_cpu_per_gbit"):
        m.pop(k, None)
    m["origin_cpu_s"], m["origin_cores"] = m.pop("cpu_s"), m.pop("server_cores")
    res.update(m)
    edges_s = (edge_ticks[1] - edge_ticks[0]) / c.hz
    res.update(ok=True, edges_cpu_s=round(edges_s, 3),
               edges_cores=round(edges_s / m["window_s"], 2) if m["window_s"] > 0 else None,
               **up, **edge_fields(win.summary, summaries, per_edge), summary=win.summary, edge_summaries=summaries)
    say(f"bench: {kind}, edge, {n} players: {res['upstreams']} upstreams, origin {res['origin_cores']} cores,"
        f" edges {res['edges_cores']} cores, lag p99 origin {res['origin_lag_p99']} ms, edges {res['edge_lag_p99']} ms")
    return res


EDGE_ROWS = [
    ("origin upstreams (edges' plays)", "upstreams", False, f"{EDGES}: one per edge"),
    ("  from the origin's TCP connections", "upstreams_tcp", False, ""),
    ("origin CPU, CPU-s in the window", "origin_cpu_s", True, ""),
    ("  origin CPU, cores", "origin_cores", True, ""),
    ("edges CPU, all 3, CPU-s in the window", "edges_cpu_s", True, ""),
    ("  edges CPU, cores", "edges_cores", True, ""),
    ("origin players connected (of {o})", "origin_connected", False, ""),
    ("  below 90% of {kbps} kbps", "origin_below_90pct", False, ""),
    ("  first frame p99, ms", "origin_first_frame_p99", True, ""),
    ("  lag p50, ms", "origin_lag_p50", True, ""),
    ("  lag p99, ms", "origin_lag_p99", True, ""),
    ("edge players connected (of {n})", "edge_connected", False, ""),
    ("  failed to connect", "edge_failed", False, ""),
    ("  dropped after playing", "edge_disconnects", False, ""),
    ("  below 90% of {kbps} kbps", "edge_below_90pct", False, ""),
    ("  first frame p99 (worst edge), ms", "edge_first_frame_p99", True, ""),
    ("  lag p50 (worst edge), ms", "edge_lag_p50", True, ""),
    ("  lag p99 (worst edge), ms", "edge_lag_p99", True, ""),
    ("tier added, lag p50 edge - origin, ms", "tier_p50", False, ""),
    ("tier added, lag p99 edge - origin, ms", "tier_p99", False, f"<= {TIER_TARGET_MS} ms"),
    ("load tool CPU (srs-bench), cores", "load_cores", False, ""),
    ("machine busy before the run, %", "busy_before", False, ""),
]


def print_edge_step(c: Ctx, n: int) -> None:
    s = c.s
    kinds = edge_kinds(c)
    baselines = [k for k in ("nginx", "srs6") if k in kinds]
    val = lambda k, m: c.r.get((k, n), {}).get(m)  # noqa: E731
    print()
    print(f"=== 1 origin + {EDGES} edges: {n} players on the edges ({' + '.join(map(str, spread(n, EDGES)))}),"
          f" {s.edge_origin_players} on the origin, {c.file_kbps} kbps, players at {s.ramp}/s per srs-bench,"
          f" window of {s.duration}s starting {s.settle}s after the last player started ===")
    for line in comparison_table(c, n, baselines, "ours", [], EDGE_ROWS,
                                 {"n": n, "o": s.edge_origin_players, "kbps": c.file_kbps}):
        print(line)
    for k in kinds:
        if not val(k, "ok"):
            why = val(k, "why")
            print(f"  ({NAMES[k]}: not measured{': ' + why if why else ', see the messages above'})")
            continue
        print(f"  {NAMES[k]:<12} core busy in the window: {val(k, 'core_busy')}")
        print(f"  {NAMES[k]:<12} lag p50/p99 of each edge, ms: "
              + ", ".join(f"{e['lag_p50']}/{e['lag_p99']}" for e in val(k, "edges") or []))
        for who, summary in [("origin", val(k, "summary")),
                             *((f"edge {i}", x) for i, x in enumerate(val(k, "edge_summaries") or []))]:
            if (summary or {}).get("errors"):
                print(f"  {NAMES[k]:<12} {who} player errors: {json.dumps(summary['errors'])}")
        if val(k, "upstreams") != EDGES:
            print(f"  NOTE: {NAMES[k]}'s origin had {val(k, 'upstreams')} upstreams ({val(k, 'upstreams_from')}),"
                  f" not {EDGES}: one per edge is right.")
        lt = val(k, "load_cores")
        if is_num(lt) and lt >= 0.9 * c.pin.load_ncpu:
            print(f"  WARNING: srs-bench used {lt} of its {c.pin.load_ncpu} core(s) in the {NAMES[k]} run:"
                  " the load tool is at its limit, so its lag figures partly measure srs-bench.")
    t = edge_targets({k: c.r.get((k, n), {}) for k in kinds})
    c.targets[n] = t
    print(f"  target: a tier adds <= {TIER_TARGET_MS} ms of lag p99 on loopback: "
          + "; ".join(f"{NAMES[k]} {t[k]}" for k in kinds))


def print_edge_summary(c: Ctx) -> None:
    kinds = edge_kinds(c)
    print()
    print(f"=== Edge tier (1 origin + {EDGES} edges, {c.s.edge_origin_players} players on the origin; lag p50/p99 in ms;"
          f" commit {c.commit.split(' ')[0]}) ===")
    fmt = "{:<8} {:<11} {:>9} {:>12} {:>11} {:>12} {:>12} {:>12}  {}"
    print(fmt.format("players", "server", "upstreams", "origin CPU-s", "edges CPU-s", "origin lag", "edge lag",
                     "tier added", f"tier p99 <= {TIER_TARGET_MS} ms"))
    for n in c.s.edge_players:
        for k in kinds:
            v = lambda m: c.r.get((k, n), {}).get(m)  # noqa: E731
            pair = lambda a, b: f"{cell(a, v(a)) or '-'}/{cell(b, v(b)) or '-'}"  # noqa: E731
            print(fmt.format(n, NAMES[k], cell("upstreams", v("upstreams")) or "-",
                             cell("origin_cpu_s", v("origin_cpu_s")) or "-", cell("edges_cpu_s", v("edges_cpu_s")) or "-",
                             pair("origin_lag_p50", "origin_lag_p99"), pair("edge_lag_p50", "edge_lag_p99"),
                             pair("tier_p50", "tier_p99"), c.targets.get(n, {}).get(k, "not measured")))


def edge_header(c: Ctx) -> None:
    s = c.s
    load = loadavg()
    print(f"srs-rs vs SRS 6 and nginx-rtmp (edge: 1 origin + {EDGES} edges), {now_iso()}")
    print(f"commit:   {c.commit}")
    print(f"machine:  {c.ncpu} cores ({cpu_model()}), load average {load} at start")
    print(f"pinning:  {c.pin.how}; the origin and the {EDGES} edges all on the server core(s)")
    print(f"stream:   srs-bench make-flv, H.264 + AAC, {c.file_kbps} kbps of payload, GOP {s.gop_seconds:g} s,"
          " one publisher on the origin (srs-bench publish)")
    print(f"cluster:  per server, one origin and {EDGES} edges of that server on free loopback ports; an edge pulls the"
          " stream from the origin when its first player comes")
    print(f"srs-rs:   its default worker count (one per core it runs on), chunk_size {CHUNK_SIZE}, its defaults otherwise"
          " (gop_cache on, mw_latency 350);")
    print("          edges: vhost __defaultVhost__ { cluster { mode remote; origin 127.0.0.1:PORT; } }")
    print(srs6_line(c))
    if c.srs6:
        print("          edges: the same cluster block; the origin has http_api on (to count its clients)")
    print(f"nginx:    {nginx_version(c)}, libnginx-mod-rtmp {rtmp_version()}; worker_processes 1, chunk_size {CHUNK_SIZE},"
          " live on; edges: pull rtmp://127.0.0.1:PORT/live;")
    print(f"players:  {s.edge_origin_players} on the origin, all lag probes (--read-interval-ms 0); the edges' players split"
          f" evenly, one srs-bench play per edge (one lag probe per 50 players); each srs-bench at {s.ramp}/s")
    print("upstreams = the origin's play connections of the stream minus its own players: srs-cli clients (srs-rs),")
    print("          /api/v1/clients/ (SRS 6), established TCP connections to its port minus the publisher (nginx-rtmp;")
    print("          every server's second row)")
    print("CPU = CPU-seconds of every process of the origin, and of the 3 edges together, over the window.")
    print("lag = receive time minus the publisher's clock stamp in the video frames, over the whole run; edge figures")
    print("          are the worst edge's; tier added = edge lag - origin lag.")
    if load > 0.5 * c.ncpu:
        say(f"bench: WARNING: load average {load} before starting: something else is busy, numbers will be noisy")


def edge_json(c: Ctx) -> dict:
    s = c.s
    runs = []
    skip = {"ok", "summary", "edge_summaries"}
    for n in s.edge_players:
        for k in edge_kinds(c):
            r = c.r.get((k, n), {})
            run = {"server": NAMES[k], "edge_players": n, "measured": bool(r.get("ok"))}
            run.update({m: v for m, v in r.items() if m not in skip})
            if r.get("ok"):
                run["srs_bench_origin_play"] = r.get("summary")
                run["srs_bench_edge_plays"] = r.get("edge_summaries")
            runs.append(run)
    ratios, targets = {}, {}
    for n in s.edge_players:
        v = lambda k, m: c.r.get((k, n), {}).get(m)  # noqa: E731
        ratios[str(n)] = {m: {f"ours/{b}": ratio_value(v("ours", m), v(b, m)) for b in ("nginx", "srs6")}
                          for m in ("origin_cpu_s", "edges_cpu_s", "origin_lag_p99", "edge_lag_p99")}
        targets[str(n)] = {f"tier_lag_p99_le_{TIER_TARGET_MS}ms": {NAMES[k]: t for k, t in c.targets.get(n, {}).items()}}
    return {
        "mode": "edge", **common_json(c),
        "settings": {"edge_players": s.edge_players, "edge_origin_players": s.edge_origin_players, "edges": EDGES,
                     "duration_s": s.duration, "settle_s": s.settle, "ramp_per_s": s.ramp, "file_kbps": c.file_kbps,
                     "gop_seconds": s.gop_seconds, "chunk_size": CHUNK_SIZE, "tier_target_ms": TIER_TARGET_MS},
        "notes": ("upstreams = the origin's play connections of the stream minus its own players (srs-cli clients, "
                  "SRS 6 /api/v1/clients/; nginx-rtmp: established TCP connections to the origin's port minus the "
                  "publisher and its players, upstreams_tcp for every server); origin_cpu_s, edges_cpu_s = utime+stime of "
                  "every process of the origin, of the 3 edges together, over the window; edge_* latencies are the worst "
                  "edge's; tier_p50/p99 = edge lag - origin lag, ms"),
        "runs": runs, "ratios": ratios, "targets": targets,
    }


# --- every mode ------------------------------------------------------------------------


def now_iso() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def cpu_model() -> str:
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def nginx_version(c: Ctx) -> str:
    v = output([c.nginx, "-v"]) or "unknown"
    return v.replace("nginx version: ", "")


def rtmp_version() -> str:
    return output(["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-rtmp"]) or "unknown"


def srs6_version(c: Ctx) -> str:
    return (output([str(c.srs6), "-v"]) or "6 (unknown version)").splitlines()[-1]


def common_json(c: Ctx) -> dict:
    return {
        "commit": c.commit, "date": now_iso(),
        "machine": {"nproc": c.ncpu, "cpu": cpu_model(), "kernel": os.uname().release},
        "pinning": {"server_cpus": c.pin.server_cpus, "load_cpus": c.pin.load_cpus, "how": c.pin.how},
        "nginx": {"version": nginx_version(c), "rtmp_module": c.rtmp_so, "rtmp_module_version": rtmp_version()},
        "srs6": ({"binary": c.srs6, "version": srs6_version(c), "max_connections": srs6_max_connections(c.nofile)}
                 if c.srs6 else None),
    }


def write_json(c: Ctx, doc: dict) -> None:
    c.s.out.parent.mkdir(parents=True, exist_ok=True)
    c.s.out.write_text(json.dumps(doc) + "\n")


def make_test_file(c: Ctx, kbps: int) -> None:
    s = c.s
    say(f"bench: making a {kbps} kbps test stream ({flv_seconds(s.gop_seconds)} s, GOP {s.gop_seconds:g} s, looped)")
    c.flv = c.work / "in.flv"
    argv = c.bench_cmd("make-flv", "--out", str(c.flv), "--seconds", str(flv_seconds(s.gop_seconds)), "--kbps", str(kbps))
    # Only asked when not the default, so that an older srs-bench (REV) still makes its file.
    if s.gop_seconds != 2:
        argv += ["--gop-seconds", f"{s.gop_seconds:g}"]
    if subprocess.run(["taskset", "-c", c.pin.load_cpus, *argv], stdout=sys.stderr).returncode != 0:
        raise BenchError("srs-bench make-flv failed")
    # The rate of what the publisher loops, for the 90 % rule (srs-bench publish prints it).
    r = subprocess.run(c.bench_cmd("publish", "--url", "rtmp://127.0.0.1:1/live/x", "--file", str(c.flv),
                                   "--duration", "0.1", "--timeout", "0.1"), capture_output=True, text=True)
    k = file_kbps_from(r.stderr)
    if k is None:
        raise BenchError("could not read the test stream's bitrate")
    c.file_kbps = k


def prepare(s: Settings, root: Path, work: Path, procs: Procs) -> Ctx:
    nginx, so = ensure_dependencies()
    src, binary = root, root / "target" / "release"
    build = s.build
    if s.rev:
        # A clean copy of one commit, so that edits in the working tree do not leak in.
        commit = output(["git", "log", "--oneline", "-1", s.rev], cwd=root)
        if commit is None:
            raise BenchError(f"unknown REV {s.rev}")
        src = work / "src"
        src.mkdir()
        archive = subprocess.Popen(["git", "archive", s.rev], cwd=root, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(src)], stdin=archive.stdout, check=True)
        archive.wait()
        os.environ["CARGO_TARGET_DIR"] = str(root / "target" / "bench-rev")
        binary = root / "target" / "bench-rev" / "release"
        build = True
    else:
        commit = output(["git", "log", "--oneline", "-1"], cwd=root) or "unknown"
        if subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=root, capture_output=True).returncode != 0:
            commit += " (plus uncommitted changes)"
    if build:
        say(f"bench: cargo build --release --bins (in {src})")
        if subprocess.run(["cargo", "build", "--release", "--bins"], cwd=src, stdout=sys.stderr).returncode != 0:
            raise BenchError("cargo build failed")
    bench, master = binary / "srs-bench", binary / "srs-master"
    if not (os.access(bench, os.X_OK) and os.access(master, os.X_OK)):
        raise BenchError(f"no release binaries in {binary}: run cargo build --release --bins (or BUILD=1)")
    srs6 = str(s.srs6) if os.access(s.srs6, os.X_OK) else None
    if not srs6:
        say(f"bench: WARNING: SRS 6 not found at {s.srs6} (set SRS6=...): it is left out")

    nofile = raise_nofile()
    if s.mode == "fanout":
        most = max(s.steps)
    elif s.mode == "streams":
        most = max(s.streams) * (1 + s.players_per_stream)
    else:
        most = max(s.edge_players) + s.edge_origin_players + EDGES + 1
    if nofile < most + 200:
        say(f"bench: WARNING: ulimit -n is {nofile}, below {most} connections; raise the hard limit (limits.conf) or run as root")
    ncpu = os.cpu_count() or 1
    pin = pinning(ncpu, s.server_cpus, s.load_cpus)
    # The script's own sampling stays off the server's core.
    os.sched_setaffinity(0, expand_cpus(pin.load_cpus))
    return Ctx(s=s, root=root, work=work, procs=procs, ports=Ports(), pin=pin, ncpu=ncpu,
               hz=os.sysconf("SC_CLK_TCK"), nofile=nofile, bench=str(bench), master=str(master), nginx=nginx,
               rtmp_so=so, srs6=srs6, commit=commit)


def run_fanout(c: Ctx) -> None:
    make_test_file(c, c.s.kbps)
    fanout_header(c)
    for n in c.s.steps:
        for k in fanout_kinds(c):
            c.r[(k, n)] = run_fanout_one(c, k, n)
        print_fanout_step(c, n)
    print_fanout_targets(c)
    write_json(c, fanout_json(c))


def run_edge(c: Ctx) -> None:
    make_test_file(c, c.s.kbps)
    edge_header(c)
    for n in c.s.edge_players:
        for k in edge_kinds(c):
            c.r[(k, n)] = run_edge_one(c, k, n)
        print_edge_step(c, n)
    print_edge_summary(c)
    write_json(c, edge_json(c))


def run_streams(c: Ctx) -> None:
    make_test_file(c, c.s.stream_kbps)
    streams_header(c)
    for n in c.s.streams:
        for k in streams_kinds(c):
            c.r[(k, n)] = run_streams_one(c, k, n)
        print_streams_step(c, n)
    print_streams_summary(c)
    write_json(c, streams_json(c))


def main(argv: list[str]) -> int:
    global _libc
    root = Path(__file__).resolve().parent.parent
    os.chdir(root)
    sys.stdout.reconfigure(line_buffering=True)
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        _libc = None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        s = parse_settings(os.environ, argv, root, stamp)
    except BenchError as e:
        say(f"bench: {e}")
        return 1

    def on_term(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    procs = Procs()
    work = Path(tempfile.mkdtemp(prefix="srs-rs-bench.", dir=os.environ.get("TMPDIR", "/tmp")))
    rc = 0
    try:
        c = prepare(s, root, work, procs)
        {"fanout": run_fanout, "streams": run_streams, "edge": run_edge}[s.mode](c)
        print()
        print(f"JSON: {s.out}")
        rc = 1 if c.failed_start else 0
    except BenchError as e:
        say(f"bench: {e}")
        rc = 1
    except KeyboardInterrupt:
        say("bench: interrupted")
        rc = 130
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    finally:
        # Nothing interrupts the cleanup: every process started is stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        procs.stop_all()
        if s.keep:
            say(f"bench: work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
