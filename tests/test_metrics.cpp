// test_metrics.cpp: PSNR and SSIM on cases with known answers: identical images, a constant offset (by hand), an
// independent reference computation of SSIM (direct 2-D windows, in Python, numbers below), the per-channel
// average, and the ordering that makes them useful (more damage scores lower).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "faceswap/metrics.h"

using namespace fs;

namespace {

ImageF pattern(int h, int w, int c, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> u(0, 200);
    ImageF img(h, w, c);
    for (float& v : img.px) v = float(u(rng));
    return img;
}

ImageF add_noise(const ImageF& img, double sd, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n(0.0, sd);
    ImageF out = img;
    for (float& v : out.px) v = float(std::clamp(std::nearbyint(v + n(rng)), 0.0, 255.0));
    return out;
}

}  // namespace

TEST(Metrics, IdenticalImages) {
    ImageF a = pattern(20, 24, 3, 1);
    EXPECT_TRUE(std::isinf(psnr(a, a)));
    EXPECT_GT(psnr(a, a), 0);
    EXPECT_EQ(mse(a, a), 0.0);
    // Every window's ratio is exactly (2μ² + C1)(2σ² + C2) / ((2μ² + C1)(2σ² + C2)); rounding in the variance
    // (E[x²] − μ², values up to 200² = 4e4) leaves at most ~1e-12.
    EXPECT_NEAR(ssim(a, a), 1.0, 1e-12);
}

TEST(Metrics, ConstantOffsetByHand) {
    ImageF a = pattern(16, 16, 3, 2), b = a;
    for (float& v : b.px) v += 5.f;  // values stay <= 205: no clipping
    // MSE = 25, PSNR = 10·log10(255²/25) = 20·log10(51) = 34.151403521958726 dB.
    EXPECT_DOUBLE_EQ(mse(a, b), 25.0);
    EXPECT_NEAR(psnr(a, b), 34.151403521958726, 1e-9);  // double rounding of log10 only
    // Flat images x ≡ 100, y ≡ 110: σ terms vanish, SSIM = (2·100·110 + C1) / (100² + 110² + C1) with
    // C1 = 2.55² = 6.5025: 22006.5025 / 22106.5025 = 0.9954764440915066.
    ImageF x(12, 12, 1, 100.f), y(12, 12, 1, 110.f);
    EXPECT_NEAR(ssim(x, y), 0.9954764440915066, 1e-12);  // flat windows: exact up to double rounding
    EXPECT_NEAR(psnr(x, y), 20 * std::log10(25.5), 1e-9);
}

TEST(Metrics, SsimMatchesAnIndependentReference) {
    // The reference: a direct Python implementation of ssim_index.m's definition (2-D Gaussian window summed
    // pixel by pixel, variances as Σw(x − μ)², 'valid' positions), on this deterministic 16×13 pair:
    //   x(i, j) = (37i + 91j + (ij mod 11)) mod 256,  y = round(clip(x + 20·sin(0.7i + 0.3j) − 5, 0, 255)).
    // It gave SSIM 0.9854237194677631 over 6×3 = 18 windows and PSNR 24.75947615135272 dB.
    const int H = 16, W = 13;
    ImageF x(H, W, 1), y(H, W, 1);
    for (int i = 0; i < H; ++i)
        for (int j = 0; j < W; ++j) {
            double v = double((37 * i + 91 * j + (i * j) % 11) % 256);
            x.at(i, j, 0) = float(v);
            y.at(i, j, 0) = float(std::nearbyint(std::clamp(v + 20 * std::sin(0.7 * i + 0.3 * j) - 5, 0.0, 255.0)));
        }
    // Two summation orders (separable E[x²] − μ² here, centred sums there) agree to ~1e-12 at these magnitudes;
    // 1e-9 leaves room and still catches any change of window, constant or weighting (those move it by > 1e-4).
    EXPECT_NEAR(ssim(x, y), 0.9854237194677631, 1e-9);
    EXPECT_NEAR(psnr(x, y), 24.75947615135272, 1e-9);
}

TEST(Metrics, ChannelsAreScoredSeparatelyAndAveraged) {
    ImageF a = pattern(14, 14, 3, 3), b = a;
    ImageF a0(14, 14, 1), b0(14, 14, 1);
    for (int y = 0; y < 14; ++y)
        for (int x = 0; x < 14; ++x) {
            b.at(y, x, 0) = float((x * 13 + y * 7) % 200);  // only channel 0 changes
            a0.at(y, x, 0) = a.at(y, x, 0), b0.at(y, x, 0) = b.at(y, x, 0);
        }
    const double s0 = ssim(a0, b0);
    EXPECT_LT(s0, 0.5);  // an unrelated pattern in that channel
    EXPECT_NEAR(ssim(a, b), (s0 + 1.0 + 1.0) / 3.0, 1e-12);
}

TEST(Metrics, MoreDamageScoresLower) {
    ImageF a = pattern(32, 32, 3, 4);
    ImageF mild = add_noise(a, 3.0, 5), strong = add_noise(a, 30.0, 6);
    EXPECT_GT(psnr(a, mild), psnr(a, strong));
    EXPECT_GT(ssim(a, mild), ssim(a, strong));
    EXPECT_LT(ssim(a, mild), 1.0);
    // symmetric in its two arguments
    EXPECT_NEAR(ssim(a, strong), ssim(strong, a), 1e-12);
    EXPECT_DOUBLE_EQ(psnr(a, strong), psnr(strong, a));
}

TEST(Metrics, RejectsMismatchedOrTinyImages) {
    EXPECT_THROW(psnr(ImageF(8, 8, 3), ImageF(8, 9, 3)), Error);
    EXPECT_THROW(ssim(ImageF(16, 16, 3), ImageF(16, 16, 1)), Error);
    EXPECT_THROW(ssim(ImageF(10, 40, 1), ImageF(10, 40, 1)), Error);  // smaller than the 11×11 window
    EXPECT_THROW(psnr(ImageF(), ImageF()), Error);
}

TEST(Metrics, MeansCapInfinitePsnr) {
    QualityMeans m;
    m.add(std::numeric_limits<double>::infinity(), 1.0);
    m.add(20.0, 0.5);
    EXPECT_DOUBLE_EQ(m.psnr(), (QualityMeans::psnr_cap + 20.0) / 2);
    EXPECT_DOUBLE_EQ(m.ssim(), 0.75);
    EXPECT_EQ(m.n, 2);
}

TEST(Metrics, EightBitImagesAgreeWithFloat) {
    Image a, b;
    a.width = b.width = 12, a.height = b.height = 12, a.channels = b.channels = 3;
    a.pixels.resize(12 * 12 * 3), b.pixels.resize(12 * 12 * 3);
    ImageF fa(12, 12, 3), fb(12, 12, 3);
    for (size_t i = 0; i < a.pixels.size(); ++i) {
        a.pixels[i] = uint8_t((i * 29) % 256), b.pixels[i] = uint8_t((i * 31 + 7) % 256);
        fa.px[i] = a.pixels[i], fb.px[i] = b.pixels[i];
    }
    EXPECT_DOUBLE_EQ(psnr(a, b), psnr(fa, fb));
    EXPECT_DOUBLE_EQ(ssim(a, b), ssim(fa, fb));
}
