// elementwise.h: unary ops, PReLU and broadcasting binary ops.
// The scalar math (forward value and derivative) is written once here, FS_HOST_DEVICE, so the CPU reference
// and the CUDA kernels cannot drift apart (the darknet `.1` vs `.1f` lesson).
// Kernel conventions: pointers to contiguous row-major buffers; outputs and gradients are assigned (=).
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/dtype.h"

namespace fs {

enum class UnaryKind { abs, square, exp, log, relu, leaky_relu, sigmoid, tanh, scale };

/// slope: LeakyReLU's negative slope. a, b: scale's y = a·x + b.
struct UnaryParams {
    double slope = 0.2;
    double a = 1.0, b = 0.0;
};

/// y = f(x).
template <typename T>
FS_HOST_DEVICE inline T unary_value(UnaryKind k, T x, const UnaryParams& p) {
    switch (k) {
        case UnaryKind::abs: return x < T(0) ? -x : x;
        case UnaryKind::square: return x * x;
        case UnaryKind::exp: return std::exp(x);
        case UnaryKind::log: return std::log(x);
        case UnaryKind::relu: return x > T(0) ? x : T(0);
        case UnaryKind::leaky_relu: return x > T(0) ? x : T(p.slope) * x;
        case UnaryKind::sigmoid: return T(1) / (T(1) + std::exp(-x));
        case UnaryKind::tanh: return std::tanh(x);
        case UnaryKind::scale: return T(p.a) * x + T(p.b);
    }
    return T(0);
}

/// dy/dx, given x and y = f(x) (whichever is cheaper to use).
template <typename T>
FS_HOST_DEVICE inline T unary_derivative(UnaryKind k, T x, T y, const UnaryParams& p) {
    switch (k) {
        case UnaryKind::abs: return x < T(0) ? T(-1) : (x > T(0) ? T(1) : T(0));  // sign(x): 0 at the kink, as TF/PyTorch
        case UnaryKind::square: return T(2) * x;
        case UnaryKind::exp: return y;
        case UnaryKind::log: return T(1) / x;
        case UnaryKind::relu: return x > T(0) ? T(1) : T(0);
        case UnaryKind::leaky_relu: return x > T(0) ? T(1) : T(p.slope);
        case UnaryKind::sigmoid: return y * (T(1) - y);
        case UnaryKind::tanh: return T(1) - y * y;
        case UnaryKind::scale: return T(p.a);
    }
    return T(0);
}

/// y[i] = f(x[i]), i < n.
template <typename T>
void unary_forward_cpu(UnaryKind k, const UnaryParams& p, const T* x, T* y, int64_t n);
/// dx[i] = dy[i] · f'(x[i]).
template <typename T>
void unary_backward_cpu(UnaryKind k, const UnaryParams& p, const T* x, const T* y, const T* dy, T* dx, int64_t n);

// --- PReLU: per-channel slope ----------------------------------------------------------------------------------
// x (N, C, S) with S the product of the trailing dims (H·W, or 1 for (N, C)); alpha (C).
template <typename T>
void prelu_forward_cpu(const T* x, const T* alpha, T* y, int64_t N, int64_t C, int64_t S);
/// dx assigned; dalpha assigned (summed over N and S).
template <typename T>
void prelu_backward_cpu(const T* x, const T* alpha, const T* dy, T* dx, T* dalpha, int64_t N, int64_t C, int64_t S);

// --- binary ops with NumPy broadcasting ------------------------------------------------------------------------

enum class BinaryKind { add, sub, mul, div };

template <typename T>
FS_HOST_DEVICE inline T binary_value(BinaryKind k, T a, T b) {
    switch (k) {
        case BinaryKind::add: return a + b;
        case BinaryKind::sub: return a - b;
        case BinaryKind::mul: return a * b;
        case BinaryKind::div: return a / b;
    }
    return T(0);
}
/// ∂(a∘b)/∂a and ∂(a∘b)/∂b.
template <typename T>
FS_HOST_DEVICE inline void binary_partials(BinaryKind k, T a, T b, T* da, T* db) {
    switch (k) {
        case BinaryKind::add: *da = T(1); *db = T(1); return;
        case BinaryKind::sub: *da = T(1); *db = T(-1); return;
        case BinaryKind::mul: *da = b; *db = a; return;
        case BinaryKind::div: *da = T(1) / b; *db = -a / (b * b); return;
    }
}

/// The broadcast geometry of out = a ∘ b, padded to rank kMaxRank (leading 1s). Strides of a broadcast
/// dimension are 0, so one loop over the output serves every broadcast pattern.
struct BroadcastGeom {
    static constexpr int k_max_rank = 6;
    int rank = 0;
    int64_t out_shape[k_max_rank];
    int64_t a_strides[k_max_rank];  // element strides into contiguous a (0 on broadcast dims)
    int64_t b_strides[k_max_rank];
    int64_t numel = 1;
};

/// out[i] = a[ia(i)] ∘ b[ib(i)].
template <typename T>
void binary_forward_cpu(BinaryKind k, const BroadcastGeom& g, const T* a, const T* b, T* out);
/// da, db assigned (reduced over the dimensions each was broadcast along); either may be null.
template <typename T>
void binary_backward_cpu(BinaryKind k, const BroadcastGeom& g, const T* a, const T* b, const T* dout, T* da, T* db,
                         int64_t a_numel, int64_t b_numel);

}  // namespace fs

namespace fs {
/// Broadcast geometry of a ∘ b (NumPy rules, right-aligned, rank <= 6); throws naming `op` and both shapes.
BroadcastGeom make_broadcast(const Shape& a, const Shape& b, const char* op);
/// The output shape of that broadcast.
Shape broadcast_shape(const BroadcastGeom& g);
}  // namespace fs

namespace fs {
// --- optimised f32 paths (kernels/cpu/elementwise_fast.cpp) ----------------------------------------------------
// The same scalar math (unary_value, unary_derivative, binary_value, binary_partials) over both threads, with the
// op kind a compile-time constant so the loops vectorise (AVX-512 where present). The reference kernels above
// stay the specification; the generic FastVsReference tests hold these to them.
void unary_forward_fast(UnaryKind k, const UnaryParams& p, const float* x, float* y, int64_t n);
void unary_backward_fast(UnaryKind k, const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx,
                         int64_t n);
void binary_forward_fast(BinaryKind k, const BroadcastGeom& g, const float* a, const float* b, float* out);
/// Only for a geometry without broadcasting (a, b and out the same shape); returns false otherwise, and the
/// caller runs the reference (its broadcast reductions are sequential).
bool binary_backward_fast(BinaryKind k, const BroadcastGeom& g, const float* a, const float* b, const float* dout,
                          float* da, float* db);
}  // namespace fs
