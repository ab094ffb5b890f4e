// linalg.h: dense (fully connected) layers and batched matrix products.
// Kernel conventions: pointers to contiguous row-major buffers; outputs and gradients are assigned (=), never
// accumulated; a null gradient pointer means "not needed" and is skipped.
// Dimension letters: N batch rows, IN/OUT feature sizes (dense); B batch, M×K times K×N (matmul).
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace fs {

// --- dense: y = x·wᵀ + b ---------------------------------------------------------------------------------------
// The weight is stored PyTorch-style as (OUT, IN); weights imported from Keras (IN, OUT) are transposed once at
// load time, so every kernel reads a contiguous weight row per output feature.

/// x (N, IN), w (OUT, IN), b (OUT) or null; y (N, OUT) assigned: y[n,o] = b[o] + Σ_i x[n,i]·w[o,i].
template <typename T>
void dense_forward_cpu(const T* x, const T* w, const T* b, T* y, int64_t N, int64_t IN, int64_t OUT);

/// dy (N, OUT). dx (N, IN) = dy·w, dw (OUT, IN) = dyᵀ·x, db (OUT) = Σ_n dy[n,:]; all assigned, each may be null.
template <typename T>
void dense_backward_cpu(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int64_t N, int64_t IN,
                        int64_t OUT);

// --- matmul: c = op(a)·op(b), batched --------------------------------------------------------------------------

/// trans_a: a is stored (B, K, M), i.e. the product uses its transpose; trans_b: b is stored (B, N, K).
/// The self-attention map S = g·fᵀ is matmul(g, f, trans_b) with g, f (B, tokens, C/8).
struct MatmulParams {
    bool trans_a = false;
    bool trans_b = false;
};

/// Element (m, k) of batch item `bi` of the logical (M, K) operand, stored (M, K) or, transposed, (K, M).
template <typename T>
FS_HOST_DEVICE inline T matmul_operand(const T* p, int64_t bi, int64_t row, int64_t col, int64_t rows, int64_t cols,
                                       bool trans) {
    // Stored untransposed: row-major (rows, cols). Stored transposed: row-major (cols, rows).
    return trans ? p[(bi * cols + col) * rows + row] : p[(bi * rows + row) * cols + col];
}

/// a (B, M, K) or (B, K, M) with trans_a; b (B, K, N) or (B, N, K) with trans_b; c (B, M, N) assigned:
/// c[bi,m,n] = Σ_k A[bi,m,k]·B[bi,k,n].
template <typename T>
void matmul_forward_cpu(const T* a, const T* b, T* c, int64_t B, int64_t M, int64_t N, int64_t K, bool trans_a,
                        bool trans_b);

/// dc (B, M, N). da, db assigned in the STORED layouts of a and b (so (B, K, M) when trans_a); either may be null.
/// Logically dA = dC·Bᵀ and dB = Aᵀ·dC; each is computed as one matmul_forward_cpu with the flags chosen so that
/// no transposed copy is made.
template <typename T>
void matmul_backward_cpu(const T* a, const T* b, const T* dc, T* da, T* db, int64_t B, int64_t M, int64_t N,
                         int64_t K, bool trans_a, bool trans_b);

}  // namespace fs

namespace fs {
// --- the optimised f32 paths (kernels/cpu/linalg_fast.cpp): SGEMM, same contracts as above ----------------------
void dense_forward_fast(const float* x, const float* w, const float* b, float* y, int64_t N, int64_t IN, int64_t OUT);
void dense_backward_fast(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t N,
                         int64_t IN, int64_t OUT);
void matmul_forward_fast(const float* a, const float* b, float* c, int64_t B, int64_t M, int64_t N, int64_t K,
                         bool trans_a, bool trans_b);
void matmul_backward_fast(const float* a, const float* b, const float* dc, float* da, float* db, int64_t B, int64_t M,
                          int64_t N, int64_t K, bool trans_a, bool trans_b);
}  // namespace fs
