// gan.h: one faceswap-GAN training iteration (spec §5.4) and its checkpoint.
// Four Adams (D_A, D_B, G_A, G_B; β1 0.5, β2 0.999, ε 1e-7; lrD 2e-4, lrG 1e-4, both × lr_factor); G_A and G_B
// both step the shared encoder from independent moment states, as the original. One iteration: step D_A and D_B
// on one pair of batches, then G_A and G_B on a fresh pair. The schedule (faceswap/schedule.h) sets PL, the mask
// hinge and lr_factor per phase, swaps the decoders where it says, and resets the optimisers at every phase
// change unless keep_optimizer_state is set.
#pragma once
#include <random>
#include <string>

#include "faceswap/losses.h"
#include "faceswap/schedule.h"
#include "io/safetensors.h"
#include "layers/adam.h"

namespace fs {

/// A batch as the data pipeline delivers it: warped input x, target y, eye mask (undefined: no eye terms).
struct GanBatch {
    Tensor warped, target, eyes;
};

struct GanOptions {
    LossWeights weights;
    bool keep_optimizer_state = false;  ///< improvement: keep Adam's moments across phase changes
    bool cycle_loss = false;            ///< the original's use_cyclic_loss
    /// The GAN: the discriminators' steps and the generators' adversarial term. Off, an iteration is the two G
    /// steps without the adversarial term (the discriminators stay as initialised); the mask then learns only
    /// from its own terms (hinge / L1 and TV), so this suits short runs, not real training.
    bool adversarial = true;
    PerceptualLoss perceptual;          ///< used in phases with use_pl (skipped, with a note, when empty)
};

struct StepLosses {
    double d_a = 0, d_b = 0;
    GenLossTerms g_a, g_b;
};

class GanTrainer {
 public:
    GanTrainer(const ModelConfig& cfg, const Schedule& schedule, const GanOptions& opt, uint64_t seed);

    /// One iteration: D steps on (a1, b1) (not without the GAN; d_a, d_b are then 0), G steps on (a2, b2). Throws,
    /// leaving the weights as they were before the failing optimiser step, when a loss is not finite.
    StepLosses step(const GanBatch& a1, const GanBatch& b1, const GanBatch& a2, const GanBatch& b2);

    int64_t iteration() const { return m_iter; }
    size_t phase() const { return m_phase; }
    FaceSwapModel& model() { return m_model; }
    const Schedule& schedule() const { return m_schedule; }

    /// Everything a resumed run needs, in one safetensors file: weights, the four optimisers' moments and step
    /// counts, the iteration, the phase and the RNG state (metadata). Written atomically.
    void save_checkpoint(const std::string& path) const;
    /// Restores a checkpoint written by save_checkpoint for the same model configuration.
    void load_checkpoint(const std::string& path);

 private:
    void enter_phase(size_t k);
    FaceSwapModel m_model;
    Schedule m_schedule;
    GanOptions m_opt;
    Adam m_da, m_db, m_ga, m_gb;
    std::mt19937_64 m_rng;
    int64_t m_iter = 0;
    size_t m_phase = 0;
};

/// Metadata that describes a model file ("faceswap.res", "faceswap.capacity", ...), and its inverse.
Metadata model_metadata(const ModelConfig& cfg);
ModelConfig config_from_metadata(const Metadata& md, const std::string& what);

/// Saves the five networks' weights (and buffers) with their configuration; loads them back. With
/// `checkpoint_ok` the file may also be a training checkpoint (the same tensors plus the optimisers' state,
/// which is ignored); without it, a file holding anything but the model is refused.
void save_model(const std::string& path, const FaceSwapModel& m, int64_t iteration = 0);
FaceSwapModel load_model(const std::string& path, bool checkpoint_ok = false);

}  // namespace fs
