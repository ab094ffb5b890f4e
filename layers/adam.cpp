// adam.cpp: the reference Adam step.
#include "layers/adam.h"

#include <cmath>

namespace fs {

Adam::Adam(std::vector<Tensor> params, AdamConfig cfg) : m_params(std::move(params)), m_cfg(cfg) {
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
