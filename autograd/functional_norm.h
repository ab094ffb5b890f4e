// functional_norm.h: typed differentiable entry points for one op family (see functional.h): the normalisations
// (autograd/ops/norm.cpp) and the image ops of the losses (autograd/ops/image.cpp). Params and exact semantics:
// kernels/norm.h and kernels/image.h.
#pragma once
#include "autograd/tape.h"
#include "kernels/image.h"
#include "kernels/norm.h"

namespace fs {

// --- normalisations (autograd/ops/norm.cpp) --------------------------------------------------------------------
/// faceswap-GAN's "instancenorm": x (N, ...); one mean and population std σ per sample over everything after N;
/// y = γ·(x−μ)/(σ+eps) + β with SCALAR gamma, beta (shape [1]).
Tensor instance_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const InstanceNormParams& p = {});
/// x (N, C, ...), gamma, beta (C): per sample and group of C/groups consecutive channels,
/// y = (x−μ)/sqrt(var+eps)·γ_c + β_c (biased var). groups = C: per-channel instance norm.
Tensor group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const GroupNormParams& p);
/// Inference batch norm: x (N, C, ...), the rest (C); y = (x−mean)/sqrt(var+eps)·γ + β. Differentiable in all five.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, const BatchNormParams& p = {});

// --- image ops of the losses (autograd/ops/image.cpp) ----------------------------------------------------------
/// Bilinear resize, x (N, C, H, W) -> (N, C, p.out_h, p.out_w); TF1 legacy or half-pixel source coordinates.
Tensor resize_bilinear(const Tensor& x, const ResizeParams& p);
/// x (N, C, H, W) -> (N, C, H−1, W−1): |x[i+1,j] − x[i,j]| (vertical) or |x[i,j+1] − x[i,j]| (horizontal).
Tensor image_gradients(const Tensor& x, const ImageGradParams& p);

}  // namespace fs
