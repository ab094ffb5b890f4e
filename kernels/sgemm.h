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
#include <vector>

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

/// op(A) (M × K) packed once for the micro-kernel in use, for many products that share it: a convolution's weights,
/// used for every image and every block of its columns. Holds a copy; A may change or go away afterwards.
class SgemmPackedA {
 public:
    SgemmPackedA(bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda);
    SgemmPackedA(const SgemmPackedA&) = delete;
    SgemmPackedA& operator=(const SgemmPackedA&) = delete;
    SgemmPackedA(SgemmPackedA&&) = default;
    int64_t rows() const { return m_rows; }
    int64_t depth() const { return m_depth; }

 private:
    friend struct SgemmPackedAccess;
    int64_t m_rows, m_depth;
    SgemmKernel m_kernel;  // the family it was packed for
    std::vector<float> m_store;
    float* m_data = nullptr;  // 64-byte aligned, inside m_store
};

/// C (M × N) = alpha·A·B + beta·C with the packed A and B stored K × N (ldb >= N), in the calling thread (for
/// callers that share out their own work, such as a convolution's images). Rounds as sgemm does on products big
/// enough for it to pack (the same K blocks, the same kernel). Throws fs::Error on bad sizes, or if the kernel in
/// use is not the one A was packed for (sgemm_force_kernel in between).
void sgemm_packed(const SgemmPackedA& a, int64_t N, float alpha, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc);

/// A B (K × N) that is never stored whole, such as a convolution's im2col matrix: sgemm_packed asks for it block
/// by block in its packed form. pack writes B[k0 : k0+kc, j0 : j0+nc] as ceil(nc / width) panels of kc × width
/// floats, panel q at dst + q·kc·width, each k-major: dst[q·kc·width + k·width + c] = B(k0 + k, j0 + q·width + c),
/// zero past column nc. dst is 64-byte aligned; width is the kernel's panel width (8, 16 or 32).
class SgemmPackB {
 public:
    virtual ~SgemmPackB() = default;
    virtual void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int width, float* dst) const = 0;
};

/// sgemm_packed with B given by its packer.
void sgemm_packed(const SgemmPackedA& a, int64_t N, float alpha, const SgemmPackB& b, float beta, float* C,
                  int64_t ldc);

/// C (M × N) = alpha·op(A)·B + beta·C with op(A) stored (as for sgemm) and B given by its packer, in the calling
/// thread.
void sgemm_packed(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const SgemmPackB& b, float beta, float* C, int64_t ldc);

}  // namespace fs
