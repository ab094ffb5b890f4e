// fast.h: the switch between the reference kernels (the specification, kernels/cpu/*.cpp) and the optimised CPU
// paths. Ops consult fast_kernels() for f32 work; f64 always runs the reference. The generic test
// FastVsReference runs every op case both ways. FS_REFERENCE_KERNELS=1 in the environment starts with the
// optimised paths off.
#pragma once

#include <cstdint>

namespace fs {

/// True when ops may use their optimised CPU paths (default, unless FS_REFERENCE_KERNELS=1).
bool fast_kernels();

/// Turns the optimised paths on or off for the whole process; returns the previous setting.
bool set_fast_kernels(bool on);

/// d[doff[o] + i·cols + j] = s[soff[o] + i + j·ss] for o < planes, i < rows, j < cols: the transposed plane copy
/// behind contiguous() of a view with its last two dimensions swapped (self-attention's (N, C, P) <-> (N, P, C)),
/// over the threads, in 16×16 register transposes with AVX-512 (kernels/cpu/shuffle_fast.cpp).
void transpose_planes_f32(int64_t planes, const int64_t* doff, const int64_t* soff, float* d, const float* s,
                          int64_t rows, int64_t cols, int64_t ss);

/// Sets the setting for its lifetime and restores it after.
class FastKernelsGuard {
 public:
    explicit FastKernelsGuard(bool on) : m_prev(set_fast_kernels(on)) {}
    ~FastKernelsGuard() { set_fast_kernels(m_prev); }
    FastKernelsGuard(const FastKernelsGuard&) = delete;
    FastKernelsGuard& operator=(const FastKernelsGuard&) = delete;

 private:
    bool m_prev;
};

}  // namespace fs
