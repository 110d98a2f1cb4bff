"""Unit tests of scripts/bench.py: its pure parts (settings, server configs, /proc parsing,
the memory arithmetic, tables), plus the two helpers that touch the system in a small,
safe way (/dev/shm accounting of this process, stopping a process tree).

    python3 -m unittest discover -s scripts/tests
"""

import mmap
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench  # noqa: E402

ROOT = Path("/repo")


def settings(env=None, argv=()):
    return bench.parse_settings(env or {}, list(argv), ROOT, "20260101-000000")


class SettingsTest(unittest.TestCase):
    def test_defaults_are_the_bash_scripts(self):
        s = settings()
        self.assertEqual(s.mode, "fanout")
        self.assertEqual(s.steps, [500, 1000, 2000, 4000])
        self.assertEqual((s.duration, s.settle, s.ramp, s.kbps), (20, 3, 250, 500))
        self.assertEqual((s.workers2, s.build, s.keep), (True, True, False))
        self.assertEqual((s.quiet_wait, s.quiet_busy), (30, 15))
        self.assertIsNone(s.rev)
        self.assertEqual(s.out, ROOT / "target/bench/bench-20260101-000000.json")
        self.assertEqual(s.srs6, Path("/shared/peers/srs6/srs"))
        # Streams mode.
        self.assertEqual((s.streams, s.stream_kbps, s.gop_seconds, s.players_per_stream), ([1000], 500, 2.0, 2))
        # Edge mode.
        self.assertEqual((s.edge_players, s.edge_origin_players), ([300, 900], 20))

    def test_environment(self):
        s = settings({"STEPS": " 50  100 ", "DURATION": "3", "WORKERS2": "0", "BUILD": "0", "KEEP": "1",
                      "REV": "HEAD~2", "OUT": "/tmp/x.json", "QUIET_WAIT": "0", "SERVER_CPUS": "0-1",
                      "LOAD_CPUS": "2,3", "MODE": "streams", "STREAMS": "200 1000", "STREAM_KBPS": "2000",
                      "GOP_SECONDS": "6", "PLAYERS_PER_STREAM": "3", "SRS6": "/opt/srs"})
        self.assertEqual(s.steps, [50, 100])
        self.assertEqual((s.workers2, s.build, s.keep, s.rev), (False, False, True, "HEAD~2"))
        self.assertEqual((s.out, s.quiet_wait, s.server_cpus, s.load_cpus), (Path("/tmp/x.json"), 0, "0-1", "2,3"))
        self.assertEqual((s.mode, s.streams, s.stream_kbps, s.gop_seconds, s.players_per_stream),
                         ("streams", [200, 1000], 2000, 6.0, 3))
        self.assertEqual(s.srs6, Path("/opt/srs"))
        self.assertEqual(settings({"GOP_SECONDS": "0.5"}).gop_seconds, 0.5)
        s = settings({"MODE": "edge", "EDGE_PLAYERS": "150", "EDGE_ORIGIN_PLAYERS": "5"})
        self.assertEqual((s.mode, s.edge_players, s.edge_origin_players), ("edge", [150], 5))

    def test_mode_from_the_command_line_wins(self):
        self.assertEqual(settings({"MODE": "fanout"}, ["--mode", "streams"]).mode, "streams")
        self.assertEqual(settings({"MODE": "fan-out"}).mode, "fanout")
        self.assertEqual(settings({}, ["--mode", "edge"]).mode, "edge")
        with self.assertRaisesRegex(bench.BenchError, "MODE is fanout, streams or edge"):
            settings({"MODE": "many"})

    def test_bad_values_are_refused(self):
        bad = [
            ({"STEPS": "500 abc"}, "STEPS, DURATION, SETTLE, RAMP and KBPS take positive integers"),
            ({"STEPS": ""}, "positive integers"),
            ({"DURATION": "0"}, "positive integers"),
            ({"SETTLE": "-1"}, "positive integers"),
            ({"RAMP": "2.5"}, "positive integers"),
            ({"STREAMS": "0"}, "STREAMS"),
            ({"STREAM_KBPS": "fast"}, "STREAM_KBPS"),
            ({"PLAYERS_PER_STREAM": "1 2"}, "PLAYERS_PER_STREAM takes one"),
            ({"GOP_SECONDS": "0"}, "GOP_SECONDS"),
            ({"GOP_SECONDS": "nan"}, "GOP_SECONDS"),
            ({"GOP_SECONDS": "61"}, "GOP_SECONDS"),
            ({"QUIET_WAIT": "-3"}, "QUIET_WAIT"),
            ({"QUIET_BUSY": "0"}, "QUIET_BUSY"),
            ({"QUIET_BUSY": "101"}, "QUIET_BUSY"),
            ({"SERVER_CPUS": "0;1"}, "SERVER_CPUS"),
            ({"LOAD_CPUS": "1-"}, "LOAD_CPUS"),
            ({"EDGE_PLAYERS": "300 x"}, "EDGE_PLAYERS takes positive integers"),
            ({"EDGE_PLAYERS": "2"}, "EDGE_PLAYERS takes player counts of at least 3"),
            ({"EDGE_ORIGIN_PLAYERS": "0"}, "EDGE_ORIGIN_PLAYERS"),
            ({"EDGE_ORIGIN_PLAYERS": "10 20"}, "EDGE_ORIGIN_PLAYERS takes one"),
        ]
        for env, msg in bad:
            with self.subTest(env=env), self.assertRaisesRegex(bench.BenchError, msg):
                settings(env)

    def test_test_file_is_whole_gops(self):
        self.assertEqual(bench.flv_seconds(2), 30)
        self.assertEqual(bench.flv_seconds(6), 30)
        self.assertEqual(bench.flv_seconds(4), 32)
        self.assertEqual(bench.flv_seconds(7), 35)
        self.assertEqual(bench.flv_seconds(0.5), 30)
        self.assertEqual(bench.flv_seconds(60), 60)


class PinningTest(unittest.TestCase):
    def test_cpu_lists(self):
        self.assertEqual(bench.expand_cpus("0"), [0])
        self.assertEqual(bench.expand_cpus("1-3,5"), [1, 2, 3, 5])

    def test_servers_on_core_0_load_on_the_others(self):
        p = bench.pinning(2, None, None)
        self.assertEqual((p.server_cpus, p.load_cpus, p.all_cpus), ("0", "1", "0-1"))
        p = bench.pinning(8, None, None)
        self.assertEqual((p.server_cpus, p.load_cpus, p.load_ncpu, p.server_ncpu), ("0", "1-7", 7, 1))
        self.assertIn("taskset -c", p.how)
        p = bench.pinning(4, "0,1", "2-3")
        self.assertEqual((p.server_ncpu, p.load_ncpu), (2, 2))

    def test_one_core_is_not_pinned(self):
        p = bench.pinning(1, "0", "0")
        self.assertEqual((p.server_cpus, p.load_cpus), ("0-0", "0-0"))
        self.assertTrue(p.how.startswith("not pinned"))


class ConfigTest(unittest.TestCase):
    def test_nginx(self):
        text = bench.nginx_conf("/usr/lib/nginx/modules/ngx_rtmp_module.so", 23456, Path("/w/nginx-500"), 20000)
        self.assertEqual(text, """load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid /w/nginx-500/nginx.pid;
error_log /w/nginx-500/error.log warn;
events {
    worker_connections 20000;
}
rtmp {
    server {
        listen 127.0.0.1:23456;
        chunk_size 60000;
        application live {
            live on;
        }
    }
}
""")

    def test_ours_fanout(self):
        text = bench.ours_conf(23456, Path("/w/ours1-500"), 1)
        self.assertEqual(text, """listen 127.0.0.1:23456;
max_connections 20000;
chunk_size 60000;
pid /w/ours1-500/srs.pid;
run_dir /w/ours1-500/run;
daemon off;
srs_log_tank console;
srs_log_level warn;
worker_processes 1;
vhost __defaultVhost__ {
}
""")
        self.assertIn("worker_processes 2;", bench.ours_conf(1, Path("/w"), 2))

    def test_ours_streams_keeps_the_default_worker_count(self):
        text = bench.ours_conf(23456, Path("/w/s"), None)
        self.assertEqual(text.splitlines(), [
            "listen 127.0.0.1:23456;", "max_connections 20000;", "chunk_size 60000;", "pid /w/s/srs.pid;",
            "run_dir /w/s/run;", "daemon off;", "srs_log_level warn;", "vhost __defaultVhost__ {", "}",
        ])
        self.assertNotIn("hls", text)

    def test_srs6(self):
        text = bench.srs6_conf(23456, Path("/w/srs6-500"), 65536)
        for line in ["listen 127.0.0.1:23456;", "max_connections 20000;", "daemon off;", "srs_log_tank file;",
                     "srs_log_file /w/srs6-500/srs.log;", "srs_log_level warn;", "pid /w/srs6-500/srs.pid;",
                     "chunk_size 60000;", "gop_cache on;", "queue_length 30;", "mw_latency 350;",
                     "vhost __defaultVhost__ {"]:
            self.assertIn(line, text.splitlines() + [s.strip() for s in text.splitlines()])
        # HTTP off, and nothing that would turn on HLS or HTTP-FLV.
        self.assertIn("http_api {\n    enabled off;\n}", text)
        self.assertIn("http_server {\n    enabled off;\n}", text)
        for word in ("hls", "http_remux", "ff_log_dir"):
            self.assertNotIn(word, text)
        self.assertEqual(text.count("{"), text.count("}"))

    def test_edges(self):
        # nginx-rtmp: the origin's `live` application, pulled on demand.
        text = bench.nginx_conf("/m.so", 23457, Path("/w/e0"), 20000, pull=23456)
        self.assertIn("        application live {\n            live on;\n"
                      "            pull rtmp://127.0.0.1:23456/live;\n        }\n", text)
        self.assertEqual(text.replace("\n            pull rtmp://127.0.0.1:23456/live;", ""),
                         bench.nginx_conf("/m.so", 23457, Path("/w/e0"), 20000))
        # srs-rs: SRS 6's cluster syntax, default workers.
        self.assertEqual(bench.ours_conf(23457, Path("/w/e0"), None, origin=23456).splitlines()[-6:], [
            "vhost __defaultVhost__ {", "    cluster {", "        mode remote;", "        origin 127.0.0.1:23456;",
            "    }", "}"])
        self.assertEqual(bench.cluster_lines(None), [])
        # SRS 6: the same block in the vhost; the HTTP API only where asked (the origin).
        edge = bench.srs6_conf(23457, Path("/w/e0"), 65536, origin=23456)
        self.assertIn("vhost __defaultVhost__ {\n    cluster {\n        mode remote;\n"
                      "        origin 127.0.0.1:23456;\n    }\n    play {", edge)
        self.assertIn("http_api {\n    enabled off;\n}", edge)
        origin = bench.srs6_conf(23456, Path("/w/o"), 65536, api_port=23458)
        self.assertIn("http_api {\n    enabled on;\n    listen 127.0.0.1:23458;\n}", origin)
        self.assertNotIn("cluster", origin)
        self.assertEqual(bench.srs6_conf(1, Path("/w"), 65536, origin=None, api_port=None),
                         bench.srs6_conf(1, Path("/w"), 65536))
        for text in (edge, origin):
            self.assertEqual(text.count("{"), text.count("}"))

    def test_srs6_max_connections_fits_the_open_files_limit(self):
        # SRS 6 refused max_connections 20000 and 19872 with 20000 open files.
        self.assertEqual(bench.srs6_max_connections(20000), 19871)
        self.assertEqual(bench.srs6_max_connections(65536), 20000)
        self.assertEqual(bench.srs6_max_connections(100), 1)
        self.assertIn("max_connections 19871;", bench.srs6_conf(1, Path("/w"), 20000))


STAT = "1234 (srs-master) S 1 1234 1234 0 -1 4194560 900 0 0 0 150 75 0 0 20 0 3 0 100 0 0\n"
ODD_STAT = "77 (a) b (c) R 1234 77 77 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 5 0 0\n"


class ProcTest(unittest.TestCase):
    def test_stat(self):
        self.assertEqual(bench.parse_stat(STAT), (1234, 1, 150, 75))
        # A command name with spaces and parentheses.
        self.assertEqual(bench.parse_stat(ODD_STAT), (77, 1234, 7, 8))

    def test_descendants(self):
        parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
        self.assertEqual(bench.descendants(10, parents), [10, 11, 12, 13])
        self.assertEqual(bench.descendants(13, parents), [13])
        self.assertEqual(bench.descendants(99, parents), [])

    def test_smaps_rollup(self):
        text = """55d0-7ffe ---p 00000000 00:00 0                          [rollup]
Rss:                6632 kB
Pss:                2278 kB
Pss_Anon:            116 kB
Pss_Shmem:          1000 kB
Shared_Clean:       1528 kB
"""
        m = bench.parse_smaps_rollup(text)
        self.assertEqual((m["Rss"], m["Pss"], m["Pss_Shmem"]), (6632, 2278, 1000))
        # smaps (the fallback) has the fields once per mapping: summed.
        self.assertEqual(bench.parse_smaps_rollup("Pss: 4 kB\nRss: 8 kB\nPss: 6 kB\n")["Pss"], 10)
        meminfo = bench.parse_meminfo("MemTotal:       24683520 kB\nMemAvailable:   20000000 kB\nHugePages_Total: 0\n")
        self.assertEqual(meminfo, {"MemTotal": 24683520, "MemAvailable": 20000000})

    def test_core_times_and_busy_shares(self):
        a = bench.parse_core_times("cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\n"
                                   "cpu1 5 0 5 40 0 0 0 0 0 0\nintr 1 2 3\n")
        self.assertEqual(a, {"cpu0": (50, 40), "cpu1": (50, 40)})
        # cpu0: 100 ticks, 3 idle + 0 iowait -> 97 %; cpu1: 100 ticks, 50 idle + 10 iowait -> 40 %.
        b = bench.parse_core_times("cpu0 65 0 35 43 0 7 0 0 0 0\ncpu1 30 0 20 90 10 0 0 0 0 0\n")
        busy = bench.core_busy(a, b)
        self.assertEqual(busy, {"cpu0": 97, "cpu1": 40})
        self.assertEqual(bench.format_core_busy(busy), "cpu0=97% cpu1=40%")
        self.assertEqual(bench.parse_busy("cpu0=97% cpu1=40%"), busy)
        self.assertEqual(bench.parse_busy(None), {})
        self.assertEqual(bench.all_busy(a, b), 68)  # 137 busy of 200: 68.5, rounded to even like printf
        self.assertEqual(bench.max_busy([1], busy), 40)
        self.assertEqual(bench.max_busy([0, 1], busy), 97)
        self.assertEqual(bench.cores_cpu_s([0], a, b, 100), 0.97)
        self.assertEqual(bench.all_busy(a, a), 0)

    def test_tcp_tables(self):
        tcp = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:5BA0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 66492 1
   1: 0100007F:5BA0 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 66493 1
   2: 0100007F:4E20 0100007F:5BA0 06 00000000:00000000 00:00000000 00000000     0        0 0 1
"""
        tcp6 = """  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A
"""
        self.assertEqual(bench.tcp_ports(tcp), [(23456, "0A"), (23456, "01"), (20000, "06")])
        self.assertTrue(bench.port_listening(23456, [tcp, tcp6]))
        self.assertTrue(bench.port_listening(8080, [tcp, tcp6]))
        self.assertFalse(bench.port_listening(20000, [tcp, tcp6]))
        self.assertTrue(bench.port_in_use(20000, [tcp, tcp6]))
        self.assertFalse(bench.port_in_use(20001, [tcp, tcp6]))
        # Accepted connections: the server's side only (the listener and the closing one are not).
        self.assertEqual(bench.established(23456, [tcp, tcp6]), 1)
        self.assertEqual(bench.established(50000, [tcp, tcp6]), 0)

    def test_shm_in_maps(self):
        maps = """7f00-7f10 rw-s 00000000 00:1a 4242 /dev/shm/srs-rs-00ab/srs-ring-1-__defaultVhost___live_s0
7f10-7f20 rw-s 00000000 00:1a 4243 /dev/shm/srs-rs-00ab/srs-ring-2 (deleted)
7f20-7f30 rw-s 00000000 00:01 99 /dev/zero (deleted)
7f30-7f40 r-xp 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/libc.so.6
7f40-7f50 rw-p 00000000 00:00 0
"""
        m = bench.shm_maps(maps)
        self.assertEqual(sorted(m), [4242, 4243])
        self.assertEqual(bench.shm_root(m[4242]), "/dev/shm/srs-rs-00ab")
        self.assertEqual(bench.shm_root(m[4243]), "/dev/shm/srs-rs-00ab")
        self.assertEqual(bench.shm_root("/dev/shm/sem.x"), "/dev/shm/sem.x")

    def test_low_memory(self):
        gib = 1 << 20
        self.assertFalse(bench.low_memory({"MemTotal": 24 * gib, "MemAvailable": 20 * gib}))
        self.assertTrue(bench.low_memory({"MemTotal": 24 * gib, "MemAvailable": 2 * gib}))  # below 10 %
        self.assertTrue(bench.low_memory({"MemTotal": 4 * gib, "MemAvailable": gib - 1}))  # below 1 GiB


class SrsBenchOutputTest(unittest.TestCase):
    def test_play_tick(self):
        line = "t=12s connected=1000 failed=0 disconnects=0 kbps_total=512000 kbps_player min=480 median=512 max=530"
        self.assertEqual(bench.parse_play_tick(line), (12, 512000, 1000))
        self.assertIsNone(bench.parse_play_tick('{"mode":"play"}'))
        self.assertIsNone(bench.parse_play_tick("t=3s publishing=1 failed=0 disconnects=0 kbps_total=520"))

    def test_publish_tick(self):
        self.assertEqual(bench.parse_publish_tick("t=3s publishing=998 failed=2 disconnects=0 kbps_total=520"),
                         (3, 998, 2, 0))
        self.assertIsNone(bench.parse_publish_tick("t=3s connected=1 failed=0"))

    def test_file_kbps_and_last_json(self):
        err = ("srs-bench: /tmp/in.flv: 683 tags, 30105 ms per pass, 504 kbps\n"
               "srs-bench: publisher x failed: socket: Connection refused (os error 111)\n"
               "srs-bench: publish: 0 of 1 publishers published (1 failed, 0 still connecting, 0 disconnected later); "
               "publish start p50 -, p99 -, max -\n")
        self.assertEqual(bench.file_kbps_from(err), 504)
        self.assertIsNone(bench.file_kbps_from("nothing"))
        self.assertEqual(bench.last_json('t=1s x\n{"a":1}\n{"b":2}\n'), {"b": 2})
        self.assertIsNone(bench.last_json("t=1s x\n"))
        self.assertIsNone(bench.last_json("{broken\n"))

    def test_play_fields(self):
        summary = {"connected": 20, "failed": 0, "disconnects": 0, "below_90pct": 1, "judged": 20, "stream_kbps": 504,
                   "lag_source": "video", "first_frame_ms": {"p50": 40, "p99": 52, "max": 60},
                   "lag_ms": {"p50": None, "p99": None}}
        f = bench.play_fields(summary)
        self.assertEqual((f["connected"], f["below_90pct"], f["first_frame_p50"], f["first_frame_p99"], f["lag_p99"]),
                         (20, 1, 40, 52, None))
        self.assertIsNone(bench.play_fields({})["first_frame_p99"])


class MemoryPerStreamTest(unittest.TestCase):
    def test_arithmetic(self):
        idle = bench.MemSample(rss_kb=20000, pss_kb=8000, shm_kb=0, shm_unmapped_kb=0, processes=4)
        on = bench.MemSample(rss_kb=42000, pss_kb=20000, shm_kb=5600, shm_unmapped_kb=100, processes=4)
        per = bench.memory_per_stream(idle, on, 20)
        self.assertEqual(per, {
            "rss_shm_kb": 1380.0,  # (42000 + 5600 - 20000) / 20
            "pss_shm_kb": 880.0,  # (20000 + 5600 - 8000) / 20
            "pss_unmapped_shm_kb": 605.0,  # (20000 + 100 - 8000) / 20
            "shm_kb": 280.0,
        })
        self.assertEqual(bench.memory_per_stream(idle, on, 3)["rss_shm_kb"], 9200.0)
        self.assertEqual(bench.memory_per_stream(idle, on, 7)["shm_kb"], 800.0)
        self.assertEqual(bench.memory_per_stream(idle, idle, 10)["pss_shm_kb"], 0.0)
        self.assertIsNone(bench.memory_per_stream(idle, on, 0)["rss_shm_kb"])

    def test_streams_fields_from_srs_bench(self):
        pub = {"mode": "publish", "streams": 20, "connected": 19, "failed": 1, "disconnects": 0, "published": 19,
               "publish_failed": 1, "still_connecting": 0, "publish_start_ms_p50": 44, "publish_start_ms_p99": 46,
               "publish_start_ms_max": 50, "errors": {"failed: timeout: tcp connect": 1}}
        play = {"connected": 38, "failed": 2, "below_90pct": 0, "first_frame_ms": {"p50": 40, "p99": 52}}
        f = bench.streams_fields(20, 40, bench.MemSample(100, 50, 0, 0, 4), bench.MemSample(2100, 1050, 400, 0, 4),
                                 pub, play)
        self.assertEqual((f["published"], f["publish_failed"], f["publish_start_p50"], f["publish_start_p99"],
                          f["publish_start_max"]), (19, 1, 44, 46, 50))
        self.assertEqual((f["players"], f["players_connected"], f["players_failed"]), (40, 38, 2))
        self.assertEqual((f["mem_rss_per_stream_kb"], f["mem_pss_per_stream_kb"], f["mem_unique_per_stream_kb"]),
                         (120.0, 70.0, 50.0))
        self.assertEqual(f["publish_errors"], {"failed: timeout: tcp connect": 1})
        # An older srs-bench (REV) without the publish fields: counts from connected/failed, latencies missing.
        f = bench.streams_fields(20, 40, bench.MemSample(), bench.MemSample(), {"connected": 20, "failed": 0}, play)
        self.assertEqual((f["published"], f["publish_failed"], f["publish_start_p99"]), (20, 0, None))


class FormattingTest(unittest.TestCase):
    def test_ratio(self):
        self.assertEqual(bench.ratio(1, 4), "0.25")
        self.assertEqual(bench.ratio(0.516, 0.675), "0.76")
        self.assertEqual(bench.ratio(3, 0), "-")
        self.assertEqual(bench.ratio(None, 2), "-")
        self.assertEqual(bench.ratio(2, None), "-")
        self.assertEqual(bench.ratio(True, 2), "-")
        self.assertEqual(bench.ratio("1", 2), "-")
        self.assertEqual(bench.ratio_value(1, 8), 0.12)
        self.assertIsNone(bench.ratio_value(1, 0))

    def test_cells(self):
        self.assertEqual(bench.cell("cpu_per_gbit", 0.5), "0.500")
        self.assertEqual(bench.cell("payload_mbps", 25.94), "25.9")
        self.assertEqual(bench.cell("server_cores", 1), "1.00")
        self.assertEqual(bench.cell("connected", 50), "50")
        self.assertEqual(bench.cell("first_frame_p99", None), "")
        self.assertEqual(bench.cell("lag_source", "video"), "video")

    def test_targets(self):
        self.assertEqual(bench.target_le("0.20", 0.25, "x"), "met (0.20x)")
        self.assertEqual(bench.target_le("0.25", 0.25, "x"), "met (0.25x)")
        self.assertEqual(bench.target_le("0.76", 0.25, "x"), "NOT met (0.76x)")
        self.assertEqual(bench.target_le("-", 0.25, "x"), "not measured")
        self.assertEqual(bench.target_le("-3", 50, " ms"), "met (-3 ms)")
        self.assertEqual(bench.target_lt(47, 150, " ms"), "met (47 ms)")
        self.assertEqual(bench.target_lt(150, 150, " ms"), "NOT met (150 ms)")
        self.assertEqual(bench.target_lt(None, 150, " ms"), "not measured")

    def test_row_layout(self):
        row = bench.table_row("players connected", ["50", "", "50"], ["", ""], ["49"])
        self.assertEqual(row, f"{'players connected':<38} {'50':>14} {'':>14} {'50':>14} {'':>11} {'':>11} {'49':>14}")
        row = bench.table_row("lag p99, ms", ["1", "326"], ["326.00"], [], "ours < 150 ms")
        self.assertEqual(row, f"{'lag p99, ms':<38} {'1':>14} {'326':>14} {'326.00':>11}   ours < 150 ms")
        self.assertEqual(bench.table_row("x", ["", ""], [""]), "x")

    def test_comparison_table(self):
        c = types.SimpleNamespace(r={
            ("nginx", 50): {"cpu_per_gbit": 0.675, "connected": 50},
            ("srs6", 50): {"cpu_per_gbit": 0.33, "connected": 50},
            ("ours1", 50): {"cpu_per_gbit": 0.165, "connected": 50},
            ("ours2", 50): {"cpu_per_gbit": 0.2, "connected": 49},
        })
        rows = [("server CPU-s per Gbit of payload", "cpu_per_gbit", True, "ours <= 0.25x nginx"),
                ("players connected at {n}", "connected", False, "")]
        lines = bench.comparison_table(c, 50, ["nginx", "srs6"], "ours1", ["ours2"], rows, {"n": 50})
        head = lines[0].split()
        self.assertEqual(head, ["nginx-rtmp", "SRS", "6", "srs-rs", "ours/nginx", "ours/srs6", "srs-rs", "w2*", "target"])
        self.assertEqual(lines[1].split()[-10:],
                         ["0.675", "0.330", "0.165", "0.24", "0.50", "0.200", "ours", "<=", "0.25x", "nginx"])
        self.assertTrue(lines[2].startswith("players connected at 50 "))
        self.assertEqual(lines[2].split()[-4:], ["50", "50", "50", "49"])
        # Every column lines up with the header.
        self.assertEqual(len(lines[1]) - len("   ours <= 0.25x nginx"), len(lines[0]) - len("   target"))


class TargetsTest(unittest.TestCase):
    PIN = bench.pinning(2, None, None)

    def run_of(self, **kw):
        base = {"ok": True, "failed": 0, "below_90pct": 0, "load_cores": 0.3, "core_busy": "cpu0=60% cpu1=40%"}
        base.update(kw)
        return base

    def test_met_and_not_met(self):
        runs = {
            "nginx": self.run_of(cpu_per_gbit=2.0, pss_per_player_kb=40.0),
            "srs6": self.run_of(cpu_per_gbit=0.4, pss_per_player_kb=58.0),
            "ours1": self.run_of(cpu_per_gbit=0.4, pss_per_player_kb=25.0, first_frame_p99=95),
        }
        t, notes = bench.fanout_targets(runs, self.PIN, 2)
        self.assertEqual(t["cpu"], "met (0.20x)")
        self.assertEqual(t["mem"], "NOT met (0.62x)")
        self.assertEqual((t["cpu_srs6"], t["mem_srs6"]), ("1.00", "0.43"))
        self.assertEqual(t["first_frame"], "met (95 ms)")
        self.assertEqual(t["bitrate"], "met (0 below)")
        self.assertEqual(notes, [])
        self.assertNotIn("load", t)

    def test_starved_players_overloaded_baselines_and_a_saturated_load_tool(self):
        runs = {
            "nginx": self.run_of(failed=12),
            "srs6": self.run_of(below_90pct=3),
            "ours1": self.run_of(below_90pct=5, core_busy="cpu0=97% cpu1=50%"),
            "ours2": self.run_of(load_cores=0.95, core_busy="cpu0=99% cpu1=99%"),
        }
        t, notes = bench.fanout_targets(runs, self.PIN, 2)
        self.assertEqual(t["bitrate"], "5 below, server core 97% busy: CPU-bound")
        self.assertEqual(t["nginx"], "nginx-rtmp overloaded: 12 failed, 0 below 90 %")
        self.assertEqual(t["srs6"], "SRS 6 overloaded: 0 failed, 3 below 90 %")
        self.assertEqual(t["load"], "srs-bench saturated in the srs-rs w2* run")
        self.assertEqual(t["cpu"], "not measured")
        self.assertEqual(sum(line.startswith("  NOTE:") for line in notes), 2)
        self.assertTrue(any("srs-bench used 0.95 of its 1 core(s)" in line for line in notes))
        runs["ours1"]["core_busy"] = "cpu0=50% cpu1=99%"
        t, notes = bench.fanout_targets(runs, self.PIN, 2)
        self.assertEqual(t["bitrate"], "NOT met (5 below, server core only 50% busy)")
        # The load core was full although srs-bench was not: crowded.
        self.assertTrue(any("load core(s) were 99% busy in the srs-rs run" in line for line in notes))

    def test_nothing_measured(self):
        t, notes = bench.fanout_targets({"nginx": {"ok": False}, "ours1": {"ok": False}}, self.PIN, 2)
        self.assertEqual((t["cpu"], t["mem"], t["first_frame"], t["bitrate"]),
                         ("not measured",) * 4)
        self.assertEqual((t["cpu_srs6"], notes), ("-", []))
        self.assertIsNone(bench.ratio_value_str(t["cpu_srs6"]))
        self.assertEqual(bench.ratio_value_str("0.43"), 0.43)


class EdgeTest(unittest.TestCase):
    def test_spread(self):
        self.assertEqual(bench.spread(300, 3), [100, 100, 100])
        self.assertEqual(bench.spread(151, 3), [51, 50, 50])
        self.assertEqual(bench.spread(152, 3), [51, 51, 50])
        self.assertEqual(sum(bench.spread(901, 3)), 901)

    def test_origin_clients(self):
        stream = "__defaultVhost__/live/livestream"
        doc = {"clients": [
            {"type": "publish", "stream": stream, "peer": "127.0.0.1:1"},
            *({"type": "play", "stream": stream, "peer": f"127.0.0.1:{p}"} for p in range(2, 25)),
            {"type": "play", "stream": "__defaultVhost__/live/other"},
            {"type": "connecting", "stream": None},
        ]}
        self.assertEqual(bench.ours_play_clients(doc), 23)
        self.assertEqual(bench.ours_play_clients({"clients": []}), 0)
        self.assertIsNone(bench.ours_play_clients(None))
        self.assertIsNone(bench.ours_play_clients({"ok": False}))
        api = {"code": 0, "clients": [
            {"url": "/live/livestream", "type": "haivision-publish", "publish": True},
            *({"url": "/live/livestream", "type": "rtmp-play", "publish": False} for _ in range(23)),
            {"url": "/live/other", "type": "rtmp-play", "publish": False},
        ]}
        self.assertEqual(bench.srs6_play_clients(api), 23)
        self.assertIsNone(bench.srs6_play_clients({"code": 1000}))
        self.assertIsNone(bench.srs6_play_clients(None))
        # Nothing listens on port 1: no answer, no exception.
        self.assertIsNone(bench.http_json("http://127.0.0.1:1/api/v1/clients/"))

    @staticmethod
    def summary(players, p50, p99, connected=None, ff=40, errors=None):
        return {"players": players, "connected": players if connected is None else connected, "failed": 0,
                "disconnects": 0, "below_90pct": 0, "first_frame_ms": {"p50": 1, "p99": ff},
                "lag_ms": {"p50": p50, "p99": p99}, "errors": errors or {}}

    def test_edge_fields(self):
        s = self.summary
        f = bench.edge_fields(s(20, 160, 340), [s(100, 300, 610, ff=44), s(100, 310, 640), s(100, 290, 600, 99)],
                              [100, 100, 100])
        self.assertEqual((f["origin_players"], f["origin_connected"], f["origin_lag_p50"], f["origin_lag_p99"]),
                         (20, 20, 160, 340))
        # Counts summed, latencies of the worst edge.
        self.assertEqual((f["edge_players"], f["edge_connected"], f["edge_failed"], f["edge_below_90pct"]),
                         (300, 299, 0, 0))
        self.assertEqual((f["edge_lag_p50"], f["edge_lag_p99"], f["edge_first_frame_p99"]), (310, 640, 44))
        self.assertEqual((f["tier_p50"], f["tier_p99"]), (150, 300))
        self.assertEqual(f["edges"][2], {"players": 100, "connected": 99, "failed": 0, "below_90pct": 0,
                                         "first_frame_p99": 40, "lag_p50": 290, "lag_p99": 600})
        # nginx-rtmp relays at once: a tier may even look faster than the origin.
        f = bench.edge_fields(s(20, 1, 3), [s(50, 0, 1)] * 3, [50] * 3)
        self.assertEqual((f["tier_p50"], f["tier_p99"]), (-1, -2))
        # No lag measured on the origin: nothing to subtract.
        f = bench.edge_fields(s(20, None, None), [s(50, 0, 1)] * 3, [50] * 3)
        self.assertEqual((f["edge_lag_p99"], f["tier_p50"], f["tier_p99"]), (1, None, None))
        self.assertIsNone(bench.edge_fields(s(20, 1, 1), [], [])["edge_connected"])

    def test_helpers(self):
        self.assertEqual(bench.minus(5, 7), -2)
        self.assertIsNone(bench.minus(None, 7))
        self.assertIsNone(bench.minus(5, None))
        self.assertEqual(bench.worst([3, None, 9, 2]), 9)
        self.assertIsNone(bench.worst([None, None]))
        self.assertIsNone(bench.worst([]))

    def test_tier_targets(self):
        t = bench.edge_targets({"ours": {"tier_p99": 12}, "srs6": {"tier_p99": 290}, "nginx": {"tier_p99": -2},
                                "other": {"ok": False}})
        self.assertEqual(t, {"ours": "met (12 ms)", "srs6": "NOT met (290 ms)", "nginx": "met (-2 ms)",
                             "other": "not measured"})
        self.assertEqual(bench.edge_targets({"ours": {"tier_p99": 50}})["ours"], "met (50 ms)")
        self.assertEqual(bench.edge_targets({"ours": {"tier_p99": 51}})["ours"], "NOT met (51 ms)")

    def test_edge_table(self):
        c = types.SimpleNamespace(r={
            ("nginx", 300): {"upstreams": 3, "upstreams_tcp": 3, "origin_cpu_s": 0.2, "edges_cpu_s": 0.9,
                             "origin_lag_p99": 2, "edge_lag_p99": 3, "tier_p99": 1},
            ("srs6", 300): {"upstreams": 3, "upstreams_tcp": 3, "origin_cpu_s": 0.1, "edges_cpu_s": 0.6,
                            "origin_lag_p99": 340, "edge_lag_p99": 630, "tier_p99": 290},
            ("ours", 300): {"upstreams": 3, "upstreams_tcp": 3, "origin_cpu_s": 0.05, "edges_cpu_s": 0.3,
                            "origin_lag_p99": 330, "edge_lag_p99": 360, "tier_p99": 30},
        })
        lines = bench.comparison_table(c, 300, ["nginx", "srs6"], "ours", [], bench.EDGE_ROWS,
                                       {"n": 300, "o": 20, "kbps": 504})
        self.assertEqual(lines[0].split(), ["nginx-rtmp", "SRS", "6", "srs-rs", "ours/nginx", "ours/srs6", "target"])
        row = {line[:bench.LABEL_W].strip(): line[bench.LABEL_W:].split() for line in lines[1:]}
        self.assertEqual(row["origin upstreams (edges' plays)"], ["3", "3", "3", "3:", "one", "per", "edge"])
        self.assertEqual(row["origin CPU, CPU-s in the window"], ["0.200", "0.100", "0.050", "0.25", "0.50"])
        self.assertEqual(row["edges CPU, all 3, CPU-s in the window"], ["0.900", "0.600", "0.300", "0.33", "0.50"])
        self.assertEqual(row["tier added, lag p99 edge - origin, ms"], ["1", "290", "30", "<=", "50", "ms"])
        self.assertIn("edge players connected (of 300)", row)
        self.assertIn("origin players connected (of 20)", row)
        self.assertTrue(all(len(label) <= bench.LABEL_W for label, *_ in bench.EDGE_ROWS))


class ProcessTest(unittest.TestCase):
    @unittest.skipUnless(os.path.isdir("/dev/shm"), "needs /dev/shm")
    def test_shm_use_of_this_process(self):
        d = tempfile.mkdtemp(prefix="srs-bench-test-", dir="/dev/shm")
        try:
            mapped, other = Path(d, "ring"), Path(d, "sub", "unmapped")
            other.parent.mkdir()
            mapped.write_bytes(b"x" * 8192)
            other.write_bytes(b"y" * 4096)
            Path(d, "sparse").write_bytes(b"")
            os.truncate(Path(d, "sparse"), 1 << 20)  # 1 MiB long, nothing allocated
            with open(mapped, "r+b") as f, mmap.mmap(f.fileno(), 8192) as m:
                self.assertEqual(m[0], ord("x"))
                use = bench.shm_use([os.getpid()])
            self.assertEqual(use.roots, [d])
            self.assertEqual((use.kb, use.unmapped_kb, use.files), (12, 4, 3))
            # Not mapped any more: this process holds nothing there.
            self.assertEqual(bench.shm_use([os.getpid()]).kb, 0)
        finally:
            shutil.rmtree(d)

    def test_stop_takes_the_whole_tree(self):
        procs = bench.Procs()
        p = procs.start(["sh", "-c", "sleep 30 & echo $!; sleep 30"], stdout=subprocess.PIPE)
        child = int(p.stdout.readline())
        self.assertIn(child, bench.tree_pids(p.pid))
        t0 = time.monotonic()
        procs.stop(p)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIsNotNone(p.poll())
        self.assertEqual(procs.started, [])
        for _ in range(50):
            if not bench.alive(child) or "Z" in bench.read(f"/proc/{child}/stat").split(")")[-1][:3]:
                break
            time.sleep(0.05)
        else:
            self.fail("the background child outlived stop()")
        p.stdout.close()

    def test_stop_with_sigint_lets_a_tool_finish(self):
        procs = bench.Procs()
        p = procs.start([sys.executable, "-c", "import signal,sys,time\n"
                         "signal.signal(signal.SIGINT, lambda *a: (print('summary'), sys.exit(0)))\n"
                         "print('ready', flush=True)\ntime.sleep(30)"], stdout=subprocess.PIPE)
        self.assertEqual(p.stdout.readline().strip(), "ready")
        procs.stop(p, signal.SIGINT, grace=10)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout.read().strip(), "summary")
        p.stdout.close()


if __name__ == "__main__":
    unittest.main()
