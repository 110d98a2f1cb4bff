/*
 * srs_librtmp.h: the C API of srs-librtmp, source-compatible with SRS's srs-librtmp
 * (SRS 2's and SRS 3's srs_librtmp.h): the same names, argument types and return
 * conventions. Written for srs-rs (MIT); the implementation is the srs-librtmp crate
 * (Rust) over srs-client. Link with -lsrs_librtmp (and -lpthread -ldl -lm for the static
 * library).
 *
 * Conventions, as in SRS:
 * - functions returning int give 0 on success, else an error code (the ERROR_* values
 *   below, which are SRS's numbers);
 * - srs_rtmp_read_packet allocates *data with malloc: the caller frees it (free() or
 *   srs_rtmp_free_packet);
 * - srs_rtmp_write_packet takes data (malloc'd) and frees it, even on error;
 * - the raw writers (srs_h264_write_raw_frames, srs_audio_write_raw_frame) and
 *   srs_flv_write_tag copy what they are given: the caller keeps its buffer.
 * Differences from SRS: every pointer is checked, and a NULL or destroyed handle gives an
 * error code (never a crash); AMF0 values (srs_amf0_t) given to
 * srs_rtmp_set_connect_args are freed but not sent.
 */
#ifndef SRS_LIB_RTMP_HPP
#define SRS_LIB_RTMP_HPP

#include <sys/types.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int srs_bool;
typedef void* srs_rtmp_t;
typedef void* srs_amf0_t;
typedef void* srs_flv_t;
typedef double srs_amf0_number;

#define SRS_RTMP_TYPE_AUDIO 8
#define SRS_RTMP_TYPE_VIDEO 9
#define SRS_RTMP_TYPE_SCRIPT 18

/* SRS's error codes (srs_kernel_error.hpp) that this library returns. */
#ifndef ERROR_SUCCESS
#define ERROR_SUCCESS 0
#endif
#define ERROR_SOCKET_CLOSED 1004
#define ERROR_SOCKET_READ 1007
#define ERROR_SOCKET_WRITE 1009
#define ERROR_SOCKET_TIMEOUT 1011
#define ERROR_SOCKET_CONNECT 1012
#define ERROR_SYSTEM_IP_INVALID 1029
#define ERROR_SYSTEM_FILE_OPENE 1041
#define ERROR_SYSTEM_FILE_READ 1044
#define ERROR_SYSTEM_FILE_WRITE 1045
#define ERROR_SYSTEM_FILE_EOF 1046
#define ERROR_SYSTEM_IO_INVALID 1050
#define ERROR_RTMP_PLAIN_REQUIRED 2001
#define ERROR_RTMP_CHUNK_START 2002
#define ERROR_RTMP_MSG_INVALID_SIZE 2003
#define ERROR_RTMP_REQ_TCURL 2006
#define ERROR_RTMP_HS_SSL_REQUIRE 2018
#define ERROR_RTMP_CLIENT_REJECTED 2035
#define ERROR_FLV_INVALID_VIDEO_TAG 3042
#define ERROR_H264_DROP_BEFORE_SPS_PPS 3043
#define ERROR_H264_DUPLICATED_SPS 3044
#define ERROR_H264_DUPLICATED_PPS 3045
#define ERROR_AAC_REQUIRED_ADTS 3046
#define ERROR_AAC_ADTS_HEADER 3047
#define ERROR_AAC_DATA_INVALID 3048
/* Ours: a NULL pointer, a destroyed handle, or a call out of order. */
#define ERROR_SRS_LIBRTMP_INVALID 9001

/* Version. */
extern int srs_version_major();
extern int srs_version_minor();
extern int srs_version_revision();

/* RTMP context: create from rtmp://host[:port]/app/stream (create2: a tcUrl, for the
 * bandwidth check); NULL on failure. destroy closes and frees it. */
extern srs_rtmp_t srs_rtmp_create(const char* url);
extern srs_rtmp_t srs_rtmp_create2(const char* url);
extern void srs_rtmp_destroy(srs_rtmp_t rtmp);
extern int srs_rtmp_set_timeout(srs_rtmp_t rtmp, int recv_timeout_ms, int send_timeout_ms);

/* The protocol: handshake is dns_resolve + connect_server + do_simple_handshake. */
extern int srs_rtmp_handshake(srs_rtmp_t rtmp);
extern int srs_rtmp_dns_resolve(srs_rtmp_t rtmp);
extern int srs_rtmp_connect_server(srs_rtmp_t rtmp);
extern int srs_rtmp_do_simple_handshake(srs_rtmp_t rtmp);
extern int srs_rtmp_do_complex_handshake(srs_rtmp_t rtmp);
extern int srs_rtmp_set_connect_args(srs_rtmp_t rtmp,
    const char* tcUrl, const char* swfUrl, const char* pageUrl, srs_amf0_t args);
extern int srs_rtmp_connect_app(srs_rtmp_t rtmp);
extern int srs_rtmp_connect_app2(srs_rtmp_t rtmp,
    char srs_server_ip[128], char srs_server[128],
    char srs_primary[128], char srs_authors[128],
    char srs_version[32], int* srs_id, int* srs_pid);
extern int srs_rtmp_get_server_id(srs_rtmp_t rtmp, char** ip, int* pid, int* cid);
extern int srs_rtmp_get_server_sig(srs_rtmp_t rtmp, char** sig);
extern int srs_rtmp_get_server_version(srs_rtmp_t rtmp, int* major, int* minor, int* revision, int* build);
extern int srs_rtmp_play_stream(srs_rtmp_t rtmp);
extern int srs_rtmp_publish_stream(srs_rtmp_t rtmp);
extern int srs_rtmp_bandwidth_check(srs_rtmp_t rtmp,
    int64_t* start_time, int64_t* end_time,
    int* play_kbps, int* publish_kbps,
    int* play_bytes, int* publish_bytes,
    int* play_duration, int* publish_duration);

/* Packets: FLV tag bodies with their type (8, 9, 18) and timestamp (ms). */
extern int srs_rtmp_read_packet(srs_rtmp_t rtmp,
    char* type, u_int32_t* timestamp, char** data, int* size);
extern int srs_rtmp_write_packet(srs_rtmp_t rtmp,
    char type, u_int32_t timestamp, char* data, int size);
extern void srs_rtmp_free_packet(char* data);
extern srs_bool srs_rtmp_is_onMetaData(char type, char* data, int size);

/* AMF0 values: parse and create_* give values the caller frees with srs_amf0_free;
 * properties and elements are borrowed; *_property_set and strict_array_append take the
 * value they are given. */
extern srs_amf0_t srs_amf0_parse(char* data, int size, int* nparsed);
extern srs_amf0_t srs_amf0_create_string(const char* value);
extern srs_amf0_t srs_amf0_create_number(srs_amf0_number value);
extern srs_amf0_t srs_amf0_create_ecma_array();
extern srs_amf0_t srs_amf0_create_strict_array();
extern srs_amf0_t srs_amf0_create_object();
extern srs_amf0_t srs_amf0_ecma_array_to_object(srs_amf0_t ecma_arr);
extern void srs_amf0_free(srs_amf0_t amf0);
extern void srs_amf0_free_bytes(char* data);
extern int srs_amf0_size(srs_amf0_t amf0);
extern int srs_amf0_serialize(srs_amf0_t amf0, char* data, int size);
extern srs_bool srs_amf0_is_string(srs_amf0_t amf0);
extern srs_bool srs_amf0_is_boolean(srs_amf0_t amf0);
extern srs_bool srs_amf0_is_number(srs_amf0_t amf0);
extern srs_bool srs_amf0_is_null(srs_amf0_t amf0);
extern srs_bool srs_amf0_is_object(srs_amf0_t amf0);
extern srs_bool srs_amf0_is_ecma_array(srs_amf0_t amf0);
extern srs_bool srs_amf0_is_strict_array(srs_amf0_t amf0);
extern const char* srs_amf0_to_string(srs_amf0_t amf0);
extern srs_bool srs_amf0_to_boolean(srs_amf0_t amf0);
extern srs_amf0_number srs_amf0_to_number(srs_amf0_t amf0);
extern void srs_amf0_set_number(srs_amf0_t amf0, srs_amf0_number value);
extern int srs_amf0_object_property_count(srs_amf0_t amf0);
extern const char* srs_amf0_object_property_name_at(srs_amf0_t amf0, int index);
extern srs_amf0_t srs_amf0_object_property_value_at(srs_amf0_t amf0, int index);
extern srs_amf0_t srs_amf0_object_property(srs_amf0_t amf0, const char* name);
extern void srs_amf0_object_property_set(srs_amf0_t amf0, const char* name, srs_amf0_t value);
extern void srs_amf0_object_clear(srs_amf0_t amf0);
extern int srs_amf0_ecma_array_property_count(srs_amf0_t amf0);
extern const char* srs_amf0_ecma_array_property_name_at(srs_amf0_t amf0, int index);
extern srs_amf0_t srs_amf0_ecma_array_property_value_at(srs_amf0_t amf0, int index);
extern srs_amf0_t srs_amf0_ecma_array_property(srs_amf0_t amf0, const char* name);
extern void srs_amf0_ecma_array_property_set(srs_amf0_t amf0, const char* name, srs_amf0_t value);
extern int srs_amf0_strict_array_property_count(srs_amf0_t amf0);
extern srs_amf0_t srs_amf0_strict_array_property_at(srs_amf0_t amf0, int index);
extern void srs_amf0_strict_array_append(srs_amf0_t amf0, srs_amf0_t value);
extern char* srs_human_amf0_print(srs_amf0_t amf0, char** pdata, int* psize);

/* Raw audio: one or more frames; AAC must be ADTS (the sequence header is sent for you). */
extern int srs_audio_write_raw_frame(srs_rtmp_t rtmp,
    char sound_format, char sound_rate, char sound_size, char sound_type,
    char* frame, int frame_size, u_int32_t timestamp);
extern srs_bool srs_aac_is_adts(char* aac_raw_data, int ac_raw_size);
extern int srs_aac_adts_frame_size(char* aac_raw_data, int ac_raw_size);

/* Raw H.264: Annex B NAL units; SPS and PPS make the sequence header, sent for you. */
extern int srs_h264_write_raw_frames(srs_rtmp_t rtmp,
    char* frames, int frames_size, u_int32_t dts, u_int32_t pts);
extern srs_bool srs_h264_is_dvbsp_error(int error_code);
extern srs_bool srs_h264_is_duplicated_sps_error(int error_code);
extern srs_bool srs_h264_is_duplicated_pps_error(int error_code);
extern srs_bool srs_h264_startswith_annexb(char* h264_raw_data, int h264_raw_size, int* pnb_start_code);

/* FLV files. */
extern srs_flv_t srs_flv_open_read(const char* file);
extern srs_flv_t srs_flv_open_write(const char* file);
extern void srs_flv_close(srs_flv_t flv);
extern int srs_flv_read_header(srs_flv_t flv, char header[9]);
extern int srs_flv_read_tag_header(srs_flv_t flv, char* ptype, int32_t* pdata_size, u_int32_t* ptime);
extern int srs_flv_read_tag_data(srs_flv_t flv, char* data, int32_t size);
extern int srs_flv_write_header(srs_flv_t flv, char header[9]);
extern int srs_flv_write_tag(srs_flv_t flv, char type, int32_t time, char* data, int size);
extern int srs_flv_size_tag(int data_size);
extern int64_t srs_flv_tellg(srs_flv_t flv);
extern void srs_flv_lseek(srs_flv_t flv, int64_t offset);
extern srs_bool srs_flv_is_eof(int error_code);
extern srs_bool srs_flv_is_sequence_header(char* data, int32_t size);
extern srs_bool srs_flv_is_keyframe(char* data, int32_t size);

/* MP4 files (SRS 3): read the samples of an MP4 (moov before or after mdat) and turn
 * them into FLV tags, the sequence headers first. */
typedef void* srs_mp4_t;
typedef struct {
    /* The track's handler, a four-character code: 0x76696465 'vide' or 0x736f756e 'soun'. */
    uint32_t handler_type;
    /* Decoding time, ms. */
    uint32_t dts;
    /* FLV codec id: video 7 (AVC); audio 10 (AAC) or 2 (MP3). */
    uint16_t codec;
    /* 0: a sequence header; 1: a frame (AVC NALU or AAC raw). */
    uint16_t frame_trait;
    /* Presentation time, ms (video; equal to dts for audio). */
    uint32_t pts;
    /* Video: 1 a keyframe, 2 an inter frame. */
    uint16_t frame_type;
    /* Audio, as in the FLV audio tag: rate 0..3 (5.5/11/22/44 kHz), bits 0/1 (8/16),
     * channels 0/1 (mono/stereo). */
    uint8_t sample_rate;
    uint8_t sound_bits;
    uint8_t channels;
    /* The sample's bytes, malloc'd: free with srs_mp4_free_sample. */
    uint32_t nb_sample;
    uint8_t* sample;
} srs_mp4_sample_t;
extern srs_mp4_t srs_mp4_open_read(const char* file);
extern void srs_mp4_close(srs_mp4_t mp4);
extern int srs_mp4_init_demuxer(srs_mp4_t mp4);
extern int srs_mp4_read_sample(srs_mp4_t mp4, srs_mp4_sample_t* sample);
extern void srs_mp4_free_sample(srs_mp4_sample_t* sample);
extern int32_t srs_mp4_sizeof(srs_mp4_t mp4, srs_mp4_sample_t* sample);
extern int srs_mp4_to_flv_tag(srs_mp4_t mp4, srs_mp4_sample_t* sample, char* type, uint32_t* time, char* data, int32_t size);
extern srs_bool srs_mp4_is_eof(int error_code);

/* Utilities. */
extern int64_t srs_utils_time_ms();
extern int64_t srs_utils_send_bytes(srs_rtmp_t rtmp);
extern int64_t srs_utils_recv_bytes(srs_rtmp_t rtmp);
extern int srs_utils_parse_timestamp(u_int32_t time, char type, char* data, int size, u_int32_t* ppts);
extern srs_bool srs_utils_flv_tag_is_ok(char type);
extern srs_bool srs_utils_flv_tag_is_audio(char type);
extern srs_bool srs_utils_flv_tag_is_video(char type);
extern srs_bool srs_utils_flv_tag_is_av(char type);
extern char srs_utils_flv_video_codec_id(char* data, int size);
extern char srs_utils_flv_video_avc_packet_type(char* data, int size);
extern char srs_utils_flv_video_frame_type(char* data, int size);
extern char srs_utils_flv_audio_sound_format(char* data, int size);
extern char srs_utils_flv_audio_sound_rate(char* data, int size);
extern char srs_utils_flv_audio_sound_size(char* data, int size);
extern char srs_utils_flv_audio_sound_type(char* data, int size);
extern char srs_utils_flv_audio_aac_packet_type(char* data, int size);

/* Human readable. */
extern const char* srs_human_flv_tag_type2string(char type);
extern const char* srs_human_flv_video_codec_id2string(char codec_id);
extern const char* srs_human_flv_video_avc_packet_type2string(char avc_packet_type);
extern const char* srs_human_flv_video_frame_type2string(char frame_type);
extern const char* srs_human_flv_audio_sound_format2string(char sound_format);
extern const char* srs_human_flv_audio_sound_rate2string(char sound_rate);
extern const char* srs_human_flv_audio_sound_size2string(char sound_size);
extern const char* srs_human_flv_audio_sound_type2string(char sound_type);
extern const char* srs_human_flv_audio_aac_packet_type2string(char aac_packet_type);
extern int srs_human_format_rtmp_packet(char* buffer, int nb_buffer,
    char type, u_int32_t timestamp, char* data, int size);
extern int srs_human_print_rtmp_packet(char type, u_int32_t timestamp, char* data, int size);
extern int srs_human_print_rtmp_packet2(char type, u_int32_t timestamp, char* data, int size,
    u_int32_t pre_timestamp);
extern int srs_human_print_rtmp_packet3(char type, u_int32_t timestamp, char* data, int size,
    u_int32_t pre_timestamp, int64_t pre_now);
extern int srs_human_print_rtmp_packet4(char type, u_int32_t timestamp, char* data, int size,
    u_int32_t pre_timestamp, int64_t pre_now, int64_t starttime, int64_t nb_packets);
extern const char* srs_human_format_time();

#ifndef _WIN32
#include <unistd.h>
#endif
#ifdef SRS_DISABLE_LOG
    #define srs_human_trace(msg, ...) (void)0
    #define srs_human_verbose(msg, ...) (void)0
    #define srs_human_raw(msg, ...) (void)0
#else
    #define srs_human_trace(msg, ...) printf("[%s][%d] ", srs_human_format_time(), getpid());printf(msg, ##__VA_ARGS__);printf("\n")
    #define srs_human_verbose(msg, ...) printf("[%s][%d] ", srs_human_format_time(), getpid());printf(msg, ##__VA_ARGS__);printf("\n")
    #define srs_human_raw(msg, ...) printf(msg, ##__VA_ARGS__)
#endif

#ifdef __cplusplus
}
#endif

#endif
