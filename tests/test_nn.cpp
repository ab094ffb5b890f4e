// test_nn.cpp: hand-computed values pinning the semantics of conv2d, max_pool2d and avg_pool2d: TF 'same'
// padding (asymmetric for stride 2), reflect padding, bias, padded cells in pooling, Caffe ceil mode, the
// first-maximum rule, and the checks at the API boundary. The gradient check (test_ops.cpp) proves backward
// matches forward; these prove forward is the intended function. All values are small integers or halves,
// exact in double, so comparisons are exact.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>

#include "autograd/functional.h"

using namespace fs;

namespace {

Tensor t64(const Shape& s, const std::vector<double>& v) { return Tensor::from_vector(s, v, DType::f64); }

// 1, 2, ..., n (times `sign`) as a (1, 1, H, W) image.
Tensor ramp(int64_t H, int64_t W, double sign = 1.0) {
    std::vector<double> v(static_cast<size_t>(H * W));
    for (size_t i = 0; i < v.size(); ++i) v[i] = sign * double(i + 1);
    return t64({1, 1, H, W}, v);
}

// A (1, 1, 3, 3) kernel that is zero except for a 1 at (r, c): it picks one tap, exposing the orientation
// (no flip) and exactly which padded cell each output reads.
Tensor pick(int r, int c) {
    std::vector<double> v(9, 0.0);
    v[static_cast<size_t>(r * 3 + c)] = 1.0;
    return t64({1, 1, 3, 3}, v);
}

using V = std::vector<double>;

void expect_throws_with(const std::function<void()>& f, const std::string& needle) {
    try {
        f();
        ADD_FAILURE() << "expected an fs::Error mentioning '" << needle << "'";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

}  // namespace

// --- TF 'same' padding rule ----------------------------------------------------------------------------------

TEST(Conv2dParams, TfSameMatchesTheSpecTable) {
    // out = ceil(in/s), total = max((out-1)·s + k - in, 0), before = total/2, after = the rest.
    auto pads = [](Conv2dParams p) { return V{double(p.pad_top), double(p.pad_bottom), double(p.pad_left),
                                              double(p.pad_right)}; };
    // 3×3/s2 on 64: out 32, total 31·2+3-64 = 1 -> (0, 1).
    EXPECT_EQ(pads(Conv2dParams::tf_same(3, 3, 2, 64, 64)), (V{0, 1, 0, 1}));
    // 3×3/s2 on 7 (odd): out 4, total 6+3-7 = 2 -> (1, 1); on 4 -> (0, 1).
    EXPECT_EQ(pads(Conv2dParams::tf_same(3, 3, 2, 7, 4)), (V{1, 1, 0, 1}));
    // 4×4/s2 on 64: total 31·2+4-64 = 2 -> (1, 1).
    EXPECT_EQ(pads(Conv2dParams::tf_same(4, 4, 2, 64, 64)), (V{1, 1, 1, 1}));
    // 4×4/s1 on 8 (discriminator head): total 3 -> (1, 2).
    EXPECT_EQ(pads(Conv2dParams::tf_same(4, 4, 1, 8, 8)), (V{1, 2, 1, 2}));
    // 5×5/s1: (2, 2); 3×3/s1: (1, 1); 1×1/s2 on 8: total 3·2+1-8 < 0 -> (0, 0).
    EXPECT_EQ(pads(Conv2dParams::tf_same(5, 5, 1, 64, 64)), (V{2, 2, 2, 2}));
    EXPECT_EQ(pads(Conv2dParams::tf_same(3, 3, 1, 5, 6)), (V{1, 1, 1, 1}));
    EXPECT_EQ(pads(Conv2dParams::tf_same(1, 1, 2, 8, 8)), (V{0, 0, 0, 0}));
    Conv2dParams s = Conv2dParams::tf_same(3, 3, 2, 8, 8);
    EXPECT_EQ(s.stride_h, 2);
    EXPECT_EQ(s.stride_w, 2);
    Conv2dParams v = Conv2dParams::valid(2);
    EXPECT_EQ(pads(v), (V{0, 0, 0, 0}));
    EXPECT_EQ(v.stride_h, 2);
}

// --- conv2d --------------------------------------------------------------------------------------------------

TEST(Conv2d, TfSameStride2OnEvenInputPadsOnlyBottomRight) {
    // x = 1..16 as 4×4:   1  2  3  4 /  5  6  7  8 /  9 10 11 12 / 13 14 15 16.
    // 3×3/s2 'same' pads top/left 0, bottom/right 1; output 2×2, windows start at rows/cols 0 and 2.
    Tensor x = ramp(4, 4);
    Conv2dParams p = Conv2dParams::tf_same(3, 3, 2, 4, 4);
    // All-ones kernel: window sums.
    //   (0,0) rows 0-2, cols 0-2: 6 + 18 + 30 = 54
    //   (0,1) rows 0-2, cols 2-3 (+ a padded col 4): 7 + 15 + 23 = 45
    //   (1,0) rows 2-3 (+ padded row 4), cols 0-2: 30 + 42 = 72
    //   (1,1) rows 2-3, cols 2-3: 11 + 12 + 15 + 16 = 54
    // (PyTorch-style symmetric padding 1 would give (0,0) = 1+2+5+6 = 14 instead.)
    Tensor ones = t64({1, 1, 3, 3}, V(9, 1.0));
    Tensor y = conv2d(x, ones, Tensor(), p);
    EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_EQ(y.to_vector(), (V{54, 45, 72, 54}));
    // Tap (0,0) reads x[2·oh][2·ow]: 1, 3, 9, 11 (no padding on top/left, so nothing reads a zero).
    EXPECT_EQ(conv2d(x, pick(0, 0), Tensor(), p).to_vector(), (V{1, 3, 9, 11}));
    // Tap (2,2) reads x[2·oh+2][2·ow+2]: x[2][2] = 11, then col 4 / row 4 are the bottom/right zero padding.
    EXPECT_EQ(conv2d(x, pick(2, 2), Tensor(), p).to_vector(), (V{11, 0, 0, 0}));
}

TEST(Conv2d, ReflectPaddingMirrorsWithoutRepeatingTheEdge) {
    // x = 1..9 as 3×3, reflect-padded by 1 (upscale_nn) then a 3×3 'valid' conv: output 3×3.
    // Reflect maps padded index -1 -> 1 and 3 -> 1, so the padded image is
    //   5 4 5 6 5 / 2 1 2 3 2 / 5 4 5 6 5 / 8 7 8 9 8 / 5 4 5 6 5.
    Tensor x = ramp(3, 3);
    Conv2dParams p;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    p.pad_mode = PadMode::reflect;
    // Tap (0,0) reads the padded image's top-left 3×3; tap (2,2) its bottom-right 3×3.
    EXPECT_EQ(conv2d(x, pick(0, 0), Tensor(), p).to_vector(), (V{5, 4, 5, 2, 1, 2, 5, 4, 5}));
    EXPECT_EQ(conv2d(x, pick(2, 2), Tensor(), p).to_vector(), (V{5, 6, 5, 8, 9, 8, 5, 6, 5}));
    // All-ones kernel: each padded row's 3-wide sums are 5 6 7 (row 2 1 2 3 2), 14 15 16 (5 4 5 6 5) and
    // 23 24 25 (8 7 8 9 8); output row 0 stacks padded rows (5.., 2.., 5..) = 14+5+14 = 33, 36, 39; row 1
    // stacks (2.., 5.., 8..) = 42, 45, 48; row 2 stacks (5.., 8.., 5..) = 51, 54, 57.
    Tensor ones = t64({1, 1, 3, 3}, V(9, 1.0));
    EXPECT_EQ(conv2d(x, ones, Tensor(), p).to_vector(), (V{33, 36, 39, 42, 45, 48, 51, 54, 57}));

    // Backward: with tap (0,0) and dy = 1, output (oh,ow) read x[refl(oh-1)][refl(ow-1)], rows {1,0,1} and cols
    // {1,0,1}: row 1 is read twice, row 0 once, row 2 never, so dx[r][c] = rows(r)·cols(c) with counts (1,2,0).
    Tensor xl = x.detach().set_requires_grad(true);
    backward(conv2d(xl, pick(0, 0), Tensor(), p), Tensor::full({1, 1, 3, 3}, 1.0, DType::f64));
    EXPECT_EQ(xl.grad().to_vector(), (V{1, 2, 0, 2, 4, 0, 0, 0, 0}));
}

TEST(Conv2d, BiasIsAddedPerOutputChannelAndItsGradientSumsDy) {
    // 1×1 conv, 2 -> 3 channels on a 2×2 image: y[oc] = Σ_c w[oc,c]·x[c] + b[oc].
    //   x channel 0 = 1 2 3 4, channel 1 = -1 0 2 0.5
    //   w = [[1, 2], [0, -1], [0.5, 0.5]], b = [0.5, -1, 2]
    Tensor x = t64({1, 2, 2, 2}, {1, 2, 3, 4, -1, 0, 2, 0.5}).set_requires_grad(true);
    Tensor w = t64({3, 2, 1, 1}, {1, 2, 0, -1, 0.5, 0.5}).set_requires_grad(true);
    Tensor b = t64({3}, {0.5, -1, 2}).set_requires_grad(true);
    Tensor y = conv2d(x, w, b, Conv2dParams::valid());
    // y0 = c0 + 2·c1 + 0.5 = (1-2, 2+0, 3+4, 4+1) + 0.5 = -0.5 2.5 7.5 5.5
    // y1 = -c1 - 1 = 0 -1 -3 -1.5
    // y2 = 0.5·(c0+c1) + 2 = 0.5·(0, 2, 5, 4.5) + 2 = 2 3 4.5 4.25
    EXPECT_EQ(y.to_vector(), (V{-0.5, 2.5, 7.5, 5.5, 0, -1, -3, -1.5, 2, 3, 4.5, 4.25}));
    // Without the bias every channel drops by its b.
    EXPECT_EQ(conv2d(x, w, Tensor(), Conv2dParams::valid()).to_vector(),
              (V{-1, 2, 7, 5, 1, 0, -2, -0.5, 0, 1, 2.5, 2.25}));
    // dy: channel 0 = 1 2 3 4, channel 1 = 0 0 0 1, channel 2 = -1 -1 -1 -1.
    backward(y, t64({1, 3, 2, 2}, {1, 2, 3, 4, 0, 0, 0, 1, -1, -1, -1, -1}));
    // db[oc] = Σ dy[oc] = 10, 1, -4.
    EXPECT_EQ(b.grad().to_vector(), (V{10, 1, -4}));
    // dw[oc,c] = Σ dy[oc]·x[c]: dw[0,0] = 1+4+9+16 = 30, dw[0,1] = -1+0+6+2 = 7, dw[1,0] = 4, dw[1,1] = 0.5,
    // dw[2,0] = -10, dw[2,1] = -1.5.
    EXPECT_EQ(w.grad().to_vector(), (V{30, 7, 4, 0.5, -10, -1.5}));
    // dx[c] = Σ_oc w[oc,c]·dy[oc]: c0 = dy0 + 0.5·dy2 = 0.5 1.5 2.5 3.5; c1 = 2·dy0 - dy1 + 0.5·dy2 = 1.5 3.5 5.5 6.5.
    EXPECT_EQ(x.grad().to_vector(), (V{0.5, 1.5, 2.5, 3.5, 1.5, 3.5, 5.5, 6.5}));
}

TEST(Conv2d, ChecksNameTheOpAndTheShapes) {
    Tensor x = Tensor::zeros({1, 3, 5, 5}, DType::f64);
    expect_throws_with([&] { conv2d(x, Tensor::zeros({2, 4, 3, 3}, DType::f64), Tensor(), {}); },
                       "conv2d: input f64[1,3,5,5] cpu has C=3 but weight f64[2,4,3,3] cpu expects 4");
    expect_throws_with([&] { conv2d(x, Tensor::zeros({2, 3, 3, 3}, DType::f64), Tensor::zeros({3}, DType::f64), {}); },
                       "has OC=2 but bias is");
    expect_throws_with([&] { conv2d(x, Tensor::zeros({2, 3, 7, 7}, DType::f64), Tensor(), {}); },
                       "conv2d: kernel 7x7 does not fit");
    Conv2dParams r;
    r.pad_left = 5;
    r.pad_mode = PadMode::reflect;
    expect_throws_with([&] { conv2d(x, Tensor::zeros({2, 3, 3, 3}, DType::f64), Tensor(), r); },
                       "reflect padding");
    expect_throws_with([&] { conv2d(Tensor::zeros({3, 5, 5}, DType::f64), x, Tensor(), {}); }, "conv2d");
}

// --- depthwise_conv2d ------------------------------------------------------------------------------------------

TEST(DepthwiseConv2d, EachChannelUsesOnlyItsOwnFilter) {
    // Two channels, x = 1..16 and -(1..16) as 4×4; 3×3/s2 'same' as the TfSame test above (pads bottom/right).
    // Filter 0 = all ones (window sums 54 45 72 54 as computed there), filter 1 = tap (0,0) (reads 1 3 9 11, here
    // negated). Bias 0.5 and -2. A conv2d that mixed channels would add the other channel's terms.
    std::vector<double> xv, wv;
    for (int i = 1; i <= 16; ++i) xv.push_back(i);
    for (int i = 1; i <= 16; ++i) xv.push_back(-i);
    wv.assign(9, 1.0);
    for (int i = 0; i < 9; ++i) wv.push_back(i == 0 ? 1.0 : 0.0);
    Tensor x = t64({1, 2, 4, 4}, xv).set_requires_grad(true);
    Tensor w = t64({2, 1, 3, 3}, wv).set_requires_grad(true);
    Tensor b = t64({2}, {0.5, -2}).set_requires_grad(true);
    Tensor y = depthwise_conv2d(x, w, b, Conv2dParams::tf_same(3, 3, 2, 4, 4));
    EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
    EXPECT_EQ(y.to_vector(), (V{54.5, 45.5, 72.5, 54.5, -3, -5, -11, -13}));
    // dy = 1 everywhere: db = 4 per channel; dw of the (0,0) tap of channel 1 sums the cells it read,
    // -(1+3+9+11) = -24; dx of channel 1 is 1 exactly at those four cells, 0 elsewhere.
    backward(y, Tensor::full({1, 2, 2, 2}, 1.0, DType::f64));
    EXPECT_EQ(b.grad().to_vector(), (V{4, 4}));
    EXPECT_EQ(w.grad().to_vector()[9], -24.0);
    const V dx = x.grad().to_vector();
    const V dx1(dx.begin() + 16, dx.end());
    EXPECT_EQ(dx1, (V{1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0}));
}

TEST(DepthwiseConv2d, EqualsConv2dWithABlockDiagonalWeight) {
    // The definition, checked against conv2d on random data: a (C,C,KH,KW) weight that is zero off the diagonal
    // of its first two axes is a depthwise conv. Reflect padding and stride 2 on an odd size.
    std::mt19937_64 rng(5);
    Tensor x = Tensor::uniform({2, 3, 7, 6}, -1, 1, rng, DType::f64);
    Tensor w = Tensor::uniform({3, 1, 3, 3}, -1, 1, rng, DType::f64);
    Tensor b = Tensor::uniform({3}, -1, 1, rng, DType::f64);
    std::vector<double> full(3 * 3 * 9, 0.0), wv = w.to_vector();
    for (int c = 0; c < 3; ++c)
        for (int t = 0; t < 9; ++t) full[size_t((c * 3 + c) * 9 + t)] = wv[size_t(c * 9 + t)];
    Conv2dParams p;
    p.stride_h = p.stride_w = 2;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    p.pad_mode = PadMode::reflect;
    std::vector<double> a = depthwise_conv2d(x, w, b, p).to_vector();
    std::vector<double> r = conv2d(x, t64({3, 3, 3, 3}, full), b, p).to_vector();
    ASSERT_EQ(a.size(), r.size());
    // Same products summed in the same order except for the skipped zero terms: equal to double rounding.
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], r[i], 1e-12) << i;
}

TEST(DepthwiseConv2d, ChecksNameTheOpAndTheShapes) {
    Tensor x = Tensor::zeros({1, 3, 5, 5}, DType::f64);
    expect_throws_with(
        [&] {
            depthwise_conv2d(x, Tensor::zeros({3, 3, 3, 3}, DType::f64), Tensor(), {});
        },
        "depthwise_conv2d: input f64[1,3,5,5] cpu has C=3 so the weight must be (3, 1, KH, KW)");
    expect_throws_with(
        [&] {
            depthwise_conv2d(x, Tensor::zeros({3, 1, 3, 3}, DType::f64), Tensor::zeros({2}, DType::f64), {});
        },
        "but bias is");
    expect_throws_with(
        [&] {
            depthwise_conv2d(x, Tensor::zeros({3, 1, 6, 6}, DType::f64), Tensor(), {});
        },
        "depthwise_conv2d: kernel 6x6 does not fit");
}

// --- pooling -------------------------------------------------------------------------------------------------

TEST(Pool2d, TfSamePaddingIsNeverAMaxAndNotCountedByAvg) {
    // 3×3/s2 'same' on 4×4 pads bottom/right by 1, as for conv above; same windows.
    Pool2dParams p = Pool2dParams::tf_same(3, 2, 4, 4);
    EXPECT_EQ(p.pad_top, 0);
    EXPECT_EQ(p.pad_bottom, 1);
    // x = -1..-16: every real value is negative, so a padded cell taken as 0 would win. Maxima of the windows:
    //   (0,0) -1; (0,1) cols 2-3: -3; (1,0) rows 2-3: -9; (1,1) {-11,-12,-15,-16}: -11.
    EXPECT_EQ(max_pool2d(ramp(4, 4, -1.0), p).to_vector(), (V{-1, -3, -9, -11}));
    // x = 1..16, means over real cells only: 54/9 = 6, 45/6 = 7.5, 72/6 = 12, 54/4 = 13.5
    // (dividing by 9 would give 6, 5, 8, 6).
    EXPECT_EQ(avg_pool2d(ramp(4, 4), p).to_vector(), (V{6, 7.5, 12, 13.5}));
}

TEST(Pool2d, CaffeCeilModeKeepsThePartialLastWindow) {
    // out = ceil((in - k)/s) + 1, the overhang as bottom/right padding.
    Pool2dParams a = Pool2dParams::ceil_mode(3, 2, 46, 22);  // ONet pool1 46 -> 23 (1 padded); RNet 22 -> 11
    EXPECT_EQ(a.pad_top, 0);
    EXPECT_EQ(a.pad_bottom, 1);  // out ceil(43/2)+1 = 23: (23-1)·2+3-46 = 1
    EXPECT_EQ(a.pad_left, 0);
    EXPECT_EQ(a.pad_right, 1);   // out ceil(19/2)+1 = 11: (11-1)·2+3-22 = 1
    Pool2dParams b = Pool2dParams::ceil_mode(3, 2, 9, 10);  // RNet pool2 9 -> 4 fits exactly; 10 -> 5 needs 1
    EXPECT_EQ(b.pad_bottom, 0);
    EXPECT_EQ(b.pad_right, 1);
    // 2×2/s2 ceil on 1..9 as 3×3: out 2×2, windows {1,2,4,5}, {3,6}, {7,8}, {9}.
    Pool2dParams c = Pool2dParams::ceil_mode(2, 2, 3, 3);
    EXPECT_EQ(max_pool2d(ramp(3, 3), c).to_vector(), (V{5, 6, 8, 9}));
    Tensor x = ramp(3, 3).set_requires_grad(true);
    Tensor y = avg_pool2d(x, c);
    EXPECT_EQ(y.to_vector(), (V{3, 4.5, 7.5, 9}));
    // Avg backward with dy = 1: each real cell gets 1/(real cells of its window): 1/4, 1/2 or 1.
    backward(y, Tensor::full({1, 1, 2, 2}, 1.0, DType::f64));
    EXPECT_EQ(x.grad().to_vector(), (V{0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 1}));
}

TEST(Pool2d, MaxBackwardRoutesToTheFirstMaximumAndSumsOverlaps) {
    // 2×2/s2 on 1 1 2 0 / 1 1 2 2: window 0 is all 1s -> its dy goes to (0,0); window 1 {2,0,2,2} -> (0,2).
    Tensor x = t64({1, 1, 2, 4}, {1, 1, 2, 0, 1, 1, 2, 2}).set_requires_grad(true);
    backward(max_pool2d(x, Pool2dParams::valid(2, 2)), t64({1, 1, 1, 2}, {3, 5}));
    EXPECT_EQ(x.grad().to_vector(), (V{3, 0, 5, 0, 0, 0, 0, 0}));
    // Overlapping 1×2/s1 windows on 0 5 1: both pick the 5, which receives 1 + 2.
    Tensor z = t64({1, 1, 1, 3}, {0, 5, 1}).set_requires_grad(true);
    Pool2dParams p;
    p.kh = 1, p.kw = 2, p.stride_h = 1, p.stride_w = 1;
    Tensor y = max_pool2d(z, p);
    EXPECT_EQ(y.to_vector(), (V{5, 5}));
    backward(y, t64({1, 1, 1, 2}, {1, 2}));
    EXPECT_EQ(z.grad().to_vector(), (V{0, 3, 0}));
}

TEST(Pool2d, AllPaddingWindowIsAnError) {
    Tensor x = ramp(4, 4);
    Pool2dParams p = Pool2dParams::valid(2, 2);
    p.pad_bottom = 2;  // 3 output rows; the last window covers rows 4-5, both padding
    expect_throws_with([&] { max_pool2d(x, p); }, "max_pool2d: output row 2 of 3 pools only padding");
    Pool2dParams q = Pool2dParams::valid(1, 2);
    q.pad_left = 1;  // column windows start at -1, 1, 3: the first is a single padded cell
    expect_throws_with([&] { avg_pool2d(x, q); }, "avg_pool2d: output column 0 of 3 pools only padding");
    expect_throws_with([&] { max_pool2d(x, Pool2dParams{}); }, "must be >= 1");
    expect_throws_with([&] { max_pool2d(x, Pool2dParams::valid(5, 1)); }, "does not fit");
}
