// elementwise_fast.cpp: the unary and binary ops in f32 over every thread, vectorised. Each loop evaluates the
// scalar math of kernels/elementwise.h with the op kind fixed at compile time, so the switch folds away and the
// compiler vectorises the loop; a second copy of each loop is compiled for AVX-512 and picked at run time.
#include <algorithm>

#include "kernels/cpu/thread_pool.h"
#include "kernels/elementwise.h"

namespace fs {

namespace {

constexpr int64_t k_grain = int64_t(1) << 15;  // elements per parallel chunk (128 KiB of f32)

#if defined(__x86_64__) && defined(__GNUC__)
#define FS_EW_AVX512 __attribute__((target("avx512f")))
bool have_avx512() {
    static const bool b = __builtin_cpu_supports("avx512f");
    return b;
}
#else
#define FS_EW_AVX512
bool have_avx512() { return false; }
#endif

// Runs body(begin, end) over [0, n) in chunks of k_grain on every thread.
template <typename F>
void chunked(int64_t n, F&& body) {
    const int64_t chunks = (n + k_grain - 1) / k_grain;
    if (chunks <= 1) return body(int64_t(0), n);
    parallel_for(chunks, [&](int64_t c0, int64_t c1) { body(c0 * k_grain, std::min(n, c1 * k_grain)); });
}

// --- unary ---------------------------------------------------------------------------------------------------

template <UnaryKind K>
inline void uf_loop(const UnaryParams& p, const float* x, float* y, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = unary_value(K, x[i], p);
}
template <UnaryKind K>
FS_EW_AVX512 void uf_loop_avx512(const UnaryParams& p, const float* x, float* y, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = unary_value(K, x[i], p);
}
template <UnaryKind K>
inline void ub_loop(const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx, int64_t b,
                    int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * unary_derivative(K, x[i], y[i], p);
}
template <UnaryKind K>
FS_EW_AVX512 void ub_loop_avx512(const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx,
                                 int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * unary_derivative(K, x[i], y[i], p);
}

template <UnaryKind K>
void unary_forward_k(const UnaryParams& p, const float* x, float* y, int64_t n) {
    const bool v = have_avx512();
    chunked(n, [&](int64_t b, int64_t e) { v ? uf_loop_avx512<K>(p, x, y, b, e) : uf_loop<K>(p, x, y, b, e); });
}
template <UnaryKind K>
void unary_backward_k(const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx, int64_t n) {
    const bool v = have_avx512();
    chunked(n, [&](int64_t b, int64_t e) {
        v ? ub_loop_avx512<K>(p, x, y, dy, dx, b, e) : ub_loop<K>(p, x, y, dy, dx, b, e);
    });
}

// --- binary --------------------------------------------------------------------------------------------------

// out[i] = a[i·sa] ∘ b[i·sb] over one innermost run (sa, sb each 0 or 1 in the model's patterns, any value works).
template <BinaryKind K>
inline void bf_run(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t len) {
    if (sa == 1 && sb == 1)
        for (int64_t j = 0; j < len; ++j) out[j] = binary_value(K, a[j], b[j]);
    else if (sa == 1 && sb == 0)
        for (int64_t j = 0; j < len; ++j) out[j] = binary_value(K, a[j], b[0]);
    else if (sa == 0 && sb == 1)
        for (int64_t j = 0; j < len; ++j) out[j] = binary_value(K, a[0], b[j]);
    else
        for (int64_t j = 0; j < len; ++j) out[j] = binary_value(K, a[j * sa], b[j * sb]);
}
template <BinaryKind K>
FS_EW_AVX512 void bf_run_avx512(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t len) {
    bf_run<K>(a, sa, b, sb, out, len);
}

// The output range [begin, end) of a broadcast: the odometer starts at `begin` and advances once per innermost
// run instead of once per element.
template <BinaryKind K>
void bf_range(const BroadcastGeom& g, const float* a, const float* b, float* out, int64_t begin, int64_t end,
              bool avx512) {
    const int r = g.rank;
    const int64_t inner = g.out_shape[r - 1], sa = g.a_strides[r - 1], sb = g.b_strides[r - 1];
    int64_t idx[BroadcastGeom::k_max_rank] = {0};
    int64_t rest = begin, ia = 0, ib = 0;
    for (int d = r - 1; d >= 0; --d) {
        idx[d] = rest % g.out_shape[d];
        rest /= g.out_shape[d];
        ia += idx[d] * g.a_strides[d];
        ib += idx[d] * g.b_strides[d];
    }
    for (int64_t i = begin; i < end;) {
        const int64_t len = std::min(inner - idx[r - 1], end - i);
        if (avx512) bf_run_avx512<K>(a + ia, sa, b + ib, sb, out + i, len);
        else bf_run<K>(a + ia, sa, b + ib, sb, out + i, len);
        i += len;
        // advance the odometer by len (which ends the innermost run or the range)
        idx[r - 1] += len;
        ia += len * sa;
        ib += len * sb;
        for (int d = r - 1; d > 0 && idx[d] == g.out_shape[d]; --d) {
            ia -= g.a_strides[d] * g.out_shape[d];
            ib -= g.b_strides[d] * g.out_shape[d];
            idx[d] = 0;
            ++idx[d - 1];
            ia += g.a_strides[d - 1];
            ib += g.b_strides[d - 1];
        }
    }
}

template <BinaryKind K>
void binary_forward_k(const BroadcastGeom& g, const float* a, const float* b, float* out) {
    if (g.numel == 0) return;
    const bool v = have_avx512();
    chunked(g.numel, [&](int64_t s, int64_t e) { bf_range<K>(g, a, b, out, s, e, v); });
}

// Same-shape backward: da = 0 + dout·∂a, db = 0 + dout·∂b (the "0 +" keeps the reference's signed zeros, which
// accumulates into zeroed buffers).
template <BinaryKind K>
inline void bb_loop(const float* a, const float* b, const float* dout, float* da, float* db, int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
        float pa = 0.f, pb = 0.f;
        binary_partials(K, a[i], b[i], &pa, &pb);
        if (da) da[i] = 0.f + dout[i] * pa;
        if (db) db[i] = 0.f + dout[i] * pb;
    }
}
template <BinaryKind K>
FS_EW_AVX512 void bb_loop_avx512(const float* a, const float* b, const float* dout, float* da, float* db, int64_t s,
                                 int64_t e) {
    bb_loop<K>(a, b, dout, da, db, s, e);
}

bool no_broadcast(const BroadcastGeom& g) {
    int64_t stride = 1;
    for (int d = g.rank - 1; d >= 0; --d) {
        if (g.out_shape[d] != 1 && (g.a_strides[d] != stride || g.b_strides[d] != stride)) return false;
        stride *= g.out_shape[d];
    }
    return true;
}

template <BinaryKind K>
bool binary_backward_k(const BroadcastGeom& g, const float* a, const float* b, const float* dout, float* da,
                       float* db) {
    if (!no_broadcast(g)) return false;
    const bool v = have_avx512();
    chunked(g.numel, [&](int64_t s, int64_t e) {
        v ? bb_loop_avx512<K>(a, b, dout, da, db, s, e) : bb_loop<K>(a, b, dout, da, db, s, e);
    });
    return true;
}

}  // namespace

#define FS_UNARY_CASES(CALL)                          \
    switch (k) {                                      \
        case UnaryKind::abs: CALL(UnaryKind::abs);     \
        case UnaryKind::square: CALL(UnaryKind::square); \
        case UnaryKind::exp: CALL(UnaryKind::exp);     \
        case UnaryKind::log: CALL(UnaryKind::log);     \
        case UnaryKind::relu: CALL(UnaryKind::relu);   \
        case UnaryKind::leaky_relu: CALL(UnaryKind::leaky_relu); \
        case UnaryKind::sigmoid: CALL(UnaryKind::sigmoid); \
        case UnaryKind::tanh: CALL(UnaryKind::tanh);   \
        case UnaryKind::scale: CALL(UnaryKind::scale); \
    }

void unary_forward_fast(UnaryKind k, const UnaryParams& p, const float* x, float* y, int64_t n) {
#define FS_CALL(K) return unary_forward_k<K>(p, x, y, n)
    FS_UNARY_CASES(FS_CALL)
#undef FS_CALL
}

void unary_backward_fast(UnaryKind k, const UnaryParams& p, const float* x, const float* y, const float* dy, float* dx,
                         int64_t n) {
#define FS_CALL(K) return unary_backward_k<K>(p, x, y, dy, dx, n)
    FS_UNARY_CASES(FS_CALL)
#undef FS_CALL
}

#define FS_BINARY_CASES(CALL)                    \
    switch (k) {                                 \
        case BinaryKind::add: CALL(BinaryKind::add); \
        case BinaryKind::sub: CALL(BinaryKind::sub); \
        case BinaryKind::mul: CALL(BinaryKind::mul); \
        case BinaryKind::div: CALL(BinaryKind::div); \
    }

void binary_forward_fast(BinaryKind k, const BroadcastGeom& g, const float* a, const float* b, float* out) {
#define FS_CALL(K) return binary_forward_k<K>(g, a, b, out)
    FS_BINARY_CASES(FS_CALL)
#undef FS_CALL
}

bool binary_backward_fast(BinaryKind k, const BroadcastGeom& g, const float* a, const float* b, const float* dout,
                          float* da, float* db) {
#define FS_CALL(K) return binary_backward_k<K>(g, a, b, dout, da, db)
    FS_BINARY_CASES(FS_CALL)
#undef FS_CALL
    return false;
}

}  // namespace fs
