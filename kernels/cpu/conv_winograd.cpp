// conv_winograd.cpp: the 3×3 / stride 1 / zero-padded "same" convolution by Winograd's minimal filtering
// F(2×2, 3×3) (Lavin & Gray 2016), for f32 on AVX2. Each 2×2 block of outputs ("tile") of a channel pair comes
// from a 4×4 input patch d and the 3×3 filter g as
//
//     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A          (16 multiplies instead of 36)
//
//     Bᵀ = | 1  0 -1  0 |     G = | 1    0    0   |     Aᵀ = | 1  1  1  0 |
//          | 0  1  1  0 |         | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
//          | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
//          | 0  1  0 -1 |         | 0    0    1   |
//
// and the sum over input channels moves inside the bracket, so a layer is 16 independent GEMMs, one per position
// ξ of the 4×4 transformed tile:  M_ξ (OC × T) = U_ξ (OC × C) · V_ξ (C × T),  with U = G g Gᵀ per (oc, c) pair,
// V = Bᵀ d B per (c, tile), T = N · Ho/2 · Wo/2 tiles. They run on the packed SGEMM. The multiply count drops
// 2.25-fold; what is added is the transforms (additions only, one pass over the input, the weights and the
// output each) and the memory for U, V and M (16/9 of the weights, 4× the input and the output).
//
// The data gradient of such a conv is the same conv of dy with the filter turned by 180° and its in and out
// channels swapped (zero "same" padding of 1 on every side is its own adjoint), so it runs here too.
//
// Rounding: the transforms' coefficients are 0, ±1/2 and ±1, so F(2×2, 3×3) adds only a few roundings of
// additions to each output (the larger F(4×4, 3×3), with coefficients up to 8, would add far more); the tests
// hold it to the same 1e-5 of the largest magnitude as the other fast paths (tests/test_ops.cpp, ConvWinograd.*).
//
// Measured on the 2-vCPU Zen 3 (docs/PERFORMANCE.md): the decoder's 3×3 convs at 8-64 px ran their forward
// 26-46 % faster than the direct and GEMM paths, their backward 13-43 %.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/conv.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/scratch.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/sgemm.h"
#include "tensor/error.h"

namespace fs {

#if defined(FS_X86_SIMD)
#define FS_TARGET_AVX2 __attribute__((target("avx2,fma")))

namespace {

constexpr int64_t k_xi = 16;  // positions of a transformed tile

// Whether an O × C filter is small once transformed (k_xi·O·C floats, at most k_winograd_small_filter): such
// filters take the cache-blocked path and any number of tiles.
bool small_filter(int64_t O, int64_t C) { return k_xi * O * C <= k_winograd_small_filter; }

// Scratch memory, one set per thread (kernels/cpu/scratch.h).
thread_local ScratchBuffer t_u("conv2d (Winograd)"), t_v("conv2d (Winograd)"), t_m("conv2d (Winograd)"),
    t_vb("conv2d (Winograd)"), t_mb("conv2d (Winograd)");

// Tiles per block of the cache-blocked path (whole tile rows; maps of wider tile rows take the unblocked one).
constexpr int64_t k_block_tiles = 128;

// Arithmetic for the transforms on 8 lanes or on one float (the filter transform's channel tail). Overloads rather
// than lambdas: GCC gives a lambda no target attribute, so a lambda cannot use AVX2 intrinsics.
FS_TARGET_AVX2 inline __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
FS_TARGET_AVX2 inline __m256 sub(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
FS_TARGET_AVX2 inline __m256 half(__m256 a) { return _mm256_mul_ps(a, _mm256_set1_ps(0.5f)); }
inline float add(float a, float b) { return a + b; }
inline float sub(float a, float b) { return a - b; }
inline float half(float a) { return 0.5f * a; }

// G g Gᵀ of 3×3 filters g[i][j] into u[ξ], ξ = 4i + j.
template <typename V>
FS_TARGET_AVX2 inline void filter_tile(const V (&g)[3][3], V (&u)[16]) {
    V t[4][3];  // G g
    for (int j = 0; j < 3; ++j) {
        const V s02 = add(g[0][j], g[2][j]);
        t[0][j] = g[0][j];
        t[1][j] = half(add(s02, g[1][j]));
        t[2][j] = half(sub(s02, g[1][j]));
        t[3][j] = g[2][j];
    }
    for (int i = 0; i < 4; ++i) {  // (G g) Gᵀ
        const V s02 = add(t[i][0], t[i][2]);
        u[i * 4 + 0] = t[i][0];
        u[i * 4 + 1] = half(add(s02, t[i][1]));
        u[i * 4 + 2] = half(sub(s02, t[i][1]));
        u[i * 4 + 3] = t[i][2];
    }
}

// U[ξ][o][c] = (G g Gᵀ)[ξ] for the 3×3 filter g = w[o][c] (or, turned, w[c][o] rotated by 180°: the data
// gradient's filter, with o and c the swapped channel counts). Eight input channels at a time: their 72 weights
// are gathered into lanes, transformed together and stored as 16 runs of 8 (the scalar loop took a quarter of
// the 8 px conv's forward).
FS_TARGET_AVX2 void transform_weights_range(const float* w, int64_t O, int64_t C, bool turned, float* U, int64_t o0,
                                            int64_t o1) {
    auto src = [&](int64_t o, int64_t c, int i, int j) {
        return turned ? w[(c * O + o) * 9 + (2 - i) * 3 + (2 - j)] : w[(o * C + c) * 9 + i * 3 + j];
    };
    for (int64_t o = o0; o < o1; ++o) {
        int64_t c = 0;
        for (; c + 8 <= C; c += 8) {
            alignas(32) float buf[9][8];
            for (int k = 0; k < 8; ++k)
                for (int ij = 0; ij < 9; ++ij) buf[ij][k] = src(o, c + k, ij / 3, ij % 3);
            __m256 g[3][3], u[16];
            for (int ij = 0; ij < 9; ++ij) g[ij / 3][ij % 3] = _mm256_load_ps(buf[ij]);
            filter_tile(g, u);
            for (int x = 0; x < k_xi; ++x) _mm256_storeu_ps(U + (x * O + o) * C + c, u[x]);
        }
        for (; c < C; ++c) {
            float g[3][3], u[16];
            for (int ij = 0; ij < 9; ++ij) g[ij / 3][ij % 3] = src(o, c, ij / 3, ij % 3);
            filter_tile(g, u);
            for (int x = 0; x < k_xi; ++x) U[(x * O + o) * C + c] = u[x];
        }
    }
}

void transform_weights(const float* w, int64_t O, int64_t C, bool turned, float* U) {
    parallel_for(O, [&](int64_t o0, int64_t o1) { transform_weights_range(w, O, C, turned, U, o0, o1); });
}

// The transforms run on eight tiles (or filters) side by side, one per lane.
// Bᵀ d B of one 4×4 patch d into v[ξ], ξ = 4i + j.
FS_TARGET_AVX2 inline void input_tile(const __m256 (&d)[4][4], __m256 (&v)[16]) {
    __m256 t[4][4];  // Bᵀ d: rows
    for (int j = 0; j < 4; ++j) {
        t[0][j] = sub(d[0][j], d[2][j]);
        t[1][j] = add(d[1][j], d[2][j]);
        t[2][j] = sub(d[2][j], d[1][j]);
        t[3][j] = sub(d[1][j], d[3][j]);
    }
    for (int i = 0; i < 4; ++i) {  // (Bᵀ d) B: columns
        v[i * 4 + 0] = sub(t[i][0], t[i][2]);
        v[i * 4 + 1] = add(t[i][1], t[i][2]);
        v[i * 4 + 2] = sub(t[i][2], t[i][1]);
        v[i * 4 + 3] = sub(t[i][1], t[i][3]);
    }
}

// Aᵀ m A of one tile: m[ξ] → y[a][b], a, b ∈ {0, 1}.
FS_TARGET_AVX2 inline void output_tile(const __m256 (&m)[16], __m256 (&y)[2][2]) {
    __m256 t[2][4];  // Aᵀ m
    for (int j = 0; j < 4; ++j) {
        t[0][j] = add(add(m[0 * 4 + j], m[1 * 4 + j]), m[2 * 4 + j]);
        t[1][j] = sub(sub(m[1 * 4 + j], m[2 * 4 + j]), m[3 * 4 + j]);
    }
    for (int a = 0; a < 2; ++a) {
        y[a][0] = add(add(t[a][0], t[a][1]), t[a][2]);
        y[a][1] = sub(sub(t[a][1], t[a][2]), t[a][3]);
    }
}

struct Geo {
    int64_t N, C, H, W, TH, TW, T;  // T = N·TH·TW tiles, tile t = (n·TH + th)·TW + tw
};

// The first n of 8 lanes (n ≤ 8), as a maskload / maskstore mask.
FS_TARGET_AVX2 inline __m256i lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Tiles tw0 .. tw0 + n − 1 (n ≤ 8) of one tile row, side by side in the lanes. rows[i] is patch row i (the input
// row 2th − 1 + i) with the zero padding in place: rows[i][k] = input column k − 1, zero outside, and at least
// 2·tw0 + 18 readable floats. Columns 2·tw + j of the 8 tiles are the even (j = 0, 2) and odd (j = 1, 3) columns
// of rows[i][2tw0 + (j & 2) ...].
FS_TARGET_AVX2 void input_tiles8(const float* const (&rows)[4], int64_t tw0, int64_t n, float* vc, int64_t CT) {
    __m256 d[4][4], v[16];
    for (int i = 0; i < 4; ++i) {
        const float* r = rows[i] + 2 * tw0;
        for (int h = 0; h < 2; ++h) {
            const __m256 lo = _mm256_loadu_ps(r + 2 * h), hi = _mm256_loadu_ps(r + 2 * h + 8);
            const __m256 ev = _mm256_shuffle_ps(lo, hi, 0x88), od = _mm256_shuffle_ps(lo, hi, 0xDD);
            d[i][2 * h] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8));
            d[i][2 * h + 1] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8));
        }
    }
    input_tile(d, v);
    if (n == 8) {
        for (int x = 0; x < k_xi; ++x) _mm256_storeu_ps(vc + x * CT, v[x]);
    } else {
        const __m256i m = lanes(n);
        for (int x = 0; x < k_xi; ++x) _mm256_maskstore_ps(vc + x * CT, m, v[x]);
    }
}

// One tile row th of plane xc: its four patch rows copied into the zero-padded row buffers buf (4 rows of
// g.W + 18 floats, zero outside the copied input), then its TW tiles transformed into vrow[ξ·CT + tw]. Through
// the buffers every tile, edges included, takes the same 8-lane code.
void input_row(const float* xc, const Geo& g, int64_t th, float* buf, float* vrow, int64_t CT) {
    const int64_t ld = g.W + 18;
    const float* rows[4];
    for (int r = 0; r < 4; ++r) {
        const int64_t h = 2 * th - 1 + r;
        float* dst = buf + r * ld + 1;
        if (h >= 0 && h < g.H)
            std::memcpy(dst, xc + h * g.W, size_t(g.W) * sizeof(float));
        else
            std::fill(dst, dst + g.W, 0.f);
        rows[r] = buf + r * ld;
    }
    for (int64_t tw = 0; tw < g.TW; tw += 8) input_tiles8(rows, tw, std::min<int64_t>(8, g.TW - tw), vrow + tw, CT);
}

// V[ξ][c][t] for every channel and tile, in parallel over (image, channel).
void transform_input(const float* x, const Geo& g, float* V) {
    parallel_for(g.N * g.C, [&](int64_t i0, int64_t i1) {
        std::vector<float> buf(static_cast<size_t>(4 * (g.W + 18)), 0.f);
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t n = i / g.C, c = i % g.C;
            for (int64_t th = 0; th < g.TH; ++th)
                input_row(x + i * g.H * g.W, g, th, buf.data(), V + c * g.T + (n * g.TH + th) * g.TW, g.C * g.T);
        }
    });
}

// Aᵀ m A for tiles tw0 .. tw0 + n − 1 (n ≤ 8) of tile row tr, + bias, stored as the two output rows y0 and y1
// with the tiles' columns interleaved back (y0[2k] = y[0][0] of tile k, y0[2k + 1] = y[0][1], ...). M has 8
// floats of slack past its end, so the loads of a short group stay inside it.
FS_TARGET_AVX2 void output_tiles8(const float* mo, int64_t OT, int64_t tw0, int64_t n, float b, float* y0,
                                  float* y1) {
    const __m256 vb = _mm256_set1_ps(b);
    __m256 m[16], y[2][2];
    for (int x = 0; x < k_xi; ++x) m[x] = _mm256_loadu_ps(mo + x * OT + tw0);
    output_tile(m, y);
    float* rows[2] = {y0 + 2 * tw0, y1 + 2 * tw0};
    for (int a = 0; a < 2; ++a) {
        const __m256 c0 = _mm256_add_ps(y[a][0], vb), c1 = _mm256_add_ps(y[a][1], vb);
        const __m256 lo = _mm256_unpacklo_ps(c0, c1), hi = _mm256_unpackhi_ps(c0, c1);
        const __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20), second = _mm256_permute2f128_ps(lo, hi, 0x31);
        if (n == 8) {
            _mm256_storeu_ps(rows[a], first);
            _mm256_storeu_ps(rows[a] + 8, second);
        } else {
            _mm256_maskstore_ps(rows[a], lanes(2 * n), first);
            if (n > 4) _mm256_maskstore_ps(rows[a] + 8, lanes(2 * n - 8), second);
        }
    }
}

// Output rows 2th and 2th + 1 (y0, and y0 + Wo) of one channel from the TW tiles at mrow[ξ·OT + tw], + b.
void output_row(const float* mrow, int64_t OT, const Geo& g, float b, float* y0) {
    for (int64_t tw = 0; tw < g.TW; tw += 8)
        output_tiles8(mrow, OT, tw, std::min<int64_t>(8, g.TW - tw), b, y0, y0 + 2 * g.TW);
}

// y[n][o] from M[ξ][o][t] (+ bias), in parallel over (image, output channel).
void transform_output(const float* M, const Geo& g, int64_t O, const float* bias, float* y) {
    const int64_t Wo = 2 * g.TW, plane = 4 * g.TH * g.TW;
    parallel_for(g.N * O, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t n = i / O, o = i % O;
            for (int64_t th = 0; th < g.TH; ++th)
                output_row(M + o * g.T + (n * g.TH + th) * g.TW, O * g.T, g, bias ? bias[o] : 0.f,
                           y + i * plane + 2 * th * Wo);
        }
    });
}

// y (N, O, H, W) = the "same" 3×3 conv of x (N, C, H, W) with filter w (O, C, 3, 3), or with w (C, O, 3, 3)
// turned by 180° (turned: the data gradient), + bias.
void winograd_conv(const float* x, int64_t N, int64_t C, int64_t H, int64_t W, const float* w, int64_t O, bool turned,
                   const float* bias, float* y) {
    const Geo g{N, C, H, W, H / 2, W / 2, N * (H / 2) * (W / 2)};
    float* U = t_u.get(k_xi * O * C);
    transform_weights(w, O, C, turned, U);
    if (small_filter(O, C) && g.TW <= k_block_tiles) {
        // Blocks of whole tile rows, each thread one block at a time from input to output: its transformed tiles
        // and products (16·(C + O)·Tb floats, ~1 MiB) stay in cache, where the whole layer's V and M (2 × 32 MiB
        // for the 64→64 conv at 64 px) went to memory and back. Only for small filters, which every block reads.
        const int64_t R = std::max<int64_t>(1, k_block_tiles / g.TW), Tb = R * g.TW, rows = N * g.TH;
        const int64_t Ho = 2 * g.TH, Wo = 2 * g.TW;
        parallel_for((rows + R - 1) / R, [&](int64_t b0, int64_t b1) {
            float* Vb = t_vb.get(k_xi * C * Tb);
            float* Mb = t_mb.get(k_xi * O * Tb + 8);  // + 8: output_tiles8's slack
            std::vector<float> buf(static_cast<size_t>(4 * (g.W + 18)), 0.f);
            for (int64_t blk = b0; blk < b1; ++blk) {
                const int64_t r0 = blk * R, nr = std::min(R, rows - r0), tn = nr * g.TW;
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t r = 0; r < nr; ++r) {
                        const int64_t n = (r0 + r) / g.TH, th = (r0 + r) % g.TH;
                        input_row(x + (n * C + c) * H * W, g, th, buf.data(), Vb + c * Tb + r * g.TW, C * Tb);
                    }
                for (int64_t xi = 0; xi < k_xi; ++xi)  // one thread each (inside a parallel region)
                    sgemm(false, false, O, tn, C, 1.f, U + xi * O * C, C, Vb + xi * C * Tb, Tb, 0.f,
                          Mb + xi * O * Tb, Tb);
                for (int64_t o = 0; o < O; ++o)
                    for (int64_t r = 0; r < nr; ++r) {
                        const int64_t n = (r0 + r) / g.TH, th = (r0 + r) % g.TH;
                        output_row(Mb + o * Tb + r * g.TW, O * Tb, g, bias ? bias[o] : 0.f,
                                   y + ((n * O + o) * Ho + 2 * th) * Wo);
                    }
            }
        });
        return;
    }
    float* V = t_v.get(k_xi * C * g.T);
    float* M = t_m.get(k_xi * O * g.T + 8);  // + 8: output_tiles8's slack
    transform_input(x, g, V);
    for (int64_t xi = 0; xi < k_xi; ++xi)
        sgemm(false, false, O, g.T, C, 1.f, U + xi * O * C, C, V + xi * C * g.T, g.T, 0.f, M + xi * O * g.T, g.T);
    transform_output(M, g, O, bias, y);
}

// --- the weight gradient: F(3×3, 2×2) ---------------------------------------------------------------------------
// dW[o][c][kh][kw] = Σ over images and output pixels of dy[o][h][w] · xpad[c][h + kh][w + kw]: per 2×2 tile of dy
// (the "filter" g) and the tile's 4×4 input patch d, a 3×3 correlation, which F(3, 2) computes as
//
//     dW_tile = A'ᵀ [ (G' g G'ᵀ) ⊙ (B'ᵀ d B') ] A'
//
//     B'ᵀ = | 1  0 -1  0 |     G' = | 1    0   |     A'ᵀ = | 1  1  1  0 |
//           | 0  1  1  0 |          | 1/2  1/2 |           | 0  1 -1  0 |
//           | 0 -1  1  0 |          | 1/2 -1/2 |           | 0  1  1  1 |
//           | 0 -1  0  1 |          | 0    1   |
//
// and the sum over tiles moves inside, so again 16 GEMMs, now with the tiles as K: M_ξ (O × C) = DY_ξ (O × T) ·
// X_ξᵀ (T × C). B'ᵀ is the forward's Bᵀ with its last row negated, so X_ξ = s_i·s_j·V_ξ (s = 1, 1, 1, −1) for the
// forward's input transform V: transform_input serves both, and the signs are applied to M.

// G' g G'ᵀ of the 2×2 dy tiles of 8 tiles side by side (tiles tw0 .. tw0 + n − 1 of a tile row, dy rows r0 and
// r1, each with at least 2·tw0 + 16 readable floats) into DY[ξ] (stride OT between ξ).
FS_TARGET_AVX2 void dy_tiles8(const float* r0, const float* r1, int64_t tw0, int64_t n, float* dyo, int64_t OT) {
    __m256 g[2][2];
    const float* rows[2] = {r0 + 2 * tw0, r1 + 2 * tw0};
    for (int a = 0; a < 2; ++a) {
        const __m256 lo = _mm256_loadu_ps(rows[a]), hi = _mm256_loadu_ps(rows[a] + 8);
        g[a][0] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
        g[a][1] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8));
    }
    __m256 t[4][2];  // G' g
    for (int b = 0; b < 2; ++b) {
        t[0][b] = g[0][b];
        t[1][b] = half(add(g[0][b], g[1][b]));
        t[2][b] = half(sub(g[0][b], g[1][b]));
        t[3][b] = g[1][b];
    }
    const __m256i m = lanes(n);
    for (int i = 0; i < 4; ++i) {  // (G' g) G'ᵀ
        const __m256 u[4] = {t[i][0], half(add(t[i][0], t[i][1])), half(sub(t[i][0], t[i][1])), t[i][1]};
        for (int j = 0; j < 4; ++j) _mm256_maskstore_ps(dyo + (i * 4 + j) * OT + tw0, m, u[j]);
    }
}

// DY[ξ][o][t] for every output channel and tile, in parallel over (image, output channel). Rows are read through
// a buffer with slack, so the 16-float loads of a short group stay inside.
void transform_dy(const float* dy, const Geo& g, int64_t O, float* DY) {
    const int64_t Wo = 2 * g.TW, OT = O * g.T;
    parallel_for(g.N * O, [&](int64_t i0, int64_t i1) {
        std::vector<float> buf(static_cast<size_t>(2 * (Wo + 16)), 0.f);
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t n = i / O, o = i % O;
            const float* dyo = dy + i * 2 * g.TH * Wo;
            for (int64_t th = 0; th < g.TH; ++th) {
                std::memcpy(buf.data(), dyo + 2 * th * Wo, size_t(Wo) * sizeof(float));
                std::memcpy(buf.data() + Wo + 16, dyo + (2 * th + 1) * Wo, size_t(Wo) * sizeof(float));
                float* out = DY + o * g.T + (n * g.TH + th) * g.TW;
                for (int64_t tw = 0; tw < g.TW; tw += 8)
                    dy_tiles8(buf.data(), buf.data() + Wo + 16, tw, std::min<int64_t>(8, g.TW - tw), out, OT);
            }
        }
    });
}

// dw[o][c] (3×3) = A'ᵀ (s ⊙ M[·][o][c]) A' for eight input channels per vector, in parallel over output channels.
FS_TARGET_AVX2 void transform_dw_range(const float* M, int64_t O, int64_t C, float* dw, int64_t o0, int64_t o1) {
    const int64_t OC = O * C;
    for (int64_t o = o0; o < o1; ++o)
        for (int64_t c = 0; c < C; c += 8) {
            const int64_t n = std::min<int64_t>(8, C - c);
            const __m256i mask = lanes(n);
            __m256 m[16];
            for (int x = 0; x < k_xi; ++x) {
                m[x] = _mm256_maskload_ps(M + x * OC + o * C + c, mask);
                if ((x / 4 == 3) != (x % 4 == 3)) m[x] = sub(_mm256_setzero_ps(), m[x]);  // s_i·s_j = −1
            }
            __m256 t[3][4];  // A'ᵀ m
            for (int j = 0; j < 4; ++j) {
                t[0][j] = add(add(m[0 * 4 + j], m[1 * 4 + j]), m[2 * 4 + j]);
                t[1][j] = sub(m[1 * 4 + j], m[2 * 4 + j]);
                t[2][j] = add(add(m[1 * 4 + j], m[2 * 4 + j]), m[3 * 4 + j]);
            }
            alignas(32) float out[9][8];
            for (int i = 0; i < 3; ++i) {  // (A'ᵀ m) A'
                _mm256_store_ps(out[i * 3 + 0], add(add(t[i][0], t[i][1]), t[i][2]));
                _mm256_store_ps(out[i * 3 + 1], sub(t[i][1], t[i][2]));
                _mm256_store_ps(out[i * 3 + 2], add(add(t[i][1], t[i][2]), t[i][3]));
            }
            for (int64_t k = 0; k < n; ++k)
                for (int ij = 0; ij < 9; ++ij) dw[(o * C + c + k) * 9 + ij] = out[ij][k];
        }
}

// dw (O, C, 3, 3) assigned: the weight gradient of the "same" 3×3 conv of x (N, C, H, W) given dy (N, O, H, W).
void winograd_weights(const float* x, const float* dy, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                      float* dw) {
    const Geo g{N, C, H, W, H / 2, W / 2, N * (H / 2) * (W / 2)};
    float* V = t_v.get(k_xi * C * g.T);
    float* DY = t_m.get(k_xi * O * g.T + 8);
    float* M = t_u.get(k_xi * O * C);
    transform_input(x, g, V);
    transform_dy(dy, g, O, DY);
    for (int64_t xi = 0; xi < k_xi; ++xi)
        sgemm(false, true, O, C, g.T, 1.f, DY + xi * O * g.T, g.T, V + xi * C * g.T, g.T, 0.f, M + xi * O * C, C);
    parallel_for(O, [&](int64_t o0, int64_t o1) { transform_dw_range(M, O, C, dw, o0, o1); });
}

}  // namespace

#endif  // FS_X86_SIMD

namespace {
// FS_CONV_WINOGRAD=0 in the environment turns the path off (the conv then takes the direct or GEMM paths): for
// comparisons in one binary, and as a way out should a model ever need the direct path's rounding.
bool env_enabled() {
    const char* e = std::getenv("FS_CONV_WINOGRAD");
    return !(e && std::strcmp(e, "0") == 0);
}
std::atomic<bool> g_enabled{env_enabled()};
}  // namespace

bool winograd_enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_winograd_enabled(bool on) { g_enabled.store(on, std::memory_order_relaxed); }

bool winograd_applies(const Conv2dParams& p, const Conv2dGeom& g) {
#if !defined(FS_X86_SIMD)
    (void)p, (void)g;
    return false;
#else
    return cpu_has_avx2() && g.KH == 3 && g.KW == 3 && p.stride_h == 1 && p.stride_w == 1 &&
           p.pad_mode == PadMode::zeros && p.pad_top == 1 && p.pad_bottom == 1 && p.pad_left == 1 &&
           p.pad_right == 1 && g.H % 2 == 0 && g.W % 2 == 0 && g.C >= k_winograd_min_channels &&
           g.OC >= k_winograd_min_channels && g.H >= k_winograd_min_size && g.W >= k_winograd_min_size &&
           (small_filter(g.OC, g.C) || g.N * (g.H / 2) * (g.W / 2) >= k_winograd_min_tiles) &&
           winograd_enabled();
#endif
}

void winograd_forward(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* w, const float* b,
                      float* y) {
    FS_CHECK(winograd_applies(p, g), "conv2d: the Winograd path called on a conv it does not cover");
#if defined(FS_X86_SIMD)
    winograd_conv(x, g.N, g.C, g.H, g.W, w, g.OC, false, b, y);
#else
    (void)x, (void)w, (void)b, (void)y;
#endif
}

void winograd_backward_data(const Conv2dParams& p, const Conv2dGeom& g, const float* w, const float* dy, float* dx) {
    FS_CHECK(winograd_applies(p, g), "conv2d: the Winograd path called on a conv it does not cover");
#if defined(FS_X86_SIMD)
    winograd_conv(dy, g.N, g.OC, g.H, g.W, w, g.C, true, nullptr, dx);
#else
    (void)w, (void)dy, (void)dx;
#endif
}

void winograd_backward_weights(const Conv2dParams& p, const Conv2dGeom& g, const float* x, const float* dy,
                               float* dw) {
    FS_CHECK(winograd_applies(p, g), "conv2d: the Winograd path called on a conv it does not cover");
#if defined(FS_X86_SIMD)
    winograd_weights(x, dy, g.N, g.C, g.H, g.W, g.OC, dw);
#else
    (void)x, (void)dy, (void)dw;
#endif
}

}  // namespace fs
