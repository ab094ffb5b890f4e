// module.cpp: parameter registration and traversal; initialisers.
#include "layers/module.h"

#include <cmath>

namespace fs {

void Module::check_name(const std::string& name) const {
    FS_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module: bad name '", name,
             "' (non-empty, no dots)");
    for (const auto& p : m_params) FS_CHECK(p.first != name, "Module: name '", name, "' registered twice");
    for (const auto& p : m_buffers) FS_CHECK(p.first != name, "Module: name '", name, "' registered twice");
    for (const auto& c : m_children) FS_CHECK(c.first != name, "Module: name '", name, "' registered twice");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool l2) {
    check_name(name);
    FS_CHECK(t.defined() && t.is_contiguous(), "Module: parameter '", name, "' must be a defined contiguous tensor");
    t.set_requires_grad(true);
    t.set_name(name);
    m_params.emplace_back(name, t);
    m_l2.push_back(l2);
    return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
    check_name(name);
    FS_CHECK(t.defined() && t.is_contiguous(), "Module: buffer '", name, "' must be a defined contiguous tensor");
    t.set_name(name);
    m_buffers.emplace_back(name, t);
    return t;
}

void Module::collect(const std::string& prefix, Which which, NamedTensors& out) const {
    if (which == Which::buffers) {
        for (const auto& p : m_buffers) out.emplace_back(prefix + p.first, p.second);
    } else {
        for (size_t i = 0; i < m_params.size(); ++i)
            if (which == Which::params || m_l2[i]) out.emplace_back(prefix + m_params[i].first, m_params[i].second);
    }
    for (const auto& c : m_children) c.second->collect(prefix + c.first + ".", which, out);
}

NamedTensors Module::named_parameters() const {
    NamedTensors out;
    collect("", Which::params, out);
    return out;
}

NamedTensors Module::l2_parameters() const {
    NamedTensors out;
    collect("", Which::l2, out);
    return out;
}

NamedTensors Module::named_buffers() const {
    NamedTensors out;
    collect("", Which::buffers, out);
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

void Module::zero_grad() const {
    for (auto& p : named_parameters()) {
        Tensor h = p.second;  // a handle: clearing it clears the parameter's gradient
        h.zero_grad();
    }
}

namespace {
thread_local bool t_skip_init = false;
}
SkipInitGuard::SkipInitGuard() : m_prev(t_skip_init) { t_skip_init = true; }
SkipInitGuard::~SkipInitGuard() { t_skip_init = m_prev; }
bool SkipInitGuard::active() { return t_skip_init; }

Tensor he_normal(const Shape& shape, int64_t fan_in, std::mt19937_64& rng) {
    FS_CHECK(fan_in > 0, "he_normal: fan_in must be positive, got ", fan_in);
    if (t_skip_init) return Tensor::zeros(shape);
    double std = std::sqrt(2.0 / double(fan_in));
    std::normal_distribution<double> d(0.0, 1.0);
    Tensor t = Tensor::empty(shape);
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) {
        double z;
        do z = d(rng);
        while (std::fabs(z) > 2.0);  // Keras' truncated normal: redraw beyond 2 standard deviations
        p[i] = float(z * std);
    }
    return t;
}

Tensor glorot_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, std::mt19937_64& rng) {
    FS_CHECK(fan_in + fan_out > 0, "glorot_uniform: fan_in + fan_out must be positive");
    if (t_skip_init) return Tensor::zeros(shape);
    double lim = std::sqrt(6.0 / double(fan_in + fan_out));
    return Tensor::uniform(shape, -lim, lim, rng);
}

}  // namespace fs
