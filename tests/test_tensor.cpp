// test_tensor.cpp: tensor views, strides, copies, dtypes and the error messages at the tensor API boundary.
#include <gtest/gtest.h>

#include <cstdint>

#include "autograd/functional.h"
#include "kernels/fast.h"
#include "tensor/tensor.h"

using namespace fs;

static Tensor iota(const Shape& s, DType t = DType::f32) {
    std::vector<double> v(static_cast<size_t>(shape_numel(s)));
    for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
    return Tensor::from_vector(s, v, t);
}

TEST(Tensor, StorageIs64ByteAligned) {
    for (int64_t n : {1, 3, 17, 1000}) {
        Tensor t = Tensor::empty({n});
        EXPECT_EQ(reinterpret_cast<uintptr_t>(t.storage()->data()) % 64, 0u);
    }
}

TEST(Tensor, ContiguousStridesAndAt) {
    Tensor t = iota({2, 3, 4});
    EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(t.at({1, 2, 3}), 23);
    EXPECT_EQ(t.numel(), 24);
    EXPECT_EQ(t.size(-1), 4);
}

TEST(Tensor, ViewsShareStorage) {
    Tensor t = iota({2, 3, 4});
    Tensor r = t.view({6, 4});
    Tensor p = t.permute({2, 0, 1});
    Tensor s = t.slice(1, 1, 3);
    EXPECT_EQ(r.storage(), t.storage());
    EXPECT_EQ(p.storage(), t.storage());
    EXPECT_EQ(s.storage(), t.storage());
    t.data<float>()[5] = 100;  // element (0,1,1)
    EXPECT_EQ(r.at({1, 1}), 100);
    EXPECT_EQ(p.at({1, 0, 1}), 100);
    EXPECT_EQ(s.at({0, 0, 1}), 100);
}

TEST(Tensor, PermuteSliceIndexing) {
    Tensor t = iota({2, 3, 4});
    Tensor p = t.permute({2, 0, 1});  // (4, 2, 3)
    EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
    EXPECT_FALSE(p.is_contiguous());
    for (int64_t a = 0; a < 4; ++a)
        for (int64_t b = 0; b < 2; ++b)
            for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(p.at({a, b, c}), t.at({b, c, a}));
    Tensor s = t.slice(2, 1, 4, 2);  // columns 1 and 3
    EXPECT_EQ(s.shape(), (Shape{2, 3, 2}));
    EXPECT_EQ(s.at({1, 2, 1}), t.at({1, 2, 3}));
    Tensor neg = t.slice(0, -1, 2);
    EXPECT_EQ(neg.at({0, 0, 0}), 12);
}

TEST(Tensor, ChunkSplitsChannels) {
    Tensor t = iota({1, 6, 2, 2});
    std::vector<Tensor> parts = t.chunk(2, 1);
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(parts[1].shape(), (Shape{1, 3, 2, 2}));
    EXPECT_EQ(parts[1].at({0, 0, 0, 0}), 12);
    EXPECT_EQ(parts[1].storage(), t.storage());
    EXPECT_THROW(t.chunk(4, 1), Error);
}

TEST(Tensor, ContiguousCopiesStridedViews) {
    Tensor t = iota({3, 4});
    Tensor c = t.transpose(0, 1).contiguous();
    EXPECT_TRUE(c.is_contiguous());
    EXPECT_NE(c.storage(), t.storage());
    EXPECT_EQ(c.to_vector(), (std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
    Tensor same = t.contiguous();
    EXPECT_EQ(same.storage(), t.storage());  // no copy when already contiguous
}

// The tiled path of a last-two-dimensions transpose (32×32 tiles): ragged tiles on both sides, an outer batch
// dimension, and a view with an offset; every element checked against at().
TEST(Tensor, TransposedCopyTilesMatchElementwise) {
    // at every SIMD level this CPU runs (16×16 register blocks with AVX-512, four 8×8 with AVX2, plain loops)
    for (int level = 0; level <= int(cpu_simd_level()); ++level) {
        SimdCapGuard cap{SimdLevel(level)};
        SCOPED_TRACE(simd_level_name(SimdLevel(level)));
        // {3, 130, 100}: enough elements for the threaded copy, full 16×16 register blocks and ragged edges
        for (Shape s : {Shape{3, 70, 45}, Shape{2, 1, 33}, Shape{33, 2}, Shape{3, 130, 100}}) {
            Tensor t = iota(s);
            const size_t r = s.size();
            Tensor v = t.transpose(int(r) - 2, int(r) - 1);
            Tensor c = v.contiguous();
            ASSERT_TRUE(c.is_contiguous());
            std::vector<double> got = c.to_vector();
            size_t i = 0;
            if (r == 3) {
                for (int64_t a = 0; a < v.size(0); ++a)
                    for (int64_t b = 0; b < v.size(1); ++b)
                        for (int64_t e = 0; e < v.size(2); ++e) ASSERT_EQ(got[i++], t.at({a, e, b})) << shape_str(s);
            } else {
                for (int64_t b = 0; b < v.size(0); ++b)
                    for (int64_t e = 0; e < v.size(1); ++e) ASSERT_EQ(got[i++], t.at({e, b})) << shape_str(s);
            }
        }
        // a view that starts inside its storage: the second half of the batch
        Tensor t = iota({4, 40, 37});
        Tensor v = t.slice(0, 2, 4).transpose(1, 2);
        std::vector<double> got = v.contiguous().to_vector();
        size_t i = 0;
        for (int64_t a = 0; a < 2; ++a)
            for (int64_t b = 0; b < 37; ++b)
                for (int64_t e = 0; e < 40; ++e) ASSERT_EQ(got[i++], t.at({a + 2, e, b}));
    }
}

TEST(Tensor, ReshapeOfNonContiguousCopiesViewThrows) {
    Tensor t = iota({3, 4}).transpose(0, 1);
    EXPECT_THROW(t.view({12}), Error);
    Tensor r = t.reshape({12});
    EXPECT_EQ(r.at({1}), 4);
    EXPECT_EQ(iota({2, 6}).view({-1, 3}).shape(), (Shape{4, 3}));
}

TEST(Tensor, SizeOneDimsAreContiguousWhateverTheirStride) {
    Tensor t = iota({4, 1, 3});
    Tensor p = t.permute({1, 0, 2});  // (1, 4, 3): same memory order
    EXPECT_TRUE(p.is_contiguous());
}

TEST(Tensor, DtypeConversions) {
    Tensor t = Tensor::from_vector({5}, {0.0, 1.5, -2.25, 65504.0, 1e-3});
    Tensor h = t.to(DType::f16);
    EXPECT_EQ(h.dtype(), DType::f16);
    std::vector<double> back = h.to(DType::f32).to_vector();
    EXPECT_EQ(back[1], 1.5);
    EXPECT_EQ(back[2], -2.25);
    EXPECT_EQ(back[3], 65504.0);
    EXPECT_NEAR(back[4], 1e-3, 1e-3 * 1e-3);  // f16 keeps 11 significant bits: relative error <= 2^-11
    Tensor b = t.to(DType::bf16).to(DType::f64);
    EXPECT_EQ(b.at({2}), -2.25);
    EXPECT_NEAR(b.at({4}), 1e-3, 1e-3 * 4e-3);             // bf16 keeps 8 significant bits: relative error <= 2^-8
    EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);                   // overflow becomes +inf
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
}

TEST(Tensor, ErrorsNameTheProblem) {
    Tensor t = iota({2, 3});
    try {
        t.view({4, 2});
        FAIL();
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("[2,3]"), std::string::npos) << m;
        EXPECT_NE(m.find("tensor.cpp:"), std::string::npos) << m;  // file:line
    }
    EXPECT_THROW(t.at({2, 0}), Error);
    EXPECT_THROW(t.permute({0, 0}), Error);
    EXPECT_THROW(t.slice(1, 2, 1), Error);
    EXPECT_THROW(t.data<double>(), Error);
    EXPECT_THROW(Tensor().shape(), Error);
}

TEST(Broadcasting, ShapesAndValues) {
    Tensor a = iota({2, 3, 1, 1});
    Tensor b = iota({1, 1, 2, 2});
    Tensor c = add(a, b);
    EXPECT_EQ(c.shape(), (Shape{2, 3, 2, 2}));
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t ch = 0; ch < 3; ++ch)
            for (int64_t h = 0; h < 2; ++h)
                for (int64_t w = 0; w < 2; ++w)
                    EXPECT_EQ(c.at({n, ch, h, w}), a.at({n, ch, 0, 0}) + b.at({0, 0, h, w}));
    Tensor s = mul(iota({2, 2}), Tensor::full({1}, 3.0));
    EXPECT_EQ(s.to_vector(), (std::vector<double>{0, 3, 6, 9}));
    Tensor lower = sub(iota({2, 3}), iota({3}));
    EXPECT_EQ(lower.to_vector(), (std::vector<double>{0, 0, 0, 3, 3, 3}));
}

TEST(Broadcasting, MismatchNamesBothShapes) {
    try {
        add(iota({2, 3}), iota({4}));
        FAIL();
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("[2,3]"), std::string::npos) << m;
        EXPECT_NE(m.find("[4]"), std::string::npos) << m;
    }
}

TEST(Broadcasting, DtypeAndInputCountChecked) { EXPECT_THROW(add(iota({2}), iota({2}, DType::f64)), Error); }
