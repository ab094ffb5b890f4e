// shuffle.h: ops that only move elements: concat along an axis, pixel shuffle (depth to space) and
// nearest-neighbour upsampling by an integer factor.
// Kernel conventions: pointers to contiguous row-major buffers; outputs and gradients are assigned (=), a null
// gradient pointer is skipped. Dimension letters: N batch, C channels, H, W spatial, r / s the factor.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace fs {

// --- concat ----------------------------------------------------------------------------------------------------

/// axis: the axis the inputs are joined along (negative counts from the end). 1 is NCHW's channel axis.
struct ConcatParams {
    int64_t axis = 1;
};

/// Input i viewed as (outer, axis_sizes[i], inner) (outer: product of the dims before the axis, inner: after);
/// y (outer, Σ axis_sizes, inner) assigned: the inputs' slabs laid side by side in input order.
template <typename T>
void concat_forward_cpu(const T* const* xs, const int64_t* axis_sizes, int64_t n_in, T* y, int64_t outer,
                        int64_t inner);
/// dy (outer, Σ axis_sizes, inner); dxs[i] (outer, axis_sizes[i], inner) assigned: the matching slab of dy.
/// A null dxs[i] is skipped.
template <typename T>
void concat_backward_cpu(const T* dy, T* const* dxs, const int64_t* axis_sizes, int64_t n_in, int64_t outer,
                         int64_t inner);

// --- pixel shuffle ---------------------------------------------------------------------------------------------

/// Which input channel feeds output channel k at sub-pixel (i, j), for C output channels and factor r:
///   dcr ("depth, column, row"; TF depth_to_space, faceswap-GAN's PixelShuffler; ncnn mode 1):
///       channel (i·r + j)·C + k: the r² sub-pixel positions are the slow index, C the fast one;
///   crd ("channel, row, column"; PyTorch nn.PixelShuffle; ncnn mode 0):
///       channel k·r² + i·r + j: each output channel owns r² consecutive input channels.
enum class PixelShuffleOrder { dcr, crd };

struct PixelShuffleParams {
    int r = 2;
    PixelShuffleOrder order = PixelShuffleOrder::dcr;
};

/// The input channel of output channel k at sub-pixel row i, column j (see PixelShuffleOrder).
FS_HOST_DEVICE inline int64_t pixel_shuffle_in_channel(PixelShuffleOrder order, int64_t k, int64_t i, int64_t j,
                                                       int64_t C, int64_t r) {
    return order == PixelShuffleOrder::dcr ? (i * r + j) * C + k : k * r * r + i * r + j;
}

/// x (N, C·r², H, W); y (N, C, H·r, W·r) assigned: y[n,k,h·r+i,w·r+j] = x[n, in_channel(k,i,j), h, w].
template <typename T>
void pixel_shuffle_forward_cpu(const PixelShuffleParams& p, const T* x, T* y, int64_t N, int64_t C, int64_t H,
                               int64_t W);
/// dy (N, C, H·r, W·r); dx (N, C·r², H, W) assigned: the inverse permutation (every element moved once).
template <typename T>
void pixel_shuffle_backward_cpu(const PixelShuffleParams& p, const T* dy, T* dx, int64_t N, int64_t C, int64_t H,
                                int64_t W);

// --- nearest-neighbour upsampling ------------------------------------------------------------------------------

/// scale: the integer factor applied to both H and W (faceswap-GAN's UpSampling2D(2) in upscale_nn).
struct UpsampleParams {
    int scale = 2;
};

/// x (N·C planes of H×W); y (N·C, H·s, W·s) assigned: y[p, oh, ow] = x[p, oh / s, ow / s].
template <typename T>
void upsample_nearest_forward_cpu(int s, const T* x, T* y, int64_t planes, int64_t H, int64_t W);
/// dy (N·C, H·s, W·s); dx (N·C, H, W) assigned: dx[p,h,w] = Σ of the s×s block of dy that copied x[p,h,w].
template <typename T>
void upsample_nearest_backward_cpu(int s, const T* dy, T* dx, int64_t planes, int64_t H, int64_t W);

}  // namespace fs

namespace fs {
/// pixel_shuffle over the threads (kernels/cpu/shuffle_fast.cpp): r = 2 in f32 with AVX-512 interleaves row pairs
/// in registers, anything else runs the reference's loops per batch item. Pure data movement, so the output is
/// bitwise the reference's; any float type.
template <typename T>
void pixel_shuffle_forward_fast(const PixelShuffleParams& p, const T* x, T* y, int64_t N, int64_t C, int64_t H,
                                int64_t W);
template <typename T>
void pixel_shuffle_backward_fast(const PixelShuffleParams& p, const T* dy, T* dx, int64_t N, int64_t C, int64_t H,
                                 int64_t W);
}  // namespace fs
