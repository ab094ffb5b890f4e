// losses.h: faceswap-GAN v2.2's loss terms (spec §5.1–5.3), each a differentiable composition of registered
// ops. Notation: y target (undistorted, [-1,1]), x warped input, (α, b) the decoder output, m = α·b + (1−α)·x,
// E the eye mask (3 channels, [0,1]; undefined = no eye terms). Every "mean" runs over batch, pixels, channels.
#pragma once
#include <array>
#include <functional>
#include <random>

#include "faceswap/model.h"

namespace fs {

struct LossWeights {
    double w_D = 0.1, w_recon = 1.0, w_edge = 0.1, w_eyes = 30.0;
    std::array<double, 4> w_pl = {0.01, 0.1, 0.3, 0.1};
    double w_l2 = 1e-4;       ///< Keras l2 regulariser: w·Σ kernel² (a sum, not a mean)
    double w_cycle = 10.0;    ///< cycle-consistency weight (fixed in the original)
};

/// w_recon·mean|b−y| + w_eyes·mean|E⊙(b−y)| + Σ_aux w_recon·mean|aux − resize(y)| (TF1 bilinear to the aux size).
/// The L1 is on the raw b, not on m (as the original).
Tensor recon_loss(const DecoderOut& out, const Tensor& y, const Tensor& eyes, const LossWeights& w);
/// w_edge·(mean|∂ᵥb−∂ᵥy| + mean|∂ₕb−∂ₕy|) + w_eyes·(mean|E'⊙(∂ᵥb−∂ᵥy)| + mean|E'⊙(∂ₕb−∂ₕy)|), ∂ the absolute
/// image gradients cropped to (H−1)×(W−1) and E' the mask resized bilinearly to that size.
Tensor edge_loss(const Tensor& b, const Tensor& y, const Tensor& eyes, const LossWeights& w);
/// Hinge off: 0.01·mean|α| (toward showing the input). On: 0.1·mean(max(0, m_mask − α)).
Tensor alpha_loss(const Tensor& alpha, bool hinge, double m_mask);
/// 0.1·mean ∂ᵥα + 0.1·mean ∂ₕα (always on).
Tensor alpha_tv_loss(const Tensor& alpha);
/// w_l2·Σ_k Σ w_k² over the given kernels (a rank-0 tensor; zero for an empty list).
Tensor l2_loss(const NamedTensors& kernels, double w_l2);
/// w_D·[mean(D(m‖x) − 1)² + mean(D(b‖x) − 1)²]: the generator side of mixup-LSGAN.
Tensor adversarial_loss(const Discriminator& D, const Tensor& m, const Tensor& b, const Tensor& x,
                        const LossWeights& w);
/// mean(D(λ(y‖x) + (1−λ)(m‖x)) − λ)² + mean(D(λ(y‖x) + (1−λ)(b‖x)) − λ)², λ one scalar per batch; m, b are
/// treated as constants (only D learns from this). L2(D) is added by the caller.
Tensor mixup_lsgan_d_loss(const Discriminator& D, const Tensor& y, const Tensor& x, const Tensor& m, const Tensor& b,
                          double lambda);
/// One draw of Beta(a, b) (as numpy: X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b)).
double sample_beta(double a, double b, std::mt19937_64& rng);

/// The perceptual-loss slot: given p = λ·b + (1−λ)·m and y, returns L_PL (its own issue fills it).
using PerceptualLoss = std::function<Tensor(const Tensor& p, const Tensor& y)>;

struct GenLossTerms {
    Tensor total;                 ///< what the optimiser minimises
    double adv = 0, recon = 0, edge = 0, pl = 0, alpha = 0, tv = 0, l2 = 0, cycle = 0;  ///< for logs
};

struct GenLossOptions {
    LossWeights w;
    bool mask_hinge = false;
    double m_mask = 0.0;
    bool use_pl = false;
    PerceptualLoss perceptual;    ///< required when use_pl
    double pl_lambda = 0.5;       ///< the Beta(0.2,0.2) draw that mixes b and m for the PL
    bool adversarial = true;      ///< false: no adversarial term (D is not run; GenLossTerms::adv is 0)
    /// true: the L2 term is only evaluated (no graph), because the optimiser adds its gradient 2·w_l2·k itself
    /// (Adam::set_l2, as GanTrainer does); false: it is part of the differentiable total.
    bool l2_by_optimizer = false;
};

/// The generator loss of one identity: adversarial + reconstruction + edge + PL + α terms + L2 of the generator's
/// own kernels (encoder and this decoder). `x` warped input, `y` target, `eyes` mask or undefined.
GenLossTerms generator_loss(const Encoder& enc, const Decoder& dec, const Discriminator& D, const Tensor& x,
                            const Tensor& y, const Tensor& eyes, const GenLossOptions& o);
/// The optional cycle-consistency term: feed b from G_B(y_A) into G_A; L1(b_cyc, y_A) + 0.1·L1(α_cyc, α_B), ×w_cycle.
Tensor cycle_loss(const Encoder& enc, const Decoder& dec_a, const Decoder& dec_b, const Tensor& y_a,
                  const LossWeights& w);

}  // namespace fs
