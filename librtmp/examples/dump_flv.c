/* Play an RTMP stream and write it to an FLV file, as SRS's srs_rtmp_dump does.
 *   dump_flv rtmp://host/app/stream OUT.flv PACKETS
 */
#include <stdio.h>
#include <stdlib.h>
#include "srs_librtmp.h"

int main(int argc, char** argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s rtmp://host/app/stream OUT.flv PACKETS\n", argv[0]);
        return 2;
    }
    int want = atoi(argv[3]);
    srs_rtmp_t rtmp = srs_rtmp_create(argv[1]);
    srs_rtmp_set_timeout(rtmp, 10000, 10000);
    int ret;
    if ((ret = srs_rtmp_handshake(rtmp)) != 0 || (ret = srs_rtmp_connect_app(rtmp)) != 0) {
        fprintf(stderr, "connect %s failed: %d\n", argv[1], ret);
        srs_rtmp_destroy(rtmp);
        return 1;
    }
    char* ip = NULL;
    int pid = 0, cid = 0;
    char* sig = NULL;
    int major = 0, minor = 0, revision = 0, build = 0;
    srs_rtmp_get_server_id(rtmp, &ip, &pid, &cid);
    srs_rtmp_get_server_sig(rtmp, &sig);
    srs_rtmp_get_server_version(rtmp, &major, &minor, &revision, &build);
    printf("server sig=%s pid=%d version=%d.%d.%d\n", sig, pid, major, minor, revision);
    if ((ret = srs_rtmp_play_stream(rtmp)) != 0) {
        fprintf(stderr, "play failed: %d\n", ret);
        srs_rtmp_destroy(rtmp);
        return 1;
    }
    srs_flv_t flv = srs_flv_open_write(argv[2]);
    char header[9] = {'F', 'L', 'V', 0x01, 0x05, 0x00, 0x00, 0x00, 0x09};
    if (flv == NULL || srs_flv_write_header(flv, header) != 0) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        return 1;
    }
    int n = 0;
    while (n < want) {
        char type;
        u_int32_t timestamp;
        char* data;
        int size;
        if ((ret = srs_rtmp_read_packet(rtmp, &type, &timestamp, &data, &size)) != 0) {
            fprintf(stderr, "read failed: %d\n", ret);
            break;
        }
        char line[512];
        if (srs_human_format_rtmp_packet(line, sizeof(line), type, timestamp, data, size) == 0 && n < 5) {
            printf("%s\n", line);
        }
        if (srs_utils_flv_tag_is_ok(type)) {
            if ((ret = srs_flv_write_tag(flv, type, (int32_t)timestamp, data, size)) != 0) {
                free(data);
                break;
            }
            n++;
        }
        free(data);
    }
    printf("dumped %d packets, received %lld bytes\n", n, (long long)srs_utils_recv_bytes(rtmp));
    srs_flv_close(flv);
    srs_rtmp_destroy(rtmp);
    return n == want ? 0 : 1;
}
