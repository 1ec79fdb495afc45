/*
 * Stub miniaudio.h for building Ollama from the Go module zip, which drops
 * llama.cpp's vendor/ directory. It declares only what llama.cpp's
 * tools/mtmd/mtmd-helper.cpp uses; every call fails, so audio input is
 * unsupported while text generation is unaffected. Not the real miniaudio.
 */
#ifndef COCOON_MINIAUDIO_STUB_H
#define COCOON_MINIAUDIO_STUB_H

#include <stddef.h>

/* Always static inline: the includer's MA_API (static) is not needed. */
#define MA_STUB static inline

typedef int ma_result;
typedef unsigned long long ma_uint64;
typedef unsigned int ma_uint32;

#define MA_SUCCESS 0
#define MA_ERROR (-1)
#define MA_NOT_IMPLEMENTED (-29)

typedef enum { ma_format_unknown = 0, ma_format_f32 = 5 } ma_format;
typedef enum { ma_encoding_format_unknown = 0, ma_encoding_format_wav = 1 } ma_encoding_format;

typedef struct { ma_format format; ma_uint32 channels; ma_uint32 sampleRate; } ma_decoder_config;
typedef struct { int unused; } ma_decoder;
typedef struct { ma_encoding_format encodingFormat; ma_format format; ma_uint32 channels; ma_uint32 sampleRate; } ma_encoder_config;
typedef struct { int unused; } ma_encoder;

MA_STUB ma_decoder_config ma_decoder_config_init(ma_format f, ma_uint32 ch, ma_uint32 rate) {
    ma_decoder_config c; c.format = f; c.channels = ch; c.sampleRate = rate; return c;
}
MA_STUB ma_result ma_decoder_init_memory(const void *d, size_t n, const ma_decoder_config *c, ma_decoder *dec) {
    (void)d; (void)n; (void)c; (void)dec; return MA_NOT_IMPLEMENTED;
}
MA_STUB ma_result ma_decoder_get_length_in_pcm_frames(ma_decoder *dec, ma_uint64 *n) {
    (void)dec; if (n) *n = 0; return MA_NOT_IMPLEMENTED;
}
MA_STUB ma_result ma_decoder_read_pcm_frames(ma_decoder *dec, void *out, ma_uint64 n, ma_uint64 *read) {
    (void)dec; (void)out; (void)n; if (read) *read = 0; return MA_NOT_IMPLEMENTED;
}
MA_STUB ma_result ma_decoder_uninit(ma_decoder *dec) { (void)dec; return MA_SUCCESS; }

MA_STUB ma_encoder_config ma_encoder_config_init(ma_encoding_format e, ma_format f, ma_uint32 ch, ma_uint32 rate) {
    ma_encoder_config c; c.encodingFormat = e; c.format = f; c.channels = ch; c.sampleRate = rate; return c;
}
MA_STUB ma_result ma_encoder_init_file(const char *path, const ma_encoder_config *c, ma_encoder *enc) {
    (void)path; (void)c; (void)enc; return MA_NOT_IMPLEMENTED;
}
MA_STUB ma_result ma_encoder_write_pcm_frames(ma_encoder *enc, const void *in, ma_uint64 n, ma_uint64 *written) {
    (void)enc; (void)in; (void)n; if (written) *written = 0; return MA_NOT_IMPLEMENTED;
}
MA_STUB void ma_encoder_uninit(ma_encoder *enc) { (void)enc; }

#endif
