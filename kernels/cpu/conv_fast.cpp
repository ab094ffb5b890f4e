// conv_fast.cpp: the optimised f32 conv2d (NCHW). Five strategies, picked per call:
//
//  * Winograd (AVX2; 3×3, stride 1, zero 'same' padding, even maps of >= 8, >= 32 channels in and out):
//    kernels/cpu/conv_winograd.cpp, F(2×2, 3×3) forward and data gradient, F(3×3, 2×2) weight gradient (from 128
//    channels each way). The decoder's 3×3 convs.
//
//  * Direct (AVX-512; stride 1 but not 1×1, with rows of >= 16 outputs or OC <= 4 at any size; and stride 2 with
//    rows of >= 16 outputs and K = C·KH·KW <= 256, forward and weight gradient only): a register-blocked direct
//    convolution on an explicitly padded (for stride 2, phase-split) copy of the input (see "the direct path"
//    below). It covers the 64 px decoder convs, the first encoder and discriminator convs and the 1- and 3-channel
//    5×5 output heads, where im2col + SGEMM pays for writing, re-reading and packing K·P column floats that are
//    each used for only OC multiply-adds (and, at OC = 3, leaves three quarters of a 12-row GEMM tile empty).
//
//  * GEMM, image per thread (the rest with Ho·Wo >= k_per_image_min_cols and enough images to share out: the
//    stride-2 encoder and discriminator blocks): each thread takes whole images and runs im2col + a
//    single-threaded SGEMM on them (no threading overhead inside the GEMM; im2col and col2im in parallel for free;
//    the column buffer per thread stays small):
//      forward:         y[n] (OC, P)    = W (OC, K) · col[n] (K, P)  (+ bias)           K = C·KH·KW, P = Ho·Wo
//    The forward never stores col: W is packed once per call for every image (SgemmPackedA), and sgemm_packed asks
//    Im2colPack for col's blocks, which it gathers from x straight into the SGEMM's packed panels (for stride 2 by
//    an AVX2 shuffle of the even lanes). That is one pass over the column floats instead of three (im2col's
//    write, the packing's read and write): on Zen 3 the encoder's and discriminator's stride-2 forwards ran
//    5-15 % faster, 15-20 % at 128 px (docs/PERFORMANCE.md). The backward likewise packs Wᵀ once per call for
//    the data gradients, gathers dW's colᵀ straight from x (ColTPack: 8 column rows × 8 positions transposed in
//    registers), and for stride 2 its col2im is a gather into registers (col2im_channel_s2_avx2): 1-4 % each.
//      backward data:   dcol (K, P)     = Wᵀ · dy[n], col2im adds each entry back to its pixel
//      backward weight: dW_t (OC, K)   += dy[n] · col[n]ᵀ per thread, the partial sums added at the end
//
//  * Tap-decomposed GEMM (AVX-512 or AVX2, zero padding, the maps the batched GEMM below would take when under 86 %
//    of the taps' reads are inside the input: the 4×4 and 8×8 maps; forward and data gradient): one product per
//    kernel tap over only the positions it reads (see "the tap-decomposed GEMM" below).
//
//  * GEMM, batched (small maps, or a batch that does not divide among the threads): blocks of nb images share one
//    im2col matrix (K, nb·P) and one threaded SGEMM, so an 8×8 or 4×4 map is not a 64- or 16-column GEMM; the
//    (OC, nb·P) result is scattered to NCHW (dy gathered the other way for the backward). im2col, col2im and the
//    scatter run in parallel over (image, channel).
//
// In both GEMM strategies dW is computed transposed, dWᵀ = col · dyᵀ, when that fills the GEMM's register tiles
// clearly better (K = 75 or 96 against OC = 64). A 1×1/stride-1 unpadded conv needs no im2col when a block is
// one image: col is x[n] itself. Scratch buffers are thread-local and grow-only, so a steady-state training step
// allocates (and page-faults) nothing here.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#define FS_CONV_X86 1
// GCC 12 reports false "may be used uninitialized" warnings from inside its own AVX-512 intrinsics headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define FS_TARGET_AVX512 __attribute__((target("avx512f,fma")))
#else
#define FS_CONV_X86 0
#endif

#include "kernels/conv.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/scratch.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/sgemm.h"
#include "tensor/error.h"

namespace fs {

namespace {

// Output maps with at least this many positions run image-per-thread (each GEMM has N = Ho·Wo columns).
constexpr int64_t k_per_image_min_cols = 256;
// Blocks of images are sized to give the GEMM about this many columns ...
constexpr int64_t k_block_cols = 512;
// ... unless the column matrix would exceed this many floats (16 MiB).
constexpr int64_t k_max_col_floats = int64_t(4) << 20;
// Loops with less work than this (floats touched) skip the thread hand-off.
constexpr int64_t k_parallel_min_work = 32 * 1024;

// Scratch memory, one set per thread (kernels/cpu/scratch.h).
thread_local ScratchBuffer t_col("conv2d"), t_dcol("conv2d"), t_tmp("conv2d"), t_dy("conv2d"), t_part("conv2d"),
    t_pad("conv2d"), t_wpack("conv2d");

// parallel_for when the work is worth a hand-off, else the whole range in this thread.
template <typename F>
void par(int64_t n, int64_t work, const F& f) {
    if (n <= 0) return;
    if (n == 1 || work < k_parallel_min_work) return f(int64_t(0), n);
    parallel_for(n, f);
}

bool is_pointwise(const Conv2dParams& p, const Conv2dGeom& g) {
    return g.KH == 1 && g.KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 && p.pad_bottom == 0 &&
           p.pad_left == 0 && p.pad_right == 0;
}

// --- im2col / col2im -------------------------------------------------------------------------------------------

// The geometry of im2col, derived once per call: for each kernel row kh and output row oh the input row read
// (or -1: zero padding), for each kw and ow the input column, and per kw the interior [lo, hi) of output
// columns whose read is in range without any padding rule (iw = ow·sw + kw − pl), so it is a plain copy.
struct ColIndex {
    std::vector<int64_t> rows, cols, lo, hi;
    ColIndex(const Conv2dParams& p, const Conv2dGeom& g)
        : rows(static_cast<size_t>(g.KH * g.Ho)),
          cols(static_cast<size_t>(g.KW * g.Wo)),
          lo(static_cast<size_t>(g.KW)),
          hi(static_cast<size_t>(g.KW)) {
        for (int64_t kh = 0; kh < g.KH; ++kh)
            for (int64_t oh = 0; oh < g.Ho; ++oh)
                rows[size_t(kh * g.Ho + oh)] = pad_source_index(oh * p.stride_h + kh - p.pad_top, g.H, p.pad_mode);
        for (int64_t kw = 0; kw < g.KW; ++kw) {
            int64_t first = g.Wo, last = g.Wo;
            for (int64_t ow = 0; ow < g.Wo; ++ow) {
                const int64_t raw = ow * p.stride_w + kw - p.pad_left;
                cols[size_t(kw * g.Wo + ow)] = pad_source_index(raw, g.W, p.pad_mode);
                if (raw >= 0 && raw < g.W) {
                    if (first == g.Wo) first = ow;
                    last = ow + 1;
                }
            }
            lo[size_t(kw)] = first;
            hi[size_t(kw)] = std::max(first, last);
        }
    }
};

// The rows (c, kh, kw) of channel c of one image's column matrix: col[(c·KH + kh)·KW + kw][oh·Wo + ow], row
// stride ldcol (the image's columns may be a slice of a wider matrix). xc is the channel's input plane.
void im2col_channel(const Conv2dParams& p, const Conv2dGeom& g, const ColIndex& ix, const float* xc, int64_t c,
                    float* col, int64_t ldcol) {
    const int64_t sw = p.stride_w, Wo = g.Wo;
    for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
            float* row = col + ((c * g.KH + kh) * g.KW + kw) * ldcol;
            const int64_t* ct = ix.cols.data() + kw * Wo;
            const int64_t lo = ix.lo[size_t(kw)], hi = ix.hi[size_t(kw)], off = kw - p.pad_left;
            for (int64_t oh = 0; oh < g.Ho; ++oh) {
                float* r = row + oh * Wo;
                const int64_t ih = ix.rows[size_t(kh * g.Ho + oh)];
                if (ih < 0) {
                    std::memset(r, 0, size_t(Wo) * sizeof(float));
                    continue;
                }
                const float* xr = xc + ih * g.W;
                for (int64_t ow = 0; ow < lo; ++ow) r[ow] = ct[ow] < 0 ? 0.f : xr[ct[ow]];
                if (sw == 1) {
                    if (hi > lo) std::memcpy(r + lo, xr + lo + off, size_t(hi - lo) * sizeof(float));
                } else if (sw == 2) {
                    const float* x2 = xr + off;
                    for (int64_t ow = lo; ow < hi; ++ow) r[ow] = x2[2 * ow];
                } else {
                    for (int64_t ow = lo; ow < hi; ++ow) r[ow] = xr[ow * sw + off];
                }
                for (int64_t ow = hi; ow < Wo; ++ow) r[ow] = ct[ow] < 0 ? 0.f : xr[ct[ow]];
            }
        }
}

bool col2im_channel_s2(const Conv2dParams& p, const Conv2dGeom& g, const float* col, int64_t ldcol, int64_t c,
                       float* dxc);

// The adjoint of im2col_channel: dxc (channel c's plane) = the sum of every column entry that read each pixel
// (reflect padding included). Assigns the whole plane.
void col2im_channel(const Conv2dParams& p, const Conv2dGeom& g, const ColIndex& ix, const float* col, int64_t ldcol,
                    int64_t c, float* dxc) {
    if (col2im_channel_s2(p, g, col, ldcol, c, dxc)) return;
    const int64_t sw = p.stride_w, Wo = g.Wo;
    std::memset(dxc, 0, size_t(g.H * g.W) * sizeof(float));
    for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
            const float* row = col + ((c * g.KH + kh) * g.KW + kw) * ldcol;
            const int64_t* ct = ix.cols.data() + kw * Wo;
            const int64_t lo = ix.lo[size_t(kw)], hi = ix.hi[size_t(kw)], off = kw - p.pad_left;
            for (int64_t oh = 0; oh < g.Ho; ++oh) {
                const int64_t ih = ix.rows[size_t(kh * g.Ho + oh)];
                if (ih < 0) continue;
                const float* r = row + oh * Wo;
                float* dr = dxc + ih * g.W;
                for (int64_t ow = 0; ow < lo; ++ow)
                    if (ct[ow] >= 0) dr[ct[ow]] += r[ow];
                if (sw == 1) {
                    float* d1 = dr + off;
                    for (int64_t ow = lo; ow < hi; ++ow) d1[ow] += r[ow];
                } else if (sw == 2) {
                    float* d2 = dr + off;
                    for (int64_t ow = lo; ow < hi; ++ow) d2[2 * ow] += r[ow];
                } else {
                    for (int64_t ow = lo; ow < hi; ++ow) dr[ow * sw + off] += r[ow];
                }
                for (int64_t ow = hi; ow < Wo; ++ow)
                    if (ct[ow] >= 0) dr[ct[ow]] += r[ow];
            }
        }
}

// Σ of n floats, 16 float lanes (vectorisable) summed into a double at the end.
double sum_floats(const float* r, int64_t n) {
    float lanes[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; ++l) lanes[l] += r[i + l];
    double s = 0;
    for (; i < n; ++i) s += r[i];
    for (int l = 0; l < 16; ++l) s += lanes[l];
    return s;
}

// db[oc] = Σ_{n, pixel} dy (N·Ho·Wo terms, each image's share summed in double).
void bias_grad(const Conv2dGeom& g, const float* dy, float* db) {
    const int64_t P = g.Ho * g.Wo;
    par(g.OC, g.N * g.OC * P, [&](int64_t o0, int64_t o1) {
        for (int64_t oc = o0; oc < o1; ++oc) {
            double s = 0;
            for (int64_t n = 0; n < g.N; ++n) s += sum_floats(dy + (n * g.OC + oc) * P, P);
            db[oc] = float(s);
        }
    });
}

// Whether the image-per-thread strategy applies (see the file header).
bool per_image(const Conv2dGeom& g, int threads) {
    return threads > 1 && g.Ho * g.Wo >= k_per_image_min_cols && g.N >= threads &&
           (g.N % threads == 0 || g.N >= 4 * threads);
}

// Images per block for the batched strategy.
int64_t block_images(const Conv2dGeom& g) {
    const int64_t K = g.C * g.KH * g.KW, P = g.Ho * g.Wo;
    int64_t nb = std::min(g.N, std::max<int64_t>(1, (k_block_cols + P - 1) / P));
    while (nb > 1 && K * nb * P > k_max_col_floats) --nb;
    return nb;
}

// The share of sgemm's 12 × 32 register tiles (its AVX-512 micro-kernel) that an M × N product fills.
double tile_fill(int64_t M, int64_t N) {
    auto f = [](int64_t x, int64_t t) { return double(x) / double((x + t - 1) / t * t); };
    return f(M, 12) * f(N, 32);
}

// dW (OC, K) = dy · colᵀ is computed transposed, dWᵀ (K, OC) = col · dyᵀ, when that shape fills the GEMM's tiles
// clearly better: the first layers (K = 3·5·5 = 75 or 6·4·4 = 96, OC = 64) lose a fifth to a third of the tile
// the plain way round.
bool dw_transposed(const Conv2dGeom& g) {
    const int64_t K = g.C * g.KH * g.KW;
    return tile_fill(K, g.OC) > 1.1 * tile_fill(g.OC, K);
}

// dw (OC, K) = the sum of `count` (K, OC) matrices `parts` (floats `stride` apart), in parallel over oc.
void sum_transposed(const Conv2dGeom& g, const float* parts, int64_t count, int64_t stride, float* dw) {
    const int64_t K = g.C * g.KH * g.KW;
    par(g.OC, g.OC * K * count, [&](int64_t o0, int64_t o1) {
        for (int64_t oc = o0; oc < o1; ++oc)
            for (int64_t k = 0; k < K; ++k) {
                float s = 0.f;
                for (int64_t t = 0; t < count; ++t) s += parts[t * stride + k * g.OC + oc];
                dw[oc * K + k] = s;
            }
    });
}

// --- the direct path (AVX-512, stride 1 or 2) ---------------------------------------------------------------------
// The convolutions picked by use_direct run on an explicitly padded copy of the input (for stride 2 split into its
// four phases, so every tap still reads consecutive floats for consecutive outputs). The forward is a
// register-blocked "implicit GEMM": a tile of up to 6 output channels × 4 vectors of 16 outputs keeps 24
// accumulators in registers, and for every (c, kh, kw) tap it loads the 4 input vectors straight from the padded
// rows and broadcasts the 6 weights. Nothing is packed or materialised. Backward data (stride 1) is the same loop
// over dy padded by KH−1 / KW−1 zeros with the kernel flipped (blocks of 6 input channels); backward weights is a
// set of long dot products, blocks of output channels × kw taps of one (c, kh) accumulated over every image and
// position.
#if FS_CONV_X86

bool have_avx512() { return cpu_has_avx512f(); }

constexpr int64_t k_direct_small_oc = 4;  // any map size
constexpr int64_t k_direct_min_wo = 16;   // any OC (at 16 the direct and GEMM paths measured even)
constexpr int64_t k_direct_s2_max_k = 256;

// AVX2 backward passes (both gradients) with more output channels than this take the GEMM paths: its weight
// gradient holds at most 3 channels × 3 taps in the 16 ymm registers (a load per 1.5 FMAs). On Zen 3 the
// decoder's 128→256 at 32 px and 256→512 at 16 px ran 25-45 % slower direct than im2col + SGEMM at first, and
// even with it once the data gradient took its tiles in the forward's order; the 64→64 at 64 px and the heads run
// faster direct (bench/ conv2d cases, minima of 3-5, interleaved).
constexpr int64_t k_direct_avx2_bwd_max_oc = 64;

bool use_direct(const Conv2dParams& p, const Conv2dGeom& g, bool backward = false) {
    // 1×1 convs need no im2col, and their GEMM (y = W · x[n]) measured 10-40 % faster than the direct kernels,
    // whose tap loop is only C long.
    if (is_pointwise(p, g) || p.stride_h != p.stride_w || !cpu_has_avx2()) return false;
    if (backward && !have_avx512() && g.OC > k_direct_avx2_bwd_max_oc) return false;
    if (p.stride_h == 1) return g.OC <= k_direct_small_oc || g.Wo >= k_direct_min_wo;
    // Stride 2 (forward and weight gradient only, see conv2d_backward_fast) pays off where the GEMM's K = C·KH·KW is
    // short: the discriminator's first conv (K = 96) gained ~25 %, while the encoder's 3×3 blocks (K >= 576) ran
    // 2-8 % slower than im2col + SGEMM.
    return p.stride_h == 2 && g.Wo >= k_direct_min_wo && g.C * g.KH * g.KW <= k_direct_s2_max_k;
}

// The input as the direct kernels read it: padded explicitly (zeros or mirrored cells) to Hp × Wp, and for stride
// s = 2 split into its s² phases, plane (a, b) holding xpad[s·i + a, s·j + b] (Hs × Ws each), so that every
// kernel tap reads a contiguous run for consecutive outputs of a row: tap (kh, kw) of output (oh, ow) is element
// toff[kh·KW + kw] + oh·Ws + ow of the channel's cstride floats. Stride 1 is the single-phase case.
struct Phased {
    int64_t s, Hp, Wp, Hs, Ws, cstride;
    std::vector<int64_t> toff;
    Phased(const Conv2dParams& p, const Conv2dGeom& g)
        : s(p.stride_h),
          Hp(g.H + p.pad_top + p.pad_bottom),
          Wp(g.W + p.pad_left + p.pad_right),
          Hs((Hp + s - 1) / s),
          Ws((Wp + s - 1) / s),
          cstride(s * s * Hs * Ws),
          toff(static_cast<size_t>(g.KH * g.KW)) {
        for (int64_t kh = 0; kh < g.KH; ++kh)
            for (int64_t kw = 0; kw < g.KW; ++kw)
                toff[size_t(kh * g.KW + kw)] = ((kh % s) * s + kw % s) * Hs * Ws + (kh / s) * Ws + kw / s;
    }
};

// xs (N, C, cstride) as described for Phased; cells past the padded input (odd Hp or Wp) are zero.
void pad_input(const Conv2dParams& p, const Conv2dGeom& g, const Phased& ph, const float* x, float* xs) {
    const int64_t s = ph.s, Hs = ph.Hs, Ws = ph.Ws;
    // Per column phase b: the source column of each j (−1: zero), and the interior [lo, hi) that is a plain
    // (strided) copy.
    std::vector<int64_t> src(static_cast<size_t>(s * Ws)), lo(static_cast<size_t>(s)), hi(static_cast<size_t>(s));
    for (int64_t b = 0; b < s; ++b) {
        int64_t first = Ws, last = Ws;
        for (int64_t j = 0; j < Ws; ++j) {
            const int64_t pw = s * j + b, raw = pw - p.pad_left;
            src[size_t(b * Ws + j)] = pw < ph.Wp ? pad_source_index(raw, g.W, p.pad_mode) : -1;
            if (pw < ph.Wp && raw >= 0 && raw < g.W) {
                if (first == Ws) first = j;
                last = j + 1;
            }
        }
        lo[size_t(b)] = first, hi[size_t(b)] = std::max(first, last);
    }
    par(g.N * g.C, g.N * g.C * ph.cstride, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const float* xc = x + i * g.H * g.W;
            for (int64_t a = 0; a < s; ++a)
                for (int64_t r = 0; r < Hs; ++r) {
                    const int64_t prow = s * r + a;
                    const int64_t ih = prow < ph.Hp ? pad_source_index(prow - p.pad_top, g.H, p.pad_mode) : -1;
                    for (int64_t b = 0; b < s; ++b) {
                        float* d = xs + i * ph.cstride + (a * s + b) * Hs * Ws + r * Ws;
                        if (ih < 0) {
                            std::memset(d, 0, size_t(Ws) * sizeof(float));
                            continue;
                        }
                        const float* xr = xc + ih * g.W;
                        const int64_t* sr = src.data() + b * Ws;
                        const int64_t l = lo[size_t(b)], h = hi[size_t(b)];
                        for (int64_t j = 0; j < l; ++j) d[j] = sr[j] < 0 ? 0.f : xr[sr[j]];
                        const float* x0 = xr + b - p.pad_left;  // x0[s·j] is the source of interior j
                        if (s == 1)
                            std::memcpy(d + l, x0 + l, size_t(h - l) * sizeof(float));
                        else
                            for (int64_t j = l; j < h; ++j) d[j] = x0[2 * j];
                        for (int64_t j = h; j < Ws; ++j) d[j] = sr[j] < 0 ? 0.f : xr[sr[j]];
                    }
                }
        }
    });
}

// Keeps v in a register: without it GCC folds the load into every FMA that uses it as a memory operand, which
// turns one load per vector into one per FMA and makes the direct kernels load-bound.
#define FS_IN_REGISTER(v) asm("" : "+v"(v))

inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// A run of up to 16 consecutive outputs of one row: its offset in the input the kernels read (`in`), in the
// output plane (`out`), and which lanes are real.
struct Seg {
    int64_t in, out;
    __mmask16 m;  // the AVX-512 kernels' lanes
    int len;      // real lanes (the AVX2 kernels: 8-lane segments, stored in part when len < 8)
};

// The segments covering rows × cols outputs, row by row: output (r, q) reads input offset
// r·in_row + q and is stored at r·out_row + q. Kernels take them 4 at a time (a tile may span rows).
std::vector<Seg> segments(int64_t rows, int64_t cols, int64_t in_row, int64_t out_row, int64_t width = 16) {
    std::vector<Seg> s;
    s.reserve(static_cast<size_t>(rows * ((cols + width - 1) / width)));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t q = 0; q < cols; q += width)
            s.push_back({r * in_row + q, r * out_row + q, lanes(cols - q), int(std::min(width, cols - q))});
    return s;
}
constexpr int64_t k_tile_segs = 4;

// The scratch floats added past the padded input and the padded dy: the AVX2 kernels load whole 8-lane vectors
// for segments of fewer real lanes (their outputs in those lanes are never stored), which may read up to 7 floats
// past a plane's last row.
constexpr int64_t k_direct_slack = 16;

// Forward, NO output channels × V segments: acc = bias; for every (c, tap t) of the kernel,
// acc[o][v] += wt[c][t][o] · xs[c][toff[t] + seg_v.in]. xp = the image's phased input (channels cstride apart),
// wt = the block's weights packed [c][kh][kw][o], y = the image's output plane of the block's first channel
// (channels ystride apart).
template <int NO, int V>
FS_TARGET_AVX512 void direct_fwd_tile(const float* xp, const Seg* seg, int64_t C, int64_t cstride, const int64_t* toff,
                                      int64_t taps, const float* wt, const float* bias, float* y, int64_t ystride) {
    __m512 acc[NO][V];
    int64_t in[V];
    __mmask16 m[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) in[v] = seg[v].in, m[v] = seg[v].m;
#pragma GCC unroll 8
    for (int o = 0; o < NO; ++o)
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) acc[o][v] = _mm512_set1_ps(bias ? bias[o] : 0.f);
    for (int64_t c = 0; c < C; ++c, xp += cstride)
        for (int64_t t = 0; t < taps; ++t, wt += NO) {
            const float* xr = xp + toff[t];
            __m512 xv[V];
#pragma GCC unroll 8
            for (int v = 0; v < V; ++v) {
                xv[v] = _mm512_maskz_loadu_ps(m[v], xr + in[v]);
                FS_IN_REGISTER(xv[v]);
            }
#pragma GCC unroll 8
            for (int o = 0; o < NO; ++o) {
                const __m512 wv = _mm512_set1_ps(wt[o]);
#pragma GCC unroll 8
                for (int v = 0; v < V; ++v) acc[o][v] = _mm512_fmadd_ps(wv, xv[v], acc[o][v]);
            }
        }
#pragma GCC unroll 8
    for (int o = 0; o < NO; ++o)
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) _mm512_mask_storeu_ps(y + o * ystride + seg[v].out, m[v], acc[o][v]);
}

// Backward data, CB input channels × V segments of the padded-input gradient:
// out[j][pw] = Σ_{o,kh,kw} w2[o][kh][kw][c0 + j] · dyq[o, ph + KH−1−kh, pw + KW−1−kw], where dyq is dy with
// KH−1 / KW−1 zero rows / columns on every side. dq = &dyq[n, 0, KH − 1, KW − 1]; seg.in = ph·Wq + pw.
template <int CB, int V>
FS_TARGET_AVX512 void direct_bwd_data_tile(const float* dq, const Seg* seg, int64_t OC, int64_t qplane, int64_t Wq,
                                           int64_t KH, int64_t KW, const float* w2, int64_t C, float* out,
                                           int64_t ostride) {
    __m512 acc[CB][V];
    int64_t in[V];
    __mmask16 m[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) in[v] = seg[v].in, m[v] = seg[v].m;
#pragma GCC unroll 8
    for (int j = 0; j < CB; ++j)
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) acc[j][v] = _mm512_setzero_ps();
    for (int64_t o = 0; o < OC; ++o)
        for (int64_t kh = 0; kh < KH; ++kh) {
            const float* dr = dq + o * qplane - kh * Wq;
            const float* wr = w2 + (o * KH + kh) * KW * C;
            for (int64_t kw = 0; kw < KW; ++kw, wr += C) {
                __m512 dv[V];
#pragma GCC unroll 8
                for (int v = 0; v < V; ++v) {
                    dv[v] = _mm512_maskz_loadu_ps(m[v], dr + in[v] - kw);
                    FS_IN_REGISTER(dv[v]);
                }
#pragma GCC unroll 8
                for (int j = 0; j < CB; ++j) {
                    const __m512 wv = _mm512_set1_ps(wr[j]);
#pragma GCC unroll 8
                    for (int v = 0; v < V; ++v) acc[j][v] = _mm512_fmadd_ps(wv, dv[v], acc[j][v]);
                }
            }
        }
#pragma GCC unroll 8
    for (int j = 0; j < CB; ++j)
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) _mm512_mask_storeu_ps(out + j * ostride + seg[v].out, m[v], acc[j][v]);
}

// Backward weights for one channel c, NO output channels and KG kernel taps t_k:
// dw[o, c, t_k] = Σ_{n, oh, ow} dy[n, o, oh, ow] · xs[n, c][koff[k] + oh·Ws + ow] (koff = the taps' toff).
// xc0 = &xs[0, c], dy0 = &dy[0, o0, 0, 0], out[o·ostride + k] receives dw[o0 + o, c, t_k].
template <int NO, int KG>
FS_TARGET_AVX512 void direct_bwd_w_taps(const float* xc0, const int64_t* koff, const float* dy0, int64_t N,
                                        int64_t xn_stride, int64_t dyn_stride, int64_t Ho, int64_t Wo, int64_t Ws,
                                        float* out, int64_t ostride, bool add) {
    __m512 acc[NO][KG];
#pragma GCC unroll 8
    for (int o = 0; o < NO; ++o)
#pragma GCC unroll 8
        for (int k = 0; k < KG; ++k) acc[o][k] = _mm512_setzero_ps();
    const int64_t oplane = Ho * Wo, full = Wo / 16 * 16;
    const __mmask16 mt = lanes(Wo - full);
    int64_t ko[KG];
#pragma GCC unroll 8
    for (int k = 0; k < KG; ++k) ko[k] = koff[k];
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oh = 0; oh < Ho; ++oh) {
            const float* xr = xc0 + n * xn_stride + oh * Ws;
            const float* dr = dy0 + n * dyn_stride + oh * Wo;
            for (int64_t ow = 0; ow < full; ow += 16) {
                __m512 dv[NO];
#pragma GCC unroll 8
                for (int o = 0; o < NO; ++o) {
                    dv[o] = _mm512_loadu_ps(dr + o * oplane + ow);
                    FS_IN_REGISTER(dv[o]);
                }
#pragma GCC unroll 8
                for (int k = 0; k < KG; ++k) {
                    __m512 xv = _mm512_loadu_ps(xr + ko[k] + ow);
                    FS_IN_REGISTER(xv);
#pragma GCC unroll 8
                    for (int o = 0; o < NO; ++o) acc[o][k] = _mm512_fmadd_ps(dv[o], xv, acc[o][k]);
                }
            }
            if (full < Wo) {
                __m512 dv[NO];
#pragma GCC unroll 8
                for (int o = 0; o < NO; ++o) dv[o] = _mm512_maskz_loadu_ps(mt, dr + o * oplane + full);
#pragma GCC unroll 8
                for (int k = 0; k < KG; ++k) {
                    const __m512 xv = _mm512_maskz_loadu_ps(mt, xr + ko[k] + full);
#pragma GCC unroll 8
                    for (int o = 0; o < NO; ++o) acc[o][k] = _mm512_fmadd_ps(dv[o], xv, acc[o][k]);
                }
            }
        }
#pragma GCC unroll 8
    for (int o = 0; o < NO; ++o)
#pragma GCC unroll 8
        for (int k = 0; k < KG; ++k) {
            const float r = _mm512_reduce_add_ps(acc[o][k]);
            out[o * ostride + k] = add ? out[o * ostride + k] + r : r;
        }
}

// --- the direct kernels with AVX2 + FMA: the same loops on 8-lane segments -------------------------------------
// 16 ymm registers instead of 32 zmm: NO·V accumulators + V loaded vectors + 1 broadcast ≤ 16 (tile shapes from
// direct_segs_avx2). No masked loads: a segment of fewer than 8 real lanes loads whole vectors (k_direct_slack) and
// stores only its real lanes.
#define FS_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FS_IN_YMM(v) asm("" : "+x"(v))

template <int NO, int V>
FS_TARGET_AVX2 void direct_fwd_tile_avx2(const float* xp, const Seg* seg, int64_t C, int64_t cstride,
                                         const int64_t* toff, int64_t taps, const float* wt, const float* bias,
                                         float* y, int64_t ystride) {
    __m256 acc[NO][V];
    int64_t in[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) in[v] = seg[v].in;
#pragma GCC unroll 8
    for (int o = 0; o < NO; ++o)
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) acc[o][v] = _mm256_set1_ps(bias ? bias[o] : 0.f);
    for (int64_t c = 0; c < C; ++c, xp += cstride)
        for (int64_t t = 0; t < taps; ++t, wt += NO) {
            const float* xr = xp + toff[t];
            __m256 xv[V];
#pragma GCC unroll 8
            for (int v = 0; v < V; ++v) {
                xv[v] = _mm256_loadu_ps(xr + in[v]);
                FS_IN_YMM(xv[v]);
            }
#pragma GCC unroll 8
            for (int o = 0; o < NO; ++o) {
                const __m256 wv = _mm256_broadcast_ss(wt + o);
#pragma GCC unroll 8
                for (int v = 0; v < V; ++v) acc[o][v] = _mm256_fmadd_ps(wv, xv[v], acc[o][v]);
            }
        }
#pragma GCC unroll 8
    for (int o = 0; o < NO; ++o)
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) store8_avx2(y + o * ystride + seg[v].out, acc[o][v], seg[v].len);
}

template <int CB, int V>
FS_TARGET_AVX2 void direct_bwd_data_tile_avx2(const float* dq, const Seg* seg, int64_t OC, int64_t qplane,
                                              int64_t Wq, int64_t KH, int64_t KW, const float* w2, int64_t C,
                                              float* out, int64_t ostride) {
    __m256 acc[CB][V];
    int64_t in[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) in[v] = seg[v].in;
#pragma GCC unroll 8
    for (int j = 0; j < CB; ++j)
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) acc[j][v] = _mm256_setzero_ps();
    for (int64_t o = 0; o < OC; ++o)
        for (int64_t kh = 0; kh < KH; ++kh) {
            const float* dr = dq + o * qplane - kh * Wq;
            const float* wr = w2 + (o * KH + kh) * KW * C;
            for (int64_t kw = 0; kw < KW; ++kw, wr += C) {
                __m256 dv[V];
#pragma GCC unroll 8
                for (int v = 0; v < V; ++v) {
                    dv[v] = _mm256_loadu_ps(dr + in[v] - kw);
                    FS_IN_YMM(dv[v]);
                }
#pragma GCC unroll 8
                for (int j = 0; j < CB; ++j) {
                    const __m256 wv = _mm256_broadcast_ss(wr + j);
#pragma GCC unroll 8
                    for (int v = 0; v < V; ++v) acc[j][v] = _mm256_fmadd_ps(wv, dv[v], acc[j][v]);
                }
            }
        }
#pragma GCC unroll 8
    for (int j = 0; j < CB; ++j)
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) store8_avx2(out + j * ostride + seg[v].out, acc[j][v], seg[v].len);
}

template <int NO, int KG>
FS_TARGET_AVX2 void direct_bwd_w_taps_avx2(const float* xc0, const int64_t* koff, const float* dy0, int64_t N,
                                           int64_t xn_stride, int64_t dyn_stride, int64_t Ho, int64_t Wo, int64_t Ws,
                                           float* out, int64_t ostride, bool add) {
    __m256 acc[NO][KG];
#pragma GCC unroll 8
    for (int o = 0; o < NO; ++o)
#pragma GCC unroll 8
        for (int k = 0; k < KG; ++k) acc[o][k] = _mm256_setzero_ps();
    const int64_t oplane = Ho * Wo, full = Wo / 8 * 8;
    const __m256i mt = lane_mask8_avx2(Wo - full);
    int64_t ko[KG];
#pragma GCC unroll 8
    for (int k = 0; k < KG; ++k) ko[k] = koff[k];
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oh = 0; oh < Ho; ++oh) {
            const float* xr = xc0 + n * xn_stride + oh * Ws;
            const float* dr = dy0 + n * dyn_stride + oh * Wo;
            for (int64_t ow = 0; ow < full; ow += 8) {
                __m256 dv[NO];
#pragma GCC unroll 8
                for (int o = 0; o < NO; ++o) {
                    dv[o] = _mm256_loadu_ps(dr + o * oplane + ow);
                    FS_IN_YMM(dv[o]);
                }
#pragma GCC unroll 8
                for (int k = 0; k < KG; ++k) {
                    __m256 xv = _mm256_loadu_ps(xr + ko[k] + ow);
                    FS_IN_YMM(xv);
#pragma GCC unroll 8
                    for (int o = 0; o < NO; ++o) acc[o][k] = _mm256_fmadd_ps(dv[o], xv, acc[o][k]);
                }
            }
            if (full < Wo) {
                __m256 dv[NO];
#pragma GCC unroll 8
                for (int o = 0; o < NO; ++o) dv[o] = _mm256_maskload_ps(dr + o * oplane + full, mt);
#pragma GCC unroll 8
                for (int k = 0; k < KG; ++k) {
                    const __m256 xv = _mm256_maskload_ps(xr + ko[k] + full, mt);
#pragma GCC unroll 8
                    for (int o = 0; o < NO; ++o) acc[o][k] = _mm256_fmadd_ps(dv[o], xv, acc[o][k]);
                }
            }
        }
#pragma GCC unroll 8
    for (int o = 0; o < NO; ++o)
#pragma GCC unroll 8
        for (int k = 0; k < KG; ++k) {
            const float r = hsum8_avx2(acc[o][k]);
            out[o * ostride + k] = add ? out[o * ostride + k] + r : r;
        }
}

using FwdTile = void (*)(const float*, const Seg*, int64_t, int64_t, const int64_t*, int64_t, const float*,
                         const float*, float*, int64_t);
using BwdDataTile = void (*)(const float*, const Seg*, int64_t, int64_t, int64_t, int64_t, int64_t, const float*,
                             int64_t, float*, int64_t);
using BwdWTaps = void (*)(const float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                          int64_t, float*, int64_t, bool);

// Register blocks: 6 channels × 4 segments (24 accumulators) for the forward and backward data; for backward
// weights, output channels × kw taps with at most 24 accumulators (8 × 3, 6 × 4, 4 × 5: the widest channel
// block the kernel width allows, as each loaded x vector feeds one FMA per channel). Tables indexed
// [channels − 1][segments or taps − 1].
constexpr int64_t k_cb = 6, k_wb_oc = 8, k_wb_taps = 5, k_wb_acc = 24;
#define FS_ROW4(T, A) \
    { T<A, 1>, T<A, 2>, T<A, 3>, T<A, 4> }
const FwdTile k_fwd_tiles[k_cb][k_tile_segs] = {FS_ROW4(direct_fwd_tile, 1), FS_ROW4(direct_fwd_tile, 2),
                                                FS_ROW4(direct_fwd_tile, 3), FS_ROW4(direct_fwd_tile, 4),
                                                FS_ROW4(direct_fwd_tile, 5), FS_ROW4(direct_fwd_tile, 6)};
const BwdDataTile k_bwd_data_tiles[k_cb][k_tile_segs] = {
    FS_ROW4(direct_bwd_data_tile, 1), FS_ROW4(direct_bwd_data_tile, 2), FS_ROW4(direct_bwd_data_tile, 3),
    FS_ROW4(direct_bwd_data_tile, 4), FS_ROW4(direct_bwd_data_tile, 5), FS_ROW4(direct_bwd_data_tile, 6)};
#undef FS_ROW4
#define FS_ROW5(T, A) \
    { T<A, 1>, T<A, 2>, T<A, 3>, T<A, 4>, T<A, 5> }
const BwdWTaps k_bwd_w_taps[k_wb_oc][k_wb_taps] = {FS_ROW5(direct_bwd_w_taps, 1), FS_ROW5(direct_bwd_w_taps, 2),
                                                   FS_ROW5(direct_bwd_w_taps, 3), FS_ROW5(direct_bwd_w_taps, 4),
                                                   FS_ROW5(direct_bwd_w_taps, 5), FS_ROW5(direct_bwd_w_taps, 6),
                                                   FS_ROW5(direct_bwd_w_taps, 7), FS_ROW5(direct_bwd_w_taps, 8)};
#undef FS_ROW5

// The AVX2 tables: blocks of up to 6 channels (forward: output channels; backward data: input channels) ×
// direct_segs_avx2(block) segments of 8, and for the weight gradient NO output channels × KG taps with
// NO·KG + NO + 1 ≤ 16 registers (direct_wb_oc_avx2).
#define FS_ROW4(T, A) \
    { T<A, 1>, T<A, 2>, T<A, 3>, T<A, 4> }
const FwdTile k_fwd_tiles2[k_cb][k_tile_segs] = {
    FS_ROW4(direct_fwd_tile_avx2, 1), FS_ROW4(direct_fwd_tile_avx2, 2), FS_ROW4(direct_fwd_tile_avx2, 3),
    FS_ROW4(direct_fwd_tile_avx2, 4), FS_ROW4(direct_fwd_tile_avx2, 5), FS_ROW4(direct_fwd_tile_avx2, 6)};
const BwdDataTile k_bwd_data_tiles2[k_cb][k_tile_segs] = {
    FS_ROW4(direct_bwd_data_tile_avx2, 1), FS_ROW4(direct_bwd_data_tile_avx2, 2),
    FS_ROW4(direct_bwd_data_tile_avx2, 3), FS_ROW4(direct_bwd_data_tile_avx2, 4),
    FS_ROW4(direct_bwd_data_tile_avx2, 5), FS_ROW4(direct_bwd_data_tile_avx2, 6)};
#undef FS_ROW4
#define FS_ROW5(T, A) \
    { T<A, 1>, T<A, 2>, T<A, 3>, T<A, 4>, T<A, 5> }
constexpr int64_t k_wb_oc2 = 7;
const BwdWTaps k_bwd_w_taps2[k_wb_oc2][k_wb_taps] = {
    FS_ROW5(direct_bwd_w_taps_avx2, 1), FS_ROW5(direct_bwd_w_taps_avx2, 2), FS_ROW5(direct_bwd_w_taps_avx2, 3),
    FS_ROW5(direct_bwd_w_taps_avx2, 4), FS_ROW5(direct_bwd_w_taps_avx2, 5), FS_ROW5(direct_bwd_w_taps_avx2, 6),
    FS_ROW5(direct_bwd_w_taps_avx2, 7)};
#undef FS_ROW5

// Segments per AVX2 tile for a block of nb channels: nb·V accumulators + V vectors + 1 broadcast ≤ 16.
int64_t direct_segs_avx2(int64_t nb) { return nb <= 2 ? 4 : nb <= 4 ? 3 : 2; }
// Output channels per AVX2 weight-gradient block for kg taps: no·kg + no + 1 ≤ 16.
int64_t direct_wb_oc_avx2(int64_t kg) { return std::min<int64_t>(k_wb_oc2, 15 / (kg + 1)); }

// What the direct drivers run: the AVX-512 kernels on 16-lane segments, or the AVX2 ones on 8-lane segments.
struct DirectIsa {
    bool avx512;
    int64_t width;  // lanes per segment
    explicit DirectIsa(bool a) : avx512(a), width(a ? 16 : 8) {}
    // segments per tile for blocks whose first (largest) block has nb channels
    int64_t tile_segs(int64_t nb) const { return avx512 ? k_tile_segs : direct_segs_avx2(nb); }
    FwdTile fwd(int64_t nb, int64_t ns) const { return (avx512 ? k_fwd_tiles : k_fwd_tiles2)[nb - 1][ns - 1]; }
    BwdDataTile bwd_data(int64_t cb, int64_t ns) const {
        return (avx512 ? k_bwd_data_tiles : k_bwd_data_tiles2)[cb - 1][ns - 1];
    }
    int64_t wb_oc(int64_t kg) const { return avx512 ? std::min(k_wb_oc, k_wb_acc / kg) : direct_wb_oc_avx2(kg); }
    BwdWTaps bwd_w(int64_t no, int64_t kg) const {
        return avx512 ? k_bwd_w_taps[no - 1][kg - 1] : k_bwd_w_taps2[no - 1][kg - 1];
    }
};

void direct_forward(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* b,
                    float* y) {
    const DirectIsa isa(have_avx512());
    const Phased ph(p, g);
    const int64_t taps = g.KH * g.KW, CT = g.C * taps, P = g.Ho * g.Wo, OC = g.OC;
    float* xs = t_pad.get(g.N * g.C * ph.cstride + k_direct_slack);
    std::fill(xs + g.N * g.C * ph.cstride, xs + g.N * g.C * ph.cstride + k_direct_slack, 0.f);
    pad_input(p, g, ph, x, xs);
    // Output channels in blocks of up to k_cb; block [o0, o0 + nb) packs its weights at wt + o0·CT as
    // [c][kh][kw][j]: one tap's nb weights side by side.
    float* wt = t_wpack.get(OC * CT);
    for (int64_t o0 = 0; o0 < OC; o0 += k_cb) {
        const int64_t nb = std::min(k_cb, OC - o0);
        for (int64_t j = 0; j < nb; ++j)
            for (int64_t ct = 0; ct < CT; ++ct) wt[o0 * CT + ct * nb + j] = w[(o0 + j) * CT + ct];
    }
    const std::vector<Seg> segs = segments(g.Ho, g.Wo, ph.Ws, g.Wo, isa.width);
    const int64_t tseg = isa.tile_segs(std::min(k_cb, OC));
    const int64_t nseg = int64_t(segs.size()), tiles = (nseg + tseg - 1) / tseg;
    par(g.N * tiles, g.N * P * CT * OC, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t n = i / tiles, s0 = i % tiles * tseg, ns = std::min(tseg, nseg - s0);
            for (int64_t o0 = 0; o0 < OC; o0 += k_cb) {
                const int64_t nb = std::min(k_cb, OC - o0);
                isa.fwd(nb, ns)(xs + n * g.C * ph.cstride, segs.data() + s0, g.C, ph.cstride, ph.toff.data(), taps,
                                wt + o0 * CT, b ? b + o0 : nullptr, y + (n * OC + o0) * P, P);
            }
        }
    });
}

void direct_backward(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* dy,
                     float* dx, float* dw) {
    const int64_t Hp = g.H + p.pad_top + p.pad_bottom, Wp = g.W + p.pad_left + p.pad_right, plane = Hp * Wp;
    const int64_t taps = g.KH * g.KW, OC = g.OC, P = g.Ho * g.Wo;
    const DirectIsa isa(have_avx512());
    if (dw) {
        const Phased ph(p, g);
        float* xs = t_pad.get(g.N * g.C * ph.cstride);
        pad_input(p, g, ph, x, xs);
        const int64_t kgmax = std::min(k_wb_taps, g.KW), ob = isa.wb_oc(kgmax);
        const int64_t oblocks = (OC + ob - 1) / ob;
        // The images in chunks whose dy rows for one oc block stay in L2 (~384 KiB) while every (c, kh) of the
        // block reads them; each chunk's sums are added to the last. Streaming all N images per (c, kh) instead
        // re-read a 1 MiB dy block from L3 for each of the C·KH tasks at 64 px.
        const int64_t nchunk = std::clamp<int64_t>((int64_t(384) << 10) / std::max<int64_t>(1, ob * P * 4), 1, g.N);
        auto task = [&](int64_t o0, int64_t c, int64_t kh, int64_t n0, int64_t n1, bool add) {
            const int64_t no = std::min(ob, OC - o0);
            for (int64_t kw0 = 0; kw0 < g.KW; kw0 += kgmax) {
                const int64_t kg = std::min(kgmax, g.KW - kw0), t0 = kh * g.KW + kw0;
                isa.bwd_w(no, kg)(xs + n0 * g.C * ph.cstride + c * ph.cstride, ph.toff.data() + t0,
                                  dy + n0 * OC * P + o0 * P, n1 - n0, g.C * ph.cstride, OC * P, g.Ho, g.Wo, ph.Ws,
                                  dw + (o0 * g.C + c) * taps + t0, g.C * taps, add);
            }
        };
        const int threads = in_parallel_region() ? 1 : num_threads();
        if (nchunk < g.N && oblocks >= 2 * threads) {
            // Tasks: oc blocks (each thread owns whole blocks, so the chunks' additions never race).
            par(oblocks, g.N * P * g.C * taps * OC, [&](int64_t b0, int64_t b1) {
                for (int64_t b = b0; b < b1; ++b)
                    for (int64_t n0 = 0; n0 < g.N; n0 += nchunk)
                        for (int64_t c = 0; c < g.C; ++c)
                            for (int64_t kh = 0; kh < g.KH; ++kh)
                                task(b * ob, c, kh, n0, std::min(g.N, n0 + nchunk), n0 > 0);
            });
        } else {
            // Tasks (oc block, c, kh), oc block outermost so a thread's consecutive tasks share its dy channels.
            par(oblocks * g.C * g.KH, g.N * P * g.C * taps * OC, [&](int64_t i0, int64_t i1) {
                for (int64_t i = i0; i < i1; ++i)
                    task(i / (g.C * g.KH) * ob, i / g.KH % g.C, i % g.KH, 0, g.N, false);
            });
        }
    }
    if (!dx) return;
    // dyq: dy with KH−1 zero rows above and below, KW−1 zero columns left and right.
    const int64_t Hq = g.Ho + 2 * (g.KH - 1), Wq = g.Wo + 2 * (g.KW - 1), qplane = Hq * Wq;
    float* dyq = t_dy.get(g.N * OC * qplane + k_direct_slack);
    std::fill(dyq + g.N * OC * qplane, dyq + g.N * OC * qplane + k_direct_slack, 0.f);
    par(g.N * OC, g.N * OC * qplane, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            float* q = dyq + i * qplane;
            std::memset(q, 0, size_t(qplane) * sizeof(float));
            for (int64_t oh = 0; oh < g.Ho; ++oh)
                std::memcpy(q + (oh + g.KH - 1) * Wq + g.KW - 1, dy + i * P + oh * g.Wo, size_t(g.Wo) * sizeof(float));
        }
    });
    // [o][kh][kw][c]: a tap's weights for consecutive c side by side. The AVX2 path packs them per block of k_cb
    // input channels instead ([block][o][kh][kw][j], 14 KiB for 64 × 9 taps × 6): a tile then reads its block's
    // weights from L1, where the [o][kh][kw][c] rows put every tap's 6 weights on another line of a 147 KiB array
    // (64 → 64 at 64 px: the data gradient took 1.5× the forward's time).
    const bool blocked = !isa.avx512;
    float* w2 = t_wpack.get(OC * taps * g.C);
    for (int64_t o = 0; o < OC; ++o)
        for (int64_t c = 0; c < g.C; ++c) {
            const int64_t c0 = c / k_cb * k_cb, cb = std::min(k_cb, g.C - c0);
            for (int64_t t = 0; t < taps; ++t)
                w2[blocked ? c0 * OC * taps + (o * taps + t) * cb + (c - c0) : (o * taps + t) * g.C + c] =
                    w[(o * g.C + c) * taps + t];
        }
    // Zero padding: only the gradient of the real cells is needed, computed straight into dx. Reflect: the whole
    // padded gradient of a block of channels into a buffer, then every padded cell folded onto its mirror source.
    const bool reflect = p.pad_mode == PadMode::reflect;
    const std::vector<Seg> segs =
        reflect ? segments(Hp, Wp, Wq, Wp, isa.width) : segments(g.H, g.W, Wq, g.W, isa.width);
    const int64_t base = reflect ? 0 : p.pad_top * Wq + p.pad_left;  // dq offset of the first computed cell
    const int64_t nseg = int64_t(segs.size()), groups = (g.C + k_cb - 1) / k_cb;
    const int64_t tseg = isa.tile_segs(std::min(k_cb, g.C));
    if (blocked && !reflect) {
        // AVX2, zero padding: tasks are (image, tile) with every channel block inside, as in the forward, so a
        // tile's dy rows (OC channels × KH rows) are read from L1 by each block. Blocks outermost re-read the
        // image's whole padded dy (1.2 MB at 64 → 64, 64 px) from L3 once per block: the kernel stalled on its
        // loads for two thirds of its time.
        const int64_t tiles = (nseg + tseg - 1) / tseg;
        par(g.N * tiles, g.N * P * g.C * taps * OC, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t n = i / tiles, s0 = i % tiles * tseg, ns = std::min(tseg, nseg - s0);
                const float* dqn = dyq + n * OC * qplane + (g.KH - 1) * Wq + (g.KW - 1) + base;
                for (int64_t c0 = 0; c0 < g.C; c0 += k_cb) {
                    const int64_t cb = std::min(k_cb, g.C - c0);
                    isa.bwd_data(cb, ns)(dqn, segs.data() + s0, OC, qplane, Wq, g.KH, g.KW, w2 + c0 * OC * taps, cb,
                                         dx + (n * g.C + c0) * g.H * g.W, g.H * g.W);
                }
            }
        });
        return;
    }
    par(g.N * groups, g.N * P * g.C * taps * OC, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t n = i / groups, c0 = i % groups * k_cb, cb = std::min(k_cb, g.C - c0);
            const float* dqn = dyq + n * OC * qplane + (g.KH - 1) * Wq + (g.KW - 1) + base;
            float* dxn = dx + (n * g.C + c0) * g.H * g.W;
            float* out = reflect ? t_tmp.get(k_cb * plane) : dxn;
            const int64_t ochan = reflect ? plane : g.H * g.W;
            for (int64_t s0 = 0; s0 < nseg; s0 += tseg)
                isa.bwd_data(cb, std::min(tseg, nseg - s0))(dqn, segs.data() + s0, OC, qplane, Wq, g.KH, g.KW,
                                                            blocked ? w2 + c0 * OC * taps : w2 + c0,
                                                            blocked ? cb : g.C, out, ochan);
            if (reflect) {
                std::memset(dxn, 0, size_t(cb * g.H * g.W) * sizeof(float));
                for (int64_t j = 0; j < cb; ++j)
                    for (int64_t ph = 0; ph < Hp; ++ph) {
                        const int64_t ih = pad_source_index(ph - p.pad_top, g.H, p.pad_mode);
                        const float* br = out + j * plane + ph * Wp;
                        float* dr = dxn + j * g.H * g.W + ih * g.W;
                        for (int64_t pw = 0; pw < Wp; ++pw)
                            dr[pad_source_index(pw - p.pad_left, g.W, p.pad_mode)] += br[pw];
                    }
            }
        }
    });
}

// --- the tap-decomposed GEMM (small maps with zero padding) --------------------------------------------------------
// On a 4×4 map a 3×3 'same' convolution's im2col matrix is 31 % zero padding (8×8: 16 %; the discriminator's 4×4/s2
// block at 16 px: 12 %), and the batched GEMM multiplies all of it. Here each kernel tap t = (kh, kw) is a product
// of its own over just the output positions p where it reads inside the input (at q_t(p) = p·stride + t − pad):
//   forward:        yᵀ[(n, p)][oc]        += Σ_c  x[n, c, q_t(p)] · w[oc, c, t]
//   backward data:  dxᵀ[(n, q_t(p))][c]    += Σ_oc dy[n, oc, p] · w[oc, c, t]
// Both are "rows of the output += A_t · B_t" with A_t's rows gathered from an NCHW tensor (one row per valid
// (n, p), its K = C or OC channels kstride floats apart) and B_t (K × M) the tap's slice of w, read with stride
// KH·KW. The output is a positions × M buffer (ld a multiple of 32) that a transpose turns into NCHW at the end.
// A register tile is 12 rows × 32 columns, as sgemm's AVX-512 kernel, but its rows are stored through 12 row
// pointers, so a tap's rows land on the output rows they belong to with no scatter pass (with stride 2 several
// taps' rows land on one input row, one after another in the same thread). A_t is packed for all taps up front
// (Σ_t rows_t × K floats, ~3 MB for the encoder's 4×4 layer); B_t is packed for all taps at once per (32-column
// panel pair, K block), so each slice of w is read from memory once per call and its de-interleave happens in
// cache. The weight gradient stays on the batched GEMM.
constexpr int64_t k_tap_mr = 12, k_tap_nr = 32;
constexpr int64_t k_tap_kc = 256;                          // K block, at most
// The B block of all taps (T × k_tap_np panels × K block × 32 floats) is kept within this many floats (576 KiB,
// 9 taps at K = 256: it stays in L2 next to the A panels streaming through): 16 taps take K blocks of 144.
constexpr int64_t k_tap_b_floats = 9 * 2 * 256 * 32;
constexpr int64_t k_tap_np = 2;                            // 32-column panels per B block
constexpr int64_t k_tap_max_pack = int64_t(8) << 20;       // A floats packed at once (32 MiB): images per chunk
// The share of (tap, output position) pairs that read inside the input, below which the taps path is taken: the
// 4×4 map (0.69) and the 8×8 maps at stride 1 and 2 (0.84) gained 10-30 %; the discriminator's 4×4/s2 block at
// 16 px (0.88: 16 taps, 128 and 256 channels) gained nothing forward and lost 18 % backward (the packing of A and
// the smaller K blocks of 16 taps cost more than the 12 % of work skipped). On Zen 3 with AVX2 the same cut-off
// holds: the 4×4 and 8×8 maps ran 1.2-1.9× faster than the batched GEMM, while that block and the encoder's
// 3×3/s2 block at 16 px (0.92) ran 15-55 % slower with taps.
constexpr double k_tap_max_valid = 0.86;

// Rows of one tap: in the gathered tensor, the offset of the row's channel-0 element; in the output, the row.
struct TapRows {
    std::vector<int64_t> first{0};  // rows of tap t: [first[t], first[t + 1])
    std::vector<int64_t> src, dst;
    std::vector<int64_t> panel0{0};  // the first 12-row panel of tap t, and the total at the end
};

// The valid output range [lo, hi) along one axis for kernel offset k: o·s + k − pad inside [0, in).
inline void tap_range(int64_t k, int64_t pad, int64_t s, int64_t in, int64_t out, int64_t* lo, int64_t* hi) {
    auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
    *lo = std::clamp<int64_t>(-floor_div(k - pad, s), 0, out);  // ceil((pad − k) / s)
    *hi = std::clamp<int64_t>(floor_div(in - 1 + pad - k, s) + 1, *lo, out);
}

// Σ over taps of the output positions where the tap reads inside the input: A's rows per image.
int64_t tap_valid(const Conv2dParams& p, const Conv2dGeom& g) {
    int64_t valid = 0;
    for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
            int64_t h0, h1, w0, w1;
            tap_range(kh, p.pad_top, p.stride_h, g.H, g.Ho, &h0, &h1);
            tap_range(kw, p.pad_left, p.stride_w, g.W, g.Wo, &w0, &w1);
            valid += (h1 - h0) * (w1 - w0);
        }
    return valid;
}

bool use_taps(const Conv2dParams& p, const Conv2dGeom& g) {
    // The kernel on the level the SGEMM paths run at (tests force both down together).
    const SgemmKernel want = have_avx512() ? SgemmKernel::avx512 : SgemmKernel::avx2;
    if (p.pad_mode != PadMode::zeros || g.KH * g.KW < 2 || !cpu_has_avx2() || sgemm_kernel_in_use() != want)
        return false;
    return double(tap_valid(p, g)) < k_tap_max_valid * double(g.KH * g.KW * g.Ho * g.Wo);
}

// The rows of images [n0, n0 + nimg) for every tap. Forward (backward = false): source x (channels H·W apart),
// output rows (n − n0)·Ho·Wo + p. Backward data: source dy (channels Ho·Wo apart), output rows (n − n0)·H·W + the
// input position the tap reads.
TapRows tap_rows(const Conv2dParams& p, const Conv2dGeom& g, int64_t n0, int64_t nimg, bool backward) {
    TapRows r;
    const int64_t HW = g.H * g.W, P = g.Ho * g.Wo;
    for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
            int64_t h0, h1, w0, w1;
            tap_range(kh, p.pad_top, p.stride_h, g.H, g.Ho, &h0, &h1);
            tap_range(kw, p.pad_left, p.stride_w, g.W, g.Wo, &w0, &w1);
            for (int64_t n = 0; n < nimg; ++n)
                for (int64_t oh = h0; oh < h1; ++oh)
                    for (int64_t ow = w0; ow < w1; ++ow) {
                        const int64_t in = (oh * p.stride_h + kh - p.pad_top) * g.W + ow * p.stride_w + kw - p.pad_left;
                        const int64_t out = oh * g.Wo + ow;
                        if (backward) {
                            r.src.push_back((n0 + n) * g.OC * P + out);
                            r.dst.push_back(n * HW + in);
                        } else {
                            r.src.push_back((n0 + n) * g.C * HW + in);
                            r.dst.push_back(n * P + out);
                        }
                    }
            r.first.push_back(int64_t(r.src.size()));
            const int64_t rows = r.first.back() - r.first[r.first.size() - 2];
            r.panel0.push_back(r.panel0.back() + (rows + k_tap_mr - 1) / k_tap_mr);
        }
    return r;
}

// Walks the cache lines of a 2-D region (rows × span floats, rows `stride` floats apart), prefetching a given
// number of them per call (into L2), so a region streams in while the kernels compute.
struct RegionPrefetch {
    const char* base = nullptr;
    int64_t stride = 0, lines = 0, rows = 0, row = 0, line = 0;
    RegionPrefetch() = default;
    RegionPrefetch(const float* p, int64_t nrows, int64_t stride_floats, int64_t span_floats)
        : base(reinterpret_cast<const char*>(p)),
          stride(stride_floats * 4),
          lines(span_floats > 0 ? (span_floats * 4 + 63) / 64 + 1 : 0),  // +1: the span need not start on a line
          rows(nrows) {}
    int64_t total() const { return rows * lines; }
    void issue(int64_t n) {
        for (; n > 0 && row < rows; --n) {
            __builtin_prefetch(base + row * stride + line * 64, 0, 2);
            if (++line == lines) line = 0, ++row;
        }
    }
};

// The input rows [*r0, *r1) that output positions [p0, p0 + n) read, over all kernel rows.
void input_rows_read(const Conv2dParams& p, const Conv2dGeom& g, int64_t p0, int64_t n, int64_t* r0, int64_t* r1) {
    *r0 = std::max<int64_t>(0, p0 / g.Wo * p.stride_h - p.pad_top);
    *r1 = std::min<int64_t>(g.H, (p0 + n - 1) / g.Wo * p.stride_h + g.KH - p.pad_top);
}

// Prefetches (into L2) rows [r0, r1) of an input plane for the im2col gathers of the packers below: their few
// lines per row at a stride of two rows are too short a run for the hardware prefetchers, and the gathers would
// otherwise wait on L3 or memory.
void prefetch_rows(const float* plane, int64_t W, int64_t r0, int64_t r1) {
    if (r1 <= r0) return;
    RegionPrefetch rows(plane + r0 * W, 1, 0, (r1 - r0) * W);
    rows.issue(rows.total());
}

// C rows (12 pointers, each + col) += a (12 × kc, k-major) · b (kc × 32, k-major).
FS_TARGET_AVX512 void tap_kernel(int64_t kc, const float* a, const float* b, float* const* rows, int64_t col) {
    constexpr int MR = int(k_tap_mr);
    __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k, a += MR, b += k_tap_nr) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        float* c = rows[i] + col;
        _mm512_storeu_ps(c, _mm512_add_ps(_mm512_loadu_ps(c), acc0[i]));
        _mm512_storeu_ps(c + 16, _mm512_add_ps(_mm512_loadu_ps(c + 16), acc1[i]));
    }
}

// B panels of every tap for output columns [j0, j0 + np·32) and K rows [k0, k0 + kc): panel (t, jr) at
// dst + (t·np + jr)·kc·32, element (k, j) = w[(j0 + jr·32 + j)·CT + (k0 + k)·T + t] (forward: K = C, columns =
// OC) or w[(k0 + k)·CT + (j0 + jr·32 + j)·T + t] (backward data: K = OC, columns = C); columns past M are zero.
FS_TARGET_AVX512 void tap_pack_b(const float* w, int64_t T, int64_t CT, int64_t M, bool backward, int64_t j0,
                                 int64_t np, int64_t k0, int64_t kc, float* dst) {
    const int64_t pstride = kc * k_tap_nr;
    if (!backward) {
        // Each group of 16 columns (output channels) reads 16 rows of w, kc·T contiguous floats each; a 16 × 16
        // transpose turns 16 consecutive (k, t) of them into one 16-lane vector per (k, t).
        for (int64_t jr = 0; jr < np; ++jr)
            for (int64_t h = 0; h < 2; ++h) {
                const int64_t jg = j0 + jr * k_tap_nr + 16 * h;
                const int64_t n = std::clamp<int64_t>(M - jg, 0, 16);
                const float* src = w + jg * CT + k0 * T;
                float* d = dst + jr * pstride + 16 * h;
                const int64_t span = kc * T;
                int64_t u = 0;
                if (n == 16)
                    for (; u + 16 <= span; u += 16) {
                        __m512 r[16];
#pragma GCC unroll 16
                        for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * CT + u);
                        transpose16x16_avx512(r);
                        int64_t k = u / T, t = u % T;
#pragma GCC unroll 16
                        for (int l = 0; l < 16; ++l) {
                            _mm512_store_ps(d + t * np * pstride + k * k_tap_nr, r[l]);
                            if (++t == T) t = 0, ++k;
                        }
                    }
                for (; u < span; ++u) {
                    const int64_t k = u / T, t = u % T;
                    float* o = d + t * np * pstride + k * k_tap_nr;
                    for (int64_t i = 0; i < 16; ++i) o[i] = i < n ? src[i * CT + u] : 0.f;
                }
            }
        return;
    }
    // Backward: row k of w's slice holds the columns' T taps interleaved (j·T + t). 16 columns' runs of T floats
    // go into 16 registers, and a 16 × 16 transpose makes register t the tap-t vector of those 16 columns (T <= 16;
    // AVX-512 gathers measured ~8x slower here, and a scalar de-interleave ~4x).
    const __mmask16 tm = lanes(std::min<int64_t>(T, 16));
    for (int64_t k = 0; k < kc; ++k) {
        const float* src = w + (k0 + k) * CT;
        for (int64_t jr = 0; jr < np; ++jr)
            for (int64_t h = 0; h < 2; ++h) {
                const int64_t jg = j0 + jr * k_tap_nr + 16 * h;
                const int64_t n = std::clamp<int64_t>(M - jg, 0, 16);
                float* d = dst + jr * pstride + k * k_tap_nr + 16 * h;
                if (T <= 16) {
                    __m512 r[16];
#pragma GCC unroll 16
                    for (int i = 0; i < 16; ++i)
                        r[i] = i < n ? _mm512_maskz_loadu_ps(tm, src + (jg + i) * T) : _mm512_setzero_ps();
                    transpose16x16_avx512(r);
                    for (int64_t t = 0; t < T; ++t) _mm512_store_ps(d + t * np * pstride, r[t]);
                    continue;
                }
                for (int64_t t = 0; t < T; ++t)
                    for (int64_t i = 0; i < 16; ++i) d[t * np * pstride + i] = i < n ? src[(jg + i) * T + t] : 0.f;
            }
    }
}

// The AVX2 versions, on the same packed panels. The 12 × 32 tile runs as four 6 × 16 quarters (12 ymm
// accumulators, 2 B vectors and a broadcast), B's column half outermost so that the half (16 KiB at kc = 256) and
// the A panel (12 KiB) stay in L1 for both row halves.
FS_TARGET_AVX2 void tap_kernel_avx2(int64_t kc, const float* a, const float* b, float* const* rows, int64_t col) {
    constexpr int MR = int(k_tap_mr), R = MR / 2;
    for (int ch = 0; ch < 2; ++ch)
        for (int rh = 0; rh < 2; ++rh) {
            __m256 acc0[R], acc1[R];
#pragma GCC unroll 6
            for (int i = 0; i < R; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
            const float* ak = a + rh * R;
            const float* bk = b + ch * 16;
            for (int64_t k = 0; k < kc; ++k, ak += MR, bk += k_tap_nr) {
                __m256 b0 = _mm256_load_ps(bk), b1 = _mm256_load_ps(bk + 8);
                FS_IN_REGISTER(b0);
                FS_IN_REGISTER(b1);
#pragma GCC unroll 6
                for (int i = 0; i < R; ++i) {
                    const __m256 ai = _mm256_broadcast_ss(ak + i);
                    acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
                    acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
                }
            }
#pragma GCC unroll 6
            for (int i = 0; i < R; ++i) {
                float* c = rows[rh * R + i] + col + ch * 16;
                _mm256_storeu_ps(c, _mm256_add_ps(_mm256_loadu_ps(c), acc0[i]));
                _mm256_storeu_ps(c + 8, _mm256_add_ps(_mm256_loadu_ps(c + 8), acc1[i]));
            }
        }
}

// tap_pack_b with 8 × 8 transposes: groups of 8 columns; forward, 8 consecutive (k, t) of 8 rows of w at a time;
// backward, the first 8·⌊T/8⌋ taps of 8 columns at a time and the rest (the ninth tap of a 3 × 3 kernel) copied.
FS_TARGET_AVX2 void tap_pack_b_avx2(const float* w, int64_t T, int64_t CT, int64_t M, bool backward, int64_t j0,
                                    int64_t np, int64_t k0, int64_t kc, float* dst) {
    const int64_t pstride = kc * k_tap_nr, tstride = np * pstride;
    if (!backward) {
        for (int64_t jr = 0; jr < np; ++jr)
            for (int64_t h = 0; h < 4; ++h) {
                const int64_t jg = j0 + jr * k_tap_nr + 8 * h;
                const int64_t n = std::clamp<int64_t>(M - jg, 0, 8);
                const float* src = w + jg * CT + k0 * T;
                float* d = dst + jr * pstride + 8 * h;
                const int64_t span = kc * T;
                int64_t u = 0;
                if (n == 8)
                    for (; u + 8 <= span; u += 8) {
                        __m256 r[8];
#pragma GCC unroll 8
                        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * CT + u);
                        transpose8x8_avx2(r);
                        int64_t k = u / T, t = u % T;
#pragma GCC unroll 8
                        for (int l = 0; l < 8; ++l) {
                            _mm256_store_ps(d + t * tstride + k * k_tap_nr, r[l]);
                            if (++t == T) t = 0, ++k;
                        }
                    }
                for (; u < span; ++u) {
                    const int64_t k = u / T, t = u % T;
                    float* o = d + t * tstride + k * k_tap_nr;
                    for (int64_t i = 0; i < 8; ++i) o[i] = i < n ? src[i * CT + u] : 0.f;
                }
            }
        return;
    }
    const int64_t T8 = T / 8 * 8;
    for (int64_t k = 0; k < kc; ++k) {
        const float* src = w + (k0 + k) * CT;
        for (int64_t jr = 0; jr < np; ++jr)
            for (int64_t h = 0; h < 4; ++h) {
                const int64_t jg = j0 + jr * k_tap_nr + 8 * h;
                const int64_t n = std::clamp<int64_t>(M - jg, 0, 8);
                float* d = dst + jr * pstride + k * k_tap_nr + 8 * h;
                for (int64_t t0 = 0; t0 < T8; t0 += 8) {
                    __m256 r[8];
#pragma GCC unroll 8
                    for (int i = 0; i < 8; ++i)
                        r[i] = i < n ? _mm256_loadu_ps(src + (jg + i) * T + t0) : _mm256_setzero_ps();
                    transpose8x8_avx2(r);
#pragma GCC unroll 8
                    for (int l = 0; l < 8; ++l) _mm256_store_ps(d + (t0 + l) * tstride, r[l]);
                }
                for (int64_t t = T8; t < T; ++t)
                    for (int64_t i = 0; i < 8; ++i) d[t * tstride + i] = i < n ? src[(jg + i) * T + t] : 0.f;
            }
    }
}

// out (rows × ldo, zeroed by the caller; row `rows` is a scratch row for panels' padding) += Σ_t A_t · B_t over
// M columns. src: the gathered tensor, channel k of row r at src[rows.src[r] + k·kstride], K channels.
void tap_gemm(const TapRows& tr, const float* src, int64_t kstride, int64_t K, const float* w, int64_t T, int64_t CT,
              int64_t M, bool backward, float* out, int64_t ldo, int64_t out_rows) {
    const int64_t ntap = int64_t(tr.first.size()) - 1;
    const bool avx512 = have_avx512();
    const int64_t kcb = std::clamp<int64_t>(k_tap_b_floats / (ntap * k_tap_np * k_tap_nr) / 16 * 16, 16, k_tap_kc);
    const int64_t panels = tr.panel0.back(), kblocks = (K + kcb - 1) / kcb;
    const int64_t pstride = kcb * k_tap_mr;
    float* apack = t_col.get(kblocks * panels * pstride);
    // A panels, (K block, panel) units in parallel: dst[k·12 + i] = row i's channel k (0 for padding rows).
    par(kblocks * panels, kblocks * panels * pstride, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1; ++u) {
            const int64_t kb = u / panels, q = u % panels;
            const int64_t t = std::upper_bound(tr.panel0.begin(), tr.panel0.end(), q) - tr.panel0.begin() - 1;
            const int64_t r0 = tr.first[size_t(t)] + (q - tr.panel0[size_t(t)]) * k_tap_mr;
            const int64_t nr = std::min(k_tap_mr, tr.first[size_t(t) + 1] - r0);
            const int64_t k0 = kb * kcb, kc = std::min(kcb, K - k0);
            float* d = apack + u * pstride;
            for (int64_t i = 0; i < k_tap_mr; ++i) {
                if (i >= nr) {
                    for (int64_t k = 0; k < kc; ++k) d[k * k_tap_mr + i] = 0.f;
                    continue;
                }
                const float* s = src + tr.src[size_t(r0 + i)] + k0 * kstride;
                for (int64_t k = 0; k < kc; ++k) d[k * k_tap_mr + i] = s[k * kstride];
            }
        }
    });
    // Threads take contiguous runs of 32-column panels; each packs its own B blocks.
    const int64_t jpanels = (M + k_tap_nr - 1) / k_tap_nr;
    const int threads = in_parallel_region() ? 1 : num_threads();
    parallel_for(std::min<int64_t>(threads, jpanels), [&](int64_t t0, int64_t t1) {
        for (int64_t th = t0; th < t1; ++th) {
            const int64_t nth = std::min<int64_t>(threads, jpanels);
            const int64_t p0 = jpanels * th / nth, p1 = jpanels * (th + 1) / nth;
            float* bpack = t_wpack.get(ntap * k_tap_np * kcb * k_tap_nr);
            float* rowp[k_tap_mr];
            for (int64_t jp = p0; jp < p1; jp += k_tap_np) {
                const int64_t np = std::min(k_tap_np, p1 - jp);
                for (int64_t kb = 0; kb < kblocks; ++kb) {
                    const int64_t k0 = kb * kcb, kc = std::min(kcb, K - k0);
                    (avx512 ? tap_pack_b : tap_pack_b_avx2)(w, T, CT, M, backward, jp * k_tap_nr, np, k0, kc,
                                                             bpack);
                    // The next block's slice of w, a few lines before each kernel call: w is read from memory
                    // once per call (75 MB for the encoder's 4×4 layer), and without this the packing stalls on it
                    // (a third of the kernels' time).
                    RegionPrefetch next;
                    {
                        const bool last_k = kb + 1 == kblocks;
                        const int64_t jn = last_k ? jp + np : jp, kn0 = last_k ? 0 : k0 + kc;
                        if (jn < p1) {
                            const int64_t nn = std::min(k_tap_np, p1 - jn) * k_tap_nr, kn = std::min(kcb, K - kn0);
                            const int64_t j_hi = std::min(M, jn * k_tap_nr + nn);
                            next = backward ? RegionPrefetch(w + kn0 * CT + jn * k_tap_nr * T, kn, CT,
                                                             (j_hi - jn * k_tap_nr) * T)
                                            : RegionPrefetch(w + jn * k_tap_nr * CT + kn0 * T, j_hi - jn * k_tap_nr, CT,
                                                             kn * T);
                        }
                    }
                    const int64_t calls = (panels * np);
                    for (int64_t t = 0; t < ntap; ++t)
                        for (int64_t q = tr.panel0[size_t(t)]; q < tr.panel0[size_t(t) + 1]; ++q) {
                            const int64_t r0 = tr.first[size_t(t)] + (q - tr.panel0[size_t(t)]) * k_tap_mr;
                            const int64_t nr = std::min(k_tap_mr, tr.first[size_t(t) + 1] - r0);
                            for (int64_t i = 0; i < k_tap_mr; ++i)
                                rowp[i] = out + (i < nr ? tr.dst[size_t(r0 + i)] : out_rows) * ldo;
                            const float* a = apack + (kb * panels + q) * pstride;
                            for (int64_t jr = 0; jr < np; ++jr) {
                                next.issue((next.total() + calls - 1) / calls);
                                (avx512 ? tap_kernel : tap_kernel_avx2)(kc, a, bpack + (t * np + jr) * kc * k_tap_nr,
                                                                        rowp, (jp + jr) * k_tap_nr);
                            }
                        }
                }
            }
        }
    });
}

// Images per chunk of the taps path: A's packed floats within k_tap_max_pack, the chunks as even as they go (each
// chunk packs all of w again: 7 + 1 images ran the 8×8 layer's data gradient no faster than the batched GEMM).
int64_t tap_chunk(const Conv2dParams& p, const Conv2dGeom& g, int64_t K) {
    const int64_t per = std::max<int64_t>(1, (tap_valid(p, g) + k_tap_mr * g.KH * g.KW) * K);
    const int64_t most = std::clamp<int64_t>(k_tap_max_pack / per, 1, g.N), chunks = (g.N + most - 1) / most;
    return (g.N + chunks - 1) / chunks;
}

void taps_forward(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* b,
                  float* y) {
    const int64_t P = g.Ho * g.Wo, T = g.KH * g.KW, ldo = (g.OC + k_tap_nr - 1) / k_tap_nr * k_tap_nr;
    const int64_t nb = tap_chunk(p, g, g.C);
    for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
        const int64_t m = std::min(nb, g.N - n0), rows = m * P;
        const TapRows tr = tap_rows(p, g, n0, m, false);
        float* out = t_tmp.get((rows + 1) * ldo);
        par(rows + 1, (rows + 1) * ldo, [&](int64_t r0, int64_t r1) {
            std::memset(out + r0 * ldo, 0, size_t((r1 - r0) * ldo) * sizeof(float));
        });
        tap_gemm(tr, x, g.H * g.W, g.C, w, T, g.C * T, g.OC, false, out, ldo, rows);
        par(m * g.OC, m * g.OC * P, [&](int64_t i0, int64_t i1) {  // outᵀ -> y[n0 + n, oc, :] (+ bias)
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t n = i / g.OC, oc = i % g.OC;
                const float bv = b ? b[oc] : 0.f;
                const float* s = out + n * P * ldo + oc;
                float* d = y + ((n0 + n) * g.OC + oc) * P;
                for (int64_t j = 0; j < P; ++j) d[j] = s[j * ldo] + bv;
            }
        });
    }
}

void taps_backward_data(const Conv2dParams& p, const Conv2dGeom& g, const float* w, const float* dy, float* dx) {
    const int64_t HW = g.H * g.W, T = g.KH * g.KW, ldo = (g.C + k_tap_nr - 1) / k_tap_nr * k_tap_nr;
    const int64_t nb = tap_chunk(p, g, g.OC);
    for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
        const int64_t m = std::min(nb, g.N - n0), rows = m * HW;
        const TapRows tr = tap_rows(p, g, n0, m, true);
        float* out = t_tmp.get((rows + 1) * ldo);
        par(rows + 1, (rows + 1) * ldo, [&](int64_t r0, int64_t r1) {
            std::memset(out + r0 * ldo, 0, size_t((r1 - r0) * ldo) * sizeof(float));
        });
        tap_gemm(tr, dy, g.Ho * g.Wo, g.OC, w, T, g.C * T, g.C, true, out, ldo, rows);
        par(m * g.C, m * g.C * HW, [&](int64_t i0, int64_t i1) {  // outᵀ -> dx[n0 + n, c, :]
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t n = i / g.C, c = i % g.C;
                const float* s = out + n * HW * ldo + c;
                float* d = dx + ((n0 + n) * g.C + c) * HW;
                for (int64_t j = 0; j < HW; ++j) d[j] = s[j * ldo];
            }
        });
    }
}
#endif  // FS_CONV_X86

// --- the GEMM paths ----------------------------------------------------------------------------------------------

#if FS_CONV_X86
// The lanes i of 8 whose index first + i lies in [f0, f1), as a maskload mask.
FS_TARGET_AVX2 inline __m256i window_mask_avx2(int64_t first, int64_t f0, int64_t f1) {
    const __m256i at = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(first)));
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(int(f0)), at),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32(int(f1)), at));
}

// d[0..16) = s[0], s[2], ..., s[30], the even lanes of a 31-float window (s[31] is not read), shuffled into order.
// With the window's lanes masked to [f0, f1) (f0 even), the lanes outside read as 0 and their memory is not
// touched: a piece that runs into zero padding.
FS_TARGET_AVX2 inline void gather16_stride2_avx2(const float* s, float* d, int64_t f0 = 0, int64_t f1 = 31) {
    __m256 v[4];
    if (f0 == 0 && f1 == 31) {
        v[0] = _mm256_loadu_ps(s), v[1] = _mm256_loadu_ps(s + 8), v[2] = _mm256_loadu_ps(s + 16);
        v[3] = _mm256_maskload_ps(s + 24, lane_mask8_avx2(7));
    } else {
        for (int i = 0; i < 4; ++i) v[i] = _mm256_maskload_ps(s + 8 * i, window_mask_avx2(8 * i, f0, f1));
    }
    // (s0 s2 s8 s10 | s4 s6 s12 s14), then its 64-bit pairs in the order 0, 2, 1, 3
    const __m256 a = _mm256_shuffle_ps(v[0], v[1], _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 b = _mm256_shuffle_ps(v[2], v[3], _MM_SHUFFLE(2, 0, 2, 0));
    _mm256_store_ps(d, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), _MM_SHUFFLE(3, 1, 2, 0))));
    _mm256_store_ps(d + 8, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(b), _MM_SHUFFLE(3, 1, 2, 0))));
}

// col2im_channel for stride 2 and zero padding, as a gather: each 16-pixel piece of an input row is summed in
// registers from every column row that read it, then stored once (no zeroing pass, no read-modify-write per
// tap). With the row's even pixels 2j and odd ones 2j + 1, tap kw reads the even ones when kw − pad_left is
// even, at output column ow = j + s (s = (pad_left − kw + parity) / 2), so each tap adds 8 consecutive column
// entries to the even or the odd lanes; a lane whose ow is outside [0, Wo) gets nothing (masked loads).
FS_TARGET_AVX2 void col2im_channel_s2_avx2(const Conv2dParams& p, const Conv2dGeom& g, const float* col,
                                           int64_t ldcol, int64_t c, float* dxc) {
    const int64_t KH = g.KH, KW = g.KW, Wo = g.Wo, pl = p.pad_left;
    for (int64_t ih = 0; ih < g.H; ++ih) {
        float* dr = dxc + ih * g.W;
        // the column rows (kh, kw) that read this input row, at output row oh: their entries for ow = 0
        const float* rows[64];
        int64_t shift[64], par[64], nt = 0;
        for (int64_t kh = 0; kh < KH; ++kh) {
            const int64_t t = ih + p.pad_top - kh;
            if (t < 0 || t % 2 != 0 || t / 2 >= g.Ho) continue;
            for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t pa = ((kw - pl) % 2 + 2) % 2;
                rows[nt] = col + ((c * KH + kh) * KW + kw) * ldcol + t / 2 * Wo;
                shift[nt] = (pl - kw + pa) / 2;
                par[nt++] = pa;
            }
        }
        for (int64_t j0 = 0; 2 * j0 < g.W; j0 += 8) {
            __m256 e = _mm256_setzero_ps(), o = _mm256_setzero_ps();
            for (int64_t t = 0; t < nt; ++t) {
                const int64_t first = j0 + shift[t];  // ow of lane 0
                __m256 v;
                if (first >= 0 && first + 8 <= Wo) {
                    v = _mm256_loadu_ps(rows[t] + first);
                } else {
                    v = _mm256_maskload_ps(rows[t] + first, window_mask_avx2(first, 0, Wo));
                }
                if (par[t])
                    o = _mm256_add_ps(o, v);
                else
                    e = _mm256_add_ps(e, v);
            }
            const __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);  // (e0 o0 e1 o1 | e4 o4 e5 o5)
            const int64_t n = std::min<int64_t>(16, g.W - 2 * j0);
            store8_avx2(dr + 2 * j0, _mm256_permute2f128_ps(lo, hi, 0x20), n);
            if (n > 8) store8_avx2(dr + 2 * j0 + 8, _mm256_permute2f128_ps(lo, hi, 0x31), n - 8);
        }
    }
}

// Im2colPack's row (c, kh, kw) for stride 2 with panels of a multiple of 16 columns that tile the output rows
// (Wo a multiple of the width): the pieces inside the input row by the shuffle above, the rest one by one.
FS_TARGET_AVX2 void pack_row_stride2_avx2(const float* xc, const int64_t* rows, const int64_t* cols, int64_t lo,
                                          int64_t hi, int64_t W, int64_t Wo, int64_t off, int64_t j0, int64_t nc,
                                          int64_t width, int64_t pstride, bool zeros, float* d) {
    int64_t oh = j0 / Wo, ow0 = j0 % Wo;
    for (int64_t q = 0; q * width < nc; ++q, d += pstride) {
        const int64_t ih = rows[oh];
        if (ih < 0) {
            for (int64_t i = 0; i < width; i += 8) _mm256_store_ps(d + i, _mm256_setzero_ps());
        } else {
            const float* xr = xc + ih * W;
            const int64_t n = std::min(width, nc - q * width);
            if (n == width && ow0 >= lo && ow0 + n <= hi) {
                for (int64_t i = 0; i < n; i += 16) gather16_stride2_avx2(xr + 2 * (ow0 + i) + off, d + i);
            } else if (zeros && n == width) {  // the columns outside [lo, hi) read padding: masked lanes
                for (int64_t i = 0; i < n; i += 16) {
                    const int64_t a = std::clamp<int64_t>(lo - ow0 - i, 0, 16);  // the valid outputs [a, e)
                    const int64_t e = std::clamp<int64_t>(hi - ow0 - i, a, 16);
                    gather16_stride2_avx2(xr + 2 * (ow0 + i) + off, d + i, 2 * a, std::max<int64_t>(2 * a, 2 * e - 1));
                }
            } else {
                for (int64_t i = 0; i < n; ++i) d[i] = cols[ow0 + i] < 0 ? 0.f : xr[cols[ow0 + i]];
                for (int64_t i = n; i < width; ++i) d[i] = 0.f;
            }
        }
        if ((ow0 += width) == Wo) ow0 = 0, ++oh;
    }
}
#endif

// col2im_channel's stride-2 path; false where it does not apply (reflect padding, other strides, no AVX2, more
// than 64 taps to a row).
bool col2im_channel_s2(const Conv2dParams& p, const Conv2dGeom& g, const float* col, int64_t ldcol, int64_t c,
                       float* dxc) {
#if FS_CONV_X86
    if (p.pad_mode != PadMode::zeros || p.stride_h != 2 || p.stride_w != 2 || g.KH * g.KW > 64 || !cpu_has_avx2())
        return false;
    col2im_channel_s2_avx2(p, g, col, ldcol, c, dxc);
    return true;
#else
    (void)p, (void)g, (void)col, (void)ldcol, (void)c, (void)dxc;
    return false;
#endif
}

#if FS_CONV_X86
// d = s[0], s[2], ..., s[14] with the lanes of the 15-float window outside [f0, f1) read as 0 (and not touched).
FS_TARGET_AVX2 inline __m256 gather8_stride2_avx2(const float* s, int64_t f0, int64_t f1) {
    __m256 v[2];
    if (f0 == 0 && f1 == 15) {
        v[0] = _mm256_loadu_ps(s), v[1] = _mm256_maskload_ps(s + 8, lane_mask8_avx2(7));
    } else {
        for (int i = 0; i < 2; ++i) v[i] = _mm256_maskload_ps(s + 8 * i, window_mask_avx2(8 * i, f0, f1));
    }
    const __m256 a = _mm256_shuffle_ps(v[0], v[1], _MM_SHUFFLE(2, 0, 2, 0));  // (s0 s2 s8 s10 | s4 s6 s12 s14)
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), _MM_SHUFFLE(3, 1, 2, 0)));
}

// ColTPack's blocks for stride 2, panels of a multiple of 8 columns, positions in pieces of 8 inside one output
// row: 8 column rows gathered over 8 positions, transposed in registers, stored as 8 panel rows.
FS_TARGET_AVX2 void pack_colt_stride2_avx2(const Conv2dParams& p, const Conv2dGeom& g, const int64_t* rows,
                                           const int64_t* lo, const int64_t* hi, const float* x, int64_t k0,
                                           int64_t kc, int64_t j0, int64_t nc, int64_t width, float* dst) {
    const int64_t taps = g.KH * g.KW, K = g.C * taps;
    int64_t r0, r1;  // the input rows the positions [k0, k0 + kc) read
    input_rows_read(p, g, k0, kc, &r0, &r1);
    for (int64_t q = 0; q * width < nc; ++q)
        for (int64_t h = 0; h < width; h += 8) {
            // the 8 column rows (c, kh, kw) of this group: plane, kernel row and column; -1: past K (zero)
            const float* plane[8];
            int64_t kh[8], off[8], kw[8];
            for (int r = 0; r < 8; ++r) {
                const int64_t j = j0 + q * width + h + r;
                kh[r] = -1;
                if (j >= j0 + nc || j >= K) continue;
                plane[r] = x + j / taps * g.H * g.W;
                kh[r] = j % taps / g.KW, kw[r] = j % g.KW, off[r] = kw[r] - p.pad_left;
            }
            int64_t oh = k0 / g.Wo, ow0 = k0 % g.Wo;
            // the next group's input rows for these positions, while this group gathers
            const int64_t jn = j0 + q * width + h + 8, jend = std::min(j0 + nc, K);
            for (int64_t c = jn / taps; jn < jend && c <= jend / taps && c < g.C && c <= (jn + 7) / taps; ++c)
                prefetch_rows(x + c * g.H * g.W, g.W, r0, r1);
            for (int64_t kk = 0; kk < kc; kk += 8) {
                __m256 v[8];
                for (int r = 0; r < 8; ++r) {
                    const int64_t ih = kh[r] < 0 ? -1 : rows[kh[r] * g.Ho + oh];
                    if (ih < 0) {
                        v[r] = _mm256_setzero_ps();
                        continue;
                    }
                    const int64_t a = std::clamp<int64_t>(lo[kw[r]] - ow0, 0, 8);  // the valid outputs [a, e)
                    const int64_t e = std::clamp<int64_t>(hi[kw[r]] - ow0, a, 8);
                    v[r] = gather8_stride2_avx2(plane[r] + ih * g.W + 2 * ow0 + off[r], 2 * a,
                                                std::max<int64_t>(2 * a, 2 * e - 1));
                }
                transpose8x8_avx2(v);
                float* d = dst + (q * kc + kk) * width + h;
                for (int i = 0; i < 8; ++i) _mm256_store_ps(d + i * width, v[i]);
                if ((ow0 += 8) == g.Wo) ow0 = 0, ++oh;
            }
        }
}
#endif

// The weight gradient's B = colᵀ (positions × column rows) of one image, packed block by block straight from the
// input (see Im2colPack): B(k, j) = col(j, k), the column matrix's row j at position k.
class ColTPack final : public SgemmPackB {
 public:
    ColTPack(const Conv2dParams& p, const Conv2dGeom& g, const ColIndex& ix, const float* xn)
        : m_p(p), m_g(g), m_ix(ix), m_x(xn) {}

    void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int width, float* dst) const override {
#if FS_CONV_X86
        if (m_p.stride_w == 2 && m_p.pad_mode == PadMode::zeros && width % 8 == 0 && m_g.Wo % 8 == 0 &&
            k0 % 8 == 0 && kc % 8 == 0 && cpu_has_avx2())
            return pack_colt_stride2_avx2(m_p, m_g, m_ix.rows.data(), m_ix.lo.data(), m_ix.hi.data(), m_x, k0, kc,
                                          j0, nc, width, dst);
#endif
        const int64_t taps = m_g.KH * m_g.KW;
        for (int64_t q = 0; q * width < nc; ++q)
            for (int64_t c = 0; c < width; ++c) {
                const int64_t j = j0 + q * width + c;
                float* d = dst + q * kc * width + c;
                if (q * width + c >= nc) {
                    for (int64_t k = 0; k < kc; ++k) d[k * width] = 0.f;
                    continue;
                }
                const float* xc = m_x + j / taps * m_g.H * m_g.W;
                const int64_t kh = j % taps / m_g.KW, kw = j % m_g.KW;
                for (int64_t k = 0; k < kc; ++k) {
                    const int64_t oh = (k0 + k) / m_g.Wo, ow = (k0 + k) % m_g.Wo;
                    const int64_t ih = m_ix.rows[size_t(kh * m_g.Ho + oh)], iw = m_ix.cols[size_t(kw * m_g.Wo + ow)];
                    d[k * width] = ih < 0 || iw < 0 ? 0.f : xc[ih * m_g.W + iw];
                }
            }
    }

 private:
    const Conv2dParams& m_p;
    const Conv2dGeom& m_g;
    const ColIndex& m_ix;
    const float* m_x;
};

// One image's column matrix, B(k, j) = x[c, ih, iw] for k = (c·KH + kh)·KW + kw and output position
// j = oh·Wo + ow (0 in zero padding, the mirrored pixel in reflect padding), packed block by block straight from
// the input for sgemm_packed: the forward's im2col pass and the SGEMM's packing of its result become one gather.
class Im2colPack final : public SgemmPackB {
 public:
    Im2colPack(const Conv2dParams& p, const Conv2dGeom& g, const ColIndex& ix, const float* xn)
        : m_p(p), m_g(g), m_ix(ix), m_x(xn) {}

    void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int width, float* dst) const override {
        // Row by row of the block, each dealt out to the panels left to right (so the input is read in order).
        const int64_t taps = m_g.KH * m_g.KW;
#if FS_CONV_X86
        const bool s2 = m_p.stride_w == 2 && width % 16 == 0 && m_g.Wo % width == 0 && j0 % width == 0 &&
                        cpu_has_avx2();
        int64_t r0, r1;  // the input rows the columns [j0, j0 + nc) read
        input_rows_read(m_p, m_g, j0, nc, &r0, &r1);
#endif
        int64_t c = k0 / taps, kh = k0 % taps / m_g.KW, kw = k0 % m_g.KW;
        for (int64_t k = 0; k < kc; ++k) {
            const float* xc = m_x + c * m_g.H * m_g.W;
#if FS_CONV_X86
            if (s2) {
                if ((k == 0 || (kh == 0 && kw == 0)) && c + 1 < m_g.C)  // the next channel's, while this one packs
                    prefetch_rows(xc + m_g.H * m_g.W, m_g.W, r0, r1);
                pack_row_stride2_avx2(xc, m_ix.rows.data() + kh * m_g.Ho, m_ix.cols.data() + kw * m_g.Wo,
                                      m_ix.lo[size_t(kw)], m_ix.hi[size_t(kw)], m_g.W, m_g.Wo, kw - m_p.pad_left, j0,
                                      nc, width, kc * width, m_p.pad_mode == PadMode::zeros, dst + k * width);
                if (++kw == m_g.KW) {
                    kw = 0;
                    if (++kh == m_g.KH) kh = 0, ++c;
                }
                continue;
            }
#endif
            for (int64_t q = 0; q * width < nc; ++q) {
                float* d = dst + (q * kc + k) * width;
                const int64_t jq = j0 + q * width, n = std::min<int64_t>(width, nc - q * width);
                if (jq % m_g.Wo + n <= m_g.Wo) {
                    row_piece(xc, kh, kw, jq / m_g.Wo, jq % m_g.Wo, n, width, d);
                } else {  // a panel across output rows (maps narrower than a panel): one column at a time
                    for (int64_t i = 0; i < n; ++i)
                        row_piece(xc, kh, kw, (jq + i) / m_g.Wo, (jq + i) % m_g.Wo, 1, 1, d + i);
                    std::fill(d + n, d + width, 0.f);
                }
            }
            if (++kw == m_g.KW) {
                kw = 0;
                if (++kh == m_g.KH) kh = 0, ++c;
            }
        }
    }

 private:
    // d[0..n) = row (c, kh, kw) of the matrix at output row oh, columns ow0 .. ow0+n−1; d[n..width) = 0.
    void row_piece(const float* xc, int64_t kh, int64_t kw, int64_t oh, int64_t ow0, int64_t n, int width,
                   float* d) const {
        const int64_t ih = m_ix.rows[size_t(kh * m_g.Ho + oh)], sw = m_p.stride_w, off = kw - m_p.pad_left;
        if (ih < 0) return std::fill(d, d + width, 0.f);
        const float* xr = xc + ih * m_g.W;
        if (n == width && ow0 >= m_ix.lo[size_t(kw)] && ow0 + n <= m_ix.hi[size_t(kw)]) {  // inside the row
            const float* s = xr + ow0 * sw + off;
            if (sw == 1) return void(std::memcpy(d, s, size_t(n) * sizeof(float)));
            for (int64_t i = 0; i < n; ++i) d[i] = s[i * sw];
            return;
        }
        const int64_t* ct = m_ix.cols.data() + kw * m_g.Wo + ow0;
        for (int64_t i = 0; i < n; ++i) d[i] = ct[i] < 0 ? 0.f : xr[ct[i]];
        std::fill(d + n, d + width, 0.f);
    }

    const Conv2dParams& m_p;
    const Conv2dGeom& m_g;
    const ColIndex& m_ix;
    const float* m_x;
};


void forward_per_image(const Conv2dParams& p, const Conv2dGeom& g, const ColIndex& ix, const float* x, const float* w,
                       const float* b, float* y, int threads) {
    const int64_t K = g.C * g.KH * g.KW, P = g.Ho * g.Wo, CHW = g.C * g.H * g.W;
    const bool pointwise = is_pointwise(p, g);
    const SgemmPackedA wa(false, g.OC, K, w, K);  // packed once for every image
    parallel_for(threads, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t)
            for (int64_t n = g.N * t / threads; n < g.N * (t + 1) / threads; ++n) {
                const float* xn = x + n * CHW;
                float* yn = y + n * g.OC * P;
                if (b)
                    for (int64_t oc = 0; oc < g.OC; ++oc) std::fill(yn + oc * P, yn + (oc + 1) * P, b[oc]);
                if (pointwise)
                    sgemm_packed(wa, P, 1.f, xn, P, b ? 1.f : 0.f, yn, P);
                else
                    sgemm_packed(wa, P, 1.f, Im2colPack(p, g, ix, xn), b ? 1.f : 0.f, yn, P);
            }
    });
}

// im2col of images n0 .. n0+m−1 into col (K, m·P), in parallel over (image, channel).
void im2col_block(const Conv2dParams& p, const Conv2dGeom& g, const ColIndex& ix, const float* x, int64_t n0, int64_t m,
                  float* col) {
    const int64_t K = g.C * g.KH * g.KW, P = g.Ho * g.Wo, HW = g.H * g.W;
    par(m * g.C, K * m * P, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t n = i / g.C, c = i % g.C;
            im2col_channel(p, g, ix, x + ((n0 + n) * g.C + c) * HW, c, col + n * P, m * P);
        }
    });
}

void forward_blocked(const Conv2dParams& p, const Conv2dGeom& g, const ColIndex& ix, const float* x, const float* w,
                     const float* b, float* y) {
    const int64_t K = g.C * g.KH * g.KW, P = g.Ho * g.Wo, CHW = g.C * g.H * g.W;
    const bool pointwise = is_pointwise(p, g);
    const int64_t nb = block_images(g);
    for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
        const int64_t m = std::min(nb, g.N - n0), cols = m * P;
        const float* B = x + n0 * CHW;
        if (!(pointwise && m == 1)) {
            float* col = t_col.get(K * cols);
            im2col_block(p, g, ix, x, n0, m, col);
            B = col;
        }
        if (m == 1) {
            float* yn = y + n0 * g.OC * P;
            if (b)
                for (int64_t oc = 0; oc < g.OC; ++oc) std::fill(yn + oc * P, yn + (oc + 1) * P, b[oc]);
            sgemm(false, false, g.OC, P, K, 1.f, w, K, B, P, b ? 1.f : 0.f, yn, P);
            continue;
        }
        float* tmp = t_tmp.get(g.OC * cols);
        sgemm(false, false, g.OC, cols, K, 1.f, w, K, B, cols, 0.f, tmp, cols);
        par(m * g.OC, m * g.OC * P, [&](int64_t i0, int64_t i1) {  // (OC, m·P) -> y[n0 + n, oc, :] (+ bias)
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t n = i / g.OC, oc = i % g.OC;
                const float* src = tmp + oc * cols + n * P;
                float* dst = y + ((n0 + n) * g.OC + oc) * P;
                if (b) {
                    const float bv = b[oc];
                    for (int64_t j = 0; j < P; ++j) dst[j] = src[j] + bv;
                } else {
                    std::memcpy(dst, src, size_t(P) * sizeof(float));
                }
            }
        });
    }
}

void backward_per_image(const Conv2dParams& p, const Conv2dGeom& g, const ColIndex& ix, const float* x, const float* w,
                        const float* dy, float* dx, float* dw, int threads) {
    const int64_t K = g.C * g.KH * g.KW, P = g.Ho * g.Wo, CHW = g.C * g.H * g.W, HW = g.H * g.W;
    const bool pointwise = is_pointwise(p, g), transposed = dw && dw_transposed(g);
    // Thread t > 0 sums its images' dW into its own slice of `parts`; thread 0 writes dw itself, unless dW is
    // computed transposed: then every thread has a (K, OC) slice and the final sum transposes.
    const int64_t first_part = transposed ? 0 : 1;
    float* parts = dw ? t_part.get((threads - first_part) * g.OC * K) : nullptr;
    std::optional<SgemmPackedA> wt;  // Wᵀ (K, OC), packed once for every image's data gradient
    if (dx) wt.emplace(true, K, g.OC, w, K);
    parallel_for(threads, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t nb = g.N * t / threads, ne = g.N * (t + 1) / threads;
            float* dwt = !dw ? nullptr : t < first_part ? dw : parts + (t - first_part) * g.OC * K;
            float* col = pointwise || !dw || !transposed ? nullptr : t_col.get(K * P);
            float* dcol = pointwise || !dx ? nullptr : t_dcol.get(K * P);
            if (dwt && nb == ne) std::fill(dwt, dwt + g.OC * K, 0.f);
            for (int64_t n = nb; n < ne; ++n) {
                const float* xn = x + n * CHW;
                const float* dyn = dy + n * g.OC * P;
                if (dwt) {
                    const float beta = n == nb ? 0.f : 1.f;
                    if (!pointwise && !transposed) {  // dW += dy[n] · colᵀ, col never stored
                        sgemm_packed(false, g.OC, K, P, 1.f, dyn, P, ColTPack(p, g, ix, xn), beta, dwt, K);
                    } else {
                        if (!pointwise)
                            for (int64_t c = 0; c < g.C; ++c) im2col_channel(p, g, ix, xn + c * HW, c, col, P);
                        const float* cn = pointwise ? xn : col;
                        if (transposed)
                            sgemm(false, true, K, g.OC, P, 1.f, cn, P, dyn, P, beta, dwt, g.OC);
                        else
                            sgemm(false, true, g.OC, K, P, 1.f, dyn, P, cn, P, beta, dwt, K);
                    }
                }
                if (dx) {
                    float* dxn = dx + n * CHW;
                    if (pointwise) {
                        sgemm_packed(*wt, P, 1.f, dyn, P, 0.f, dxn, P);
                    } else {
                        sgemm_packed(*wt, P, 1.f, dyn, P, 0.f, dcol, P);
                        for (int64_t c = 0; c < g.C; ++c) col2im_channel(p, g, ix, dcol, P, c, dxn + c * HW);
                    }
                }
            }
        }
    });
    if (transposed) return sum_transposed(g, parts, threads, g.OC * K, dw);
    if (dw && threads > 1) {
        const int64_t total = g.OC * K;
        par(threads, total * threads, [&](int64_t c0, int64_t c1) {
            for (int64_t i = total * c0 / threads; i < total * c1 / threads; ++i) {
                float s = dw[i];
                for (int t = 1; t < threads; ++t) s += parts[(t - 1) * total + i];
                dw[i] = s;
            }
        });
    }
}

void backward_blocked(const Conv2dParams& p, const Conv2dGeom& g, const ColIndex& ix, const float* x, const float* w,
                      const float* dy, float* dx, float* dw) {
    const int64_t K = g.C * g.KH * g.KW, P = g.Ho * g.Wo, CHW = g.C * g.H * g.W, HW = g.H * g.W;
    const bool pointwise = is_pointwise(p, g), transposed = dw && dw_transposed(g);
    float* dwT = transposed ? t_part.get(K * g.OC) : nullptr;  // dWᵀ (K, OC) when computed that way round
    const int64_t nb = block_images(g);
    for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
        const int64_t m = std::min(nb, g.N - n0), cols = m * P;
        // dy of the block as one (OC, m·P) matrix
        const float* dyb = dy + n0 * g.OC * P;
        if (m > 1) {
            float* gathered = t_dy.get(g.OC * cols);
            par(m * g.OC, m * g.OC * P, [&](int64_t i0, int64_t i1) {
                for (int64_t i = i0; i < i1; ++i) {
                    const int64_t n = i / g.OC, oc = i % g.OC;
                    std::memcpy(gathered + oc * cols + n * P, dy + ((n0 + n) * g.OC + oc) * P,
                                size_t(P) * sizeof(float));
                }
            });
            dyb = gathered;
        }
        if (dw) {
            const float* B = x + n0 * CHW;
            if (!(pointwise && m == 1)) {
                float* col = t_col.get(K * cols);
                im2col_block(p, g, ix, x, n0, m, col);
                B = col;
            }
            const float beta = n0 == 0 ? 0.f : 1.f;
            if (transposed)
                sgemm(false, true, K, g.OC, cols, 1.f, B, cols, dyb, cols, beta, dwT, g.OC);
            else
                sgemm(false, true, g.OC, K, cols, 1.f, dyb, cols, B, cols, beta, dw, K);
        }
        if (dx) {
            if (pointwise && m == 1) {
                sgemm(true, false, K, P, g.OC, 1.f, w, K, dyb, P, 0.f, dx + n0 * CHW, P);
                continue;
            }
            float* dcol = t_dcol.get(K * cols);
            sgemm(true, false, K, cols, g.OC, 1.f, w, K, dyb, cols, 0.f, dcol, cols);
            par(m * g.C, K * cols, [&](int64_t i0, int64_t i1) {
                for (int64_t i = i0; i < i1; ++i) {
                    const int64_t n = i / g.C, c = i % g.C;
                    col2im_channel(p, g, ix, dcol + n * P, cols, c, dx + ((n0 + n) * g.C + c) * HW);
                }
            });
        }
    }
    if (transposed) sum_transposed(g, dwT, 1, 0, dw);
}

}  // namespace

void conv2d_forward_fast(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* b,
                         float* y) {
    if (g.N == 0) return;
    if (winograd_applies(p, g)) return winograd_forward(p, g, x, w, b, y);
#if FS_CONV_X86
    if (use_direct(p, g)) return direct_forward(p, g, x, w, b, y);
#endif
    const int threads = in_parallel_region() ? 1 : num_threads();
    const bool image_per_thread = per_image(g, threads);
#if FS_CONV_X86
    if (!image_per_thread && use_taps(p, g)) return taps_forward(p, g, x, w, b, y);
#endif
    const ColIndex ix(p, g);
    if (image_per_thread) return forward_per_image(p, g, ix, x, w, b, y, threads);
    forward_blocked(p, g, ix, x, w, b, y);
}

void conv2d_backward_fast(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* dy,
                          float* dx, float* dw, float* db) {
    const int64_t K = g.C * g.KH * g.KW;
    if (g.N == 0) {
        if (dw) std::fill(dw, dw + g.OC * K, 0.f);
        if (db) std::fill(db, db + g.OC, 0.f);
        return;
    }
    if (db) bias_grad(g, dy, db);
    if (winograd_applies(p, g)) {
        if (dx) winograd_backward_data(p, g, w, dy, dx);
        dx = nullptr;
        if (dw && winograd_weights_apply(g)) {
            winograd_backward_weights(p, g, x, dy, dw);
            return;
        }
        if (!dw) return;
    }
    if (!dx && !dw) return;
#if FS_CONV_X86
    if (use_direct(p, g, true)) {
        // Stride 2: only the weight gradient is direct; the data gradient takes the GEMM path below (Wᵀ · dy and
        // col2im need no im2col).
        const bool dx_direct = p.stride_h == 1;
        direct_backward(p, g, x, w, dy, dx_direct ? dx : nullptr, dw);
        if (dx_direct || !dx) return;
        dw = nullptr;
    }
#endif
    const int threads = in_parallel_region() ? 1 : num_threads();
    const bool image_per_thread = per_image(g, threads);
#if FS_CONV_X86
    if (dx && !image_per_thread && use_taps(p, g)) {
        taps_backward_data(p, g, w, dy, dx);
        if (!dw) return;
        dx = nullptr;
    }
#endif
    const ColIndex ix(p, g);
    if (image_per_thread) return backward_per_image(p, g, ix, x, w, dy, dx, dw, threads);
    backward_blocked(p, g, ix, x, w, dy, dx, dw);
}

}  // namespace fs
