// module.h: the base of every layer and network: named parameters and child modules.
// Parameter names are dotted paths ("encoder.conv1.weight"), in registration order, which is also the order of
// weight files and optimiser state.
#pragma once
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tape.h"

namespace fs {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
    virtual ~Module() = default;
    /// Every parameter of this module and its children, depth-first in registration order.
    NamedTensors named_parameters() const;
    std::vector<Tensor> parameters() const;
    /// The parameters under L2 weight decay (faceswap-GAN regularises only some kernels; spec §1).
    NamedTensors l2_parameters() const;
    /// Non-trainable state saved with the weights (batch-norm moving statistics).
    NamedTensors named_buffers() const;
    int64_t num_parameters() const;
    /// Clears the accumulated gradients of every parameter.
    void zero_grad() const;

 protected:
    /// Registers `t` as a trainable parameter (sets requires_grad) and returns it; `l2` puts it under weight decay.
    Tensor register_parameter(const std::string& name, Tensor t, bool l2 = false);
    /// Registers non-trainable state (no gradient).
    Tensor register_buffer(const std::string& name, Tensor t);
    template <typename M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
        check_name(name);
        m_children.emplace_back(name, m);
        return m;
    }

 private:
    void check_name(const std::string& name) const;
    enum class Which { params, l2, buffers };
    void collect(const std::string& prefix, Which which, NamedTensors& out) const;
    NamedTensors m_params, m_buffers;
    std::vector<bool> m_l2;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> m_children;
};

/// A module that maps one tensor to one tensor; sequences of them run in order.
class Layer : public Module {
 public:
    virtual Tensor forward(const Tensor& x) const = 0;
};

// --- initialisers (Keras 2.1.5 defaults, spec §1) ---------------------------------------------------------------
/// While one is alive (this thread), the initialisers return zeros: for building a network only to inspect its
/// structure (parameter counts, names) without paying for hundreds of millions of random draws.
class SkipInitGuard {
 public:
    SkipInitGuard();
    ~SkipInitGuard();
    SkipInitGuard(const SkipInitGuard&) = delete;
    SkipInitGuard& operator=(const SkipInitGuard&) = delete;
    static bool active();

 private:
    bool m_prev;
};

/// Truncated normal (resampled beyond 2 std) with std = sqrt(2 / fan_in).
Tensor he_normal(const Shape& shape, int64_t fan_in, std::mt19937_64& rng);
/// Uniform(±sqrt(6 / (fan_in + fan_out))).
Tensor glorot_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, std::mt19937_64& rng);

}  // namespace fs
