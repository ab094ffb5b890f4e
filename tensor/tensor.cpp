// tensor.cpp: Tensor creation, views, strided copies and dtype/device conversion.
#include "tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>
#include <sstream>
#include <type_traits>

#include "kernels/fast.h"

namespace fs {

// --- shapes and 16-bit conversions ---------------------------------------------------------------------------

std::string shape_str(const Shape& s) {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
    os << "]";
    return os.str();
}

Shape contiguous_strides(const Shape& s) {
    Shape st(s.size());
    int64_t acc = 1;
    for (size_t i = s.size(); i-- > 0;) {
        st[i] = acc;
        acc *= std::max<int64_t>(s[i], 1);
    }
    return st;
}

int normalize_axis(int64_t axis, size_t rank, const char* what) {
    int64_t r = int64_t(rank);
    FS_CHECK(axis >= -r && axis < r, what, ": axis ", axis, " is out of range for rank ", r);
    return int(axis < 0 ? axis + r : axis);
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do { ++e; man <<= 1; } while (!(man & 0x400));
            u = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | man << 13;
    } else {
        u = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    int32_t exp = int32_t((u >> 23) & 0xff) - 127 + 15;
    uint32_t man = u & 0x7fffff;
    if (((u >> 23) & 0xff) == 0xff) return uint16_t(sign | 0x7c00 | (man ? 0x200 : 0));  // inf / NaN
    if (exp >= 31) return uint16_t(sign | 0x7c00);                                     // overflow -> inf
    if (exp <= 0) {                                                                     // subnormal or zero
        if (exp < -10) return uint16_t(sign);
        man |= 0x800000;
        uint32_t shift = uint32_t(14 - exp);
        uint32_t r = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) ++r;
        return uint16_t(sign | r);
    }
    uint32_t r = (uint32_t(exp) << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) ++r;  // may carry into the exponent: still correct
    return uint16_t(sign | r);
}

// --- storage ---------------------------------------------------------------------------------------------------

namespace {

// A caching host allocator. Every op allocates its outputs, and blocks above glibc's mmap threshold come fresh
// from the kernel each time: a page fault per 4 KiB and a zeroing of it. Freed blocks of >= 64 KiB are kept
// instead, in size classes of 1/8 of a power of two (at most 12.5 % slack), and handed out again; the cache
// holds at most FS_HOST_CACHE_MB (default 4096) MiB and frees the rest. Sanitizer builds bypass it, so that
// AddressSanitizer sees every use after free.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool k_cache_enabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool k_cache_enabled = false;
#else
constexpr bool k_cache_enabled = true;
#endif
#else
constexpr bool k_cache_enabled = true;
#endif
constexpr size_t k_cache_min = size_t(64) << 10;

size_t size_class(size_t bytes) {
    if (bytes < k_cache_min) return std::max<size_t>(64, (bytes + 63) / 64 * 64);
    size_t p = size_t(1) << (63 - __builtin_clzll((unsigned long long)bytes));  // highest power of two <= bytes
    size_t step = p / 8;
    return (bytes + step - 1) / step * step;
}

struct HostCache {
    std::mutex mu;
    std::map<size_t, std::vector<void*>> free_blocks;
    size_t cached = 0, limit = 0;
    HostCache() {
        const char* e = std::getenv("FS_HOST_CACHE_MB");
        limit = (e && *e ? size_t(std::strtoull(e, nullptr, 10)) : size_t(4096)) << 20;
    }
    ~HostCache() {
        for (auto& kv : free_blocks)
            for (void* p : kv.second) std::free(p);
    }
};
HostCache& host_cache() {
    static HostCache* c = new HostCache();  // never destroyed: Storages may outlive static destruction
    return *c;
}

void* host_alloc(size_t rounded) {
    if (k_cache_enabled && rounded >= k_cache_min) {
        HostCache& c = host_cache();
        std::lock_guard<std::mutex> lk(c.mu);
        auto it = c.free_blocks.find(rounded);
        if (it != c.free_blocks.end() && !it->second.empty()) {
            void* p = it->second.back();
            it->second.pop_back();
            c.cached -= rounded;
            return p;
        }
    }
    return std::aligned_alloc(64, rounded);
}

void host_free(void* p, size_t rounded) {
    if (k_cache_enabled && rounded >= k_cache_min) {
        HostCache& c = host_cache();
        std::lock_guard<std::mutex> lk(c.mu);
        if (c.cached + rounded <= c.limit) {
            c.free_blocks[rounded].push_back(p);
            c.cached += rounded;
            return;
        }
    }
    std::free(p);
}

}  // namespace

Storage::Storage(size_t bytes, Device device, bool zero) : m_bytes(bytes), m_device(device) {
    if (device == Device::cpu) {
        size_t rounded = size_class(bytes);  // a multiple of 64, as aligned_alloc needs
        m_data = host_alloc(rounded);
        FS_CHECK(m_data != nullptr, "out of host memory allocating ", bytes, " bytes");
        if (zero) std::memset(m_data, 0, rounded);
#if !defined(NDEBUG) || defined(FS_POISON_UNINIT)
        else std::memset(m_data, 0xff, rounded);
#endif
    } else {
        m_data = cuda_malloc(std::max<size_t>(bytes, 1));
    }
}

Storage::~Storage() {
    if (m_device == Device::cpu) host_free(m_data, size_class(m_bytes));
    else cuda_free(m_data);
}

// --- element loops -------------------------------------------------------------------------------------------

void for_each_offset(const Shape& shape, const Shape& strides, const std::function<void(int64_t, int64_t)>& f) {
    int64_t n = shape_numel(shape);
    if (n == 0) return;
    size_t r = shape.size();
    std::vector<int64_t> idx(r, 0);
    int64_t off = 0;
    for (int64_t i = 0; i < n; ++i) {
        f(i, off);
        for (size_t d = r; d-- > 0;) {  // odometer increment
            if (++idx[d] < shape[d]) {
                off += strides[d];
                break;
            }
            off -= strides[d] * (shape[d] - 1);
            idx[d] = 0;
        }
    }
}

namespace {

double load_as_double(const void* base, DType t, int64_t off) {
    switch (t) {
        case DType::f32: return static_cast<const float*>(base)[off];
        case DType::f64: return static_cast<const double*>(base)[off];
        case DType::f16: return f16_to_f32(static_cast<const uint16_t*>(base)[off]);
        case DType::bf16: return bf16_to_f32(static_cast<const uint16_t*>(base)[off]);
    }
    return 0;
}
void store_from_double(void* base, DType t, int64_t off, double v) {
    switch (t) {
        case DType::f32: static_cast<float*>(base)[off] = float(v); break;
        case DType::f64: static_cast<double*>(base)[off] = v; break;
        case DType::f16: static_cast<uint16_t*>(base)[off] = f32_to_f16(float(v)); break;
        case DType::bf16: static_cast<uint16_t*>(base)[off] = f32_to_bf16(float(v)); break;
    }
}

// Advances the multi-index idx over `shape` by one (last dimension fastest), keeping the offsets da and sa into
// two tensors with strides a and b in step.
inline void odometer_step(const Shape& shape, const Shape& a, const Shape& b, std::vector<int64_t>& idx, int64_t& da,
                          int64_t& sa) {
    for (size_t k = shape.size(); k-- > 0;) {
        if (++idx[k] < shape[k]) {
            da += a[k];
            sa += b[k];
            return;
        }
        da -= a[k] * (shape[k] - 1);
        sa -= b[k] * (shape[k] - 1);
        idx[k] = 0;
    }
}

// Strided copy between two CPU tensors of the same shape. Same-dtype copies use a typed inner loop over the
// last dimension (the common case: making a permuted view contiguous); mixed dtypes go through double.
template <typename T>
void copy_same_type(const Shape& shape, const Shape& ds, T* d, const Shape& ss, const T* s) {
    if (shape.empty()) {
        d[0] = s[0];
        return;
    }
    size_t r = shape.size();
    int64_t inner = shape[r - 1], dsi = ds[r - 1], ssi = ss[r - 1];
    if (r >= 2 && dsi == 1 && ds[r - 2] == inner && ss[r - 2] == 1 && ssi != 1 && inner > 1) {
        // The last two dimensions transposed between source and destination (a permuted (N, C, P) <-> (N, P, C)
        // view made contiguous, as self-attention does on every call): copy 32×32 tiles, so each tile's source
        // rows and destination rows stay in L1 instead of striding over the whole plane per element.
        const int64_t rows = shape[r - 2];
        Shape outer2(shape.begin(), shape.end() - 2), dso2(ds.begin(), ds.end() - 2), sso2(ss.begin(), ss.end() - 2);
        if (outer2.empty()) outer2 = {1}, dso2 = {0}, sso2 = {0};
        std::vector<int64_t> idx2(outer2.size(), 0);
        const int64_t n2 = shape_numel(outer2);
        int64_t doff = 0, soff = 0;
        if constexpr (std::is_same_v<T, float>) {
            if (fast_kernels()) {  // the same copy, threaded and in register transposes (kernels/fast.h)
                std::vector<int64_t> doffs(static_cast<size_t>(n2)), soffs(static_cast<size_t>(n2));
                for (int64_t o = 0; o < n2; ++o) {
                    doffs[size_t(o)] = doff, soffs[size_t(o)] = soff;
                    odometer_step(outer2, dso2, sso2, idx2, doff, soff);
                }
                return transpose_planes_f32(n2, doffs.data(), soffs.data(), d, s, rows, inner, ssi);
            }
        }
        constexpr int64_t t = 32;
        for (int64_t o = 0; o < n2; ++o) {
            for (int64_t i0 = 0; i0 < rows; i0 += t)
                for (int64_t j0 = 0; j0 < inner; j0 += t) {
                    const int64_t i1 = std::min(rows, i0 + t), j1 = std::min(inner, j0 + t);
                    for (int64_t i = i0; i < i1; ++i)
                        for (int64_t j = j0; j < j1; ++j) d[doff + i * inner + j] = s[soff + i + j * ssi];
                }
            odometer_step(outer2, dso2, sso2, idx2, doff, soff);
        }
        return;
    }
    Shape outer(shape.begin(), shape.end() - 1), dso(ds.begin(), ds.end() - 1), sso(ss.begin(), ss.end() - 1);
    if (outer.empty()) outer = {1}, dso = {0}, sso = {0};
    std::vector<int64_t> idx(outer.size(), 0);
    int64_t n = shape_numel(outer), doff = 0, soff = 0;
    if (inner == 0) return;
    for (int64_t i = 0; i < n; ++i) {
        T* dp = d + doff;
        const T* sp = s + soff;
        if (dsi == 1 && ssi == 1) std::copy(sp, sp + inner, dp);
        else for (int64_t j = 0; j < inner; ++j) dp[j * dsi] = sp[j * ssi];
        odometer_step(outer, dso, sso, idx, doff, soff);
    }
}

}  // namespace

// --- creation --------------------------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
    for (int64_t d : shape) FS_CHECK(d >= 0, "Tensor::empty: negative dimension in shape ", shape_str(shape));
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device, false);
    impl->dtype = dtype;
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    return Tensor(impl);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
    for (int64_t d : shape) FS_CHECK(d >= 0, "Tensor::zeros: negative dimension in shape ", shape_str(shape));
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), Device::cpu, true);
    impl->dtype = dtype;
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    Tensor t(impl);
    return device == Device::cpu ? t : t.to(device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
    Tensor t = empty(shape, dtype);
    t.fill(value);
    return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<double>& values, DType dtype) {
    FS_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
             " values for shape ", shape_str(shape));
    Tensor t = empty(shape, dtype);
    for (size_t i = 0; i < values.size(); ++i) store_from_double(t.storage()->data(), dtype, int64_t(i), values[i]);
    return t;
}

Tensor Tensor::uniform(const Shape& shape, double lo, double hi, std::mt19937_64& rng, DType dtype) {
    Tensor t = empty(shape, dtype);
    std::uniform_real_distribution<double> dist(lo, hi);
    int64_t n = t.numel();
    if (dtype == DType::f32) {  // the common case, without the per-element dtype switch
        float* p = t.data<float>();
        for (int64_t i = 0; i < n; ++i) p[i] = float(dist(rng));
        return t;
    }
    for (int64_t i = 0; i < n; ++i) store_from_double(t.storage()->data(), dtype, i, dist(rng));
    return t;
}

Tensor Tensor::normal(const Shape& shape, double mean, double std, std::mt19937_64& rng, DType dtype) {
    Tensor t = empty(shape, dtype);
    std::normal_distribution<double> dist(mean, std);
    int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) store_from_double(t.storage()->data(), dtype, i, dist(rng));
    return t;
}

// --- metadata --------------------------------------------------------------------------------------------------

#define FS_NEED_IMPL(what) FS_CHECK(m_impl != nullptr, what, ": the tensor is undefined")

const Shape& Tensor::shape() const { FS_NEED_IMPL("shape()"); return m_impl->shape; }
const Shape& Tensor::strides() const { FS_NEED_IMPL("strides()"); return m_impl->strides; }
int64_t Tensor::offset() const { FS_NEED_IMPL("offset()"); return m_impl->offset; }
DType Tensor::dtype() const { FS_NEED_IMPL("dtype()"); return m_impl->dtype; }
Device Tensor::device() const { FS_NEED_IMPL("device()"); return m_impl->storage->device(); }
const std::shared_ptr<Storage>& Tensor::storage() const { FS_NEED_IMPL("storage()"); return m_impl->storage; }

int64_t Tensor::size(int64_t axis) const { return shape()[size_t(normalize_axis(axis, shape().size(), "size"))]; }

bool Tensor::is_contiguous() const {
    const Shape& s = shape();
    const Shape& st = strides();
    int64_t acc = 1;
    for (size_t i = s.size(); i-- > 0;) {
        if (s[i] != 1 && st[i] != acc) return false;
        acc *= s[i];
    }
    return true;
}

std::string Tensor::str() const {
    if (!defined()) return "undefined";
    return std::string(dtype_name(dtype())) + shape_str(shape()) + " " + device_name(device());
}

// --- element access --------------------------------------------------------------------------------------------

double Tensor::at(std::initializer_list<int64_t> idx) const {
    FS_CHECK(device() == Device::cpu, "at(): tensor is on ", device_name(device()));
    FS_CHECK(int64_t(idx.size()) == dim(), "at(): ", idx.size(), " indices for a rank-", dim(), " tensor");
    int64_t off = offset(), d = 0;
    for (int64_t i : idx) {
        FS_CHECK(i >= 0 && i < shape()[size_t(d)], "at(): index ", i, " out of range for dim ", d, " of ",
                 shape_str(shape()));
        off += i * strides()[size_t(d++)];
    }
    return load_as_double(storage()->data(), dtype(), off);
}

double Tensor::item() const {
    FS_CHECK(numel() == 1, "item(): tensor has ", numel(), " elements, ", shape_str(shape()));
    return to_vector()[0];
}

std::vector<double> Tensor::to_vector() const {
    FS_CHECK(device() == Device::cpu, "to_vector(): tensor is on ", device_name(device()));
    std::vector<double> v(static_cast<size_t>(numel()));
    const void* base = storage()->data();
    DType t = dtype();
    int64_t o = offset();
    for_each_offset(shape(), strides(), [&](int64_t i, int64_t off) { v[size_t(i)] = load_as_double(base, t, o + off); });
    return v;
}

// --- views -----------------------------------------------------------------------------------------------------

static Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = t.storage();
    impl->dtype = t.dtype();
    impl->shape = std::move(shape);
    impl->strides = std::move(strides);
    impl->offset = offset;
    return Tensor(impl);
}

static Shape infer_view_shape(const Shape& want, int64_t numel, const Shape& from) {
    Shape s = want;
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == -1) {
            FS_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(want));
            infer = int(i);
        } else {
            FS_CHECK(s[i] >= 0, "reshape: negative dimension in ", shape_str(want));
            known *= s[i];
        }
    }
    if (infer >= 0) {
        FS_CHECK(known > 0 && numel % known == 0, "reshape: cannot view ", shape_str(from), " as ", shape_str(want));
        s[size_t(infer)] = numel / known;
    }
    FS_CHECK(shape_numel(s) == numel, "reshape: cannot view ", shape_str(from), " (", numel, " elements) as ",
             shape_str(want));
    return s;
}

Tensor Tensor::view(const Shape& shape_) const {
    Shape s = infer_view_shape(shape_, numel(), shape());
    FS_CHECK(is_contiguous(), "view: tensor ", str(), " is not contiguous; use reshape() to copy");
    return make_view(*this, s, contiguous_strides(s), offset());
}

Tensor Tensor::reshape(const Shape& shape_) const { return is_contiguous() ? view(shape_) : contiguous().view(shape_); }

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
    FS_CHECK(int64_t(dims.size()) == dim(), "permute: ", dims.size(), " axes for a rank-", dim(), " tensor");
    Shape s(dims.size()), st(dims.size());
    std::vector<bool> seen(dims.size(), false);
    for (size_t i = 0; i < dims.size(); ++i) {
        int a = normalize_axis(dims[i], dims.size(), "permute");
        FS_CHECK(!seen[size_t(a)], "permute: axis ", a, " repeated");
        seen[size_t(a)] = true;
        s[i] = shape()[size_t(a)];
        st[i] = strides()[size_t(a)];
    }
    return make_view(*this, s, st, offset());
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
    std::vector<int64_t> d(static_cast<size_t>(dim()));
    for (size_t i = 0; i < d.size(); ++i) d[i] = int64_t(i);
    std::swap(d[size_t(normalize_axis(a, d.size(), "transpose"))], d[size_t(normalize_axis(b, d.size(), "transpose"))]);
    return permute(d);
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
    int a = normalize_axis(axis, shape().size(), "slice");
    int64_t n = shape()[size_t(a)];
    FS_CHECK(step >= 1, "slice: step must be >= 1, got ", step);
    if (start < 0) start += n;
    if (end < 0) end += n;
    FS_CHECK(start >= 0 && start <= end && end <= n, "slice: range [", start, ",", end, ") is out of bounds for axis ",
             a, " of ", shape_str(shape()));
    Shape s = shape(), st = strides();
    s[size_t(a)] = (end - start + step - 1) / step;
    st[size_t(a)] = strides()[size_t(a)] * step;
    return make_view(*this, s, st, offset() + start * strides()[size_t(a)]);
}

std::vector<Tensor> Tensor::chunk(int64_t n, int64_t axis) const {
    int a = normalize_axis(axis, shape().size(), "chunk");
    FS_CHECK(n > 0 && shape()[size_t(a)] % n == 0, "chunk: axis ", a, " of size ", shape()[size_t(a)],
             " does not split into ", n, " equal parts");
    int64_t part = shape()[size_t(a)] / n;
    std::vector<Tensor> out;
    for (int64_t i = 0; i < n; ++i) out.push_back(slice(a, i * part, (i + 1) * part));
    return out;
}

// --- copies ----------------------------------------------------------------------------------------------------

void Tensor::copy_from(const Tensor& src) {
    FS_CHECK(shape() == src.shape(), "copy_from: shape ", shape_str(src.shape()), " into ", shape_str(shape()));
    if (device() != Device::cpu || src.device() != Device::cpu) {
        // Device copies move whole contiguous buffers of the same dtype; anything else is staged on the host.
        FS_CHECK(dtype() == src.dtype() && is_contiguous() && src.is_contiguous(),
                 "copy_from: device copies need the same dtype and contiguous tensors (", src.str(), " -> ", str(), ")");
        size_t bytes = size_t(numel()) * dtype_size(dtype());
        char* d = static_cast<char*>(storage()->data()) + offset() * int64_t(dtype_size(dtype()));
        const char* s = static_cast<const char*>(src.storage()->data()) + src.offset() * int64_t(dtype_size(dtype()));
        if (bytes == 0) return;
        if (device() == Device::cuda && src.device() == Device::cuda) cuda_memcpy_d2d(d, s, bytes);
        else if (device() == Device::cuda) cuda_memcpy_h2d(d, s, bytes);
        else cuda_memcpy_d2h(d, s, bytes);
        return;
    }
    if (dtype() == src.dtype() && dtype() == DType::f32) {
        copy_same_type(shape(), strides(), data<float>(), src.strides(), src.data<float>());
    } else if (dtype() == src.dtype() && dtype() == DType::f64) {
        copy_same_type(shape(), strides(), data<double>(), src.strides(), src.data<double>());
    } else {
        std::vector<double> v = src.to_vector();
        void* base = storage()->data();
        DType t = dtype();
        int64_t o = offset();
        for_each_offset(shape(), strides(), [&](int64_t i, int64_t off) { store_from_double(base, t, o + off, v[size_t(i)]); });
    }
}

void Tensor::fill(double value) {
    FS_CHECK(device() == Device::cpu, "fill: tensor is on ", device_name(device()));
    void* base = storage()->data();
    DType t = dtype();
    int64_t o = offset();
    for_each_offset(shape(), strides(), [&](int64_t, int64_t off) { store_from_double(base, t, o + off, value); });
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
    Tensor t = empty(shape(), dtype(), device());
    t.copy_from(*this);
    return t;
}

Tensor Tensor::to(DType t) const {
    if (t == dtype()) return *this;
    FS_CHECK(device() == Device::cpu, "to(dtype): conversions run on the CPU; tensor is on ", device_name(device()));
    Tensor r = empty(shape(), t);
    r.copy_from(*this);
    return r;
}

Tensor Tensor::to(Device d) const {
    if (d == device()) return *this;
    Tensor src = contiguous();
    Tensor r = empty(shape(), dtype(), d);
    r.copy_from(src);
    return r;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    FS_CHECK(a.shape() == b.shape(), "max_abs_diff: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()));
    std::vector<double> va = a.to_vector(), vb = b.to_vector();
    double m = 0;
    for (size_t i = 0; i < va.size(); ++i) {
        double d = std::fabs(va[i] - vb[i]);
        if (std::isnan(d)) return d;
        m = std::max(m, d);
    }
    return m;
}

// --- autograd state --------------------------------------------------------------------------------------------

bool Tensor::requires_grad() const { return m_impl && m_impl->requires_grad; }
Tensor& Tensor::set_requires_grad(bool on) {
    FS_NEED_IMPL("set_requires_grad");
    FS_CHECK(!on || dtype() == DType::f32 || dtype() == DType::f64, "set_requires_grad: ", str(),
             " is not a float tensor");
    m_impl->requires_grad = on;
    return *this;
}
Tensor Tensor::grad() const { FS_NEED_IMPL("grad()"); return m_impl->grad; }
void Tensor::zero_grad() { FS_NEED_IMPL("zero_grad()"); m_impl->grad = Tensor(); }
Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { FS_NEED_IMPL("grad_fn()"); return m_impl->grad_fn; }
const std::string& Tensor::name() const { FS_NEED_IMPL("name()"); return m_impl->name; }
Tensor& Tensor::set_name(std::string n) { FS_NEED_IMPL("set_name"); m_impl->name = std::move(n); return *this; }

}  // namespace fs
