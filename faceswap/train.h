// train.h: `faceswap train`: the training loop around GanTrainer with what users of a face-swap trainer expect:
// a progress bar (iterations/s, ETA, loss terms), previews, a loss CSV and loss-curve PNG, atomic checkpoints
// and backups, Ctrl-C that saves and exits cleanly, exact --resume, and a clear stop on a NaN/Inf loss.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "faceswap/gan.h"
#include "faceswap/perceptual.h"

namespace fs {

/// Where batches come from: the data pipeline for real faces, or procedural faces.
class BatchSource {
 public:
    virtual ~BatchSource() = default;
    /// The batch with this index (a pure function of the index and the source's seed, so resuming is exact).
    virtual GanBatch batch(int64_t index) = 0;
};

struct TrainConfig {
    std::string a_dir, b_dir, a_masks, b_masks;  ///< face folders (and optional eye-mask folders)
    bool synthetic = false;                      ///< train on the built-in procedural faces instead
    std::string model_dir = "model";
    ModelConfig model;
    int batch = 8;
    int64_t iters = 40000;
    std::string schedule = "faithful";
    int64_t save_every = 300, backup_every = 5000, preview_every = 300;
    uint64_t seed = 1;
    bool keep_optimizer_state = false;
    int threads = 0;  ///< data-loading threads (0: automatic)
    int64_t cache_mb = 1024;  ///< decoded faces kept in memory (FaceCache; 0: none)
    int64_t stop_after = 0;  ///< end this session after N iterations, saving (0: run to iters); not saved
    /// The perceptual loss in the schedule's PL phases: auto (on when the face-api model is found, else a
    /// warning), on (a missing model is an error) or off.
    PerceptualMode perceptual = PerceptualMode::automatic;
    /// The GAN (discriminator steps and adversarial term); off only for short runs (GanOptions::adversarial).
    bool adversarial = true;
};

/// Reads "key = value" lines (the format train.cfg is saved in) into cfg; unknown keys are errors.
void load_train_config(const std::string& path, TrainConfig& cfg);
void save_train_config(const std::string& path, const TrainConfig& cfg);

/// Procedural faces (faceswap/synthetic.h) as training batches: identity A or B, warped by a small random pose
/// perturbation, deterministic per batch index.
std::unique_ptr<BatchSource> make_synthetic_source(bool identity_b, int res, int batch, uint64_t seed);

/// The face folders of cfg (a_dir/b_dir with optional masks) through the data pipeline, as a BatchSource for
/// identity A or B (the other identity provides the colour-match partners).
std::unique_ptr<BatchSource> make_folder_source(const TrainConfig& cfg, bool identity_b);

/// The preview grid: for A and B, rows of samples with columns warped input, target, reconstruction, swap,
/// mask heat-map; (3, H, W) BGR in [-1, 1].
Tensor render_preview(GanTrainer& t, const GanBatch& a, const GanBatch& b, int max_rows = 4);

/// Raised by a SIGINT/SIGTERM handler installed by train_main; the loop saves and exits when it sees it.
std::atomic<bool>& stop_requested();

/// Runs training with cfg, resuming from cfg.model_dir when `resume`. Returns the process exit code.
int run_training(const TrainConfig& cfg, bool resume, BatchSource& a, BatchSource& b);

/// The CLI entry point.
int train_main(const std::vector<std::string>& args);

}  // namespace fs
