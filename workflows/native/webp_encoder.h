/*
 * The resize step's WebP encoder (webp_encoder.c): libwebp 1.5.0 built with libwebp-pruned-rd.patch. Called
 * through ctypes by happypath_workflow/webp_encoder.py, and by encode_file.c in the tests.
 */
#ifndef HP_WEBP_ENCODER_H
#define HP_WEBP_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#define HP_EXPORT __attribute__((visibility("default")))

/*
 * Encodes 8-bit RGB rows as a lossy WebP file (a RIFF holding one VP8 frame: no metadata) at `quality` (0-100)
 * and libwebp's `method` (0-6; 3 is the pruned search of libwebp-pruned-rd.patch, the others libwebp's own).
 * Returns 0 with *output (released by hp_webp_free) and *output_size set, -1 if libwebp refused the settings,
 * or libwebp's WebPEncodingError (> 0).
 */
HP_EXPORT int hp_webp_encode(const uint8_t *rgb, int width, int height, int stride, float quality, int method,
                             uint8_t **output, size_t *output_size);

HP_EXPORT void hp_webp_free(uint8_t *data);

#endif
