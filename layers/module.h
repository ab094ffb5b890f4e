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
    int64_t num_parameters() const;
    /// Clears the accumulated gradients of every parameter.
    void zero_grad();

 protected:
    /// Registers `t` as a trainable parameter (sets requires_grad) and returns it.
    Tensor register_parameter(const std::string& name, Tensor t);
    template <typename M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
        check_name(name);
        m_children.emplace_back(name, m);
        return m;
    }

 private:
    void check_name(const std::string& name) const;
    void collect(const std::string& prefix, NamedTensors& out) const;
    NamedTensors m_params;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> m_children;
};

// --- initialisers (Keras 2.1.5 defaults, spec §1) ---------------------------------------------------------------
/// Truncated normal (resampled beyond 2 std) with std = sqrt(2 / fan_in).
Tensor he_normal(const Shape& shape, int64_t fan_in, std::mt19937_64& rng);
/// Uniform(±sqrt(6 / (fan_in + fan_out))).
Tensor glorot_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, std::mt19937_64& rng);

}  // namespace fs
