// eval.h: `faceswap eval`, the project's swap-quality number: how much converted faces look like the target
// identity rather than the source, by the face-api.js recognition ResNet (faceswap/faceapi_recognition.h).
// Every face's 128-D descriptor is compared by cosine similarity with the mean descriptor of the target's
// reference faces and with that of the source's; a frame counts as "closer to the target" when its cosine to
// the target mean is the larger.
#pragma once
#include <string>
#include <vector>

#include "faceswap/faceapi_recognition.h"

namespace fs {

struct EvalFrame {
    std::string name;                    ///< file name within the converted folder
    double cos_target = 0, cos_source = 0;    ///< cosine similarity to each identity's mean descriptor
    double dist_target = 0, dist_source = 0;  ///< Euclidean distance to each mean (face-api's 0.6 threshold scale)
};

struct EvalReport {
    std::vector<EvalFrame> frames;  ///< in file-name order
    size_t n_target = 0, n_source = 0;  ///< reference faces used
    std::vector<std::string> skipped;   ///< unreadable files ("path: reason"), in every folder
    double mean_cos_target = 0, mean_cos_source = 0;
    double fraction_closer_to_target = 0;
};

/// The image files (png, jpg, jpeg, bmp; case-insensitive) directly inside `dir`, sorted; throws when `dir` is
/// not a folder.
std::vector<std::string> list_face_images(const std::string& dir);

/// An aligned face image file as the net's input (1, 3, 150, 150) RGB 0..255: a non-square image is first
/// zero-padded to a square, centred (as face-api.js does), then resized to 150×150 (TF1 bilinear).
Tensor load_face_for_recognition(const std::string& path);

/// Descriptors (N, 128) of the given files, in batches; unreadable files are skipped and appended to *skipped.
/// `names` receives the files that were used.
Tensor face_descriptors(const FaceRecognitionNet& net, const std::vector<std::string>& files,
                        std::vector<std::string>* used, std::vector<std::string>* skipped);

/// Runs the comparison on three folders of aligned faces.
EvalReport evaluate_identity(const FaceRecognitionNet& net, const std::string& converted_dir,
                             const std::string& target_dir, const std::string& source_dir);

/// Writes the per-frame table (tab-separated, one header line) atomically.
void write_eval_tsv(const std::string& path, const EvalReport& r);

/// The CLI entry point: `faceswap eval CONVERTED TARGET SOURCE [--tsv FILE] [--models DIR] [--quiet]`.
int eval_main(const std::vector<std::string>& args);

}  // namespace fs
