// test_losses.cpp: each loss term of spec §5.2–5.3 against a small case computed by hand (in the comments).
#include <gtest/gtest.h>

#include <cmath>

#include "faceswap/losses.h"

using namespace fs;

namespace {
Tensor t4(Shape s, std::vector<double> v) { return Tensor::from_vector(s, v, DType::f64); }
// Results are sums of a handful of exact binary fractions in double: only rounding of the last bit differs.
constexpr double k_tol = 1e-12;
}  // namespace

TEST(Losses, ReconstructionL1AndEyes) {
    DecoderOut o;
    o.bgr = t4({1, 1, 1, 2}, {0.5, -0.5});
    Tensor y = t4({1, 1, 1, 2}, {0, 0});
    LossWeights w;
    // mean|b − y| = 0.5
    EXPECT_NEAR(recon_loss(o, y, Tensor(), w).item(), 0.5, k_tol);
    // + 30 · mean|E ⊙ (b − y)| = 30 · (0.5 + 0)/2 = 7.5
    EXPECT_NEAR(recon_loss(o, y, t4({1, 1, 1, 2}, {1, 0}), w).item(), 8.0, k_tol);
}

TEST(Losses, ReconstructionAuxHeadAgainstResizedTarget) {
    DecoderOut o;
    Tensor y = t4({1, 1, 2, 2}, {1, 2, 3, 4});
    o.bgr = y;                               // no error at full size
    o.aux = {t4({1, 1, 1, 1}, {0.25})};      // TF1 resize 2×2 → 1×1 samples y[0,0] = 1: |0.25 − 1| = 0.75
    EXPECT_NEAR(recon_loss(o, y, Tensor(), LossWeights{}).item(), 0.75, k_tol);
}

TEST(Losses, EdgeComparesGradientMagnitudes) {
    Tensor b = t4({1, 1, 2, 2}, {0, 1, 2, 4});
    Tensor y = t4({1, 1, 2, 2}, {0, 0, 0, 0});
    // ∂ᵥb = |2 − 0| = 2, ∂ₕb = |1 − 0| = 1 (cropped to 1×1); y's are 0: 0.1 · (2 + 1) = 0.3
    EXPECT_NEAR(edge_loss(b, y, Tensor(), LossWeights{}).item(), 0.3, k_tol);
    // E = 0.5 everywhere (resized to 1×1 still 0.5): + 30 · (0.5·2 + 0.5·1) = 45
    Tensor e = t4({1, 1, 2, 2}, {0.5, 0.5, 0.5, 0.5});
    EXPECT_NEAR(edge_loss(b, y, e, LossWeights{}).item(), 45.3, 1e-11);
    // magnitudes, not signed differences: flipping b's sign changes nothing
    EXPECT_NEAR(edge_loss(scale(b, -1.0), y, Tensor(), LossWeights{}).item(), 0.3, k_tol);
}

TEST(Losses, AlphaTermsAndTotalVariation) {
    Tensor a = t4({1, 1, 1, 2}, {0.2, 0.6});
    EXPECT_NEAR(alpha_loss(a, false, 0.0).item(), 0.01 * 0.4, k_tol);         // 0.01 · mean|α|
    EXPECT_NEAR(alpha_loss(a, true, 0.5).item(), 0.1 * (0.3 + 0.0) / 2, k_tol);  // 0.1 · mean max(0, 0.5 − α)
    Tensor b = t4({1, 1, 2, 2}, {0, 0.5, 1, 0});
    EXPECT_NEAR(alpha_tv_loss(b).item(), 0.1 * 1 + 0.1 * 0.5, k_tol);  // ∂ᵥ = |1 − 0|, ∂ₕ = |0.5 − 0|
}

TEST(Losses, L2IsASumOfSquares) {
    NamedTensors k = {{"a", t4({2}, {1, 2})}, {"b", t4({1}, {3})}};
    EXPECT_NEAR(l2_loss(k, 1e-4).item(), 1e-4 * 14, k_tol);
    EXPECT_EQ(l2_loss({}, 1e-4).item(), 0.0);
}

TEST(Losses, MixupLsganWithAZeroDiscriminator) {
    // With every weight zero the discriminator outputs 0 everywhere (norms of 0 are 0, attention's γ is 0):
    // adversarial = 0.1 · [mean(0 − 1)² + mean(0 − 1)²] = 0.2; D loss = 2 · mean(0 − λ)² = 2λ².
    SkipInitGuard zeros;
    ModelConfig c;
    c.capacity = Capacity::lite;
    std::mt19937_64 rng(1);
    Discriminator D(c, rng);
    Tensor x = Tensor::uniform({1, 3, 64, 64}, -1, 1, rng), y = Tensor::uniform({1, 3, 64, 64}, -1, 1, rng);
    Tensor m = Tensor::uniform({1, 3, 64, 64}, -1, 1, rng), b = Tensor::uniform({1, 3, 64, 64}, -1, 1, rng);
    EXPECT_NEAR(adversarial_loss(D, m, b, x, LossWeights{}).item(), 0.2, 1e-6);  // f32 network
    EXPECT_NEAR(mixup_lsgan_d_loss(D, y, x, m, b, 0.3).item(), 2 * 0.09, 1e-6);
    EXPECT_THROW(mixup_lsgan_d_loss(D, y, x, m, b, 1.5), Error);
}

TEST(Losses, BetaDrawsHaveTheRightMoments) {
    std::mt19937_64 rng(5);
    const int n = 40000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
        double v = sample_beta(0.2, 0.2, rng);
        ASSERT_TRUE(v >= 0 && v <= 1);
        s += v, s2 += v * v;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    // Beta(0.2, 0.2): mean 0.5, variance ab/((a+b)²(a+b+1)) = 0.04/(0.16·1.4) = 0.17857. With 40000 draws the
    // standard errors are about 0.0021 (mean) and 0.0009 (variance): 5 σ bands.
    EXPECT_NEAR(mean, 0.5, 0.011);
    EXPECT_NEAR(var, 0.178571, 0.005);
}

TEST(Losses, ShapeMismatchIsAnError) {
    DecoderOut o;
    o.bgr = t4({1, 1, 1, 2}, {0, 0});
    EXPECT_THROW(recon_loss(o, t4({1, 1, 2, 1}, {0, 0}), Tensor(), LossWeights{}), Error);
}
