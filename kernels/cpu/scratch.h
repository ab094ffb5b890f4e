// scratch.h: per-thread scratch memory for the optimised CPU kernels (SGEMM's packing buffers, conv2d's column
// and padding buffers, the Winograd transforms).
#pragma once
#include <cstdint>
#include <cstdlib>

#include "tensor/error.h"

namespace fs {

/// Grow-only, 64-byte aligned float memory (the kernels use aligned loads on packed data). Declared thread_local
/// by its users and kept for the thread's lifetime, so a steady-state training step allocates (and page-faults)
/// nothing. `what` names the user in the out-of-memory error.
class ScratchBuffer {
 public:
    explicit ScratchBuffer(const char* what) : m_what(what) {}
    ScratchBuffer(const ScratchBuffer&) = delete;
    ScratchBuffer& operator=(const ScratchBuffer&) = delete;
    ~ScratchBuffer() { std::free(m_data); }
    /// At least `floats` floats; the contents are unspecified (whatever the last user left).
    float* get(int64_t floats) {
        if (floats > m_capacity) {
            std::free(m_data);
            m_data = nullptr;
            m_capacity = 0;
            const size_t bytes = (size_t(floats) * sizeof(float) + 63) / 64 * 64;  // aligned_alloc: a multiple of 64
            m_data = static_cast<float*>(std::aligned_alloc(64, bytes));
            FS_CHECK(m_data != nullptr, m_what, ": cannot allocate a ", bytes, "-byte scratch buffer");
            m_capacity = floats;
        }
        return m_data;
    }

 private:
    const char* m_what;
    float* m_data = nullptr;
    int64_t m_capacity = 0;
};

}  // namespace fs
