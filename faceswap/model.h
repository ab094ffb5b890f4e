// model.h: faceswap-GAN v2.2's networks (spec §2, §3), all built from one ModelConfig: the shared encoder, one
// decoder per identity (α + BGR heads, auxiliary RGB heads at 128/256) and one discriminator per identity
// (6-channel input, 8×8 patch output). Tensors are NCHW, BGR in [-1, 1].
#pragma once
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "layers/nn.h"

namespace fs {

enum class Capacity { standard, lite };

struct ModelConfig {
    int res = 64;                           ///< 64, 128 or 256
    Capacity capacity = Capacity::standard;
    bool self_attention = true;
    NormKind norm = NormKind::instancenorm;
    uint64_t seed = 0;                      ///< initialisation seed

    int coef() const { return capacity == Capacity::lite ? 2 : 1; }
    /// The encoder's Dense width: 1024, except lite with RES > 64 (2048).
    int64_t latent() const { return capacity == Capacity::lite && res > 64 ? 2048 : 1024; }
    /// Channels of the encoder output / decoder input (512 standard, 256 lite).
    int64_t enc_channels() const { return 512 / coef(); }
    void validate() const;
    std::string str() const;  ///< "standard 64, self-attention, instancenorm"
};

/// Input (N, 3, RES, RES) -> (N, enc_channels, 8, 8).
class Encoder : public Module {
 public:
    explicit Encoder(const ModelConfig& cfg, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const;

 private:
    ModelConfig m_cfg;
    std::shared_ptr<Conv2d> m_conv1;
    std::vector<std::shared_ptr<Layer>> m_down;  // conv blocks and attention, in order
    std::shared_ptr<Dense> m_dense1, m_dense2;
    std::shared_ptr<Layer> m_up;
    int64_t m_tail_c;
};

/// What a decoder returns: α (N,1,RES,RES), bgr (N,3,RES,RES), and the auxiliary RGB heads (64, 128, ...).
struct DecoderOut {
    Tensor alpha, bgr;
    std::vector<Tensor> aux;
};

/// Input (N, enc_channels, 8, 8) -> DecoderOut.
class Decoder : public Module {
 public:
    explicit Decoder(const ModelConfig& cfg, std::mt19937_64& rng);
    DecoderOut forward(const Tensor& z) const;

 private:
    ModelConfig m_cfg;
    std::vector<std::shared_ptr<Layer>> m_body;
    std::vector<std::shared_ptr<Conv2d>> m_aux_heads;
    std::vector<std::vector<std::shared_ptr<Layer>>> m_aux_stages;
    std::shared_ptr<Conv2d> m_alpha, m_bgr;
};

/// Input (N, 6, RES, RES) = concat(image, warped input) -> (N, 1, 8, 8) patch scores (linear).
class Discriminator : public Module {
 public:
    explicit Discriminator(const ModelConfig& cfg, std::mt19937_64& rng);
    Tensor forward(const Tensor& x) const;

 private:
    std::vector<std::shared_ptr<Layer>> m_body;
    std::shared_ptr<Conv2d> m_head;
};

/// The five networks of one model.
struct FaceSwapModel {
    explicit FaceSwapModel(const ModelConfig& cfg);
    ModelConfig cfg;
    std::shared_ptr<Encoder> encoder;
    std::shared_ptr<Decoder> decoder_a, decoder_b;
    std::shared_ptr<Discriminator> disc_a, disc_b;
    /// Every network's parameters and buffers under its name prefix ("encoder.", "decoder_a.", ...).
    NamedTensors named_tensors() const;
    /// Exchanges the weights of decoder A and decoder B (the schedule's decoder swap).
    void swap_decoders();
};

/// α·bgr + (1 − α)·input: the masked output.
Tensor composite(const Tensor& alpha, const Tensor& bgr, const Tensor& input);

}  // namespace fs
