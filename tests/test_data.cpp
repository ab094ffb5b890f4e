// test_data.cpp: the training data pipeline (faceswap/augment.h, faceswap/dataset.h; spec §6).
// The image operations against hand-computed values; the random_transform / random_warp geometry on synthetic
// dots whose positions are known; Umeyama on a known similarity; the colour transfer's statistics; the
// loader's determinism across thread counts, its errors and warnings; and a smoke test on real faces cropped
// from the shared sequences (skipped loudly without the data).
#include <gtest/gtest.h>

#include <algorithm>

#include <limits>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "faceswap/augment.h"
#include "faceswap/dataset.h"
#include "faceswap/synthetic.h"
#include "io/image.h"
#include "kernels/fast.h"
#include "tests/testdata.h"

using namespace fs;

namespace {

/// A fresh temporary folder, removed with everything in it at the end of the test.
struct TempDir {
    std::string path;
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path = (std::filesystem::temp_directory_path() /
                ("fs_test_data_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
                 std::to_string(::testing::UnitTest::GetInstance()->random_seed())))
                   .string();
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string sub(const std::string& name) const {
        std::filesystem::create_directories(path + "/" + name);
        return path + "/" + name;
    }
};

/// n synthetic faces (size×size PNGs) of one identity, face_000.png ...
void write_faces(const std::string& dir, int n, int size, bool b_identity, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int j = 0; j < n; ++j) {
        FrameParams f = random_frame(rng);
        Tensor t = render_face(b_identity ? identity_b() : identity_a(), f, size);
        char name[32];
        std::snprintf(name, sizeof(name), "/face_%03d.png", j);
        write_png(dir + name, tensor_to_image(t));
    }
}

/// A white eye mask: two rectangles, written as an RGB PNG.
void write_mask(const std::string& path, int size) {
    Image m;
    m.width = m.height = size;
    m.channels = 3;
    m.pixels.assign(size_t(size) * size_t(size) * 3, 0);
    for (int y = size * 3 / 8; y < size / 2; ++y)
        for (int x = size / 4; x < size * 3 / 4; ++x)
            for (int c = 0; c < 3; ++c) m.pixels[(size_t(y) * size_t(size) + size_t(x)) * 3 + size_t(c)] = 255;
    write_png(path, m);
}

/// Adds a Gaussian blob (peak 1, std sigma px) centred at (x, y) to channel ch.
void add_blob(ImageF& img, double x, double y, double sigma, int ch = 0) {
    for (int yy = 0; yy < img.h; ++yy)
        for (int xx = 0; xx < img.w; ++xx) {
            double d2 = (xx - x) * (xx - x) + (yy - y) * (yy - y);
            if (d2 < 36 * sigma * sigma) img.at(yy, xx, ch) += float(std::exp(-d2 / (2 * sigma * sigma)));
        }
}

/// Intensity-weighted centroid of channel ch inside a window of radius r around (x, y).
Point2 centroid(const ImageF& img, double x, double y, double r, int ch = 0) {
    double sw = 0, sx = 0, sy = 0;
    for (int yy = std::max(0, int(y - r)); yy <= std::min(img.h - 1, int(y + r) + 1); ++yy)
        for (int xx = std::max(0, int(x - r)); xx <= std::min(img.w - 1, int(x + r) + 1); ++xx) {
            if ((xx - x) * (xx - x) + (yy - y) * (yy - y) > r * r) continue;
            double v = img.at(yy, xx, ch);
            sw += v, sx += v * xx, sy += v * yy;
        }
    EXPECT_GT(sw, 0.0) << "no blob near (" << x << ", " << y << ")";
    return {sx / sw, sy / sw};
}

ImageF from_values(int h, int w, const std::vector<float>& v) {
    ImageF img(h, w, 1);
    img.px = v;
    return img;
}

void expect_same_batch(const GanBatch& a, const GanBatch& b, const std::string& what) {
    ASSERT_EQ(a.warped.shape(), b.warped.shape()) << what;
    // Bitwise: every sample is computed by one thread from its own seed, so nothing may differ at all.
    EXPECT_EQ(max_abs_diff(a.warped, b.warped), 0.0) << what;
    EXPECT_EQ(max_abs_diff(a.target, b.target), 0.0) << what;
    ASSERT_EQ(a.eyes.defined(), b.eyes.defined()) << what;
    if (a.eyes.defined()) {
        EXPECT_EQ(max_abs_diff(a.eyes, b.eyes), 0.0) << what;
    }
}

void expect_in_range(const Tensor& t, double lo, double hi, const std::string& what) {
    for (double v : t.to_vector()) {
        ASSERT_GE(v, lo) << what;
        ASSERT_LE(v, hi) << what;
    }
}

double stddev(const Tensor& t) {
    std::vector<double> v = t.to_vector();
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= double(v.size());
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / double(v.size()));
}

}  // namespace

// --- resize / warp_affine / remap / filter2d against hand-computed values ------------------------------------------

// quantize_u8 is cvRound + saturate_cast<uchar>: ties to even, clamped to 0..255. Hand values at the ties and the
// ends, and every float step of 1/64 from −3 to 259 against std::nearbyint (the function's old definition).
TEST(Augment, QuantizeU8RoundsHalfToEvenAndSaturates) {
    ImageF img(1, 8, 1);
    img.px = {0.5f, 1.5f, 2.5f, 254.5f, 255.5f, -0.5f, -7.f, 1e9f};
    quantize_u8(img);
    EXPECT_EQ(img.px, (std::vector<float>{0.f, 2.f, 2.f, 254.f, 255.f, 0.f, 0.f, 255.f}));
    std::vector<float> values;
    for (float v = -3.f; v <= 259.f; v += 1.f / 64) values.push_back(v);
    ImageF dense(1, int(values.size()), 1);
    dense.px = values;
    quantize_u8(dense);
    for (size_t i = 0; i < values.size(); ++i)
        ASSERT_EQ(dense.px[i], std::clamp(std::nearbyint(values[i]), 0.f, 255.f)) << values[i];
    ImageF nan(1, 1, 1);
    nan.px = {std::numeric_limits<float>::quiet_NaN()};
    quantize_u8(nan);
    EXPECT_TRUE(std::isnan(nan.px[0]));  // not hidden as a pixel value
}

TEST(Augment, ResizeUpscaleHalfPixelHandValues) {
    // 2×2 -> 4×4: source x = (d + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25, 0.75, 1.
    ImageF src = from_values(2, 2, {0, 4, 8, 12});
    ImageF out = resize_bilinear(src, 4, 4);
    const float want[16] = {0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12};
    for (int i = 0; i < 16; ++i) EXPECT_FLOAT_EQ(out.px[size_t(i)], want[i]) << "pixel " << i;
}

TEST(Augment, ResizeDownscaleAveragesPairsAndSameSizeIsIdentity) {
    // 4 -> 2: source x = (d + 0.5)·2 − 0.5 = 0.5, 2.5: the mean of pixel pairs (no area filter, as OpenCV).
    ImageF src = from_values(1, 4, {0, 10, 20, 40});
    ImageF out = resize_bilinear(src, 1, 2);
    EXPECT_FLOAT_EQ(out.px[0], 5.f);
    EXPECT_FLOAT_EQ(out.px[1], 30.f);
    std::mt19937_64 rng(3);
    ImageF r(7, 5, 3);
    for (float& v : r.px) v = float(rand_uniform(rng, 0, 255));
    EXPECT_EQ(resize_bilinear(r, 7, 5).px, r.px);  // scale 1: every weight is exactly 0
    FastKernelsGuard reference(false);               // the formula itself, not the fast path's copy
    EXPECT_EQ(resize_bilinear(r, 7, 5).px, r.px);
}

TEST(Augment, WarpAffineTranslationHandValuesAndBorders) {
    // dst(x, y) = src(x − 0.5, y − 0.25) for a translation by (+0.5, +0.25).
    ImageF src = from_values(3, 3, {0, 10, 20, 30, 40, 50, 60, 70, 80});
    Affine t = {1, 0, 0.5, 0, 1, 0.25};
    ImageF rep = warp_affine(src, t, 3, 3, Border::replicate);
    ImageF con = warp_affine(src, t, 3, 3, Border::constant, 0.f);
    // Interior pixel (1, 1): src(0.5, 0.75) = 0.25·(0.5·0 + 0.5·10) + 0.75·(0.5·30 + 0.5·40) = 1.25 + 26.25.
    EXPECT_NEAR(rep.at(1, 1, 0), 27.5f, 1e-4);  // float rounding of a few products of exact values
    EXPECT_NEAR(con.at(1, 1, 0), 27.5f, 1e-4);
    // Corner (0, 0): src(−0.5, −0.25). Replicate: every tap is pixel (0, 0) = 0; take (2, 0) instead:
    // src(1.5, −0.25): replicate -> 0.5·10 + 0.5·20 = 15; constant -> 0.75·15 (the row above is 0).
    EXPECT_NEAR(rep.at(0, 2, 0), 15.f, 1e-4);
    EXPECT_NEAR(con.at(0, 2, 0), 0.75f * 15.f, 1e-4);
    // A constant fill value shows where every tap is outside.
    ImageF far = warp_affine(src, {1, 0, 10, 0, 1, 0}, 3, 3, Border::constant, -7.f);
    EXPECT_EQ(far.at(1, 1, 0), -7.f);
}

TEST(Augment, RotationMatrixIsOpenCvs) {
    // cv2.getRotationMatrix2D((128, 128), 90, 1) = [[0, 1, 0], [−1, 0, 256]] (cos 90° rounds to ~6e-17).
    Affine m = rotation_matrix_2d(128, 128, 90, 1);
    const double want[6] = {0, 1, 0, -1, 0, 256};
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(m[size_t(i)], want[i], 1e-12);
    Point2 c = apply_affine(rotation_matrix_2d(128, 128, 17, 1.07), {128, 128});  // the centre is fixed
    EXPECT_NEAR(c.x, 128, 1e-12);
    EXPECT_NEAR(c.y, 128, 1e-12);
    Affine inv = invert_affine(m);
    Point2 p = apply_affine(inv, apply_affine(m, {3, 5}));
    EXPECT_NEAR(p.x, 3, 1e-12);
    EXPECT_NEAR(p.y, 5, 1e-12);
}

TEST(Augment, RemapHandValues) {
    ImageF src = from_values(2, 3, {0, 10, 20, 30, 40, 50});
    ImageF mx = from_values(1, 3, {0.5f, 2.f, 5.f}), my = from_values(1, 3, {0.5f, 1.f, 0.f});
    ImageF out = remap_bilinear(src, mx, my, Border::constant, 0.f);
    EXPECT_NEAR(out.at(0, 0, 0), 20.f, 1e-5);  // mean of 0, 10, 30, 40
    EXPECT_NEAR(out.at(0, 1, 0), 50.f, 1e-5);  // exactly pixel (2, 1)
    EXPECT_EQ(out.at(0, 2, 0), 0.f);           // outside: the constant
}

TEST(Augment, Filter2dReflect101HandValues) {
    // Kernel [1 2 3]/6 along x (correlation): out(x) = (in(x−1) + 2·in(x) + 3·in(x+1))/6; in(−1) = in(1).
    ImageF src = from_values(1, 3, {6, 12, 18});
    ImageF k = from_values(1, 3, {1.f / 6, 2.f / 6, 3.f / 6});
    ImageF out = filter2d(src, k);
    EXPECT_NEAR(out.at(0, 0, 0), (12 + 2 * 6 + 3 * 12) / 6.0, 1e-5);  // float sums of three products
    EXPECT_NEAR(out.at(0, 1, 0), (6 + 2 * 12 + 3 * 18) / 6.0, 1e-5);
    EXPECT_NEAR(out.at(0, 2, 0), (12 + 2 * 18 + 3 * 12) / 6.0, 1e-5);  // in(3) = in(1)
}

TEST(Augment, MotionBlurKernelIsANormalisedLine) {
    ImageF h = motion_blur_kernel(5, 0);
    for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 5; ++x) EXPECT_NEAR(h.at(y, x, 0), y == 2 ? 0.2f : 0.f, 1e-6) << y << "," << x;
    ImageF v = motion_blur_kernel(7, 90);  // a quarter turn: the line is vertical (sin/cos rounding only)
    for (int y = 0; y < 7; ++y)
        for (int x = 0; x < 7; ++x) EXPECT_NEAR(v.at(y, x, 0), x == 3 ? 1.f / 7 : 0.f, 1e-6) << y << "," << x;
    std::mt19937_64 rng(5);
    for (int t = 0; t < 20; ++t) {
        ImageF k = random_motion_blur_kernel(rng);
        EXPECT_TRUE(k.h == 5 || k.h == 7 || k.h == 9 || k.h == 11);
        double s = 0;
        for (float x : k.px) s += x;
        EXPECT_NEAR(s, 1.0, 1e-5);  // float normalisation of ≤ 121 terms
    }
}

// --- colour ------------------------------------------------------------------------------------------------------

TEST(Augment, XyzMatchesOpenCvWhitePointAndRoundTrips) {
    ImageF white(1, 1, 3, 255.f);
    ImageF xyz = bgr_to_xyz(white);
    // OpenCV's D65 rows: X = 0.950456, Y = 1.0, Z = 1.088754 times 255 (float coefficients, float sums).
    EXPECT_NEAR(xyz.px[0], 0.950456 * 255, 1e-3);
    EXPECT_NEAR(xyz.px[1], 1.0 * 255, 1e-3);
    EXPECT_NEAR(xyz.px[2], 1.088754 * 255, 1e-3);
    ImageF c(1, 1, 3);
    c.px = {30.f, 140.f, 220.f};  // B, G, R
    ImageF back = xyz_to_bgr(bgr_to_xyz(c));
    // The two published matrices are inverses only to ~1e-6 relative: < 1e-3 at 255.
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(back.px[size_t(i)], c.px[size_t(i)], 2e-3);
    // Red alone: XYZ = 255·(0.412453, 0.212671, 0.019334).
    ImageF red(1, 1, 3);
    red.px = {0, 0, 255};
    ImageF rx = bgr_to_xyz(red);
    EXPECT_NEAR(rx.px[0], 0.412453 * 255, 1e-3);
    EXPECT_NEAR(rx.px[1], 0.212671 * 255, 1e-3);
    EXPECT_NEAR(rx.px[2], 0.019334 * 255, 1e-3);
}

namespace {
/// 256×256 image: a textured centre [60, 196)² (mean m, spread ±a per channel) and a flat border of value b.
ImageF textured(uint64_t seed, std::array<double, 3> m, double a, double b) {
    std::mt19937_64 rng(seed);
    ImageF img(256, 256, 3, float(b));
    for (int y = 60; y < 196; ++y)
        for (int x = 60; x < 196; ++x)
            for (int c = 0; c < 3; ++c) img.at(y, x, c) = float(m[size_t(c)] + rand_uniform(rng, -a, a));
    return img;
}
}  // namespace

TEST(Augment, ColorTransferMatchesTargetStatisticsOfTheCentre) {
    ImageF src = textured(1, {100, 120, 140}, 30, 110), tar = textured(2, {90, 130, 150}, 45, 20);
    ChannelStats t = central_stats(tar), s = central_stats(src);
    // The border of tar (20) is far from its centre: statistics over the whole image would be different.
    EXPECT_GT(std::fabs(t.mean[0] - 20), 50);
    ImageF full = color_transfer(src, tar, false, 1.0);
    ChannelStats r = central_stats(full);
    for (size_t c = 0; c < 3; ++c) {
        // u = 1: exactly the target's centre statistics, up to the 1e-7 in the denominator and float storage
        // (values ≤ 255 carry ~1.5e-5 absolute error).
        EXPECT_NEAR(r.mean[c], t.mean[c], 1e-3);
        EXPECT_NEAR(r.std[c], t.std[c], 1e-3);
    }
    ImageF half = color_transfer(src, tar, false, 0.5);
    ChannelStats h = central_stats(half);
    for (size_t c = 0; c < 3; ++c) {
        EXPECT_NEAR(h.mean[c], 0.5 * (t.mean[c] + s.mean[c]), 1e-3);  // same reason
        EXPECT_NEAR(h.std[c], 0.5 * (t.std[c] + s.std[c]), 1e-3);
    }
    ImageF none = color_transfer(src, tar, false, 0.0);
    for (size_t i = 0; i < src.px.size(); ++i) ASSERT_NEAR(none.px[i], src.px[i], 1e-3) << i;  // st = ss, mt = ms
}

TEST(Augment, ColorTransferRangeFixShiftsAndRescales) {
    // A dark, high-contrast target: st·(src − ms)/ss + mt goes below 0; the result is shifted so its min is 0.
    ImageF src = textured(3, {128, 128, 128}, 100, 128), tar = textured(4, {20, 20, 20}, 60, 20);
    ImageF lo = color_transfer(src, tar, false, 1.0);
    float mn = *std::min_element(lo.px.begin(), lo.px.end());
    EXPECT_EQ(mn, 0.f);  // shifted exactly to 0 (before our clamp, which then has nothing to do)
    // A bright target: the maximum goes above 255 and is scaled back to exactly 255.
    ImageF tar2 = textured(5, {235, 235, 235}, 60, 235);
    ImageF hi = color_transfer(src, tar2, false, 1.0);
    float mx = *std::max_element(hi.px.begin(), hi.px.end());
    EXPECT_NEAR(mx, 255.f, 1e-3);  // 255/max·max in double, stored as float
    // The rescale is one factor for all channels: ratios between pixels are kept.
    ImageF plain = src;
    ChannelStats s = central_stats(src), t = central_stats(tar2);
    size_t i = (size_t(100) * 256 + 100) * 3, j = (size_t(150) * 256 + 90) * 3;
    double vi = t.std[0] * (src.px[i] - s.mean[0]) / (s.std[0] + 1e-7) + t.mean[0];
    double vj = t.std[0] * (src.px[j] - s.mean[0]) / (s.std[0] + 1e-7) + t.mean[0];
    EXPECT_NEAR(hi.px[i] / hi.px[j], vi / vj, 1e-5);  // float storage of two values near 200
}

TEST(Augment, ColorTransferInXyzMovesTowardTheTargetColour) {
    // Greyish source, bluish target (both well inside the gamut): in XYZ with u = 1 the result's centre mean
    // comes close to the target's in BGR too.
    ImageF src = textured(6, {120, 120, 120}, 20, 120), tar = textured(7, {170, 110, 80}, 20, 100);
    ImageF r = color_transfer(src, tar, true, 1.0);
    ChannelStats rs = central_stats(r), ts = central_stats(tar);
    // XYZ is quantised to 8 bits (as the original) and the XYZ statistics transfer is linear, so the BGR means
    // agree to about a level or two.
    for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(rs.mean[c], ts.mean[c], 2.0) << "channel " << c;
}

TEST(Augment, ColorTransferOfAFlatSourceIsTheSource) {
    ImageF src(256, 256, 3, 77.f), tar = textured(8, {10, 200, 30}, 20, 50);
    EXPECT_EQ(color_transfer(src, tar, false, 1.0).px, src.px);
}

// --- Umeyama ------------------------------------------------------------------------------------------------------

TEST(Augment, UmeyamaRecoversAKnownSimilarity) {
    std::mt19937_64 rng(11);
    // Many random similarities and point clouds: the SVD's sign and ordering choices differ between them
    // (a proper-rotation V, a reflection V, ...), and each must give back the exact transform.
    for (int trial = 0; trial < 50; ++trial) {
        Affine known = rotation_matrix_2d(0, 0, rand_uniform(rng, -180, 180), rand_uniform(rng, 0.2, 3));
        known[2] = rand_uniform(rng, -50, 50), known[5] = rand_uniform(rng, -50, 50);
        const double sx = rand_uniform(rng, 5, 100), sy = rand_uniform(rng, 5, 100);  // anisotropic clouds
        std::vector<Point2> src, dst;
        for (int i = 0; i < 6; ++i) {
            Point2 p{rand_uniform(rng, -sx, sx) + 128, rand_uniform(rng, -sy, sy) + 128};
            src.push_back(p);
            dst.push_back(apply_affine(known, p));
        }
        Affine m = umeyama(src, dst, true);
        for (int i = 0; i < 6; ++i)  // double round-off on coordinates of a few hundred
            ASSERT_NEAR(m[size_t(i)], known[size_t(i)], 1e-9) << "trial " << trial << " entry " << i;
    }
    for (int trial = 0; trial < 20; ++trial) {  // collinear points: a rank-1 cross-covariance (eq. 43 branch)
        Affine known = rotation_matrix_2d(0, 0, rand_uniform(rng, -180, 180), rand_uniform(rng, 0.2, 3));
        known[2] = rand_uniform(rng, -50, 50), known[5] = rand_uniform(rng, -50, 50);
        const double dir = rand_uniform(rng, -3.14159, 3.14159);
        std::vector<Point2> src, dst;
        for (int i = 0; i < 5; ++i) {
            Point2 p{100 + 9.0 * i * std::cos(dir), 120 + 9.0 * i * std::sin(dir)};
            src.push_back(p);
            dst.push_back(apply_affine(known, p));
        }
        Affine m = umeyama(src, dst, true);
        for (int i = 0; i < 6; ++i)  // the rank test sees S(1) at round-off level; the fit is still exact
            ASSERT_NEAR(m[size_t(i)], known[size_t(i)], 1e-9) << "collinear trial " << trial << " entry " << i;
    }
    std::vector<Point2> src, dst;
    Affine known = rotation_matrix_2d(0, 0, 23.0, 0.37);
    known[2] = 12.5, known[5] = -40.25;
    for (int i = 0; i < 25; ++i) {
        Point2 p{rand_uniform(rng, 20, 230), rand_uniform(rng, 20, 230)};
        src.push_back(p);
        dst.push_back(apply_affine(known, p));
    }
    // Without scale: the same rotation, unit scale.
    Affine r = umeyama(src, dst, false);
    EXPECT_NEAR(r[0] * r[4] - r[1] * r[3], 1.0, 1e-12);
    EXPECT_NEAR(std::atan2(-r[3], r[0]) * 180 / 3.14159265358979323846, 23.0, 1e-9);
    // A mirror image is fitted by a proper rotation (det > 0), never a reflection.
    std::vector<Point2> mirror;
    for (const auto& p : src) mirror.push_back({-p.x, p.y});
    Affine f = umeyama(src, mirror, true);
    EXPECT_GT(f[0] * f[4] - f[1] * f[3], 0.0);
    EXPECT_THROW(umeyama({{1, 1}, {1, 1}}, {{0, 0}, {2, 2}}, true), Error);
    EXPECT_THROW(umeyama({{1, 1}}, {{0, 0}}, true), Error);
}

// --- random_transform ---------------------------------------------------------------------------------------------

TEST(Augment, RandomTransformMovesADotWhereTheMatrixSays) {
    TransformParams p;
    p.rotation_deg = 7.5, p.scale = 1.06, p.tx = 9.3, p.ty = -6.1;
    for (bool flip : {false, true}) {
        p.flip = flip;
        ImageF img(256, 256, 6);
        const Point2 q{80, 170};
        add_blob(img, q.x, q.y, 3.0, 0);
        add_blob(img, q.x, q.y, 3.0, 4);  // a mask channel moves with the image
        ImageF out = apply_transform(img, p);
        Point2 want = apply_affine(transform_matrix(p, 256, 256), q);
        if (flip) want.x = 255 - want.x;  // result[:, ::-1]
        // Bilinear resampling of a σ = 3 px blob biases its centroid by ≪ 0.1 px; a wrong centre, sign or flip
        // convention moves it by ≥ 0.5 px.
        for (int ch : {0, 4}) {
            Point2 got = centroid(out, want.x, want.y, 12, ch);
            EXPECT_NEAR(got.x, want.x, 0.1) << "flip " << flip << " channel " << ch;
            EXPECT_NEAR(got.y, want.y, 0.1) << "flip " << flip << " channel " << ch;
        }
    }
    // The matrix is getRotationMatrix2D((128, 128), rotation, scale) plus (tx, ty).
    Affine m = transform_matrix(p, 256, 256);
    Affine r = rotation_matrix_2d(128, 128, p.rotation_deg, p.scale);
    EXPECT_DOUBLE_EQ(m[2], r[2] + p.tx);
    EXPECT_DOUBLE_EQ(m[5], r[5] + p.ty);
}

TEST(Augment, RandomTransformDrawsWithinTheSpecRanges) {
    std::mt19937_64 rng(21);
    int flips = 0;
    for (int t = 0; t < 400; ++t) {
        TransformParams p = draw_transform(rng, 256);
        ASSERT_LE(std::fabs(p.rotation_deg), 10.0);
        ASSERT_GE(p.scale, 0.9);
        ASSERT_LE(p.scale, 1.1);
        ASSERT_LE(std::fabs(p.tx), 12.8);
        ASSERT_LE(std::fabs(p.ty), 12.8);
        flips += p.flip;
    }
    EXPECT_GT(flips, 150);  // p = 0.5 over 400 draws: 200 ± 10 (1σ); 150 is 5σ away
    EXPECT_LT(flips, 250);
}

// --- random_warp ----------------------------------------------------------------------------------------------------

TEST(Augment, RandomWarpDrawsWithinTheSpecRanges) {
    std::mt19937_64 rng(31);
    std::set<int> coverages;
    for (int t = 0; t < 400; ++t) {
        WarpParams p = draw_warp(rng, 64);
        ASSERT_GE(p.coverage, 78);
        ASSERT_LE(p.coverage, 97);
        ASSERT_GE(p.sigma, 5.0);
        ASSERT_LT(p.sigma, 6.2);
        coverages.insert(p.coverage);
    }
    EXPECT_EQ(coverages.size(), 20u);  // all of 78..97 in 400 draws (miss chance ~20·0.95^400 ≈ 2e-8)
    EXPECT_THROW(draw_warp(rng, 96), Error);
}

TEST(Augment, WarpMapsAreTheHalfPixelUpsampledGrid) {
    // Noise-free grid: the map is linear, and by the half-pixel resize + [8s, 72s) crop warped pixel x samples
    // grid position (x + 0.5)/(16s), i.e. source x = 128 − c + (x + 0.5)·c/(32s).
    for (int res : {64, 128}) {
        WarpParams p;
        p.res = res;
        p.coverage = 90;
        for (int k = 0; k < 25; ++k) {
            p.grid_x[size_t(k)] = 128 - 90 + 45.0 * (k % 5);
            p.grid_y[size_t(k)] = 128 - 90 + 45.0 * (k / 5);
        }
        ImageF mx, my;
        warp_maps(p, mx, my);
        ASSERT_EQ(mx.h, res);
        ASSERT_EQ(mx.w, res);
        const double s = res / 64.0;
        for (int y = 0; y < res; y += 7)
            for (int x = 0; x < res; x += 5) {
                // float maps of values ≤ 256: ~3e-5 rounding, plus float bilinear weights.
                EXPECT_NEAR(mx.at(y, x, 0), 38 + (x + 0.5) * 90 / (32 * s), 2e-4) << res << " " << x;
                EXPECT_NEAR(my.at(y, x, 0), 38 + (y + 0.5) * 90 / (32 * s), 2e-4) << res << " " << y;
            }
    }
}

TEST(Augment, RandomWarpOfARampIsTheMapAndTheInverseSimilarity) {
    // Channels 0/1 hold the source x/y (a linear ramp, which bilinear sampling reproduces exactly), so each
    // output pixel tells where it was sampled from. Warped must sample the noisy grid interpolated bilinearly
    // at grid position ((x + 0.5)/(16s), (y + 0.5)/(16s)) (written out here independently of resize_bilinear);
    // target must sample M⁻¹·(x, y).
    ImageF ramp(256, 256, 3);
    for (int y = 0; y < 256; ++y)
        for (int x = 0; x < 256; ++x) ramp.at(y, x, 0) = float(x), ramp.at(y, x, 1) = float(y);
    for (int res : {64, 128}) {
        std::mt19937_64 rng(41 + uint64_t(res));
        WarpParams p = draw_warp(rng, res);
        WarpPair wp = apply_warp(ramp, p, 3);
        const double s = res / 64.0;
        Affine inv = invert_affine(p.target_mat);
        auto grid = [&](const std::array<double, 25>& g, double gx, double gy) {
            int c0 = std::min(3, int(gx)), r0 = std::min(3, int(gy));
            double fx = gx - c0, fy = gy - r0;
            auto at = [&](int r, int c) { return g[size_t(r * 5 + c)]; };
            return (1 - fy) * ((1 - fx) * at(r0, c0) + fx * at(r0, c0 + 1)) +
                   fy * ((1 - fx) * at(r0 + 1, c0) + fx * at(r0 + 1, c0 + 1));
        };
        for (int y = 0; y < res; y += 3)
            for (int x = 0; x < res; x += 3) {
                double gx = (x + 0.5) / (16 * s), gy = (y + 0.5) / (16 * s);
                // Float maps and float bilinear weights on values ≤ 256: ~1e-4 px; any convention error
                // (align-corners, no crop offset, transposed maps) is ≥ 1 px.
                ASSERT_NEAR(wp.warped.at(y, x, 0), grid(p.grid_x, gx, gy), 2e-3) << res << " (" << x << "," << y << ")";
                ASSERT_NEAR(wp.warped.at(y, x, 1), grid(p.grid_y, gx, gy), 2e-3) << res << " (" << x << "," << y << ")";
                Point2 src = apply_affine(inv, {double(x), double(y)});
                if (src.x < 0 || src.y < 0 || src.x > 255 || src.y > 255) continue;  // the constant border
                ASSERT_NEAR(wp.target.at(y, x, 0), src.x, 2e-3) << res << " (" << x << "," << y << ")";
                ASSERT_NEAR(wp.target.at(y, x, 1), src.y, 2e-3) << res << " (" << x << "," << y << ")";
            }
    }
}

TEST(Augment, RandomWarpPairIsConsistentOnDots) {
    // Dots drawn at the source points q that the warped image samples at the centres of its 16 grid cells,
    // p = (16s·(c + ½) − ½, 16s·(r + ½) − ½) (the bilinear map's value there is the mean of the cell's four
    // noisy nodes). The target must show each dot at M·q, M the fitted similarity; so, through the fitted
    // transform, target − warped = M·q − p for every dot: the same face, the warped one displaced by the
    // non-similar part of the grid noise.
    for (int res : {64, 128}) {
        std::mt19937_64 rng(51 + uint64_t(res));
        WarpParams p = draw_warp(rng, res);
        const double s = res / 64.0;
        auto cell_centre = [&](int r, int c) {
            auto mean4 = [&](const std::array<double, 25>& g) {
                return 0.25 * (g[size_t(r * 5 + c)] + g[size_t(r * 5 + c + 1)] + g[size_t((r + 1) * 5 + c)] +
                               g[size_t((r + 1) * 5 + c + 1)]);
            };
            return Point2{mean4(p.grid_x), mean4(p.grid_y)};
        };
        ImageF img(256, 256, 6);
        for (int r = 0; r < 4; ++r)
            for (int c = 0; c < 4; ++c) {
                Point2 q = cell_centre(r, c);
                add_blob(img, q.x, q.y, 2.0, 0);
                add_blob(img, q.x, q.y, 2.0, 3);  // a mask channel
            }
        WarpPair wp = apply_warp(img, p, 3);
        ASSERT_EQ(wp.warped.c, 3);
        ASSERT_EQ(wp.target.c, 6);
        double max_shift = 0;
        for (int r = 0; r < 4; ++r)
            for (int c = 0; c < 4; ++c) {
                const Point2 q = cell_centre(r, c);
                const Point2 in_warped{16 * s * (c + 0.5) - 0.5, 16 * s * (r + 0.5) - 0.5};
                const Point2 in_target = apply_affine(p.target_mat, q);
                const Point2 shift{in_target.x - in_warped.x, in_target.y - in_warped.y};
                max_shift = std::max(max_shift, std::hypot(shift.x, shift.y));
                Point2 w = centroid(wp.warped, in_warped.x, in_warped.y, 6 * s, 0);
                Point2 t = centroid(wp.target, in_target.x, in_target.y, 6 * s, 0);
                Point2 e = centroid(wp.target, in_target.x, in_target.y, 6 * s, 3);
                // Warped: inside a cell the map is bilinear, whose cross term bends a σ = 2 px dot slightly;
                // over 60 seeds that moved the centroid by at most 0.13·s px, so 0.2·s. A convention error
                // (align-corners resize, no [8s:72s] crop, swapped maps) moves it by ≥ 4 px.
                const double tol_w = 0.2 * s;
                EXPECT_NEAR(w.x, in_warped.x, tol_w) << "res " << res << " dot " << r << "," << c;
                EXPECT_NEAR(w.y, in_warped.y, tol_w) << "res " << res << " dot " << r << "," << c;
                // Target: a similarity, so only the resampling bias of the centroid (< 0.03 px seen).
                EXPECT_NEAR(t.x, in_target.x, 0.05) << "res " << res << " dot " << r << "," << c;
                EXPECT_NEAR(t.y, in_target.y, 0.05) << "res " << res << " dot " << r << "," << c;
                EXPECT_NEAR(e.x, t.x, 1e-3) << "the eye mask moves exactly like the image";
                EXPECT_NEAR(e.y, t.y, 1e-3) << "the eye mask moves exactly like the image";
                // The pair, through the fitted transform (the two tolerances above added).
                EXPECT_NEAR(t.x - w.x, shift.x, tol_w + 0.05) << "res " << res << " dot " << r << "," << c;
                EXPECT_NEAR(t.y - w.y, shift.y, tol_w + 0.05) << "res " << res << " dot " << r << "," << c;
            }
        // The displacements are real (pixels, several times the tolerance), so target == warped would fail.
        EXPECT_GT(max_shift, 1.0) << "res " << res;
    }
}

TEST(Augment, RandomHelpersAreDefinedAndInRange) {
    std::mt19937_64 a(9), b(9);
    for (int i = 0; i < 100; ++i) {
        double u = rand_uniform(a);
        ASSERT_EQ(u, rand_uniform(b));
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        int64_t k = rand_int(a, 7);
        ASSERT_EQ(k, rand_int(b, 7));
        ASSERT_GE(k, 0);
        ASSERT_LT(k, 7);
    }
    // The first uniform of the default seed (5489) is fixed by this file's definition: the top 53 bits of
    // mt19937_64's first output, 14514284786278117030, so the pipeline is the same on every standard library.
    std::mt19937_64 z;
    EXPECT_EQ(rand_uniform(z), double(14514284786278117030ull >> 11) * 0x1.0p-53);
    EXPECT_NE(derive_seed(1, {2, 3}), derive_seed(1, {3, 2}));
}

// --- the fast paths against the specification ---------------------------------------------------------------------
// The sampling (warp_affine, remap, apply_transform) and the colour transfer have fast paths that must give the
// reference's floats exactly (FS_REFERENCE_KERNELS=1 runs the reference): a training run's batches are a function
// of its seed whichever path made them.

namespace {
ImageF random_image(std::mt19937_64& rng, int h, int w, int c, bool bytes) {
    ImageF img(h, w, c);
    for (float& v : img.px) v = bytes ? float(rand_int(rng, 256)) : float(rand_uniform(rng, -1.5, 1.5));
    return img;
}

/// f() with the fast paths on and off.
template <class F>
std::pair<ImageF, ImageF> both_ways(F f) {
    ImageF fast, ref;
    {
        FastKernelsGuard g(true);
        fast = f();
    }
    {
        FastKernelsGuard g(false);
        ref = f();
    }
    return {fast, ref};
}

void expect_bitwise(const ImageF& a, const ImageF& b, const std::string& what) {
    ASSERT_EQ(a.h, b.h) << what;
    ASSERT_EQ(a.w, b.w) << what;
    ASSERT_EQ(a.c, b.c) << what;
    size_t diff = 0, first = 0;
    for (size_t i = 0; i < a.px.size(); ++i)
        if (std::memcmp(&a.px[i], &b.px[i], sizeof(float)) != 0 && diff++ == 0) first = i;
    EXPECT_EQ(diff, 0u) << what << ": first at " << first << " (" << a.px[first] << " vs " << b.px[first] << ")";
}
}  // namespace

TEST(Augment, FastWarpAndRemapAreTheReferenceBitwise) {
    std::mt19937_64 rng(41);
    for (int c : {1, 3, 4, 6}) {
        // Odd sizes, and sources both larger and smaller than the output: positions inside, on the last row and
        // column (x = w − 1 exactly: not interior), outside, and the last source pixel (the 3-channel path's
        // over-read guard).
        for (auto [h, w, oh, ow] : {std::array<int, 4>{37, 29, 41, 33}, {9, 13, 16, 16}, {64, 64, 64, 64}}) {
            ImageF src = random_image(rng, h, w, c, false);
            for (int trial = 0; trial < 4; ++trial) {
                TransformParams tp;
                tp.rotation_deg = rand_uniform(rng, -30, 30);
                tp.scale = rand_uniform(rng, 0.7, 1.3);
                tp.tx = rand_uniform(rng, -4, 4), tp.ty = rand_uniform(rng, -4, 4);
                const Affine m = transform_matrix(tp, h, w);
                const std::string what = "c " + std::to_string(c) + " " + std::to_string(h) + "x" +
                                         std::to_string(w) + " trial " + std::to_string(trial);
                for (Border b : {Border::constant, Border::replicate}) {
                    auto [fast, ref] = both_ways([&] { return warp_affine(src, m, oh, ow, b, 0.25f); });
                    expect_bitwise(fast, ref, "warp_affine " + what);
                }
                tp.flip = trial % 2 == 1;
                auto [fast, ref] = both_ways([&] { return apply_transform(src, tp); });
                expect_bitwise(fast, ref, "apply_transform " + what);
            }
            // The identity lands every position on a pixel centre, the last row and column included.
            const Affine id{1, 0, 0, 0, 1, 0};
            auto [fast, ref] = both_ways([&] { return warp_affine(src, id, h, w, Border::constant); });
            expect_bitwise(fast, ref, "identity");
            expect_bitwise(fast, src, "identity is the source");
            // remap: random positions over and beyond the image, exact edges, NaN and infinities.
            ImageF mx(oh, ow, 1), my(oh, ow, 1);
            for (size_t i = 0; i < mx.px.size(); ++i) {
                mx.px[i] = float(rand_uniform(rng, -2, w + 1));
                my.px[i] = float(rand_uniform(rng, -2, h + 1));
            }
            mx.px[0] = float(w - 1), my.px[0] = 0;
            mx.px[1] = float(w) - 1.0001f, my.px[1] = float(h) - 1.0001f;  // the last interior position
            mx.px[2] = std::numeric_limits<float>::quiet_NaN();
            my.px[3] = std::numeric_limits<float>::infinity();
            mx.px.back() = float(w) - 1.5f, my.px.back() = float(h) - 1.5f;  // reads the last source pixel
            for (Border b : {Border::constant, Border::replicate}) {
                auto [fast, ref] = both_ways([&] { return remap_bilinear(src, mx, my, b, -3.f); });
                expect_bitwise(fast, ref, "remap c " + std::to_string(c));
            }
        }
    }
}

TEST(Augment, TransformInABoxIsTheWholeTransformThere) {
    std::mt19937_64 rng(5);
    ImageF img = random_image(rng, 256, 256, 6, false);
    for (bool flip : {false, true}) {
        TransformParams tp = draw_transform(rng, 256);
        tp.flip = flip;
        const PixelBox box{17, 40, 201, 233};
        ImageF whole = apply_transform(img, tp), part = apply_transform(img, tp, box);
        size_t inside_diff = 0, outside_nonzero = 0;
        for (int y = 0; y < 256; ++y)
            for (int x = 0; x < 256; ++x)
                for (int ch = 0; ch < 6; ++ch) {
                    const bool in = x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1;
                    if (in) inside_diff += whole.at(y, x, ch) != part.at(y, x, ch);
                    else outside_nonzero += part.at(y, x, ch) != 0.f;
                }
        EXPECT_EQ(inside_diff, 0u) << "flip " << flip;
        EXPECT_EQ(outside_nonzero, 0u) << "flip " << flip;
    }
    EXPECT_THROW(apply_transform(img, TransformParams{}, PixelBox{0, 0, 257, 10}), Error);
}

// The pipeline computes the random transform only over warp_footprint: the warp's two outputs must not change.
// A footprint a few pixels smaller does change them (so this test sees a footprint that is too small).
TEST(Augment, WarpReadsOnlyItsFootprint) {
    std::mt19937_64 rng(8);
    ImageF img = random_image(rng, 256, 256, 6, false);
    int shrunk_changed = 0, trials = 0;
    double area = 0;
    for (int res : {64, 128, 256})
        for (int t = 0; t < 6; ++t, ++trials) {
            const TransformParams tp = draw_transform(rng, 256);
            const WarpParams wp = draw_warp(rng, res);
            const PixelBox box = warp_footprint(wp);
            area += double(box.x1 - box.x0) * double(box.y1 - box.y0) / (256.0 * 256.0);
            const WarpPair whole = apply_warp(apply_transform(img, tp), wp, 3);
            const WarpPair part = apply_warp(apply_transform(img, tp, box), wp, 3);
            expect_bitwise(part.warped, whole.warped, "warped, res " + std::to_string(res));
            expect_bitwise(part.target, whole.target, "target, res " + std::to_string(res));
            const PixelBox small{box.x0 + 4, box.y0 + 4, box.x1 - 4, box.y1 - 4};
            const WarpPair cut = apply_warp(apply_transform(img, tp, small), wp, 3);
            shrunk_changed += cut.warped.px != whole.warped.px || cut.target.px != whole.target.px;
        }
    EXPECT_EQ(shrunk_changed, trials);
    EXPECT_LT(area / trials, 0.75);  // it saves work: the grid spans 128 ± (78..97) px of the 256
}

TEST(Augment, ColorTransferTableIsThePerElementFormula) {
    std::mt19937_64 rng(12);
    for (int trial = 0; trial < 8; ++trial) {
        // 8-bit images (the table path) with some spread; sometimes a dark source whose result goes negative
        // (the shift) or a bright target (the rescale).
        ImageF src = random_image(rng, 256, 256, 3, true), tar = random_image(rng, 256, 256, 3, true);
        if (trial % 3 == 1)
            for (float& v : src.px) v = std::floor(v / 4);
        if (trial % 3 == 2)
            for (float& v : tar.px) v = 255 - std::floor(v / 8);
        const bool xyz = trial % 2 == 1;
        const double u = rand_uniform(rng);
        auto [fast, ref] = both_ways([&] { return color_transfer(src, tar, xyz, u); });
        expect_bitwise(fast, ref, "trial " + std::to_string(trial));
    }
    // A source that is not 8-bit takes the per-element path either way (the same function, so equal), and its
    // values may be non-integers: the result is not the rounded source's.
    ImageF src = random_image(rng, 160, 160, 3, true), tar = random_image(rng, 160, 160, 3, true);
    ImageF frac = src;
    frac.px[0] += 0.5f;
    const ImageF a = color_transfer(frac, tar, false, 0.5), b = color_transfer(src, tar, false, 0.5);
    EXPECT_NE(a.px[0], b.px[0]);
}

// --- FaceFolder -----------------------------------------------------------------------------------------------------

TEST(Dataset, FaceFolderListsSortedImagesOnly) {
    TempDir tmp;
    std::string d = tmp.sub("faces");
    write_faces(d, 3, 32, false, 1);
    std::filesystem::rename(d + "/face_001.png", d + "/b.PNG");
    std::filesystem::copy_file(d + "/face_000.png", d + "/a.bmp.png");
    std::ofstream(d + "/notes.txt") << "not an image";
    std::filesystem::create_directories(d + "/sub.png");  // a folder, not a file
    FaceFolder f(d);
    ASSERT_EQ(f.size(), 4u);
    EXPECT_EQ(std::filesystem::path(f.files()[0]).filename(), "a.bmp.png");
    EXPECT_EQ(std::filesystem::path(f.files()[1]).filename(), "b.PNG");
    EXPECT_EQ(std::filesystem::path(f.files()[2]).filename(), "face_000.png");
    EXPECT_FALSE(f.has_masks());
    EXPECT_FALSE(f.mask_for(0).has_value());
    EXPECT_TRUE(f.warnings().empty());
}

TEST(Dataset, FaceFolderErrorsNameTheFolder) {
    TempDir tmp;
    try {
        FaceFolder f(tmp.path + "/nope");
        FAIL() << "a missing folder must throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos) << e.what();
    }
    std::string empty = tmp.sub("empty");
    std::ofstream(empty + "/readme.txt") << "no images here";
    try {
        FaceFolder f(empty);
        FAIL() << "a folder without images must throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no images"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(empty), std::string::npos) << e.what();
    }
    std::string d = tmp.sub("faces");
    write_faces(d, 1, 32, false, 1);
    try {
        FaceFolder f(d, tmp.path + "/no_masks_here");
        FAIL() << "a missing mask folder must throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no_masks_here"), std::string::npos) << e.what();
    }
}

TEST(Dataset, MissingMasksWarnOnceAndGiveZeros) {
    TempDir tmp;
    std::string d = tmp.sub("faces"), m = tmp.sub("masks");
    write_faces(d, 4, 64, false, 2);
    write_mask(m + "/face_002.png", 64);  // only one of four has a mask
    FaceFolder f(d, m);
    EXPECT_TRUE(f.has_masks());
    EXPECT_EQ(f.missing_masks(), 3u);
    ASSERT_EQ(f.warnings().size(), 1u);  // one warning for the folder, not one per file
    EXPECT_NE(f.warnings()[0].find("3 of 4"), std::string::npos) << f.warnings()[0];
    EXPECT_NE(f.warnings()[0].find("face_000.png"), std::string::npos) << f.warnings()[0];
    EXPECT_EQ(*f.mask_for(0), "");
    EXPECT_NE(f.mask_for(2)->find("face_002.png"), std::string::npos);

    SampleOptions so;
    so.prob_color_match = 0;
    std::mt19937_64 r0(1), r2(1);
    TrainingSample missing = make_training_sample(f.files()[0], f.mask_for(0), f.files(), so, r0);
    TrainingSample present = make_training_sample(f.files()[2], f.mask_for(2), f.files(), so, r2);
    ASSERT_EQ(missing.eyes.c, 3);
    for (float v : missing.eyes.px) ASSERT_EQ(v, 0.f);
    float mx = *std::max_element(present.eyes.px.begin(), present.eyes.px.end());
    EXPECT_GT(mx, 0.9f);  // the white rectangles survive the warp (a mask of ones inside)
    // The loader: eyes defined (zeros for the unmasked faces), in [0, 1].
    LoaderOptions lo;
    lo.batch = 4, lo.threads = 1, lo.seed = 3;
    BatchLoader loader(f, lo);
    GanBatch b = loader.next();
    ASSERT_TRUE(b.eyes.defined());
    expect_in_range(b.eyes, 0, 1, "eyes");
    // And without masks the eye mask is undefined (the eye terms are off).
    BatchLoader plain{FaceFolder(d), lo};
    EXPECT_FALSE(plain.next().eyes.defined());
}

// --- the loader -----------------------------------------------------------------------------------------------------

TEST(Dataset, SampleStreamsAreIndependent) {
    TempDir tmp;
    std::string d = tmp.sub("faces"), m = tmp.sub("masks");
    write_faces(d, 2, 64, false, 3);
    write_mask(m + "/face_000.png", 64);
    FaceFolder f(d, m);
    // Colour matching on or off leaves the geometry (and so the eye mask, which is never recoloured) unchanged.
    SampleOptions on, off;
    on.prob_color_match = 1.0;
    off.prob_color_match = 0.0;
    int blurred = 0;
    for (uint64_t seed = 0; seed < 8; ++seed) {
        std::mt19937_64 r1(seed), r2(seed), r3(seed);
        TrainingSample a = make_training_sample(f.files()[0], f.mask_for(0), f.files(), on, r1);
        TrainingSample b = make_training_sample(f.files()[0], f.mask_for(0), f.files(), off, r2);
        EXPECT_EQ(a.eyes.px, b.eyes.px) << "seed " << seed;
        // Motion blur (p = 0.25 per sample) changes warped and target together, or neither.
        SampleOptions blur = off;
        blur.motion_blur = true;
        TrainingSample c = make_training_sample(f.files()[0], f.mask_for(0), f.files(), blur, r3);
        EXPECT_EQ(c.eyes.px, b.eyes.px) << "the mask is not blurred";
        bool w = c.warped.px != b.warped.px, t = c.target.px != b.target.px;
        EXPECT_EQ(w, t) << "seed " << seed;
        blurred += w;
    }
    EXPECT_GT(blurred, 0);  // these 8 fixed seeds blur some samples and not others
    EXPECT_LT(blurred, 8);
}

TEST(Dataset, BatchesAreDeterministicWhateverTheThreads) {
    TempDir tmp;
    std::string a = tmp.sub("a"), b = tmp.sub("b"), m = tmp.sub("masks");
    write_faces(a, 5, 96, false, 4);
    write_faces(b, 3, 96, true, 5);
    write_mask(m + "/face_001.png", 96);
    write_mask(m + "/face_003.png", 96);
    FaceFolder fa(a, m), fb(b);
    LoaderOptions opt;
    opt.batch = 3, opt.res = 64, opt.seed = 12345, opt.prefetch = 2;
    opt.threads = 0;
    BatchLoader sync(fa, fb, opt);
    std::vector<GanBatch> ref;
    for (int k = 0; k < 4; ++k) ref.push_back(sync.next());  // 12 samples: crosses two epoch boundaries
    for (int threads : {1, 3}) {
        opt.threads = threads;
        BatchLoader loader(fa, fb, opt);
        for (int k = 0; k < 4; ++k) {
            if (threads == 3 && k == 1) std::this_thread::sleep_for(std::chrono::milliseconds(30));  // let it race
            expect_same_batch(loader.next(), ref[size_t(k)],
                              "threads " + std::to_string(threads) + " batch " + std::to_string(k));
        }
        EXPECT_EQ(loader.position(), 4);
    }
    expect_same_batch(sync.batch_at(2), ref[2], "batch_at(2)");
    // Resuming at batch 2 gives batch 2.
    opt.first_batch = 2;
    BatchLoader resumed(fa, fb, opt);
    expect_same_batch(resumed.next(), ref[2], "first_batch 2");
    // Another seed gives other batches.
    opt.first_batch = 0;
    opt.seed = 12346;
    BatchLoader other(fa, fb, opt);
    EXPECT_GT(max_abs_diff(other.next().target, ref[0].target), 0.1);
}

// The decoded-face cache gives the samples of the files themselves, shared by two loaders, up to its size.
TEST(Dataset, CachedSamplesAreTheFileReads) {
    TempDir tmp;
    std::string a = tmp.sub("a"), b = tmp.sub("b"), m = tmp.sub("masks");
    write_faces(a, 4, 96, false, 14);
    write_faces(b, 3, 300, true, 15);  // not 256: resized on the way in
    write_mask(m + "/face_002.png", 96);
    FaceFolder fa(a, m), fb(b);
    LoaderOptions opt;
    opt.batch = 4, opt.seed = 99, opt.threads = 0, opt.prob_color_match = 0.8;
    BatchLoader plain(fa, fb, opt);
    std::shared_ptr<FaceCache> cache = shared_face_cache(size_t(64) << 20);
    EXPECT_EQ(shared_face_cache(1).get(), cache.get()) << "one cache while one is alive";
    opt.cache = cache;
    opt.threads = 2;
    BatchLoader cached(fa, fb, opt);
    for (int k = 0; k < 3; ++k) expect_same_batch(cached.next(), plain.next(), "batch " + std::to_string(k));
    EXPECT_GT(cache->files(), 4u);  // faces, the mask and colour partners from both folders
    EXPECT_LE(cache->files(), 8u);  // 4 + 3 faces + 1 mask
    EXPECT_EQ(cache->bytes(), cache->files() * 256 * 256 * 3);
    // Once full, files are read each time: the same samples.
    LoaderOptions uncached = opt;
    uncached.cache = nullptr;
    BatchLoader plain2(fa, fb, uncached);
    opt.cache = std::make_shared<FaceCache>(256 * 256 * 3 * 2);
    BatchLoader small(fa, fb, opt);
    for (int k = 0; k < 3; ++k)
        expect_same_batch(small.next(), plain2.next(), "small cache, batch " + std::to_string(k));
    EXPECT_EQ(opt.cache->files(), 2u);
    // A cached read of an unreadable file throws naming it, and caches nothing.
    std::ofstream(a + "/broken.png") << "not a png";
    FaceCache c(size_t(1) << 20);
    try {
        c.read_256(a + "/broken.png");
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("broken.png"), std::string::npos) << e.what();
    }
    EXPECT_EQ(c.files(), 0u);
}

TEST(Dataset, EveryEpochVisitsEveryFileOnce) {
    TempDir tmp;
    std::string d = tmp.sub("faces");
    write_faces(d, 7, 32, false, 6);
    LoaderOptions opt;
    opt.batch = 3, opt.threads = 0, opt.seed = 77;
    BatchLoader loader{FaceFolder(d), opt};
    std::vector<std::string> order;
    for (int64_t g = 0; g < 21; ++g) order.push_back(loader.file_of(g / 3, int(g % 3)));
    for (int e = 0; e < 3; ++e) {
        std::set<std::string> seen(order.begin() + e * 7, order.begin() + (e + 1) * 7);
        EXPECT_EQ(seen.size(), 7u) << "epoch " << e;
    }
    EXPECT_NE(std::vector<std::string>(order.begin(), order.begin() + 7),
              std::vector<std::string>(order.begin() + 7, order.begin() + 14))
        << "reshuffled every epoch";
}

TEST(Dataset, BatchShapesAndRanges) {
    TempDir tmp;
    std::string a = tmp.sub("a"), m = tmp.sub("masks");
    write_faces(a, 3, 128, false, 7);
    write_mask(m + "/face_000.png", 128);
    LoaderOptions opt;
    opt.batch = 2, opt.res = 128, opt.threads = 2, opt.motion_blur = true, opt.prob_color_match = 1.0;
    BatchLoader loader(FaceFolder(a, m), opt);
    for (int k = 0; k < 2; ++k) {
        GanBatch b = loader.next();
        for (const Tensor* t : {&b.warped, &b.target, &b.eyes}) EXPECT_EQ(t->shape(), (Shape{2, 3, 128, 128}));
        expect_in_range(b.warped, -1, 1, "warped");
        expect_in_range(b.target, -1, 1, "target");
        expect_in_range(b.eyes, 0, 1, "eyes");
        EXPECT_GT(stddev(b.target), 0.05);  // a face, not a flat fill
    }
}

TEST(Dataset, CorruptImageErrorNamesTheFileAndComesOutOfNext) {
    TempDir tmp;
    std::string d = tmp.sub("faces");
    write_faces(d, 1, 32, false, 8);
    std::ofstream(d + "/zz_bad.png") << "this is not a png";
    LoaderOptions opt;
    opt.batch = 2, opt.threads = 2, opt.prob_color_match = 0;  // both files are in batch 0
    {
        BatchLoader loader(FaceFolder(d), opt);
        try {
            loader.next();
            FAIL() << "a corrupt image must throw from next()";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("zz_bad.png"), std::string::npos) << e.what();
        }
        EXPECT_THROW(loader.batch_at(0), Error);
    }  // the destructor joins the workers after an error
    opt.threads = 0;
    BatchLoader sync(FaceFolder(d), opt);
    EXPECT_THROW(sync.next(), Error);
}

TEST(Dataset, LoaderShutsDownCleanly) {
    TempDir tmp;
    std::string d = tmp.sub("faces");
    write_faces(d, 4, 64, false, 9);
    LoaderOptions opt;
    opt.batch = 4, opt.threads = 4, opt.prefetch = 2;
    auto t0 = std::chrono::steady_clock::now();
    for (int taken : {0, 1, 3}) {
        BatchLoader loader{FaceFolder(d), opt};
        for (int k = 0; k < taken; ++k) loader.next();
    }  // destroyed with workers busy or blocked on a full queue
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(secs, 60.0);  // generous for 2 shared cores: a hang would never return at all
    LoaderOptions bad;
    bad.res = 96;
    EXPECT_THROW((BatchLoader{FaceFolder(d), bad}), Error);  // res must be a multiple of 64
}

// --- real faces ------------------------------------------------------------------------------------------------------

TEST(Dataset, CropReferenceFacesWritesOnlyDetectedFrames) {
    FS_REQUIRE_DATA();
    TempDir tmp;
    const std::string seq = shared_data_dir() + "/sequences/otb_girl";
    // Girl: a face in 398 of 500 frames (PROVENANCE.md §2); asking for more gives exactly those.
    int n = crop_reference_faces(seq, tmp.path + "/girl", 1000, 32);
    EXPECT_EQ(n, 398);
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(tmp.path + "/girl")) {
        (void)e;
        ++files;
    }
    EXPECT_EQ(files, 398);
    EXPECT_FALSE(std::filesystem::exists(tmp.path + "/girl/0086.png"));  // face −1 in the reference
    Image img = read_image(tmp.path + "/girl/0001.png");
    EXPECT_EQ(img.width, 32);
    EXPECT_EQ(img.height, 32);
}

TEST(Dataset, RealFacesSmoke) {
    FS_REQUIRE_DATA();
    TempDir tmp;
    const std::string seqs = shared_data_dir() + "/sequences";
    ASSERT_EQ(crop_reference_faces(seqs + "/lp_d6_woman_bun", tmp.path + "/A", 12), 12);
    ASSERT_EQ(crop_reference_faces(seqs + "/lp_d9_man_glasses", tmp.path + "/B", 12), 12);
    Image face = read_image(tmp.path + "/A/0001.png");
    EXPECT_EQ(face.width, 256);
    EXPECT_EQ(face.height, 256);
    for (int res : {64, 128}) {
        LoaderOptions opt;
        opt.res = res, opt.batch = 4, opt.threads = 2, opt.seed = 2024;
        BatchLoader la(FaceFolder(tmp.path + "/A"), FaceFolder(tmp.path + "/B"), opt);
        for (int k = 0; k < 3; ++k) {
            GanBatch b = la.next();
            EXPECT_EQ(b.warped.shape(), (Shape{4, 3, res, res}));
            EXPECT_EQ(b.target.shape(), (Shape{4, 3, res, res}));
            EXPECT_FALSE(b.eyes.defined());
            expect_in_range(b.warped, -1, 1, "warped");
            expect_in_range(b.target, -1, 1, "target");
            EXPECT_GT(stddev(b.target), 0.1);  // real faces have contrast
            // Warped and target show the same face, displaced by a few pixels of non-similar warp: their
            // correlation is high (≥ 0.83 on this seed), above that of a warped face with another sample's
            // target from the same clip (≤ 0.71 here: same person, similar pose).
            auto corr = [&](int i, int j) {
                std::vector<double> w = b.warped.slice(0, i, i + 1).to_vector(),
                                    t = b.target.slice(0, j, j + 1).to_vector();
                double mw = 0, mt = 0;
                for (size_t q = 0; q < w.size(); ++q) mw += w[q], mt += t[q];
                mw /= double(w.size()), mt /= double(t.size());
                double sww = 0, stt = 0, swt = 0;
                for (size_t q = 0; q < w.size(); ++q) {
                    sww += (w[q] - mw) * (w[q] - mw);
                    stt += (t[q] - mt) * (t[q] - mt);
                    swt += (w[q] - mw) * (t[q] - mt);
                }
                return swt / std::sqrt(sww * stt);
            };
            for (int i = 0; i < 4; ++i) {
                double same = corr(i, i), other = corr(i, (i + 1) % 4);
                EXPECT_GT(same, 0.75) << "res " << res << " batch " << k << " sample " << i;
                EXPECT_GT(same, other) << "res " << res << " batch " << k << " sample " << i;
            }
        }
    }
}
