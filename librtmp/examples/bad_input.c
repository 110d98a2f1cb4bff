/* Every call with a NULL or destroyed handle, or NULL pointers, gives an error code and
 * never crashes. Exits 0 when all of them did.
 */
#include <stdio.h>
#include <stdlib.h>
#include "srs_librtmp.h"

#define EXPECT_ERR(call) do { int r_ = (call); if (r_ == 0) { fprintf(stderr, "no error: %s\n", #call); failed++; } } while (0)

int main(int argc, char** argv)
{
    int failed = 0;
    char type;
    u_int32_t ts;
    char* data;
    int size;
    if (srs_rtmp_create(NULL) != NULL || srs_rtmp_create("http://not-rtmp/x/y") != NULL) {
        fprintf(stderr, "create accepted a bad url\n");
        failed++;
    }
    EXPECT_ERR(srs_rtmp_handshake(NULL));
    EXPECT_ERR(srs_rtmp_connect_app(NULL));
    EXPECT_ERR(srs_rtmp_publish_stream(NULL));
    EXPECT_ERR(srs_rtmp_read_packet(NULL, &type, &ts, &data, &size));
    char* buf = (char*)malloc(4);
    EXPECT_ERR(srs_rtmp_write_packet(NULL, 9, 0, buf, 4)); /* freed by the call */
    srs_rtmp_t r = srs_rtmp_create(argc > 1 ? argv[1] : "rtmp://127.0.0.1:1/live/x");
    if (r == NULL) {
        fprintf(stderr, "create failed\n");
        return 1;
    }
    /* Out of order: nothing connected yet. */
    EXPECT_ERR(srs_rtmp_connect_app(r));
    EXPECT_ERR(srs_rtmp_play_stream(r));
    EXPECT_ERR(srs_rtmp_read_packet(r, NULL, &ts, &data, &size));
    EXPECT_ERR(srs_h264_write_raw_frames(r, NULL, 10, 0, 0));
    EXPECT_ERR(srs_audio_write_raw_frame(r, 10, 3, 1, 1, NULL, 10, 0));
    srs_rtmp_destroy(r);
    /* Destroyed: still an error, not a crash. */
    EXPECT_ERR(srs_rtmp_handshake(r));
    EXPECT_ERR(srs_rtmp_read_packet(r, &type, &ts, &data, &size));
    srs_rtmp_destroy(r);
    srs_flv_t flv = srs_flv_open_read("/nonexistent/file.flv");
    if (flv != NULL) {
        failed++;
    }
    char header[9];
    int32_t n;
    EXPECT_ERR(srs_flv_read_header(NULL, header));
    EXPECT_ERR(srs_flv_read_tag_header(NULL, &type, &n, &ts));
    EXPECT_ERR(srs_flv_write_tag(NULL, 9, 0, header, 9));
    srs_flv_close(NULL);
    if (srs_aac_adts_frame_size(NULL, 10) != -1 || srs_utils_flv_audio_sound_format(NULL, 3) != -1) {
        failed++;
    }
    /* MP4: a missing file, NULL handles and structs, a sample read before the demuxer,
     * a file that is not an MP4 (this program), a closed handle. */
    if (srs_mp4_open_read("/nonexistent/file.mp4") != NULL || srs_mp4_open_read(NULL) != NULL) {
        failed++;
    }
    srs_mp4_sample_t sample;
    EXPECT_ERR(srs_mp4_init_demuxer(NULL));
    EXPECT_ERR(srs_mp4_read_sample(NULL, &sample));
    srs_mp4_t mp4 = srs_mp4_open_read(argv[0]);
    if (mp4 == NULL) {
        failed++;
    }
    EXPECT_ERR(srs_mp4_read_sample(mp4, &sample));
    EXPECT_ERR(srs_mp4_read_sample(mp4, NULL));
    EXPECT_ERR(srs_mp4_init_demuxer(mp4));
    EXPECT_ERR(srs_mp4_to_flv_tag(mp4, NULL, &type, &ts, header, 9));
    srs_mp4_close(mp4);
    EXPECT_ERR(srs_mp4_init_demuxer(mp4));
    srs_mp4_free_sample(NULL);
    if (srs_mp4_sizeof(NULL, NULL) != 0 || srs_mp4_is_eof(0)) {
        failed++;
    }
    printf("%d failures\n", failed);
    return failed == 0 ? 0 : 1;
}
