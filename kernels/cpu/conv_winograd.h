// conv_winograd.h: the F(2×2, 3×3) Winograd path of conv2d (kernels/cpu/conv_winograd.cpp), used by
// conv2d_forward_fast and conv2d_backward_fast (data gradient) where winograd_applies() says so.
#pragma once
#include <cstdint>

#include "kernels/conv.h"

namespace fs {

/// Channels (in and out) below which the 16 GEMMs are too thin to pay for the transforms.
constexpr int64_t k_winograd_min_channels = 32;
/// Smallest map side: at 4×4 the transformed weights (16/9 of the filter) dominate the memory traffic.
constexpr int64_t k_winograd_min_size = 8;

/// True for the convs this path covers: 3×3, stride 1, zero padding of 1 on every side ("same"), even H and W,
/// at least k_winograd_min_channels in and out, maps of at least k_winograd_min_size, on a CPU with AVX2 + FMA.
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

}  // namespace fs
