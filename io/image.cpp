// image.cpp: stb-backed image I/O (libstb from Debian provides the implementations).
#include "io/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace fs {

Image read_image(const std::string& path, int channels) {
    FS_CHECK(channels >= 0 && channels <= 4 && channels != 2, "read_image: channels must be 0, 1, 3 or 4, got ",
             channels);
    FS_CHECK(std::filesystem::exists(path), "read_image: no such file: ", path);
    int w = 0, h = 0, c = 0;
    unsigned char* data = stbi_load(path.c_str(), &w, &h, &c, channels);
    FS_CHECK(data != nullptr, "read_image: cannot decode ", path, ": ", stbi_failure_reason());
    Image img;
    img.width = w;
    img.height = h;
    img.channels = channels ? channels : c;
    img.pixels.assign(data, data + size_t(w) * size_t(h) * size_t(img.channels));
    stbi_image_free(data);
    return img;
}

void write_png(const std::string& path, const Image& img) {
    FS_CHECK(img.width > 0 && img.height > 0 && (img.channels == 1 || img.channels == 3 || img.channels == 4),
             "write_png: bad image ", img.width, "x", img.height, "x", img.channels, " for ", path);
    FS_CHECK(img.pixels.size() == size_t(img.width) * size_t(img.height) * size_t(img.channels),
             "write_png: pixel buffer size does not match ", img.width, "x", img.height, "x", img.channels);
    std::string tmp = path + ".tmp";
    int ok = stbi_write_png(tmp.c_str(), img.width, img.height, img.channels, img.pixels.data(),
                            img.width * img.channels);
    FS_CHECK(ok != 0, "write_png: cannot write ", tmp);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    FS_CHECK(!ec, "write_png: cannot rename ", tmp, " to ", path, ": ", ec.message());
}

void write_image(const std::string& path, const Image& img, int jpeg_quality) {
    std::string ext = std::filesystem::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (ext == ".png") return write_png(path, img);
    FS_CHECK(ext == ".jpg" || ext == ".jpeg" || ext == ".bmp", "write_image: cannot tell the format of ", path,
             " (extensions: .png, .jpg, .jpeg, .bmp)");
    FS_CHECK(jpeg_quality >= 1 && jpeg_quality <= 100, "write_image: JPEG quality must be 1..100, got ", jpeg_quality);
    FS_CHECK(img.width > 0 && img.height > 0 && (img.channels == 1 || img.channels == 3 || img.channels == 4),
             "write_image: bad image ", img.width, "x", img.height, "x", img.channels, " for ", path);
    FS_CHECK(img.pixels.size() == size_t(img.width) * size_t(img.height) * size_t(img.channels),
             "write_image: pixel buffer size does not match ", img.width, "x", img.height, "x", img.channels);
    std::string tmp = path + ".tmp";
    int ok = ext == ".bmp"
                 ? stbi_write_bmp(tmp.c_str(), img.width, img.height, img.channels, img.pixels.data())
                 : stbi_write_jpg(tmp.c_str(), img.width, img.height, img.channels, img.pixels.data(), jpeg_quality);
    FS_CHECK(ok != 0, "write_image: cannot write ", tmp);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    FS_CHECK(!ec, "write_image: cannot rename ", tmp, " to ", path, ": ", ec.message());
}

Tensor image_to_tensor(const Image& img) {
    FS_CHECK(img.channels == 3, "image_to_tensor: needs an RGB image, got ", img.channels, " channels");
    Tensor t = Tensor::empty({3, img.height, img.width});
    float* p = t.data<float>();
    int64_t plane = int64_t(img.height) * img.width;
    for (int64_t i = 0; i < plane; ++i)
        for (int c = 0; c < 3; ++c)  // channel c of the tensor is BGR: file channel 2 - c
            p[c * plane + i] = float(img.pixels[size_t(i * 3 + (2 - c))]) / 255.f * 2.f - 1.f;
    return t;
}

Image tensor_to_image(const Tensor& t_) {
    Tensor t = t_.to(DType::f32).contiguous();
    Image img;
    if (t.dim() == 2) t = t.view({1, t.size(0), t.size(1)});
    FS_CHECK(t.dim() == 3 && (t.size(0) == 3 || t.size(0) == 1), "tensor_to_image: needs (3,H,W) or (1,H,W), got ",
             t.str());
    img.channels = int(t.size(0));
    img.height = int(t.size(1));
    img.width = int(t.size(2));
    img.pixels.resize(size_t(t.numel()));
    const float* p = t.data<float>();
    int64_t plane = int64_t(img.height) * img.width;
    auto to8 = [](float v) { return uint8_t(std::lround(std::clamp(v, 0.f, 1.f) * 255.f)); };
    for (int64_t i = 0; i < plane; ++i) {
        if (img.channels == 1) img.pixels[size_t(i)] = to8(p[i]);
        else
            for (int c = 0; c < 3; ++c) img.pixels[size_t(i * 3 + (2 - c))] = to8((p[c * plane + i] + 1.f) * 0.5f);
    }
    return img;
}

}  // namespace fs
