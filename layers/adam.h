// adam.h: Adam over a list of parameters (faceswap-GAN uses β1 0.5, β2 0.999, ε 1e-7: Keras 2.1.5's Adam).
// Keras form: lr_t = lr·sqrt(1−β2^t)/(1−β1^t); p −= lr_t·m/(sqrt(v)+ε). The fused flat-buffer Adam of the
// model issue replaces the per-tensor loop; the arithmetic stays this.
#pragma once
#include <vector>

#include "layers/module.h"

namespace fs {

struct AdamConfig {
    double lr = 1e-4, beta1 = 0.5, beta2 = 0.999, eps = 1e-7;
};

class Adam {
 public:
    /// Parameters by name (the names key the saved state).
    Adam(NamedTensors params, AdamConfig cfg);
    /// Unnamed parameters (named p0, p1, ...).
    Adam(const std::vector<Tensor>& params, AdamConfig cfg);
    /// One update from the parameters' accumulated gradients (parameters without a gradient are left alone,
    /// unless they carry an L2 term).
    void step();
    /// Adds the gradient of w·Σ p² (Keras' l2 kernel regulariser), 2·w·p, to the gradient of each of these
    /// parameters inside the step, before the moments: the same update as that term in the loss, without its
    /// backward pass and gradient accumulation. Every tensor must be one of this optimiser's parameters.
    void set_l2(const NamedTensors& kernels, double w);
    /// Forgets the moments and the step count (faceswap-GAN resets Adam at every schedule phase change).
    void reset();
    int64_t steps() const { return m_t; }
    AdamConfig& config() { return m_cfg; }
    /// The moments as named tensors ("<prefix>m.<param>", "<prefix>v.<param>") for checkpoints.
    NamedTensors state(const std::string& prefix) const;
    /// Restores moments saved by state() and the step count; every tensor must be present with its shape.
    void load_state(const NamedTensors& saved, const std::string& prefix, int64_t steps);

 private:
    std::vector<std::string> m_names;
    std::vector<Tensor> m_params, m_m, m_v;
    std::vector<double> m_l2;  ///< per parameter: the L2 gradient factor 2·w (0: none)
    AdamConfig m_cfg;
    int64_t m_t = 0;
};

}  // namespace fs
