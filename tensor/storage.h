// storage.h: a reference-counted, 64-byte aligned buffer on one device.
// Tensors share a Storage through std::shared_ptr; views never copy it.
#pragma once
#include <cstddef>
#include <memory>

#include "tensor/dtype.h"

namespace fs {

class Storage {
 public:
    /// Allocates `bytes` on `device` (CPU: 64-byte aligned; CUDA: device memory). With `zero` the CPU bytes are
    /// zeroed; otherwise they are uninitialised in release builds and filled with 0xFF (a NaN in every float
    /// type) in debug and sanitizer builds, so a kernel that reads an output it never wrote poisons the result visibly.
    Storage(size_t bytes, Device device, bool zero = true);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    void* data() { return m_data; }
    const void* data() const { return m_data; }
    size_t bytes() const { return m_bytes; }
    Device device() const { return m_device; }

 private:
    void* m_data = nullptr;
    size_t m_bytes = 0;
    Device m_device = Device::cpu;
};

// --- the CUDA side, implemented in tensor/cuda_storage.cu when CUDA is built, else by stubs that throw ---------
bool cuda_built();                      ///< true when this binary was compiled with CUDA
bool cuda_available();                  ///< true when CUDA is built and a device is present
void* cuda_malloc(size_t bytes);
void cuda_free(void* p) noexcept;
void cuda_memcpy_h2d(void* dst, const void* src, size_t bytes);
void cuda_memcpy_d2h(void* dst, const void* src, size_t bytes);
void cuda_memcpy_d2d(void* dst, const void* src, size_t bytes);

}  // namespace fs
