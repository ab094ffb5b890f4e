// image.h: reading and writing images (stb_image / stb_image_write) and the faceswap tensor convention.
// Images on disk are RGB(A) or grey; the networks see BGR in [-1, 1], (3, H, W) per image (spec §1).
// Writes are atomic: a temporary file in the same folder, then rename, so a crash never leaves half a PNG.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace fs {

struct Image {
    int width = 0, height = 0, channels = 0;  ///< channels 1 (grey), 3 (RGB) or 4 (RGBA)
    std::vector<uint8_t> pixels;              ///< row-major, interleaved (H, W, channels)
};

/// Reads a PNG/JPEG/BMP/...; `channels` 0 keeps the file's, else converts to 1/3/4. Throws naming the file and
/// stb's reason on a missing or corrupt file.
Image read_image(const std::string& path, int channels = 3);
/// Writes a PNG atomically.
void write_png(const std::string& path, const Image& img);
/// Writes atomically in the format the extension names (case-insensitive): .png, .jpg / .jpeg (baseline JPEG at
/// `jpeg_quality`, 1..100; stb always stores 3 components, so grey comes back as 3 equal channels) or .bmp;
/// any other extension throws.
void write_image(const std::string& path, const Image& img, int jpeg_quality = 95);

/// RGB image -> (3, H, W) f32 BGR in [-1, 1] (x/255·2 − 1).
Tensor image_to_tensor(const Image& img);
/// (3, H, W) BGR in [-1, 1] -> RGB image (values clamped), or (1, H, W) / (H, W) in [0, 1] -> grey.
Image tensor_to_image(const Tensor& t);

}  // namespace fs
