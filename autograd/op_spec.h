// op_spec.h: what defines an op. Each op is one OpSpec, defined in autograd/ops/<family>.cpp and listed by one
// line in kernels/ops.def; tests (gradient check) and benchmarks walk the registry and pick every op up.
//
// Conventions binding every spec:
//   - forward(in, attrs) checks its inputs with FS_CHECK (message names the op and the shapes), allocates and
//     returns its outputs. View ops may return views of their input.
//   - backward(args) returns one gradient per input, of that input's shape and dtype and contiguous, or an
//     undefined Tensor where args.needs[i] is false. Gradients are assigned (fresh tensors), never accumulated;
//     the tape accumulates.
//   - attrs is a std::any holding the op's params struct (e.g. Conv2dParams); ops without attributes take an
//     empty std::any.
#pragma once
#include <any>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace fs {

/// One input of a test case: its shape and how to fill it.
struct InputSpec {
    Shape shape;
    double lo = -1.0, hi = 1.0;  ///< uniform range of the values
    bool grad = true;            ///< checked by the gradient check (false: an integer-like or constant input)
    bool strided = false;        ///< hand the op a non-contiguous view (every other element of a wider buffer)
    double min_abs = 0.0;        ///< keep |x| >= min_abs (away from a kink at 0), sign kept random
};

/// A test or benchmark input of the default kind: uniform [-1, 1), optionally a non-contiguous view.
inline InputSpec input_spec(Shape s, bool strided = false) {
    InputSpec i;
    i.shape = std::move(s);
    i.strided = strided;
    return i;
}

/// One gradient-check / consistency case.
struct TestCase {
    std::string name;
    std::vector<InputSpec> inputs;
    std::any attrs;
};

/// One benchmark case (f32, contiguous, uniform [-1, 1) inputs unless the op's ranges say otherwise).
struct PerfCase {
    std::string name;
    std::vector<InputSpec> inputs;
    std::any attrs;
};

struct BackwardArgs {
    const std::vector<Tensor>& in;    ///< the forward inputs (as given to forward)
    const std::vector<Tensor>& out;   ///< the forward outputs (detached)
    const std::vector<Tensor>& dout;  ///< dL/d(out), one per output, contiguous
    const std::vector<bool>& needs;   ///< which inputs need a gradient
    const std::any& attrs;
};

enum OpFlags : uint32_t {
    k_op_none = 0,
    k_op_kinked = 1u << 0,  ///< non-differentiable points (abs, relu, max-pool): the gradient check skips
                            ///< elements where the one-sided differences disagree
    k_op_view = 1u << 1,    ///< forward returns views of its input (no kernel, no benchmark)
};

struct OpSpec {
    const char* name;
    int n_in_min, n_in_max;  ///< accepted input counts (n_in_max -1: any number)
    std::vector<Tensor> (*forward)(const std::vector<Tensor>& in, const std::any& attrs);
    std::vector<Tensor> (*backward)(const BackwardArgs& args);
    std::vector<TestCase> (*test_cases)();
    std::vector<PerfCase> (*perf_cases)();
    /// Floating-point operations of one forward call (null: the op is memory-bound, reported in GB/s).
    double (*flops)(const std::vector<Tensor>& in, const std::any& attrs);
    uint32_t flags;
};

/// Reads an op's params struct out of attrs, naming the op when the type is wrong.
template <typename P>
const P& attrs_as(const std::any& a, const char* op) {
    const P* p = std::any_cast<P>(&a);
    FS_CHECK(p != nullptr, op, ": attributes of the wrong type were passed");
    return *p;
}

// --- small helpers shared by the op definitions -------------------------------------------------------------

/// Checks the rank of an op input.
void check_rank(const Tensor& t, int64_t rank, const char* op, const char* what);
/// Checks that all inputs share dtype and device (the dispatcher already does this for apply()).
void check_same_dtype_device(const std::vector<Tensor>& in, const char* op);

}  // namespace fs
