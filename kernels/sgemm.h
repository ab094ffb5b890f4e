// sgemm.h: single-precision matrix multiply, the workhorse behind dense layers and im2col convolutions.
// Row-major throughout: element (i, j) of a matrix with leading dimension ld is at p[i·ld + j].
//   C (M,N) = alpha · op(A) · op(B) + beta · C,   op(A) (M,K), op(B) (K,N)
// op(A) = A (stored M×K, lda >= K) or Aᵀ (stored K×M, lda >= M) when trans_a; likewise op(B) = B (stored K×N,
// ldb >= N) or Bᵀ (stored N×K, ldb >= K). ldc >= N. beta == 0 assigns C without reading it (C may hold NaN);
// otherwise C is scaled and accumulated into. Only the M×N window of C is written.
// sgemm is the fast path (packed, cache-blocked, AVX-512 / AVX2 micro-kernels, threaded with parallel_for);
// sgemm_reference is the naive triple loop, the specification the fast one is tested against.
#pragma once
#include <cstdint>

namespace fs {

/// C = alpha·op(A)·op(B) + beta·C, fast path. Throws fs::Error on negative sizes or too-small leading dimensions.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

/// Same contract as sgemm: the plain triple loop, k innermost, accumulated in double and rounded once to float.
/// Slow; the oracle for tests.
void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

/// The micro-kernel families sgemm can run. `automatic` picks the best the CPU supports at run time.
enum class SgemmKernel { automatic, avx512, avx2, generic };

/// Forces a micro-kernel family (tests use it to cover the fallbacks on an AVX-512 machine) and returns the one
/// in force before. Forcing a family the CPU lacks throws fs::Error. Not for use while sgemm runs elsewhere.
SgemmKernel sgemm_force_kernel(SgemmKernel k);

/// The family sgemm uses now (never `automatic`).
SgemmKernel sgemm_kernel_in_use();

/// "avx512", "avx2" or "generic".
const char* sgemm_kernel_name(SgemmKernel k);

}  // namespace fs
