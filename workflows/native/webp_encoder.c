/*
 * The resize step's WebP encoder, called through ctypes (happypath_workflow/webp_encoder.py): libwebp 1.5.0
 * built with libwebp-pruned-rd.patch, at method 3, whose rate-distortion search the patch prunes. Pillow's own
 * libwebp offers method 2 (over sharp's file size on one shared photo) or the full method 3 (twice the time);
 * see bench/README.md.
 */
#include "webp_encoder.h"

#include "webp/encode.h"

HP_EXPORT int hp_webp_encode(const uint8_t *rgb, int width, int height, int stride, float quality, int method,
                             uint8_t **output, size_t *output_size) {
    WebPConfig config;
    WebPPicture picture;
    WebPMemoryWriter writer;
    int error;

    *output = NULL;
    *output_size = 0;
    if (!WebPConfigInit(&config) || !WebPPictureInit(&picture)) return -1;
    config.quality = quality;
    config.method = method;
    if (!WebPValidateConfig(&config)) return -1;

    picture.width = width;
    picture.height = height;
    picture.use_argb = 0; /* converted to YUV as it is imported: the encoder's own input */
    if (!WebPPictureImportRGB(&picture, rgb, stride)) {
        error = picture.error_code != VP8_ENC_OK ? (int)picture.error_code : (int)VP8_ENC_ERROR_OUT_OF_MEMORY;
        WebPPictureFree(&picture);
        return error;
    }
    WebPMemoryWriterInit(&writer);
    picture.writer = WebPMemoryWrite;
    picture.custom_ptr = &writer;
    if (!WebPEncode(&config, &picture)) {
        error = (int)picture.error_code;
        WebPPictureFree(&picture);
        WebPMemoryWriterClear(&writer);
        return error != VP8_ENC_OK ? error : (int)VP8_ENC_ERROR_OUT_OF_MEMORY;
    }
    WebPPictureFree(&picture);
    *output = writer.mem;
    *output_size = writer.size;
    return 0;
}

HP_EXPORT void hp_webp_free(uint8_t *data) { WebPFree(data); }
