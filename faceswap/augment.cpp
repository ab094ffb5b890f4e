// augment.cpp: the data-augmentation image operations (see augment.h for the conventions).
// The OpenCV functions the original calls are re-created from their documented semantics; the tests in
// tests/test_data.cpp pin each one down with hand-computed values.
#include "faceswap/augment.h"

#include "kernels/fast.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

namespace fs {

namespace {
constexpr double k_pi = 3.14159265358979323846;
}  // namespace

// --- image type -------------------------------------------------------------------------------------------------

ImageF::ImageF(int h_, int w_, int c_, float value) : h(h_), w(w_), c(c_) {
    FS_CHECK(h_ >= 0 && w_ >= 0 && c_ >= 0, "ImageF: negative size ", h_, "x", w_, "x", c_);
    px.assign(size_t(h_) * size_t(w_) * size_t(c_), value);
}

ImageF image_to_bgr_f(const Image& img) {
    FS_CHECK(img.channels == 1 || img.channels == 3 || img.channels == 4, "image_to_bgr_f: unsupported channel count ",
             img.channels);
    ImageF out(img.height, img.width, 3);
    size_t n = size_t(img.width) * size_t(img.height);
    for (size_t i = 0; i < n; ++i) {
        const uint8_t* p = &img.pixels[i * size_t(img.channels)];
        if (img.channels == 1) {
            out.px[i * 3] = out.px[i * 3 + 1] = out.px[i * 3 + 2] = float(p[0]);
        } else {  // the file's RGB -> BGR
            out.px[i * 3 + 0] = float(p[2]);
            out.px[i * 3 + 1] = float(p[1]);
            out.px[i * 3 + 2] = float(p[0]);
        }
    }
    return out;
}

Image bgr_f_to_image(const ImageF& img) {
    FS_CHECK(img.c == 3, "bgr_f_to_image: needs 3 channels, got ", img.c);
    Image out;
    out.width = img.w;
    out.height = img.h;
    out.channels = 3;
    out.pixels.resize(img.px.size());
    size_t n = size_t(img.w) * size_t(img.h);
    auto to8 = [](float v) { return uint8_t(std::lround(std::clamp(v, 0.f, 255.f))); };
    for (size_t i = 0; i < n; ++i)
        for (int ch = 0; ch < 3; ++ch) out.pixels[i * 3 + size_t(ch)] = to8(img.px[i * 3 + size_t(2 - ch)]);
    return out;
}

ImageF slice_channels(const ImageF& img, int c0, int c1) {
    FS_CHECK(0 <= c0 && c0 < c1 && c1 <= img.c, "slice_channels: [", c0, ", ", c1, ") out of ", img.c, " channels");
    if (c0 == 0 && c1 == img.c) return img;
    ImageF out(img.h, img.w, c1 - c0);
    size_t n = size_t(img.w) * size_t(img.h);
    for (size_t i = 0; i < n; ++i)
        for (int ch = c0; ch < c1; ++ch)
            out.px[i * size_t(out.c) + size_t(ch - c0)] = img.px[i * size_t(img.c) + size_t(ch)];
    return out;
}

void quantize_u8(ImageF& img) {
    // Round half to even, as cvRound/saturate_cast do, then saturate to 0..255. Clamped to [−1, 256] first, a value
    // rounds exactly by adding and subtracting 1.5·2^23 (the float spacing there is 1, and the default rounding
    // mode is to nearest, ties to even): the same result as std::nearbyint without its library call per element
    // (this runs once per pixel channel of every sample). min/max in this operand order keep a NaN a NaN.
    constexpr float k_round = 12582912.f;  // 1.5·2^23
    for (float& v : img.px) {
        const float c = std::min(std::max(v, -1.f), 256.f);
        v = std::min(std::max((c + k_round) - k_round, 0.f), 255.f);
    }
}

// --- sampling ---------------------------------------------------------------------------------------------------

namespace {

/// The bilinear blend of four taps, the one formula of every sample below.
inline float blend(float ax, float ay, float v00, float v01, float v10, float v11) {
    return (1.f - ay) * ((1.f - ax) * v00 + ax * v01) + ay * ((1.f - ax) * v10 + ax * v11);
}

/// Bilinear sample of every channel of `s` at (x, y) into out[0..c). A tap outside the image is `fill` for a
/// constant border, the nearest edge pixel for replicate. The specification of the sampling; the fast paths
/// below give the same floats where all four taps are inside.
void sample_bilinear(const ImageF& s, double x, double y, Border border, float fill, float* out) {
    if (!std::isfinite(x) || !std::isfinite(y)) {
        for (int ch = 0; ch < s.c; ++ch) out[ch] = fill;
        return;
    }
    // Far outside, every tap is outside (constant) or the same edge pixel (replicate); clamping keeps the
    // integer conversion in range without changing the result.
    x = std::clamp(x, -2.0, double(s.w) + 1.0);
    y = std::clamp(y, -2.0, double(s.h) + 1.0);
    double xf = std::floor(x), yf = std::floor(y);
    int x0 = int(xf), y0 = int(yf);
    float ax = float(x - xf), ay = float(y - yf);
    const float* taps[4];
    int xs[2] = {x0, x0 + 1}, ys[2] = {y0, y0 + 1};
    for (int j = 0; j < 2; ++j)
        for (int i = 0; i < 2; ++i) {
            int xi = xs[i], yi = ys[j];
            bool inside = xi >= 0 && xi < s.w && yi >= 0 && yi < s.h;
            if (!inside && border == Border::constant) {
                taps[j * 2 + i] = nullptr;
                continue;
            }
            xi = std::clamp(xi, 0, s.w - 1);
            yi = std::clamp(yi, 0, s.h - 1);
            taps[j * 2 + i] = &s.px[(size_t(yi) * size_t(s.w) + size_t(xi)) * size_t(s.c)];
        }
    for (int ch = 0; ch < s.c; ++ch) {
        float v00 = taps[0] ? taps[0][ch] : fill, v01 = taps[1] ? taps[1][ch] : fill;
        float v10 = taps[2] ? taps[2][ch] : fill, v11 = taps[3] ? taps[3][ch] : fill;
        out[ch] = blend(ax, ay, v00, v01, v10, v11);
    }
}

/// Four floats from p (an unaligned load), and blend() of four channels at once (p0, p1: the pixel's taps on its
/// two rows; the right-hand taps are c floats on).
typedef float v4 __attribute__((vector_size(16)));
inline v4 load4(const float* p) {
    v4 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline v4 blend4(float ax, float ay, const float* p0, const float* p1, size_t c) {
    return (1.f - ay) * ((1.f - ax) * load4(p0) + ax * load4(p0 + c)) +
           ay * ((1.f - ax) * load4(p1) + ax * load4(p1 + c));
}

/// Samples `s` at the n positions pos(i) -> (x, y) into out (c floats each): sample_bilinear's floats, with the
/// positions whose four taps are all inside (0 <= x < w - 1, the same for y; a NaN is not) blended straight from
/// the two source rows, four channels at a time where C (the channel count as a constant, 0: any) allows.
/// There floor is the truncation and no border applies, so the result is the same float for float: the same
/// multiplications and additions per channel, none fused (the library is built without FMA contraction).
template <int C, class Pos>
void sample_all(const ImageF& s, size_t n, Pos pos, Border border, float fill, float* out) {
    if (!fast_kernels()) {  // the specification: FS_REFERENCE_KERNELS=1, and the tests' other side
        for (size_t i = 0; i < n; ++i, out += s.c) {
            const auto [x, y] = pos(i);
            sample_bilinear(s, x, y, border, fill, out);
        }
        return;
    }
    const size_t c = size_t(s.c), row = size_t(s.w) * c;
    const float* end = s.px.data() + s.px.size();
    const double xmax = double(s.w - 1), ymax = double(s.h - 1);
    for (size_t i = 0; i < n; ++i, out += c) {
        const auto [x, y] = pos(i);
        if (!(x >= 0 && y >= 0 && x < xmax && y < ymax)) {
            sample_bilinear(s, x, y, border, fill, out);
            continue;
        }
        const int x0 = int(x), y0 = int(y);
        const float ax = float(x - double(x0)), ay = float(y - double(y0));
        const float* p0 = &s.px[size_t(y0) * row + size_t(x0) * c];
        const float* p1 = p0 + row;
        if constexpr (C == 6) {  // channels 0–3 and 2–5 (2 and 3 twice, the same floats)
            const v4 lo = blend4(ax, ay, p0, p1, 6), hi = blend4(ax, ay, p0 + 2, p1 + 2, 6);
            std::memcpy(out, &lo, sizeof lo);
            std::memcpy(out + 2, &hi, sizeof hi);
            continue;
        }
        if constexpr (C == 3) {  // four lanes: the fourth reads the next pixel and is overwritten by it
            if (i + 1 < n && p1 + 7 <= end) {
                const v4 v = blend4(ax, ay, p0, p1, 3);
                std::memcpy(out, &v, sizeof v);
                continue;
            }
        }
        for (size_t ch = 0; ch < c; ++ch) out[ch] = blend(ax, ay, p0[ch], p0[c + ch], p1[ch], p1[c + ch]);
    }
}

/// sample_all with the channel count as a constant for the counts the pipeline uses.
template <class Pos>
void sample_all(const ImageF& s, size_t n, Pos pos, Border border, float fill, float* out) {
    switch (s.c) {
        case 3: return sample_all<3>(s, n, pos, border, fill, out);
        case 6: return sample_all<6>(s, n, pos, border, fill, out);
        default: return sample_all<0>(s, n, pos, border, fill, out);
    }
}

/// OpenCV's INTER_LINEAR source index and weight along one axis (cv::resize, resize.cpp): half-pixel centres;
/// below 0 or at/after the last pixel the position is clamped to the edge with weight 0.
void resize_axis(int in, int out, std::vector<int>& i0, std::vector<int>& i1, std::vector<float>& frac) {
    double scale = double(in) / double(out);
    i0.resize(size_t(out));
    i1.resize(size_t(out));
    frac.resize(size_t(out));
    for (int d = 0; d < out; ++d) {
        double f = (d + 0.5) * scale - 0.5;
        int s = int(std::floor(f));
        double a = f - s;
        if (s < 0) s = 0, a = 0;
        if (s >= in - 1) s = in - 1, a = 0;
        i0[size_t(d)] = s;
        i1[size_t(d)] = std::min(s + 1, in - 1);
        frac[size_t(d)] = float(a);
    }
}

int reflect101(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * n - 2 - i;
    }
    return i;
}

}  // namespace

ImageF resize_bilinear(const ImageF& src, int out_h, int out_w) {
    FS_CHECK(src.h > 0 && src.w > 0 && src.c > 0, "resize_bilinear: empty source image");
    FS_CHECK(out_h > 0 && out_w > 0, "resize_bilinear: bad output size ", out_h, "x", out_w);
    // The same size lands every output on a source pixel centre with weight 0 for its neighbour: the source itself
    // (the formula would turn a −0 into +0, nothing else). Faces are mostly stored at the pipeline's 256 px.
    if (out_h == src.h && out_w == src.w && fast_kernels()) return src;
    std::vector<int> x0, x1, y0, y1;
    std::vector<float> fx, fy;
    resize_axis(src.w, out_w, x0, x1, fx);
    resize_axis(src.h, out_h, y0, y1, fy);
    ImageF out(out_h, out_w, src.c);
    const size_t C = size_t(src.c);
    for (int y = 0; y < out_h; ++y) {
        const float* r0 = &src.px[size_t(y0[size_t(y)]) * size_t(src.w) * C];
        const float* r1 = &src.px[size_t(y1[size_t(y)]) * size_t(src.w) * C];
        float ay = fy[size_t(y)];
        float* o = &out.px[size_t(y) * size_t(out_w) * C];
        for (int x = 0; x < out_w; ++x) {
            size_t a = size_t(x0[size_t(x)]) * C, b = size_t(x1[size_t(x)]) * C;
            float ax = fx[size_t(x)];
            for (size_t ch = 0; ch < C; ++ch) {
                float top = (1.f - ax) * r0[a + ch] + ax * r0[b + ch];
                float bot = (1.f - ax) * r1[a + ch] + ax * r1[b + ch];
                o[size_t(x) * C + ch] = (1.f - ay) * top + ay * bot;
            }
        }
    }
    return out;
}

namespace {
/// The pixels of `box` of warpAffine(src) into `out` (already sized), given the inverse matrix; with `flip`, output
/// column x takes the warp's column w−1−x (a horizontal flip after the warp, exactly).
void warp_box(const ImageF& src, const Affine& inv, Border border, float fill, const PixelBox& box, bool flip,
              ImageF& out) {
    FS_CHECK(0 <= box.x0 && box.x0 <= box.x1 && box.x1 <= out.w && 0 <= box.y0 && box.y0 <= box.y1 &&
                 box.y1 <= out.h,
             "warp: box [", box.x0, ", ", box.x1, ") x [", box.y0, ", ", box.y1, ") is outside the ", out.w, "x",
             out.h, " output");
    for (int y = box.y0; y < box.y1; ++y) {
        auto pos = [&](size_t i) {
            const int x = flip ? out.w - 1 - (box.x0 + int(i)) : box.x0 + int(i);
            return std::pair<double, double>(inv[0] * x + inv[1] * y + inv[2], inv[3] * x + inv[4] * y + inv[5]);
        };
        sample_all(src, size_t(box.x1 - box.x0), pos, border, fill,
                   &out.px[(size_t(y) * size_t(out.w) + size_t(box.x0)) * size_t(src.c)]);
    }
}
}  // namespace

Affine invert_affine(const Affine& m) {
    double det = m[0] * m[4] - m[1] * m[3];
    FS_CHECK(std::fabs(det) > 1e-300 && std::isfinite(det), "invert_affine: singular matrix (det ", det, ")");
    double a = m[4] / det, b = -m[1] / det, d = -m[3] / det, e = m[0] / det;
    return {a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])};
}

Point2 apply_affine(const Affine& m, Point2 p) {
    return {m[0] * p.x + m[1] * p.y + m[2], m[3] * p.x + m[4] * p.y + m[5]};
}

ImageF warp_affine(const ImageF& src, const Affine& m, int out_h, int out_w, Border border, float fill) {
    FS_CHECK(src.h > 0 && src.w > 0 && src.c > 0, "warp_affine: empty source image");
    FS_CHECK(out_h > 0 && out_w > 0, "warp_affine: bad output size ", out_h, "x", out_w);
    FS_CHECK(border != Border::reflect101, "warp_affine: only constant and replicate borders");
    ImageF out(out_h, out_w, src.c);
    warp_box(src, invert_affine(m), border, fill, PixelBox{0, 0, out_w, out_h}, false, out);
    return out;
}

ImageF remap_bilinear(const ImageF& src, const ImageF& map_x, const ImageF& map_y, Border border, float fill) {
    FS_CHECK(src.h > 0 && src.w > 0 && src.c > 0, "remap_bilinear: empty source image");
    FS_CHECK(map_x.c == 1 && map_y.c == 1 && map_x.h == map_y.h && map_x.w == map_y.w,
             "remap_bilinear: maps must be two 1-channel images of one size");
    FS_CHECK(border != Border::reflect101, "remap_bilinear: only constant and replicate borders");
    ImageF out(map_x.h, map_x.w, src.c);
    auto pos = [&](size_t i) { return std::pair<double, double>(map_x.px[i], map_y.px[i]); };
    sample_all(src, size_t(map_x.h) * size_t(map_x.w), pos, border, fill, out.px.data());
    return out;
}

Affine rotation_matrix_2d(double cx, double cy, double angle_deg, double scale) {
    double a = angle_deg * k_pi / 180.0;
    double alpha = scale * std::cos(a), beta = scale * std::sin(a);
    return {alpha, beta, (1 - alpha) * cx - beta * cy, -beta, alpha, beta * cx + (1 - alpha) * cy};
}

Affine umeyama(const std::vector<Point2>& src, const std::vector<Point2>& dst, bool with_scale) {
    FS_CHECK(src.size() == dst.size(), "umeyama: ", src.size(), " source points but ", dst.size(), " destination");
    FS_CHECK(src.size() >= 2, "umeyama: needs at least 2 points, got ", src.size());
    const double n = double(src.size());
    Eigen::Vector2d ms(0, 0), md(0, 0);
    for (size_t i = 0; i < src.size(); ++i) {
        ms += Eigen::Vector2d(src[i].x, src[i].y);
        md += Eigen::Vector2d(dst[i].x, dst[i].y);
    }
    ms /= n;
    md /= n;
    // A = Σ (dst − md)(src − ms)ᵀ / n, the cross-covariance (Umeyama eq. 38); var = Σ|src − ms|² / n.
    Eigen::Matrix2d A = Eigen::Matrix2d::Zero();
    double var = 0;
    for (size_t i = 0; i < src.size(); ++i) {
        Eigen::Vector2d s = Eigen::Vector2d(src[i].x, src[i].y) - ms, d = Eigen::Vector2d(dst[i].x, dst[i].y) - md;
        A += d * s.transpose();
        var += s.squaredNorm();
    }
    A /= n;
    var /= n;
    FS_CHECK(var > 0, "umeyama: all source points are equal");
    Eigen::Vector2d dvec(1, 1);
    if (A.determinant() < 0) dvec(1) = -1;  // eq. 39: a reflection would fit better; force a rotation
    Eigen::JacobiSVD<Eigen::Matrix2d> svd(A, Eigen::ComputeFullU | Eigen::ComputeFullV);
    const Eigen::Matrix2d U = svd.matrixU(), V = svd.matrixV();
    const Eigen::Vector2d S = svd.singularValues();
    // numpy.linalg.matrix_rank's tolerance: S.max · max(M, N) · eps.
    double tol = S(0) * 2 * std::numeric_limits<double>::epsilon();
    int rank = (S(0) > tol) + (S(1) > tol);
    FS_CHECK(rank > 0, "umeyama: degenerate point sets (zero cross-covariance)");
    Eigen::Matrix2d R;
    if (rank == 1) {  // eq. 43: collinear points; choose the rotation by the sign of det(U)·det(V)
        if (U.determinant() * V.determinant() > 0) {
            R = U * V.transpose();
        } else {
            Eigen::Vector2d d2(dvec(0), -1);
            R = U * d2.asDiagonal() * V.transpose();
        }
    } else {
        R = U * dvec.asDiagonal() * V.transpose();  // eq. 40
    }
    double scale = with_scale ? S.dot(dvec) / var : 1.0;  // eq. 42
    Eigen::Vector2d t = md - scale * R * ms;              // eq. 41
    return {scale * R(0, 0), scale * R(0, 1), t(0), scale * R(1, 0), scale * R(1, 1), t(1)};
}

ImageF filter2d(const ImageF& src, const ImageF& kernel) {
    FS_CHECK(kernel.c == 1 && kernel.h % 2 == 1 && kernel.w % 2 == 1, "filter2d: needs a 1-channel odd-sized kernel");
    FS_CHECK(src.h > 0 && src.w > 0, "filter2d: empty image");
    const int ah = kernel.h / 2, aw = kernel.w / 2;
    ImageF out(src.h, src.w, src.c);
    const size_t C = size_t(src.c);
    std::vector<int> xi(size_t(src.w + kernel.w));
    for (int x = -aw; x < src.w + aw; ++x) xi[size_t(x + aw)] = reflect101(x, src.w);
    for (int y = 0; y < src.h; ++y)
        for (int ky = 0; ky < kernel.h; ++ky) {
            int sy = reflect101(y + ky - ah, src.h);
            const float* row = &src.px[size_t(sy) * size_t(src.w) * C];
            float* o = &out.px[size_t(y) * size_t(src.w) * C];
            for (int kx = 0; kx < kernel.w; ++kx) {
                float k = kernel.px[size_t(ky) * size_t(kernel.w) + size_t(kx)];
                if (k == 0.f) continue;
                for (int x = 0; x < src.w; ++x) {
                    const float* p = row + size_t(xi[size_t(x + kx)]) * C;  // column x + kx − aw
                    for (size_t ch = 0; ch < C; ++ch) o[size_t(x) * C + ch] += k * p[ch];
                }
            }
        }
    return out;
}

// --- colour -----------------------------------------------------------------------------------------------------

namespace {
// OpenCV's sRGB <-> XYZ (D65) float coefficients (imgproc/src/color_lab.cpp), rows X, Y, Z over R, G, B.
constexpr float k_rgb2xyz[9] = {0.412453f, 0.357580f, 0.180423f, 0.212671f, 0.715160f,
                                0.072169f, 0.019334f, 0.119193f, 0.950227f};
// Rows R, G, B over X, Y, Z.
constexpr float k_xyz2rgb[9] = {3.240479f, -1.53715f, -0.498535f, -0.969256f, 1.875991f,
                                0.041556f, 0.055648f, -0.204043f, 1.057311f};
}  // namespace

ImageF bgr_to_xyz(const ImageF& bgr) {
    FS_CHECK(bgr.c == 3, "bgr_to_xyz: needs 3 channels, got ", bgr.c);
    ImageF out(bgr.h, bgr.w, 3);
    for (size_t i = 0; i < bgr.px.size(); i += 3) {
        float b = bgr.px[i], g = bgr.px[i + 1], r = bgr.px[i + 2];
        for (int k = 0; k < 3; ++k)
            out.px[i + size_t(k)] = k_rgb2xyz[k * 3] * r + k_rgb2xyz[k * 3 + 1] * g + k_rgb2xyz[k * 3 + 2] * b;
    }
    return out;
}

ImageF xyz_to_bgr(const ImageF& xyz) {
    FS_CHECK(xyz.c == 3, "xyz_to_bgr: needs 3 channels, got ", xyz.c);
    ImageF out(xyz.h, xyz.w, 3);
    for (size_t i = 0; i < xyz.px.size(); i += 3) {
        float X = xyz.px[i], Y = xyz.px[i + 1], Z = xyz.px[i + 2];
        for (int k = 0; k < 3; ++k)  // k = R, G, B; stored at 2 − k
            out.px[i + size_t(2 - k)] = k_xyz2rgb[k * 3] * X + k_xyz2rgb[k * 3 + 1] * Y + k_xyz2rgb[k * 3 + 2] * Z;
    }
    return out;
}

ChannelStats central_stats(const ImageF& img, int margin) {
    FS_CHECK(img.c == 3, "central_stats: needs 3 channels, got ", img.c);
    FS_CHECK(margin >= 0 && img.h > 2 * margin && img.w > 2 * margin, "central_stats: a ", img.h, "x", img.w,
             " image has no centre inside a margin of ", margin);
    ChannelStats st;
    std::array<double, 3> sum{}, sum2{};
    double n = double(img.h - 2 * margin) * double(img.w - 2 * margin);
    for (int y = margin; y < img.h - margin; ++y)
        for (int x = margin; x < img.w - margin; ++x)
            for (int ch = 0; ch < 3; ++ch) sum[size_t(ch)] += img.at(y, x, ch);
    for (int ch = 0; ch < 3; ++ch) st.mean[size_t(ch)] = sum[size_t(ch)] / n;
    // Two passes (numpy's std does the same): no cancellation for bright, flat images.
    for (int y = margin; y < img.h - margin; ++y)
        for (int x = margin; x < img.w - margin; ++x)
            for (int ch = 0; ch < 3; ++ch) {
                double d = img.at(y, x, ch) - st.mean[size_t(ch)];
                sum2[size_t(ch)] += d * d;
            }
    for (int ch = 0; ch < 3; ++ch) st.std[size_t(ch)] = std::sqrt(sum2[size_t(ch)] / n);
    return st;
}

namespace {
/// Whether every value is an integer in [0, 255]; four at a time.
bool all_bytes(const std::vector<float>& px) {
    typedef int v4i __attribute__((vector_size(16)));
    v4i ok = {-1, -1, -1, -1};
    size_t i = 0;
    for (; i + 4 <= px.size(); i += 4) {
        const v4 x = load4(&px[i]);
        const v4 c = x < 0.f ? 0.f : (x > 255.f ? 255.f : x);  // in range (a NaN lane stays NaN, so c != x)
        ok &= (c == x) & (c == __builtin_convertvector(__builtin_convertvector(c, v4i), v4));
    }
    bool all = ok[0] && ok[1] && ok[2] && ok[3];
    for (; i < px.size() && all; ++i) all = px[i] >= 0.f && px[i] <= 255.f && px[i] == float(int(px[i]));
    return all;
}
}  // namespace

ImageF color_transfer(const ImageF& src_bgr, const ImageF& tar_bgr, bool xyz, double u) {
    FS_CHECK(src_bgr.c == 3 && tar_bgr.c == 3, "color_transfer: needs two 3-channel images");
    ImageF src_xyz, tar_xyz;
    if (xyz) {
        // The original converts 8-bit images, so the XYZ values are rounded and saturated at 255 (Z of a bright
        // white is 1.089·255 before saturation).
        src_xyz = bgr_to_xyz(src_bgr);
        tar_xyz = bgr_to_xyz(tar_bgr);
        quantize_u8(src_xyz);
        quantize_u8(tar_xyz);
    }
    const ImageF& src = xyz ? src_xyz : src_bgr;
    const ImageF& tar = xyz ? tar_xyz : tar_bgr;
    ChannelStats s = central_stats(src), t = central_stats(tar);
    if (s.std[0] == 0 && s.std[1] == 0 && s.std[2] == 0) return src_bgr;  // flat source: nothing to scale
    std::array<double, 3> mt{}, st{};
    for (size_t ch = 0; ch < 3; ++ch) {
        mt[ch] = u * t.mean[ch] + (1 - u) * s.mean[ch];
        st[ch] = u * t.std[ch] + (1 - u) * s.std[ch];
    }
    auto value = [&](size_t ch, float x) { return st[ch] * (double(x) - s.mean[ch]) / (s.std[ch] + 1e-7) + mt[ch]; };
    // The original's range fix, over all channels at once: shift a negative minimum to 0, then scale a maximum
    // above 255 down to 255.
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    auto range_fix = [&](double v) {
        if (lo < 0) v -= lo;
        if (hi > 255) v *= 255.0 / hi;
        return float(v);
    };
    const size_t n = src.px.size();
    ImageF out(src.h, src.w, 3);
    // 8-bit sources (the pipeline's: files, and XYZ stored as 8 bits) take their result from a table of each
    // channel's 256 values: the same formula on the same numbers, so the same floats as the per-element path
    // (the specification, run for any other image and under FS_REFERENCE_KERNELS=1).
    const bool bytes = fast_kernels() && all_bytes(src.px);
    if (bytes) {
        std::array<std::array<double, 256>, 3> v{};
        std::array<std::array<bool, 256>, 3> seen{};
        for (size_t i = 0; i < n; i += 3)
            for (size_t ch = 0; ch < 3; ++ch) seen[ch][size_t(src.px[i + ch])] = true;
        for (size_t ch = 0; ch < 3; ++ch)
            for (size_t q = 0; q < 256; ++q)
                if (seen[ch][q]) {
                    v[ch][q] = value(ch, float(q));
                    lo = std::min(lo, v[ch][q]);
                    hi = std::max(hi, v[ch][q]);
                }
        if (lo < 0) hi -= lo;
        std::array<std::array<float, 256>, 3> f{};
        for (size_t ch = 0; ch < 3; ++ch)
            for (size_t q = 0; q < 256; ++q) f[ch][q] = range_fix(v[ch][q]);
        for (size_t i = 0; i < n; i += 3)
            for (size_t ch = 0; ch < 3; ++ch) out.px[i + ch] = f[ch][size_t(src.px[i + ch])];
    } else {
        std::vector<double> res(n);
        for (size_t i = 0; i < n; ++i) {
            res[i] = value(i % 3, src.px[i]);
            lo = std::min(lo, res[i]);
            hi = std::max(hi, res[i]);
        }
        if (lo < 0) hi -= lo;
        for (size_t i = 0; i < n; ++i) out.px[i] = range_fix(res[i]);
    }
    if (xyz) out = xyz_to_bgr(out);
    // Ours: XYZ values in [0, 255] need not be inside the BGR gamut; the networks' targets must stay in [-1, 1].
    for (float& v : out.px) v = std::min(std::max(v, 0.f), 255.f);  // std::clamp's result, NaN too, without branches
    return out;
}

// --- random numbers ---------------------------------------------------------------------------------------------

double rand_uniform(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

double rand_uniform(std::mt19937_64& rng, double lo, double hi) { return lo + (hi - lo) * rand_uniform(rng); }

int64_t rand_int(std::mt19937_64& rng, int64_t n) {
    FS_CHECK(n >= 1, "rand_int: n must be >= 1, got ", n);
    const uint64_t un = uint64_t(n);
    const uint64_t threshold = (0 - un) % un;  // 2^64 mod n: rejecting below it leaves a multiple of n values
    for (;;) {
        uint64_t x = rng();
        if (x >= threshold) return int64_t(x % un);
    }
}

double rand_normal(std::mt19937_64& rng, double mean, double std) {
    double u1 = 1.0 - rand_uniform(rng);  // (0, 1]: log is finite
    double u2 = rand_uniform(rng);
    return mean + std * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * k_pi * u2);
}

uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> parts) {
    uint64_t h = mix64(seed);
    for (uint64_t p : parts) h = mix64(h ^ mix64(p));
    return h;
}

// --- random_transform -------------------------------------------------------------------------------------------

TransformParams draw_transform(std::mt19937_64& rng, int size, const TransformRanges& r) {
    TransformParams p;
    p.rotation_deg = rand_uniform(rng, -r.rotation_deg, r.rotation_deg);
    p.scale = rand_uniform(rng, 1 - r.zoom, 1 + r.zoom);
    p.tx = rand_uniform(rng, -r.shift, r.shift) * size;
    p.ty = rand_uniform(rng, -r.shift, r.shift) * size;
    p.flip = rand_uniform(rng) < r.flip_prob;
    return p;
}

Affine transform_matrix(const TransformParams& p, int h, int w) {
    Affine m = rotation_matrix_2d(double(w / 2), double(h / 2), p.rotation_deg, p.scale);  // (w // 2, h // 2)
    m[2] += p.tx;
    m[5] += p.ty;
    return m;
}

ImageF apply_transform(const ImageF& img, const TransformParams& p) {
    return apply_transform(img, p, PixelBox{0, 0, img.w, img.h});
}

ImageF apply_transform(const ImageF& img, const TransformParams& p, const PixelBox& box) {
    FS_CHECK(img.h > 0 && img.w > 0 && img.c > 0, "apply_transform: empty image");
    ImageF out(img.h, img.w, img.c);
    warp_box(img, invert_affine(transform_matrix(p, img.h, img.w)), Border::replicate, 0.f, box, p.flip, out);
    return out;
}

// --- random_warp_rev --------------------------------------------------------------------------------------------

WarpParams draw_warp(std::mt19937_64& rng, int res) {
    FS_CHECK(res >= 64 && res % 64 == 0, "random_warp: res must be a multiple of 64, got ", res);
    const int s = res / 64;
    WarpParams p;
    p.res = res;
    p.coverage = 78 + int(rand_int(rng, 20));
    p.sigma = rand_uniform(rng, 5.0, 6.2);
    // numpy.linspace(128 − c, 128 + c, 5): start + i·step, the last one exactly the stop.
    std::array<double, 5> range{};
    double start = 128.0 - p.coverage, stop = 128.0 + p.coverage, step = (stop - start) / 4;
    for (int i = 0; i < 5; ++i) range[size_t(i)] = i == 4 ? stop : start + i * step;
    for (int k = 0; k < 25; ++k) p.grid_x[size_t(k)] = range[size_t(k % 5)] + rand_normal(rng, 0, p.sigma);
    for (int k = 0; k < 25; ++k) p.grid_y[size_t(k)] = range[size_t(k / 5)] + rand_normal(rng, 0, p.sigma);
    std::vector<Point2> src(25), dst(25);
    for (int k = 0; k < 25; ++k) {
        src[size_t(k)] = {p.grid_x[size_t(k)], p.grid_y[size_t(k)]};
        dst[size_t(k)] = {16.0 * s * (k % 5), 16.0 * s * (k / 5)};  // point (r, c) -> (16s·c, 16s·r)
    }
    p.target_mat = umeyama(src, dst, true);
    return p;
}

void warp_maps(const WarpParams& p, ImageF& map_x, ImageF& map_y) {
    FS_CHECK(p.res >= 64 && p.res % 64 == 0, "warp_maps: res must be a multiple of 64, got ", p.res);
    const int s = p.res / 64, big = 80 * s, lo = 8 * s;
    ImageF gx(5, 5, 1), gy(5, 5, 1);
    for (size_t k = 0; k < 25; ++k) {
        gx.px[k] = float(p.grid_x[k]);
        gy.px[k] = float(p.grid_y[k]);
    }
    // The original resizes the float64 5×5 grids and casts the maps to float32; at [8s, 72s) every position is
    // inside (0, 4) grid cells, so no clamping happens and the float resize is exact to float rounding.
    ImageF bx = resize_bilinear(gx, big, big), by = resize_bilinear(gy, big, big);
    map_x = ImageF(p.res, p.res, 1);
    map_y = ImageF(p.res, p.res, 1);
    for (int y = 0; y < p.res; ++y)
        for (int x = 0; x < p.res; ++x) {
            map_x.at(y, x, 0) = bx.at(y + lo, x + lo, 0);
            map_y.at(y, x, 0) = by.at(y + lo, x + lo, 0);
        }
}

WarpPair apply_warp(const ImageF& img256, const WarpParams& p, int warped_channels) {
    FS_CHECK(img256.h == 256 && img256.w == 256, "random_warp: needs a 256x256 image, got ", img256.h, "x", img256.w);
    FS_CHECK(warped_channels >= 1 && warped_channels <= img256.c, "random_warp: warped_channels ", warped_channels,
             " of a ", img256.c, "-channel image");
    ImageF mx, my;
    warp_maps(p, mx, my);
    WarpPair out;
    // cv2.remap and cv2.warpAffine with their default border: constant 0.
    // Every channel is sampled alone, so remapping all and keeping the first ones is remapping those.
    out.warped = slice_channels(remap_bilinear(img256, mx, my, Border::constant, 0.f), 0, warped_channels);
    out.target = warp_affine(img256, p.target_mat, p.res, p.res, Border::constant, 0.f);
    return out;
}

PixelBox warp_footprint(const WarpParams& p) {
    double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
    auto add = [&](double x, double y) {
        xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, y), yhi = std::max(yhi, y);
    };
    // The maps are bilinear blends of the grid (warp_maps: interior positions, no clamping), so they stay within
    // its range.
    for (size_t k = 0; k < 25; ++k) add(p.grid_x[k], p.grid_y[k]);
    // The target's source positions are an affine image of the output square: extreme at its corners.
    const Affine inv = invert_affine(p.target_mat);
    const double e = double(p.res - 1);
    for (double cy : {0.0, e})
        for (double cx : {0.0, e}) add(inv[0] * cx + inv[1] * cy + inv[2], inv[3] * cx + inv[4] * cy + inv[5]);
    // The taps of a position x are floor(x) and floor(x) + 1; one more pixel on each side covers the rounding of
    // positions computed in another order than here. Non-finite bounds (a degenerate draw) keep the whole image.
    auto lo = [](double v) { return std::isfinite(v) ? int(std::clamp(std::floor(v) - 1, 0.0, 256.0)) : 0; };
    auto hi = [](double v) { return std::isfinite(v) ? int(std::clamp(std::floor(v) + 3, 0.0, 256.0)) : 256; };
    return PixelBox{lo(xlo), lo(ylo), hi(xhi), hi(yhi)};
}

// --- motion blur ------------------------------------------------------------------------------------------------

ImageF motion_blur_kernel(int size, double angle_deg) {
    FS_CHECK(size >= 1 && size % 2 == 1, "motion_blur_kernel: size must be odd and positive, got ", size);
    ImageF line(size, size, 1);
    for (int x = 0; x < size; ++x) line.at((size - 1) / 2, x, 0) = 1.f;
    double c = (size - 1) / 2.0;
    ImageF k = warp_affine(line, rotation_matrix_2d(c, c, angle_deg, 1.0), size, size, Border::constant, 0.f);
    double sum = 0;
    for (float& v : k.px) {
        v = std::clamp(v, 0.f, 1.f);
        sum += v;
    }
    // The centre pixel is a fixed point of the rotation, so the sum is at least 1.
    for (float& v : k.px) v = float(v / sum);
    return k;
}

ImageF random_motion_blur_kernel(std::mt19937_64& rng) {
    static constexpr int k_sizes[4] = {5, 7, 9, 11};
    int size = k_sizes[rand_int(rng, 4)];
    double angle = rand_uniform(rng, -180.0, 180.0);
    return motion_blur_kernel(size, angle);
}

}  // namespace fs
