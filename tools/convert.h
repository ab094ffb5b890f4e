// convert.h: `faceswap convert MODEL INPUT OUTPUT`: swaps every face of a video or a folder of frames with a
// trained model (spec §8): MTCNN detection, per-face tracking and box smoothing, 5-point alignment in the smoothed
// box, the generator, colour correction, the feathered ROI, the reverse warp and α compositing (convert_ops.h).
//
// OUTPUT is a video when its extension is .mp4/.m4v/.mov (MPEG-4 part 2) or .avi (Motion-JPEG), else a folder of
// PNG images named after the input frames (<frame>.png). The output keeps the input's height and fps; its width is
// the input's times 1, 2 or 3 (output layouts 1, 2, 3). It is written under a temporary name and renamed into
// place only when complete. The audio of a video input is copied with ffmpeg when ffmpeg is installed. Frames
// without a face are written as decoded (bit for bit in a PNG folder; a video output re-encodes every frame).
//
// Between detections (--detect-every N > 1) nothing is predicted: each frame reuses the previous detection
// frame's smoothed boxes and landmarks as they are (a hold), and the trackers advance only on detection frames
// (so a face without a matching detection for more than 10 detection frames, 10·N frames, loses its track).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "faceswap/align.h"
#include "faceswap/convert_ops.h"

namespace fs {

struct ConvertOptions {
    ConvertOptions();
    std::string input, output;
    int detect_every = 1;       ///< run MTCNN on every Nth frame; the frames between reuse its faces (see above)
    DetectOptions detect;       ///< min_face_area 35·35 (the conversion notebook), O-Net threshold 0.7
    SmoothOptions smooth;       ///< Kalman, kf_noise_coef 3e-3
    FaceTransformOptions face;  ///< roi_coverage 0.9, hist_match; `res` is set from the generator
    double enhance = 0.0;
    OutputLayout layout = OutputLayout::result;
    double start_s = 0.0;     ///< first frame: round(start_s · fps)
    double end_s = -1.0;      ///< frames before round(end_s · fps); < 0: to the end
    int64_t max_frames = -1;  ///< at most this many frames after start (-1: all)
    int threads = 0;          ///< CPU threads (0: FS_NUM_THREADS or the number of cores)
    /// Frames processed together: their detections run in parallel and their faces go through the generator as
    /// one batch (up to 16 faces per call), which amortises the generator's weight reads.
    int batch = 8;
    bool copy_audio = true;
    bool quiet = false;  ///< no progress line and no warnings on stderr (tests)
};

/// One face in one output frame, as the tracker left it.
struct TrackRecord {
    int64_t frame = 0;     ///< output frame index (0 = the first converted frame)
    int64_t track = -1;    ///< the FaceTracker's id
    bool detected = true;  ///< false on the frames between detections (boxes held)
    BoxI raw, box;         ///< the detection's square box and the smoothed box the face was cut from
};

struct ConvertStats {
    int64_t frames = 0;            ///< frames written
    int64_t frames_with_face = 0;  ///< frames where at least one face was converted
    int64_t faces = 0;             ///< faces converted
    int64_t faces_skipped = 0;     ///< tracked faces left unconverted (box too small for the ROI, degenerate fit)
    int64_t detections = 0;        ///< frames MTCNN ran on
    int64_t unreadable = 0;        ///< folder images that could not be decoded (skipped)
    int width = 0, height = 0;     ///< the input frame size
    int out_width = 0;             ///< the output frame width (layout)
    double fps = 0;                ///< the output's frame rate (the input's)
    bool video_output = false;
    bool audio_copied = false;
    std::string audio_note;  ///< why the audio was not copied (empty when it was, or when there is none to copy)
    std::vector<TrackRecord> tracks;
    double seconds = 0;  ///< wall time of the whole run, opening to rename
    /// Wall time per stage, summed over the batches (decoding and writing overlap these on their own threads).
    double detect_s = 0, prepare_s = 0, generator_s = 0, blend_s = 0;
    double rate() const { return seconds > 0 ? double(frames) / seconds : 0.0; }
};

/// True when `path` names a video the converter writes (.mp4, .m4v, .mov, .avi; any case). Throws for a video
/// extension it cannot write (.mkv, .webm, ...); anything else is a folder of images.
bool convert_output_is_video(const std::string& path);

/// Runs the conversion with `gen` (a generator of input size `res`). Throws on unusable input, an unwritable
/// output or an empty frame range; the output is then left untouched.
ConvertStats run_convert(const ConvertOptions& opt, const Mtcnn& mtcnn, const GeneratorFn& gen, int res);

/// The CLI entry point (parses options, loads the model and the MTCNN weights, prints a summary).
int convert_main(const std::vector<std::string>& args);

}  // namespace fs
