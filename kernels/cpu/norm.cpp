// norm.cpp: reference CPU kernels for instance_norm, group_norm and batch_norm (see kernels/norm.h).
// Readable over fast: statistics are recomputed in backward from x (nothing is saved between the passes), each
// normalisation group is walked once per statistic, and every loop is the formula it implements.
// Reductions (means, variances, the Σ terms of the backward) accumulate in double whatever T is: this file is the
// oracle the fast and CUDA kernels are compared against, and a float sum over the 65 536 elements of one sample
// of an 8×256×16×16 map would lose ~4 digits before the comparison even starts. The two-pass variance
// (mean first, then mean((x−μ)²)) avoids the cancellation of E[x²]−E[x]², which matters for normalised
// activations whose mean is large relative to their spread.
#include <cmath>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/norm.h"

namespace fs {

namespace {

// Mean and biased (population) variance of the K contiguous elements x[0..K). Both statistics-based norms reduce
// over one contiguous run: instance_norm over a sample's M = C·H·W elements, group_norm over a sample's C/G
// consecutive channels, which in NCHW are one run of (C/G)·S elements.
struct Moments {
    double mean = 0, var = 0;
};

template <typename T>
Moments moments(const T* x, int64_t K) {
    Moments m;
    double s = 0;
    for (int64_t i = 0; i < K; ++i) s += double(x[i]);
    m.mean = s / double(K);
    double ss = 0;
    for (int64_t i = 0; i < K; ++i) {
        const double d = double(x[i]) - m.mean;
        ss += d * d;
    }
    m.var = ss / double(K);  // biased: divide by K, not K−1 (K.std, K.var and tf.nn.moments all do)
    return m;
}

}  // namespace

// --- instance_norm ---------------------------------------------------------------------------------------------

namespace {
// pre_leaky: z = leaky_relu(x), then the plain instance norm of z.
template <typename T>
std::vector<T> leaky_of(const InstanceNormParams& p, const T* x, int64_t n) {
    UnaryParams u;
    u.slope = p.slope;
    std::vector<T> z(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) z[size_t(i)] = unary_value(UnaryKind::leaky_relu, x[i], u);
    return z;
}
}  // namespace

template <typename T>
void instance_norm_forward_cpu(const InstanceNormParams& p, const T* x, const T* gamma, const T* beta, T* y,
                               int64_t N, int64_t M) {
    if (p.pre_leaky) {
        InstanceNormParams plain = p;
        plain.pre_leaky = false;
        return instance_norm_forward_cpu(plain, leaky_of(p, x, N * M).data(), gamma, beta, y, N, M);
    }
    for (int64_t n = 0; n < N; ++n) {
        const T* xs = x + n * M;
        T* ys = y + n * M;
        Moments m = moments(xs, M);
        // ε is added to the population std σ, not to the variance: (x−μ)/(σ+ε). With σ = 0 (a constant sample)
        // this gives 0, not NaN, because ε > 0.
        const double d = std::sqrt(m.var) + p.eps;
        const double g = double(gamma[0]), b = double(beta[0]);  // one scalar γ, β for the whole tensor
        for (int64_t i = 0; i < M; ++i) ys[i] = T(g * (double(xs[i]) - m.mean) / d + b);
    }
}

template <typename T>
void instance_norm_backward_cpu(const InstanceNormParams& p, const T* x, const T* gamma, const T* dy, T* dx,
                                T* dgamma, T* dbeta, int64_t N, int64_t M) {
    if (p.pre_leaky) {
        // dL/dz from the plain norm of z, then through LeakyReLU: dx = dz · leaky'(x)
        InstanceNormParams plain = p;
        plain.pre_leaky = false;
        const std::vector<T> z = leaky_of(p, x, N * M);
        instance_norm_backward_cpu(plain, z.data(), gamma, dy, dx, dgamma, dbeta, N, M);
        UnaryParams u;
        u.slope = p.slope;
        if (dx)
            for (int64_t i = 0; i < N * M; ++i)
                dx[i] = dx[i] * unary_derivative(UnaryKind::leaky_relu, x[i], z[size_t(i)], u);
        return;
    }
    const double g = double(gamma[0]);
    double dg = 0, db = 0;  // γ and β are shared by every element of every sample: their gradients sum over all
    for (int64_t n = 0; n < N; ++n) {
        const T* xs = x + n * M;
        const T* dys = dy + n * M;
        Moments m = moments(xs, M);
        const double sigma = std::sqrt(m.var), d = sigma + p.eps;
        // Pass 1: the two sample sums the input gradient needs, with dL/dx̂ = γ·dy. dγ = Σ dy·x̂, dβ = Σ dy.
        double s_dxh = 0, s_dxh_xh = 0;
        for (int64_t i = 0; i < M; ++i) {
            const double xh = (double(xs[i]) - m.mean) / d, dyi = double(dys[i]);
            s_dxh += g * dyi;
            s_dxh_xh += g * dyi * xh;
            dg += dyi * xh;
            db += dyi;
        }
        if (!dx) continue;
        // Pass 2: dx_j = (dxh_j − mean dxh)/d − x̂_j·mean(dxh·x̂)/σ (derivation in norm.h).
        const double mean_dxh = s_dxh / double(M), mean_dxh_xh = s_dxh_xh / double(M);
        T* dxs = dx + n * M;
        for (int64_t i = 0; i < M; ++i) {
            const double xh = (double(xs[i]) - m.mean) / d;
            dxs[i] = T(std_norm_input_grad(g * double(dys[i]), xh, mean_dxh, mean_dxh_xh, d, sigma));
        }
    }
    if (dgamma) dgamma[0] = T(dg);
    if (dbeta) dbeta[0] = T(db);
}

// --- group_norm ------------------------------------------------------------------------------------------------

template <typename T>
void group_norm_forward_cpu(const GroupNormParams& p, const T* x, const T* gamma, const T* beta, T* y, int64_t N,
                            int64_t C, int64_t S) {
    // Group g holds channels [g·Cg, (g+1)·Cg): C/G *consecutive* channels (the Keras layer reshapes the channel
    // axis to (G, C/G)). In NCHW those channels are one contiguous run of Cg·S elements per sample.
    const int64_t G = p.groups, Cg = C / G, K = Cg * S;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t grp = 0; grp < G; ++grp) {
            const int64_t base = (n * C + grp * Cg) * S;
            Moments m = moments(x + base, K);
            const double r = inv_std(m.var, p.eps);  // ε inside the sqrt here, unlike instance_norm
            for (int64_t cc = 0; cc < Cg; ++cc) {
                const int64_t c = grp * Cg + cc;  // γ, β are per channel, not per group
                const double gc = double(gamma[c]), bc = double(beta[c]);
                for (int64_t s = 0; s < S; ++s) {
                    const int64_t i = base + cc * S + s;
                    y[i] = T((double(x[i]) - m.mean) * r * gc + bc);
                }
            }
        }
}

template <typename T>
void group_norm_backward_cpu(const GroupNormParams& p, const T* x, const T* gamma, const T* dy, T* dx, T* dgamma,
                             T* dbeta, int64_t N, int64_t C, int64_t S) {
    const int64_t G = p.groups, Cg = C / G, K = Cg * S;
    // dγ, dβ sum over the batch: kept in double until the end, like every other reduction here.
    std::vector<double> dg_acc(static_cast<size_t>(C), 0.0), db_acc(static_cast<size_t>(C), 0.0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t grp = 0; grp < G; ++grp) {
            const int64_t base = (n * C + grp * Cg) * S;
            Moments m = moments(x + base, K);
            const double r = inv_std(m.var, p.eps);
            // Pass 1, per channel of the group: dγ_c += Σ_s dy·x̂, dβ_c += Σ_s dy, and from the same two sums the
            // group sums of dL/dx̂ = γ_c·dy and of dL/dx̂·x̂ that dx needs.
            double s_dxh = 0, s_dxh_xh = 0;
            for (int64_t cc = 0; cc < Cg; ++cc) {
                const int64_t c = grp * Cg + cc;
                const double gc = double(gamma[c]);
                double dg = 0, db = 0;
                for (int64_t s = 0; s < S; ++s) {
                    const int64_t i = base + cc * S + s;
                    const double xh = (double(x[i]) - m.mean) * r, dyi = double(dy[i]);
                    dg += dyi * xh;
                    db += dyi;
                }
                s_dxh += gc * db;       // Σ_s γ_c·dy = γ_c·Σ_s dy
                s_dxh_xh += gc * dg;    // Σ_s γ_c·dy·x̂ = γ_c·Σ_s dy·x̂
                dg_acc[size_t(c)] += dg;
                db_acc[size_t(c)] += db;
            }
            if (!dx) continue;
            // Pass 2: dx = r·(dxh − mean dxh − x̂·mean(dxh·x̂)) over the K elements of the group.
            const double mean_dxh = s_dxh / double(K), mean_dxh_xh = s_dxh_xh / double(K);
            for (int64_t cc = 0; cc < Cg; ++cc) {
                const double gc = double(gamma[grp * Cg + cc]);
                for (int64_t s = 0; s < S; ++s) {
                    const int64_t i = base + cc * S + s;
                    const double xh = (double(x[i]) - m.mean) * r;
                    dx[i] = T(var_norm_input_grad(gc * double(dy[i]), xh, mean_dxh, mean_dxh_xh, r));
                }
            }
        }
    for (int64_t c = 0; c < C; ++c) {
        if (dgamma) dgamma[c] = T(dg_acc[size_t(c)]);
        if (dbeta) dbeta[c] = T(db_acc[size_t(c)]);
    }
}

// --- batch_norm (inference) ------------------------------------------------------------------------------------

template <typename T>
void batch_norm_forward_cpu(const BatchNormParams& p, const T* x, const T* gamma, const T* beta, const T* mean,
                            const T* var, T* y, int64_t N, int64_t C, int64_t S) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            // The stored statistics make each channel a fixed affine map: no reduction over the batch.
            const double r = inv_std(double(var[c]), p.eps), m = double(mean[c]);
            const double gc = double(gamma[c]), bc = double(beta[c]);
            const int64_t base = (n * C + c) * S;
            for (int64_t s = 0; s < S; ++s) y[base + s] = T((double(x[base + s]) - m) * r * gc + bc);
        }
}

template <typename T>
void batch_norm_backward_cpu(const BatchNormParams& p, const T* x, const T* gamma, const T* mean, const T* var,
                             const T* dy, T* dx, T* dgamma, T* dbeta, T* dmean, T* dvar, int64_t N, int64_t C,
                             int64_t S) {
    for (int64_t c = 0; c < C; ++c) {
        const double r = inv_std(double(var[c]), p.eps), m = double(mean[c]), gc = double(gamma[c]);
        // Per channel: Σ dy and Σ dy·(x−m) over N and S give every parameter gradient:
        //   dβ = Σ dy,  dγ = r·Σ dy·(x−m),  dmean = −γ·r·Σ dy,
        //   dvar = γ·Σ dy·(x−m)·d(v+ε)^(-1/2)/dv = −½·γ·r³·Σ dy·(x−m).
        double s_dy = 0, s_dy_xc = 0;
        for (int64_t n = 0; n < N; ++n) {
            const int64_t base = (n * C + c) * S;
            for (int64_t s = 0; s < S; ++s) {
                const double dyi = double(dy[base + s]);
                s_dy += dyi;
                s_dy_xc += dyi * (double(x[base + s]) - m);
                if (dx) dx[base + s] = T(dyi * gc * r);  // the statistics are constants: dx is just the slope
            }
        }
        if (dgamma) dgamma[c] = T(r * s_dy_xc);
        if (dbeta) dbeta[c] = T(s_dy);
        if (dmean) dmean[c] = T(-gc * r * s_dy);
        if (dvar) dvar[c] = T(-0.5 * gc * r * r * r * s_dy_xc);
    }
}

#define FS_INSTANTIATE(T)                                                                                        \
    template void instance_norm_forward_cpu<T>(const InstanceNormParams&, const T*, const T*, const T*, T*,      \
                                               int64_t, int64_t);                                                \
    template void instance_norm_backward_cpu<T>(const InstanceNormParams&, const T*, const T*, const T*, T*, T*, \
                                                T*, int64_t, int64_t);                                           \
    template void group_norm_forward_cpu<T>(const GroupNormParams&, const T*, const T*, const T*, T*, int64_t,   \
                                            int64_t, int64_t);                                                   \
    template void group_norm_backward_cpu<T>(const GroupNormParams&, const T*, const T*, const T*, T*, T*, T*,   \
                                             int64_t, int64_t, int64_t);                                         \
    template void batch_norm_forward_cpu<T>(const BatchNormParams&, const T*, const T*, const T*, const T*,      \
                                            const T*, T*, int64_t, int64_t, int64_t);                            \
    template void batch_norm_backward_cpu<T>(const BatchNormParams&, const T*, const T*, const T*, const T*,     \
                                             const T*, T*, T*, T*, T*, T*, int64_t, int64_t, int64_t);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)
#undef FS_INSTANTIATE

}  // namespace fs
