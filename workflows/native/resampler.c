/*
 * The resize step's resampler, called through ctypes (happypath_workflow/resampler.py): stb_image_resize2 (from
 * Debian's libstb, public domain), which filters in SIMD floats (SSE2 on x86-64, NEON on arm64) where Pillow's
 * resampler is plain C: about three times as fast on the renditions, at a slightly higher SSIM against a
 * full-size LANCZOS reference (bench/README.md).
 */
#include "resampler.h"

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC /* stb's functions stay in this file: only hp_resample is exported */
#include "stb_image_resize2.h"

static int pixel_layout_of(int channels, stbir_pixel_layout *layout) {
    switch (channels) {
    case 1: *layout = STBIR_1CHANNEL; return 1;
    case 3: *layout = STBIR_RGB; return 1;
    case 4: *layout = STBIR_4CHANNEL; return 1; /* all four filtered alike: no alpha weighting */
    default: return 0;
    }
}

HP_EXPORT int hp_resample(const uint8_t *pixels, int width, int height, int stride, int channels, double left,
                          double top, double right, double bottom, uint8_t *output, int out_width, int out_height,
                          int out_stride) {
    STBIR_RESIZE resize;
    stbir_pixel_layout pixel_layout;

    if (!pixel_layout_of(channels, &pixel_layout) || width < 1 || height < 1 || out_width < 1 ||
        out_height < 1 || stride < width * channels || out_stride < out_width * channels)
        return -1;
    /* Written so that NaN fails too. */
    if (!(left >= 0 && top >= 0 && right <= width && bottom <= height && left < right && top < bottom)) return -1;

    stbir_resize_init(&resize, pixels, width, height, stride, output, out_width, out_height, out_stride,
                      pixel_layout, STBIR_TYPE_UINT8);
    stbir_set_filters(&resize, STBIR_FILTER_CATMULLROM, STBIR_FILTER_CATMULLROM);
    stbir_set_edgemodes(&resize, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP);
    if (!stbir_set_input_subrect(&resize, left / width, top / height, right / width, bottom / height)) return -1;
    /* Builds its filters, resamples and frees them: one allocation, of the filters' weights and a ring of rows in
     * floats, which grows with the widths and the number of taps (148 KB for 816x612 -> 600x450). */
    return stbir_resize_extended(&resize) ? 0 : -2;
}
