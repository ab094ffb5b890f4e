// functional_nn.h: typed differentiable entry points for one op family (see functional.h): convolution and
// pooling (autograd/ops/conv.cpp, autograd/ops/pool.cpp). The params structs live with the kernels.
#pragma once
#include "autograd/tape.h"
#include "kernels/conv.h"
#include "kernels/pool.h"

namespace fs {

/// 2-D convolution (cross-correlation): x (N,C,H,W), w (OC,C,KH,KW), b (OC) or an undefined Tensor for no bias
/// -> (N,OC,Ho,Wo). Padding per side (zeros or reflect); Conv2dParams::tf_same / valid build the Keras modes.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);
/// Depthwise 2-D convolution (channel multiplier 1): x (N,C,H,W), w (C,1,KH,KW), b (C) or undefined -> (N,C,Ho,Wo);
/// each channel convolved with its own filter. Padding and strides as conv2d.
Tensor depthwise_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);
/// Max pooling over NCHW; padded cells never win. Backward routes to the first maximum in scan order.
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);
/// Average pooling over NCHW; divides by the number of real (unpadded) cells in each window.
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);

}  // namespace fs
