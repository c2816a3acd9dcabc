/* Progressive JPEG decoding at a reduced scale (progressive_jpeg.c has the why). Mirrored by ctypes in
 * workflows/functions/happypath_workflow/progressive_jpeg.py: change both together. */
#ifndef PROGRESSIVE_JPEG_H
#define PROGRESSIVE_JPEG_H

#include <stddef.h>
#include <stdint.h>

#define PJ_OK 0
#define PJ_DAMAGED 1
#define PJ_UNSUPPORTED 2

#define MAX_COMPONENTS 4
#define MAX_SCANS 1000

typedef struct {
    /* From the frame header (pj_header). */
    int32_t width, height, components;
    int32_t id[MAX_COMPONENTS], h[MAX_COMPONENTS], v[MAX_COMPONENTS];
    int32_t blocks_w[MAX_COMPONENTS], blocks_h[MAX_COMPONENTS]; /* the MCU-padded block grid */
    int32_t mcus_w, mcus_h, hmax, vmax, adobe_transform;        /* -1: no Adobe marker */
    /* Set by the caller before pj_decode: coefficients kept, and where they go. */
    int32_t kx[MAX_COMPONENTS], ky[MAX_COMPONENTS];
    int16_t *coef[MAX_COMPONENTS];      /* blocks_h x blocks_w x ky x kx, zeroed */
    uint64_t *nonzero[MAX_COMPONENTS];  /* blocks_h x blocks_w, zeroed; bit k: zigzag coefficient k */
    /* From pj_decode. */
    uint16_t quant[MAX_COMPONENTS][64]; /* natural order, as each component's first scan found it */
    int32_t scans;
    char error[200];
} pj_image;

/* The frame header: size, components, sampling, block grids. */
int pj_header(pj_image *image, const uint8_t *data, size_t size);

/* Decode every scan into the caller's arrays (kx, ky, coef and nonzero set). */
int pj_decode(pj_image *image, const uint8_t *data, size_t size);

/* Write MCU rows [first, first + count) of component `c` as pixels, kx x ky per block, into `out` (rows of
 * `stride` bytes, at least blocks_w * kx pixels each). */
int pj_output(const pj_image *image, int c, int first, int count, uint8_t *out, size_t stride);

#endif
