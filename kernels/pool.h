// pool.h: 2-D max and average pooling over NCHW with per-side padding.
// Padding cells never take part: they cannot win a max (as if -inf) and an average divides by the number of
// real cells in its window (TF 'SAME' semantics, Keras AveragePooling2D). Every window must hold at least one
// real cell; the op checks that before calling a kernel. Kernel conventions: x (N,C,H,W) and y (N,C,Ho,Wo)
// contiguous row-major; outputs and gradients are assigned (=).
#pragma once
#include <cstdint>

#include "kernels/conv.h"  // tf_same_padding, window_out_size
#include "tensor/dtype.h"

namespace fs {

/// kh×kw window moved by (stride_h, stride_w). The kernel and stride have no defaults on purpose: a
/// default-constructed Pool2dParams is rejected by the op (kernel and stride must be >= 1).
struct Pool2dParams {
    int kh = 0, kw = 0, stride_h = 0, stride_w = 0;
    int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;

    /// No padding (TF 'VALID'): the last partial window is dropped.
    static Pool2dParams valid(int k, int stride);
    /// TF padding='SAME' (out = ceil(in/s), the odd padding cell at the bottom/right); see Conv2dParams::tf_same.
    static Pool2dParams tf_same(int k, int stride, int64_t H, int64_t W);
    /// Caffe's ceil-mode pooling without explicit padding (MTCNN's PNet/RNet/ONet): out = ceil((in-k)/s) + 1,
    /// i.e. a last partial window is kept, expressed as extra bottom/right padding. Needs H, W >= k.
    static Pool2dParams ceil_mode(int k, int stride, int64_t H, int64_t W);
};

enum class PoolKind { max, avg };

/// The sizes of one pooling call (Ho, Wo already derived from the params).
struct Pool2dGeom {
    int64_t N = 0, C = 0, H = 0, W = 0;
    int64_t Ho = 0, Wo = 0;
};

/// The real (unpadded) input range [*lo, *hi) covered by output position o along an axis of length n, for a
/// window of k cells starting at o·stride - pad_before. Empty (lo >= hi) when the window is all padding.
FS_HOST_DEVICE inline void pool_window(int64_t o, int64_t stride, int64_t pad_before, int64_t k, int64_t n, int64_t* lo,
                                       int64_t* hi) {
    int64_t start = o * stride - pad_before;
    *lo = start < 0 ? 0 : start;
    *hi = start + k > n ? n : start + k;
}

/// y[n,c,oh,ow] = max (or mean) of x over the real cells of the window at (oh, ow). x (N,C,H,W), y (N,C,Ho,Wo)
/// assigned.
template <typename T>
void pool2d_forward_cpu(PoolKind kind, const Pool2dParams& p, const Pool2dGeom& g, const T* x, T* y);

/// dx (N,C,H,W) assigned from dy (N,C,Ho,Wo). Max: each window's dy goes to the first maximum in scan order
/// (row by row, left to right), found again from x; overlapping windows add up. Avg: dy / (real cells) goes to
/// every real cell of the window.
template <typename T>
void pool2d_backward_cpu(PoolKind kind, const Pool2dParams& p, const Pool2dGeom& g, const T* x, const T* dy, T* dx);

}  // namespace fs
