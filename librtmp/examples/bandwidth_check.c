/* SRS's bandwidth check, as SRS's srs_bandwidth_check does it.
 *   bandwidth_check rtmp://host:port/app?key=KEY&vhost=bandcheck.srs.com
 */
#include <stdio.h>
#include "srs_librtmp.h"

int main(int argc, char** argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s rtmp://host/app?key=KEY&vhost=VHOST\n", argv[0]);
        return 2;
    }
    srs_rtmp_t rtmp = srs_rtmp_create2(argv[1]);
    int ret;
    if ((ret = srs_rtmp_handshake(rtmp)) != 0 || (ret = srs_rtmp_connect_app(rtmp)) != 0) {
        fprintf(stderr, "connect failed: %d\n", ret);
        srs_rtmp_destroy(rtmp);
        return 1;
    }
    int64_t start_time, end_time;
    int play_kbps, publish_kbps, play_bytes, publish_bytes, play_duration, publish_duration;
    ret = srs_rtmp_bandwidth_check(rtmp, &start_time, &end_time, &play_kbps, &publish_kbps,
        &play_bytes, &publish_bytes, &play_duration, &publish_duration);
    srs_rtmp_destroy(rtmp);
    if (ret != 0) {
        fprintf(stderr, "bandwidth check failed: %d\n", ret);
        return 1;
    }
    printf("play_kbps=%d publish_kbps=%d play_bytes=%d publish_bytes=%d play_time=%d publish_time=%d elapsed=%lld\n",
        play_kbps, publish_kbps, play_bytes, publish_bytes, play_duration, publish_duration,
        (long long)(end_time - start_time));
    return 0;
}
