// reduce.cpp: reference CPU kernels for sum/mean over axes and softmax over the last axis, and the reduction
// geometry builder. Scalar accumulators are double: it is free in these scalar loops and keeps the reference
// the accurate side of any comparison (a float running sum over 2M elements would drift by ~1e-4 relative).
#include "kernels/reduce.h"

#include <algorithm>
#include <cmath>

namespace fs {

// --- sum / mean ------------------------------------------------------------------------------------------------

// Both kernels walk (output element o, reduced element r) pairs. The offset of each is recomputed from its linear
// index with div/mod (reduce_offset) rather than kept incrementally: slower, but each element's address is a
// pure function of (o, r), which is also how a CUDA thread will find it, so the two cannot disagree.
// A mean over an empty axis divides 0 by 0 and gives NaN, as NumPy and PyTorch do.
template <typename T>
void reduce_sum_forward_cpu(const ReduceGeom& g, double scale, const T* x, T* y) {
    // One output element at a time: find where its kept index starts in x, then visit every combination of
    // the reduced axes from there. Reducing the trailing axes (e.g. H, W of NCHW) makes the inner walk contiguous.
    for (int64_t o = 0; o < g.out_numel; ++o) {
        const int64_t base = reduce_offset(o, g.kept_shape, g.kept_strides, g.n_kept);
        double acc = 0;
        for (int64_t r = 0; r < g.red_numel; ++r)
            acc += double(x[base + reduce_offset(r, g.red_shape, g.red_strides, g.n_red)]);
        y[o] = T(acc * scale);
    }
}

template <typename T>
void reduce_sum_backward_cpu(const ReduceGeom& g, double scale, const T* dy, T* dx) {
    // Every input element contributed once (times scale) to exactly one output, so it gets that output's
    // gradient times scale: the forward's walk with the assignment reversed. Every dx element is written once.
    for (int64_t o = 0; o < g.out_numel; ++o) {
        const int64_t base = reduce_offset(o, g.kept_shape, g.kept_strides, g.n_kept);
        const T v = T(double(dy[o]) * scale);
        for (int64_t r = 0; r < g.red_numel; ++r)
            dx[base + reduce_offset(r, g.red_shape, g.red_strides, g.n_red)] = v;
    }
}

// --- softmax ---------------------------------------------------------------------------------------------------

template <typename T>
void softmax_forward_cpu(const T* x, T* y, int64_t rows, int64_t cols) {
    if (cols == 0) return;  // empty rows have nothing to normalise (and no max to read)
    for (int64_t r = 0; r < rows; ++r) {
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        // Shift by the row max: softmax is unchanged by adding a constant to a row, and after the shift every
        // exponent is <= 0, so exp cannot overflow and at least one term is exactly 1 (no division by 0).
        // A NaN anywhere in the row reaches the denominator through exp, so the whole row comes out NaN: never hidden.
        T mx = xr[0];
        for (int64_t j = 1; j < cols; ++j) mx = std::max(mx, xr[j]);
        double denom = 0;
        for (int64_t j = 0; j < cols; ++j) {
            yr[j] = std::exp(xr[j] - mx);  // kept unnormalised for now; normalised below
            denom += double(yr[j]);
        }
        const double inv = 1.0 / denom;
        for (int64_t j = 0; j < cols; ++j) yr[j] = T(double(yr[j]) * inv);
    }
}

template <typename T>
void softmax_backward_cpu(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; ++r) {
        const T* yr = y + r * cols;
        const T* gr = dy + r * cols;
        T* dxr = dx + r * cols;
        // ∂y_j/∂x_i = y_j (δ_ij - y_i), so dx_i = Σ_j dy_j y_j (δ_ij - y_i) = y_i (dy_i - Σ_j dy_j y_j).
        // Using the saved output y means the backward needs neither x nor another exp.
        double dot = 0;
        for (int64_t j = 0; j < cols; ++j) dot += double(gr[j]) * double(yr[j]);
        for (int64_t j = 0; j < cols; ++j) dxr[j] = T(double(yr[j]) * (double(gr[j]) - dot));
    }
}

#define FS_INSTANTIATE(T)                                                                      \
    template void reduce_sum_forward_cpu<T>(const ReduceGeom&, double, const T*, T*);          \
    template void reduce_sum_backward_cpu<T>(const ReduceGeom&, double, const T*, T*);         \
    template void softmax_forward_cpu<T>(const T*, T*, int64_t, int64_t);                      \
    template void softmax_backward_cpu<T>(const T*, const T*, T*, int64_t, int64_t);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)
#undef FS_INSTANTIATE

// --- geometry --------------------------------------------------------------------------------------------------

// Which axes of a rank-`rank` tensor are reduced (all of them when p.axes is empty). Axes are validated here,
// once, so the kernels can trust the geometry; a repeated axis is an error rather than silently reduced once.
static std::vector<bool> reduced_axes(size_t rank, const ReduceParams& p, const char* op) {
    std::vector<bool> red(rank, p.axes.empty());
    for (int64_t a : p.axes) {
        int d = normalize_axis(a, rank, op);
        FS_CHECK(!red[size_t(d)], op, ": axis ", a, " is listed twice (axis ", d, " of rank ", rank, ")");
        red[size_t(d)] = true;
    }
    return red;
}

ReduceGeom make_reduce_geom(const Shape& shape, const ReduceParams& p, const char* op) {
    FS_CHECK(shape.size() <= size_t(ReduceGeom::k_max_rank), op, ": rank ", shape.size(), " exceeds ",
             ReduceGeom::k_max_rank, " for shape ", shape_str(shape));
    std::vector<bool> red = reduced_axes(shape.size(), p, op);
    Shape st = contiguous_strides(shape);
    // Splitting the axes keeps their order, so the kept axes index the output row-major exactly as the output
    // tensor is laid out (with or without keepdim: size-1 axes do not change the element order).
    ReduceGeom g;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (red[d]) {
            g.red_shape[g.n_red] = shape[d], g.red_strides[g.n_red] = st[d], ++g.n_red;
            g.red_numel *= shape[d];
        } else {
            g.kept_shape[g.n_kept] = shape[d], g.kept_strides[g.n_kept] = st[d], ++g.n_kept;
            g.out_numel *= shape[d];
        }
    }
    return g;
}

Shape reduce_out_shape(const Shape& shape, const ReduceParams& p, const char* op) {
    std::vector<bool> red = reduced_axes(shape.size(), p, op);
    Shape out;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (!red[d]) out.push_back(shape[d]);
        else if (p.keepdim) out.push_back(1);
    }
    return out;
}

}  // namespace fs

namespace fs {

template <typename T>
double sum_squares_forward_cpu(const T* x, int64_t n) {
    // Four partial sums: independent dependency chains let the loop run at load speed, and the pairwise
    // grouping keeps the rounding error of a 10^7-term sum small (all in double).
    double s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; ++j) s[j] += double(x[i + j]) * double(x[i + j]);
    for (; i < n; ++i) s[0] += double(x[i]) * double(x[i]);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

template <typename T>
void sum_squares_backward_cpu(const T* x, T dy, T* dx, int64_t n) {
    const T g = T(2) * dy;
    for (int64_t i = 0; i < n; ++i) dx[i] = g * x[i];
}

template double sum_squares_forward_cpu<float>(const float*, int64_t);
template double sum_squares_forward_cpu<double>(const double*, int64_t);
template void sum_squares_backward_cpu<float>(const float*, float, float*, int64_t);
template void sum_squares_backward_cpu<double>(const double*, double, double*, int64_t);

}  // namespace fs
