// conv_winograd.h: the Winograd path of conv2d (kernels/cpu/conv_winograd.cpp): F(2×2, 3×3) for the forward and
// the data gradient, F(3×3, 2×2) for the weight gradient; used by conv2d_forward_fast and conv2d_backward_fast
// where winograd_applies() says so.
#pragma once
#include <cstdint>

#include "kernels/conv.h"

namespace fs {

/// Channels (in and out) below which the 16 GEMMs are too thin to pay for the transforms.
constexpr int64_t k_winograd_min_channels = 32;
/// Channels (in and out) from which the weight gradient runs here too. Its 16 GEMMs make O × C outputs from
/// transformed copies of x and dy 4× their size; at 64 channels (the decoder's 64→64 at 64 px) that traffic made it
/// no faster than the direct weight gradient, at 128 and up it ran 27-46 % faster.
constexpr int64_t k_winograd_dw_min_channels = 128;
/// Smallest map side: at 4×4 the transformed weights (16/9 of the filter) dominate the memory traffic.
constexpr int64_t k_winograd_min_size = 8;
/// Fewest 2×2 output tiles (N·H·W/4) for large filters (transformed, more than k_winograd_small_filter floats):
/// their transform streams through memory at a cost that does not shrink with the batch, so few tiles do not pay
/// for it (the 512→1024 conv at 8 px, 8 M transformed floats, ran 30 % faster at batch 8, 128 tiles, and 29 %
/// slower at batch 1).
constexpr int64_t k_winograd_min_tiles = 128;
constexpr int64_t k_winograd_small_filter = int64_t(512) << 10;  // 2 MiB of transformed filter

/// True for the convs this path covers: 3×3, stride 1, zero padding of 1 on every side ("same"), even H and W,
/// at least k_winograd_min_channels in and out, maps of at least k_winograd_min_size, small filters or at least
/// k_winograd_min_tiles tiles, on a CPU with AVX2 + FMA.
bool winograd_applies(const Conv2dParams& p, const Conv2dGeom& g);

/// Whether the path is on: FS_CONV_WINOGRAD=0 in the environment turns it off at start-up; tests and benchmarks
/// switch it with set_winograd_enabled (process-wide).
bool winograd_enabled();
void set_winograd_enabled(bool on);

/// conv2d_forward_fast's contract (y assigned) for a conv winograd_applies() covers.
void winograd_forward(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* b,
                      float* y);

/// dx (N, C, H, W) assigned: the data gradient of such a conv given dy (N, OC, H, W).
void winograd_backward_data(const Conv2dParams& p, const Conv2dGeom& g, const float* w, const float* dy, float* dx);

/// True when a conv winograd_applies() to also takes its weight gradient here (k_winograd_dw_min_channels).
inline bool winograd_weights_apply(const Conv2dGeom& g) {
    return g.C >= k_winograd_dw_min_channels && g.OC >= k_winograd_dw_min_channels;
}

/// dw (OC, C, 3, 3) assigned: the weight gradient of such a conv given x and dy (F(3×3, 2×2)).
void winograd_backward_weights(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* dy,
                               float* dw);

}  // namespace fs
