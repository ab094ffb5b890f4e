// test_autograd.cpp: the tape itself: accumulation, reuse of a tensor, leaves, no-grad mode, graph release.
#include <gtest/gtest.h>

#include <random>

#include "autograd/functional.h"
#include "autograd/registry.h"

using namespace fs;

static Tensor leaf(const Shape& s, std::vector<double> v) {
    return Tensor::from_vector(s, v, DType::f64).set_requires_grad(true);
}

TEST(Tape, TensorUsedTwiceGetsTheSumOfBothGradients) {
    Tensor x = leaf({3}, {1, -2, 3});
    Tensor y = mul(x, x);  // dy/dx = 2x, arriving through both inputs of mul
    backward(y, Tensor::from_vector({3}, {1, 0.5, -1}, DType::f64));
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, -2, -6}));
}

// Accumulation of a large gradient runs over the threads in chunks (autograd/tape.cpp): every element must still
// be the sum of its two contributions, exactly (each is one float addition of the same two values).
TEST(Tape, LargeGradientsAccumulateOverTheThreadsExactly) {
    const int64_t n = 3 * 65536 + 123;  // several chunks and a ragged tail
    std::mt19937_64 rng(4);
    Tensor x = Tensor::uniform({n}, -1, 1, rng).set_requires_grad(true);
    Tensor a = Tensor::uniform({n}, -1, 1, rng), b = Tensor::uniform({n}, -1, 1, rng);
    backward(add(mul(x, a), mul(x, b)), Tensor::full({n}, 1.0));  // dx = 1·a + 1·b
    const std::vector<double> g = x.grad().to_vector(), av = a.to_vector(), bv = b.to_vector();
    int64_t wrong = 0;
    for (size_t i = 0; i < size_t(n); ++i) wrong += g[i] != double(float(av[i]) + float(bv[i]));
    EXPECT_EQ(wrong, 0);
}

TEST(Tape, DiamondGraph) {
    Tensor x = leaf({2}, {0.5, -1});
    Tensor a = exp(x), b = square(x);
    Tensor y = add(mul(a, b), a);  // y = e^x x² + e^x; dy/dx = e^x (x² + 2x + 1)
    backward(y, Tensor::from_vector({2}, {1, 1}, DType::f64));
    for (int64_t i = 0; i < 2; ++i) {
        double v = x.at({i});
        EXPECT_NEAR(x.grad().at({i}), std::exp(v) * (v * v + 2 * v + 1), 1e-12);  // double rounding only
    }
}

TEST(Tape, LeafGradientsAccumulateUntilZeroed) {
    Tensor x = leaf({2}, {1, 2});
    Tensor seed = Tensor::from_vector({2}, {1, 1}, DType::f64);
    backward(scale(x, 3.0), seed);
    backward(scale(x, 3.0), seed);
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{6, 6}));
    x.zero_grad();
    EXPECT_FALSE(x.grad().defined());
}

TEST(Tape, InputsWithoutRequiresGradGetNothing) {
    Tensor x = leaf({2}, {1, 2});
    Tensor c = Tensor::from_vector({2}, {5, 7}, DType::f64);
    backward(mul(x, c), Tensor::from_vector({2}, {1, 1}, DType::f64));
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{5, 7}));
    EXPECT_FALSE(c.grad().defined());
}

TEST(Tape, NoGradGuardRecordsNothing) {
    Tensor x = leaf({2}, {1, 2});
    Tensor y;
    {
        NoGradGuard ng;
        EXPECT_FALSE(grad_enabled());
        y = mul(x, x);
        {
            NoGradGuard nested;
        }
        EXPECT_FALSE(grad_enabled());  // nesting restores the outer state, not "on"
    }
    EXPECT_TRUE(grad_enabled());
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(y.grad_fn());
    EXPECT_THROW(backward(y, y), Error);
}

TEST(Tape, ViewsPassGradientsThrough) {
    Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor y = slice(permute(x, {1, 0}), 0, 1, 3);  // rows 1..2 of xᵀ = columns 1..2 of x
    backward(y, Tensor::from_vector({2, 2}, {1, 2, 3, 4}, DType::f64));
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 1, 3, 0, 2, 4}));
    EXPECT_FALSE(x.grad_fn());  // the leaf itself was not marked by its views
}

TEST(Tape, SecondBackwardThroughAReleasedGraphThrows) {
    Tensor x = leaf({1}, {2});
    Tensor y = exp(x);
    Tensor z = square(y);
    backward(z);
    EXPECT_THROW(backward(z), Error);
}

TEST(Tape, NonScalarRootNeedsASeed) {
    Tensor x = leaf({2}, {1, 2});
    EXPECT_THROW(backward(exp(x)), Error);
    EXPECT_THROW(backward(exp(x), Tensor::zeros({3}, DType::f64)), Error);
}

TEST(Tape, WrongInputCountIsReported) {
    Tensor x = leaf({2}, {1, 2});
    try {
        apply(op_by_name("add"), {x});
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("add"), std::string::npos) << e.what();
    }
}
