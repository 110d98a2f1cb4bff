/* Read an MP4 file's samples with the srs_mp4_* API, as SRS 3's srs_ingest_mp4 does, and
 * publish them to an RTMP server (as fast as the server takes them), or write them to an
 * FLV file.
 *   ingest_mp4 FILE.mp4 rtmp://host/app/stream
 *   ingest_mp4 FILE.mp4 OUT.flv
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "srs_librtmp.h"

int main(int argc, char** argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE.mp4 rtmp://host/app/stream|OUT.flv\n", argv[0]);
        return 2;
    }
    srs_mp4_t mp4 = srs_mp4_open_read(argv[1]);
    if (mp4 == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    int ret = srs_mp4_init_demuxer(mp4);
    if (ret != 0) {
        fprintf(stderr, "not an MP4 we can read: %d\n", ret);
        srs_mp4_close(mp4);
        return 1;
    }
    srs_rtmp_t rtmp = NULL;
    srs_flv_t flv = NULL;
    if (strncmp(argv[2], "rtmp://", 7) == 0) {
        rtmp = srs_rtmp_create(argv[2]);
        if ((ret = srs_rtmp_handshake(rtmp)) != 0 || (ret = srs_rtmp_connect_app(rtmp)) != 0
            || (ret = srs_rtmp_publish_stream(rtmp)) != 0) {
            fprintf(stderr, "publish %s failed: %d\n", argv[2], ret);
            srs_rtmp_destroy(rtmp);
            srs_mp4_close(mp4);
            return 1;
        }
    } else {
        char header[9] = {'F', 'L', 'V', 1, 5, 0, 0, 0, 9};
        flv = srs_flv_open_write(argv[2]);
        if (flv == NULL || (ret = srs_flv_write_header(flv, header)) != 0) {
            fprintf(stderr, "cannot write %s\n", argv[2]);
            srs_mp4_close(mp4);
            return 1;
        }
    }
    int video = 0, audio = 0, headers = 0;
    for (;;) {
        srs_mp4_sample_t sample;
        if ((ret = srs_mp4_read_sample(mp4, &sample)) != 0) {
            if (srs_mp4_is_eof(ret)) {
                ret = 0;
            }
            break;
        }
        int32_t size = srs_mp4_sizeof(mp4, &sample);
        char* data = (char*)malloc(size);
        if (data == NULL) {
            srs_mp4_free_sample(&sample);
            ret = 1;
            break;
        }
        char type;
        uint32_t time;
        ret = srs_mp4_to_flv_tag(mp4, &sample, &type, &time, data, size);
        int header = sample.frame_trait == 0;
        srs_mp4_free_sample(&sample);
        if (ret != 0) {
            free(data);
            break;
        }
        if (header) {
            headers++;
        } else if (type == SRS_RTMP_TYPE_VIDEO) {
            video++;
        } else {
            audio++;
        }
        if (rtmp != NULL) {
            /* write_packet takes the buffer and frees it. */
            ret = srs_rtmp_write_packet(rtmp, type, time, data, size);
        } else {
            ret = srs_flv_write_tag(flv, type, (int32_t)time, data, size);
            free(data);
        }
        if (ret != 0) {
            fprintf(stderr, "write failed: %d\n", ret);
            break;
        }
    }
    printf("headers=%d video=%d audio=%d\n", headers, video, audio);
    if (rtmp != NULL) {
        srs_rtmp_destroy(rtmp);
    }
    if (flv != NULL) {
        srs_flv_close(flv);
    }
    srs_mp4_close(mp4);
    return ret == 0 ? 0 : 1;
}
