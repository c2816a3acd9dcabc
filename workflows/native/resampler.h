/*
 * The resize step's resampler (resampler.c): stb_image_resize2's SIMD resampler with Pillow's BICUBIC kernel.
 * Called through ctypes by happypath_workflow/resampler.py, and by resample_file.c in the tests.
 */
#ifndef HP_RESAMPLER_H
#define HP_RESAMPLER_H

#include <stdint.h>

#ifndef HP_EXPORT
#define HP_EXPORT __attribute__((visibility("default")))
#endif

/*
 * Resamples the region (left, top, right, bottom) of an 8-bit image of `channels` interleaved channels (1, 3 or 4;
 * all are filtered alike) into an out_width x out_height image, with the Catmull-Rom cubic (Keys, a = -0.5: Pillow's
 * BICUBIC) widened by the scale when reducing. The region is in pixels and may be fractional; the filter reads the
 * pixels around it as Pillow does, and repeats the edge ones beyond the image. Rows are `stride` and `out_stride`
 * bytes apart. Returns 0, -1 for arguments out of range, or -2 if stb could not (its allocation failed).
 */
HP_EXPORT int hp_resample(const uint8_t *pixels, int width, int height, int stride, int channels, double left,
                          double top, double right, double bottom, uint8_t *output, int out_width, int out_height,
                          int out_stride);

#endif
