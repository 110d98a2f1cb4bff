#!/usr/bin/env bash
# Record one 6 s publish (H.264 with B-frames + AAC, ffmpeg's tee to both servers) to MP4 with
# srs-rs and with SRS 6 (../shared/peers/srs6, or $SRS6_DIR), and print what ffprobe finds in
# each file: codecs, frames decoded, duration, and whether decoding from a seek to 3 s works.
#   BUILD=0 scripts/dvr-compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
srs6="${SRS6_DIR:-$root/../shared/peers/srs6}/srs"
[ "${BUILD:-1}" = 0 ] || cargo build --release --bin srs-master
work=$(mktemp -d)
trap 'kill $ours $theirs 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/ours" "$work/srs6"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=320x240:rate=25 \
    -f lavfi -i sine=frequency=440:sample_rate=44100 -t 6 -c:v libx264 -preset veryfast \
    -bf 2 -g 50 -c:a aac -f flv "$work/in.flv"
p6=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/ours.conf" <<C
listen 0;
daemon off;
srs_log_tank console;
vhost __defaultVhost__ { dvr { enabled on; dvr_path $work/ours/[stream].mp4; } }
C
cat > "$work/srs6.conf" <<C
listen 127.0.0.1:$p6;
daemon off;
srs_log_tank file;
srs_log_file $work/srs6.log;
pid $work/srs6.pid;
http_api { enabled off; }
http_server { enabled off; }
vhost __defaultVhost__ { dvr { enabled on; dvr_plan session; dvr_path $work/srs6/[stream].mp4; } }
C
"$root/target/release/srs-master" -c "$work/ours.conf" > "$work/ours.log" 2>&1 & ours=$!
(cd "$work" && exec "$srs6" -c "$work/srs6.conf" > /dev/null 2>&1) & theirs=$!
sleep 2
port=$(grep -o '127.0.0.1:[0-9]*\|0.0.0.0:[0-9]*' "$work/ours.log" | head -1 | cut -d: -f2)
ffmpeg -hide_banner -loglevel error -re -i "$work/in.flv" -c copy -map 0:v -map 0:a -f tee \
    "[f=flv]rtmp://127.0.0.1:$port/live/rec|[f=flv]rtmp://127.0.0.1:$p6/live/rec"
sleep 3
kill $ours $theirs; wait $ours $theirs 2>/dev/null || true
for who in ours srs6; do
    f="$work/$who/rec.mp4"
    frames=$(ffprobe -v error -count_frames -show_entries stream=codec_name,nb_read_frames -of csv=p=0 "$f" | tr '\n' ' ')
    duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$f")
    seek=$(ffmpeg -v error -xerror -ss 3 -i "$f" -t 1 -f null - && echo ok || echo FAILED)
    echo "$who: bytes=$(stat -c %s "$f") frames=[$frames] duration=${duration}s seek_to_3s=$seek"
done
