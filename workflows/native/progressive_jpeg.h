/* Progressive JPEG decoding at a reduced scale (progressive_jpeg.c has the why). Mirrored by ctypes in
 * workflows/functions/happypath_workflow/progressive_jpeg.py: change both together. */
#ifndef PROGRESSIVE_JPEG_H
#define PROGRESSIVE_JPEG_H

#include <stddef.h>
#include <stdint.h>

/* Built with -fvisibility=hidden (build_native.py): only these three functions are exported. */
#define PJ_EXPORT __attribute__((visibility("default")))

#define PJ_OK 0
#define PJ_DAMAGED 1
#define PJ_UNSUPPORTED 2

#define PJ_MAX_COMPONENTS 4
#define PJ_MAX_SCANS 1000

typedef struct {
    /* From the frame header (pj_header). */
    int32_t width, height, components;
    int32_t id[PJ_MAX_COMPONENTS], h[PJ_MAX_COMPONENTS], v[PJ_MAX_COMPONENTS];
    int32_t blocks_w[PJ_MAX_COMPONENTS], blocks_h[PJ_MAX_COMPONENTS]; /* the MCU-padded block grid */
    int32_t mcus_w, mcus_h, hmax, vmax;
    int32_t jfif, adobe_transform; /* a JFIF marker seen (1/0); the Adobe marker's transform, -1 if none */
    /* Set by the caller before pj_decode: coefficients kept (1, 2, 4 or 8 each way), and where they go. */
    int32_t kx[PJ_MAX_COMPONENTS], ky[PJ_MAX_COMPONENTS];
    int16_t *coef[PJ_MAX_COMPONENTS];      /* blocks_h x blocks_w x ky x kx, zeroed */
    uint64_t *nonzero[PJ_MAX_COMPONENTS];  /* blocks_h x blocks_w, zeroed; bit k: zigzag coefficient k */
    /* From pj_decode. */
    uint16_t quant[PJ_MAX_COMPONENTS][64]; /* natural order, as each component's first scan found it */
    int32_t scans;
    char error[200];
} pj_image;

/* The frame header (size, components, sampling, block grids) and the colour markers before the first scan. */
PJ_EXPORT int pj_header(pj_image *image, const uint8_t *data, size_t size);

/* Decode every scan into the caller's arrays (kx, ky, coef and nonzero set), after pj_header on the same data. */
PJ_EXPORT int pj_decode(pj_image *image, const uint8_t *data, size_t size);

/* Write MCU rows [first, first + count) of component `c` as pixels, kx x ky per block, into `out`:
 * count * v * ky rows of `stride` bytes (at least blocks_w * kx pixels), `out_size` bytes at most. */
PJ_EXPORT int pj_output(const pj_image *image, int c, int first, int count, uint8_t *out, size_t stride,
                        size_t out_size);

#endif
