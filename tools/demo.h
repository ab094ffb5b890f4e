// demo.h: `faceswap demo`, the main job out of the box, and its building blocks.
// Synthetic (default): draws two procedural identities (faceswap/synthetic.h) as folders of aligned faces, trains
// the lite 64 model on them with the normal trainer (faceswap/train.h), swaps held-out A faces to B and scores the
// swap with PSNR and SSIM (faceswap/metrics.h) against B drawn in the same frame, next to the unswapped input.
// With --data DIR: two real people's videos or folders, extracted (tools/extract.h), trained on and swapped;
// scored by identity (faceswap/eval.h) when the face-api model is available.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "faceswap/augment.h"
#include "faceswap/metrics.h"
#include "faceswap/model.h"
#include "faceswap/synthetic.h"

namespace fs {

/// The half-width, in pixels of a 256×256 aligned face, of the region the trainer's targets show: the random
/// warp's grid spans 128 ± (78 + randint(20)), so 87.5 is the middle of that range (spec §6 step 5).
constexpr double k_demo_crop_half_width = 87.5;

/// The face as the model sees it: the central 2·87.5 px of a 256×256 aligned face (BGR 0..255) resampled to
/// res×res with the warp's target sampler (bilinear, the grid's corners at pixel centres 0 and res), rounded
/// to 8-bit values like a stored image.
ImageF demo_model_crop(const ImageF& aligned256, int res);

/// A procedural face as an aligned face: identity `id` in frame `f`, 256×256, BGR 0..255 rounded to 8 bits.
ImageF demo_render_aligned(const FaceIdentity& id, const FrameParams& f);

/// Frame k of n of the demo video: pose, expression, gaze, blinks and light varying smoothly (periodic in n).
FrameParams demo_video_frame(int k, int n, uint64_t seed);

/// One A→B swap in model space: input (A's crop), the masked swap α·bgr + (1 − α)·input (what conversion
/// pastes), the raw decoder output, and the ground truth (B's crop of the same frame); all res×res BGR 0..255.
struct DemoSwap {
    ImageF input, swap, raw, truth;
    ImageF alpha;  ///< the decoder's mask, res×res×1 in [0, 1]
};
/// Runs decoder B on model-space crops of A's faces (batched): DemoSwaps without a truth.
std::vector<DemoSwap> demo_swap_crops(const FaceSwapModel& model, std::vector<ImageF> crops);
/// Renders A and B in each frame, runs decoder B on A's crops: one DemoSwap per frame, with its truth.
std::vector<DemoSwap> demo_swap_frames(const FaceSwapModel& model, const std::vector<FrameParams>& frames);

/// The mean scores of a set of swaps against their ground truth.
struct DemoScores {
    QualityMeans swap, raw, baseline;  ///< masked swap, raw output, the unswapped input ("did nothing")
};
DemoScores score_swaps(const std::vector<DemoSwap>& swaps);

/// The mean mask over the pixels where A and B look alike in the frame (input == truth: background, mostly) and
/// over the rest (the person), for a report of what the mask learned.
struct MaskMeans {
    double same = 0, differs = 0;
};
MaskMeans mask_means(const std::vector<DemoSwap>& swaps);

/// Runs the demo subcommand with its arguments (after "demo"); returns the process exit code.
int demo_main(const std::vector<std::string>& args);

}  // namespace fs
