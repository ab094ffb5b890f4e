// masks.h: the eye masks of faceswap-GAN's prep_binary_masks (spec §7.3) and `faceswap masks`.
// The image operations re-create OpenCV's semantics without OpenCV, on 1-channel ImageF (faceswap/augment.h
// conventions: pixel centres at integers, (x, y) = (column, row)):
//   convex_hull       cv::convexHull's vertex set (Andrew's monotone chain)
//   fill_convex_poly  cv::fillConvexPoly with integer vertices, LINE_8, shift 0: OpenCV's scan conversion (16.16
//                     fixed-point edges, spans rounded half up) plus the 8-connected outline OpenCV draws first
//   dilate_rect       cv::dilate with a rectangle of ones, anchor at the centre, default border (outside ignored)
//   gaussian_blur     cv::GaussianBlur, separable, BORDER_REFLECT_101, kernel from cv::getGaussianKernel
// eye_mask() chains them as the notebook does; masks_main() is the command.
#pragma once
#include <string>
#include <vector>

#include "faceswap/augment.h"
#include "faceswap/faceapi_landmarks.h"

namespace fs {

struct PointI {
    int x = 0, y = 0;
};

/// The convex hull of `pts`: its vertices in order around the hull, starting at the lowest-x (then lowest-y) point
/// and going through the lowest-y side first, without collinear points. Fewer than 3 distinct points: the
/// distinct points.
std::vector<Point2> convex_hull(std::vector<Point2> pts);

/// cv::fillConvexPoly(img, pts, value) (LINE_8, shift 0) on a 1-channel image: the outline drawn as 8-connected
/// lines between consecutive vertices (the last closing to the first), then every row from the top vertex to the
/// bottom one filled between the two edge chains, x rounded half up. Vertices may lie outside the image.
void fill_convex_poly(ImageF& img, const std::vector<PointI>& pts, float value);

/// cv::line(img, a, b, value, 1, LINE_8) without clipping (pixels outside the image are skipped): Bresenham from
/// the left end point (OpenCV's LineIterator, left to right), one pixel per step of the major axis.
void draw_line8(ImageF& img, PointI a, PointI b, float value);

/// cv::dilate(src, ones(kh, kw)) with the anchor at (kw/2, kh/2): each pixel becomes the maximum of the kh×kw
/// window around it; cells outside the image take no part (OpenCV's default border for dilate). Any channels.
ImageF dilate_rect(const ImageF& src, int kh, int kw);

/// cv::getGaussianKernel(n, sigma): for odd n ≤ 7 and sigma ≤ 0 OpenCV's fixed table (n = 7:
/// [2, 7, 14, 18, 14, 7, 2]/64, close to but not the sampled Gaussian with σ = 1.4); otherwise exp(−x²/2σ²) sampled at
/// x = i − (n−1)/2 with σ = sigma, or 0.3·((n−1)·0.5 − 1) + 0.8 when sigma ≤ 0; normalised to sum 1. n odd ≥ 1.
std::vector<double> gaussian_kernel(int n, double sigma);

/// cv::GaussianBlur(src, (k, k), sigma): rows then columns with gaussian_kernel(k, sigma), BORDER_REFLECT_101
/// (dcb|abcd|cba), in double and not rounded. Any channels.
ImageF gaussian_blur(const ImageF& src, int k, double sigma);

/// The eye mask of 68 landmarks (0-based iBUG order) on an h×w image, as prep_binary_masks: the convex hulls of
/// points 36–41 and 42–47 (vertices truncated toward zero, as `.astype(np.int32)`) filled with 255, dilated
/// 13×13, blurred 7×7 with σ = 0, rounded half up to integers (what OpenCV's bit-exact 8-bit GaussianBlur gives
/// with this kernel). 1 channel, values 0..255.
ImageF eye_mask(const std::vector<Point2>& landmarks, int h, int w);

/// The face box the landmark net is given inside an aligned face of side `size` (5-point template of spec §7.2):
/// see masks.cpp for how it is derived.
FaceBoxXYWH aligned_face_box(int size);

/// `faceswap masks FACESDIR OUTDIR [--models DIR]`.
int masks_main(const std::vector<std::string>& args);

}  // namespace fs
