// pool.cpp: the reference CPU kernels of max and average pooling, and the padding helpers.
// One direct loop nest per kernel: for each output cell, walk the real part of its window (pool_window clips
// the padding away, so padded cells are never read: they cannot win a max and are not counted by a mean).
#include "kernels/pool.h"

#include <algorithm>

namespace fs {

// --- padding helpers -----------------------------------------------------------------------------------------

Pool2dParams Pool2dParams::valid(int k, int stride) {
    Pool2dParams p;
    p.kh = p.kw = k;
    p.stride_h = p.stride_w = stride;
    return p;
}

Pool2dParams Pool2dParams::tf_same(int k, int stride, int64_t H, int64_t W) {
    Pool2dParams p = valid(k, stride);
    tf_same_padding(k, stride, H, &p.pad_top, &p.pad_bottom);
    tf_same_padding(k, stride, W, &p.pad_left, &p.pad_right);
    return p;
}

// Caffe (pooling_layer.cpp) sizes the output with ceil((in + 2·pad - k) / s) + 1; with pad 0 the last window
// may run past the input, and Caffe clips it to the real cells. That is exactly our bottom/right padding with
// padded cells ignored: after = (out - 1)·s + k - in.
static int ceil_mode_after(int k, int stride, int64_t in) {
    FS_CHECK(k >= 1 && stride >= 1, "pool2d ceil_mode: kernel ", k, " and stride ", stride, " must be >= 1");
    FS_CHECK(in >= k, "pool2d ceil_mode: input size ", in, " is smaller than the kernel ", k);
    int64_t out = (in - k + stride - 1) / stride + 1;
    return int((out - 1) * stride + k - in);
}

Pool2dParams Pool2dParams::ceil_mode(int k, int stride, int64_t H, int64_t W) {
    Pool2dParams p = valid(k, stride);
    p.pad_bottom = ceil_mode_after(k, stride, H);
    p.pad_right = ceil_mode_after(k, stride, W);
    return p;
}

// --- forward -------------------------------------------------------------------------------------------------

template <typename T>
void pool2d_forward_cpu(PoolKind kind, const Pool2dParams& p, const Pool2dGeom& g, const T* x, T* y) {
    const int64_t plane_in = g.H * g.W, plane_out = g.Ho * g.Wo;
    for (int64_t nc = 0; nc < g.N * g.C; ++nc) {  // N and C are independent planes: fold them into one loop
        const T* xp = x + nc * plane_in;
        T* yp = y + nc * plane_out;
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
            int64_t h0, h1;
            pool_window(oh, p.stride_h, p.pad_top, p.kh, g.H, &h0, &h1);
            for (int64_t ow = 0; ow < g.Wo; ++ow) {
                int64_t w0, w1;
                pool_window(ow, p.stride_w, p.pad_left, p.kw, g.W, &w0, &w1);
                // The op guarantees h0 < h1 and w0 < w1 (no all-padding window), so the first real cell
                // exists and seeds the max; no -inf sentinel is needed.
                if (kind == PoolKind::max) {
                    T best = xp[h0 * g.W + w0];
                    for (int64_t ih = h0; ih < h1; ++ih)
                        for (int64_t iw = w0; iw < w1; ++iw) best = std::max(best, xp[ih * g.W + iw]);
                    yp[oh * g.Wo + ow] = best;
                } else {
                    T sum = T(0);
                    for (int64_t ih = h0; ih < h1; ++ih)
                        for (int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * g.W + iw];
                    // Divide by the real cells only (TF 'SAME' / Keras), not by kh·kw as PyTorch's
                    // count_include_pad=True would.
                    yp[oh * g.Wo + ow] = sum / T((h1 - h0) * (w1 - w0));
                }
            }
        }
    }
}

// --- backward ------------------------------------------------------------------------------------------------

template <typename T>
void pool2d_backward_cpu(PoolKind kind, const Pool2dParams& p, const Pool2dGeom& g, const T* x, const T* dy, T* dx) {
    const int64_t plane_in = g.H * g.W, plane_out = g.Ho * g.Wo;
    // Windows overlap when stride < kernel, so one input cell may receive from several outputs: zero first,
    // then accumulate.
    std::fill(dx, dx + g.N * g.C * plane_in, T(0));
    for (int64_t nc = 0; nc < g.N * g.C; ++nc) {
        const T* xp = x + nc * plane_in;
        const T* dyp = dy + nc * plane_out;
        T* dxp = dx + nc * plane_in;
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
            int64_t h0, h1;
            pool_window(oh, p.stride_h, p.pad_top, p.kh, g.H, &h0, &h1);
            for (int64_t ow = 0; ow < g.Wo; ++ow) {
                int64_t w0, w1;
                pool_window(ow, p.stride_w, p.pad_left, p.kw, g.W, &w0, &w1);
                const T gy = dyp[oh * g.Wo + ow];
                if (kind == PoolKind::max) {
                    // Find the argmax again from x (nothing was saved by forward). The strict '>' keeps the
                    // FIRST maximum in scan order on ties, the same cell forward's max would have reported.
                    int64_t arg = h0 * g.W + w0;
                    for (int64_t ih = h0; ih < h1; ++ih)
                        for (int64_t iw = w0; iw < w1; ++iw)
                            if (xp[ih * g.W + iw] > xp[arg]) arg = ih * g.W + iw;
                    dxp[arg] += gy;
                } else {
                    const T share = gy / T((h1 - h0) * (w1 - w0));
                    for (int64_t ih = h0; ih < h1; ++ih)
                        for (int64_t iw = w0; iw < w1; ++iw) dxp[ih * g.W + iw] += share;
                }
            }
        }
    }
}

#define FS_INSTANTIATE(T)                                                                                \
    template void pool2d_forward_cpu<T>(PoolKind, const Pool2dParams&, const Pool2dGeom&, const T*, T*); \
    template void pool2d_backward_cpu<T>(PoolKind, const Pool2dParams&, const Pool2dGeom&, const T*, const T*, T*);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)
#undef FS_INSTANTIATE

}  // namespace fs
