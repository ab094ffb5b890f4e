// nn.h: the layers of faceswap-GAN v2.2 (spec §1, §2.1, §4), each a Module built from registered ops.
// Conventions from the original, kept exactly: TF "same" padding (asymmetric for stride 2), DCR pixel shuffle,
// ICNR init for every pixel-shuffle conv, he_normal (truncated) / glorot_uniform initialisers as the spec lists,
// zero biases, the self-attention scale γ starting at 0, norm after the activation, and L2 weight decay on the
// kernels of exactly the blocks the spec names (Module::l2_parameters()).
#pragma once
#include <memory>
#include <random>
#include <string>

#include "autograd/functional.h"
#include "layers/module.h"

namespace fs {

enum class Init { he_normal, glorot_uniform, icnr };
enum class Padding { same, valid, reflect1 };  ///< TF "same"; "valid"; reflect-pad 1 then valid (upscale_nn)

struct ConvOptions {
    int k = 3, stride = 1;
    bool bias = true;
    Init init = Init::he_normal;
    bool l2 = false;
    Padding padding = Padding::same;
};

/// 2-D convolution with TF padding rules: x (N, cin, H, W) -> (N, cout, Ho, Wo).
class Conv2d : public Layer {
 public:
    Conv2d(int64_t cin, int64_t cout, const ConvOptions& o, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const override;
    Tensor weight, bias;  // (cout, cin, k, k), (cout) or undefined

 private:
    ConvOptions m_o;
};

/// Fully connected, glorot_uniform, bias, no L2 (as the encoder's two Dense layers): (N, in) -> (N, out).
class Dense : public Layer {
 public:
    Dense(int64_t in, int64_t out, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const override;
    Tensor weight, bias;  // (out, in) — PyTorch layout; the Keras (in, out) kernel is its transpose
};

/// arch_config['norm'] of the original. The names are the original's; see spec §1 for what each computes.
enum class NormKind { instancenorm, layernorm, groupnorm, batchnorm, hybrid, none };
NormKind parse_norm(const std::string& s);
const char* norm_name(NormKind k);

/// The normalisation of a block with `f` filters applied to `channels` channels (channels = 4f inside upscale_ps).
class Norm : public Layer {
 public:
    Norm(NormKind kind, int64_t f, int64_t channels, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const override;
    /// forward(leaky_relu(x, slope)): the conv → LeakyReLU → norm of faceswap-GAN's blocks. For instancenorm one
    /// fused op (instance_norm with pre_leaky) that never materialises the activation; other norms compose.
    Tensor forward_after_leaky(const Tensor& x, double slope) const;
    /// batchnorm: use batch statistics and update the moving averages (Keras learning phase 1).
    bool training = true;

 private:
    NormKind m_kind;
    int64_t m_f, m_channels;
    Tensor m_gamma, m_beta, m_mean, m_var;
    std::shared_ptr<Conv2d> m_hybrid_conv;
};

/// SAGAN-style self-attention without spectral norm or output conv (spec §4): f, g (C→C/8) and h (C→C) 1×1
/// convs with bias (glorot, L2); o = softmax(g fᵀ) h over key positions; out = x + γ·o, γ a scalar starting at 0.
class SelfAttention : public Layer {
 public:
    SelfAttention(int64_t channels, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const override;
    Tensor gamma;

 private:
    std::shared_ptr<Conv2d> m_f, m_g, m_h;
};

// --- the blocks of networks/nn_blocks.py (spec §2.1) -----------------------------------------------------------

/// conv 3×3/stride, no bias, he_normal, L2 → ReLU → norm (if use_norm).
class ConvBlock : public Layer {
 public:
    ConvBlock(int64_t cin, int64_t f, int stride, NormKind norm, bool use_norm, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const override;

 private:
    std::shared_ptr<Conv2d> m_conv;
    std::shared_ptr<Norm> m_norm;
};

/// conv 4×4/s2, no bias, he_normal, L2 → LeakyReLU(0.2) → norm (if use_norm).
class ConvBlockD : public Layer {
 public:
    ConvBlockD(int64_t cin, int64_t f, NormKind norm, bool use_norm, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const override;

 private:
    std::shared_ptr<Conv2d> m_conv;
    std::shared_ptr<Norm> m_norm;
};

/// conv 3×3 → LeakyReLU 0.2 → conv 3×3 → + input → LeakyReLU 0.2 (no bias, he_normal, L2, never a norm).
class ResBlock : public Layer {
 public:
    ResBlock(int64_t f, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const override;

 private:
    std::shared_ptr<Conv2d> m_c1, m_c2;
};

/// Standard upscale: conv 3×3 cin→4f, bias, ICNR, L2 → LeakyReLU 0.2 → norm on 4f channels → pixel shuffle ×2 (DCR).
class UpscalePS : public Layer {
 public:
    UpscalePS(int64_t cin, int64_t f, NormKind norm, bool use_norm, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const override;

 private:
    std::shared_ptr<Conv2d> m_conv;
    std::shared_ptr<Norm> m_norm;
};

/// Lite upscale: nearest ×2 → reflect-pad 1 → conv 3×3 valid, bias, he_normal, L2 → norm. No activation.
class UpscaleNN : public Layer {
 public:
    UpscaleNN(int64_t cin, int64_t f, NormKind norm, bool use_norm, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const override;

 private:
    std::shared_ptr<Conv2d> m_conv;
    std::shared_ptr<Norm> m_norm;
};

}  // namespace fs
