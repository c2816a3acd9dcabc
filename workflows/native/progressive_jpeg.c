/*
 * Progressive JPEG decoding at a reduced scale, keeping only what that scale needs.
 *
 * libjpeg holds every DCT coefficient of a progressive JPEG until its last scan (128 bytes a block: 36 MB for
 * a 12 MP photo at 4:2:0), whatever the scale it outputs. This decoder keeps, of each block, only the
 * lowest kx x ky coefficients its output needs (kx = ky = 2 at 1/4 scale: 8 bytes) and one bit for each
 * of the 64 saying whether it is nonzero yet, which the refinement scans need (8 bytes). Each output pixel is
 * the mean of the full-size pixels it covers, as those coefficients give them (libjpeg's reduced inverse DCTs
 * approximate the same mean with some of the higher frequencies too), written a band of MCU rows at a time.
 *
 * Only what photos use is decoded: 8-bit, Huffman-coded, progressive (SOF2), one to four components.
 * Everything read from the file is checked before it is used; a damaged file gives an error, never a
 * guess. The caller allocates the coefficient and bit arrays (pj_header gives their sizes).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "progressive_jpeg.h"

static const uint8_t natural_order[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
};

typedef struct {
    int defined, invalid; /* invalid: refused when a scan uses it (libjpeg checks a table only then) */
    uint8_t fast_length[512]; /* 9-bit lookahead: code length (0: longer than 9 bits) */
    uint8_t fast_value[512];
    int32_t maxcode[17];      /* largest code of each length, -1 if none */
    int32_t offset[17];       /* value index = code + offset[length] */
    uint8_t values[256];
} huffman;

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    jmp_buf fail;
    pj_image *image;
    /* bit reader */
    uint64_t bits;
    int32_t nbits, padding; /* padding: zero bits appended past the scan's data (a marker or the end) */
    huffman dc[4], ac[4];
    uint16_t quant[4][64]; /* zigzag order, as last defined */
    int32_t quant_defined[4], tq[PJ_MAX_COMPONENTS], latched[PJ_MAX_COMPONENTS], dc_seen[PJ_MAX_COMPONENTS];
    int32_t restart_interval, frame_read;
    int8_t keep[PJ_MAX_COMPONENTS][64]; /* zigzag k -> index among the kept coefficients, or -1 */
    uint64_t kept_positions[PJ_MAX_COMPONENTS];
    /* scan */
    int32_t scan_components, scan_comp[PJ_MAX_COMPONENTS], dc_table[PJ_MAX_COMPONENTS], ac_table[PJ_MAX_COMPONENTS];
    int32_t ss, se, ah, al, eobrun, predictor[PJ_MAX_COMPONENTS];
} decoder;

static void fail(decoder *d, int code, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(d->image->error, sizeof d->image->error, format, args);
    va_end(args);
    longjmp(d->fail, code);
}

/* --- markers --------------------------------------------------------------------------------------- */

/* The first byte at or after `pos` that is not 0xFF: past a marker's FF and the fill bytes before it. */
static size_t past_fill(const decoder *d, size_t pos) {
    while (pos < d->size && d->data[pos] == 0xFF) pos++;
    return pos;
}

static int read_marker(decoder *d) {
    if (d->pos >= d->size || d->data[d->pos] != 0xFF)
        fail(d, PJ_DAMAGED, "no marker where one belongs (byte %zu)", d->pos);
    d->pos = past_fill(d, d->pos);
    if (d->pos >= d->size) fail(d, PJ_DAMAGED, "the data ends inside a marker");
    return d->data[d->pos++];
}

/* A segment's body: [*body, *body + *length). */
static void read_segment(decoder *d, size_t *body, size_t *length) {
    if (d->pos + 2 > d->size) fail(d, PJ_DAMAGED, "the data ends inside a header");
    size_t declared = ((size_t)d->data[d->pos] << 8) | d->data[d->pos + 1];
    if (declared < 2 || d->pos + declared > d->size) fail(d, PJ_DAMAGED, "a header has a bad length");
    *body = d->pos + 2;
    *length = declared - 2;
    d->pos += declared;
}

/* Coefficients kept each way (the caller's kx, ky): 1, 2, 4 or 8, so that an output pixel covers whole
 * full-size pixels. */
static int kept_size_ok(int kx, int ky) {
    return kx >= 1 && kx <= 8 && 8 % kx == 0 && ky >= 1 && ky <= 8 && 8 % ky == 0;
}

/* The frame header's fields, the same from pj_header and from pj_decode. */
static int same_frame(const pj_image *a, const pj_image *b) {
    if (a->width != b->width || a->height != b->height || a->components != b->components) return 0;
    for (int c = 0; c < a->components; c++)
        if (a->id[c] != b->id[c] || a->h[c] != b->h[c] || a->v[c] != b->v[c]) return 0;
    return 1;
}

static void read_frame(decoder *d, size_t at, size_t length, int decode_scans) {
    const uint8_t *p = d->data + at;
    pj_image frame; /* parsed here, then kept (pj_header) or compared with what pj_header kept (pj_decode) */
    memset(&frame, 0, sizeof frame);
    if (d->frame_read) fail(d, PJ_DAMAGED, "more than one frame header");
    if (length < 6 || p[5] < 1 || length != 6 + 3 * (size_t)p[5]) fail(d, PJ_DAMAGED, "bad frame header");
    if (p[5] > PJ_MAX_COMPONENTS) fail(d, PJ_UNSUPPORTED, "%d components", p[5]);
    if (p[0] != 8) fail(d, PJ_UNSUPPORTED, "%d-bit samples", p[0]);
    frame.height = (p[1] << 8) | p[2];
    frame.width = (p[3] << 8) | p[4];
    frame.components = p[5];
    if (frame.width == 0 || frame.height == 0)
        fail(d, PJ_DAMAGED, "the frame header says %dx%d", frame.width, frame.height);
    frame.hmax = frame.vmax = 1;
    for (int c = 0; c < frame.components; c++) {
        const uint8_t *q = p + 6 + 3 * c;
        frame.id[c] = q[0];
        frame.h[c] = q[1] >> 4;
        frame.v[c] = q[1] & 15;
        d->tq[c] = q[2];
        if (frame.h[c] < 1 || frame.h[c] > 4 || frame.v[c] < 1 || frame.v[c] > 4 || d->tq[c] > 3)
            fail(d, PJ_DAMAGED, "bad frame header");
        for (int other = 0; other < c; other++)
            if (frame.id[other] == frame.id[c]) fail(d, PJ_DAMAGED, "two components with one id");
        if (frame.h[c] > frame.hmax) frame.hmax = frame.h[c];
        if (frame.v[c] > frame.vmax) frame.vmax = frame.v[c];
    }
    d->frame_read = 1;
    pj_image *im = d->image;
    if (decode_scans) {
        /* The caller sized its arrays from pj_header's frame: a different one would overrun them. */
        if (!same_frame(&frame, im)) fail(d, PJ_UNSUPPORTED, "not the frame pj_header read");
        for (int c = 0; c < im->components; c++) {
            int kx = im->kx[c], ky = im->ky[c];
            if (!kept_size_ok(kx, ky) || !im->coef[c] || !im->nonzero[c])
                fail(d, PJ_UNSUPPORTED, "bad output settings");
            for (int k = 0; k < 64; k++) {
                int row = natural_order[k] / 8, column = natural_order[k] % 8;
                d->keep[c][k] = (int8_t)(row < ky && column < kx ? row * kx + column : -1);
                if (d->keep[c][k] >= 0) d->kept_positions[c] |= (uint64_t)1 << k;
            }
        }
        return;
    }
    im->width = frame.width;
    im->height = frame.height;
    im->components = frame.components;
    im->hmax = frame.hmax;
    im->vmax = frame.vmax;
    im->mcus_w = (frame.width + 8 * frame.hmax - 1) / (8 * frame.hmax);
    im->mcus_h = (frame.height + 8 * frame.vmax - 1) / (8 * frame.vmax);
    for (int c = 0; c < frame.components; c++) {
        im->id[c] = frame.id[c];
        im->h[c] = frame.h[c];
        im->v[c] = frame.v[c];
        im->blocks_w[c] = im->mcus_w * frame.h[c];
        im->blocks_h[c] = im->mcus_h * frame.v[c];
    }
}

static void read_huffman_tables(decoder *d, size_t at, size_t length) {
    const uint8_t *p = d->data + at, *end = p + length;
    while (p < end) {
        if (end - p < 17) fail(d, PJ_DAMAGED, "bad Huffman table");
        int table_class = p[0] >> 4, index = p[0] & 15;
        if (table_class > 1 || index > 3) fail(d, PJ_DAMAGED, "bad Huffman table");
        int count = 0;
        for (int i = 1; i <= 16; i++) count += p[i];
        if (count > 256 || end - p < 17 + count) fail(d, PJ_DAMAGED, "bad Huffman table");
        huffman *t = table_class == 0 ? &d->dc[index] : &d->ac[index];
        memset(t, 0, sizeof *t);
        t->defined = 1;
        memcpy(t->values, p + 17, (size_t)count);
        /* A DC value over 15, or codes of a length that do not fit in it (all ones excepted, reserved). */
        int32_t code = 0;
        for (int i = 0; i < count && !t->invalid; i++) t->invalid = table_class == 0 && t->values[i] > 15;
        for (int length_bits = 1; length_bits <= 16 && !t->invalid; length_bits++) {
            code += p[length_bits];
            t->invalid = p[length_bits] > 0 && code >= (1 << length_bits);
            code <<= 1;
        }
        if (!t->invalid) {
            int32_t k = 0;
            code = 0;
            for (int length_bits = 1; length_bits <= 16; length_bits++) {
                int n = p[length_bits];
                t->offset[length_bits] = k - code;
                for (int i = 0; i < n; i++, k++, code++)
                    if (length_bits <= 9) {
                        int shift = 9 - length_bits;
                        for (int fill = 0; fill < (1 << shift); fill++) {
                            t->fast_length[(code << shift) | fill] = (uint8_t)length_bits;
                            t->fast_value[(code << shift) | fill] = t->values[k];
                        }
                    }
                t->maxcode[length_bits] = n ? code - 1 : -1;
                code <<= 1;
            }
        }
        p += 17 + count;
    }
}

static void read_quant_tables(decoder *d, size_t at, size_t length) {
    const uint8_t *p = d->data + at, *end = p + length;
    while (p < end) {
        int precision = p[0] >> 4, index = p[0] & 15;
        size_t size = 1 + 64 * (precision ? 2 : 1);
        if (precision > 1 || index > 3 || (size_t)(end - p) < size) fail(d, PJ_DAMAGED, "bad quantization table");
        for (int k = 0; k < 64; k++)
            d->quant[index][k] = precision ? (uint16_t)((p[1 + 2 * k] << 8) | p[2 + 2 * k]) : p[1 + k];
        d->quant_defined[index] = 1;
        p += size;
    }
}

/* --- entropy-coded data ------------------------------------------------------------------------------ */

static inline void fill(decoder *d) {
    while (d->nbits <= 56) {
        uint32_t byte = 0;
        if (d->padding == 0 && d->pos < d->size) {
            byte = d->data[d->pos];
            if (byte == 0xFF) {
                /* FF 00 is a data byte FF, fill bytes (more FF) before the 00 included; anything else a marker */
                size_t after = past_fill(d, d->pos);
                if (after < d->size && d->data[after] == 0x00) {
                    d->pos = after + 1;
                } else {
                    byte = 0; /* the scan's data ends here; pos stays on the marker's first FF */
                    d->padding += 8;
                }
            } else {
                d->pos++;
            }
        } else {
            d->padding += 8;
        }
        d->bits = (d->bits << 8) | byte;
        d->nbits += 8;
    }
}

static inline uint32_t get_bits(decoder *d, int n) {
    if (n == 0) return 0;
    fill(d);
    d->nbits -= n;
    return (uint32_t)(d->bits >> d->nbits) & ((1u << n) - 1);
}

static inline int32_t extend(uint32_t value, int n) {
    return n == 0 ? 0 : (value < (1u << (n - 1)) ? (int32_t)value - (int32_t)((1u << n) - 1) : (int32_t)value);
}

static inline int decode(decoder *d, const huffman *t) {
    fill(d);
    uint32_t peek = (uint32_t)(d->bits >> (d->nbits - 9)) & 511;
    int length = t->fast_length[peek];
    if (length) {
        d->nbits -= length;
        return t->fast_value[peek];
    }
    for (length = 10; length <= 16; length++) {
        int32_t code = (int32_t)(d->bits >> (d->nbits - length)) & ((1 << length) - 1);
        if (code <= t->maxcode[length]) {
            int32_t index = code + t->offset[length];
            if (index < 0 || index > 255) break; /* cannot happen with a checked table: a guard */
            d->nbits -= length;
            return t->values[index];
        }
    }
    fail(d, PJ_DAMAGED, "corrupt image data: a bad Huffman code in scan %d", d->image->scans);
    return 0;
}

static void check_not_past_end(decoder *d) {
    if (d->nbits < d->padding)
        fail(d, PJ_DAMAGED, "corrupt image data: scan %d ends before its last block", d->image->scans);
}

/* A scan's data starts, or starts again after a restart marker: no bits held. */
static void reset_bits(decoder *d) {
    d->bits = 0;
    d->nbits = d->padding = 0;
}

static void restart(decoder *d, int expected) {
    check_not_past_end(d);
    reset_bits(d);
    /* The bytes left before the marker are the last byte's padding bits, already read. */
    if (d->pos + 1 >= d->size || d->data[d->pos] != 0xFF)
        fail(d, PJ_DAMAGED, "corrupt image data: a restart marker is missing in scan %d", d->image->scans);
    d->pos = past_fill(d, d->pos);
    if (d->pos >= d->size || d->data[d->pos] != 0xD0 + expected)
        fail(d, PJ_DAMAGED, "corrupt image data: a restart marker is missing or out of order in scan %d",
             d->image->scans);
    d->pos++;
    d->eobrun = 0;
    for (int i = 0; i < PJ_MAX_COMPONENTS; i++) d->predictor[i] = 0;
}

static inline int16_t *kept(decoder *d, int c, int bx, int by) {
    pj_image *im = d->image;
    return im->coef[c] + ((size_t)by * (size_t)im->blocks_w[c] + (size_t)bx) * (size_t)(im->kx[c] * im->ky[c]);
}

static inline uint64_t *nonzero_bits(decoder *d, int c, int bx, int by) {
    return d->image->nonzero[c] + (size_t)by * (size_t)d->image->blocks_w[c] + (size_t)bx;
}

static void dc_block(decoder *d, int c, int index, int bx, int by) {
    int16_t *coef = kept(d, c, bx, by);
    if (d->ah == 0) {
        int s = decode(d, &d->dc[d->dc_table[index]]);
        int32_t diff = extend(get_bits(d, s), s);
        d->predictor[index] += diff;
        if (d->predictor[index] > 32767 || d->predictor[index] < -32768)
            fail(d, PJ_DAMAGED, "corrupt image data: a DC value out of range in scan %d", d->image->scans);
        coef[0] = (int16_t)(uint16_t)((uint32_t)d->predictor[index] << d->al);
    } else if (get_bits(d, 1)) {
        coef[0] = (int16_t)(uint16_t)((uint16_t)coef[0] | (1u << d->al));
    }
}

static inline void skip_bits(decoder *d, int n) {
    while (n > 0) {
        int step = n < 48 ? n : 48;
        fill(d);
        d->nbits -= step;
        n -= step;
    }
}

static void set_coefficient(decoder *d, int c, int16_t *coef, uint64_t *bits, int k, int32_t value) {
    *bits |= (uint64_t)1 << k;
    int index = d->keep[c][k];
    if (index >= 0) coef[index] = (int16_t)(uint16_t)(uint32_t)value;
}

static void ac_first_block(decoder *d, int c, int bx, int by) {
    if (d->eobrun > 0) {
        d->eobrun--;
        return;
    }
    int16_t *coef = kept(d, c, bx, by);
    uint64_t *bits = nonzero_bits(d, c, bx, by);
    const huffman *t = &d->ac[d->ac_table[0]];
    for (int k = d->ss; k <= d->se; k++) {
        int rs = decode(d, t), r = rs >> 4, s = rs & 15;
        if (s) {
            k += r;
            if (k > d->se) fail(d, PJ_DAMAGED, "corrupt image data: a coefficient past its band in scan %d",
                                d->image->scans);
            if (d->keep[c][k] >= 0) {
                set_coefficient(d, c, coef, bits, k, extend(get_bits(d, s), s) * (1 << d->al));
            } else {
                skip_bits(d, s);
                *bits |= (uint64_t)1 << k;
            }
        } else if (r == 15) {
            k += 15;
            if (k > d->se) fail(d, PJ_DAMAGED, "corrupt image data: a run past its band in scan %d",
                                d->image->scans);
        } else {
            d->eobrun = (1 << r) + (int32_t)get_bits(d, r) - 1;
            break;
        }
    }
}

/* Bits first..last (zigzag positions), first <= last + 1. */
static inline uint64_t positions(int first, int last) {
    if (first > last) return 0;
    uint64_t upto_last = last == 63 ? ~(uint64_t)0 : ((uint64_t)1 << (last + 1)) - 1;
    return upto_last & ~(((uint64_t)1 << first) - 1);
}

/* Read the correction bits of the nonzero coefficients at `refined` (a set of positions), in order. Only kept
 * coefficients take theirs; the others' bits are skipped together. */
static inline void refine(decoder *d, int c, int16_t *coef, uint64_t refined, int32_t p1) {
    uint64_t kept_refined = refined & d->kept_positions[c];
    if (kept_refined == 0) {
        skip_bits(d, __builtin_popcountll(refined));
        return;
    }
    while (refined) {
        int k = __builtin_ctzll(refined);
        refined &= refined - 1;
        if (get_bits(d, 1)) {
            int index = d->keep[c][k];
            if (index >= 0) {
                int32_t value = coef[index];
                if ((value & p1) == 0) coef[index] = (int16_t)(value >= 0 ? value + p1 : value - p1);
            }
        }
    }
}

static void ac_refine_block(decoder *d, int c, int bx, int by) {
    int16_t *coef = kept(d, c, bx, by);
    uint64_t *bits = nonzero_bits(d, c, bx, by);
    const huffman *t = &d->ac[d->ac_table[0]];
    int32_t p1 = 1 << d->al;
    int k = d->ss;
    if (d->eobrun == 0) {
        while (k <= d->se) {
            int rs = decode(d, t), r = rs >> 4, s = rs & 15;
            int32_t value = 0;
            if (s) {
                if (s != 1) fail(d, PJ_DAMAGED, "corrupt image data: a bad refinement in scan %d", d->image->scans);
                value = get_bits(d, 1) ? p1 : -p1;
            } else if (r != 15) {
                d->eobrun = (1 << r) + (int32_t)get_bits(d, r);
                break;
            }
            /* Refine the nonzero coefficients on the way to the (r+1)-th still-zero one (not past the band). */
            uint64_t zeros = ~*bits & positions(k, d->se);
            for (int i = 0; i < r && zeros; i++) zeros &= zeros - 1;
            int stop = zeros ? __builtin_ctzll(zeros) : d->se + 1;
            refine(d, c, coef, *bits & positions(k, stop - 1), p1);
            k = stop;
            if (s) {
                if (k > d->se) fail(d, PJ_DAMAGED, "corrupt image data: a coefficient past its band in scan %d",
                                    d->image->scans);
                set_coefficient(d, c, coef, bits, k, value);
            }
            k++; /* past the new coefficient, or the zero run's last zero */
        }
    }
    if (d->eobrun > 0) {
        refine(d, c, coef, *bits & positions(k, d->se), p1);
        d->eobrun--;
    }
}

/* Before each MCU of a scan: read the restart marker due after every `restart_interval` MCUs. */
static void next_mcu(decoder *d, int *restarts, int *mcus_left) {
    if (!d->restart_interval) return;
    if (*mcus_left == 0) {
        restart(d, (*restarts)++ & 7);
        *mcus_left = d->restart_interval;
    }
    (*mcus_left)--;
}

static void read_scan(decoder *d, size_t at, size_t length) {
    const uint8_t *p = d->data + at;
    pj_image *im = d->image;
    if (!d->frame_read) fail(d, PJ_DAMAGED, "image data before the frame header");
    if (++im->scans > PJ_MAX_SCANS) fail(d, PJ_DAMAGED, "more than %d scans", PJ_MAX_SCANS);
    if (length < 1 || p[0] < 1 || p[0] > 4 || length != 4 + 2 * (size_t)p[0]) fail(d, PJ_DAMAGED, "bad scan header");
    d->scan_components = p[0];
    for (int i = 0; i < d->scan_components; i++) {
        int c = 0;
        while (c < im->components && im->id[c] != p[1 + 2 * i]) c++;
        if (c == im->components) fail(d, PJ_DAMAGED, "a scan names a component the frame does not have");
        for (int j = 0; j < i; j++)
            if (d->scan_comp[j] == c) fail(d, PJ_DAMAGED, "a scan names a component twice");
        d->scan_comp[i] = c;
        d->dc_table[i] = p[2 + 2 * i] >> 4; /* each checked below only if the scan uses it, as libjpeg does */
        d->ac_table[i] = p[2 + 2 * i] & 15;
    }
    const uint8_t *q = p + 1 + 2 * d->scan_components;
    d->ss = q[0];
    d->se = q[1];
    d->ah = q[2] >> 4;
    d->al = q[2] & 15;
    if (d->ss == 0 ? d->se != 0 : (d->se < d->ss || d->se > 63 || d->scan_components != 1) || d->al > 13 ||
        (d->ah != 0 && d->al != d->ah - 1))
        fail(d, PJ_DAMAGED, "bad progression (Ss=%d Se=%d Ah=%d Al=%d)", d->ss, d->se, d->ah, d->al);
    for (int i = 0; i < d->scan_components; i++) {
        int c = d->scan_comp[i];
        if (d->ss > 0 || d->ah == 0) { /* a DC refinement reads no Huffman codes */
            int selector = d->ss > 0 ? d->ac_table[i] : d->dc_table[i];
            if (selector > 3) fail(d, PJ_DAMAGED, "bad scan header");
            const huffman *table = d->ss > 0 ? &d->ac[selector] : &d->dc[selector];
            if (!table->defined) fail(d, PJ_DAMAGED, "a scan uses a Huffman table that is not defined");
            if (table->invalid) fail(d, PJ_DAMAGED, "bad Huffman table");
        }
        if (d->ss > 0 && !d->dc_seen[c]) fail(d, PJ_DAMAGED, "an AC scan before the component's first DC scan");
        if (d->ss == 0 && d->ah == 0) d->dc_seen[c] = 1;
        if (!d->latched[c]) {
            if (!d->quant_defined[d->tq[c]]) fail(d, PJ_DAMAGED, "a component's quantization table is not defined");
            for (int k = 0; k < 64; k++) im->quant[c][natural_order[k]] = d->quant[d->tq[c]][k];
            d->latched[c] = 1;
        }
        d->predictor[i] = 0;
    }
    d->eobrun = 0;
    reset_bits(d);

    int restarts = 0, mcus_left = d->restart_interval;
    if (d->scan_components == 1) {
        /* One block per MCU, over the component's own blocks (not the padded grid). */
        int c = d->scan_comp[0];
        int w = ((im->width * im->h[c] + im->hmax - 1) / im->hmax + 7) / 8;
        int h = ((im->height * im->v[c] + im->vmax - 1) / im->vmax + 7) / 8;
        for (int by = 0; by < h; by++)
            for (int bx = 0; bx < w; bx++) {
                next_mcu(d, &restarts, &mcus_left);
                if (d->ss == 0)
                    dc_block(d, c, 0, bx, by);
                else if (d->ah == 0)
                    ac_first_block(d, c, bx, by);
                else
                    ac_refine_block(d, c, bx, by);
                check_not_past_end(d);
            }
    } else {
        for (int my = 0; my < im->mcus_h; my++)
            for (int mx = 0; mx < im->mcus_w; mx++) {
                next_mcu(d, &restarts, &mcus_left);
                for (int i = 0; i < d->scan_components; i++) {
                    int c = d->scan_comp[i];
                    for (int y = 0; y < im->v[c]; y++)
                        for (int x = 0; x < im->h[c]; x++) dc_block(d, c, i, mx * im->h[c] + x, my * im->v[c] + y);
                }
                check_not_past_end(d);
            }
    }
    /* The scan's data ends at the next marker: skip its last bits and any stray bytes to it. In the data, FF
     * runs before a 00 (stuffing) or a restart marker are not markers. */
    for (;;) {
        while (d->pos < d->size && d->data[d->pos] != 0xFF) d->pos++;
        size_t after = past_fill(d, d->pos);
        if (after >= d->size) fail(d, PJ_DAMAGED, "the image data ends without an end-of-image marker");
        if (d->data[after] != 0x00 && (d->data[after] < 0xD0 || d->data[after] > 0xD7)) break;
        d->pos = after + 1;
    }
}

/* Walk the markers; with `decode_scans`, decode each scan, else stop at the frame header. */
static int run(pj_image *image, const uint8_t *data, size_t size, int decode_scans) {
    decoder d_storage; /* 12 KB, on the caller's thread's stack: calls from two threads do not meet */
    decoder *d = &d_storage;
    memset(d, 0, sizeof *d);
    d->data = data;
    d->size = size;
    d->image = image;
    image->error[0] = 0;
    image->scans = 0;
    int code = setjmp(d->fail);
    if (code) return code;
    if (!decode_scans) {
        image->jfif = 0;
        image->adobe_transform = -1;
    }
    if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) fail(d, PJ_DAMAGED, "not a JPEG");
    d->pos = 2;
    for (;;) {
        int marker = read_marker(d);
        size_t body, length;
        if (marker == 0xD9) break; /* EOI */
        if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x00)
            fail(d, PJ_DAMAGED, "unexpected marker 0xFF%02X", marker);
        if (marker == 0x01) continue; /* TEM: no segment */
        read_segment(d, &body, &length);
        if (marker == 0xC2) {
            read_frame(d, body, length, decode_scans);
        } else if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
            fail(d, PJ_UNSUPPORTED, "not a progressive Huffman-coded JPEG (SOF 0x%02X)", marker);
        } else if (marker == 0xC4) {
            read_huffman_tables(d, body, length);
        } else if (marker == 0xCC) {
            fail(d, PJ_UNSUPPORTED, "arithmetic coding");
        } else if (marker == 0xDB) {
            read_quant_tables(d, body, length);
        } else if (marker == 0xDD) {
            if (length != 2) fail(d, PJ_DAMAGED, "bad restart interval header");
            d->restart_interval = (data[body] << 8) | data[body + 1];
        } else if (marker == 0xE0 && length >= 5 && memcmp(data + body, "JFIF", 5) == 0) {
            image->jfif = decode_scans ? image->jfif : 1;
        } else if (marker == 0xEE && length >= 12 && memcmp(data + body, "Adobe", 5) == 0) {
            image->adobe_transform = decode_scans ? image->adobe_transform : data[body + 11];
        } else if (marker == 0xDA) {
            if (!d->frame_read) fail(d, PJ_DAMAGED, "image data before the frame header");
            if (!decode_scans) return PJ_OK; /* libjpeg, too, reads the colour markers up to here */
            read_scan(d, body, length);
        }
    }
    if (!d->frame_read || image->scans == 0) fail(d, PJ_DAMAGED, "no image data");
    for (int c = 0; c < image->components; c++)
        if (!d->dc_seen[c]) fail(d, PJ_DAMAGED, "a component has no DC scan");
    return PJ_OK;
}

int pj_header(pj_image *image, const uint8_t *data, size_t size) { return run(image, data, size, 0); }

int pj_decode(pj_image *image, const uint8_t *data, size_t size) { return run(image, data, size, 1); }

int pj_output(const pj_image *image, int c, int first, int count, uint8_t *out, size_t stride, size_t out_size) {
    if (c < 0 || c >= image->components || first < 0 || count < 0 || count > image->mcus_h - first)
        return PJ_UNSUPPORTED;
    int kx = image->kx[c], ky = image->ky[c], kk = kx * ky;
    if (!kept_size_ok(kx, ky)) return PJ_UNSUPPORTED;
    size_t out_rows = (size_t)count * (size_t)image->v[c] * (size_t)ky;
    if ((size_t)image->blocks_w[c] * (size_t)kx > stride || out_rows > out_size / stride) return PJ_UNSUPPORTED;
    /* basis[x][u]: the mean, over the 8/n full-size pixels output pixel x covers, of the 8-point inverse DCT's
     * basis function u (JPEG's c(u)/2 cos((2i+1)u pi/16)); at n = 8 the inverse DCT itself, at n = 1 the DC term. */
    float bx[8][8], by[8][8], deq[64];
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? ky : kx;
        float(*basis)[8] = pass ? by : bx;
        int span = 8 / n;
        for (int x = 0; x < n; x++)
            for (int u = 0; u < n; u++) {
                double cu = u == 0 ? 1.0 / 1.4142135623730951 : 1.0, sum = 0;
                for (int i = x * span; i < (x + 1) * span; i++)
                    sum += cu * cos((2 * i + 1) * u * 3.14159265358979323846 / 16) / 2.0;
                basis[x][u] = (float)(sum / span);
            }
    }
    for (int v = 0; v < ky; v++)
        for (int u = 0; u < kx; u++) deq[v * kx + u] = image->quant[c][v * 8 + u];
    int rows = image->v[c];
    for (int by_index = first * rows; by_index < (first + count) * rows; by_index++) {
        uint8_t *row_out = out + (size_t)(by_index - first * rows) * (size_t)ky * stride;
        const int16_t *coef = image->coef[c] + (size_t)by_index * (size_t)image->blocks_w[c] * (size_t)kk;
        for (int bxi = 0; bxi < image->blocks_w[c]; bxi++, coef += kk) {
            float g[64], tmp[64];
            for (int i = 0; i < kk; i++) g[i] = (float)coef[i] * deq[i];
            for (int v = 0; v < ky; v++) /* rows: tmp[v][x] = sum_u bx[x][u] g[v][u] */
                for (int x = 0; x < kx; x++) {
                    float sum = 0;
                    for (int u = 0; u < kx; u++) sum += bx[x][u] * g[v * kx + u];
                    tmp[v * kx + x] = sum;
                }
            for (int y = 0; y < ky; y++) {
                uint8_t *pixel = row_out + (size_t)y * stride + (size_t)bxi * (size_t)kx;
                for (int x = 0; x < kx; x++) {
                    float sum = 128.5f;
                    for (int v = 0; v < ky; v++) sum += by[y][v] * tmp[v * kx + x];
                    pixel[x] = sum <= 0 ? 0 : sum >= 255 ? 255 : (uint8_t)sum;
                }
            }
        }
    }
    return PJ_OK;
}
