// functional_linalg.h: typed differentiable entry points for one op family (see functional.h): dense, matmul
// (autograd/ops/linalg.cpp); sum, mean, softmax (reduce.cpp); concat, pixel_shuffle, upsample_nearest
// (shuffle.cpp). The params structs live with the kernels.
#pragma once
#include <vector>

#include "autograd/tape.h"
#include "kernels/linalg.h"
#include "kernels/reduce.h"
#include "kernels/shuffle.h"

namespace fs {

// --- linear algebra (autograd/ops/linalg.cpp) ------------------------------------------------------------------
/// x (N, IN), w (OUT, IN) (PyTorch layout), b (OUT) or undefined for no bias -> (N, OUT).
Tensor dense(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());
/// Batched a (B, M, K) · b (B, K, N) -> (B, M, N); rank-2 operands (M, K) · (K, N) -> (M, N). trans_a: a is
/// given as (B, K, M); trans_b: b is given as (B, N, K).
Tensor matmul(const Tensor& a, const Tensor& b, const MatmulParams& p = {});

// --- reductions (autograd/ops/reduce.cpp) ----------------------------------------------------------------------
/// Sum over p.axes (all when empty); a full reduction without keepdim gives a rank-0 tensor of shape {}.
Tensor sum(const Tensor& x, const ReduceParams& p = {});
/// Mean over p.axes, same shape rules as sum.
Tensor mean(const Tensor& x, const ReduceParams& p = {});
/// Σ x² over every element (rank-0 result): the L2 weight-decay term in one pass.
Tensor sum_squares(const Tensor& x);
/// Softmax over the last axis (numerically stable).
Tensor softmax(const Tensor& x);

// --- channel ops and resampling (autograd/ops/shuffle.cpp) -----------------------------------------------------
/// Joins xs along p.axis; all other dims must match.
Tensor concat(const std::vector<Tensor>& xs, const ConcatParams& p = {});
/// (N, C·r², H, W) -> (N, C, H·r, W·r), channel order per p.order (DCR: faceswap-GAN / TF; CRD: PyTorch).
Tensor pixel_shuffle(const Tensor& x, const PixelShuffleParams& p = {});
/// (N, C, H, W) -> (N, C, H·s, W·s), each pixel repeated in an s×s block.
Tensor upsample_nearest(const Tensor& x, const UpsampleParams& p = {});

}  // namespace fs
