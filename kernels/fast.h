// fast.h: the switch between the reference kernels (the specification, kernels/cpu/*.cpp) and the optimised CPU
// paths. Ops consult fast_kernels() for f32 work; f64 always runs the reference. The generic test
// FastVsReference runs every op case both ways. FS_REFERENCE_KERNELS=1 in the environment starts with the
// optimised paths off.
#pragma once

namespace fs {

/// True when ops may use their optimised CPU paths (default, unless FS_REFERENCE_KERNELS=1).
bool fast_kernels();

/// Turns the optimised paths on or off for the whole process; returns the previous setting.
bool set_fast_kernels(bool on);

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
