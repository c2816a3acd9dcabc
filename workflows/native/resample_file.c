/*
 * Resample raw 8-bit pixels from stdin to stdout with resampler.c. Not shipped: tests/unit/test_resampler.py
 * builds it for x86_64 and arm64 (build_native.py resampler ARCH OUTPUT resample_file.c) and compares the two
 * outputs, the arm64 one run under qemu.
 *
 *     resample_file WIDTH HEIGHT CHANNELS LEFT TOP RIGHT BOTTOM OUT_WIDTH OUT_HEIGHT < in.raw > out.raw
 */
#include <stdio.h>
#include <stdlib.h>

#include "resampler.h"

int main(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: %s WIDTH HEIGHT CHANNELS LEFT TOP RIGHT BOTTOM OUT_WIDTH OUT_HEIGHT\n", argv[0]);
        return 2;
    }
    int width = atoi(argv[1]), height = atoi(argv[2]), channels = atoi(argv[3]);
    int out_width = atoi(argv[8]), out_height = atoi(argv[9]);
    if (width <= 0 || height <= 0 || channels <= 0 || out_width <= 0 || out_height <= 0) return 2;
    size_t size = (size_t)width * (size_t)height * (size_t)channels;
    size_t out_size = (size_t)out_width * (size_t)out_height * (size_t)channels;
    uint8_t *pixels = malloc(size), *output = malloc(out_size);
    if (!pixels || !output || fread(pixels, 1, size, stdin) != size) return 2;
    int error = hp_resample(pixels, width, height, width * channels, channels, atof(argv[4]), atof(argv[5]),
                            atof(argv[6]), atof(argv[7]), output, out_width, out_height, out_width * channels);
    if (error) {
        fprintf(stderr, "resample error %d\n", error);
        return 1;
    }
    fwrite(output, 1, out_size, stdout);
    free(pixels);
    free(output);
    return 0;
}
