/* Publish an FLV file to an RTMP server in real time, as SRS's srs_ingest_flv does.
 *   publish_flv FILE.flv rtmp://host/app/stream
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "srs_librtmp.h"

int main(int argc, char** argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE.flv rtmp://host/app/stream\n", argv[0]);
        return 2;
    }
    srs_flv_t flv = srs_flv_open_read(argv[1]);
    if (flv == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    char header[9];
    int ret = srs_flv_read_header(flv, header);
    if (ret != 0) {
        fprintf(stderr, "not an FLV file: %d\n", ret);
        return 1;
    }
    srs_rtmp_t rtmp = srs_rtmp_create(argv[2]);
    if ((ret = srs_rtmp_handshake(rtmp)) != 0 || (ret = srs_rtmp_connect_app(rtmp)) != 0
        || (ret = srs_rtmp_publish_stream(rtmp)) != 0) {
        fprintf(stderr, "publish %s failed: %d\n", argv[2], ret);
        srs_rtmp_destroy(rtmp);
        srs_flv_close(flv);
        return 1;
    }
    int64_t start = srs_utils_time_ms();
    int packets = 0;
    for (;;) {
        char type;
        int32_t size;
        u_int32_t timestamp;
        if ((ret = srs_flv_read_tag_header(flv, &type, &size, &timestamp)) != 0) {
            if (srs_flv_is_eof(ret)) {
                ret = 0;
            }
            break;
        }
        char* data = (char*)malloc(size > 0 ? size : 1);
        if ((ret = srs_flv_read_tag_data(flv, data, size)) != 0) {
            free(data);
            break;
        }
        /* Real time: wait until the tag's time. */
        int64_t due = start + timestamp;
        int64_t now = srs_utils_time_ms();
        if (due > now) {
            usleep((useconds_t)((due - now) * 1000));
        }
        /* write_packet takes the buffer and frees it. */
        if ((ret = srs_rtmp_write_packet(rtmp, type, timestamp, data, size)) != 0) {
            fprintf(stderr, "write failed: %d\n", ret);
            break;
        }
        packets++;
    }
    printf("published %d packets, sent %lld bytes\n", packets, (long long)srs_utils_send_bytes(rtmp));
    srs_rtmp_destroy(rtmp);
    srs_flv_close(flv);
    return ret == 0 ? 0 : 1;
}
