// test_linalg.cpp: hand-computed cases pinning the exact semantics of the linalg family (dense, matmul, sum,
// mean, softmax, concat, pixel_shuffle, upsample_nearest). The generic gradient check only proves that each
// backward matches its forward; these prove the forward is the intended function. Every expected value is
// worked out in the comment next to it. All in f64 so the comparisons can be exact or near-exact.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/functional.h"

using namespace fs;

namespace {

Tensor t64(const Shape& s, std::vector<double> v) { return Tensor::from_vector(s, v, DType::f64); }
Tensor leaf(const Shape& s, std::vector<double> v) { return t64(s, std::move(v)).set_requires_grad(true); }
Tensor iota64(const Shape& s) {
    std::vector<double> v(static_cast<size_t>(shape_numel(s)));
    for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
    return t64(s, v);
}
void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& want, double tol = 0) {
    ASSERT_EQ(t.shape(), shape) << t.str();
    std::vector<double> got = t.to_vector();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}
bool throws_mentioning(const std::function<void()>& f, const std::string& text) {
    try {
        f();
    } catch (const Error& e) {
        return std::string(e.what()).find(text) != std::string::npos;
    }
    return false;
}

}  // namespace

// --- dense -----------------------------------------------------------------------------------------------------

TEST(Linalg, DenseForwardAndBackwardByHand) {
    Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor w = leaf({2, 3}, {1, 0, -1, 0.5, 0.5, 0.5});  // (OUT=2, IN=3)
    Tensor b = leaf({2}, {10, -1});
    Tensor y = dense(x, w, b);
    // y[0,0] = 1·1 + 2·0 + 3·(-1) + 10 = 8     y[0,1] = 0.5·(1+2+3) - 1 = 2
    // y[1,0] = 4 - 6 + 10 = 8                   y[1,1] = 0.5·(4+5+6) - 1 = 6.5
    expect_values(y, {2, 2}, {8, 2, 8, 6.5});
    backward(y, t64({2, 2}, {1, 0, 0, 2}));
    // dx[n,:] = Σ_o dy[n,o]·w[o,:]: dx[0] = 1·w[0] = [1,0,-1]; dx[1] = 2·w[1] = [1,1,1]
    expect_values(x.grad(), {2, 3}, {1, 0, -1, 1, 1, 1});
    // dw[o,:] = Σ_n dy[n,o]·x[n,:]: dw[0] = 1·x[0] = [1,2,3]; dw[1] = 2·x[1] = [8,10,12]
    expect_values(w.grad(), {2, 3}, {1, 2, 3, 8, 10, 12});
    // db = column sums of dy = [1, 2]
    expect_values(b.grad(), {2}, {1, 2});
}

TEST(Linalg, DenseWithoutBiasAndShapeErrors) {
    Tensor x = t64({2, 3}, {1, 2, 3, 4, 5, 6}), w = t64({2, 3}, {1, 0, -1, 0.5, 0.5, 0.5});
    expect_values(dense(x, w), {2, 2}, {-2, 3, -2, 7.5});  // the case above less the bias [10, -1]
    EXPECT_TRUE(throws_mentioning([&] { dense(x, t64({2, 4}, std::vector<double>(8, 0))); }, "dense: input"));
    EXPECT_TRUE(throws_mentioning([&] { dense(x, w, t64({3}, {0, 0, 0})); }, "dense: bias"));
}

// --- matmul ----------------------------------------------------------------------------------------------------

TEST(Linalg, MatmulAllTransposeFlagsGiveTheSameProduct) {
    // A = [[1,2,3],[4,5,6]] (2×3), B = [[7,8],[9,10],[11,12]] (3×2).
    // C = A·B = [[1·7+2·9+3·11, 1·8+2·10+3·12], [4·7+5·9+6·11, 4·8+5·10+6·12]] = [[58, 64], [139, 154]].
    Tensor A = t64({1, 2, 3}, {1, 2, 3, 4, 5, 6}), At = t64({1, 3, 2}, {1, 4, 2, 5, 3, 6});
    Tensor B = t64({1, 3, 2}, {7, 8, 9, 10, 11, 12}), Bt = t64({1, 2, 3}, {7, 9, 11, 8, 10, 12});
    const std::vector<double> C = {58, 64, 139, 154};
    expect_values(matmul(A, B), {1, 2, 2}, C);
    expect_values(matmul(At, B, {true, false}), {1, 2, 2}, C);
    expect_values(matmul(A, Bt, {false, true}), {1, 2, 2}, C);
    expect_values(matmul(At, Bt, {true, true}), {1, 2, 2}, C);
    // Rank 2: the same product without a batch axis.
    expect_values(matmul(A.reshape({2, 3}), B.reshape({3, 2})), {2, 2}, C);
}

TEST(Linalg, MatmulGradientsComeBackInTheStoredLayout) {
    // dC = I (2×2). dA = dC·Bᵀ = Bᵀ = [[7,9,11],[8,10,12]]; dB = Aᵀ·dC = Aᵀ = [[1,4],[2,5],[3,6]].
    Tensor dC = t64({1, 2, 2}, {1, 0, 0, 1});
    Tensor A = leaf({1, 2, 3}, {1, 2, 3, 4, 5, 6}), B = leaf({1, 3, 2}, {7, 8, 9, 10, 11, 12});
    backward(matmul(A, B), dC);
    expect_values(A.grad(), {1, 2, 3}, {7, 9, 11, 8, 10, 12});
    expect_values(B.grad(), {1, 3, 2}, {1, 4, 2, 5, 3, 6});
    // Both operands given transposed: a stored (K,M) gets dAᵀ = [[7,8],[9,10],[11,12]], b stored (N,K) gets
    // dBᵀ = A = [[1,2,3],[4,5,6]].
    Tensor At = leaf({1, 3, 2}, {1, 4, 2, 5, 3, 6}), Bt = leaf({1, 2, 3}, {7, 9, 11, 8, 10, 12});
    backward(matmul(At, Bt, {true, true}), dC);
    expect_values(At.grad(), {1, 3, 2}, {7, 8, 9, 10, 11, 12});
    expect_values(Bt.grad(), {1, 2, 3}, {1, 2, 3, 4, 5, 6});
}

TEST(Linalg, MatmulShapeErrors) {
    Tensor a = iota64({2, 3, 4}), b = iota64({2, 5, 6});
    EXPECT_TRUE(throws_mentioning([&] { matmul(a, b); }, "has K=4"));
    EXPECT_TRUE(throws_mentioning([&] { matmul(a, iota64({3, 4, 2})); }, "batch sizes differ"));
    EXPECT_TRUE(throws_mentioning([&] { matmul(a, iota64({4, 2})); }, "same rank"));
}

// --- sum / mean ------------------------------------------------------------------------------------------------

TEST(Linalg, SumAndMeanOverAxes) {
    Tensor x = t64({2, 3}, {1, 2, 3, 4, 5, 6});
    expect_values(sum(x), {}, {21});                        // 1+…+6, rank 0
    expect_values(mean(x), {}, {3.5});                      // 21 / 6
    expect_values(sum(x, {{}, true}), {1, 1}, {21});        // keepdim keeps both axes as 1
    expect_values(sum(x, {{0}, false}), {3}, {5, 7, 9});    // column sums
    expect_values(sum(x, {{-1}, true}), {2, 1}, {6, 15});   // row sums, kept as (2,1)
    expect_values(mean(x, {{1}, false}), {2}, {2, 5});      // row means
    // x = 0..7 as (2,2,2); summing axes 0 and 2 leaves axis 1:
    // j=0: x[0,0,:] + x[1,0,:] = 0+1+4+5 = 10;  j=1: 2+3+6+7 = 18.
    expect_values(sum(iota64({2, 2, 2}), {{0, 2}, false}), {2}, {10, 18});
    EXPECT_TRUE(throws_mentioning([&] { sum(x, {{1, -1}, false}); }, "listed twice"));
    EXPECT_TRUE(throws_mentioning([&] { sum(x, {{2}, false}); }, "out of range"));
}

TEST(Linalg, RankZeroResultThroughTheTape) {
    // A full reduction is a rank-0 tensor; backward() with no seed gives it gradient 1.
    Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor s = sum(x);
    ASSERT_EQ(s.shape(), Shape{});
    EXPECT_EQ(s.item(), 21);
    backward(s);
    expect_values(x.grad(), {2, 3}, {1, 1, 1, 1, 1, 1});  // ∂Σx/∂x_i = 1
    x.zero_grad();
    backward(mean(x));
    expect_values(x.grad(), {2, 3}, std::vector<double>(6, 1.0 / 6), 1e-15);  // ∂mean/∂x_i = 1/6
    // Rank 0 flowing through further ops: L = (Σx)² → ∂L/∂x_i = 2·Σx = 42.
    x.zero_grad();
    Tensor t = sum(x);
    backward(mul(t, t));
    expect_values(x.grad(), {2, 3}, std::vector<double>(6, 42));
}

// --- softmax ---------------------------------------------------------------------------------------------------

TEST(Linalg, SoftmaxValuesStabilityAndBackward) {
    // exp([0, ln2, ln3]) = [1, 2, 3], normalised by 6: [1/6, 1/3, 1/2].
    const std::vector<double> want = {1.0 / 6, 1.0 / 3, 0.5};
    expect_values(softmax(t64({1, 3}, {0, std::log(2.0), std::log(3.0)})), {1, 3}, want, 1e-15);
    // Shifting a row changes nothing, even by 1000, where exp(1000) alone would overflow to inf.
    expect_values(softmax(t64({3}, {1000, 1000 + std::log(2.0), 1000 + std::log(3.0)})), {3}, want, 1e-13);
    // exp(-1000 - 0) underflows to 0 after the shift: [0, 1], no NaN.
    expect_values(softmax(t64({2}, {-1000, 0})), {2}, {0, 1});
    // f32 too: without the shift exp(100) would overflow float.
    Tensor big = Tensor::from_vector({2}, {100, 100}, DType::f32);
    expect_values(softmax(big), {2}, {0.5, 0.5});
    // Backward with dy = [1,0,0]: Σ dy·y = 1/6, dx = y·(dy - 1/6)
    //   = [1/6·5/6, 1/3·(-1/6), 1/2·(-1/6)] = [5/36, -1/18, -1/12] (sums to 0, as softmax's gradient must).
    Tensor x = leaf({3}, {0, std::log(2.0), std::log(3.0)});
    backward(softmax(x), t64({3}, {1, 0, 0}));
    expect_values(x.grad(), {3}, {5.0 / 36, -1.0 / 18, -1.0 / 12}, 1e-15);
}

// --- concat ----------------------------------------------------------------------------------------------------

TEST(Linalg, ConcatAndItsSlicedGradients) {
    Tensor a = leaf({2, 2}, {1, 2, 3, 4}), b = leaf({2, 1}, {5, 6});
    // Along axis 1: row 0 = [1,2 | 5], row 1 = [3,4 | 6].
    Tensor y = concat({a, b}, {1});
    expect_values(y, {2, 3}, {1, 2, 5, 3, 4, 6});
    backward(y, t64({2, 3}, {10, 20, 30, 40, 50, 60}));
    expect_values(a.grad(), {2, 2}, {10, 20, 40, 50});  // columns 0-1 of dy
    expect_values(b.grad(), {2, 1}, {30, 60});          // column 2 of dy
    // Along axis 0 (three inputs): the rows stacked in order.
    expect_values(concat({t64({1, 2}, {1, 2}), t64({2, 2}, {3, 4, 5, 6}), t64({1, 2}, {7, 8})}, {0}), {4, 2},
                  {1, 2, 3, 4, 5, 6, 7, 8});
    EXPECT_TRUE(throws_mentioning([&] { concat({t64({2, 2}, {1, 2, 3, 4}), t64({3, 1}, {5, 6, 7})}, {1}); },
                                  "differs from input 0"));
}

// --- pixel shuffle ---------------------------------------------------------------------------------------------
// x (1, 8, 2, 2) with x[c,h,w] = 4c + 2h + w (0..31), r = 2, so C = 2 output channels of 4×4.
// Output (k, oh = 2h+i, ow = 2w+j):
//   DCR reads channel (2i + j)·2 + k: value = 4·(4i + 2j + k) + 2h + w = 16i + 8j + 4k + 2h + w.
//   CRD reads channel 4k + 2i + j:    value = 4·(4k + 2i + j) + 2h + w = 16k + 8i + 4j + 2h + w.
// Row oh = 0 is (h=0, i=0), oh = 1 is (h=0, i=1), oh = 2 is (h=1, i=0), oh = 3 is (h=1, i=1); columns likewise
// with (w, j). Every value below is that formula at the listed position.

TEST(Linalg, PixelShuffleDcrHandComputed) {
    Tensor y = pixel_shuffle(iota64({1, 8, 2, 2}), {2, PixelShuffleOrder::dcr});
    expect_values(y, {1, 2, 4, 4},
                  {// k = 0
                   0, 8, 1, 9,      // oh=0: (w0,j0)=0  (w0,j1)=8  (w1,j0)=1  (w1,j1)=9
                   16, 24, 17, 25,  // oh=1: i=1 adds 16
                   2, 10, 3, 11,    // oh=2: h=1 adds 2
                   18, 26, 19, 27,  // oh=3: both: +18
                   // k = 1: the k = 0 block + 4
                   4, 12, 5, 13, 20, 28, 21, 29, 6, 14, 7, 15, 22, 30, 23, 31});
}

TEST(Linalg, PixelShuffleCrdHandComputed) {
    Tensor y = pixel_shuffle(iota64({1, 8, 2, 2}), {2, PixelShuffleOrder::crd});
    expect_values(y, {1, 2, 4, 4},
                  {// k = 0 (channels 0..3 interleaved, PyTorch's nn.PixelShuffle)
                   0, 4, 1, 5,      // oh=0: (w0,j0)=0  (w0,j1)=4  (w1,j0)=1  (w1,j1)=5
                   8, 12, 9, 13,    // oh=1: i=1 adds 8
                   2, 6, 3, 7,      // oh=2: h=1 adds 2
                   10, 14, 11, 15,  // oh=3: +10
                   // k = 1: the k = 0 block + 16 (channels 4..7)
                   16, 20, 17, 21, 24, 28, 25, 29, 18, 22, 19, 23, 26, 30, 27, 31});
}

TEST(Linalg, PixelShuffleBackwardIsTheInversePermutation) {
    // Seeding backward with y itself must route every value back to where it came from: dx == x.
    for (PixelShuffleOrder order : {PixelShuffleOrder::dcr, PixelShuffleOrder::crd}) {
        Tensor x = iota64({2, 18, 3, 1}).set_requires_grad(true);
        Tensor y = pixel_shuffle(x, {3, order});
        backward(y, y.detach().clone());
        EXPECT_EQ(max_abs_diff(x.grad(), x), 0);
    }
    EXPECT_TRUE(throws_mentioning([] { pixel_shuffle(iota64({1, 6, 2, 2}), {2, PixelShuffleOrder::dcr}); },
                                  "not a multiple of r²=4"));
}

// --- nearest upsampling ----------------------------------------------------------------------------------------

TEST(Linalg, UpsampleNearestAndBlockSumBackward) {
    Tensor x = leaf({1, 1, 2, 2}, {1, 2, 3, 4});
    Tensor y = upsample_nearest(x, {2});
    // Each pixel becomes a 2×2 block.
    expect_values(y, {1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
    // dy = 0..15 (4×4): dx[h,w] sums the block at rows 2h..2h+1, cols 2w..2w+1:
    // dx[0,0] = 0+1+4+5 = 10, dx[0,1] = 2+3+6+7 = 18, dx[1,0] = 8+9+12+13 = 42, dx[1,1] = 10+11+14+15 = 50.
    backward(y, iota64({1, 1, 4, 4}));
    expect_values(x.grad(), {1, 1, 2, 2}, {10, 18, 42, 50});
}
