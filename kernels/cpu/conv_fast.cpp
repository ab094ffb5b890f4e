// conv_fast.cpp: conv2d as im2col + SGEMM, image by image (NCHW).
//   forward:        y[n] (OC, Ho·Wo)   = W (OC, C·KH·KW) · col[n] (C·KH·KW, Ho·Wo)   (+ bias)
//   backward data:  dcol (C·KH·KW, Ho·Wo) = Wᵀ · dy[n], then col2im adds each column entry back to its pixel
//   backward weight: dW (OC, C·KH·KW) += dy[n] · col[n]ᵀ
// A 1×1/stride-1 unpadded conv needs no im2col: col[n] is x[n] itself. The column buffer is per call (it is at
// most a few MiB for the model's layers: 3×3·512 rows × 64 columns at 8×8, 5·5·3 × 65536 at 256²).
#include <algorithm>
#include <vector>

#include "kernels/conv.h"
#include "kernels/sgemm.h"

namespace fs {

namespace {

bool is_pointwise(const Conv2dParams& p, const Conv2dGeom& g) {
    return g.KH == 1 && g.KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 && p.pad_bottom == 0 &&
           p.pad_left == 0 && p.pad_right == 0;
}

// col (C·KH·KW, Ho·Wo): row (c, kh, kw), column (oh, ow) = xpad[c, oh·sh + kh − pt, ow·sw + kw − pl].
void im2col(const Conv2dParams& p, const Conv2dGeom& g, const float* x, float* col) {
    const int64_t P = g.Ho * g.Wo;
    for (int64_t c = 0; c < g.C; ++c)
        for (int64_t kh = 0; kh < g.KH; ++kh)
            for (int64_t kw = 0; kw < g.KW; ++kw) {
                float* row = col + ((c * g.KH + kh) * g.KW + kw) * P;
                const float* xc = x + c * g.H * g.W;
                for (int64_t oh = 0; oh < g.Ho; ++oh) {
                    int64_t ih = pad_source_index(oh * p.stride_h + kh - p.pad_top, g.H, p.pad_mode);
                    float* r = row + oh * g.Wo;
                    if (ih < 0) {
                        std::fill(r, r + g.Wo, 0.f);
                        continue;
                    }
                    const float* xr = xc + ih * g.W;
                    if (p.stride_w == 1 && p.pad_mode == PadMode::zeros) {
                        // contiguous run: zeros at the edges, a copy in the middle
                        int64_t lo = std::max<int64_t>(0, p.pad_left - kw), hi = std::min<int64_t>(g.Wo, g.W + p.pad_left - kw);
                        std::fill(r, r + std::max<int64_t>(lo, 0), 0.f);
                        if (hi > lo) std::copy(xr + lo + kw - p.pad_left, xr + hi + kw - p.pad_left, r + lo);
                        std::fill(r + std::max(hi, lo), r + g.Wo, 0.f);
                    } else {
                        for (int64_t ow = 0; ow < g.Wo; ++ow) {
                            int64_t iw = pad_source_index(ow * p.stride_w + kw - p.pad_left, g.W, p.pad_mode);
                            r[ow] = iw < 0 ? 0.f : xr[iw];
                        }
                    }
                }
            }
}

// The adjoint of im2col: dx[pixel] += every column entry that read it (reflect padding included).
void col2im(const Conv2dParams& p, const Conv2dGeom& g, const float* col, float* dx) {
    const int64_t P = g.Ho * g.Wo;
    std::fill(dx, dx + g.C * g.H * g.W, 0.f);
    for (int64_t c = 0; c < g.C; ++c)
        for (int64_t kh = 0; kh < g.KH; ++kh)
            for (int64_t kw = 0; kw < g.KW; ++kw) {
                const float* row = col + ((c * g.KH + kh) * g.KW + kw) * P;
                float* dc = dx + c * g.H * g.W;
                for (int64_t oh = 0; oh < g.Ho; ++oh) {
                    int64_t ih = pad_source_index(oh * p.stride_h + kh - p.pad_top, g.H, p.pad_mode);
                    if (ih < 0) continue;
                    const float* r = row + oh * g.Wo;
                    float* dr = dc + ih * g.W;
                    for (int64_t ow = 0; ow < g.Wo; ++ow) {
                        int64_t iw = pad_source_index(ow * p.stride_w + kw - p.pad_left, g.W, p.pad_mode);
                        if (iw >= 0) dr[iw] += r[ow];
                    }
                }
            }
}

}  // namespace

void conv2d_forward_fast(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* b,
                         float* y) {
    const int64_t K = g.C * g.KH * g.KW, P = g.Ho * g.Wo;
    const bool pointwise = is_pointwise(p, g);
    std::vector<float> col(pointwise ? 0 : static_cast<size_t>(K * P));
    for (int64_t n = 0; n < g.N; ++n) {
        const float* xn = x + n * g.C * g.H * g.W;
        float* yn = y + n * g.OC * P;
        const float* cn = xn;
        if (!pointwise) {
            im2col(p, g, xn, col.data());
            cn = col.data();
        }
        if (b) {  // start from the bias, then accumulate the product (beta = 1)
            for (int64_t oc = 0; oc < g.OC; ++oc) std::fill(yn + oc * P, yn + (oc + 1) * P, b[oc]);
        }
        sgemm(false, false, g.OC, P, K, 1.f, w, K, cn, P, b ? 1.f : 0.f, yn, P);
    }
}

void conv2d_backward_fast(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* dy,
                          float* dx, float* dw, float* db) {
    const int64_t K = g.C * g.KH * g.KW, P = g.Ho * g.Wo;
    const bool pointwise = is_pointwise(p, g);
    std::vector<float> col(pointwise || !dw ? 0 : static_cast<size_t>(K * P));
    std::vector<float> dcol(pointwise || !dx ? 0 : static_cast<size_t>(K * P));
    if (db) {
        std::fill(db, db + g.OC, 0.f);
        for (int64_t n = 0; n < g.N; ++n)
            for (int64_t oc = 0; oc < g.OC; ++oc) {
                const float* r = dy + (n * g.OC + oc) * P;
                double s = 0;  // long sums (N·Ho·Wo terms): accumulate in double
                for (int64_t i = 0; i < P; ++i) s += r[i];
                db[oc] += float(s);
            }
    }
    for (int64_t n = 0; n < g.N; ++n) {
        const float* xn = x + n * g.C * g.H * g.W;
        const float* dyn = dy + n * g.OC * P;
        if (dw) {
            const float* cn = xn;
            if (!pointwise) {
                im2col(p, g, xn, col.data());
                cn = col.data();
            }
            sgemm(false, true, g.OC, K, P, 1.f, dyn, P, cn, P, n == 0 ? 0.f : 1.f, dw, K);
        }
        if (dx) {
            float* dxn = dx + n * g.C * g.H * g.W;
            if (pointwise) {
                sgemm(true, false, K, P, g.OC, 1.f, w, K, dyn, P, 0.f, dxn, P);
            } else {
                sgemm(true, false, K, P, g.OC, 1.f, w, K, dyn, P, 0.f, dcol.data(), P);
                col2im(p, g, dcol.data(), dxn);
            }
        }
    }
    if (dw && g.N == 0) std::fill(dw, dw + g.OC * K, 0.f);
}

}  // namespace fs
