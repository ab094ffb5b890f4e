// norm.h: the normalisations of faceswap-GAN v2.2 (docs/faceswap_gan_v22.md §1 "Normalization options"; the
// repo's names are misleading, so ours follow what the layers compute):
//   instance_norm  the repo's default "instancenorm" (InstanceNormalization, axis=None): per sample ONE mean and
//                  ONE population std over all of C,H,W, ε added to σ (not to the variance), SCALAR γ, β.
//   group_norm     GroupNormalization: per sample and group of C/G consecutive channels, biased variance, ε
//                  inside the sqrt, per-channel γ, β. groups=C is the repo's "layernorm" option (per-channel
//                  instance norm), groups=16 its "groupnorm"; upscale_ps uses groups=f over 4f channels.
//   batch_norm     Keras BatchNormalization in inference mode: a fixed per-channel affine built from the stored
//                  moving statistics (VGGFace, "batchnorm").
// Kernel conventions: pointers to contiguous row-major buffers. x is (N, C, S) with S the product of the trailing
// dims (H·W; 1 for (N, C)); instance_norm flattens everything after N into M. Outputs and all gradients are
// assigned (=), never accumulated; parameter gradients are summed over the batch (and space) inside the kernel.
// Any gradient pointer may be null (not needed). Reductions accumulate in double (see kernels/cpu/norm.cpp).
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/dtype.h"

namespace fs {

/// y = γ·(x−μ)/(σ+eps) + β; Keras InstanceNormalization's default epsilon is 1e-3.
/// With pre_leaky the op normalises z = leaky_relu(x, slope) instead of x: faceswap-GAN's blocks run
/// conv → LeakyReLU → norm, and the fused form never writes z (nor keeps it for the backward). Its reference is
/// literally that composition (kernels/cpu/norm.cpp), with LeakyReLU's math from kernels/elementwise.h.
struct InstanceNormParams {
    double eps = 1e-3;
    bool pre_leaky = false;
    double slope = 0.2;
};

/// y = (x−μ)/sqrt(var+eps)·γ_c + β_c over groups of C/groups consecutive channels; C % groups == 0.
struct GroupNormParams {
    int groups = 1;
    double eps = 1e-6;  ///< faceswap-GAN's GroupNormalization default
};

/// y = (x−mean_c)/sqrt(var_c+eps)·γ_c + β_c with stored statistics; Keras' default epsilon is 1e-3.
struct BatchNormParams {
    double eps = 1e-3;
};

// --- scalar math shared with the CUDA kernels ------------------------------------------------------------------

/// 1/sqrt(var + eps): the scale of a "variance" normalisation (group_norm, batch_norm).
template <typename T>
FS_HOST_DEVICE inline T inv_std(T var, T eps) {
    return T(1) / std::sqrt(var + eps);
}

/// dL/dx of x̂ = (x−μ)·r with r = 1/sqrt(var+eps) (μ, var biased, over the K elements of the group), given
/// dxh = dL/dx̂ at this element, its group means mean_dxh = mean(dL/dx̂) and mean_dxh_xh = mean(dL/dx̂·x̂):
///   dx = r·(dxh − mean_dxh − x̂·mean_dxh_xh)
/// (the mean term comes from μ, the x̂ term from var; this is the usual layer/group/batch-norm formula).
template <typename T>
FS_HOST_DEVICE inline T var_norm_input_grad(T dxh, T xh, T mean_dxh, T mean_dxh_xh, T r) {
    return r * (dxh - mean_dxh - xh * mean_dxh_xh);
}

/// dL/dx of instance_norm's x̂ = (x−μ)/(σ+eps), σ the population std over the M elements of the sample. With
/// d = σ+eps and ∂σ/∂x_j = (x_j−μ)/(M·σ):
///   ∂x̂_i/∂x_j = (δ_ij − 1/M)/d − (x_i−μ)/d² · (x_j−μ)/(M·σ)
/// and summing dxh_i over i (x_i−μ = d·x̂_i):
///   dx_j = (dxh_j − mean_dxh)/d − x̂_j·mean_dxh_xh/σ
/// Note the 1/σ (not 1/d) in the second term: ε sits outside the sqrt, so it does not damp that term as it
/// does for a variance normalisation. For σ = 0 (a constant sample) every x_j−μ is 0, so x̂_j = 0 and the
/// second term is 0; it is dropped rather than evaluated as 0/0.
template <typename T>
FS_HOST_DEVICE inline T std_norm_input_grad(T dxh, T xh, T mean_dxh, T mean_dxh_xh, T d, T sigma) {
    T g = (dxh - mean_dxh) / d;
    if (sigma > T(0)) g -= xh * mean_dxh_xh / sigma;
    return g;
}

// --- instance_norm (scalar affine; per-sample statistics over all trailing dims) -------------------------------

/// x, y (N, M) with M = C·H·W; gamma, beta (1). y assigned.
template <typename T>
void instance_norm_forward_cpu(const InstanceNormParams& p, const T* x, const T* gamma, const T* beta, T* y,
                               int64_t N, int64_t M);
/// x, dy, dx (N, M); gamma (1); dgamma, dbeta (1), summed over all N·M elements. All assigned; any may be null.
template <typename T>
void instance_norm_backward_cpu(const InstanceNormParams& p, const T* x, const T* gamma, const T* dy, T* dx,
                                T* dgamma, T* dbeta, int64_t N, int64_t M);

// --- group_norm (per-channel affine; statistics per sample and group of consecutive channels) -------------------

/// x, y (N, C, S); gamma, beta (C); channel c is in group c / (C/groups). y assigned.
template <typename T>
void group_norm_forward_cpu(const GroupNormParams& p, const T* x, const T* gamma, const T* beta, T* y, int64_t N,
                            int64_t C, int64_t S);
/// x, dy, dx (N, C, S); gamma (C); dgamma, dbeta (C), summed over N and S. All assigned; any may be null.
template <typename T>
void group_norm_backward_cpu(const GroupNormParams& p, const T* x, const T* gamma, const T* dy, T* dx, T* dgamma,
                             T* dbeta, int64_t N, int64_t C, int64_t S);

// --- batch_norm (inference: stored statistics, so each channel is a fixed affine map) --------------------------

/// x, y (N, C, S); gamma, beta, mean, var (C). y assigned.
template <typename T>
void batch_norm_forward_cpu(const BatchNormParams& p, const T* x, const T* gamma, const T* beta, const T* mean,
                            const T* var, T* y, int64_t N, int64_t C, int64_t S);
/// x, dy, dx (N, C, S); gamma, mean, var (C); dgamma, dbeta, dmean, dvar (C), summed over N and S.
/// All assigned; any may be null.
template <typename T>
void batch_norm_backward_cpu(const BatchNormParams& p, const T* x, const T* gamma, const T* mean, const T* var,
                             const T* dy, T* dx, T* dgamma, T* dbeta, T* dmean, T* dvar, int64_t N, int64_t C,
                             int64_t S);

}  // namespace fs

namespace fs {
/// Optimised f32 instance_norm (kernels/cpu/norm_fast.cpp): the reference's double-precision arithmetic, vectorised
/// 8 doubles wide with AVX-512 and run over the threads one sample at a time (γ, β gradients summed in sample
/// order, so the result does not depend on the thread count). Falls back to the reference without AVX-512.
void instance_norm_forward_fast(const InstanceNormParams& p, const float* x, const float* gamma, const float* beta,
                                float* y, int64_t N, int64_t M);
void instance_norm_backward_fast(const InstanceNormParams& p, const float* x, const float* gamma, const float* dy,
                                 float* dx, float* dgamma, float* dbeta, int64_t N, int64_t M);
}  // namespace fs
