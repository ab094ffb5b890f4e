// functional.h: typed, differentiable entry points, one per op (each defined next to its OpSpec in
// autograd/ops/). Every function records on the tape when an input requires grad and grad mode is on.
// The generic form, apply(spec, inputs, attrs), reaches every registered op without these wrappers.
#pragma once
#include <vector>

#include "autograd/functional_linalg.h"
#include "autograd/functional_nn.h"
#include "autograd/functional_norm.h"
#include "autograd/tape.h"

namespace fs {

// --- elementwise (autograd/ops/elementwise.cpp) ----------------------------------------------------------------
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double slope);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
/// a·x + b with constants a, b (scalars on the tensor side go through add/mul with a 1-element tensor).
Tensor scale(const Tensor& x, double a, double b = 0.0);
/// Per-channel PReLU: x (N, C, ...), alpha (C).
Tensor prelu(const Tensor& x, const Tensor& alpha);
/// NumPy-broadcasting arithmetic (rank <= 6).
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

// --- attention (autograd/ops/attention.cpp) -------------------------------------------------------------------
/// o = softmax(scale · q kᵀ) v over the keys: q (B,N,D), k (B,M,D), v (B,M,E) -> (B,N,E); O(M) memory per row.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale = 1.0);

// --- views (autograd/ops/views.cpp) ----------------------------------------------------------------------------
struct SliceParams {
    int64_t axis = 0, start = 0, end = 0, step = 1;
};
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const std::vector<int64_t>& axes);
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
Tensor contiguous(const Tensor& x);

}  // namespace fs
