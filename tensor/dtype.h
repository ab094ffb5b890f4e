// dtype.h: element types, devices and shapes.
// f32 is the working type; f64 exists on the CPU for the reference kernels and gradient checks; f16 and bf16
// are storage types (conversion to and from f32 only, no arithmetic kernels yet).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/error.h"

#if defined(__CUDACC__)
#define FS_HOST_DEVICE __host__ __device__
#else
#define FS_HOST_DEVICE
#endif

namespace fs {

enum class DType : uint8_t { f32, f64, f16, bf16 };
enum class Device : uint8_t { cpu, cuda };

/// Bytes per element.
inline size_t dtype_size(DType t) {
    switch (t) {
        case DType::f32: return 4;
        case DType::f64: return 8;
        case DType::f16: return 2;
        case DType::bf16: return 2;
    }
    FS_FAIL("dtype_size: unknown dtype ", int(t));
}
inline const char* dtype_name(DType t) {
    switch (t) {
        case DType::f32: return "f32";
        case DType::f64: return "f64";
        case DType::f16: return "f16";
        case DType::bf16: return "bf16";
    }
    return "?";
}
inline const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

/// Maps a C++ type to its DType.
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };

// --- 16-bit storage conversions (round to nearest even) -----------------------------------------------------

inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // keep NaN a (quiet) NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}
inline float bf16_to_f32(uint16_t h) {
    uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// --- shapes --------------------------------------------------------------------------------------------------

using Shape = std::vector<int64_t>;

inline int64_t shape_numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}
std::string shape_str(const Shape& s);
/// Row-major (C-contiguous) element strides for a shape.
Shape contiguous_strides(const Shape& s);
/// Normalises a possibly negative axis against rank; throws naming `what` when out of range.
int normalize_axis(int64_t axis, size_t rank, const char* what);

/// Dispatches on a floating dtype: FS_DISPATCH_FLOAT(t, "op", [&](auto tag){ using T = decltype(tag); ... });
template <typename F>
auto dispatch_float(DType t, const char* op, F&& f) {
    if (t == DType::f32) return f(float{});
    FS_CHECK(t == DType::f64, op, ": dtype ", dtype_name(t), " is not supported (f32 or f64 only)");
    return f(double{});
}

}  // namespace fs
