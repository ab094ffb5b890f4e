// adam.cpp: the reference Adam step.
#include "layers/adam.h"

#include <cmath>

namespace fs {

static NamedTensors name_all(const std::vector<Tensor>& params) {
    NamedTensors out;
    for (size_t i = 0; i < params.size(); ++i) out.emplace_back("p" + std::to_string(i), params[i]);
    return out;
}

Adam::Adam(const std::vector<Tensor>& params, AdamConfig cfg) : Adam(name_all(params), cfg) {}

Adam::Adam(NamedTensors params, AdamConfig cfg) : m_cfg(cfg) {
    for (auto& [name, p] : params) {
        m_names.push_back(name);
        m_params.push_back(p);
    }
    for (const Tensor& p : m_params) {
        FS_CHECK(p.defined() && p.requires_grad() && p.is_contiguous(), "Adam: every parameter must be a contiguous "
                 "tensor that requires grad, got ", p.str());
    }
    reset();
}

void Adam::reset() {
    m_m.clear();
    m_v.clear();
    for (const Tensor& p : m_params) {
        m_m.push_back(Tensor::zeros(p.shape(), p.dtype()));
        m_v.push_back(Tensor::zeros(p.shape(), p.dtype()));
    }
    m_t = 0;
}

NamedTensors Adam::state(const std::string& prefix) const {
    NamedTensors out;
    for (size_t i = 0; i < m_params.size(); ++i) out.emplace_back(prefix + "m." + m_names[i], m_m[i]);
    for (size_t i = 0; i < m_params.size(); ++i) out.emplace_back(prefix + "v." + m_names[i], m_v[i]);
    return out;
}

void Adam::load_state(const NamedTensors& saved, const std::string& prefix, int64_t steps) {
    FS_CHECK(steps >= 0, "Adam: negative step count ", steps);
    auto find = [&](const std::string& n) -> const Tensor& {
        for (auto& [name, t] : saved)
            if (name == n) return t;
        FS_FAIL("Adam: the checkpoint has no optimiser state '", n, "'");
    };
    for (size_t i = 0; i < m_params.size(); ++i) {
        for (Tensor* dst : {&m_m[i], &m_v[i]}) {
            std::string n = prefix + (dst == &m_m[i] ? "m." : "v.") + m_names[i];
            const Tensor& src = find(n);
            FS_CHECK(src.shape() == dst->shape(), "Adam: state '", n, "' has shape ", shape_str(src.shape()),
                     " but the parameter has ", shape_str(dst->shape()));
            dst->copy_from(src);
        }
    }
    m_t = steps;
}

void Adam::step() {
    ++m_t;
    const double b1 = m_cfg.beta1, b2 = m_cfg.beta2;
    const double lr_t = m_cfg.lr * std::sqrt(1 - std::pow(b2, double(m_t))) / (1 - std::pow(b1, double(m_t)));
    for (size_t i = 0; i < m_params.size(); ++i) {
        Tensor g = m_params[i].grad();
        if (!g.defined()) continue;
        FS_CHECK(g.shape() == m_params[i].shape(), "Adam: gradient ", g.str(), " for parameter ", m_params[i].str());
        Tensor gc = g.contiguous();
        dispatch_float(m_params[i].dtype(), "Adam", [&](auto tag) {
            using T = decltype(tag);
            T *p = m_params[i].data<T>(), *m = m_m[i].data<T>(), *v = m_v[i].data<T>();
            const T* gp = gc.data<T>();
            for (int64_t k = 0; k < m_params[i].numel(); ++k) {
                m[k] = T(b1) * m[k] + T(1 - b1) * gp[k];
                v[k] = T(b2) * v[k] + T(1 - b2) * gp[k] * gp[k];
                p[k] -= T(lr_t) * m[k] / (std::sqrt(v[k]) + T(m_cfg.eps));
            }
        });
    }
}

}  // namespace fs
