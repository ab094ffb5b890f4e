// image.cpp: reference CPU kernels for resize_bilinear and image_gradients (see kernels/image.h).
// Readable over fast: one output element per loop iteration, source taps from the shared resize_source_tap().
#include <algorithm>
#include <vector>

#include "kernels/image.h"

namespace fs {

namespace {

// The taps of every output index along one axis. They depend only on (mode, in, out), not on the plane or the
// other axis, so they are computed once per call: out_h + out_w taps instead of one per output pixel.
std::vector<ResizeTap> axis_taps(ResizeMode mode, int64_t in, int64_t out) {
    std::vector<ResizeTap> taps(static_cast<size_t>(out));
    for (int64_t d = 0; d < out; ++d) taps[size_t(d)] = resize_source_tap(mode, d, in, out);
    return taps;
}

}  // namespace

// --- resize_bilinear -------------------------------------------------------------------------------------------

template <typename T>
void resize_bilinear_forward_cpu(const ResizeParams& p, const T* x, T* y, int64_t NC, int64_t H, int64_t W) {
    const int64_t OH = p.out_h, OW = p.out_w;
    const std::vector<ResizeTap> ty = axis_taps(p.mode, H, OH), tx = axis_taps(p.mode, W, OW);
    for (int64_t nc = 0; nc < NC; ++nc) {
        const T* xp = x + nc * H * W;
        T* yp = y + nc * OH * OW;
        for (int64_t i = 0; i < OH; ++i) {
            const ResizeTap& a = ty[size_t(i)];
            const T* top = xp + a.lower * W;     // the two source rows
            const T* bottom = xp + a.upper * W;  // (the same row when the tap is clamped at an edge)
            const T fy = T(a.frac);
            for (int64_t j = 0; j < OW; ++j) {
                const ResizeTap& b = tx[size_t(j)];
                const T fx = T(b.frac);
                // Interpolate along x on both rows, then along y (TF's order). Written with the weights (1−f, f)
                // rather than TF's a + (b−a)·f (equal up to rounding) so backward visibly uses the same weights.
                const T t = top[b.lower] * (T(1) - fx) + top[b.upper] * fx;
                const T u = bottom[b.lower] * (T(1) - fx) + bottom[b.upper] * fx;
                yp[i * OW + j] = t * (T(1) - fy) + u * fy;
            }
        }
    }
}

template <typename T>
void resize_bilinear_backward_cpu(const ResizeParams& p, const T* dy, T* dx, int64_t NC, int64_t H, int64_t W) {
    const int64_t OH = p.out_h, OW = p.out_w;
    const std::vector<ResizeTap> ty = axis_taps(p.mode, H, OH), tx = axis_taps(p.mode, W, OW);
    std::fill(dx, dx + NC * H * W, T(0));
    for (int64_t nc = 0; nc < NC; ++nc) {
        T* dxp = dx + nc * H * W;
        const T* dyp = dy + nc * OH * OW;
        for (int64_t i = 0; i < OH; ++i) {
            const ResizeTap& a = ty[size_t(i)];
            const T fy = T(a.frac);
            for (int64_t j = 0; j < OW; ++j) {
                const ResizeTap& b = tx[size_t(j)];
                const T fx = T(b.frac), g = dyp[i * OW + j];
                // y is linear in x: each output scatters its gradient to its four taps with the forward weights.
                // Clamped taps coincide (lower == upper) and then receive both weights, as in forward.
                dxp[a.lower * W + b.lower] += g * (T(1) - fy) * (T(1) - fx);
                dxp[a.lower * W + b.upper] += g * (T(1) - fy) * fx;
                dxp[a.upper * W + b.lower] += g * fy * (T(1) - fx);
                dxp[a.upper * W + b.upper] += g * fy * fx;
            }
        }
    }
}

// --- image_gradients -------------------------------------------------------------------------------------------

template <typename T>
void image_gradients_forward_cpu(const ImageGradParams& p, const T* x, T* y, int64_t NC, int64_t H, int64_t W) {
    // Output (i, j) compares x[i,j] with its neighbour below (vertical) or to the right (horizontal); both
    // outputs are cropped to (H−1)×(W−1), so vertical drops the last column and horizontal the last row, which
    // makes the two maps the same shape (faceswap-GAN's edge loss).
    const int64_t OH = H - 1, OW = W - 1;
    const int64_t step = p.axis == ImageGradAxis::vertical ? W : 1;  // offset of the neighbour in the plane
    for (int64_t nc = 0; nc < NC; ++nc) {
        const T* xp = x + nc * H * W;
        T* yp = y + nc * OH * OW;
        for (int64_t i = 0; i < OH; ++i)
            for (int64_t j = 0; j < OW; ++j) {
                const int64_t a = i * W + j;
                const T d = xp[a + step] - xp[a];
                yp[i * OW + j] = d < T(0) ? -d : d;
            }
    }
}

template <typename T>
void image_gradients_backward_cpu(const ImageGradParams& p, const T* x, const T* dy, T* dx, int64_t NC, int64_t H,
                                  int64_t W) {
    const int64_t OH = H - 1, OW = W - 1;
    const int64_t step = p.axis == ImageGradAxis::vertical ? W : 1;
    std::fill(dx, dx + NC * H * W, T(0));
    for (int64_t nc = 0; nc < NC; ++nc) {
        const T* xp = x + nc * H * W;
        const T* dyp = dy + nc * OH * OW;
        T* dxp = dx + nc * H * W;
        for (int64_t i = 0; i < OH; ++i)
            for (int64_t j = 0; j < OW; ++j) {
                const int64_t a = i * W + j;
                // y = |x[b] − x[a]|: +sign to the neighbour b, −sign to x[a]. Each pixel is read by up to two
                // outputs (as a and as b), hence +=.
                const T g = dyp[i * OW + j] * abs_diff_sign(xp[a + step] - xp[a]);
                dxp[a + step] += g;
                dxp[a] -= g;
            }
    }
}

#define FS_INSTANTIATE(T)                                                                                      \
    template void resize_bilinear_forward_cpu<T>(const ResizeParams&, const T*, T*, int64_t, int64_t, int64_t); \
    template void resize_bilinear_backward_cpu<T>(const ResizeParams&, const T*, T*, int64_t, int64_t, int64_t); \
    template void image_gradients_forward_cpu<T>(const ImageGradParams&, const T*, T*, int64_t, int64_t,       \
                                                 int64_t);                                                     \
    template void image_gradients_backward_cpu<T>(const ImageGradParams&, const T*, const T*, T*, int64_t,     \
                                                  int64_t, int64_t);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)
#undef FS_INSTANTIATE

}  // namespace fs
