// conv.h: 2-D convolution (cross-correlation, as in TF/Keras/PyTorch: the kernel is not flipped).
// Layouts: x (N, C, H, W), w (OC, C, KH, KW), optional bias b (OC), y (N, OC, Ho, Wo), all contiguous row-major.
// Each side's padding is separate, so TF "same" (asymmetric for stride 2), "valid" and reflect padding are all
// one params struct. Kernel conventions: outputs and gradients are assigned (=), never accumulated.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace fs {

/// What a padding cell holds: zeros, or the input mirrored about its edge without repeating the edge
/// (numpy 'reflect', TF 'REFLECT': [a b c] padded by 1 is [b a b c b]); reflect needs pad < size.
enum class PadMode { zeros, reflect };

struct Conv2dParams {
    int stride_h = 1, stride_w = 1;
    int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
    PadMode pad_mode = PadMode::zeros;

    /// TF/Keras padding='same' for a KH×KW kernel with this stride on an H×W input: out = ceil(in/s),
    /// total = max((out-1)·s + k - in, 0), before = total/2, after = total - before (the extra cell goes to
    /// the bottom/right, e.g. 3×3/s2 on an even input pads 0 top/left and 1 bottom/right).
    static Conv2dParams tf_same(int kh, int kw, int stride, int64_t H, int64_t W);
    /// padding='valid': no padding.
    static Conv2dParams valid(int stride = 1);
};

/// The TF 'SAME' padding along one axis (shared with pooling): see Conv2dParams::tf_same.
void tf_same_padding(int k, int stride, int64_t in, int* before, int* after);

/// Output length along one axis: (in + before + after - k) / stride + 1 (floor); < 1 means the kernel does not
/// fit even once (callers FS_CHECK that).
FS_HOST_DEVICE inline int64_t window_out_size(int64_t in, int64_t k, int64_t before, int64_t after, int64_t stride) {
    int64_t span = in + before + after - k;
    return span < 0 ? 0 : span / stride + 1;
}

/// The input index read at padded coordinate i along an axis of length n (i may be < 0 or >= n), or -1 when
/// the cell is zero padding. Reflect mirrors about the edge cell (-1 -> 1, n -> n-2); it assumes the padding
/// is < n so a single reflection lands inside (the op checks that).
FS_HOST_DEVICE inline int64_t pad_source_index(int64_t i, int64_t n, PadMode mode) {
    if (i >= 0 && i < n) return i;
    if (mode == PadMode::zeros) return -1;
    return i < 0 ? -i : 2 * (n - 1) - i;
}

/// The sizes of one conv2d call (Ho, Wo already derived from the params).
struct Conv2dGeom {
    int64_t N = 0, C = 0, H = 0, W = 0;
    int64_t OC = 0, KH = 0, KW = 0;
    int64_t Ho = 0, Wo = 0;
};

/// y[n,oc,oh,ow] = b[oc] + Σ_{c,kh,kw} w[oc,c,kh,kw] · xpad[n, c, oh·sh + kh, ow·sw + kw], where xpad is x
/// padded by (pad_top, pad_bottom, pad_left, pad_right) in p.pad_mode. x (N,C,H,W), w (OC,C,KH,KW), b (OC) or
/// null for no bias, y (N,OC,Ho,Wo) assigned.
template <typename T>
void conv2d_forward_cpu(const Conv2dParams& p, const Conv2dGeom& g, const T* x, const T* w, const T* b, T* y);

/// Gradients of conv2d given dy (N,OC,Ho,Wo): dx (N,C,H,W), dw (OC,C,KH,KW), db (OC), each assigned; any of the
/// three may be null (not needed). With reflect padding a mirrored input cell collects the gradient of every
/// padded position that copied it.
template <typename T>
void conv2d_backward_cpu(const Conv2dParams& p, const Conv2dGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                         T* db);

// --- depthwise convolution --------------------------------------------------------------------------------------
// One filter per input channel, channel multiplier 1 (TF depthwise_conv2d / separable_conv2d's first half,
// PyTorch groups = C): x (N, C, H, W), w (C, 1, KH, KW), optional b (C), y (N, C, Ho, Wo). The geometry is a
// Conv2dGeom with OC = C; padding and strides as conv2d.

/// y[n,c,oh,ow] = b[c] + Σ_{kh,kw} w[c,0,kh,kw] · xpad[n, c, oh·sh + kh, ow·sw + kw]; y assigned.
template <typename T>
void depthwise_conv2d_forward_cpu(const Conv2dParams& p, const Conv2dGeom& g, const T* x, const T* w, const T* b, T* y);

/// Gradients of depthwise_conv2d given dy (N,C,Ho,Wo): dx (N,C,H,W), dw (C,1,KH,KW), db (C), each assigned; any
/// may be null.
template <typename T>
void depthwise_conv2d_backward_cpu(const Conv2dParams& p, const Conv2dGeom& g, const T* x, const T* w, const T* dy,
                                   T* dx, T* dw, T* db);

}  // namespace fs

namespace fs {
// --- the optimised f32 path (kernels/cpu/conv_fast.cpp): direct AVX-512 kernels or im2col + packed SGEMM, same
// contract as above ---------------------------------------------------------------------------------------------
void conv2d_forward_fast(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* b,
                         float* y);
void conv2d_backward_fast(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* dy,
                          float* dx, float* dw, float* db);
}  // namespace fs
