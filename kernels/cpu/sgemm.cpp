// sgemm.cpp: the packed, cache-blocked SGEMM (GotoBLAS/BLIS structure) and its naive reference.
//
// Loop nest of one thread, computing a column slice C[:, n0:n1) (threads split N, or M when M is the larger
// side; see sgemm()):
//
//   for jc in N step NC                 B block  (KC x NC, packed)   -> L2, reused by every MR row panel
//     for pc in K step KC
//       pack op(B)[pc:+KC, jc:+NC] into NR-wide panels, k-major: panel[k][0..NR)
//       for ic in M step MR             A panel  (MR x KC, packed)   -> L1, reused by every NR column panel
//         pack op(A)[ic:+MR, pc:+KC] k-major: panel[k][0..MR)
//         for jr in NC step NR
//           micro-kernel: C[ic:+MR, jc+jr:+NR] (+)= alpha · Apanel · Bpanel
//
// The micro-kernel keeps the whole MR x NR tile of C in registers: for each k it loads NR floats of B (NR/16
// zmm) and broadcasts MR floats of A, one FMA per (row, B vector). Edge tiles (fewer than MR rows or NR columns)
// run the same kernel on zero-padded panels into a small aligned tile and a scalar loop merges the valid part
// into C, so C is never touched outside its M x N window.
//
// Blocking for Zen 4 (32 KiB L1d, 1 MiB private L2, shared L3), AVX-512 kernel MR x NR = 12 x 32:
//  * MR x NR = 12 x 32: 24 zmm accumulators + 2 B vectors + 1 broadcast fit the 32 zmm registers; 24 independent
//    FMA chains cover the 4-cycle FMA latency at Zen 4's one 512-bit FMA per cycle many times over, and each k
//    step needs 2 vector loads + 12 broadcasts for 24 FMAs, well inside the 2-3 loads per cycle the core can do.
//  * KC = 256: the A panel (12 x 256 x 4 B = 12 KiB) is reused by all NC/NR = 16 kernel calls of a row panel
//    while 32 KiB B panels stream in from L2: 128 B per k step, i.e. per ~24 cycles, far below L2's bandwidth
//    (a replica of this inner loop with B in L2 runs at 97 % of the FMA peak). Smaller KC would load and store
//    each C tile more often (once per KC: KC = 128 measured 6 % slower); larger KC, a bigger B block.
//  * NC = 512: the packed B block is 256 x 512 x 4 B = 512 KiB, half of the private L2, leaving room for the A
//    panel being packed, C tiles and the streaming reads of A. Each thread has its own B block in its own L2.
//  * No MC blocking: A panels are packed one at a time right before use (so they are hot in L1), which repacks
//    op(A) once per NC columns: M·K copies against 2·M·NC·K flops. With 2 threads splitting 1024³ by N, each
//    thread packs all of A exactly once.
//  * K and N are cut into near-equal blocks (K = 300 becomes 2 x 150, not 256 + 44) so no block is tiny.
// Packing costs were what stood between a fast kernel and a fast GEMM here: scalar strided packing of
// untransposed A took ~11 % of a 1024³ run, so the transposing packs use 16 x 16 in-register transposes; B rows
// are dealt out to the panels in row order (sequential reads); and the kernels prefetch the next B block while
// they compute, so its L3/DRAM reads overlap the FMAs (a 10 % gain on the 128 x 8192 x 576 conv shape, ~40 % on
// the weight-bound 8 x 1024 x 16384 dense shape). Measured on the 2-core Zen 4 at 1024³: ~90 % of the FMA peak
// on one core and on two; see bench/bench_sgemm.cpp.
// AVX2 fallback: MR x NR = 6 x 16 (12 ymm accumulators + 2 B + 1 broadcast of 16 registers), the same NC, and
// KC = 384: each C tile is loaded and stored once per K block, and at 12 FMAs per k step a 256-step block spends
// relatively more on that than the 12 x 32 kernel's; on Zen 3, in pairs inside one binary against KC = 256, the
// stride-2 encoder and discriminator convs (per-image 128 x 1024 x 576 and similar products) ran 1-6 % faster
// (320 and 512 gained about as much; 384 keeps a 24 KiB B panel inside the 32 KiB L1), 1024³ the same.
// (On Zen 4 it runs 1024³ at ~95 % of the AVX-512 kernel's speed: two 256-bit FMAs per cycle are the same peak.)
// Generic fallback: plain C++ 4 x 8 tile, whatever the compiler makes of it (SSE2 on baseline x86-64).
// sgemm_packed runs the same loop nest (gemm_blocked_on) in the calling thread on an op(A) packed once ahead
// (SgemmPackedA: K block by K block, all of its row panels), with B stored or packed by the caller's SgemmPackB: a
// convolution's forward packs its weights once for all images and gathers its column matrix straight into the
// B panels, so that matrix is never stored.
#include "kernels/sgemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/scratch.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "tensor/error.h"

#if defined(FS_X86_SIMD)
#define FS_SGEMM_X86 1
// Functions compiled for AVX-512 (called only after __builtin_cpu_supports said yes; the rest of the file stays
// baseline x86-64, so the library runs anywhere).
#define FS_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define FS_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define FS_SGEMM_X86 0
#endif

namespace fs {

// ---------------------------------------------------------------------------------------------------------------
// Reference: the specification. Accumulates in double so it is (nearly) exact and the fast path's float rounding
// is the only error a test sees.
void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) {
                double a = trans_a ? A[k * lda + i] : A[i * lda + k];  // op(A)(i, k)
                double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];  // op(B)(k, j)
                s += a * b;
            }
            double out = double(alpha) * s;
            if (beta != 0.0f) out += double(beta) * double(C[i * ldc + j]);  // beta 0: C is never read
            C[i * ldc + j] = float(out);
        }
}

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Blocking (see the file header for the reasoning).
constexpr int64_t k_kc = 256;
// The AVX2 (and generic) paths' K block (see the file header): 384 (the A block 180 KiB in L2, a B panel 24 KiB
// in L1).
constexpr int64_t k_kc_avx2 = 384;
constexpr int64_t k_nc = 512;
constexpr int k_max_mr = 16, k_max_nr = 32;  // bounds of every kernel's tile (the edge-tile buffer)
// Rows of A packed at once on the BLIS-order path (AVX2): 20 row panels of 6, 180 KiB at its KC of 384, in L2.
constexpr int64_t k_mc = 120;

// Problems below this many flops run in the calling thread: the hand-off to a worker costs a few µs.
constexpr double k_parallel_min_flops = 2.0 * 96 * 96 * 96;
// Problems below this many multiply-adds skip packing altogether (packing + a mostly padded tile cost more).
constexpr int64_t k_small_mnk = 32 * 32 * 32;

// Walks the cache lines of a strided 2-D region (rows x span floats, rows `stride` floats apart), issuing software
// prefetches, at most `budget` per kernel call. The kernels issue two per k step, so the next B block streams in
// at a steady rate while the FMAs run, instead of in bursts that fill the miss queues (see gemm_blocked).
struct LinePrefetch {
    const char* base = nullptr;
    int64_t stride = 0, lines = 0, rows = 0, row = 0, line = 0, budget = 0;
    LinePrefetch() = default;
    LinePrefetch(const float* p, int64_t nrows, int64_t stride_floats, int64_t span_floats)
        : base(reinterpret_cast<const char*>(p)),
          stride(stride_floats * 4),
          lines(span_floats > 0 ? (span_floats * 4 + 63) / 64 + 1 : 0),  // +1: the span need not start on a line
          rows(nrows) {}
    int64_t total() const { return rows * lines; }
    inline void issue() {
        if (budget <= 0 || row >= rows) return;
        __builtin_prefetch(base + row * stride + line * 64, 0, 2);  // prefetcht1: for L2 and beyond
        if (++line == lines) line = 0, ++row;
        --budget;
    }
};

// A micro-kernel: C[0:MR, 0:NR] = alpha · sum_k a[k·MR + i] · b[k·NR + j] + beta · C (beta 0: C not read).
// a and b are packed panels (64-byte aligned), c has leading dimension ldc and any alignment. pf: lines to
// prefetch along the way (two per k step; the generic kernel ignores it).
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta,
                             LinePrefetch* pf);

struct KernelInfo {
    SgemmKernel id;
    int mr, nr;
    MicroKernel fn;
};

// --- AVX-512: 12 x 32 ------------------------------------------------------------------------------------------
#if FS_SGEMM_X86
constexpr int k_mr512 = 12, k_nr512 = 32;

FS_TARGET_AVX512 void kernel_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                                    float beta, LinePrefetch* pf) {
    constexpr int MR = k_mr512;
    __m512 acc0[MR], acc1[MR];  // row i: columns 0..15 and 16..31
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
    // The C tile is read and written only after the k loop; fetching it now (with write intent) hides the L3
    // latency of those 24-36 lines behind the FMAs instead of paying it at the end (~2 % at 1024³).
    for (int i = 0; i < MR; ++i) {
        __builtin_prefetch(c + i * ldc, 1, 3);
        __builtin_prefetch(c + i * ldc + 16, 1, 3);
        __builtin_prefetch(c + i * ldc + 31, 1, 3);
    }
    LinePrefetch p = *pf;  // a local copy stays in registers
    for (int64_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
        p.issue();
        p.issue();
        a += MR;
        b += k_nr512;
    }
    *pf = p;
    const __m512 va = _mm512_set1_ps(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(acc0[i], va));
            _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(acc1[i], va));
        }
    } else {
        const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            float* ci = c + i * ldc;
            _mm512_storeu_ps(ci, _mm512_fmadd_ps(acc0[i], va, _mm512_mul_ps(_mm512_loadu_ps(ci), vb)));
            _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(acc1[i], va, _mm512_mul_ps(_mm512_loadu_ps(ci + 16), vb)));
        }
    }
}

// Packing with in-register 16 x 16 transposes, for the two layouts where packing is a transpose: op(A) rows
// (untransposed A) into k-major 12-wide panels, and op(B) columns (transposed B) into k-major 32-wide panels.
// Scalar gathers cost ~1.3 cycles per element there, ~6 % of a 1024³ GEMM; this is ~4x cheaper
// (transpose16x16_avx512, simd.h).

// dst[k·12 + r] = src[r·lda + k] for 12 full rows, k < kc.
FS_TARGET_AVX512 void pack_rows12_avx512(const float* src, int64_t lda, int64_t kc, float* dst) {
    constexpr int R = k_mr512;
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) {
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) r[i] = i < R ? _mm512_loadu_ps(src + i * lda + k) : _mm512_setzero_ps();
        transpose16x16_avx512(r);
#pragma GCC unroll 16
        for (int j = 0; j < 16; ++j) _mm512_mask_storeu_ps(dst + (k + j) * R, __mmask16((1u << R) - 1), r[j]);
    }
    for (; k < kc; ++k)
        for (int i = 0; i < R; ++i) dst[k * R + i] = src[i * lda + k];
}

// dst[k·32 + c] = src[c·ldb + k] for 32 full columns, k < kc; dst 64-byte aligned.
FS_TARGET_AVX512 void pack_cols32_avx512(const float* src, int64_t ldb, int64_t kc, float* dst) {
    constexpr int C = k_nr512;
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16)
        for (int g = 0; g < C; g += 16) {
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + (g + i) * ldb + k);
            transpose16x16_avx512(r);
#pragma GCC unroll 16
            for (int j = 0; j < 16; ++j) _mm512_store_ps(dst + (k + j) * C + g, r[j]);
        }
    for (; k < kc; ++k)
        for (int c = 0; c < C; ++c) dst[k * C + c] = src[c * ldb + k];
}

// dst[k·12 + r] = src[k·lda + r] for 12 columns, k < kc: transposed A, where each k gives 12 contiguous floats
// (a 48-byte memcpy call per k cost ~8 % of the conv backward-data GEMMs, whose op(A) = Wᵀ).
FS_TARGET_AVX512 void pack_cols12_avx512(const float* src, int64_t lda, int64_t kc, float* dst) {
    constexpr int R = k_mr512;
    const __mmask16 m = __mmask16((1u << R) - 1);
    for (int64_t k = 0; k < kc; ++k) _mm512_mask_storeu_ps(dst + k * R, m, _mm512_maskz_loadu_ps(m, src + k * lda));
}

// dst panels (kc x 32 each, kc·32 floats apart) from the row segments src[k·ldb + 0 .. nc); the last panel's
// columns beyond nc are zero (masked loads never touch memory past the segment).
FS_TARGET_AVX512 void pack_rowsegs32_avx512(const float* src, int64_t ldb, int64_t kc, int64_t nc, float* dst) {
    constexpr int C = k_nr512;
    const int64_t full = nc / C, rem = nc % C;
    const __mmask16 m0 = __mmask16(rem >= 16 ? 0xFFFF : (1u << rem) - 1);
    const __mmask16 m1 = __mmask16(rem > 16 ? (1u << (rem - 16)) - 1 : 0);
    for (int64_t k = 0; k < kc; ++k, src += ldb) {
        float* d = dst + k * C;
        for (int64_t p = 0; p < full; ++p, d += kc * C) {
            _mm512_store_ps(d, _mm512_loadu_ps(src + p * C));
            _mm512_store_ps(d + 16, _mm512_loadu_ps(src + p * C + 16));
        }
        if (rem > 0) {
            _mm512_store_ps(d, _mm512_maskz_loadu_ps(m0, src + full * C));
            _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(m1, src + full * C + 16));
        }
    }
}

// --- AVX2 + FMA: 6 x 16 ----------------------------------------------------------------------------------------
constexpr int k_mr256 = 6, k_nr256 = 16;

// The AVX2 packs, the same four layouts with 8 × 8 in-register transposes (transpose8x8_avx2) and whole-vector
// copies. Their scalar loops were ~20 % of the stride-2 encoder convolutions' GEMM time on Zen 3 (the strided
// single-float stores of a transposed B above all).

// dst[k·6 + r] = src[r·lda + k] for 6 full rows, k < kc (two rows of each transpose are zero and not stored).
FS_TARGET_AVX2 void pack_rows6_avx2(const float* src, int64_t lda, int64_t kc, float* dst) {
    constexpr int R = k_mr256;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) r[i] = i < R ? _mm256_loadu_ps(src + i * lda + k) : _mm256_setzero_ps();
        transpose8x8_avx2(r);
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            float* d = dst + (k + j) * R;
            _mm_storeu_ps(d, _mm256_castps256_ps128(r[j]));
            _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm256_extractf128_ps(r[j], 1));
        }
    }
    for (; k < kc; ++k)
        for (int i = 0; i < R; ++i) dst[k * R + i] = src[i * lda + k];
}

// dst[k·16 + c] = src[c·ldb + k] for 16 full columns, k < kc; dst 32-byte aligned.
FS_TARGET_AVX2 void pack_cols16_avx2(const float* src, int64_t ldb, int64_t kc, float* dst) {
    constexpr int C = k_nr256;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8)
        for (int g = 0; g < C; g += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (g + i) * ldb + k);
            transpose8x8_avx2(r);
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) _mm256_store_ps(dst + (k + j) * C + g, r[j]);
        }
    for (; k < kc; ++k)
        for (int c = 0; c < C; ++c) dst[k * C + c] = src[c * ldb + k];
}

// dst[k·6 + r] = src[k·lda + r] for 6 columns, k < kc (transposed A: 6 contiguous floats per k).
FS_TARGET_AVX2 void pack_cols6_avx2(const float* src, int64_t lda, int64_t kc, float* dst) {
    for (int64_t k = 0; k < kc; ++k) {
        const __m256 v = load8_avx2(src + k * lda, k_mr256);  // a masked load: nothing past the 6 floats is read
        float* d = dst + k * k_mr256;
        _mm_storeu_ps(d, _mm256_castps256_ps128(v));
        _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm256_extractf128_ps(v, 1));
    }
}

// dst panels (kc x 16 each, kc·16 floats apart) from the row segments src[k·ldb + 0 .. nc); the last panel's
// columns beyond nc are zero (load8_avx2 reads nothing past the segment).
FS_TARGET_AVX2 void pack_rowsegs16_avx2(const float* src, int64_t ldb, int64_t kc, int64_t nc, float* dst) {
    constexpr int C = k_nr256;
    const int64_t full = nc / C, rem = nc % C;
    for (int64_t k = 0; k < kc; ++k, src += ldb) {
        float* d = dst + k * C;
        for (int64_t p = 0; p < full; ++p, d += kc * C) {
            _mm256_store_ps(d, _mm256_loadu_ps(src + p * C));
            _mm256_store_ps(d + 8, _mm256_loadu_ps(src + p * C + 8));
        }
        if (rem > 0) {
            _mm256_store_ps(d, load8_avx2(src + full * C, std::min<int64_t>(rem, 8)));
            _mm256_store_ps(d + 8, rem > 8 ? load8_avx2(src + full * C + 8, rem - 8) : _mm256_setzero_ps());
        }
    }
}

FS_TARGET_AVX2 void kernel_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                                float beta, LinePrefetch* pf) {
    constexpr int MR = k_mr256;
    __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
        __builtin_prefetch(c + i * ldc, 1, 3);
        __builtin_prefetch(c + i * ldc + 15, 1, 3);
    }
    LinePrefetch p = *pf;  // a local copy stays in registers
    // Two prefetches per 8 k steps, not per step: the budget of a call is a few lines, and checking it on every
    // step was a third of the loop's instructions at 12 FMAs per step (1024³ on one Zen 3 core: 30 -> 27 ms).
    for (int64_t k0 = 0; k0 < kc; k0 += 8) {
        p.issue();
        p.issue();
        const int64_t k1 = std::min<int64_t>(kc, k0 + 8);
        for (int64_t k = k0; k < k1; ++k) {
            const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
            for (int i = 0; i < MR; ++i) {
                const __m256 ai = _mm256_broadcast_ss(a + i);
                acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
                acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
            }
            a += MR;
            b += k_nr256;
        }
    }
    *pf = p;
    const __m256 va = _mm256_set1_ps(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(acc0[i], va));
            _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(acc1[i], va));
        }
    } else {
        const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            float* ci = c + i * ldc;
            _mm256_storeu_ps(ci, _mm256_fmadd_ps(acc0[i], va, _mm256_mul_ps(_mm256_loadu_ps(ci), vb)));
            _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(acc1[i], va, _mm256_mul_ps(_mm256_loadu_ps(ci + 8), vb)));
        }
    }
}
#endif  // FS_SGEMM_X86

// --- generic: 4 x 8 in plain C++ -------------------------------------------------------------------------------
constexpr int k_mr_gen = 4, k_nr_gen = 8;

void kernel_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta,
                    LinePrefetch*) {
    // 4 x 8 floats: 8 SSE registers of accumulators once the compiler unrolls, leaving room for B and A.
    float acc[k_mr_gen][k_nr_gen] = {};
    for (int64_t k = 0; k < kc; ++k, a += k_mr_gen, b += k_nr_gen)
#pragma GCC unroll 4
        for (int i = 0; i < k_mr_gen; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < k_nr_gen; ++j) acc[i][j] += a[i] * b[j];
    for (int i = 0; i < k_mr_gen; ++i)
        for (int j = 0; j < k_nr_gen; ++j) {
            float& cij = c[i * ldc + j];
            cij = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * cij;
        }
}

static_assert(k_mr_gen <= k_max_mr && k_nr_gen <= k_max_nr, "edge tile too small");
#if FS_SGEMM_X86
static_assert(k_mr512 <= k_max_mr && k_nr512 <= k_max_nr && k_mr256 <= k_max_mr && k_nr256 <= k_max_nr,
              "edge tile too small");
#endif

bool cpu_has(SgemmKernel k) {
    switch (k) {
#if FS_SGEMM_X86
        case SgemmKernel::avx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("fma");
        case SgemmKernel::avx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
        case SgemmKernel::generic:
            return true;
        default:
            return false;
    }
}

KernelInfo kernel_info(SgemmKernel k) {
    switch (k) {
#if FS_SGEMM_X86
        case SgemmKernel::avx512:
            return {k, k_mr512, k_nr512, kernel_avx512};
        case SgemmKernel::avx2:
            return {k, k_mr256, k_nr256, kernel_avx2};
#endif
        default:
            return {SgemmKernel::generic, k_mr_gen, k_nr_gen, kernel_generic};
    }
}

SgemmKernel best_kernel() {
    for (SgemmKernel k : {SgemmKernel::avx512, SgemmKernel::avx2})
        if (cpu_has(k)) return k;
    return SgemmKernel::generic;
}

std::atomic<SgemmKernel> g_forced{SgemmKernel::automatic};

SgemmKernel kernel_now() {
    static const SgemmKernel best = best_kernel();
    SgemmKernel f = g_forced.load(std::memory_order_relaxed);
    if (f != SgemmKernel::automatic) return f;
    if (best == SgemmKernel::avx512 && simd_level() < SimdLevel::avx512)  // the SIMD cap (kernels/fast.h)
        return simd_level() >= SimdLevel::avx2 ? SgemmKernel::avx2 : SgemmKernel::generic;
    return best;
}

// ---------------------------------------------------------------------------------------------------------------
// Per-thread packing buffers (kernels/cpu/scratch.h): grown on demand and kept, so steady-state GEMMs allocate
// nothing.
thread_local ScratchBuffer t_pack_a("sgemm"), t_pack_b("sgemm");

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Near-equal block size: [0, n) cut into ceil(n / max_block) blocks, each at most max_block, rounded up to a
// multiple of `align` (a multiple of align stays so).
inline int64_t balanced_block(int64_t n, int64_t max_block, int64_t align) {
    int64_t blocks = ceil_div(n, max_block);
    int64_t b = ceil_div(ceil_div(n, blocks), align) * align;
    return std::min(b, std::max(max_block, align));
}

// Packs op(A)[i0 : i0+m, k0 : k0+kc] into one MR x kc panel, k-major (dst[k·MR + r]), rows m..MR zero.
void pack_a(bool trans_a, const float* A, int64_t lda, int64_t i0, int64_t k0, int64_t m, int64_t kc, int MR,
            bool avx512, bool avx2, float* dst) {
#if FS_SGEMM_X86
    if (avx512 && !trans_a && m == k_mr512 && MR == k_mr512) return pack_rows12_avx512(A + i0 * lda + k0, lda, kc, dst);
    if (avx512 && trans_a && m == k_mr512 && MR == k_mr512) return pack_cols12_avx512(A + k0 * lda + i0, lda, kc, dst);
    if (avx2 && !trans_a && m == k_mr256 && MR == k_mr256) return pack_rows6_avx2(A + i0 * lda + k0, lda, kc, dst);
    if (avx2 && trans_a && m == k_mr256 && MR == k_mr256) return pack_cols6_avx2(A + k0 * lda + i0, lda, kc, dst);
#else
    (void)avx512;
    (void)avx2;
#endif
    if (!trans_a) {
        // op(A)(i, k) = A[i·lda + k]: m row streams advancing together, contiguous writes.
        const float* src = A + i0 * lda + k0;
        for (int64_t k = 0; k < kc; ++k) {
            float* d = dst + k * MR;
            for (int64_t r = 0; r < m; ++r) d[r] = src[r * lda + k];
            for (int64_t r = m; r < MR; ++r) d[r] = 0.0f;
        }
    } else {
        // op(A)(i, k) = A[k·lda + i]: each k gives m contiguous floats.
        for (int64_t k = 0; k < kc; ++k) {
            const float* src = A + (k0 + k) * lda + i0;
            float* d = dst + k * MR;
            std::memcpy(d, src, size_t(m) * sizeof(float));
            for (int64_t r = m; r < MR; ++r) d[r] = 0.0f;
        }
    }
}

// Packs op(B)[k0 : k0+kc, j0 : j0+nc] into ceil(nc/NR) panels of kc x NR, each k-major (panel[k·NR + c]),
// panel p at dst + p·kc·NR; columns beyond nc are zero.
void pack_b(bool trans_b, const float* B, int64_t ldb, int64_t k0, int64_t j0, int64_t kc, int64_t nc, int NR,
            bool avx512, bool avx2, float* dst) {
    if (!trans_b) {
        // op(B)(k, j) = B[k·ldb + j]: walk each row segment once, left to right, dealing NR-wide pieces out to the
        // panels. Sequential reads are what the prefetchers (and DRAM pages) like; panel-by-panel order would read
        // B in 128-byte column strips.
#if FS_SGEMM_X86
        if (avx512 && NR == k_nr512) return pack_rowsegs32_avx512(B + k0 * ldb + j0, ldb, kc, nc, dst);
        if (avx2 && NR == k_nr256) return pack_rowsegs16_avx2(B + k0 * ldb + j0, ldb, kc, nc, dst);
#else
        (void)avx512;
        (void)avx2;
#endif
        for (int64_t k = 0; k < kc; ++k) {
            const float* src = B + (k0 + k) * ldb + j0;
            float* d = dst + k * NR;
            for (int64_t jp = 0; jp < nc; jp += NR, d += kc * NR) {
                const int64_t n = std::min<int64_t>(NR, nc - jp);
                for (int64_t c = 0; c < n; ++c) d[c] = src[jp + c];
                for (int64_t c = n; c < NR; ++c) d[c] = 0.0f;
            }
        }
        return;
    }
    for (int64_t jp = 0; jp < nc; jp += NR, dst += kc * NR) {
        const int64_t n = std::min<int64_t>(NR, nc - jp);
#if FS_SGEMM_X86
        if (avx512 && n == k_nr512 && NR == k_nr512) {
            pack_cols32_avx512(B + (j0 + jp) * ldb + k0, ldb, kc, dst);
            continue;
        }
        if (avx2 && n == k_nr256 && NR == k_nr256) {
            pack_cols16_avx2(B + (j0 + jp) * ldb + k0, ldb, kc, dst);
            continue;
        }
#endif
        // op(B)(k, j) = B[j·ldb + k]: read each stored row (a column of op(B)) contiguously.
        for (int64_t c = 0; c < n; ++c) {
            const float* src = B + (j0 + jp + c) * ldb + k0;
            for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = src[k];
        }
        for (int64_t c = n; c < NR; ++c)
            for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = 0.0f;
    }
}

// The K block of a product of depth K on kernel ki (sgemm's and SgemmPackedA's, which must agree).
int64_t k_block(const KernelInfo& ki, int64_t K) {
    return balanced_block(K, ki.id == SgemmKernel::avx512 ? k_kc : k_kc_avx2, 8);
}

// The B side of gemm_blocked_on for a stored op(B): packs a block with pack_b, and names the next block's source
// lines for the kernels to prefetch while this one computes (otherwise pack_b is a burst of L3/DRAM reads with
// nothing to overlap: 18 % of the time for the 128 x 8192 x 576 conv shape, half of it for the 8 x 1024 x 16384
// dense one).
struct StoredB {
    bool trans;
    const float* B;
    int64_t ldb;
    void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, const KernelInfo& ki, float* dst) const {
        pack_b(trans, B, ldb, k0, j0, kc, nc, ki.nr, ki.id == SgemmKernel::avx512, ki.id == SgemmKernel::avx2, dst);
    }
    LinePrefetch lines(int64_t k0, int64_t kc, int64_t j0, int64_t nc) const {
        return trans ? LinePrefetch(B + j0 * ldb + k0, nc, ldb, kc) : LinePrefetch(B + k0 * ldb + j0, kc, ldb, nc);
    }
};

// The blocked GEMM over one sub-problem, in the calling thread. a_panels(ic, mc, pc, kc) returns the packed panels
// of op(A)[ic : ic+mc, pc : pc+kc]: ceil(mc / MR) panels of kc × MR, one after another (packed on the spot by
// gemm_blocked, or taken from an SgemmPackedA). b packs op(B)'s blocks (b.pack) and names the lines to prefetch
// for the next one (b.lines).
template <typename APanels, typename BSide>
void gemm_blocked_on(const KernelInfo& ki, int64_t M, int64_t N, int64_t K, float alpha, const APanels& a_panels,
                     const BSide& b, float beta, float* C, int64_t ldc) {
    const int MR = ki.mr, NR = ki.nr;
    const bool avx512 = ki.id == SgemmKernel::avx512;
    const int64_t kc_max = k_block(ki, K);
    const int64_t nc_max = balanced_block(N, k_nc, NR);
    float* bpack = t_pack_b.get(kc_max * ceil_div(nc_max, NR) * NR);
    alignas(64) float tile[k_max_mr * k_max_nr];
    int64_t kc = 0;
    // One m × n tile of C from packed panels. An edge tile (m < MR or n < NR) runs the kernel into the buffer, and
    // the valid part is merged into C.
    auto run_tile = [&](const float* apanel, const float* bpanel, float* c, int64_t m, int64_t n, float beta_k,
                        LinePrefetch* pf) {
        if (m == MR && n == NR) return ki.fn(kc, apanel, bpanel, c, ldc, alpha, beta_k, pf);
        ki.fn(kc, apanel, bpanel, tile, NR, alpha, 0.0f, pf);
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                float& cij = c[i * ldc + j];
                cij = beta_k == 0.0f ? tile[i * NR + j] : tile[i * NR + j] + beta_k * cij;
            }
    };
    for (int64_t jc = 0; jc < N; jc += nc_max) {
        const int64_t nc = std::min(nc_max, N - jc);
        for (int64_t pc = 0; pc < K; pc += kc_max) {
            kc = std::min(kc_max, K - pc);
            b.pack(pc, kc, jc, nc, ki, bpack);
            const float beta_k = pc == 0 ? beta : 1.0f;  // later K blocks accumulate onto the first's result
            LinePrefetch next_b;
            const bool last_k = pc + kc >= K;
            const int64_t pn = last_k ? 0 : pc + kc, jn = last_k ? jc + nc : jc;
            if (jn < N) next_b = b.lines(pn, std::min(kc_max, K - pn), jn, std::min(nc_max, N - jn));
            const int64_t calls = ceil_div(M, MR) * ceil_div(nc, NR);
            if (!avx512) {
                // AVX2 (and generic): BLIS order. A block of k_mc rows is packed first (it stays in L2) and each
                // B panel, once in L1, serves all of the block's row panels: per k the kernel streams 6 A floats
                // instead of 16 B floats from L2 (Zen 3's L2 is half Zen 4's, and the B block does not fit it).
                for (int64_t ic = 0; ic < M; ic += k_mc) {
                    const int64_t mc = std::min(k_mc, M - ic);
                    const float* ablock = a_panels(ic, mc, pc, kc);
                    for (int64_t jr = 0; jr < nc; jr += NR) {
                        const int64_t n = std::min<int64_t>(NR, nc - jr);
                        const float* bpanel = bpack + (jr / NR) * kc * NR;
                        for (int64_t ir = 0; ir < mc; ir += MR) {
                            next_b.budget = ceil_div(next_b.total(), calls);
                            const int64_t m = std::min<int64_t>(MR, mc - ir);
                            const float* apanel = ablock + (ir / MR) * kc * MR;
                            run_tile(apanel, bpanel, C + (ic + ir) * ldc + jc + jr, m, n, beta_k, &next_b);
                        }
                    }
                }
                continue;
            }
            for (int64_t ic = 0; ic < M; ic += MR) {
                const int64_t m = std::min<int64_t>(MR, M - ic);
                const float* apanel = a_panels(ic, m, pc, kc);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    next_b.budget = ceil_div(next_b.total(), calls);
                    const int64_t n = std::min<int64_t>(NR, nc - jr);
                    const float* bpanel = bpack + (jr / NR) * kc * NR;
                    run_tile(apanel, bpanel, C + ic * ldc + jc + jr, m, n, beta_k, &next_b);
                }
            }
        }
    }
}

// gemm_blocked_on with op(A) packed as it goes: a block of k_mc rows at a time on the BLIS-order path (AVX2,
// generic), one MR-row panel at a time on the AVX-512 path.
template <typename BSide>
void gemm_blocked(const KernelInfo& ki, bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const BSide& b, float beta, float* C, int64_t ldc) {
    const int MR = ki.mr;
    const bool avx512 = ki.id == SgemmKernel::avx512, avx2 = ki.id == SgemmKernel::avx2;
    float* apack = t_pack_a.get(k_block(ki, K) * (avx512 ? MR : ceil_div(k_mc, MR) * MR));
    auto pack = [&](int64_t ic, int64_t mc, int64_t pc, int64_t kc) -> const float* {
        for (int64_t ir = 0; ir < mc; ir += MR)
            pack_a(trans_a, A, lda, ic + ir, pc, std::min<int64_t>(MR, mc - ir), kc, MR, avx512, avx2,
                   apack + (ir / MR) * kc * MR);
        return apack;
    };
    gemm_blocked_on(ki, M, N, K, alpha, pack, b, beta, C, ldc);
}

// C (M × N) = beta·C (beta 0: assigned, C not read), what a product with K = 0 or alpha = 0 leaves.
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
    for (int64_t i = 0; i < M; ++i) {
        float* c = C + i * ldc;
        if (beta == 0.0f)
            std::fill(c, c + N, 0.0f);
        else
            for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
}

// Tiny problems (and degenerate ones like 1 x 1000 x 3): a plain loop, no packing. Row i of C is first assigned
// beta·C (or 0), then receives alpha·op(A)(i,k)·op(B)(k,:) for each k; with B untransposed the inner loop is a
// contiguous axpy the compiler vectorises.
void gemm_small(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    for (int64_t i = 0; i < M; ++i) {
        float* c = C + i * ldc;
        scale_c(1, N, beta, c, ldc);
        for (int64_t k = 0; k < K; ++k) {
            const float a = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
            if (!trans_b) {
                const float* b = B + k * ldb;
                for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
            } else {
                for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
            }
        }
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    FS_CHECK(M >= 0 && N >= 0 && K >= 0, "sgemm: negative size M=", M, " N=", N, " K=", K);
    FS_CHECK(lda >= std::max<int64_t>(1, trans_a ? M : K), "sgemm: lda=", lda, " too small for op(A) ", M, "x", K,
             trans_a ? " (transposed)" : "");
    FS_CHECK(ldb >= std::max<int64_t>(1, trans_b ? K : N), "sgemm: ldb=", ldb, " too small for op(B) ", K, "x", N,
             trans_b ? " (transposed)" : "");
    FS_CHECK(ldc >= std::max<int64_t>(1, N), "sgemm: ldc=", ldc, " too small for C ", M, "x", N);
    if (M == 0 || N == 0) return;
    FS_CHECK(C != nullptr && (K == 0 || alpha == 0.0f || (A != nullptr && B != nullptr)), "sgemm: null pointer");

    if (K == 0 || alpha == 0.0f) {  // BLAS convention: A and B are not read, C = beta·C
        return scale_c(M, N, beta, C, ldc);
    }
    if (M * N * K <= k_small_mnk) return gemm_small(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);

    const KernelInfo ki = kernel_info(kernel_now());
    // Threads split the larger of M and N into contiguous slices of whole MR / NR tiles. Every thread packs the
    // operand it shares (all of op(A) for an N split), so splitting the larger side keeps the duplicated packing
    // on the smaller operand.
    const int64_t units_n = ceil_div(N, ki.nr), units_m = ceil_div(M, ki.mr);
    const bool split_n = N >= M ? units_n >= 2 : units_m < 2;
    const int64_t units = split_n ? units_n : units_m;
    int64_t threads = std::min<int64_t>(num_threads(), units);
    if (2.0 * double(M) * double(N) * double(K) < k_parallel_min_flops) threads = 1;
    if (threads <= 1) return gemm_blocked(ki, trans_a, M, N, K, alpha, A, lda, StoredB{trans_b, B, ldb}, beta, C, ldc);

    parallel_for(threads, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t u0 = units * t / threads, u1 = units * (t + 1) / threads;
            if (split_n) {
                const int64_t j0 = u0 * ki.nr, j1 = std::min(N, u1 * ki.nr);
                const float* b = trans_b ? B + j0 * ldb : B + j0;
                gemm_blocked(ki, trans_a, M, j1 - j0, K, alpha, A, lda, StoredB{trans_b, b, ldb}, beta, C + j0, ldc);
            } else {
                const int64_t i0 = u0 * ki.mr, i1 = std::min(M, u1 * ki.mr);
                const float* a = trans_a ? A + i0 : A + i0 * lda;
                gemm_blocked(ki, trans_a, i1 - i0, N, K, alpha, a, lda, StoredB{trans_b, B, ldb}, beta, C + i0 * ldc,
                             ldc);
            }
        }
    });
}

SgemmPackedA::SgemmPackedA(bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda)
    : m_rows(M), m_depth(K), m_kernel(kernel_now()) {
    FS_CHECK(M >= 0 && K >= 0, "SgemmPackedA: negative size M=", M, " K=", K);
    FS_CHECK(lda >= std::max<int64_t>(1, trans_a ? M : K), "SgemmPackedA: lda=", lda, " too small for op(A) ", M, "x",
             K, trans_a ? " (transposed)" : "");
    FS_CHECK(M * K == 0 || A != nullptr, "SgemmPackedA: null pointer");
    // Layout: K block by K block (as gemm_blocked_on cuts K), each ceil(M / MR) panels of kc × MR, k-major.
    const KernelInfo ki = kernel_info(m_kernel);
    const int64_t mp = ceil_div(M, ki.mr) * ki.mr, kc_max = k_block(ki, K);
    m_store.resize(size_t(mp * K + 16));
    m_data = m_store.data() + (16 - (reinterpret_cast<uintptr_t>(m_store.data()) / sizeof(float)) % 16) % 16;
    const bool avx512 = m_kernel == SgemmKernel::avx512, avx2 = m_kernel == SgemmKernel::avx2;
    for (int64_t pc = 0; pc < K; pc += kc_max) {
        const int64_t kc = std::min(kc_max, K - pc);
        for (int64_t i = 0; i < M; i += ki.mr)
            pack_a(trans_a, A, lda, i, pc, std::min<int64_t>(ki.mr, M - i), kc, ki.mr, avx512, avx2,
                   m_data + pc * mp + (i / ki.mr) * kc * ki.mr);
    }
}

// What sgemm_packed needs of an SgemmPackedA.
struct SgemmPackedAccess {
    // C = alpha·A·B + beta·C with B's side given as for gemm_blocked_on.
    template <typename BSide>
    static void run(const SgemmPackedA& a, int64_t N, float alpha, const BSide& b, float beta, float* C, int64_t ldc) {
        const int64_t M = a.m_rows, K = a.m_depth;
        FS_CHECK(N >= 0, "sgemm_packed: negative N=", N);
        FS_CHECK(ldc >= std::max<int64_t>(1, N), "sgemm_packed: ldc=", ldc, " too small for C ", M, "x", N);
        FS_CHECK(kernel_now() == a.m_kernel, "sgemm_packed: A was packed for the ", sgemm_kernel_name(a.m_kernel),
                 " kernel, but ", sgemm_kernel_name(kernel_now()), " is in use");
        if (M == 0 || N == 0) return;
        FS_CHECK(C != nullptr, "sgemm_packed: null pointer");
        if (K == 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);  // as sgemm: B not read
        const KernelInfo ki = kernel_info(a.m_kernel);
        const int64_t mp = ceil_div(M, ki.mr) * ki.mr;
        const float* data = a.m_data;
        auto panels = [&](int64_t ic, int64_t, int64_t pc, int64_t kc) {
            return data + pc * mp + (ic / ki.mr) * kc * ki.mr;
        };
        gemm_blocked_on(ki, M, N, K, alpha, panels, b, beta, C, ldc);
    }
};

void sgemm_packed(const SgemmPackedA& a, int64_t N, float alpha, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc) {
    FS_CHECK(ldb >= std::max<int64_t>(1, N), "sgemm_packed: ldb=", ldb, " too small for B ", a.depth(), "x", N);
    FS_CHECK(B != nullptr || a.depth() == 0 || N == 0, "sgemm_packed: null pointer");
    SgemmPackedAccess::run(a, N, alpha, StoredB{false, B, ldb}, beta, C, ldc);
}

namespace {
// The B side of gemm_blocked_on given by the caller's packer (nothing to prefetch: the packer reads what it needs).
struct CallerB {
    const SgemmPackB& b;
    void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, const KernelInfo& ki, float* dst) const {
        b.pack(k0, kc, j0, nc, ki.nr, dst);
    }
    LinePrefetch lines(int64_t, int64_t, int64_t, int64_t) const { return {}; }
};
}  // namespace

void sgemm_packed(const SgemmPackedA& a, int64_t N, float alpha, const SgemmPackB& b, float beta, float* C,
                  int64_t ldc) {
    SgemmPackedAccess::run(a, N, alpha, CallerB{b}, beta, C, ldc);
}

void sgemm_packed(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const SgemmPackB& b, float beta, float* C, int64_t ldc) {
    FS_CHECK(M >= 0 && N >= 0 && K >= 0, "sgemm_packed: negative size M=", M, " N=", N, " K=", K);
    FS_CHECK(lda >= std::max<int64_t>(1, trans_a ? M : K), "sgemm_packed: lda=", lda, " too small for op(A) ", M, "x",
             K, trans_a ? " (transposed)" : "");
    FS_CHECK(ldc >= std::max<int64_t>(1, N), "sgemm_packed: ldc=", ldc, " too small for C ", M, "x", N);
    if (M == 0 || N == 0) return;
    FS_CHECK(C != nullptr && (K == 0 || alpha == 0.0f || A != nullptr), "sgemm_packed: null pointer");
    if (K == 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
    gemm_blocked(kernel_info(kernel_now()), trans_a, M, N, K, alpha, A, lda, CallerB{b}, beta, C, ldc);
}

SgemmKernel sgemm_force_kernel(SgemmKernel k) {
    FS_CHECK(k == SgemmKernel::automatic || cpu_has(k), "sgemm_force_kernel: this CPU cannot run the ",
             sgemm_kernel_name(k), " kernel");
    return g_forced.exchange(k);
}

SgemmKernel sgemm_kernel_in_use() { return kernel_now(); }

const char* sgemm_kernel_name(SgemmKernel k) {
    switch (k) {
        case SgemmKernel::automatic:
            return "automatic";
        case SgemmKernel::avx512:
            return "avx512";
        case SgemmKernel::avx2:
            return "avx2";
        case SgemmKernel::generic:
            return "generic";
    }
    return "?";
}

}  // namespace fs
