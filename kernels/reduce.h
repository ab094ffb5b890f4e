// reduce.h: sum and mean over chosen axes, and softmax over the last axis.
// Kernel conventions: pointers to contiguous row-major buffers; outputs and gradients are assigned (=).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/dtype.h"

namespace fs {

/// axes: the axes reduced (empty: all of them; negative axes count from the end; no repeats).
/// keepdim: reduced axes stay as size 1 (true) or are dropped (false; reducing every axis then gives a rank-0
/// tensor of shape {}).
struct ReduceParams {
    std::vector<int64_t> axes;
    bool keepdim = false;
};

/// The geometry of one reduction over a contiguous input: its axes split into the kept ones (which index the
/// output, in order) and the reduced ones (which are summed over), each with the input's element strides.
/// Plain arrays, so the same struct can be passed to a CUDA kernel by value.
struct ReduceGeom {
    static constexpr int k_max_rank = 8;
    int n_kept = 0, n_red = 0;
    int64_t kept_shape[k_max_rank], kept_strides[k_max_rank];
    int64_t red_shape[k_max_rank], red_strides[k_max_rank];
    int64_t out_numel = 1;  ///< product of kept_shape (1 for a full reduction)
    int64_t red_numel = 1;  ///< product of red_shape: the count a mean divides by
};

/// The input offset of linear index i over (shape, strides) of the given rank (row-major order).
FS_HOST_DEVICE inline int64_t reduce_offset(int64_t i, const int64_t* shape, const int64_t* strides, int rank) {
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
        off += (i % shape[d]) * strides[d];
        i /= shape[d];
    }
    return off;
}

/// x contiguous with the geometry's shape; y (out_numel) assigned: y[o] = scale · Σ_r x[kept(o) + red(r)].
/// scale is 1 for sum and 1/red_numel for mean.
template <typename T>
void reduce_sum_forward_cpu(const ReduceGeom& g, double scale, const T* x, T* y);
/// dy (out_numel); dx (the input's numel) assigned: dx[kept(o) + red(r)] = scale · dy[o] (a broadcast).
template <typename T>
void reduce_sum_backward_cpu(const ReduceGeom& g, double scale, const T* dy, T* dx);

/// True when the reduced axes are the trailing ones of a contiguous input (all of them included): output o then
/// reduces the run x[o·red_numel .. (o+1)·red_numel), which the fast paths below read directly.
inline bool reduce_is_trailing(const ReduceGeom& g) {
    int64_t expect = 1;
    for (int d = g.n_red - 1; d >= 0; --d) {
        if (g.red_shape[d] != 1 && g.red_strides[d] != expect) return false;
        expect *= g.red_shape[d];
    }
    for (int d = g.n_kept - 1; d >= 0; --d) {
        if (g.kept_shape[d] != 1 && g.kept_strides[d] != expect) return false;
        expect *= g.kept_shape[d];
    }
    return true;
}
/// f32 fast paths (kernels/cpu/elementwise_fast.cpp) for a trailing reduction: y[o] = scale · Σ of row o (in
/// double, over the threads, independent of the thread count) and its backward dx row o = scale · dy[o].
void sum_rows_fast(const float* x, int64_t rows, int64_t len, double scale, float* y);
void fill_rows_fast(const float* dy, int64_t rows, int64_t len, double scale, float* dx);
/// sum_squares over the threads (fixed blocks, double) and its backward dx = (2·dy)·x (bitwise the reference).
double sum_squares_fast(const float* x, int64_t n);
void sum_squares_backward_fast(const float* x, float dy, float* dx, int64_t n);

// --- softmax over the last axis --------------------------------------------------------------------------------

/// x, y (rows, cols) contiguous; y assigned: y[r,j] = exp(x[r,j] - max_j x[r,:]) / Σ_j exp(x[r,j] - max).
/// Subtracting the row max makes the largest exponent 0, so nothing overflows (x = 1000 is fine) and the
/// denominator is at least 1.
template <typename T>
void softmax_forward_cpu(const T* x, T* y, int64_t rows, int64_t cols);

/// y the forward output, dy the upstream gradient, dx assigned, all (rows, cols):
/// dx[r,j] = y[r,j] · (dy[r,j] - Σ_k dy[r,k]·y[r,k]) (the Jacobian diag(y) - y·yᵀ applied to dy).
template <typename T>
void softmax_backward_cpu(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols);

}  // namespace fs

namespace fs {
/// Builds the geometry for reducing `p.axes` of `shape` (rank <= 8); throws naming `op` on a bad or repeated axis.
ReduceGeom make_reduce_geom(const Shape& shape, const ReduceParams& p, const char* op);
/// The output shape of that reduction (keepdim honoured; {} for a full reduction without keepdim).
Shape reduce_out_shape(const Shape& shape, const ReduceParams& p, const char* op);
}  // namespace fs

namespace fs {
// --- sum of squares: the L2 weight-decay term in one pass ---------------------------------------------------
/// Returns Σ x[i]² accumulated in double (n elements, contiguous).
template <typename T>
double sum_squares_forward_cpu(const T* x, int64_t n);
/// dx[i] = 2·x[i]·dy (dy the upstream gradient of the scalar), assigned.
template <typename T>
void sum_squares_backward_cpu(const T* x, T dy, T* dx, int64_t n);
}  // namespace fs
