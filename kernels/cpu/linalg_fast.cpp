// linalg_fast.cpp: dense and batched matmul on the packed SGEMM (kernels/sgemm.h). The transposes are folded
// into SGEMM's op() flags; nothing is copied.
#include <algorithm>

#include "kernels/linalg.h"
#include "kernels/sgemm.h"

namespace fs {

void dense_forward_fast(const float* x, const float* w, const float* b, float* y, int64_t N, int64_t IN, int64_t OUT) {
    // y (N, OUT) = x (N, IN) · wᵀ (IN, OUT) + b
    if (b)
        for (int64_t n = 0; n < N; ++n) std::copy(b, b + OUT, y + n * OUT);
    sgemm(false, true, N, OUT, IN, 1.f, x, IN, w, IN, b ? 1.f : 0.f, y, OUT);
}

void dense_backward_fast(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t N,
                         int64_t IN, int64_t OUT) {
    if (dx) sgemm(false, false, N, IN, OUT, 1.f, dy, OUT, w, IN, 0.f, dx, IN);  // dx = dy · w
    if (dw) sgemm(true, false, OUT, IN, N, 1.f, dy, OUT, x, IN, 0.f, dw, IN);   // dw = dyᵀ · x
    if (db) {
        for (int64_t o = 0; o < OUT; ++o) {
            double s = 0;  // accumulate the batch sum in double, as the reference does
            for (int64_t n = 0; n < N; ++n) s += dy[n * OUT + o];
            db[o] = float(s);
        }
    }
}

void matmul_forward_fast(const float* a, const float* b, float* c, int64_t B, int64_t M, int64_t N, int64_t K,
                         bool trans_a, bool trans_b) {
    for (int64_t i = 0; i < B; ++i)
        sgemm(trans_a, trans_b, M, N, K, 1.f, a + i * M * K, trans_a ? M : K, b + i * K * N, trans_b ? K : N, 0.f,
              c + i * M * N, N);
}

void matmul_backward_fast(const float* a, const float* b, const float* dc, float* da, float* db, int64_t B, int64_t M,
                          int64_t N, int64_t K, bool trans_a, bool trans_b) {
    for (int64_t i = 0; i < B; ++i) {
        const float *ai = a + i * M * K, *bi = b + i * K * N, *dci = dc + i * M * N;
        // C = op(A) op(B): d op(A) = dC op(B)ᵀ (M, K), d op(B) = op(A)ᵀ dC (K, N); a transposed operand gets the
        // transpose of that, written in its own stored layout.
        if (da) {
            if (!trans_a) sgemm(false, !trans_b, M, K, N, 1.f, dci, N, bi, trans_b ? K : N, 0.f, da + i * M * K, K);
            else sgemm(trans_b, true, K, M, N, 1.f, bi, trans_b ? K : N, dci, N, 0.f, da + i * M * K, M);
        }
        if (db) {
            if (!trans_b) sgemm(!trans_a, false, K, N, M, 1.f, ai, trans_a ? M : K, dci, N, 0.f, db + i * K * N, N);
            else sgemm(true, trans_a, N, K, M, 1.f, dci, N, ai, trans_a ? M : K, 0.f, db + i * K * N, K);
        }
    }
}

}  // namespace fs
