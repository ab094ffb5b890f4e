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

/// The vector instruction sets the hand-written CPU paths may use. Each path checks simd_level() and falls back to
/// the next one it has (every AVX-512 path has an AVX2 or a plain C++ sibling).
enum class SimdLevel : int { scalar = 0, avx2 = 1, avx512 = 2 };

/// The best level this CPU runs (AVX2 means AVX2 + FMA; AVX-512 means F + DQ + BW + VL), capped by the cap below.
SimdLevel simd_level();
/// The best level this CPU runs, whatever the cap.
SimdLevel cpu_simd_level();
/// Caps simd_level() for the whole process (tests run the AVX2 paths on an AVX-512 machine this way); returns the
/// previous cap. FS_SIMD=scalar|avx2|avx512 in the environment sets the starting cap.
SimdLevel set_simd_cap(SimdLevel cap);
const char* simd_level_name(SimdLevel l);

/// Caps the SIMD level for its lifetime and restores the previous cap after.
class SimdCapGuard {
 public:
    explicit SimdCapGuard(SimdLevel cap) : m_prev(set_simd_cap(cap)) {}
    ~SimdCapGuard() { set_simd_cap(m_prev); }
    SimdCapGuard(const SimdCapGuard&) = delete;
    SimdCapGuard& operator=(const SimdCapGuard&) = delete;

 private:
    SimdLevel m_prev;
};

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
