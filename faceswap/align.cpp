// align.cpp: see align.h.
#include "faceswap/align.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace fs {

// §7.2's template, given there as (row, column) fractions; stored here as (x = column, y = row).
const std::array<Point2, 5> k_face_template = {{{0.32592693, 0.31339227},
                                                {0.72284537, 0.31075140},
                                                {0.51872969, 0.55236831},
                                                {0.37262484, 0.77524200},
                                                {0.67729576, 0.77596136}}};

SquareBox square_box(const FaceDetection& d, int img_w, int img_h) {
    FS_CHECK(img_w > 0 && img_h > 0, "square_box: empty image");
    // process_mtcnn_bbox: w = int(right − left), h = int(bottom − top), length = (w + h) / 2, integer centre,
    // half = length // 2 (floor division of a float).
    int w = int(d.x2 - d.x1), h = int(d.y2 - d.y1);
    double half = std::floor((w + h) / 2.0 / 2.0);
    int cx = int((d.x1 + d.x2) / 2), cy = int((d.y1 + d.y2) / 2);
    SquareBox b;
    b.x0 = int(std::max(0.0, cx - half));
    b.x1 = int(std::min(double(img_w), cx + half));
    b.y0 = int(std::max(0.0, cy - half));
    b.y1 = int(std::min(double(img_h), cy + half));
    return b;
}

Alignment align_face(const FaceDetection& d, int img_w, int img_h, int size) {
    FS_CHECK(size >= 8, "align_face: the aligned size must be at least 8 px, got ", size);
    Alignment a;
    a.box = square_box(d, img_w, img_h);
    a.size = size;
    const int cw = a.box.width(), ch = a.box.height();
    FS_CHECK(cw > 1 && ch > 1, "align_face: the face's square crop is empty (", cw, "x", ch, ")");
    // Source points relative to the crop and the template in crop pixels, both truncated to int (the original's
    // landmarks_match_mtcnn works in the crop, whose rows/columns scale the template separately).
    std::vector<Point2> src, dst;
    for (size_t k = 0; k < 5; ++k) {
        src.push_back({std::trunc(d.points[k].x - a.box.x0), std::trunc(d.points[k].y - a.box.y0)});
        dst.push_back({std::trunc(k_face_template[k].x * cw), std::trunc(k_face_template[k].y * ch)});
    }
    Affine fit = umeyama(src, dst, true);       // crop -> aligned crop (its own size)
    Affine back = umeyama(dst, src, true);      // the original's inverse: a second fit, not an inversion
    // Compose: frame -> crop (shift), crop -> aligned crop (fit), aligned crop -> size×size (scale).
    const double sx = double(size) / cw, sy = double(size) / ch;
    const double ox = a.box.x0, oy = a.box.y0;
    a.to_face = {sx * fit[0], sx * fit[1], sx * (fit[2] - fit[0] * ox - fit[1] * oy),
                 sy * fit[3], sy * fit[4], sy * (fit[5] - fit[3] * ox - fit[4] * oy)};
    // size×size -> aligned crop (1/s), aligned crop -> crop (back), crop -> frame (+offset).
    a.to_frame = {back[0] / sx, back[1] / sy, back[2] + ox, back[3] / sx, back[4] / sy, back[5] + oy};
    return a;
}

ImageF warp_to_face(const ImageF& frame, const Alignment& a) {
    return warp_affine(frame, a.to_face, a.size, a.size, Border::replicate);
}

ImageF crop_box(const ImageF& frame, const SquareBox& b) {
    FS_CHECK(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= frame.w && b.y1 <= frame.h && b.x1 > b.x0 && b.y1 > b.y0,
             "crop_box: box [", b.x0, ",", b.x1, ")x[", b.y0, ",", b.y1, ") is not inside the ", frame.w, "x",
             frame.h, " image");
    ImageF out(b.height(), b.width(), frame.c);
    for (int y = 0; y < out.h; ++y)
        std::copy_n(&frame.px[(size_t(b.y0 + y) * size_t(frame.w) + size_t(b.x0)) * size_t(frame.c)],
                    size_t(out.w) * size_t(frame.c), &out.px[size_t(y) * size_t(out.w) * size_t(frame.c)]);
    return out;
}

ImageF eye_mask(const FaceDetection& d, const Alignment& a) {
    const int cw = a.box.width(), ch = a.box.height();
    // Drawn in the square crop, as the original (bm[int(r − h/15):int(r + h/15), int(c − w/8):int(c + w/8)]).
    ImageF crop(ch, cw, 1, 0.f);
    for (size_t k = 0; k < 2; ++k) {
        double r = std::trunc(d.points[k].y - a.box.y0), c = std::trunc(d.points[k].x - a.box.x0);
        int r0 = std::max(0, int(r - ch / 15.0)), r1 = std::min(ch, int(r + ch / 15.0));
        int c0 = std::max(0, int(c - cw / 8.0)), c1 = std::min(cw, int(c + cw / 8.0));
        for (int y = r0; y < r1; ++y)
            for (int x = c0; x < c1; ++x) crop.at(y, x, 0) = 255.f;
    }
    // Crop -> face: to_face shifted by the crop's origin.
    Affine m = a.to_face;
    m[2] += m[0] * a.box.x0 + m[1] * a.box.y0;
    m[5] += m[3] * a.box.x0 + m[4] * a.box.y0;
    return warp_affine(crop, m, a.size, a.size, Border::replicate);
}

ImageF to_float_image(const Image& img) {
    FS_CHECK(img.width > 0 && img.height > 0 && img.channels > 0, "to_float_image: empty image");
    ImageF f(img.height, img.width, img.channels);
    for (size_t i = 0; i < img.pixels.size(); ++i) f.px[i] = img.pixels[i];
    return f;
}

Image to_u8_image(const ImageF& img) {
    Image out;
    out.width = img.w, out.height = img.h, out.channels = img.c;
    out.pixels.resize(img.px.size());
    for (size_t i = 0; i < img.px.size(); ++i) out.pixels[i] = uint8_t(std::clamp(std::nearbyint(img.px[i]), 0.f, 255.f));
    return out;
}

int auto_downscale_factor(int w, int h) {
    const long long px = (long long)w * h;
    if (px >= 1920LL * 1080) return 4;
    if (px >= 1280LL * 720) return 3;
    if (px >= 858LL * 480) return 2;
    return 1;
}

std::vector<FaceDetection> detect_faces(const Mtcnn& mtcnn, const Image& rgb, const DetectOptions& opt) {
    const int f = opt.auto_downscale ? auto_downscale_factor(rgb.width, rgb.height) : 1;
    std::vector<FaceDetection> dets;
    if (f == 1) {
        dets = mtcnn.detect(rgb, opt.mtcnn);
    } else {
        // The original: cv2.resize(image, (w // f, h // f)) (INTER_LINEAR), then coordinates × f.
        Image small = to_u8_image(resize_bilinear(to_float_image(rgb), rgb.height / f, rgb.width / f));
        dets = mtcnn.detect(small, opt.mtcnn);
        for (FaceDetection& d : dets) {
            d.x1 *= f, d.y1 *= f, d.x2 *= f, d.y2 *= f;
            for (Point2& p : d.points) p.x *= f, p.y *= f;
        }
    }
    std::vector<FaceDetection> kept;
    for (const FaceDetection& d : dets)
        if (square_box(d, rgb.width, rgb.height).area() >= opt.min_face_area) kept.push_back(d);
    return kept;
}

}  // namespace fs
