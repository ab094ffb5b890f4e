// test_norm.cpp: hand-computed values pinning the exact semantics of the "norm" family: instance_norm (ε on σ,
// population std, scalar affine), group_norm (consecutive-channel groups, ε inside the sqrt), batch_norm
// (inference), resize_bilinear (TF1 legacy and half-pixel coordinates) and image_gradients (crop, |·|).
// The gradient check (test_ops.cpp) only proves each backward matches its forward; these prove the forward is the
// right function. Expected values are worked out in the comments; tolerances are double rounding only.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/functional.h"
#include "autograd/gradcheck.h"
#include "autograd/registry.h"

using namespace fs;

namespace {

Tensor t64(const Shape& s, const std::vector<double>& v) { return Tensor::from_vector(s, v, DType::f64); }

void expect_values(const Tensor& t, const std::vector<double>& want, double tol = 1e-12) {
    std::vector<double> got = t.to_vector();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

template <typename F>
void expect_throws_mentioning(F&& f, const std::string& text) {
    try {
        f();
        FAIL() << "no error thrown (expected one mentioning '" << text << "')";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
}

}  // namespace

// --- instance_norm ---------------------------------------------------------------------------------------------

TEST(InstanceNorm, DefaultsMatchKeras) {
    EXPECT_EQ(InstanceNormParams{}.eps, 1e-3);
    EXPECT_EQ(GroupNormParams{}.eps, 1e-6);
    EXPECT_EQ(BatchNormParams{}.eps, 1e-3);
}

TEST(InstanceNorm, EpsAddsToPopulationStdPerSample) {
    // x (2, 2, 1, 2); each sample is normalised over all of its C·H·W = 4 elements with one μ, one σ.
    //   sample 0: [0, 0, 2, 2]: μ = 1, population σ = 1 (sample std would be √(4/3));
    //             ε = 0.5 on σ: d = 1.5, x̂ = ±1/1.5 = ±2/3   (ε on the variance would give ±1/√1.5 = ±0.8165)
    //   sample 1: [1, 3, 5, 7]: μ = 4, σ = √5 = 2.2360680, d = 2.7360680,
    //             x̂ = [−3, −1, 1, 3]/2.7360680 = [−1.0964640, −0.3654880, 0.3654880, 1.0964640]
    // γ = 2, β = 0.5 (scalars): y = 2·x̂ + 0.5.
    Tensor x = t64({2, 2, 1, 2}, {0, 0, 2, 2, 1, 3, 5, 7});
    Tensor y = instance_norm(x, t64({1}, {2}), t64({1}, {0.5}), InstanceNormParams{0.5});
    ASSERT_EQ(y.shape(), (Shape{2, 2, 1, 2}));
    const double d1 = std::sqrt(5.0) + 0.5;
    expect_values(y, {2 * (-1 / 1.5) + 0.5, 2 * (-1 / 1.5) + 0.5, 2 * (1 / 1.5) + 0.5, 2 * (1 / 1.5) + 0.5,
                      2 * (-3 / d1) + 0.5, 2 * (-1 / d1) + 0.5, 2 * (1 / d1) + 0.5, 2 * (3 / d1) + 0.5});
    EXPECT_NEAR(y.at({0, 0, 0, 0}), -0.8333333333333333, 1e-12);  // 2·(−2/3) + 0.5
    EXPECT_NEAR(y.at({1, 1, 0, 1}), 2.6929280, 1e-7);              // 2·1.0964640 + 0.5
}

TEST(InstanceNorm, BackwardOfTheSigmaPlusEpsForm) {
    // x = [−1, 1] (one sample, M = 2), ε = 1, γ = 1: μ = 0, σ = 1, d = 2, x̂ = [−0.5, 0.5].
    // Directly: with u = (a−b)/2 < 0, y0 = u/(|u| + 1) = u/(1 − u), dy0/du = 1/(1−u)² = 1/4 at u = −1,
    // du/da = 1/2, du/db = −1/2  =>  dy0/da = 0.125, dy0/db = −0.125.
    // Formula (norm.h): dx_j = (dxh_j − mean dxh)/d − x̂_j·mean(dxh·x̂)/σ with dxh = [1, 0]: mean dxh = 0.5,
    // mean(dxh·x̂) = −0.25  =>  dx = [(0.5)/2 − 0.125, (−0.5)/2 + 0.125] = [0.125, −0.125].
    // dγ = Σ dy·x̂ = −0.5, dβ = Σ dy = 1.
    Tensor x = t64({1, 2}, {-1, 1}).set_requires_grad(true);
    Tensor g = t64({1}, {1}).set_requires_grad(true), b = t64({1}, {0}).set_requires_grad(true);
    Tensor y = instance_norm(x, g, b, InstanceNormParams{1.0});
    expect_values(y, {-0.5, 0.5});
    backward(y, t64({1, 2}, {1, 0}));
    expect_values(x.grad(), {0.125, -0.125});
    expect_values(g.grad(), {-0.5});
    expect_values(b.grad(), {1});
}

TEST(InstanceNorm, ConstantSampleGivesBeta) {
    // σ = 0: (x−μ)/(0+ε) = 0, so y = β, not NaN.
    Tensor y = instance_norm(t64({1, 3}, {4, 4, 4}), t64({1}, {3}), t64({1}, {-2}));
    expect_values(y, {-2, -2, -2});
}

TEST(InstanceNorm, EqualsGroupNormWithOneGroupWhenEpsIsZero) {
    // With ε = 0 both are (x−μ)/σ over the whole sample; only the affine differs (scalar vs per channel).
    std::mt19937_64 rng(5);
    Tensor x = Tensor::uniform({3, 4, 2, 5}, -1, 1, rng, DType::f64);
    Tensor a = instance_norm(x, t64({1}, {1.5}), t64({1}, {0.25}), InstanceNormParams{0.0});
    Tensor b = group_norm(x, t64({4}, {1.5, 1.5, 1.5, 1.5}), t64({4}, {0.25, 0.25, 0.25, 0.25}),
                          GroupNormParams{1, 0.0});
    EXPECT_LE(max_abs_diff(a, b), 1e-12);
}

TEST(InstanceNorm, RejectsPerChannelAffine) {
    Tensor x = t64({1, 2, 1, 1}, {1, 2});
    expect_throws_mentioning([&] { instance_norm(x, t64({2}, {1, 1}), t64({1}, {0})); }, "gamma");
}

// --- group_norm ------------------------------------------------------------------------------------------------

TEST(GroupNorm, GroupsAreConsecutiveChannels) {
    // x (1, 4, 1, 2), groups = 2, ε = 3 (inside the sqrt):
    //   group 0 = channels 0, 1 = [1, 3, 5, 7]: μ = 4, var = 5, sqrt(5+3) = 2√2,
    //             x̂ = [−3, −1, 1, 3]/2.8284271 = [−1.0606602, −0.3535534, 0.3535534, 1.0606602]
    //   group 1 = channels 2, 3 = [0, 0, 2, 2]: μ = 1, var = 1, sqrt(1+3) = 2, x̂ = [−0.5, −0.5, 0.5, 0.5]
    // (interleaved groups {0, 2}, {1, 3} would give different values.) γ = [1, 2, 3, 4], β = [0, 1, 0, −1]:
    //   ch0 = [−1.0606602, −0.3535534], ch1 = 2·[0.3535534, 1.0606602] + 1 = [1.7071068, 3.1213203],
    //   ch2 = 3·[−0.5, −0.5] = [−1.5, −1.5],  ch3 = 4·[0.5, 0.5] − 1 = [1, 1]
    Tensor x = t64({1, 4, 1, 2}, {1, 3, 5, 7, 0, 0, 2, 2});
    Tensor y = group_norm(x, t64({4}, {1, 2, 3, 4}), t64({4}, {0, 1, 0, -1}), GroupNormParams{2, 3.0});
    const double s = std::sqrt(8.0);
    expect_values(y, {-3 / s, -1 / s, 2 * (1 / s) + 1, 2 * (3 / s) + 1, -1.5, -1.5, 1, 1});
    EXPECT_NEAR(y.at({0, 1, 0, 1}), 3.1213203, 1e-7);
}

TEST(GroupNorm, OneGroupPerChannelIsInstanceNorm) {
    // groups = C = 2, ε = 3: channel 0 = [1, 3]: μ = 2, var = 1, x̂ = ±1/2; channel 1 = [0, 4]: μ = 2, var = 4,
    // sqrt(4+3) = √7, x̂ = ±2/√7 = ±0.7559289. γ = 1, β = 0.
    Tensor y = group_norm(t64({1, 2, 1, 2}, {1, 3, 0, 4}), t64({2}, {1, 1}), t64({2}, {0, 0}),
                          GroupNormParams{2, 3.0});
    expect_values(y, {-0.5, 0.5, -2 / std::sqrt(7.0), 2 / std::sqrt(7.0)});
}

TEST(GroupNorm, OneGroupNormalisesTheWholeSample) {
    // groups = 1, ε = 0: [0, 0, 2, 2] over two channels: μ = 1, var = 1, x̂ = [−1, −1, 1, 1]; per-channel
    // affine γ = [2, 3], β = [0, 10]: [−2, −2, 13, 13]. A second sample [4, 4, 4, 8]: μ = 5, var = 3,
    // x̂ = [−1, −1, −1, 3]/√3.
    Tensor y = group_norm(t64({2, 2, 1, 2}, {0, 0, 2, 2, 4, 4, 4, 8}), t64({2}, {2, 3}), t64({2}, {0, 10}),
                          GroupNormParams{1, 0.0});
    const double r3 = 1 / std::sqrt(3.0);
    expect_values(y, {-2, -2, 13, 13, -2 * r3, -2 * r3, 10 - 3 * r3, 10 + 9 * r3});
}

TEST(GroupNorm, FourConsecutiveChannelsPerGroupAsInUpscalePs) {
    // upscale_ps normalises 4f channels with groups = f: channels 4g..4g+3 share statistics. Check with f = 2 on
    // (1, 8, 1, 1) and ε = 0: group 0 = [0, 1, 2, 3]: μ = 1.5, var = 1.25; group 1 = [10, 10, 10, 14]: μ = 11,
    // var = 3.
    Tensor x = t64({1, 8, 1, 1}, {0, 1, 2, 3, 10, 10, 10, 14});
    Tensor ones = t64({8}, {1, 1, 1, 1, 1, 1, 1, 1}), zeros = t64({8}, {0, 0, 0, 0, 0, 0, 0, 0});
    Tensor y = group_norm(x, ones, zeros, GroupNormParams{2, 0.0});
    const double a = 1 / std::sqrt(1.25), b = 1 / std::sqrt(3.0);
    expect_values(y, {-1.5 * a, -0.5 * a, 0.5 * a, 1.5 * a, -b, -b, -b, 3 * b});
}

TEST(GroupNorm, ChecksDivisibilityAndAffineShape) {
    Tensor x = t64({1, 6, 1, 1}, {1, 2, 3, 4, 5, 6});
    Tensor g6 = t64({6}, {1, 1, 1, 1, 1, 1}), b6 = t64({6}, {0, 0, 0, 0, 0, 0});
    expect_throws_mentioning([&] { group_norm(x, g6, b6, GroupNormParams{4, 1e-6}); }, "not divisible by groups=4");
    expect_throws_mentioning([&] { group_norm(x, t64({3}, {1, 1, 1}), b6, GroupNormParams{2, 1e-6}); }, "gamma");
}

// --- batch_norm ------------------------------------------------------------------------------------------------

TEST(BatchNorm, StoredStatisticsPerChannel) {
    // x (2, 2) = [[1, 2], [3, 4]], mean = [1, 0], var = [3, 8], ε = 1: 1/sqrt(v+ε) = [1/2, 1/3];
    // γ = [2, −3], β = [0.5, 1]:
    //   y[0,0] = (1−1)·½·2 + 0.5 = 0.5     y[0,1] = (2−0)·⅓·(−3) + 1 = −1
    //   y[1,0] = (3−1)·½·2 + 0.5 = 2.5     y[1,1] = (4−0)·⅓·(−3) + 1 = −3
    // The batch's own statistics play no part (inference mode).
    Tensor g = t64({2}, {2, -3}), b = t64({2}, {0.5, 1}), m = t64({2}, {1, 0}), v = t64({2}, {3, 8});
    expect_values(batch_norm(t64({2, 2}, {1, 2, 3, 4}), g, b, m, v, BatchNormParams{1.0}), {0.5, -1, 2.5, -3});
    // The same numbers in NCHW (1, 2, 1, 2): channel 0 = [1, 3], channel 1 = [2, 4].
    expect_values(batch_norm(t64({1, 2, 1, 2}, {1, 3, 2, 4}), g, b, m, v, BatchNormParams{1.0}),
                  {0.5, 2.5, -1, -3});
}

TEST(BatchNorm, GradientsOfAllFiveInputs) {
    // One channel, x = [1, 3], mean = 1, var = 3, ε = 1 (r = ½), γ = 2, dy = [1, 1]:
    //   dx = dy·γ·r = [1, 1];  dβ = Σ dy = 2;  dγ = r·Σ dy·(x−m) = ½·2 = 1;  dmean = −γ·r·Σ dy = −2;
    //   dvar = −½·γ·r³·Σ dy·(x−m) = −½·2·⅛·2 = −0.25
    auto leaf = [](std::vector<double> v) {
        return t64({int64_t(v.size())}, v).set_requires_grad(true);
    };
    Tensor x = t64({2, 1}, {1, 3}).set_requires_grad(true);
    Tensor g = leaf({2}), b = leaf({0}), m = leaf({1}), v = leaf({3});
    backward(batch_norm(x, g, b, m, v, BatchNormParams{1.0}), t64({2, 1}, {1, 1}));
    expect_values(x.grad(), {1, 1});
    expect_values(g.grad(), {1});
    expect_values(b.grad(), {2});
    expect_values(m.grad(), {-2});
    expect_values(v.grad(), {-0.25});
}

// --- resize_bilinear -------------------------------------------------------------------------------------------

TEST(ResizeBilinear, LegacyTwoToThree) {
    // TF1 legacy, 2 -> 3 on both axes, scale 2/3: src = dst·2/3 = [0, 2/3, 4/3];
    // taps (lower, upper, frac): (0, 1, 0), (0, 1, 2/3), (1, 1, 1/3) -> effective position s = [0, 2/3, 1]
    // (the last one is clamped to the edge row).
    // A linear image x = 6a + 3b is reproduced exactly: y = 6·s(i) + 3·s(j):
    //   [[0, 2, 3], [4, 6, 7], [6, 8, 9]]
    // A delta x = [[1, 0], [0, 0]] gives the product of the weights (1−s) = [1, 1/3, 0] on each axis:
    //   [[1, 1/3, 0], [1/3, 1/9, 0], [0, 0, 0]]
    ResizeParams p{3, 3, ResizeMode::tf_legacy};
    expect_values(resize_bilinear(t64({1, 1, 2, 2}, {0, 3, 6, 9}), p), {0, 2, 3, 4, 6, 7, 6, 8, 9});
    expect_values(resize_bilinear(t64({1, 1, 2, 2}, {1, 0, 0, 0}), p),
                  {1, 1. / 3, 0, 1. / 3, 1. / 9, 0, 0, 0, 0});
}

TEST(ResizeBilinear, HalfPixelTwoToThree) {
    // Half-pixel, 2 -> 3: src = (dst+0.5)·2/3 − 0.5 = [−1/6, 1/2, 7/6]:
    //   −1/6: floor −1 -> lower clamped to 0, upper = ceil = 0: x[0] (PyTorch clamps src to 0: also x[0])
    //   1/2:  lower 0, upper 1, frac 1/2
    //   7/6:  lower 1, upper min(2, 1) = 1: x[1]
    // effective s = [0, 1/2, 1]. Delta image: (1−s) ⊗ (1−s) = [[1, .5, 0], [.5, .25, 0], [0, 0, 0]], which is
    // what torch.nn.functional.interpolate(size=3, mode='bilinear', align_corners=False) gives.
    ResizeParams p{3, 3, ResizeMode::half_pixel};
    expect_values(resize_bilinear(t64({1, 1, 2, 2}, {1, 0, 0, 0}), p), {1, 0.5, 0, 0.5, 0.25, 0, 0, 0, 0});
}

TEST(ResizeBilinear, FourToThreeAlongOneAxis) {
    // x (1, 1, 1, 4) = [0, 10, 20, 40] (not linear, so the tap choice shows); H stays 1.
    //   legacy: src = dst·4/3 = [0, 4/3, 8/3]: 0; 10 + 10/3 = 13.333…; 20 + 20·2/3 = 33.333…
    //   half:   src = (dst+0.5)·4/3 − 0.5 = [1/6, 3/2, 17/6]: 10/6 = 1.666…; 15; 20 + 20·5/6 = 36.666…
    Tensor x = t64({1, 1, 1, 4}, {0, 10, 20, 40});
    expect_values(resize_bilinear(x, ResizeParams{1, 3, ResizeMode::tf_legacy}), {0, 40. / 3, 100. / 3});
    expect_values(resize_bilinear(x, ResizeParams{1, 3, ResizeMode::half_pixel}), {10. / 6, 15, 110. / 3});
    // A single output pixel: legacy takes the top-left source pixel, half-pixel the centre (src = 1.5).
    expect_values(resize_bilinear(x, ResizeParams{1, 1, ResizeMode::tf_legacy}), {0});
    expect_values(resize_bilinear(x, ResizeParams{1, 1, ResizeMode::half_pixel}), {15});
}

TEST(ResizeBilinear, TwoToFourUpsample) {
    // x = [0, 10] -> 4 samples.
    //   legacy: src = dst/2 = [0, 0.5, 1, 1.5] -> [0, 5, 10, 10] (the last one clamped to the edge)
    //   half:   src = dst/2 − 0.25 = [−0.25, 0.25, 0.75, 1.25] -> [0, 2.5, 7.5, 10] (PyTorch's values)
    Tensor x = t64({1, 1, 1, 2}, {0, 10});
    expect_values(resize_bilinear(x, ResizeParams{1, 4, ResizeMode::tf_legacy}), {0, 5, 10, 10});
    expect_values(resize_bilinear(x, ResizeParams{1, 4, ResizeMode::half_pixel}), {0, 2.5, 7.5, 10});
}

TEST(ResizeBilinear, BackwardScattersWithTheForwardWeights) {
    // legacy 4 -> 3 as above, dy = [1, 1, 1]: dst 0 -> x0 (weight 1); dst 1 -> x1 2/3, x2 1/3;
    // dst 2 -> x2 1/3, x3 2/3  =>  dx = [1, 2/3, 2/3, 2/3].
    Tensor x = t64({1, 1, 1, 4}, {0, 10, 20, 40}).set_requires_grad(true);
    backward(resize_bilinear(x, ResizeParams{1, 3, ResizeMode::tf_legacy}), t64({1, 1, 1, 3}, {1, 1, 1}));
    expect_values(x.grad(), {1, 2. / 3, 2. / 3, 2. / 3});
}

TEST(ResizeBilinear, SourceTaps) {
    // The shared tap function itself, at the clamped ends.
    ResizeTap t = resize_source_tap(ResizeMode::half_pixel, 0, 2, 4);  // src = −0.25
    EXPECT_EQ(t.lower, 0);
    EXPECT_EQ(t.upper, 0);
    EXPECT_DOUBLE_EQ(t.frac, 0.75);
    t = resize_source_tap(ResizeMode::tf_legacy, 3, 2, 4);  // src = 1.5 in a 2-sample axis
    EXPECT_EQ(t.lower, 1);
    EXPECT_EQ(t.upper, 1);
    EXPECT_DOUBLE_EQ(t.frac, 0.5);
    t = resize_source_tap(ResizeMode::tf_legacy, 7, 64, 224);  // src = 7·64/224 = 2 exactly
    EXPECT_EQ(t.lower, 2);
    EXPECT_EQ(t.frac, 0.0);
}

// --- image_gradients -------------------------------------------------------------------------------------------

TEST(ImageGradients, AbsoluteDifferencesCroppedToHm1Wm1) {
    // x (1, 1, 3, 3) = [[1, 4, 2], [0, 5, 5], [3, 3, 9]]; output 2×2.
    //   vertical   |x[i+1,j] − x[i,j]|, j < 2: row 0: |0−1| = 1, |5−4| = 1; row 1: |3−0| = 3, |3−5| = 2
    //   horizontal |x[i,j+1] − x[i,j]|, i < 2: row 0: |4−1| = 3, |2−4| = 2; row 1: |5−0| = 5, |5−5| = 0
    Tensor x = t64({1, 1, 3, 3}, {1, 4, 2, 0, 5, 5, 3, 3, 9});
    Tensor v = image_gradients(x, ImageGradParams{ImageGradAxis::vertical});
    ASSERT_EQ(v.shape(), (Shape{1, 1, 2, 2}));
    expect_values(v, {1, 1, 3, 2});
    expect_values(image_gradients(x, ImageGradParams{ImageGradAxis::horizontal}), {3, 2, 5, 0});
}

TEST(ImageGradients, BackwardSignsAndZeroAtTies) {
    // Horizontal on the image above with dy = 1: each output sends +sign to x[i,j+1] and −sign to x[i,j]:
    //   (0,0): 4−1 > 0: dx[0,1] += 1, dx[0,0] −= 1     (0,1): 2−4 < 0: dx[0,2] −= 1, dx[0,1] += 1
    //   (1,0): 5−0 > 0: dx[1,1] += 1, dx[1,0] −= 1     (1,1): 5−5 = 0: a tie passes nothing
    //   the last row is cropped away: 0.   dx = [[−1, 2, −1], [−1, 1, 0], [0, 0, 0]]
    Tensor x = t64({1, 1, 3, 3}, {1, 4, 2, 0, 5, 5, 3, 3, 9}).set_requires_grad(true);
    backward(image_gradients(x, ImageGradParams{ImageGradAxis::horizontal}), t64({1, 1, 2, 2}, {1, 1, 1, 1}));
    expect_values(x.grad(), {-1, 2, -1, -1, 1, 0, 0, 0, 0});
}

TEST(ImageGradients, NeedsTwoRowsAndColumns) {
    expect_throws_mentioning(
        [] { image_gradients(t64({1, 1, 1, 3}, {1, 2, 3}), ImageGradParams{ImageGradAxis::vertical}); },
        "H >= 2");
}

TEST(ImageGradients, GradcheckCasesStayOffTheKinks) {
    // The generic gradient check tolerates up to 5 % skipped (kinked) elements; this op's cases should need none:
    // a tie within ±1e-6 between two uniform neighbours is a ~1e-6 event. Pin it, so a change to the cases or to
    // the skip rule that starts hiding real elements shows up here.
    const OpSpec& spec = op_by_name("image_gradients");
    for (const TestCase& tc : spec.test_cases()) {
        GradcheckResult r = gradcheck(spec, tc);
        EXPECT_TRUE(r.ok) << tc.name << "\n" << r.report;
        EXPECT_EQ(r.skipped_kinks, 0) << tc.name;
        EXPECT_GT(r.checked, 0) << tc.name;
    }
}
