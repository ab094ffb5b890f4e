// test_ops.cpp: the generic op tests. Every op listed in kernels/ops.def and each of its test cases is picked
// up here by itself: nothing in this file names an op.
//   OpRegistry.*         every op has test cases (and benchmark cases unless it is a pure view)
//   Gradcheck/*          central-difference gradient check in double, random upstream gradient
//   FloatVsDouble/*      the f32 instantiation agrees with the f64 one (forward and backward)
//   FastVsReference/*    in f32, the optimised CPU path (where an op has one) matches the reference kernel
//   Tape/*               the op recorded by apply() and run through backward() gives the direct backward's
//                        gradients (checks the tape handles the op's outputs, views included)
#include <gtest/gtest.h>

#include <functional>

#include <limits>

#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "autograd/gradcheck.h"
#include "autograd/registry.h"
#include "autograd/tape.h"
#include "kernels/attention.h"
#include "kernels/conv.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/elementwise.h"
#include "kernels/fast.h"
#include "kernels/reduce.h"
#include "kernels/sgemm.h"
#include "kernels/shuffle.h"

using namespace fs;

namespace {

struct OpCase {
    const OpSpec* spec;
    TestCase tc;
};

std::vector<OpCase> all_cases() {
    std::vector<OpCase> v;
    for (const OpSpec* s : op_registry())
        for (TestCase& tc : s->test_cases()) v.push_back({s, std::move(tc)});
    return v;
}

std::string case_name(const testing::TestParamInfo<OpCase>& info) {
    std::string n = std::string(info.param.spec->name) + "__" + info.param.tc.name;
    for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

// Largest |a-b| relative to the larger of 1 and max|b|.
double scaled_err(const Tensor& a, const Tensor& b) {
    std::vector<double> va = a.to_vector(), vb = b.to_vector();
    double m = 1, e = 0;
    for (double x : vb) m = std::max(m, std::fabs(x));
    for (size_t i = 0; i < va.size(); ++i) {
        double d = std::fabs(va[i] - vb[i]);
        if (std::isnan(d)) return d;
        e = std::max(e, d);
    }
    return e / m;
}

// One op's forward and backward with the fast paths on or off, on inputs `make` draws from a generator seeded
// with `seed`; the upstream gradients (uniform in [-1, 1]) come from the same generator, so both runs see the same
// values. Every input gets a gradient.
struct OpRun {
    std::vector<Tensor> outs, grads;
};
OpRun run_op(bool fast, const OpSpec& spec, const std::function<std::vector<Tensor>(std::mt19937_64&)>& make,
             const std::any& attrs, uint64_t seed) {
    FastKernelsGuard g(fast);
    std::mt19937_64 rng(seed);
    std::vector<Tensor> in = make(rng);
    NoGradGuard ng;
    OpRun r;
    r.outs = spec.forward(in, attrs);
    std::vector<Tensor> dout, det;
    for (const Tensor& o : r.outs) {
        dout.push_back(Tensor::uniform(o.shape(), -1, 1, rng));
        det.push_back(o.detach());
    }
    std::vector<bool> needs(in.size(), true);
    r.grads = spec.backward({in, det, dout, needs, attrs});
    return r;
}

}  // namespace

TEST(OpRegistry, EveryOpHasTestCasesAndItsOwnName) {
    ASSERT_EQ(op_registry().size(), op_def_names().size());
    std::set<std::string> seen;
    for (size_t i = 0; i < op_registry().size(); ++i) {
        const OpSpec* s = op_registry()[i];
        EXPECT_STREQ(s->name, op_def_names()[i]) << "spec name differs from its ops.def line";
        EXPECT_TRUE(seen.insert(s->name).second) << "duplicate op " << s->name;
        ASSERT_NE(s->forward, nullptr) << s->name;
        ASSERT_NE(s->backward, nullptr) << s->name;
        ASSERT_NE(s->test_cases, nullptr) << s->name;
        EXPECT_FALSE(s->test_cases().empty()) << s->name << " has no test cases";
        ASSERT_NE(s->perf_cases, nullptr) << s->name;
        if (!(s->flags & k_op_view)) {
            EXPECT_FALSE(s->perf_cases().empty()) << s->name << " has no benchmark case";
        }
    }
}

TEST(OpRegistry, UnknownNameThrowsListingTheKnownOnes) {
    try {
        op_by_name("no_such_op");
        FAIL() << "op_by_name accepted an unknown name";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(op_registry()[0]->name), std::string::npos) << e.what();
    }
}

class OpCaseTest : public testing::TestWithParam<OpCase> {};

TEST_P(OpCaseTest, Gradcheck) {
    const OpCase& c = GetParam();
    GradcheckResult r = gradcheck(*c.spec, c.tc);
    EXPECT_TRUE(r.ok) << c.spec->name << "/" << c.tc.name << ": checked " << r.checked << ", skipped "
                      << r.skipped_kinks << ", max error " << r.max_abs_err << "\n"
                      << r.report;
}

TEST_P(OpCaseTest, FloatVsDouble) {
    const OpCase& c = GetParam();
    std::mt19937_64 rng1(7), rng2(7);
    std::vector<Tensor> in64 = make_case_inputs(c.tc.inputs, DType::f64, rng1);
    std::vector<Tensor> in32 = make_case_inputs(c.tc.inputs, DType::f32, rng2);
    NoGradGuard ng;
    std::vector<Tensor> o64 = c.spec->forward(in64, c.tc.attrs), o32 = c.spec->forward(in32, c.tc.attrs);
    ASSERT_EQ(o64.size(), o32.size());
    std::vector<Tensor> d64, d32, det64, det32;
    std::mt19937_64 rr(11);
    for (size_t k = 0; k < o64.size(); ++k) {
        ASSERT_EQ(o32[k].dtype(), DType::f32);
        ASSERT_EQ(o64[k].shape(), o32[k].shape());
        // f32 vs f64 on O(1) inputs through short reductions: relative 1e-4 is ~1000x float epsilon, far
        // below the size of any indexing or formula error.
        EXPECT_LE(scaled_err(o32[k], o64[k]), 1e-4) << "forward output " << k;
        d64.push_back(Tensor::uniform(o64[k].shape(), -1, 1, rr, DType::f64));
        d32.push_back(d64.back().to(DType::f32));
        det64.push_back(o64[k].detach());
        det32.push_back(o32[k].detach());
    }
    std::vector<bool> needs;
    for (const InputSpec& s : c.tc.inputs) needs.push_back(s.grad);
    std::vector<Tensor> g64 = c.spec->backward({in64, det64, d64, needs, c.tc.attrs});
    std::vector<Tensor> g32 = c.spec->backward({in32, det32, d32, needs, c.tc.attrs});
    for (size_t i = 0; i < needs.size(); ++i) {
        if (!needs[i]) continue;
        ASSERT_TRUE(g32[i].defined() && g64[i].defined());
        EXPECT_EQ(g32[i].dtype(), DType::f32);
        EXPECT_LE(scaled_err(g32[i], g64[i]), 1e-4) << "gradient of input " << i;  // same reason as above
    }
}

// The fast paths at every SIMD level this CPU runs (kernels/fast.h): scalar, AVX2 and, where there is one,
// AVX-512, so an AVX-512 machine also checks the AVX2 paths that others run.
TEST_P(OpCaseTest, FastVsReference) {
    const OpCase& c = GetParam();
    auto run = [&](bool fast, std::vector<Tensor>* outs, std::vector<Tensor>* grads) {
        FastKernelsGuard g(fast);
        std::mt19937_64 rng(21);
        std::vector<Tensor> in = make_case_inputs(c.tc.inputs, DType::f32, rng);
        NoGradGuard ng;
        *outs = c.spec->forward(in, c.tc.attrs);
        std::vector<Tensor> dout, det;
        for (const Tensor& o : *outs) {
            dout.push_back(Tensor::uniform(o.shape(), -1, 1, rng));
            det.push_back(o.detach());
        }
        std::vector<bool> needs;
        for (const InputSpec& s : c.tc.inputs) needs.push_back(s.grad);
        *grads = c.spec->backward({in, det, dout, needs, c.tc.attrs});
    };
    std::vector<Tensor> orf, gr;
    run(false, &orf, &gr);
    for (int level = 0; level <= int(cpu_simd_level()); ++level) {
        SimdCapGuard cap{SimdLevel(level)};
        const char* name = simd_level_name(SimdLevel(level));
        std::vector<Tensor> of, gf;
        run(true, &of, &gf);
        ASSERT_EQ(of.size(), orf.size());
        // Both are f32; the fast paths reorder sums (blocked GEMM), so they agree to a few ulps of the largest
        // magnitude involved, far below any indexing error.
        for (size_t k = 0; k < of.size(); ++k) EXPECT_LE(scaled_err(of[k], orf[k]), 1e-5) << name << " output " << k;
        for (size_t i = 0; i < gf.size(); ++i) {
            if (!gf[i].defined()) continue;
            EXPECT_LE(scaled_err(gf[i], gr[i]), 1e-5) << name << " gradient of input " << i;
        }
    }
}

TEST_P(OpCaseTest, TapeMatchesDirectBackward) {
    const OpCase& c = GetParam();
    std::mt19937_64 rng(3);
    std::vector<Tensor> in = make_case_inputs(c.tc.inputs, DType::f64, rng);
    std::vector<Tensor> leaves;
    for (size_t i = 0; i < in.size(); ++i) {
        // A fresh handle per input so the leaf gradient lands on exactly this input.
        leaves.push_back(in[i].detach().set_requires_grad(c.tc.inputs[i].grad));
    }
    std::vector<Tensor> out = apply(*c.spec, leaves, c.tc.attrs);
    std::vector<Tensor> R, det;
    std::vector<bool> needs;
    for (const Tensor& o : out) {
        R.push_back(Tensor::uniform(o.shape(), -1, 1, rng, DType::f64));
        det.push_back(o.detach());
    }
    for (const InputSpec& s : c.tc.inputs) needs.push_back(s.grad);
    std::vector<Tensor> direct = c.spec->backward({in, det, R, needs, c.tc.attrs});
    ASSERT_EQ(out.size(), 1u) << "multi-output ops need a tape test that seeds every output";
    ASSERT_TRUE(out[0].requires_grad());
    {
        backward(out[0], R[0]);
        for (size_t i = 0; i < leaves.size(); ++i) {
            if (!needs[i]) {
                EXPECT_FALSE(leaves[i].grad().defined());
                continue;
            }
            ASSERT_TRUE(leaves[i].grad().defined()) << "input " << i << " got no gradient";
            // Same double arithmetic on both paths; only accumulation order can differ.
            EXPECT_LE(max_abs_diff(leaves[i].grad(), direct[i]), 1e-12) << "input " << i;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpCaseTest, testing::ValuesIn(all_cases()), case_name);

// The elementwise fast paths split the work into chunks of 32K elements over the threads, and a broadcast
// chunk may start in the middle of an innermost run; the registry's test cases are all smaller than one chunk.
// Here every unary and binary op runs on 101 400 elements (4 chunks, boundaries mid-row) in each broadcast
// pattern the model uses, fast against reference, forward and backward.
TEST(ElementwiseFast, ChunkedAndBroadcastMatchTheReference) {
    struct Case {
        std::string op;
        Shape a, b;
        bool binary;
    };
    const Shape big{2, 3, 130, 130};
    std::vector<Case> cases;
    for (const char* u : {"abs", "square", "exp", "log", "relu", "leaky_relu", "sigmoid", "tanh", "scale"})
        cases.push_back({u, big, {}, false});
    for (const char* b : {"add", "sub", "mul", "div"}) {
        cases.push_back({b, big, big, true});               // residuals, masks of the same shape
        cases.push_back({b, big, {1, 3, 1, 1}, true});      // per-channel
        cases.push_back({b, big, {2, 1, 130, 130}, true});  // alpha over the colour channels
        cases.push_back({b, {2, 1, 130, 130}, big, true});  // the broadcast side first
        cases.push_back({b, big, {}, true});                // a scalar
    }
    for (const Case& c : cases) {
        const OpSpec& spec = op_by_name(c.op);
        // f64: the reference in double on the same (f32-rounded) values, the truth a broadcast side's sum is held to
        auto run = [&](bool fast, bool f64, std::vector<Tensor>* outs, std::vector<Tensor>* grads) {
            FastKernelsGuard g(fast);
            std::mt19937_64 rng(5);
            // Both signs, so the kinks of abs, relu and leaky_relu are crossed; log's argument and every divisor
            // stay in [0.5, 1.5].
            std::vector<Tensor> in{c.op == "log" ? Tensor::uniform(c.a, 0.5, 1.5, rng) : Tensor::uniform(c.a, -1.5, 1.5, rng)};
            if (c.binary) in.push_back(Tensor::uniform(c.b, 0.5, 1.5, rng));
            NoGradGuard ng;
            *outs = spec.forward(in, {});
            std::vector<Tensor> dout{Tensor::uniform((*outs)[0].shape(), -1, 1, rng)};
            if (f64) {
                for (Tensor& t : in) t = t.to(DType::f64);
                dout[0] = dout[0].to(DType::f64);
                *outs = spec.forward(in, {});
            }
            std::vector<Tensor> det{(*outs)[0].detach()};
            std::vector<bool> needs(in.size(), true);
            *grads = spec.backward({in, det, dout, needs, {}});
        };
        std::vector<Tensor> of, gf, orf, gr, o64, g64;
        run(true, false, &of, &gf);
        run(false, false, &orf, &gr);
        run(false, true, &o64, &g64);
        // Elementwise: the same scalar math per element in both; the AVX-512 copies may contract a multiply-add
        // into one FMA (one rounding fewer), hence a few ulps rather than bitwise.
        EXPECT_LE(scaled_err(of[0], orf[0]), 1e-6) << c.op << " " << shape_str(c.a) << " " << shape_str(c.b);
        for (size_t i = 0; i < gf.size(); ++i) {
            if (gf[i].numel() == of[0].numel()) {
                EXPECT_LE(scaled_err(gf[i], gr[i]), 1e-6)
                    << c.op << " gradient " << i << " " << shape_str(c.a) << " " << shape_str(c.b);
            } else {
                // A broadcast side's gradient is a sum of up to 101 400 terms. The reference adds them one by
                // one in float (its error grows with the count: up to ~1e-5 of the largest value here); the fast
                // path sums in double, so only each term's float rounding and the final one remain. Held to the
                // double-precision sum, and never worse than the reference.
                const double ef = scaled_err(gf[i], g64[i]), er = scaled_err(gr[i], g64[i]);
                EXPECT_LE(ef, 1e-6) << c.op << " gradient " << i << " " << shape_str(c.a) << " " << shape_str(c.b);
                EXPECT_LE(ef, std::max(er, 1e-7))
                    << c.op << " gradient " << i << " " << shape_str(c.a) << " " << shape_str(c.b);
            }
        }
    }
}

// sum and mean over trailing axes read contiguous runs on the fast path (kernels/cpu/elementwise_fast.cpp): rows
// over the threads, a single long row in fixed blocks; sum_squares likewise. Both paths sum in double, so the
// results agree to the float rounding of the final value; the backward is a fill, exact.
TEST(ReduceFast, TrailingSumsMatchTheReference) {
    struct Case {
        const char* op;
        Shape x;
        ReduceParams p;
    };
    const std::vector<Case> cases = {{"mean", {2, 3, 130, 130}, ReduceParams{{}, false}},  // one row, blocked
                                     {"sum", {3, 70000}, ReduceParams{{1}, false}},        // rows over threads
                                     {"mean", {8, 3, 63, 63}, ReduceParams{{2, 3}, true}},
                                     {"sum", {4, 5, 6}, ReduceParams{{1}, false}},        // not trailing
                                     {"sum_squares", {3, 130, 100}, ReduceParams{}}};     // blocks over threads
    for (const Case& c : cases) {
        const OpSpec& spec = op_by_name(c.op);
        const std::any attrs = std::string(c.op) == "sum_squares" ? std::any() : std::any(c.p);
        auto make = [&](std::mt19937_64& rng) { return std::vector<Tensor>{Tensor::uniform(c.x, -1, 1, rng)}; };
        const OpRun f = run_op(true, spec, make, attrs, 3), r = run_op(false, spec, make, attrs, 3);
        const std::vector<Tensor>&of = f.outs, &gf = f.grads, &orf = r.outs, &gr = r.grads;
        // double sums in another order: they differ in the last double bits, at most one float ulp after rounding
        EXPECT_LE(scaled_err(of[0], orf[0]), 1e-7) << c.op << " " << shape_str(c.x);
        EXPECT_EQ(max_abs_diff(gf[0], gr[0]), 0.0) << c.op << " " << shape_str(c.x);
    }
}

// The direct conv's weight gradient takes the images in chunks whose dy stays in L2 when a map is large (64×64
// and up: the decoder's res blocks) and there are enough output-channel blocks to share out; the generic cases are
// too small to reach that order. Here: 4 images of 64×64 (chunks of 3 + 1, the second added to the first) and 34
// output channels (blocks of 8 with a remainder of 2); fast against reference, all three gradients.
TEST(ConvFast, WeightGradientInImageChunksMatchesTheReference) {
    const OpSpec& spec = op_by_name("conv2d");
    auto make = [](std::mt19937_64& rng) {
        return std::vector<Tensor>{Tensor::uniform({4, 2, 64, 64}, -1, 1, rng),
                                   Tensor::uniform({34, 2, 3, 3}, -1, 1, rng), Tensor::uniform({34}, -1, 1, rng)};
    };
    const Conv2dParams p = Conv2dParams::tf_same(3, 3, 1, 64, 64);
    const OpRun f = run_op(true, spec, make, p, 17), r = run_op(false, spec, make, p, 17);
    const std::vector<Tensor>&of = f.outs, &gf = f.grads, &orf = r.outs, &gr = r.grads;
    // f32 sums of up to 4·64·64 = 16 384 products (dW) in another order: a few ulps of the largest value, far
    // below what a missing or doubled image chunk would change (a quarter of every weight gradient)
    EXPECT_LE(scaled_err(of[0], orf[0]), 1e-5);
    for (size_t i = 0; i < 3; ++i) EXPECT_LE(scaled_err(gf[i], gr[i]), 1e-5) << "gradient " << i;
}

// The image-per-thread GEMM path (kernels/cpu/conv_fast.cpp: two threads, maps of >= 256 outputs, stride 2 with
// K = C·KH·KW > 256), whose forward packs the column matrix straight from the input (Im2colPack) for
// sgemm_packed: on every SGEMM kernel (panels of 32, 16 and 8 columns), with the input's edges in zero padding
// on the right (3×3, TF 'same' on an even width) and on both sides (4×4), K blocks that start inside a channel's
// taps (K = 450), a width that is not a multiple of the panels (Wo = 21: panels across output rows; W = 41 ends
// in a 9-pixel piece of the stride-2 col2im), reflect padding, and a 1×1 conv (B is the input itself); forward
// and both gradients against the reference.
TEST(ConvFast, ImagePerThreadGemmMatchesTheReference) {
    const OpSpec& spec = op_by_name("conv2d");
    struct Case {
        Shape x, w;
        int stride;
        bool reflect;
    };
    const int prev_threads = num_threads();
    set_num_threads(2);
    for (const Case& c :
         {Case{{4, 50, 32, 64}, {24, 50, 3, 3}, 2, false}, Case{{2, 20, 32, 32}, {40, 20, 4, 4}, 2, false},
          Case{{4, 30, 33, 41}, {17, 30, 3, 3}, 2, false}, Case{{2, 30, 32, 64}, {8, 30, 3, 3}, 2, true},
          Case{{4, 16, 16, 16}, {8, 16, 1, 1}, 1, false}}) {
        Conv2dParams p = Conv2dParams::tf_same(int(c.w[2]), int(c.w[3]), c.stride, c.x[2], c.x[3]);
        if (c.reflect) {
            p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
            p.pad_mode = PadMode::reflect;
        }
        auto make = [&](std::mt19937_64& rng) {
            return std::vector<Tensor>{Tensor::uniform(c.x, -1, 1, rng), Tensor::uniform(c.w, -1, 1, rng),
                                       Tensor::uniform({c.w[0]}, -1, 1, rng)};
        };
        const OpRun r = run_op(false, spec, make, p, 29);
        for (SgemmKernel kern : {SgemmKernel::avx512, SgemmKernel::avx2, SgemmKernel::generic}) {
            SgemmKernel prev;
            try {
                prev = sgemm_force_kernel(kern);
            } catch (const Error&) {
                continue;  // not on this CPU
            }
            // the generic kernel with the SIMD level capped too, so the packer's own vector path is off as well
            SimdCapGuard cap{kern == SgemmKernel::generic ? SimdLevel::scalar : cpu_simd_level()};
            const OpRun f = run_op(true, spec, make, p, 29);
            sgemm_force_kernel(prev);
            const std::string what = shape_str(c.x) + " * " + shape_str(c.w) + " on " + sgemm_kernel_name(kern);
            // f32 dot products of up to K = 450 terms in another order: a few ulps of the largest magnitude; a
            // wrong tap, shifted column or missing padding zero changes O(1/K) of it or more
            EXPECT_LE(scaled_err(f.outs[0], r.outs[0]), 1e-5) << what;
            for (size_t i = 0; i < 3; ++i)
                EXPECT_LE(scaled_err(f.grads[i], r.grads[i]), 1e-5) << what << ", gradient " << i;
        }
    }
    set_num_threads(prev_threads);
}

// The tap-decomposed GEMM (kernels/cpu/conv_fast.cpp: zero padding, small maps) at sizes the generic
// cases cannot reach: more than one 256-deep K block forward (C = 300) and backward (OC = 300), three 32-column
// panels shared unevenly by two threads, and batches split into image chunks (30 images of 100 tap rows × 2048
// channels: more A floats than one chunk packs), forward and backward; fast against reference.
TEST(ConvFast, TapDecomposedSmallMapsMatchTheReference) {
    const OpSpec& spec = op_by_name("conv2d");
    struct Case {
        Shape x, w;
        int stride;
    };
    // the last two: stride 2 (an input row collects several taps' dx rows), 3×3 and 4×4 (16 taps: smaller K blocks
    // for the B block)
    for (const Case& c : {Case{{3, 300, 4, 4}, {70, 300, 3, 3}, 1}, Case{{2, 20, 4, 4}, {300, 20, 3, 3}, 1},
                          Case{{30, 2048, 4, 4}, {8, 2048, 3, 3}, 1}, Case{{30, 8, 4, 4}, {2048, 8, 3, 3}, 1},
                          Case{{4, 40, 8, 8}, {33, 40, 3, 3}, 1}, Case{{3, 40, 8, 8}, {70, 40, 3, 3}, 2},
                          Case{{2, 300, 8, 8}, {40, 300, 4, 4}, 2}}) {
        const Conv2dParams p = Conv2dParams::tf_same(int(c.w[2]), int(c.w[3]), c.stride, c.x[2], c.x[3]);
        auto make = [&](std::mt19937_64& rng) {
            return std::vector<Tensor>{Tensor::uniform(c.x, -1, 1, rng), Tensor::uniform(c.w, -1, 1, rng),
                                       Tensor::uniform({c.w[0]}, -1, 1, rng)};
        };
        const OpRun r = run_op(false, spec, make, p, 23);
        for (int level = int(SimdLevel::avx2); level <= int(cpu_simd_level()); ++level) {  // the taps' two kernels
            SimdCapGuard cap{SimdLevel(level)};
            const OpRun f = run_op(true, spec, make, p, 23);
            const std::vector<Tensor>&of = f.outs, &gf = f.grads, &orf = r.outs, &gr = r.grads;
            const std::string what =
                shape_str(c.x) + " * " + shape_str(c.w) + " at " + simd_level_name(SimdLevel(level));
            // f32 dot products of up to 9·2048 terms summed per tap, then over
            // taps: a few ulps of the largest magnitude; a dropped K block, panel or chunk changes O(1) of it
            EXPECT_LE(scaled_err(of[0], orf[0]), 1e-5) << what;
            for (size_t i = 0; i < 3; ++i) EXPECT_LE(scaled_err(gf[i], gr[i]), 1e-5) << what << ", gradient " << i;
        }
    }
}

// A tap's last 12-row panel is padded with zero rows, whose products go to a scratch row: with an infinite weight
// they are NaN (0 · inf), and stored into a real output row they would turn a finite output into NaN. Tap (0, 0)
// of a 4×4 'same' conv reads nothing for output (0, 0), so there the reference stays finite.
TEST(ConvFast, TapDecomposedKeepsAnInfiniteWeightToItsOwnOutputs) {
    // The tap-decomposed path needs AVX2 (or AVX-512); the im2col + SGEMM path that runs this map elsewhere
    // multiplies the zero padding by the weight too (0 · inf = NaN), as GEMM convolutions do.
    if (cpu_simd_level() < SimdLevel::avx2) GTEST_SKIP() << "no AVX2 on this CPU: the tap-decomposed path is off";
    const OpSpec& spec = op_by_name("conv2d");
    std::mt19937_64 rng(5);
    Tensor x = Tensor::uniform({2, 5, 4, 4}, -1, 1, rng), w = Tensor::uniform({40, 5, 3, 3}, -1, 1, rng);
    w.data<float>()[(3 * 5 + 2) * 9 + 0] = std::numeric_limits<float>::infinity();  // w[3, 2, 0, 0]
    const Conv2dParams p = Conv2dParams::tf_same(3, 3, 1, 4, 4);
    NoGradGuard ng;
    std::vector<double> ref;
    {
        FastKernelsGuard g(false);
        ref = spec.forward({x, w}, p)[0].to_vector();
    }
    for (int level = int(SimdLevel::avx2); level <= int(cpu_simd_level()); ++level) {
        SimdCapGuard cap{SimdLevel(level)};
        const char* name = simd_level_name(SimdLevel(level));
        std::vector<double> fast;
        {
            FastKernelsGuard g(true);
            fast = spec.forward({x, w}, p)[0].to_vector();
        }
        ASSERT_EQ(fast.size(), ref.size());
        int64_t nonfinite = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
            ASSERT_EQ(std::isfinite(fast[i]), std::isfinite(ref[i]))
                << name << " at " << i << ": " << fast[i] << " vs " << ref[i];
            nonfinite += !std::isfinite(ref[i]);
            // finite outputs: f32 sums of 45 products in another order, a few ulps of magnitudes ~10
            if (std::isfinite(ref[i])) {
                EXPECT_NEAR(fast[i], ref[i], 1e-5) << name << " at " << i;
            }
        }
        EXPECT_EQ(nonfinite, 2 * 9) << name;  // channel 3 of both images at the 9 positions where tap (0, 0) reads
    }
}

// The Winograd path (kernels/cpu/conv_winograd.cpp) against the reference, forward and backward. The sizes: 18
// tile columns (W = 36: two groups of eight and a masked group of two), 4 tile columns (one masked group), 10;
// in and out channel counts that are not SGEMM tile multiples and leave filter tails (45, 33, 133, 130); with
// and without bias; one to eight images. Those with >= 128 channels each way take the weight gradient by
// F(3×3, 2×2) too (with 130 input channels: a masked group of 2 in its output transform). All but the last have
// small filters and run in cache-sized blocks of tile rows (the first: a block spanning two images and a short
// last block); the last, 192 × 192 (9 M transformed floats) on 160 tiles, takes the unblocked path.
TEST(ConvWinograd, MatchesTheReferenceForwardAndBackward) {
    if (cpu_simd_level() < SimdLevel::avx2) GTEST_SKIP() << "no AVX2 on this CPU: the Winograd path is off";
    SimdCapGuard uncapped{cpu_simd_level()};  // the Winograd path itself, even under FS_SIMD=scalar
    const OpSpec& spec = op_by_name("conv2d");
    struct Case {
        Shape x, w;
        bool bias;
    };
    for (const Case& c : {Case{{2, 32, 10, 36}, {40, 32, 3, 3}, true}, Case{{3, 45, 8, 8}, {33, 45, 3, 3}, false},
                          Case{{1, 64, 16, 16}, {64, 64, 3, 3}, true}, Case{{2, 130, 8, 20}, {128, 130, 3, 3}, true},
                          Case{{1, 128, 10, 8}, {133, 128, 3, 3}, false}, Case{{8, 192, 8, 10}, {192, 192, 3, 3}, true}}) {
        const Conv2dParams p = Conv2dParams::tf_same(3, 3, 1, c.x[2], c.x[3]);
        const Conv2dGeom g{c.x[0], c.x[1], c.x[2], c.x[3], c.w[0], 3, 3, c.x[2], c.x[3]};
        ASSERT_TRUE(winograd_applies(p, g)) << shape_str(c.x);
        EXPECT_EQ(winograd_weights_apply(g), c.x[1] >= 128 && c.w[0] >= 128) << shape_str(c.x);
        auto make = [&](std::mt19937_64& rng) {
            std::vector<Tensor> in{Tensor::uniform(c.x, -1, 1, rng), Tensor::uniform(c.w, -1, 1, rng)};
            if (c.bias) in.push_back(Tensor::uniform({c.w[0]}, -1, 1, rng));
            return in;
        };
        const OpRun r = run_op(false, spec, make, p, 29);
        for (int level = int(SimdLevel::avx2); level <= int(cpu_simd_level()); ++level) {
            SimdCapGuard cap{SimdLevel(level)};
            const OpRun f = run_op(true, spec, make, p, 29);
            const std::string what = shape_str(c.x) + " * " + shape_str(c.w) + " at " + simd_level_name(SimdLevel(level));
            // The transforms add and halve (exact up to rounding) before and after f32 products summed over C: a
            // few ulps of the largest magnitude, as the other fast paths. A wrong transform coefficient, tile
            // offset or channel swap changes outputs by O(1) of it.
            EXPECT_LE(scaled_err(f.outs[0], r.outs[0]), 1e-5) << what;
            for (size_t i = 0; i < f.grads.size(); ++i)
                EXPECT_LE(scaled_err(f.grads[i], r.grads[i]), 1e-5) << what << ", gradient " << i;
        }
    }
}

// Only 3×3 / stride 1 / zero 'same' convs with even maps of >= 8 and >= 32 channels each way take the path, and
// those with large filters only with enough tiles; the switch turns it off.
TEST(ConvWinograd, CoversOnlyItsConvs) {
    if (cpu_simd_level() < SimdLevel::avx2) GTEST_SKIP() << "no AVX2 on this CPU: the Winograd path is off";
    SimdCapGuard uncapped{cpu_simd_level()};  // the Winograd path itself, even under FS_SIMD=scalar
    auto geom = [](int64_t C, int64_t H, int64_t W, int64_t OC, int64_t k) {
        return Conv2dGeom{2, C, H, W, OC, k, k, H, W};
    };
    const Conv2dParams same = Conv2dParams::tf_same(3, 3, 1, 16, 16);
    EXPECT_TRUE(winograd_applies(same, geom(32, 16, 16, 32, 3)));
    EXPECT_FALSE(winograd_applies(same, geom(31, 16, 16, 64, 3)));  // too few input channels
    EXPECT_FALSE(winograd_applies(same, geom(64, 16, 16, 16, 3)));  // too few output channels
    EXPECT_FALSE(winograd_applies(Conv2dParams::tf_same(3, 3, 1, 15, 16), geom(32, 15, 16, 32, 3)));  // odd height
    EXPECT_FALSE(winograd_applies(Conv2dParams::tf_same(3, 3, 1, 4, 4), geom(64, 4, 4, 64, 3)));     // 4 × 4 map
    // 16 tiles (one 8 × 8 image): enough for a small filter, not for one of 8 M transformed floats; 128 tiles are
    const Conv2dParams same8 = Conv2dParams::tf_same(3, 3, 1, 8, 8);
    EXPECT_TRUE(winograd_applies(same8, Conv2dGeom{1, 64, 8, 8, 64, 3, 3, 8, 8}));
    EXPECT_FALSE(winograd_applies(same8, Conv2dGeom{1, 512, 8, 8, 1024, 3, 3, 8, 8}));
    EXPECT_TRUE(winograd_applies(same8, Conv2dGeom{8, 512, 8, 8, 1024, 3, 3, 8, 8}));
    EXPECT_FALSE(winograd_applies(Conv2dParams::tf_same(5, 5, 1, 16, 16), geom(32, 16, 16, 32, 5)));  // 5 × 5
    Conv2dParams reflect = same;
    reflect.pad_mode = PadMode::reflect;
    EXPECT_FALSE(winograd_applies(reflect, geom(32, 16, 16, 32, 3)));
    Conv2dParams s2 = Conv2dParams::tf_same(3, 3, 2, 16, 16);
    Conv2dGeom g2 = geom(32, 16, 16, 32, 3);
    g2.Ho = g2.Wo = 8;
    EXPECT_FALSE(winograd_applies(s2, g2));
    set_winograd_enabled(false);
    EXPECT_FALSE(winograd_applies(same, geom(32, 16, 16, 32, 3)));
    set_winograd_enabled(true);
}

// pixel_shuffle with r = 2 interleaves row pairs 16 at a time on the fast path (kernels/cpu/shuffle_fast.cpp);
// the generic cases have rows of a few pixels. Rows of 37 (two vectors and a tail), both channel orders, three
// images: a copy both ways, so bitwise the reference.
TEST(ShuffleFast, PixelShuffleRowsMatchTheReferenceBitwise) {
    const OpSpec& spec = op_by_name("pixel_shuffle");
    for (int level = 0; level <= int(cpu_simd_level()); ++level)  // 16 pairs (AVX-512), 8 (AVX2), plain loops
    for (PixelShuffleOrder order : {PixelShuffleOrder::dcr, PixelShuffleOrder::crd}) {
        SimdCapGuard cap{SimdLevel(level)};
        const PixelShuffleParams p{2, order};
        auto make = [](std::mt19937_64& rng) {
            return std::vector<Tensor>{Tensor::uniform({3, 20, 5, 37}, -1, 1, rng)};
        };
        const OpRun f = run_op(true, spec, make, p, 8), r = run_op(false, spec, make, p, 8);
        const std::vector<Tensor>&of = f.outs, &gf = f.grads, &orf = r.outs, &gr = r.grads;
        EXPECT_EQ(max_abs_diff(of[0], orf[0]), 0.0);
        EXPECT_EQ(max_abs_diff(gf[0], gr[0]), 0.0);
    }
}

// LeakyReLU's vector paths compute slope·x in every lane and pick by a compare: the same roundings as the scalar
// reference, so bitwise, at every SIMD level (odd length for the tails, zeros, negative zeros, NaN).
TEST(UnaryFast, LeakyReluIsTheReferenceBitwise) {
    const OpSpec& spec = op_by_name("leaky_relu");
    for (int level = 0; level <= int(cpu_simd_level()); ++level) {
        SimdCapGuard cap{SimdLevel(level)};
        auto make = [](std::mt19937_64& rng) {
            Tensor x = Tensor::uniform({3, 5, 7, 11}, -2, 2, rng);
            float* d = x.data<float>();
            d[0] = 0.f, d[1] = -0.f, d[2] = std::numeric_limits<float>::quiet_NaN(), d[1154] = -1e-30f;
            return std::vector<Tensor>{x};
        };
        const UnaryParams p{0.1};
        const OpRun f = run_op(true, spec, make, p, 4), r = run_op(false, spec, make, p, 4);
        const std::vector<double> of = f.outs[0].to_vector(), orf = r.outs[0].to_vector();
        const std::vector<double> gf = f.grads[0].to_vector(), gr = r.grads[0].to_vector();
        for (size_t i = 0; i < of.size(); ++i) {
            ASSERT_EQ(std::memcmp(&of[i], &orf[i], sizeof(double)), 0) << simd_level_name(SimdLevel(level)) << " " << i;
            ASSERT_EQ(std::memcmp(&gf[i], &gr[i], sizeof(double)), 0) << simd_level_name(SimdLevel(level)) << " " << i;
        }
    }
}

// Dense layers with a batch of 1..8 rows take the skinny kernels (kernels/cpu/linalg_fast.cpp): one pass over
// the weights, column blocks per thread, ragged tails. Each shape here hits a different part of them (every batch
// size, widths that are and are not multiples of 16, an odd row count for the backward's 4-row groups), and a
// batch of 9 the SGEMM path; fast against reference, forward and all three gradients.
TEST(DenseFast, SkinnyBatchesMatchTheReference) {
    const OpSpec& spec = op_by_name("dense");
    struct Shape3 {
        int64_t n, in, out;
    };
    for (Shape3 c : {Shape3{8, 1000, 70}, Shape3{1, 16, 16}, Shape3{3, 33, 17}, Shape3{5, 1024, 131},
                     Shape3{7, 4099, 23}, Shape3{2, 64, 1030}, Shape3{4, 100, 40}, Shape3{6, 48, 50},
                     Shape3{9, 300, 40}}) {
        auto make = [&](std::mt19937_64& rng) {
            return std::vector<Tensor>{Tensor::uniform({c.n, c.in}, -1, 1, rng),
                                       Tensor::uniform({c.out, c.in}, -1, 1, rng),
                                       Tensor::uniform({c.out}, -1, 1, rng)};
        };
        const OpRun f = run_op(true, spec, make, {}, 9), r = run_op(false, spec, make, {}, 9);
        const std::vector<Tensor>&of = f.outs, &gf = f.grads, &orf = r.outs, &gr = r.grads;
        const std::string what = std::to_string(c.n) + "x" + std::to_string(c.in) + " -> " + std::to_string(c.out);
        // f32 dot products of up to 4099 terms summed in another order (16 lanes, then across them): a few ulps
        // of the largest magnitude, far below any indexing error (which would be O(1) here).
        EXPECT_LE(scaled_err(of[0], orf[0]), 1e-5) << what;
        for (size_t i = 0; i < 3; ++i) EXPECT_LE(scaled_err(gf[i], gr[i]), 1e-5) << what << ", gradient " << i;
    }
}

// The fast attention forward keeps each row's log-sum-exp after the output's elements, and its backward reads it
// from there instead of recomputing it; an output without that tail (a copy) takes the recomputing path. Both
// must give the same gradients, and the reference's.
// A NaN in a query row must reach that row's output on the fast path as it does on the reference (std::exp of a
// NaN is NaN): the exponential's clamp and the row max may not turn it into a finite value, or a diverged run
// would train on silently. The other rows stay finite.
TEST(AttentionFast, NaNInAQueryRowReachesThatRowsOutput) {
    const OpSpec& spec = op_by_name("attention");
    for (bool fast : {true, false}) {
        FastKernelsGuard g(fast);
        std::mt19937_64 rng(12);
        const int64_t N = 300, M = 270, D = 8, E = 20;  // several key tiles; D = 8 takes the small-D kernels
        Tensor q = Tensor::uniform({1, N, D}, -1, 1, rng), k = Tensor::uniform({1, M, D}, -1, 1, rng),
               v = Tensor::uniform({1, M, E}, -1, 1, rng);
        q.data<float>()[5 * D + 3] = std::numeric_limits<float>::quiet_NaN();  // row 5
        NoGradGuard ng;
        const std::vector<double> o = spec.forward({q, k, v}, AttentionParams{0.35})[0].to_vector();
        for (int64_t e = 0; e < E; ++e)
            EXPECT_TRUE(std::isnan(o[size_t(5 * E + e)])) << (fast ? "fast" : "ref") << " e " << e;
        for (int64_t i = 0; i < N * E; ++i) {
            if (i / E == 5) continue;
            ASSERT_TRUE(std::isfinite(o[size_t(i)])) << (fast ? "fast" : "ref") << " at " << i;
        }
    }
}

// Scores in the thousands: the fast path's exponentials are only safe because each tile is shifted by at least
// its row maximum (taken while the score tile is stored); a maximum that missed a column block or a row would
// overflow them. Fast against reference, forward and backward, over several key tiles and a ragged last block.
TEST(AttentionFast, LargeScoresStayFiniteAndMatchTheReference) {
    const OpSpec& spec = op_by_name("attention");
    auto make = [](std::mt19937_64& rng) {
        const int64_t N = 140, M = 530, D = 8, E = 24;
        return std::vector<Tensor>{Tensor::uniform({2, N, D}, -20, 20, rng), Tensor::uniform({2, M, D}, -20, 20, rng),
                                   Tensor::uniform({2, M, E}, -1, 1, rng)};
    };
    const AttentionParams p{1.0};
    const OpRun f = run_op(true, spec, make, p, 13), r = run_op(false, spec, make, p, 13);
    const std::vector<Tensor>&of = f.outs, &gf = f.grads, &orf = r.outs, &gr = r.grads;
    for (double x : of[0].to_vector()) ASSERT_TRUE(std::isfinite(x));
    // near-one-hot softmax rows: the same few terms dominate both paths; f32 scores of magnitude ~10^3 carry
    // absolute rounding errors of ~6e-5 (float epsilon times the score), which move the softmax weights by as much
    // relatively (3e-5 measured): 2e-4 of the largest value
    EXPECT_LE(scaled_err(of[0], orf[0]), 2e-4);
    for (size_t i = 0; i < 3; ++i) EXPECT_LE(scaled_err(gf[i], gr[i]), 2e-4) << "gradient " << i;
}

TEST(AttentionFast, BackwardIsBitwiseTheSameForAnyThreadCountAndRun) {
    // The backward splits each item's keys and adds the parts' dq in whatever order they finish; the result must
    // not depend on that order or on the thread count (exact resume and reproducible runs rely on it).
    // Batch 1 and 3 (one item split in parts; an odd batch), and a batch of 16 (whole items).
    for (int64_t B : {1, 3, 16}) {
        const int64_t N = 1024, M = 1024, D = 8, E = 64;
        std::mt19937_64 rng(uint64_t(11 + B));
        auto rnd = [&](int64_t n, float lo, float hi) {
            std::uniform_real_distribution<float> u(lo, hi);
            std::vector<float> x(static_cast<size_t>(n));
            for (float& f : x) f = u(rng);
            return x;
        };
        const std::vector<float> q = rnd(B * N * D, -2, 2), k = rnd(B * M * D, -2, 2), v = rnd(B * M * E, -1, 1);
        const std::vector<float> dout = rnd(B * N * E, -1, 1);
        std::vector<float> o(static_cast<size_t>(B * N * E));
        AttentionParams p;
        attention_forward_fast(p, q.data(), k.data(), v.data(), o.data(), B, N, M, D, E);
        auto grads = [&](int threads) {
            const int prev = num_threads();
            set_num_threads(threads);
            std::vector<float> g(static_cast<size_t>(B * (N * D + M * D + M * E)));
            float* dq = g.data();
            float* dk = dq + B * N * D;
            float* dv = dk + B * M * D;
            attention_backward_fast(p, q.data(), k.data(), v.data(), o.data(), dout.data(), dq, dk, dv, B, N, M, D, E);
            set_num_threads(prev);
            return g;
        };
        const std::vector<float> one = grads(1);
        for (int run = 0; run < 3; ++run)
            for (int threads : {2, 3}) EXPECT_EQ(std::memcmp(grads(threads).data(), one.data(), one.size() * sizeof(float)), 0)
                << "batch " << B << ", " << threads << " threads, run " << run;
    }
}

TEST(AttentionFast, SavedLogSumExpMatchesRecomputedAndReference) {
    const OpSpec& spec = op_by_name("attention");
    std::mt19937_64 rng(9);
    std::vector<Tensor> in{Tensor::uniform({2, 300, 8}, -2, 2, rng), Tensor::uniform({2, 520, 8}, -2, 2, rng),
                           Tensor::uniform({2, 520, 69}, -1, 1, rng)};
    NoGradGuard ng;
    std::vector<Tensor> out = spec.forward(in, {});
    const Tensor& o = out[0];
    ASSERT_EQ(o.storage()->bytes(), size_t(2 * 300 * 69 + 2 * 300) * sizeof(float)) << "no log-sum-exp tail";
    Tensor dout = Tensor::uniform(o.shape(), -1, 1, rng);
    std::vector<bool> needs{true, true, true};
    std::vector<Tensor> with_tail{o.detach()}, without_tail{o.clone()}, dv{dout};
    std::vector<Tensor> g_saved = spec.backward({in, with_tail, dv, needs, {}});
    std::vector<Tensor> g_recomputed = spec.backward({in, without_tail, dv, needs, {}});
    std::vector<Tensor> g_ref;
    {
        FastKernelsGuard ref(false);
        g_ref = spec.backward({in, without_tail, dv, needs, {}});
    }
    for (size_t i = 0; i < 3; ++i) {
        // The saved rows are the very floats the recomputation produces (same tiles, same order): equal up to
        // nothing; 1e-6 only guards against a platform reassociating the exp sums differently.
        EXPECT_LE(scaled_err(g_saved[i], g_recomputed[i]), 1e-6) << "gradient of input " << i;
        // against the reference kernel: as FastVsReference (f32, blocked sums)
        EXPECT_LE(scaled_err(g_saved[i], g_ref[i]), 1e-5) << "gradient of input " << i;
    }
}
