// convert_ops.h: the per-frame building blocks of video conversion (spec §8.2), without OpenCV: the Kalman filter
// and box smoothing, a multi-face tracker, colour correction, the feathered ROI, the face transform around the
// generator, the final composite, enhance and the output layouts.
// Conventions (faceswap/augment.h): ImageF is (h, w, c) float, colour images are BGR with 8-bit values 0..255,
// (x, y) = (column, row). Where the original stores an intermediate in a uint8 array, the same rounding
// (OpenCV: to nearest) or truncation (numpy astype / assignment: toward zero) is applied, and said so.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "faceswap/augment.h"
#include "faceswap/masks.h"
#include "faceswap/model.h"
#include "io/image.h"

namespace fs {

// --- Kalman filter (§8.2 item 4) ------------------------------------------------------------------------------

/// cv::KalmanFilter(4, 2) as the original configures it: a constant-velocity model of one 2-D point.
/// State [p, q, ṗ, q̇]; F = [[1,0,1,0],[0,1,0,1],[0,0,1,0],[0,0,0,1]]; H = [[1,0,0,0],[0,1,0,0]];
/// Q = noise_coef·I₄; R = I₂; x₀ = 0, P₀ = 0 (OpenCV's defaults). OpenCV's update rules, in double (OpenCV runs
/// float32):
///   predict():  x⁻ = F·x⁺;  P⁻ = F·P⁺·Fᵀ + Q;  then x⁺ = x⁻, P⁺ = P⁻ (OpenCV copies the prior into the
///               posterior, so a second predict() without correct() keeps extrapolating);  returns x⁻.
///   correct(z): K = P⁻·Hᵀ·(H·P⁻·Hᵀ + R)⁻¹;  x⁺ = x⁻ + K·(z − H·x⁻);  P⁺ = P⁻ − K·H·P⁻;  returns x⁺.
/// correct() always works from the last prior (x⁻, P⁻). The original calls correct(z) then predict() each frame
/// and uses the prediction as the smoothed point.
class KalmanFilter2D {
 public:
    using Vec4 = std::array<double, 4>;
    using Mat4 = std::array<double, 16>;  ///< row-major 4×4

    explicit KalmanFilter2D(double noise_coef);
    /// Returns the predicted (p, q).
    std::array<double, 2> predict();
    /// Returns the corrected (p, q).
    std::array<double, 2> correct(double p, double q);
    /// predict() n times without a measurement: inflates P so the next correct() snaps to the measurement (the
    /// original's 200 predictions on the first face).
    void warm_start(int n = 200);

    const Vec4& state_pre() const { return m_x_pre; }
    const Vec4& state_post() const { return m_x_post; }
    const Mat4& cov_pre() const { return m_p_pre; }
    const Mat4& cov_post() const { return m_p_post; }
    double noise_coef() const { return m_q; }

 private:
    double m_q;
    Vec4 m_x_pre{}, m_x_post{};
    Mat4 m_p_pre{}, m_p_post{};
};

// --- boxes, smoothing, tracking -------------------------------------------------------------------------------

/// An integer box [x0, x1) × [y0, y1) in pixels (x = column, y = row).
struct BoxI {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    int width() const { return x1 - x0; }
    int height() const { return y1 - y0; }
    bool empty() const { return x1 <= x0 || y1 <= y0; }
    bool operator==(const BoxI& o) const { return x0 == o.x0 && y0 == o.y0 && x1 == o.x1 && y1 == o.y1; }
    bool operator!=(const BoxI& o) const { return !(*this == o); }
};
/// The box clipped to [0, w) × [0, h) (possibly empty).
BoxI clamp_box(const BoxI& b, int w, int h);
/// Intersection over union of two boxes; 0 when either is empty.
double box_iou(const BoxI& a, const BoxI& b);

enum class SmoothMode {
    none,    ///< raw detections
    kalman,  ///< a KalmanFilter2D on each corner (the original's default)
    ema      ///< new = int(coef·prev + (1 − coef)·det) per coordinate
};
struct SmoothOptions {
    SmoothMode mode = SmoothMode::kalman;
    double kf_noise_coef = 3e-3;  ///< Q = coef·I₄; ×10 if the box lags, ×0.1 if it jitters (notebook advice)
    double ema_coef = 0.65;       ///< the original's bbox_moving_avg_coef
    int warm_start = 200;         ///< predictions without measurement on first sight
};

/// Smooths one face's box over time, as the original's _get_smoothed_coord. The first box is returned as
/// detected (clamped to the image) and, for Kalman, both filters get `warm_start` predictions. Later boxes:
/// Kalman: correct(corner) then predict() on (x0, y0) and (x1, y1), the predictions floored; EMA: floor(coef·prev
/// + (1 − coef)·det). Then clamped to the image; a box that collapses (x0 ≥ x1 or y0 ≥ y1) falls back to the
/// previous smoothed box. The returned box becomes the next `prev`.
class BoxSmoother {
 public:
    explicit BoxSmoother(const SmoothOptions& opt = {});
    BoxI update(const BoxI& detection, int img_w, int img_h);
    bool started() const { return m_started; }
    const BoxI& previous() const { return m_prev; }

 private:
    SmoothOptions m_opt;
    KalmanFilter2D m_kf0, m_kf1;  // the (x0, y0) and (x1, y1) corners
    BoxI m_prev;
    bool m_started = false;
};

struct TrackerOptions {
    SmoothOptions smooth;
    /// A detection continues a track when their boxes overlap by at least this IoU. At video rates a face moves
    /// a small part of its size per frame (IoU well above 0.5 frame to frame), while two people's boxes rarely
    /// overlap by a third; 0.3 also tolerates a detector that skips a few frames.
    double iou_threshold = 0.3;
    /// A track without a matching detection for more than this many consecutive frames is dropped (0.4 s at
    /// 25 fps: short detector misses keep the filter, a face that leaves and returns starts afresh).
    int max_missed = 10;
};

/// One face of the current frame: which detection, which track, the raw and the smoothed box.
struct TrackedFace {
    int detection = -1;  ///< index into update()'s detections
    int64_t track_id = -1;
    BoxI raw, box;
};

/// Follows every face separately (the original tracks one face with one filter pair; see docs/DEVIATIONS.md).
/// Each frame, detections are matched to tracks greedily by descending IoU with the track's last raw detection
/// (pairs below iou_threshold never match; ties go to the lower detection index, then the older track); each
/// match updates that track's BoxSmoother; unmatched detections start new tracks (ids count up from 0); tracks
/// unmatched for more than max_missed frames are dropped. A track's filters are not advanced in frames where it
/// has no detection, as in the original (which skips frames without a face).
class FaceTracker {
 public:
    explicit FaceTracker(const TrackerOptions& opt = {});
    /// Returns one TrackedFace per detection whose box is non-empty inside the image, in detection order.
    std::vector<TrackedFace> update(const std::vector<BoxI>& detections, int img_w, int img_h);
    size_t num_tracks() const { return m_tracks.size(); }
    void reset();

 private:
    struct Track {
        int64_t id;
        BoxI last_raw;
        int missed = 0;
        BoxSmoother smoother;
    };
    TrackerOptions m_opt;
    std::vector<Track> m_tracks;
    int64_t m_next_id = 0;
};

// --- colour correction ----------------------------------------------------------------------------------------

enum class ColorCorrection { none, adain, adain_xyz, hist_match };
/// "none", "adain", "adain_xyz", "hist_match" (the original's names); anything else throws (the original
/// silently treats unknown names as none).
ColorCorrection parse_color_correction(const std::string& name);
const char* color_correction_name(ColorCorrection c);

/// Per-channel mean/std transfer over the whole images: st·(x − ms)/(ss + 1e-7) + mt, clipped to [0, 255];
/// statistics are population (numpy) and accumulated in double. When every channel of `src` is flat it comes
/// back unchanged (the original's `ss.any() <= eps` test); a single flat channel becomes the target mean.
ImageF adain(const ImageF& src, const ImageF& tar);
/// adain in CIE XYZ: both images converted with augment.h's bgr_to_xyz, adain, back with xyz_to_bgr, clamped.
ImageF adain_xyz(const ImageF& src, const ImageF& tar);
/// Exact histogram specification per channel, as the original's numpy code: the source's distinct values get
/// their cumulative quantiles (count up to and including the value / total), mapped through the target's
/// quantile → value curve by linear interpolation (np.interp: constant beyond the ends); clipped to [0, 255].
ImageF hist_match(const ImageF& src, const ImageF& tar);
/// Dispatches on the mode (none returns `src`). Both images 3-channel.
ImageF color_correct(const ImageF& src, const ImageF& tar, ColorCorrection mode);

// --- ROI, feathering, blurring --------------------------------------------------------------------------------

/// The margin int(size·(1 − coverage)) of the ROI (Python's int() of the double product; note 40·(1 − 0.9) is
/// 3.999…, so 3). Throws when coverage is outside (0, 1).
int roi_margin(int size, double coverage);
/// The ROI of an h×w crop: [mx, w − mx) × [my, h − my). Throws when a margin is 0 (the original's error: the
/// face is too small for that coverage) or the ROI would be empty.
BoxI roi_box(int h, int w, double coverage);
/// A copy of `img` inside box `b` (which must lie inside the image).
ImageF crop_image(const ImageF& img, const BoxI& b);
/// Writes `patch` (b's size, same channels) into `img` at b.
void paste_image(ImageF& img, const BoxI& b, const ImageF& patch);
/// gaussian_kernel / gaussian_blur (cv::getGaussianKernel / cv::GaussianBlur) come from faceswap/masks.h.
/// The feather mask of an h×w ROI: zeros, the inner rectangle (margins int(size·(1 − coverage))) 255,
/// GaussianBlur 15×15 σ 10, stored as 8-bit (rounded) like the original's uint8 mask. 1 channel. Throws when a
/// margin is 0.
ImageF feather_mask(int h, int w, double coverage);

// --- the face transform (FaceTransformer.transform) ------------------------------------------------------------

/// Runs the generator: input (N, 3, RES, RES) BGR in [-1, 1]; returns α (N, 1, RES, RES) in [0, 1] and bgr
/// (N, 3, RES, RES) in [-1, 1] (aux ignored), like Decoder::forward after the encoder.
using GeneratorFn = std::function<DecoderOut(const Tensor& x)>;
/// The generator of a model in one direction: A→B runs decoder B on faces of A (the original's path_abgr_B),
/// B→A decoder A. Runs without gradients. The model must outlive the function.
GeneratorFn model_generator(const FaceSwapModel& model, bool a_to_b);

struct FaceTransformOptions {
    double roi_coverage = 0.9;  ///< (0, 1): the ROI keeps the central (2c − 1) of the crop
    ColorCorrection color = ColorCorrection::hist_match;
    int res = 64;  ///< the model's input size
};

/// The three outputs of §8.2 step 5, all the crop's size.
struct FaceTransformResult {
    ImageF blended;  ///< crop with the ROI replaced by f·masked + (1 − f)·ROI (f the feather mask / 255), BGR
    ImageF raw;      ///< crop with the ROI replaced by the colour-corrected raw generator bgr
    ImageF alpha;    ///< 1 channel 0..255: f·α inside the ROI, 0 outside
};

/// face_transform's first half, before the generator: the ROI of the aligned crop and its RES×RES model input
/// (the split lets a converter run the generator once over a batch of faces).
struct FaceInput {
    BoxI roi;        ///< in the aligned crop
    ImageF roi_img;  ///< the crop's ROI, BGR 0..255
    ImageF small;    ///< the ROI resized to RES×RES (bilinear), stored 8-bit, BGR
};
FaceInput face_transform_input(const ImageF& aligned_crop, const FaceTransformOptions& o);
/// Writes the input as face i of the batch x (N, 3, RES, RES) f32 contiguous: BGR mapped to [-1, 1] (x/255·2 − 1).
void face_input_to_tensor(const FaceInput& in, Tensor& x, int64_t i);
/// face_transform's second half: face i of the generator's batch output (α (N,1,RES,RES), bgr (N,3,RES,RES)).
FaceTransformResult face_transform_output(const ImageF& aligned_crop, const FaceInput& in, const DecoderOut& out,
                                          int64_t i, const FaceTransformOptions& o);

/// The face transform on an aligned crop (BGR 0..255, 3 channels, h, w ≥ a few pixels): ROI; the ROI resized to
/// RES (bilinear, stored 8-bit) and mapped to [-1, 1]; the generator; α·255 and clip((bgr + 1)·127.5) resized
/// back to the ROI (bilinear, float); masked = α·bgr + (1 − α)·ROI (truncated to 8 bits); colour correction of
/// masked and of bgr against the ROI; the feather mask f; the three outputs, each stored 8-bit by truncation as
/// the original's uint8 assignments.
FaceTransformResult face_transform(const ImageF& aligned_crop, const GeneratorFn& gen, const FaceTransformOptions& o);

/// §8.2 step 6's composite: (α/255)·raw + (1 − α/255)·original, per pixel (α 1-channel, the others 3-channel, all
/// the same size). Float; no rounding.
ImageF composite_alpha(const ImageF& raw, const ImageF& alpha, const ImageF& original);

/// One face, steps 5–6 around a given alignment: the crop (the smoothed box cut from the frame, BGR) is warped
/// by `to_aligned` (crop → template similarity, §7.2) to its own size (bilinear, BORDER_REPLICATE, stored 8-bit),
/// transformed, and `raw` and `alpha` are warped back by `from_aligned` (the original fits this second
/// similarity with the point sets swapped, rather than inverting) and composited over the crop.
struct SwappedFace {
    ImageF result;  ///< the crop's size, BGR float 0..255
    ImageF alpha;   ///< the crop's size, 1 channel 0..255
};
SwappedFace swap_face(const ImageF& crop, const Affine& to_aligned, const Affine& from_aligned, const GeneratorFn& gen,
                      const FaceTransformOptions& o);
/// swap_face in two halves around a batched generator: the aligned crop and its model input, then the rest for
/// face i of the generator's output. swap_face(c, t, f, gen, o) is exactly these two around gen of a batch of 1.
struct SwapInput {
    ImageF aligned;  ///< the crop warped by to_aligned, stored 8-bit
    FaceInput face;
};
SwapInput swap_face_input(const ImageF& crop, const Affine& to_aligned, const FaceTransformOptions& o);
SwappedFace swap_face_output(const ImageF& crop, const SwapInput& in, const Affine& from_aligned, const DecoderOut& out,
                             int64_t i, const FaceTransformOptions& o);

/// §7.2's alignment fitted in an arbitrary crop box, as the converter does it in the SMOOTHED box (align_face
/// fits in the detection's own square): the five landmarks (frame pixels) relative to the box's origin and the
/// template scaled to the box's width and height, both truncated to integers; Umeyama with scale from the crop to
/// the template (`to_aligned`) and, as the original, a second fit from the template to the crop (`from_aligned`)
/// rather than an inversion. Both map crop pixels at the crop's own size. Throws when the box is empty or the
/// fit is degenerate.
struct CropAlignment {
    Affine to_aligned{}, from_aligned{};
};
CropAlignment crop_alignment(const std::array<Point2, 5>& points, const BoxI& box);

// --- the output frame -----------------------------------------------------------------------------------------

/// 1: the result; 2: [input ‖ result]; 3: [input ‖ result ‖ mask heat-map].
enum class OutputLayout { result = 1, side_by_side = 2, with_mask = 3 };
/// The output width for an input of width w.
int layout_width(OutputLayout layout, int w);

/// The 'hot' colour map (black → red → yellow → white): r = clip(3v), g = clip(3v − 1), b = clip(3v − 2) for
/// v in [0, 1]; returns (b, g, r) in [0, 1]. 0 is black and 1 white, so the panel reads like the original's grey
/// α at the two ends.
std::array<float, 3> hot_colormap(float v);

/// Assembles one output frame from the input and the converted faces. Starts as [input ‖ input] with an
/// all-zero mask; add_face() writes a face's result into the result panel at its box and adds its α into the
/// mask (clipped to 255); render() applies enhance, then the layout.
class FrameComposer {
 public:
    explicit FrameComposer(const ImageF& input_bgr);
    /// result: the box's size, 3 channels; alpha: the box's size, 1 channel. The box must lie inside the frame.
    void add_face(const BoxI& box, const ImageF& result, const ImageF& alpha);
    /// enhance e: result = clip((1 + e)·result − e·input, 0, 255), changing only pixels that differ from the input
    /// (applied once per frame). The mask panel (layout 3) is clip(255·hot(mask/255) + 0.15·input). The output
    /// is an RGB Image (rounded), layout_width(layout, w) wide.
    Image render(OutputLayout layout, double enhance = 0.0) const;
    const ImageF& result() const { return m_result; }
    const ImageF& mask() const { return m_mask; }

 private:
    ImageF m_input, m_result, m_mask;
};

}  // namespace fs
