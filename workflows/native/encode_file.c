/*
 * Encode raw 8-bit RGB rows from stdin as a WebP file on stdout, with webp_encoder.c. Not shipped:
 * tests/unit/test_webp_encoder.py builds it for x86_64 and arm64 (build_native.py webp_encoder ARCH OUTPUT
 * encode_file.c) and compares the two files, the arm64 one run under qemu.
 *
 *     encode_file WIDTH HEIGHT QUALITY < pixels.rgb > image.webp
 */
#include <stdio.h>
#include <stdlib.h>

#include "webp_encoder.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s WIDTH HEIGHT QUALITY < pixels.rgb > image.webp\n", argv[0]);
        return 2;
    }
    int width = atoi(argv[1]), height = atoi(argv[2]);
    size_t size = (size_t)width * (size_t)height * 3;
    uint8_t *rgb = malloc(size);
    if (width <= 0 || height <= 0 || !rgb || fread(rgb, 1, size, stdin) != size) return 2;
    uint8_t *output;
    size_t output_size;
    int error = hp_webp_encode(rgb, width, height, width * 3, (float)atof(argv[3]), 3, &output, &output_size);
    if (error) {
        fprintf(stderr, "libwebp error %d\n", error);
        return 1;
    }
    fwrite(output, 1, output_size, stdout);
    hp_webp_free(output);
    free(rgb);
    return 0;
}
