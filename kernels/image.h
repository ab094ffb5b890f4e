// image.h: image-space ops of faceswap-GAN v2.2's losses (docs/faceswap_gan_v22.md §5.2):
//   resize_bilinear  TF1 bilinear resize (align_corners=False, half_pixel_centers=False) for the perceptual-loss
//                    input (→224×224), the auxiliary heads' targets and the eye mask E'; plus the half-pixel
//                    variant (TF2 / PyTorch align_corners=False).
//   image_gradients  the edge loss's ∂ᵥz = |z[i+1,j]−z[i,j]| and ∂ₕz = |z[i,j+1]−z[i,j]|, both cropped to
//                    (H−1)×(W−1).
// Kernel conventions: x (NC, H, W) contiguous row-major, N and C folded into one plane index since both ops act
// on each plane independently. Outputs and gradients are assigned (=).
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/dtype.h"

namespace fs {

/// How an output pixel maps to a source coordinate (per axis, scale = in/out).
enum class ResizeMode {
    tf_legacy,   ///< TF1 default: src = dst·scale; the image is anchored at its top-left corner
    half_pixel,  ///< pixel centres: src = (dst+0.5)·scale − 0.5 (TF2, PyTorch align_corners=False)
};

struct ResizeParams {
    int64_t out_h = 0, out_w = 0;
    ResizeMode mode = ResizeMode::tf_legacy;  ///< what faceswap-GAN (TF1 tf.image.resize_bilinear) does
};

enum class ImageGradAxis {
    vertical,    ///< |x[i+1,j] − x[i,j]|
    horizontal,  ///< |x[i,j+1] − x[i,j]|
};

struct ImageGradParams {
    ImageGradAxis axis = ImageGradAxis::vertical;
};

// --- scalar math shared with the CUDA kernels ------------------------------------------------------------------

/// The two source taps of one output coordinate along one axis: out = (1−frac)·in[lower] + frac·in[upper].
struct ResizeTap {
    int64_t lower = 0, upper = 0;
    double frac = 0;
};

/// Source taps of output index `dst` when resizing an axis from `in` to `out` samples.
///   tf_legacy:  src = dst·in/out; lower = floor(src), upper = min(lower+1, in−1), frac = src − lower.
///               src ≤ (out−1)·in/out < in, so lower never needs clamping; the last rows of an upsample clamp
///               upper and so repeat the edge pixel.
///   half_pixel: src = (dst+0.5)·in/out − 0.5; lower = max(floor(src), 0), upper = min(ceil(src), in−1),
///               frac = src − floor(src). For src < 0 (the first outputs of an upsample) lower = upper = 0, so the
///               value is in[0] whatever frac is: the same as PyTorch, which clamps src to 0 first. Past the last
///               centre upper clamps to in−1 = lower, again the edge pixel.
/// src is formed from exact integer products and one division, (dst·in)/out and ((2·dst+1)·in − out)/(2·out),
/// so source coordinates that are integers come out exactly integral (TF forms dst·(float)(in/out), whose
/// rounding can land just below an integer; bilinear interpolation is continuous in src, so the values agree).
FS_HOST_DEVICE inline ResizeTap resize_source_tap(ResizeMode mode, int64_t dst, int64_t in, int64_t out) {
    ResizeTap t;
    if (mode == ResizeMode::tf_legacy) {
        double src = double(dst * in) / double(out);
        double fl = std::floor(src);
        t.lower = int64_t(fl);
        t.upper = t.lower + 1 < in - 1 ? t.lower + 1 : in - 1;
        t.frac = src - fl;
    } else {
        double src = double((2 * dst + 1) * in - out) / double(2 * out);
        double fl = std::floor(src), ce = std::ceil(src);
        t.lower = fl > 0 ? int64_t(fl) : 0;
        t.upper = int64_t(ce) < in - 1 ? int64_t(ce) : in - 1;
        t.frac = src - fl;
    }
    return t;
}

/// d|d|/dd for d = x[b] − x[a]: the sign, 0 at a tie (TF's and PyTorch's gradient of abs, so flat regions of an
/// image pass no edge-loss gradient). Written without branches: on image data the sign is close to a coin flip,
/// and a branchy version spent most of the backward in mispredictions (~20x the forward's time).
template <typename T>
FS_HOST_DEVICE inline T abs_diff_sign(T d) {
    return T(int(d > T(0)) - int(d < T(0)));
}

// --- resize_bilinear -------------------------------------------------------------------------------------------

/// x (NC, H, W) -> y (NC, p.out_h, p.out_w). y assigned.
template <typename T>
void resize_bilinear_forward_cpu(const ResizeParams& p, const T* x, T* y, int64_t NC, int64_t H, int64_t W);
/// The transpose of forward (the op is linear in x): dy (NC, p.out_h, p.out_w) -> dx (NC, H, W). dx assigned.
template <typename T>
void resize_bilinear_backward_cpu(const ResizeParams& p, const T* dy, T* dx, int64_t NC, int64_t H, int64_t W);

// --- image_gradients -------------------------------------------------------------------------------------------

/// x (NC, H, W) -> y (NC, H−1, W−1); H, W >= 2. y assigned.
template <typename T>
void image_gradients_forward_cpu(const ImageGradParams& p, const T* x, T* y, int64_t NC, int64_t H, int64_t W);
/// x, dx (NC, H, W); dy (NC, H−1, W−1). dx assigned; it is 0 where no output reads x (the last column for
/// vertical, the last row for horizontal, because of the crop) and gets nothing from tied pairs.
template <typename T>
void image_gradients_backward_cpu(const ImageGradParams& p, const T* x, const T* dy, T* dx, int64_t NC, int64_t H,
                                  int64_t W);

}  // namespace fs
