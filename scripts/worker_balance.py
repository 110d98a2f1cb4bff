#!/usr/bin/env python3
"""How evenly stream workers share players.

    scripts/worker_balance.py                       # 8 workers, 4000 players at 500/s
    scripts/worker_balance.py --workers 2 --players 40 --ramp 0
    scripts/worker_balance.py --bin /tmp/old        # another build (its srs-master, srs-cli)

Starts srs-master with `worker_processes N` on a free loopback port, publishes one stream
with `srs-bench publish`, starts `srs-bench play` with the players at the given ramp, waits
until every player is connected, then asks `srs-cli status --json` how many connections
each stream worker holds (the publisher is in backsource, not counted). Prints the count
per worker, the mean, and each worker's distance from the mean in percent, and one JSON
line. Every process it starts is stopped at the end.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spread(counts):
    """Mean and each count's distance from it, in percent."""
    mean = sum(counts) / len(counts) if counts else 0.0
    return mean, [(c - mean) * 100.0 / mean if mean else 0.0 for c in counts]


def worker_connections(cli, conf):
    out = subprocess.run([cli, "--json", "-c", conf, "status"], capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0:
        return None
    rows = json.loads(out.stdout)["processes"]
    return [r["connections"] for r in sorted(rows, key=lambda r: r["index"])
            if r["role"] == "stream-worker"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--players", type=int, default=4000)
    ap.add_argument("--ramp", type=float, default=500, help="players per second, 0: at once")
    ap.add_argument("--bin", default=os.path.join(here, "..", "target", "release"),
                    help="directory of srs-master and srs-cli")
    ap.add_argument("--bench", default=os.path.join(here, "..", "target", "release", "srs-bench"))
    a = ap.parse_args()
    master, cli = os.path.join(a.bin, "srs-master"), os.path.join(a.bin, "srs-cli")
    work = tempfile.mkdtemp(prefix="srs-balance.")
    port = free_port()
    conf = os.path.join(work, "srs.conf")
    with open(conf, "w") as f:
        f.write(f"listen 127.0.0.1:{port};\nmax_connections 20000;\ndaemon off;\n"
                f"pid {work}/srs.pid;\nrun_dir {work}/run;\nsrs_log_tank console;\n"
                f"srs_log_level warn;\nworker_processes {a.workers};\n"
                "vhost __defaultVhost__ { }\n")
    flv = os.path.join(work, "test.flv")
    subprocess.run([a.bench, "make-flv", "--out", flv, "--seconds", "10"], check=True)
    procs = []
    try:
        log = open(os.path.join(work, "server.log"), "w")
        procs.append(subprocess.Popen([master, "-c", conf], stdout=log, stderr=log))
        url = f"rtmp://127.0.0.1:{port}/live/balance"
        deadline = time.time() + 20
        while worker_connections(cli, conf) != [0] * a.workers:
            if time.time() > deadline:
                sys.exit("server not ready: see " + log.name)
            time.sleep(0.2)
        procs.append(subprocess.Popen([a.bench, "publish", "--url", url, "--file", flv,
                                       "--duration", "600"], stdout=subprocess.DEVNULL))
        time.sleep(2)
        ramp_s = a.players / a.ramp if a.ramp else 0
        procs.append(subprocess.Popen([a.bench, "play", "--url", url, "-n", str(a.players), "--ramp",
                                       str(a.ramp), "--duration", str(ramp_s + 600)],
                                      stdout=subprocess.DEVNULL))
        deadline = time.time() + ramp_s + 60
        counts = []
        while time.time() < deadline:
            counts = worker_connections(cli, conf) or []
            if sum(counts) >= a.players:
                break
            time.sleep(0.5)
        mean, off = spread(counts)
        print(f"{a.workers} workers, {sum(counts)} of {a.players} players "
              f"(ramp {a.ramp:g}/s), mean {mean:.1f}")
        for i, (c, o) in enumerate(zip(counts, off)):
            print(f"  worker-{i}: {c:6d}  {o:+6.1f} %")
        print(json.dumps({"workers": a.workers, "players": a.players, "ramp": a.ramp,
                          "per_worker": counts,
                          "max_off_pct": round(max(map(abs, off), default=0), 1)}))
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
