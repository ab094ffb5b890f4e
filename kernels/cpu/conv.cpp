// conv.cpp: the reference CPU kernels of conv2d and depthwise_conv2d (forward and backward) and the padding
// helpers.
// Readable over fast: direct loops over (n, oc, c, kh, kw, oh, ow), no im2col, no blocking. Padding is
// handled through index tables built once per call: for each kernel tap and output position they give the
// input row (column) read, or -1 for a zero cell, so zeros and reflect padding share one loop nest and the
// inner loop never re-derives the geometry.
#include "kernels/conv.h"

#include <algorithm>
#include <vector>

namespace fs {

// --- padding helpers -----------------------------------------------------------------------------------------

void tf_same_padding(int k, int stride, int64_t in, int* before, int* after) {
    FS_CHECK(k >= 1 && stride >= 1 && in >= 1, "tf_same padding: kernel ", k, ", stride ", stride, ", input ", in,
             " (all must be >= 1)");
    // TF's rule (tensorflow/core/framework/kernel_shape_util.cc): the output covers ceil(in / s) positions and
    // the padding is whatever that needs beyond the input, split with the odd cell AFTER. This is what makes
    // 3×3/s2 on an even input pad (0, 1), unlike PyTorch's symmetric padding=1.
    int64_t out = (in + stride - 1) / stride;
    int64_t total = std::max<int64_t>((out - 1) * stride + k - in, 0);
    *before = int(total / 2);
    *after = int(total - total / 2);
}

Conv2dParams Conv2dParams::tf_same(int kh, int kw, int stride, int64_t H, int64_t W) {
    Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    tf_same_padding(kh, stride, H, &p.pad_top, &p.pad_bottom);
    tf_same_padding(kw, stride, W, &p.pad_left, &p.pad_right);
    return p;
}

Conv2dParams Conv2dParams::valid(int stride) {
    Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    return p;
}

// --- index tables --------------------------------------------------------------------------------------------

// For an axis of input length n, kernel length K, output length out: table[k·out + o] is the input index read
// by kernel tap k at output position o (padded coordinate o·stride + k - pad_before), or -1 for a zero cell.
static std::vector<int64_t> source_table(int64_t K, int64_t out, int64_t stride, int64_t pad_before, int64_t n,
                                         PadMode mode) {
    std::vector<int64_t> t(static_cast<size_t>(K * out));
    for (int64_t k = 0; k < K; ++k)
        for (int64_t o = 0; o < out; ++o)
            t[static_cast<size_t>(k * out + o)] = pad_source_index(o * stride + k - pad_before, n, mode);
    return t;
}

// --- forward -------------------------------------------------------------------------------------------------

template <typename T>
void conv2d_forward_cpu(const Conv2dParams& p, const Conv2dGeom& g, const T* x, const T* w, const T* b, T* y) {
    const std::vector<int64_t> rows = source_table(g.KH, g.Ho, p.stride_h, p.pad_top, g.H, p.pad_mode);
    const std::vector<int64_t> cols = source_table(g.KW, g.Wo, p.stride_w, p.pad_left, g.W, p.pad_mode);
    const int64_t plane_in = g.H * g.W, plane_out = g.Ho * g.Wo, taps = g.KH * g.KW;

    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oc = 0; oc < g.OC; ++oc) {
            T* yp = y + (n * g.OC + oc) * plane_out;
            // The output plane starts at the bias (or 0) and every (c, kh, kw) tap adds its weighted, shifted
            // copy of the input plane: "scatter one weight over the plane" keeps the innermost loop running
            // along a contiguous output row.
            std::fill(yp, yp + plane_out, b ? b[oc] : T(0));
            for (int64_t c = 0; c < g.C; ++c) {
                const T* xp = x + (n * g.C + c) * plane_in;
                const T* wp = w + (oc * g.C + c) * taps;
                for (int64_t kh = 0; kh < g.KH; ++kh)
                    for (int64_t kw = 0; kw < g.KW; ++kw) {
                        const T wv = wp[kh * g.KW + kw];
                        const int64_t* col = cols.data() + kw * g.Wo;
                        for (int64_t oh = 0; oh < g.Ho; ++oh) {
                            const int64_t ih = rows[static_cast<size_t>(kh * g.Ho + oh)];
                            if (ih < 0) continue;  // the whole row of this tap reads zero padding
                            const T* xr = xp + ih * g.W;
                            T* yr = yp + oh * g.Wo;
                            for (int64_t ow = 0; ow < g.Wo; ++ow)
                                if (col[ow] >= 0) yr[ow] += wv * xr[col[ow]];
                        }
                    }
            }
        }
}

// --- backward ------------------------------------------------------------------------------------------------

template <typename T>
void conv2d_backward_cpu(const Conv2dParams& p, const Conv2dGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                         T* db) {
    const std::vector<int64_t> rows = source_table(g.KH, g.Ho, p.stride_h, p.pad_top, g.H, p.pad_mode);
    const std::vector<int64_t> cols = source_table(g.KW, g.Wo, p.stride_w, p.pad_left, g.W, p.pad_mode);
    const int64_t plane_in = g.H * g.W, plane_out = g.Ho * g.Wo, taps = g.KH * g.KW;

    // The kernels assign their outputs, but dx and dw are sums over many output positions (and dx, with
    // reflect padding, over mirrored reads too), so they start at zero and are accumulated here.
    if (dx) std::fill(dx, dx + g.N * g.C * plane_in, T(0));
    if (dw) std::fill(dw, dw + g.OC * g.C * taps, T(0));

    // db[oc] = Σ_{n,oh,ow} dy: the bias is added once to every output position of its channel.
    if (db)
        for (int64_t oc = 0; oc < g.OC; ++oc) {
            T s = T(0);
            for (int64_t n = 0; n < g.N; ++n) {
                const T* dyp = dy + (n * g.OC + oc) * plane_out;
                for (int64_t i = 0; i < plane_out; ++i) s += dyp[i];
            }
            db[oc] = s;
        }
    if (!dx && !dw) return;

    // The same loop nest as the forward, read backwards: every (output position, tap) pair that forward
    // multiplied as y += w·x contributes dy·x to dw (same tap) and dy·w to dx (the cell that was read; a
    // padded cell read as zero gets nothing, a reflected one sends it to its mirror source).
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oc = 0; oc < g.OC; ++oc) {
            const T* dyp = dy + (n * g.OC + oc) * plane_out;
            for (int64_t c = 0; c < g.C; ++c) {
                const T* xp = x + (n * g.C + c) * plane_in;
                T* dxp = dx ? dx + (n * g.C + c) * plane_in : nullptr;
                const T* wp = w + (oc * g.C + c) * taps;
                for (int64_t kh = 0; kh < g.KH; ++kh)
                    for (int64_t kw = 0; kw < g.KW; ++kw) {
                        const T wv = wp[kh * g.KW + kw];
                        const int64_t* col = cols.data() + kw * g.Wo;
                        T acc = T(0);  // this tap's share of dw from this (n, oc, c)
                        for (int64_t oh = 0; oh < g.Ho; ++oh) {
                            const int64_t ih = rows[static_cast<size_t>(kh * g.Ho + oh)];
                            if (ih < 0) continue;
                            const T* xr = xp + ih * g.W;
                            const T* dyr = dyp + oh * g.Wo;
                            T* dxr = dxp ? dxp + ih * g.W : nullptr;
                            for (int64_t ow = 0; ow < g.Wo; ++ow) {
                                const int64_t iw = col[ow];
                                if (iw < 0) continue;
                                acc += dyr[ow] * xr[iw];
                                if (dxr) dxr[iw] += dyr[ow] * wv;
                            }
                        }
                        if (dw) dw[(oc * g.C + c) * taps + kh * g.KW + kw] += acc;
                    }
            }
        }
}

// --- depthwise: the same loops with the input-channel sum removed ------------------------------------------------
// Each channel c is convolved with its own single filter w[c]: the conv2d loop nest above with oc = c and no
// sum over c. Kept separate (not conv2d with a block-diagonal weight) because that would cost C times the work.

template <typename T>
void depthwise_conv2d_forward_cpu(const Conv2dParams& p, const Conv2dGeom& g, const T* x, const T* w, const T* b,
                                  T* y) {
    const std::vector<int64_t> rows = source_table(g.KH, g.Ho, p.stride_h, p.pad_top, g.H, p.pad_mode);
    const std::vector<int64_t> cols = source_table(g.KW, g.Wo, p.stride_w, p.pad_left, g.W, p.pad_mode);
    const int64_t plane_in = g.H * g.W, plane_out = g.Ho * g.Wo, taps = g.KH * g.KW;

    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t c = 0; c < g.C; ++c) {
            const T* xp = x + (n * g.C + c) * plane_in;
            const T* wp = w + c * taps;
            T* yp = y + (n * g.C + c) * plane_out;
            std::fill(yp, yp + plane_out, b ? b[c] : T(0));
            for (int64_t kh = 0; kh < g.KH; ++kh)
                for (int64_t kw = 0; kw < g.KW; ++kw) {
                    const T wv = wp[kh * g.KW + kw];
                    const int64_t* col = cols.data() + kw * g.Wo;
                    for (int64_t oh = 0; oh < g.Ho; ++oh) {
                        const int64_t ih = rows[static_cast<size_t>(kh * g.Ho + oh)];
                        if (ih < 0) continue;
                        const T* xr = xp + ih * g.W;
                        T* yr = yp + oh * g.Wo;
                        for (int64_t ow = 0; ow < g.Wo; ++ow)
                            if (col[ow] >= 0) yr[ow] += wv * xr[col[ow]];
                    }
                }
        }
}

template <typename T>
void depthwise_conv2d_backward_cpu(const Conv2dParams& p, const Conv2dGeom& g, const T* x, const T* w, const T* dy,
                                   T* dx, T* dw, T* db) {
    const std::vector<int64_t> rows = source_table(g.KH, g.Ho, p.stride_h, p.pad_top, g.H, p.pad_mode);
    const std::vector<int64_t> cols = source_table(g.KW, g.Wo, p.stride_w, p.pad_left, g.W, p.pad_mode);
    const int64_t plane_in = g.H * g.W, plane_out = g.Ho * g.Wo, taps = g.KH * g.KW;

    // dx and dw are sums over output positions (dw also over the batch): zeroed, then accumulated.
    if (dx) std::fill(dx, dx + g.N * g.C * plane_in, T(0));
    if (dw) std::fill(dw, dw + g.C * taps, T(0));
    if (db) std::fill(db, db + g.C, T(0));

    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t c = 0; c < g.C; ++c) {
            const T* dyp = dy + (n * g.C + c) * plane_out;
            if (db)  // the bias is added once to every output position of its channel
                for (int64_t i = 0; i < plane_out; ++i) db[c] += dyp[i];
            if (!dx && !dw) continue;
            const T* xp = x + (n * g.C + c) * plane_in;
            T* dxp = dx ? dx + (n * g.C + c) * plane_in : nullptr;
            const T* wp = w + c * taps;
            // As conv2d's backward: each (output, tap) product y += w·x sends dy·x to the tap's dw and dy·w to the
            // input cell it read (nothing to a zero-padding cell; a reflected cell's share to its mirror source).
            for (int64_t kh = 0; kh < g.KH; ++kh)
                for (int64_t kw = 0; kw < g.KW; ++kw) {
                    const T wv = wp[kh * g.KW + kw];
                    const int64_t* col = cols.data() + kw * g.Wo;
                    T acc = T(0);
                    for (int64_t oh = 0; oh < g.Ho; ++oh) {
                        const int64_t ih = rows[static_cast<size_t>(kh * g.Ho + oh)];
                        if (ih < 0) continue;
                        const T* xr = xp + ih * g.W;
                        const T* dyr = dyp + oh * g.Wo;
                        T* dxr = dxp ? dxp + ih * g.W : nullptr;
                        for (int64_t ow = 0; ow < g.Wo; ++ow) {
                            const int64_t iw = col[ow];
                            if (iw < 0) continue;
                            acc += dyr[ow] * xr[iw];
                            if (dxr) dxr[iw] += dyr[ow] * wv;
                        }
                    }
                    if (dw) dw[c * taps + kh * g.KW + kw] += acc;
                }
        }
}

#define FS_INSTANTIATE(T)                                                                                              \
    template void conv2d_forward_cpu<T>(const Conv2dParams&, const Conv2dGeom&, const T*, const T*, const T*, T*);     \
    template void conv2d_backward_cpu<T>(const Conv2dParams&, const Conv2dGeom&, const T*, const T*, const T*, T*, T*, \
                                         T*);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)
#undef FS_INSTANTIATE

#define FS_INSTANTIATE(T)                                                                                      \
    template void depthwise_conv2d_forward_cpu<T>(const Conv2dParams&, const Conv2dGeom&, const T*, const T*,  \
                                                  const T*, T*);                                               \
    template void depthwise_conv2d_backward_cpu<T>(const Conv2dParams&, const Conv2dGeom&, const T*, const T*, \
                                                   const T*, T*, T*, T*);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)
#undef FS_INSTANTIATE

}  // namespace fs
