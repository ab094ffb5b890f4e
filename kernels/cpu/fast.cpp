// fast.cpp: the process-wide reference/optimised switch.
#include "kernels/fast.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fs {

namespace {
std::atomic<bool>& flag() {
    static std::atomic<bool> f([] {
        const char* e = std::getenv("FS_REFERENCE_KERNELS");
        return !(e && std::strcmp(e, "1") == 0);
    }());
    return f;
}
}  // namespace

namespace {
SimdLevel detect() {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return SimdLevel::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::avx2;
#endif
    return SimdLevel::scalar;
}

SimdLevel parse_cap(const char* e) {
    if (!e || !*e) return SimdLevel::avx512;
    if (std::strcmp(e, "scalar") == 0) return SimdLevel::scalar;
    if (std::strcmp(e, "avx2") == 0) return SimdLevel::avx2;
    if (std::strcmp(e, "avx512") == 0) return SimdLevel::avx512;
    std::fprintf(stderr, "faceswap: FS_SIMD=%s is not scalar, avx2 or avx512; ignored\n", e);
    return SimdLevel::avx512;
}

std::atomic<int>& cap() {
    static std::atomic<int> c(int(parse_cap(std::getenv("FS_SIMD"))));
    return c;
}
}  // namespace

SimdLevel cpu_simd_level() {
    static const SimdLevel l = detect();
    return l;
}

SimdLevel simd_level() { return SimdLevel(std::min(int(cpu_simd_level()), cap().load(std::memory_order_relaxed))); }

SimdLevel set_simd_cap(SimdLevel c) { return SimdLevel(cap().exchange(int(c))); }

const char* simd_level_name(SimdLevel l) {
    switch (l) {
        case SimdLevel::scalar:
            return "scalar";
        case SimdLevel::avx2:
            return "avx2";
        case SimdLevel::avx512:
            return "avx512";
    }
    return "?";
}

bool fast_kernels() { return flag().load(std::memory_order_relaxed); }
bool set_fast_kernels(bool on) { return flag().exchange(on); }

}  // namespace fs
