// test_layers.cpp: Module parameter naming, initialiser statistics and Adam's arithmetic.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "autograd/functional.h"
#include "kernels/fast.h"
#include "layers/adam.h"
#include "layers/module.h"
#include "layers/nn.h"

using namespace fs;

namespace {
struct Leaf : Module {
    Leaf() {
        w = register_parameter("weight", Tensor::zeros({2, 3}));
        b = register_parameter("bias", Tensor::zeros({2}));
    }
    Tensor w, b;
};
struct Net : Module {
    Net() {
        a = register_module("a", std::make_shared<Leaf>());
        c = register_module("c", std::make_shared<Leaf>());
        s = register_parameter("gamma", Tensor::zeros({1}));
    }
    std::shared_ptr<Leaf> a, c;
    Tensor s;
};
}  // namespace

TEST(Module, NamedParametersAreDottedPathsInOrder) {
    Net n;
    std::vector<std::string> names;
    for (auto& p : n.named_parameters()) names.push_back(p.first);
    EXPECT_EQ(names, (std::vector<std::string>{"gamma", "a.weight", "a.bias", "c.weight", "c.bias"}));
    EXPECT_EQ(n.num_parameters(), 1 + 2 * (6 + 2));
    for (auto& p : n.named_parameters()) EXPECT_TRUE(p.second.requires_grad());
}

TEST(Module, DuplicateNamesThrow) {
    struct Bad : Module {
        Bad() {
            register_parameter("w", Tensor::zeros({1}));
            register_parameter("w", Tensor::zeros({1}));
        }
    };
    EXPECT_THROW(Bad{}, Error);
}

TEST(Init, HeNormalAndGlorotStatistics) {
    std::mt19937_64 rng(9);
    Tensor h = he_normal({200, 100}, 50, rng);
    std::vector<double> v = h.to_vector();
    double s2 = 0, mx = 0;
    for (double x : v) s2 += x * x, mx = std::max(mx, std::fabs(x));
    double std = std::sqrt(s2 / double(v.size()));
    // A normal truncated at 2σ has std 0.8796σ; 20000 samples estimate it to ~0.5 %.
    EXPECT_NEAR(std, 0.8796 * std::sqrt(2.0 / 50), 0.02 * std::sqrt(2.0 / 50));
    EXPECT_LE(mx, 2 * std::sqrt(2.0 / 50));
    Tensor g = glorot_uniform({100, 100}, 30, 70, rng);
    double lim = std::sqrt(6.0 / 100);
    for (double x : g.to_vector()) EXPECT_LE(std::fabs(x), lim);
}

TEST(Adam, FirstStepMatchesTheKerasFormula) {
    Tensor p = Tensor::from_vector({2}, {1.0, -2.0}, DType::f64).set_requires_grad(true);
    Adam opt({p}, AdamConfig{0.1, 0.5, 0.999, 1e-7});
    backward(mul(p, Tensor::from_vector({2}, {3.0, -4.0}, DType::f64)), Tensor::from_vector({2}, {1, 1}, DType::f64));
    opt.step();
    // t=1: m = 0.5 g, v = 0.001 g², lr_t = 0.1·sqrt(0.001)/0.5, step = lr_t·m/(sqrt(v)+ε) ≈ 0.1·sign(g)
    for (int i = 0; i < 2; ++i) {
        double g = i == 0 ? 3.0 : -4.0, m = 0.5 * g, v = 0.001 * g * g;
        double lr_t = 0.1 * std::sqrt(0.001) / 0.5;
        double expect = (i == 0 ? 1.0 : -2.0) - lr_t * m / (std::sqrt(v) + 1e-7);
        EXPECT_NEAR(p.at({i}), expect, 1e-15);  // same double arithmetic; only rounding order differs
    }
}

// The f32 step runs vectorised over both threads (layers/adam.cpp); it must be exactly the formula done one
// element at a time in float, including the tail that is not a multiple of 16 and the chunk edges.
// At every SIMD level this CPU runs (AVX-512, AVX2, scalar: kernels/fast.h).
TEST(Adam, Float32StepIsTheScalarFormulaBitwise) {
    for (int level = 0; level <= int(cpu_simd_level()); ++level) {
        SimdCapGuard cap{SimdLevel(level)};
        SCOPED_TRACE(simd_level_name(SimdLevel(level)));
        const int64_t n = 3 * 65536 + 37;  // three 64 Ki-element chunks (so both threads run) and a ragged tail
        std::mt19937_64 rng(7);
        Tensor p = Tensor::uniform({n}, -1, 1, rng).set_requires_grad(true);
        std::vector<float> P(static_cast<size_t>(n)), M(static_cast<size_t>(n), 0.f), V(static_cast<size_t>(n), 0.f);
        for (int64_t i = 0; i < n; ++i) P[size_t(i)] = float(p.at({i}));
        const AdamConfig cfg{2e-4, 0.5, 0.99, 1e-7};
        Adam opt({p}, cfg);
        for (int t = 1; t <= 3; ++t) {
            Tensor g = Tensor::uniform({n}, -2, 2, rng);
            p.zero_grad();
            // d/dp of Σ p·g with an upstream of ones: the gradient is g exactly
            backward(mul(p, g), Tensor::full({n}, 1.0));
            opt.step();
            const float b1 = float(cfg.beta1), b2 = float(cfg.beta2), omb1 = float(1 - cfg.beta1),
                        omb2 = float(1 - cfg.beta2), eps = float(cfg.eps);
            const float lr_t = float(cfg.lr * std::sqrt(1 - std::pow(cfg.beta2, t)) / (1 - std::pow(cfg.beta1, t)));
            const std::vector<double> gv = g.to_vector();
            for (size_t i = 0; i < size_t(n); ++i) {
                const float gi = float(gv[i]);
                M[i] = b1 * M[i] + omb1 * gi;
                V[i] = b2 * V[i] + omb2 * gi * gi;
                P[i] -= lr_t * M[i] / (std::sqrt(V[i]) + eps);
            }
        }
        const std::vector<double> got = p.to_vector();
        int64_t mismatches = 0;
        double worst = 0;
        for (size_t i = 0; i < size_t(n); ++i) {
            worst = std::max(worst, std::fabs(got[i] - double(P[i])));
            mismatches += got[i] != double(P[i]);
        }
#if defined(__x86_64__)
        // x86-64's baseline has no FMA, so this loop is not contracted either: both sides round the same operations.
        EXPECT_EQ(mismatches, 0) << "largest difference " << worst;
#else
        // elsewhere the compiler may fuse this loop's multiply-adds: allow a few float ulps of a |p| ≤ ~1 value
        EXPECT_LE(worst, 1e-6);
#endif
    }
}

// Adam::set_l2 adds the L2 term's gradient 2·w·p inside the step. Three steps of it must move the parameters as
// three steps with w·Σp² in the loss do (the trainer relies on this to skip that term's backward), and a parameter
// with no gradient of its own still decays.
TEST(Adam, L2InTheStepEqualsL2InTheLoss) {
    std::mt19937_64 rng(3);
    const double w = 1e-2;  // large enough that the term's share of each update is visible
    Tensor a0 = Tensor::uniform({1000}, -1, 1, rng), b0 = Tensor::uniform({7}, -1, 1, rng);
    Tensor a1 = a0.clone().set_requires_grad(true), b1 = b0.clone().set_requires_grad(true);
    Tensor a2 = a0.clone().set_requires_grad(true), b2 = b0.clone().set_requires_grad(true);
    Adam in_loss({{"a", a1}, {"b", b1}}, AdamConfig{1e-2, 0.5, 0.999, 1e-7});
    Adam in_step({{"a", a2}, {"b", b2}}, AdamConfig{1e-2, 0.5, 0.999, 1e-7});
    in_step.set_l2({{"a", a2}, {"b", b2}}, w);
    const Tensor target = Tensor::uniform({1000}, -1, 1, rng);
    for (int t = 0; t < 3; ++t) {
        a1.zero_grad(), b1.zero_grad(), a2.zero_grad(), b2.zero_grad();
        // b gets no gradient from the data term: only its L2 term moves it
        backward(add(sum_squares(sub(a1, target)), scale(add(sum_squares(a1), sum_squares(b1)), w)));
        in_loss.step();
        backward(sum_squares(sub(a2, target)));
        in_step.step();
    }
    // the same float operations up to where 2·w·p is added (both round the product and the sum once): a few ulps
    // of values of size ~1 at most
    EXPECT_LE(max_abs_diff(a1, a2), 1e-6);
    EXPECT_LE(max_abs_diff(b1, b2), 1e-6);
    EXPECT_GT(max_abs_diff(b2, b0), 1e-3);  // b did move (Adam's steps are ~lr each)
    EXPECT_THROW(in_step.set_l2({{"x", Tensor::zeros({3}).set_requires_grad(true)}}, w), Error);
}

TEST(Adam, MinimisesAQuadratic) {
    Tensor p = Tensor::from_vector({3}, {2.0, -1.0, 0.5}).set_requires_grad(true);
    Adam opt({p}, AdamConfig{0.05, 0.9, 0.999, 1e-7});
    for (int it = 0; it < 300; ++it) {
        p.zero_grad();
        Tensor d = sub(p, Tensor::from_vector({3}, {0.3, 0.2, -0.1}));
        backward(mul(d, d), Tensor::from_vector({3}, {1, 1, 1}));
        opt.step();
    }
    EXPECT_NEAR(p.at({0}), 0.3, 0.02);  // Adam's steps of ~lr keep it within a few lr of the optimum
    EXPECT_NEAR(p.at({1}), 0.2, 0.02);
    EXPECT_NEAR(p.at({2}), -0.1, 0.02);
}

// conv → LeakyReLU → norm: the fused instance_norm (pre_leaky) gives what the two ops give one after the other,
// values and gradients (input and γ, β), and the other norm kinds take the composed route.
TEST(Norm, ForwardAfterLeakyEqualsLeakyThenNorm) {
    for (NormKind kind : {NormKind::instancenorm, NormKind::groupnorm}) {
        std::mt19937_64 rng(4);
        Norm norm(kind, 16, 32, rng);
        std::vector<Tensor> params;
        for (auto& [name, t] : norm.named_parameters()) params.push_back(t);
        Tensor x = Tensor::uniform({2, 32, 5, 7}, -1, 1, rng).set_requires_grad(true);
        Tensor R = Tensor::uniform({2, 32, 5, 7}, -1, 1, rng);
        auto grads = [&](bool fused) {
            x.zero_grad();
            for (Tensor& p : params) p.zero_grad();
            Tensor y = fused ? norm.forward_after_leaky(x, 0.2) : norm.forward(leaky_relu(x, 0.2));
            backward(sum(mul(y, R)));
            std::vector<Tensor> out{y.detach(), x.grad().clone()};
            for (Tensor& p : params) out.push_back(p.grad().clone());
            return out;
        };
        std::vector<Tensor> a = grads(true), b = grads(false);
        ASSERT_EQ(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i) {
            std::vector<double> va = a[i].to_vector(), vb = b[i].to_vector();
            ASSERT_EQ(va.size(), vb.size());
            double m = 1;
            for (double v : vb) m = std::max(m, std::fabs(v));
            // The same double-precision statistics over the same float activations; γ and β's gradients are sums
            // over 2·32·35 terms, accumulated in a different order: a few float ulps of the largest value.
            for (size_t k = 0; k < va.size(); ++k) EXPECT_NEAR(va[k], vb[k], 1e-5 * m) << norm_name(kind) << " " << i;
        }
    }
}
