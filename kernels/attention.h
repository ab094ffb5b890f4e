// attention.h: fused softmax attention, o = softmax(scale · q kᵀ) v, the core of faceswap-GAN's self-attention
// block (spec §4: S = g·fᵀ with the softmax over keys, o = softmax(S)·h; scale 1, no 1/sqrt(d) there).
// The reference kernels work one query row at a time and never hold the N×M score matrix: memory is O(M) per
// row, the backward recomputes each row's probabilities (the flash-attention structure, done plainly).
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace fs {

struct AttentionParams {
    double scale = 1.0;  ///< multiplies the scores before the softmax
};

/// q (B,N,D), k (B,M,D), v (B,M,E), all contiguous; o (B,N,E) assigned.
template <typename T>
void attention_forward_cpu(const AttentionParams& p, const T* q, const T* k, const T* v, T* o, int64_t B, int64_t N,
                           int64_t M, int64_t D, int64_t E);
/// Given o from the forward and do (B,N,E): dq (B,N,D), dk (B,M,D), dv (B,M,E) assigned (any may be null).
template <typename T>
void attention_backward_cpu(const AttentionParams& p, const T* q, const T* k, const T* v, const T* o, const T* dout,
                            T* dq, T* dk, T* dv, int64_t B, int64_t N, int64_t M, int64_t D, int64_t E);

}  // namespace fs

namespace fs {
// --- the optimised f32 path (kernels/cpu/attention_fast.cpp): same contracts, tiled with an online softmax ----
/// lse (B, N), when non-null, receives each query row's log-sum-exp of the scaled scores.
void attention_forward_fast(const AttentionParams& p, const float* q, const float* k, const float* v, float* o,
                            int64_t B, int64_t N, int64_t M, int64_t D, int64_t E, float* lse = nullptr);
/// lse: the forward's row log-sum-exp when the caller kept it (then the backward skips recomputing it), or null.
void attention_backward_fast(const AttentionParams& p, const float* q, const float* k, const float* v, const float* o,
                             const float* dout, float* dq, float* dk, float* dv, int64_t B, int64_t N, int64_t M,
                             int64_t D, int64_t E, const float* lse = nullptr);
}  // namespace fs
