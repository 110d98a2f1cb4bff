#!/usr/bin/env bash
# Install what the tests need on a Debian machine, idempotently: ffmpeg/ffprobe, rtmpdump,
# GStreamer (gst-launch-1.0 with rtmp2, flv, openh264, h264parse; its RTSP server for
# python3, the RTSP ingest test's camera), Chromium and Node.js for
# the browser test, and the browser test's npm packages. Only what is missing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "test dependencies: run as root, or install sudo" >&2; exit 1; }
    SUDO="sudo"
fi
packages=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || packages+=(ffmpeg)
command -v rtmpdump >/dev/null || packages+=(rtmpdump)
# systemd-analyze verifies the unit in etc/systemd.
command -v systemd-analyze >/dev/null || packages+=(systemd)
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
gst_ok() {
    command -v gst-launch-1.0 >/dev/null && command -v gst-inspect-1.0 >/dev/null || return 1
    for element in rtmp2sink rtmp2src flvmux flvdemux openh264enc openh264dec h264parse videotestsrc; do
        gst-inspect-1.0 "$element" >/dev/null 2>&1 || return 1
    done
}
gst_ok || packages+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
# The RTSP ingest test's camera: GStreamer's RTSP server from Debian's python3.
rtsp_ok() {
    /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer' >/dev/null 2>&1
}
rtsp_ok || packages+=(python3 python3-gi gir1.2-gst-rtsp-server-1.0)
if [ ${#packages[@]} -gt 0 ]; then
    echo "installing ${packages[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi
for tool in ffmpeg ffprobe rtmpdump node npm gst-launch-1.0 systemd-analyze; do
    command -v "$tool" >/dev/null || { echo "test dependencies: $tool still missing" >&2; exit 1; }
done
[ -x /usr/bin/chromium ] || { echo "test dependencies: /usr/bin/chromium still missing" >&2; exit 1; }
gst_ok || { echo "test dependencies: a GStreamer element is still missing (rtmp2, flv, openh264, h264parse)" >&2; exit 1; }
rtsp_ok || { echo "test dependencies: GStreamer's RTSP server for python3 is still missing (gir1.2-gst-rtsp-server-1.0)" >&2; exit 1; }
# playwright-core, as pinned in tests/browser/package-lock.json.
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund)
fi
