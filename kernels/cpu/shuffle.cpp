// shuffle.cpp: reference CPU kernels for concat, pixel shuffle and nearest upsampling.
// These ops do no arithmetic except upsampling's backward sum; each kernel is a loop over the output (or the
// gradient being written), so every element written is written exactly once and no zero-fill is needed.
#include "kernels/shuffle.h"

#include <algorithm>

namespace fs {

// --- concat ----------------------------------------------------------------------------------------------------

template <typename T>
void concat_forward_cpu(const T* const* xs, const int64_t* axis_sizes, int64_t n_in, T* y, int64_t outer,
                        int64_t inner) {
    // Any axis reduces to this 3-d picture: for the channel axis of NCHW, outer = N and inner = H·W, so each
    // input contributes one contiguous block per sample. Copies are whole blocks, never element by element.
    int64_t total = 0;  // Σ axis_sizes: the output's size along the axis
    for (int64_t i = 0; i < n_in; ++i) total += axis_sizes[i];
    for (int64_t o = 0; o < outer; ++o) {
        // For a fixed outer index, each input contributes one contiguous slab of axis_sizes[i]·inner elements,
        // and the output row is those slabs one after the other.
        T* yr = y + o * total * inner;
        for (int64_t i = 0; i < n_in; ++i) {
            const int64_t len = axis_sizes[i] * inner;
            const T* src = xs[i] + o * len;
            std::copy(src, src + len, yr);
            yr += len;
        }
    }
}

template <typename T>
void concat_backward_cpu(const T* dy, T* const* dxs, const int64_t* axis_sizes, int64_t n_in, int64_t outer,
                         int64_t inner) {
    int64_t total = 0;
    for (int64_t i = 0; i < n_in; ++i) total += axis_sizes[i];
    // The forward's copy in reverse: each input's gradient is its slab of dy (every output element came from
    // exactly one input element, so nothing is summed).
    for (int64_t o = 0; o < outer; ++o) {
        const T* gr = dy + o * total * inner;
        for (int64_t i = 0; i < n_in; ++i) {
            const int64_t len = axis_sizes[i] * inner;
            if (dxs[i]) std::copy(gr, gr + len, dxs[i] + o * len);
            gr += len;
        }
    }
}

// --- pixel shuffle ---------------------------------------------------------------------------------------------

template <typename T>
void pixel_shuffle_forward_cpu(const PixelShuffleParams& p, const T* x, T* y, int64_t N, int64_t C, int64_t H,
                               int64_t W) {
    const int64_t r = p.r, Cin = C * r * r, OH = H * r, OW = W * r;
    // Loop over the output in memory order, so y is written sequentially; the reads from x jump between r
    // input channels (r² across two rows), which is the price of a gather. The index math lives in
    // pixel_shuffle_in_channel, shared with the CUDA kernel, so the channel order is defined in one place.
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < C; ++k)
            for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                    // Output pixel (oh, ow) is sub-pixel (i, j) of the r×r block that input pixel (h, w) expands to.
                    const int64_t h = oh / r, i = oh % r, w = ow / r, j = ow % r;
                    const int64_t c = pixel_shuffle_in_channel(p.order, k, i, j, C, r);
                    y[((n * C + k) * OH + oh) * OW + ow] = x[((n * Cin + c) * H + h) * W + w];
                }
}

template <typename T>
void pixel_shuffle_backward_cpu(const PixelShuffleParams& p, const T* dy, T* dx, int64_t N, int64_t C, int64_t H,
                                int64_t W) {
    const int64_t r = p.r, Cin = C * r * r, OH = H * r, OW = W * r;
    // The forward is a bijection between input and output elements, so the gradient is the same index map with
    // the direction reversed: each dx element receives the one dy element it was copied to.
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < C; ++k)
            for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                    const int64_t h = oh / r, i = oh % r, w = ow / r, j = ow % r;
                    const int64_t c = pixel_shuffle_in_channel(p.order, k, i, j, C, r);
                    dx[((n * Cin + c) * H + h) * W + w] = dy[((n * C + k) * OH + oh) * OW + ow];
                }
}

// --- nearest upsampling ----------------------------------------------------------------------------------------

template <typename T>
void upsample_nearest_forward_cpu(int s, const T* x, T* y, int64_t planes, int64_t H, int64_t W) {
    const int64_t OH = H * s, OW = W * s;
    for (int64_t pl = 0; pl < planes; ++pl)
        for (int64_t oh = 0; oh < OH; ++oh) {
            // Output row oh repeats source row oh / s; within it, source pixel w fills columns w·s .. w·s + s-1.
            // (Walking the source columns avoids an integer division per output element.)
            const T* xr = x + (pl * H + oh / s) * W;
            T* yr = y + (pl * OH + oh) * OW;
            for (int64_t w = 0; w < W; ++w)
                for (int64_t j = 0; j < s; ++j) yr[w * s + j] = xr[w];
        }
}

template <typename T>
void upsample_nearest_backward_cpu(int s, const T* dy, T* dx, int64_t planes, int64_t H, int64_t W) {
    const int64_t OH = H * s, OW = W * s;
    // Looping over dx (not dy) makes each gradient one local sum written once, with no zero-fill and no
    // scattered +=; a CUDA thread per dx element will do the same, deterministically (no atomics).
    for (int64_t pl = 0; pl < planes; ++pl)
        for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w) {
                // x[h,w] was copied to the s×s block at (h·s, w·s), so its gradient is the sum over that block.
                double acc = 0;
                for (int64_t i = 0; i < s; ++i)
                    for (int64_t j = 0; j < s; ++j) acc += double(dy[(pl * OH + h * s + i) * OW + w * s + j]);
                dx[(pl * H + h) * W + w] = T(acc);
            }
}

#define FS_INSTANTIATE(T)                                                                                        \
    template void concat_forward_cpu<T>(const T* const*, const int64_t*, int64_t, T*, int64_t, int64_t);        \
    template void concat_backward_cpu<T>(const T*, T* const*, const int64_t*, int64_t, int64_t, int64_t);       \
    template void pixel_shuffle_forward_cpu<T>(const PixelShuffleParams&, const T*, T*, int64_t, int64_t,        \
                                               int64_t, int64_t);                                               \
    template void pixel_shuffle_backward_cpu<T>(const PixelShuffleParams&, const T*, T*, int64_t, int64_t,       \
                                                int64_t, int64_t);                                              \
    template void upsample_nearest_forward_cpu<T>(int, const T*, T*, int64_t, int64_t, int64_t);                \
    template void upsample_nearest_backward_cpu<T>(int, const T*, T*, int64_t, int64_t, int64_t);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)
#undef FS_INSTANTIATE

}  // namespace fs
