// cuda_stub.cpp: the CUDA entry points of storage.h for a build without CUDA. Each one that would need a GPU
// throws, so a CPU-only binary reports "built without CUDA" instead of crashing.
#include "tensor/storage.h"

namespace fs {
bool cuda_built() { return false; }
bool cuda_available() { return false; }
void* cuda_malloc(size_t) { FS_FAIL("CUDA device memory requested, but this binary was built without CUDA"); }
void cuda_free(void*) noexcept {}
void cuda_memcpy_h2d(void*, const void*, size_t) { FS_FAIL("host->device copy: built without CUDA"); }
void cuda_memcpy_d2h(void*, const void*, size_t) { FS_FAIL("device->host copy: built without CUDA"); }
void cuda_memcpy_d2d(void*, const void*, size_t) { FS_FAIL("device->device copy: built without CUDA"); }
}  // namespace fs
