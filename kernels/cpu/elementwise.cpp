// elementwise.cpp: reference CPU kernels for unary ops, PReLU and broadcasting binary ops.
// Readable over fast: one loop per kernel, the scalar math from kernels/elementwise.h.
#include "kernels/elementwise.h"

#include <algorithm>

namespace fs {

template <typename T>
void unary_forward_cpu(UnaryKind k, const UnaryParams& p, const T* x, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = unary_value(k, x[i], p);
}

template <typename T>
void unary_backward_cpu(UnaryKind k, const UnaryParams& p, const T* x, const T* y, const T* dy, T* dx, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * unary_derivative(k, x[i], y[i], p);
}

template <typename T>
void prelu_forward_cpu(const T* x, const T* alpha, T* y, int64_t N, int64_t C, int64_t S) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            const T* xp = x + (n * C + c) * S;
            T* yp = y + (n * C + c) * S;
            const T a = alpha[c];  // a local, so the compiler can vectorise (y might alias alpha otherwise)
            // max(0, x) + a·min(0, x): the same value, written without a branch so that it vectorises.
            for (int64_t s = 0; s < S; ++s) yp[s] = std::max(xp[s], T(0)) + a * std::min(xp[s], T(0));
        }
}

template <typename T>
void prelu_backward_cpu(const T* x, const T* alpha, const T* dy, T* dx, T* dalpha, int64_t N, int64_t C, int64_t S) {
    if (dalpha) std::fill(dalpha, dalpha + C, T(0));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            int64_t base = (n * C + c) * S;
            for (int64_t s = 0; s < S; ++s) {
                T xv = x[base + s], g = dy[base + s];
                if (dx) dx[base + s] = xv > T(0) ? g : alpha[c] * g;
                if (dalpha && !(xv > T(0))) dalpha[c] += g * xv;  // y = alpha·x on the negative side
            }
        }
}

// Walks the output in row-major order, keeping the input offsets of a and b in step (odometer).
template <typename F>
static void broadcast_walk(const BroadcastGeom& g, F&& f) {
    int64_t idx[BroadcastGeom::k_max_rank] = {0};
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < g.numel; ++i) {
        f(i, ia, ib);
        for (int d = g.rank - 1; d >= 0; --d) {
            if (++idx[d] < g.out_shape[d]) {
                ia += g.a_strides[d];
                ib += g.b_strides[d];
                break;
            }
            ia -= g.a_strides[d] * (g.out_shape[d] - 1);
            ib -= g.b_strides[d] * (g.out_shape[d] - 1);
            idx[d] = 0;
        }
    }
}

template <typename T>
void binary_forward_cpu(BinaryKind k, const BroadcastGeom& g, const T* a, const T* b, T* out) {
    broadcast_walk(g, [&](int64_t i, int64_t ia, int64_t ib) { out[i] = binary_value(k, a[ia], b[ib]); });
}

template <typename T>
void binary_backward_cpu(BinaryKind k, const BroadcastGeom& g, const T* a, const T* b, const T* dout, T* da, T* db,
                         int64_t a_numel, int64_t b_numel) {
    if (da) std::fill(da, da + a_numel, T(0));
    if (db) std::fill(db, db + b_numel, T(0));
    // A broadcast input receives the sum over every output element that read it.
    broadcast_walk(g, [&](int64_t i, int64_t ia, int64_t ib) {
        T pa = T(0), pb = T(0);
        binary_partials(k, a[ia], b[ib], &pa, &pb);
        if (da) da[ia] += dout[i] * pa;
        if (db) db[ib] += dout[i] * pb;
    });
}

#define FS_INSTANTIATE(T)                                                                                     \
    template void unary_forward_cpu<T>(UnaryKind, const UnaryParams&, const T*, T*, int64_t);                 \
    template void unary_backward_cpu<T>(UnaryKind, const UnaryParams&, const T*, const T*, const T*, T*, int64_t); \
    template void prelu_forward_cpu<T>(const T*, const T*, T*, int64_t, int64_t, int64_t);                    \
    template void prelu_backward_cpu<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t, int64_t);     \
    template void binary_forward_cpu<T>(BinaryKind, const BroadcastGeom&, const T*, const T*, T*);            \
    template void binary_backward_cpu<T>(BinaryKind, const BroadcastGeom&, const T*, const T*, const T*, T*, T*, \
                                         int64_t, int64_t);
FS_INSTANTIATE(float)
FS_INSTANTIATE(double)

}  // namespace fs

namespace fs {

BroadcastGeom make_broadcast(const Shape& a, const Shape& b, const char* op) {
    BroadcastGeom g;
    int rank = int(std::max(a.size(), b.size()));
    FS_CHECK(rank <= BroadcastGeom::k_max_rank, op, ": rank ", rank, " exceeds ", BroadcastGeom::k_max_rank);
    g.rank = std::max(rank, 1);
    Shape as = contiguous_strides(a), bs = contiguous_strides(b);
    for (int d = 0; d < g.rank; ++d) {
        int da = d - (g.rank - int(a.size())), db = d - (g.rank - int(b.size()));
        int64_t na = da >= 0 ? a[size_t(da)] : 1, nb = db >= 0 ? b[size_t(db)] : 1;
        FS_CHECK(na == nb || na == 1 || nb == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                 " do not broadcast (dimension ", d, ": ", na, " vs ", nb, ")");
        g.out_shape[d] = std::max(na, nb);
        g.a_strides[d] = (na == 1 || da < 0) ? 0 : as[size_t(da)];
        g.b_strides[d] = (nb == 1 || db < 0) ? 0 : bs[size_t(db)];
        g.numel *= g.out_shape[d];
    }
    if (a.empty() && b.empty()) g.out_shape[0] = 1, g.a_strides[0] = g.b_strides[0] = 0;
    return g;
}

Shape broadcast_shape(const BroadcastGeom& g) { return Shape(g.out_shape, g.out_shape + g.rank); }

}  // namespace fs
