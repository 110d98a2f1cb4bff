#!/usr/bin/python3
"""A test RTSP server (GStreamer's gst-rtsp-server): H.264 test video, 320x240 at 25 fps,
at rtsp://127.0.0.1:PORT/test, for the RTSP ingest test (tests/tests/jobs.rs).

    python3 tests/rtsp/serve.py PORT

Prints "ready" once it listens. Needs python3-gi and gir1.2-gst-rtsp-server-1.0 with
GStreamer's openh264 (scripts/install-test-deps.sh installs them).
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: serve.py PORT")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(sys.argv[1])
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 "
        "! openh264enc gop-size=25 ! h264parse config-interval=-1 "
        "! rtph264pay name=pay0 pt=96 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{sys.argv[1]}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
