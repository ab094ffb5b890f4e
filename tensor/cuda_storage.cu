// cuda_storage.cu: device memory and copies for Storage when CUDA is built. Every runtime call goes through
// FS_CUDA_CHECK, which names the failing expression and its own error string. (The caching allocator and
// streams of the CUDA backend issue build on this.)
#include <cuda_runtime.h>

#include <cstdio>

#include "tensor/storage.h"

#define FS_CUDA_CHECK(expr)                                                                           \
    do {                                                                                              \
        cudaError_t fs_err_ = (expr);                                                                 \
        FS_CHECK(fs_err_ == cudaSuccess, "CUDA call failed: ", #expr, ": ", cudaGetErrorString(fs_err_)); \
    } while (0)

namespace fs {

bool cuda_built() { return true; }

bool cuda_available() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no device" error so later calls are not confused by it
        return false;
    }
    return n > 0;
}

void* cuda_malloc(size_t bytes) {
    void* p = nullptr;
    FS_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
}

void cuda_free(void* p) noexcept {
    if (!p) return;
    cudaError_t e = cudaFree(p);  // destructors never throw: log instead
    if (e != cudaSuccess) std::fprintf(stderr, "fs: cudaFree failed: %s\n", cudaGetErrorString(e));
}

void cuda_memcpy_h2d(void* dst, const void* src, size_t bytes) {
    FS_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void cuda_memcpy_d2h(void* dst, const void* src, size_t bytes) {
    FS_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void cuda_memcpy_d2d(void* dst, const void* src, size_t bytes) {
    FS_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

}  // namespace fs
