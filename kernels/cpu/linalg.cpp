// linalg.cpp: reference CPU kernels for dense and batched matmul.
// Readable over fast: plain loops, no blocking, no threads. Two loop shapes are used and chosen for the
// layout, not for cleverness:
//   - dot products (a scalar accumulator) where both operands are read along contiguous rows; the accumulator is
//     double, which costs nothing in a scalar loop and keeps the reference the more accurate side of any
//     comparison with a future CUDA kernel;
//   - row updates ("axpy": row_out += s·row_in) where the output is a whole row; these accumulate in T so the
//     compiler can vectorise them, which keeps the naive kernels usable at the model's real shapes.
#include "kernels/linalg.h"

#include <algorithm>

namespace fs {

// --- dense -----------------------------------------------------------------------------------------------------

template <typename T>
void dense_forward_cpu(const T* x, const T* w, const T* b, T* y, int64_t N, int64_t IN, int64_t OUT) {
    for (int64_t n = 0; n < N; ++n) {
        const T* xr = x + n * IN;  // one sample's features
        for (int64_t o = 0; o < OUT; ++o) {
            // The weight row of output o is contiguous (OUT, IN layout), so this is a dot of two rows.
            const T* wr = w + o * IN;
            double acc = b ? double(b[o]) : 0.0;
            for (int64_t i = 0; i < IN; ++i) acc += double(xr[i]) * double(wr[i]);
            y[n * OUT + o] = T(acc);
        }
    }
}

template <typename T>
void dense_backward_cpu(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int64_t N, int64_t IN,
                        int64_t OUT) {
    // dx[n,:] = Σ_o dy[n,o]·w[o,:]: a sum of weight rows, each scaled by one upstream gradient.
    if (dx) {
        std::fill(dx, dx + N * IN, T(0));
        for (int64_t n = 0; n < N; ++n)
            for (int64_t o = 0; o < OUT; ++o) {
                const T g = dy[n * OUT + o];
                const T* wr = w + o * IN;
                T* dxr = dx + n * IN;
                for (int64_t i = 0; i < IN; ++i) dxr[i] += g * wr[i];
            }
    }
    // dw[o,:] = Σ_n dy[n,o]·x[n,:]: every sample adds its input row, scaled, to the weight row of output o.
    if (dw) {
        std::fill(dw, dw + OUT * IN, T(0));
        for (int64_t o = 0; o < OUT; ++o)
            for (int64_t n = 0; n < N; ++n) {
                const T g = dy[n * OUT + o];
                const T* xr = x + n * IN;
                T* dwr = dw + o * IN;
                for (int64_t i = 0; i < IN; ++i) dwr[i] += g * xr[i];
            }
    }
    // The bias is added to every sample, so its gradient is the column sum of dy.
    if (db) {
        for (int64_t o = 0; o < OUT; ++o) {
            double acc = 0;
            for (int64_t n = 0; n < N; ++n) acc += double(dy[n * OUT + o]);
            db[o] = T(acc);
        }
    }
}

// --- matmul ----------------------------------------------------------------------------------------------------

template <typename T>
void matmul_forward_cpu(const T* a, const T* b, T* c, int64_t B, int64_t M, int64_t N, int64_t K, bool trans_a,
                        bool trans_b) {
    for (int64_t bi = 0; bi < B; ++bi)
        for (int64_t m = 0; m < M; ++m) {
            // Row m of c is built as Σ_k A[m,k]·(row k of B): the "i-k-j" order. Its inner loop runs along a row
            // of c and (untransposed) a row of b, both contiguous, so it vectorises; the triple loop itself is
            // the textbook one.
            T* cr = c + (bi * M + m) * N;
            std::fill(cr, cr + N, T(0));
            for (int64_t k = 0; k < K; ++k) {
                const T av = matmul_operand(a, bi, m, k, M, K, trans_a);
                for (int64_t n = 0; n < N; ++n) cr[n] += av * matmul_operand(b, bi, k, n, K, N, trans_b);
            }
        }
}

template <typename T>
void matmul_backward_cpu(const T* a, const T* b, const T* dc, T* da, T* db, int64_t B, int64_t M, int64_t N,
                         int64_t K, bool trans_a, bool trans_b) {
    // Logical product C (M,N) = A (M,K) · B (K,N). dc is stored (M, N), untransposed.
    // Each gradient is produced directly in its operand's stored layout by one forward call; the flag of an
    // operand says whether its storage is the transpose of the logical matrix the call needs.
    if (da) {
        if (!trans_a) {
            // da stored (M, K) = dC (M,N) · Bᵀ (N,K). Bᵀ is b's storage itself when trans_b (stored (N,K)).
            matmul_forward_cpu(dc, b, da, B, M, K, N, false, !trans_b);
        } else {
            // da stored (K, M) = dAᵀ = B (K,N) · dCᵀ (N,M). B is stored transposed exactly when trans_b.
            matmul_forward_cpu(b, dc, da, B, K, M, N, trans_b, true);
        }
    }
    if (db) {
        if (!trans_b) {
            // db stored (K, N) = Aᵀ (K,M) · dC (M,N). Aᵀ is a's storage itself when trans_a (stored (K,M)).
            matmul_forward_cpu(a, dc, db, B, K, N, M, !trans_a, false);
        } else {
            // db stored (N, K) = dBᵀ = dCᵀ (N,M) · A (M,K). A is stored transposed exactly when trans_a.
            matmul_forward_cpu(dc, a, db, B, N, K, M, true, trans_a);
        }
    }
}

#define FS_INSTANTIATE(T)                                                                                       \
    template void dense_forward_cpu<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t);            \
    template void dense_backward_cpu<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, int64_t);   \
    template void matmul_forward_cpu<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, bool, bool); \
    template void matmul_backward_cpu<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t, int64_t,       \
                                         int64_t, bool, bool);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)
#undef FS_INSTANTIATE

}  // namespace fs
