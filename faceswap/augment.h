// augment.h: the image operations of faceswap-GAN v2.2's training data pipeline (spec §6), on float HWC images.
// Conventions: ImageF is row-major (H, W, C) interleaved float; colour images are BGR (OpenCV order). Pixel
// centres sit at integer coordinates and (x, y) = (column, row), as in OpenCV. A 2×3 affine maps SOURCE
// coordinates to DESTINATION coordinates (the OpenCV warpAffine convention); the warp inverts it.
// Every random draw comes from a caller-supplied std::mt19937_64 through the rand_* helpers below, whose
// results are defined by this file (not by the standard library's distributions), so a sample is a pure
// function of its seed on every platform. No OpenCV: the OpenCV semantics are re-created and tested.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <vector>

#include "io/image.h"

namespace fs {

// --- image type -------------------------------------------------------------------------------------------------

/// A float image, (h, w, c) row-major interleaved.
struct ImageF {
    int h = 0, w = 0, c = 0;
    std::vector<float> px;

    ImageF() = default;
    ImageF(int h_, int w_, int c_, float value = 0.f);
    bool empty() const { return px.empty(); }
    float& at(int y, int x, int ch) { return px[(size_t(y) * size_t(w) + size_t(x)) * size_t(c) + size_t(ch)]; }
    float at(int y, int x, int ch) const { return px[(size_t(y) * size_t(w) + size_t(x)) * size_t(c) + size_t(ch)]; }
};

/// 8-bit RGB/grey Image (io/image.h) -> BGR float with the 8-bit values (0..255); grey becomes 3 equal channels.
ImageF image_to_bgr_f(const Image& img);
/// BGR float 0..255 -> 8-bit RGB Image (rounded, clamped).
Image bgr_f_to_image(const ImageF& img);
/// Channels [c0, c1) of `img`.
ImageF slice_channels(const ImageF& img, int c0, int c1);
/// Rounds to the nearest integer (ties to even, as OpenCV's saturate_cast) and clamps to [0, 255]: what
/// storing a float result in an 8-bit OpenCV image does.
void quantize_u8(ImageF& img);

// --- sampling and geometry ------------------------------------------------------------------------------------

/// How samples outside the source are filled: a constant, the nearest edge pixel (BORDER_REPLICATE), or the
/// mirror without repeating the edge (BORDER_REFLECT_101, only for filter2d).
enum class Border { constant, replicate, reflect101 };

/// Row-major 2×3 affine [a b c; d e f]: (x, y) -> (a·x + b·y + c, d·x + e·y + f).
using Affine = std::array<double, 6>;
struct Point2 {
    double x = 0, y = 0;
};

/// OpenCV cv::resize INTER_LINEAR: half-pixel centres, src = (dst + 0.5)·(in/out) − 0.5, clamped to the image
/// (so the edge pixels replicate). No anti-aliasing when shrinking, like OpenCV.
ImageF resize_bilinear(const ImageF& src, int out_h, int out_w);
/// The inverse of an affine; throws on a singular one.
Affine invert_affine(const Affine& m);
/// A rectangle of pixels: columns [x0, x1), rows [y0, y1).
struct PixelBox {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
/// Applies an affine to a point.
Point2 apply_affine(const Affine& m, Point2 p);
/// cv::warpAffine (INTER_LINEAR): dst(x, y) = src(M⁻¹·(x, y)), bilinear; `border` constant (value `fill`) or
/// replicate. OpenCV quantises the source position to 1/32 px; this keeps it exact (a difference ≤ 1/64 px).
ImageF warp_affine(const ImageF& src, const Affine& m, int out_h, int out_w, Border border, float fill = 0.f);
/// cv::remap (INTER_LINEAR): dst(y, x) = src(map_x(y, x), map_y(y, x)), bilinear. Maps are 1-channel, same size.
ImageF remap_bilinear(const ImageF& src, const ImageF& map_x, const ImageF& map_y, Border border, float fill = 0.f);
/// cv::getRotationMatrix2D: rotation by `angle_deg` (counter-clockwise as seen on screen) and `scale` about
/// (cx, cy).
Affine rotation_matrix_2d(double cx, double cy, double angle_deg, double scale);
/// Umeyama (1991) least-squares similarity src -> dst, as skimage / faceswap-GAN's umeyama.py: SVD of the
/// cross-covariance, reflection fix through its determinant, scale = tr(S·D)/var(src) (1 without scale).
/// Needs ≥ 2 points, not all equal.
Affine umeyama(const std::vector<Point2>& src, const std::vector<Point2>& dst, bool with_scale);
/// cv::filter2D (correlation, anchor at the kernel centre, BORDER_REFLECT_101) with a 1-channel odd kernel.
ImageF filter2d(const ImageF& src, const ImageF& kernel);

// --- colour ---------------------------------------------------------------------------------------------------

/// cv::cvtColor BGR2XYZ / XYZ2BGR with OpenCV's float (D65) matrices; the channel order is X, Y, Z.
ImageF bgr_to_xyz(const ImageF& bgr);
ImageF xyz_to_bgr(const ImageF& xyz);

/// Per-channel mean and population std over the central crop [margin:-margin, margin:-margin].
struct ChannelStats {
    std::array<double, 3> mean{}, std{};
};
ChannelStats central_stats(const ImageF& img, int margin = 60);

/// §6 step 2 without the random draws: Reinhard transfer of `src` toward the statistics of `tar` (both 3-channel
/// 0..255 BGR, normally 256×256), in XYZ when `xyz` (both converted first, stored as 8-bit like OpenCV),
/// statistics over the central crop, target statistics blended by `u` (mt ← u·mt + (1−u)·ms, same for the std),
/// result = st·(src − ms)/(ss + 1e-7) + mt, shifted up when its minimum is < 0, rescaled to a maximum of 255
/// when above, converted back from XYZ, and clamped to [0, 255] (the clamp is ours, see docs/DEVIATIONS.md).
/// A source with zero std in every channel comes back unchanged.
ImageF color_transfer(const ImageF& src, const ImageF& tar, bool xyz, double u);

// --- random numbers with defined results ----------------------------------------------------------------------

/// U[0, 1) with 53 random bits.
double rand_uniform(std::mt19937_64& rng);
/// U[lo, hi).
double rand_uniform(std::mt19937_64& rng, double lo, double hi);
/// Uniform integer in [0, n) (unbiased), n ≥ 1.
int64_t rand_int(std::mt19937_64& rng, int64_t n);
/// N(mean, std) by Box–Muller (one draw per call; two uniforms).
double rand_normal(std::mt19937_64& rng, double mean, double std);
/// SplitMix64 finaliser: a well-mixed 64-bit hash, used to derive independent seeds.
uint64_t mix64(uint64_t x);
/// A seed derived from a parent seed and a sequence of indices/salts (order matters).
uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> parts);

// --- §6 step 4: random_transform -----------------------------------------------------------------------------

struct TransformRanges {
    double rotation_deg = 10.0;  ///< rotation U(−r, r) degrees
    double zoom = 0.1;           ///< scale U(1 − z, 1 + z)
    double shift = 0.05;         ///< tx, ty U(−s, s)·size
    double flip_prob = 0.5;      ///< horizontal flip
};
struct TransformParams {
    double rotation_deg = 0, scale = 1, tx = 0, ty = 0;
    bool flip = false;
};
/// Draws rotation, scale, tx, ty (in that order, as the original), then the flip; `size` is the image side.
TransformParams draw_transform(std::mt19937_64& rng, int size, const TransformRanges& r = {});
/// The forward matrix: getRotationMatrix2D((w/2, h/2), rotation, scale) plus (tx, ty) (before the flip).
Affine transform_matrix(const TransformParams& p, int h, int w);
/// warpAffine with bilinear sampling and BORDER_REPLICATE, then x -> w−1−x when flipped. Any channel count.
ImageF apply_transform(const ImageF& img, const TransformParams& p);
/// The same pixels inside `box` only (the rest 0): what a later step reads of it, for less work.
ImageF apply_transform(const ImageF& img, const TransformParams& p, const PixelBox& box);

// --- §6 step 5: random_warp_rev ------------------------------------------------------------------------------

struct WarpParams {
    int res = 64;                     ///< output side; a multiple of 64 (s = res/64)
    int coverage = 78;                ///< 78 + randint(20): half-width of the 5×5 grid around (128, 128)
    double sigma = 5.0;               ///< grid noise std, U(5, 6.2)
    std::array<double, 25> grid_x{};  ///< noisy grid, point k = row r·5 + column c
    std::array<double, 25> grid_y{};
    Affine target_mat{};  ///< Umeyama similarity noisy grid -> {(16s·c, 16s·r)}
};
/// Draws coverage, sigma, the 25 x noises then the 25 y noises, and fits the target similarity.
WarpParams draw_warp(std::mt19937_64& rng, int res);
/// The two res×res sampling maps of the warped input: the 5×5 grids resized to 80s×80s (half-pixel bilinear)
/// and cropped to [8s, 72s). Noisy grid point (r, c) is sampled exactly at warped pixel
/// (16s·c − 0.5, 16s·r − 0.5).
void warp_maps(const WarpParams& p, ImageF& map_x, ImageF& map_y);
struct WarpPair {
    ImageF warped;  ///< res×res, the first `warped_channels` channels of the input, remapped (constant 0 border)
    ImageF target;  ///< res×res, all channels, warpAffine by target_mat (bilinear, constant 0 border)
};
/// The pixels of a 256×256 image that apply_warp reads (both outputs' bilinear taps), with a pixel to spare.
PixelBox warp_footprint(const WarpParams& p);
/// Applies the warp to a 256×256 image (3 channels, or 6 = image + eye mask).
WarpPair apply_warp(const ImageF& img256, const WarpParams& p, int warped_channels = 3);

// --- §6 step 6: motion blur -----------------------------------------------------------------------------------

/// A size×size kernel: a horizontal line of ones through the centre rotated by `angle_deg` about the centre,
/// clipped to [0, 1] and normalised to sum 1. The original rotates with scipy's cubic spline; this rotates
/// with bilinear sampling (see docs/DEVIATIONS.md).
ImageF motion_blur_kernel(int size, double angle_deg);
/// Draws size from {5, 7, 9, 11} and the angle U(−180, 180).
ImageF random_motion_blur_kernel(std::mt19937_64& rng);

}  // namespace fs
