/*
 * Decode a progressive JPEG file at 1/reduction of its size and write its planes, one after the other, to
 * stdout (or the error to stderr). Not shipped: tests/unit/test_progressive_jpeg.py builds it for x86_64 and
 * arm64 (build_native.py progressive_jpeg ARCH OUTPUT decode_file.c) and compares the two outputs, the arm64 one
 * run under qemu.
 *
 *     decode_file photo.jpg 4 > planes.raw
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progressive_jpeg.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE REDUCTION\n", argv[0]);
        return 2;
    }
    FILE *file = fopen(argv[1], "rb");
    if (!file || fseek(file, 0, SEEK_END) != 0) return 2;
    long size = ftell(file);
    uint8_t *data = malloc((size_t)size);
    rewind(file);
    if (!data || fread(data, 1, (size_t)size, file) != (size_t)size) return 2;
    fclose(file);
    int per_block = 8 / atoi(argv[2]);
    pj_image image;
    memset(&image, 0, sizeof image);
    if (pj_header(&image, data, (size_t)size) != PJ_OK) {
        fprintf(stderr, "%s\n", image.error);
        return 1;
    }
    for (int c = 0; c < image.components; c++) {
        image.kx[c] = per_block * image.hmax / image.h[c];
        image.ky[c] = per_block * image.vmax / image.v[c];
        size_t blocks = (size_t)image.blocks_w[c] * (size_t)image.blocks_h[c];
        image.coef[c] = calloc(blocks * (size_t)(image.kx[c] * image.ky[c]), sizeof(int16_t));
        image.nonzero[c] = calloc(blocks, sizeof(uint64_t));
    }
    if (pj_decode(&image, data, (size_t)size) != PJ_OK) {
        fprintf(stderr, "%s\n", image.error);
        return 1;
    }
    size_t stride = (size_t)(image.mcus_w * image.hmax * per_block);
    size_t rows = (size_t)(image.mcus_h * image.vmax * per_block);
    uint8_t *plane = malloc(stride * rows);
    for (int c = 0; c < image.components; c++) {
        if (pj_output(&image, c, 0, image.mcus_h, plane, stride, stride * rows) != PJ_OK) return 2;
        fwrite(plane, 1, stride * rows, stdout);
    }
    return 0;
}
