// module.cpp: parameter registration and traversal; initialisers.
#include "layers/module.h"

#include <cmath>

namespace fs {

void Module::check_name(const std::string& name) const {
    FS_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module: bad name '", name,
             "' (non-empty, no dots)");
    for (const auto& p : m_params) FS_CHECK(p.first != name, "Module: name '", name, "' registered twice");
    for (const auto& c : m_children) FS_CHECK(c.first != name, "Module: name '", name, "' registered twice");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
    check_name(name);
    FS_CHECK(t.defined() && t.is_contiguous(), "Module: parameter '", name, "' must be a defined contiguous tensor");
    t.set_requires_grad(true);
    t.set_name(name);
    m_params.emplace_back(name, t);
    return t;
}

void Module::collect(const std::string& prefix, NamedTensors& out) const {
    for (const auto& p : m_params) out.emplace_back(prefix + p.first, p.second);
    for (const auto& c : m_children) c.second->collect(prefix + c.first + ".", out);
}

NamedTensors Module::named_parameters() const {
    NamedTensors out;
    collect("", out);
    return out;
}

std::vector<Tensor> Module::parameters() const {
    std::vector<Tensor> v;
    for (auto& p : named_parameters()) v.push_back(p.second);
    return v;
}

int64_t Module::num_parameters() const {
    int64_t n = 0;
    for (auto& p : named_parameters()) n += p.second.numel();
    return n;
}

void Module::zero_grad() {
    for (auto& p : named_parameters()) p.second.zero_grad();
}

Tensor he_normal(const Shape& shape, int64_t fan_in, std::mt19937_64& rng) {
    FS_CHECK(fan_in > 0, "he_normal: fan_in must be positive, got ", fan_in);
    double std = std::sqrt(2.0 / double(fan_in));
    std::normal_distribution<double> d(0.0, 1.0);
    std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
    for (double& x : v) {
        double z;
        do z = d(rng);
        while (std::fabs(z) > 2.0);  // Keras' truncated normal: redraw beyond 2 standard deviations
        x = z * std;
    }
    return Tensor::from_vector(shape, v);
}

Tensor glorot_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, std::mt19937_64& rng) {
    FS_CHECK(fan_in + fan_out > 0, "glorot_uniform: fan_in + fan_out must be positive");
    double lim = std::sqrt(6.0 / double(fan_in + fan_out));
    return Tensor::uniform(shape, -lim, lim, rng);
}

}  // namespace fs
