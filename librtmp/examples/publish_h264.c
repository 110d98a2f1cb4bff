/* Publish a raw H.264 Annex B file (ffmpeg -f h264) at FPS frames a second with
 * srs_h264_write_raw_frames: the library builds the sequence header from the SPS and PPS.
 *   publish_h264 FILE.h264 rtmp://host/app/stream FPS
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "srs_librtmp.h"

/* The next NAL unit with its start code: [*start, *end). */
static int next_nal(char* p, int size, int from, int* start, int* end)
{
    int nb;
    int i = from;
    while (i < size && !srs_h264_startswith_annexb(p + i, size - i, &nb)) {
        i++;
    }
    if (i >= size) {
        return 0;
    }
    *start = i;
    i += nb;
    while (i < size && !srs_h264_startswith_annexb(p + i, size - i, &nb)) {
        i++;
    }
    *end = i;
    return 1;
}

int main(int argc, char** argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s FILE.h264 rtmp://host/app/stream FPS\n", argv[0]);
        return 2;
    }
    FILE* f = fopen(argv[1], "rb");
    if (f == NULL) {
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* all = (char*)malloc(size);
    if (fread(all, 1, size, f) != (size_t)size) {
        return 1;
    }
    fclose(f);
    int fps = atoi(argv[3]);
    srs_rtmp_t rtmp = srs_rtmp_create(argv[2]);
    int ret;
    if ((ret = srs_rtmp_handshake(rtmp)) != 0 || (ret = srs_rtmp_connect_app(rtmp)) != 0
        || (ret = srs_rtmp_publish_stream(rtmp)) != 0) {
        fprintf(stderr, "publish failed: %d\n", ret);
        return 1;
    }
    u_int32_t dts = 0;
    int frames = 0, start = 0, end = 0, from = 0;
    while (next_nal(all, (int)size, from, &start, &end)) {
        from = end;
        int nb;
        srs_h264_startswith_annexb(all + start, end - start, &nb);
        int type = all[start + nb] & 0x1f;
        ret = srs_h264_write_raw_frames(rtmp, all + start, end - start, dts, dts);
        if (ret != 0 && !srs_h264_is_dvbsp_error(ret) && !srs_h264_is_duplicated_sps_error(ret)
            && !srs_h264_is_duplicated_pps_error(ret)) {
            fprintf(stderr, "write failed: %d\n", ret);
            return 1;
        }
        /* A slice ends a frame (one slice per frame, as ffmpeg's x264 writes it). */
        if (type == 1 || type == 5) {
            frames++;
            dts += 1000 / fps;
            usleep(1000000 / fps);
        }
    }
    printf("published %d frames\n", frames);
    srs_rtmp_destroy(rtmp);
    free(all);
    return 0;
}
