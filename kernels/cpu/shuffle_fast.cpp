// shuffle_fast.cpp: pixel_shuffle over the threads. Each task runs the reference kernel (kernels/cpu/shuffle.cpp)
// on whole batch items, so nothing is re-derived here and the result is bitwise the reference's.
#include "kernels/cpu/thread_pool.h"
#include "kernels/shuffle.h"

namespace fs {

template <typename T>
void pixel_shuffle_forward_fast(const PixelShuffleParams& p, const T* x, T* y, int64_t N, int64_t C, int64_t H,
                                int64_t W) {
    const int64_t in_item = C * p.r * p.r * H * W, out_item = C * H * p.r * W * p.r;  // the same count, moved
    parallel_for(N, [&](int64_t n0, int64_t n1) {
        pixel_shuffle_forward_cpu<T>(p, x + n0 * in_item, y + n0 * out_item, n1 - n0, C, H, W);
    });
}

template <typename T>
void pixel_shuffle_backward_fast(const PixelShuffleParams& p, const T* dy, T* dx, int64_t N, int64_t C, int64_t H,
                                 int64_t W) {
    const int64_t item = C * p.r * p.r * H * W;
    parallel_for(N, [&](int64_t n0, int64_t n1) {
        pixel_shuffle_backward_cpu<T>(p, dy + n0 * item, dx + n0 * item, n1 - n0, C, H, W);
    });
}

template void pixel_shuffle_forward_fast<float>(const PixelShuffleParams&, const float*, float*, int64_t, int64_t,
                                                int64_t, int64_t);
template void pixel_shuffle_forward_fast<double>(const PixelShuffleParams&, const double*, double*, int64_t, int64_t,
                                                 int64_t, int64_t);
template void pixel_shuffle_backward_fast<float>(const PixelShuffleParams&, const float*, float*, int64_t, int64_t,
                                                 int64_t, int64_t);
template void pixel_shuffle_backward_fast<double>(const PixelShuffleParams&, const double*, double*, int64_t,
                                                  int64_t, int64_t, int64_t);

}  // namespace fs
