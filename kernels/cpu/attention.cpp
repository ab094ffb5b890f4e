// attention.cpp: reference kernels for fused softmax attention (see kernels/attention.h).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace fs {

namespace {
// p[j] = softmax_j(scale · q_i·k_j) for one query row; returns nothing, fills p (M).
template <typename T>
void softmax_row(const AttentionParams& prm, const T* qi, const T* k, int64_t M, int64_t D, T* p) {
    T mx = -INFINITY;
    for (int64_t j = 0; j < M; ++j) {
        T s = 0;
        for (int64_t d = 0; d < D; ++d) s += qi[d] * k[j * D + d];
        p[j] = s * T(prm.scale);
        mx = std::max(mx, p[j]);
    }
    T sum = 0;
    for (int64_t j = 0; j < M; ++j) sum += (p[j] = std::exp(p[j] - mx));  // subtract the max: no overflow
    for (int64_t j = 0; j < M; ++j) p[j] /= sum;
}
}  // namespace

template <typename T>
void attention_forward_cpu(const AttentionParams& prm, const T* q, const T* k, const T* v, T* o, int64_t B, int64_t N,
                           int64_t M, int64_t D, int64_t E) {
    std::vector<T> p(static_cast<size_t>(M));
    for (int64_t b = 0; b < B; ++b) {
        const T *kb = k + b * M * D, *vb = v + b * M * E;
        for (int64_t i = 0; i < N; ++i) {
            softmax_row(prm, q + (b * N + i) * D, kb, M, D, p.data());
            T* oi = o + (b * N + i) * E;
            std::fill(oi, oi + E, T(0));
            for (int64_t j = 0; j < M; ++j)
                for (int64_t e = 0; e < E; ++e) oi[e] += p[size_t(j)] * vb[j * E + e];
        }
    }
}

template <typename T>
void attention_backward_cpu(const AttentionParams& prm, const T* q, const T* k, const T* v, const T* o, const T* dout,
                            T* dq, T* dk, T* dv, int64_t B, int64_t N, int64_t M, int64_t D, int64_t E) {
    // With p = softmax(s), s = scale·q kᵀ, o = p v:
    //   dv_j += p_ij do_i;   dp_ij = do_i·v_j;   ds_ij = p_ij (dp_ij − Σ_j' p_ij' dp_ij') = p_ij (dp_ij − do_i·o_i)
    //   dq_i = scale Σ_j ds_ij k_j;   dk_j += scale ds_ij q_i
    if (dk) std::fill(dk, dk + B * M * D, T(0));
    if (dv) std::fill(dv, dv + B * M * E, T(0));
    std::vector<T> p(static_cast<size_t>(M));
    for (int64_t b = 0; b < B; ++b) {
        const T *kb = k + b * M * D, *vb = v + b * M * E;
        for (int64_t i = 0; i < N; ++i) {
            const T *qi = q + (b * N + i) * D, *doi = dout + (b * N + i) * E, *oi = o + (b * N + i) * E;
            softmax_row(prm, qi, kb, M, D, p.data());  // recomputed: the forward kept no N×M map
            T delta = 0;  // do_i · o_i = Σ_j p_ij dp_ij
            for (int64_t e = 0; e < E; ++e) delta += doi[e] * oi[e];
            if (dq) std::fill(dq + (b * N + i) * D, dq + (b * N + i + 1) * D, T(0));
            for (int64_t j = 0; j < M; ++j) {
                T pj = p[size_t(j)], dp = 0;
                for (int64_t e = 0; e < E; ++e) dp += doi[e] * vb[j * E + e];
                if (dv)
                    for (int64_t e = 0; e < E; ++e) dv[(b * M + j) * E + e] += pj * doi[e];
                T ds = pj * (dp - delta) * T(prm.scale);
                if (dq)
                    for (int64_t d = 0; d < D; ++d) dq[(b * N + i) * D + d] += ds * kb[j * D + d];
                if (dk)
                    for (int64_t d = 0; d < D; ++d) dk[(b * M + j) * D + d] += ds * qi[d];
            }
        }
    }
}

#define FS_INSTANTIATE(T)                                                                                        \
    template void attention_forward_cpu<T>(const AttentionParams&, const T*, const T*, const T*, T*, int64_t,    \
                                           int64_t, int64_t, int64_t, int64_t);                                  \
    template void attention_backward_cpu<T>(const AttentionParams&, const T*, const T*, const T*, const T*,      \
                                            const T*, T*, T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)

}  // namespace fs
