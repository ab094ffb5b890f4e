// align.h: faceswap-GAN v2.2's face pre-processing (spec §7): the squared detection box, the 5-point similarity
// alignment onto a fixed template (Umeyama), its inverse for pasting faces back, and the rough eye masks drawn
// from the MTCNN eye points.
//
// Coordinates are 0-based pixel coordinates (x = column, y = row), as FaceDetection. An Alignment maps the FRAME
// straight to the aligned face of side `size` (crop offset, similarity and final resize composed into one
// affine), so the face is resampled once and pixels outside the square crop come from the frame itself rather
// than from the original's BORDER_REPLICATE of the crop (docs/DEVIATIONS.md).
#pragma once
#include <array>
#include <vector>

#include "faceswap/augment.h"
#include "faceswap/mtcnn.h"

namespace fs {

/// The square crop of §7.1: side L = (int(w) + int(h)) / 2 about the integer box centre, [centre − L//2,
/// centre + L//2) on each axis, clipped to the image. Ends are exclusive.
struct SquareBox {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    int width() const { return x1 - x0; }
    int height() const { return y1 - y0; }
    long long area() const { return (long long)width() * height(); }
};
SquareBox square_box(const FaceDetection& d, int img_w, int img_h);

/// The 5-point template of §7.2 as fractions of the crop, (x = column, y = row): left eye, right eye, nose,
/// left and right mouth corner.
extern const std::array<Point2, 5> k_face_template;

struct Alignment {
    SquareBox box;        ///< the square crop the alignment was fitted in
    int size = 256;       ///< side of the aligned face
    Affine to_face{};     ///< frame (x, y) -> aligned face (x, y)
    Affine to_frame{};    ///< aligned face -> frame: the original's second Umeyama fit (template -> points)
};

/// Fits the alignment of §7.2 for one detection: landmarks relative to the square crop and the template scaled
/// to the crop's side, both truncated to integers as the original does; Umeyama with scale; then scaled from the
/// crop's side to `size`. Throws when the crop is empty or the fit is degenerate.
Alignment align_face(const FaceDetection& d, int img_w, int img_h, int size = 256);

/// The aligned face: warp_affine of the frame by `a.to_face`, bilinear, BORDER_REPLICATE (any channel count).
ImageF warp_to_face(const ImageF& frame, const Alignment& a);
/// The square crop of the frame (the "raw" face).
ImageF crop_box(const ImageF& frame, const SquareBox& b);

/// §7.3's crude eye mask, in the aligned face's frame (size × size, one channel, 0..255): rectangles of
/// rows eye_y ± h/15 and columns eye_x ± w/8 about each MTCNN eye point in the square crop (h, w its sides,
/// ends truncated to integers), warped like the face (bilinear, so the edges are soft, as in the original).
ImageF eye_mask(const FaceDetection& d, const Alignment& a);

/// An 8-bit image as float, channel order kept (grey stays 1 channel).
ImageF to_float_image(const Image& img);
/// Float -> 8-bit, channel order kept, rounded (ties to even) and clamped to 0..255.
Image to_u8_image(const ImageF& img);

// --- detection as the tools run it ------------------------------------------------------------------------------

struct DetectOptions {
    MtcnnOptions mtcnn;
    /// §7.1's auto-downscale: frames of ≥ 1920·1080 pixels are detected at 1/4 size, ≥ 1280·720 at 1/3,
    /// ≥ 858·480 at 1/2 (bilinear), and the boxes and points scaled back.
    bool auto_downscale = false;
    /// Faces whose square crop (square_box) covers fewer pixels are dropped (§7.1: 25·25 for extraction,
    /// 35·35 for conversion), measured in the full frame (the original measures it before scaling back).
    int min_face_area = 25 * 25;
};
/// The downscale factor auto_downscale uses for a w×h frame (1, 2, 3 or 4).
int auto_downscale_factor(int w, int h);
/// MTCNN on an RGB frame with the options above; best score first.
std::vector<FaceDetection> detect_faces(const Mtcnn& mtcnn, const Image& rgb, const DetectOptions& opt);

}  // namespace fs
