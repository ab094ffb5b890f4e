// dataset.h: the training data of faceswap-GAN v2.2 (spec §6): a folder of aligned faces of one identity (plus an
// optional folder of eye masks with the same file names) and a BatchLoader that turns it into GanBatch'es
// (faceswap/gan.h) on background threads.
// Determinism: batch k is a pure function of (seed, k). Sample i of batch k is file perm_e[(k·B + i) mod n] with
// e = (k·B + i) div n (batches run on across epoch boundaries, like tf.data's shuffle→repeat→batch) and perm_e
// a Fisher–Yates shuffle seeded from (seed, e); its augmentation draws come from an RNG seeded from (seed, k, i).
// So the thread count and timing never change what next() returns.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "faceswap/augment.h"
#include "faceswap/gan.h"

namespace fs {

/// The images of one identity: *.jpg / *.jpeg / *.png / *.bmp (any case) directly in `dir`, sorted by file name.
/// With `mask_dir`, the eye mask of each image is the file of the same name there; an image without one gets a
/// zero mask, and the folder reports that once (one warning on stderr and in warnings()). Without `mask_dir` the
/// eye terms are off (GanBatch::eyes undefined). Throws on a missing folder or one without images.
class FaceFolder {
 public:
    FaceFolder() = default;
    explicit FaceFolder(const std::string& dir, const std::string& mask_dir = "");

    size_t size() const { return m_files.size(); }
    const std::string& dir() const { return m_dir; }
    const std::string& mask_dir() const { return m_mask_dir; }
    bool has_masks() const { return !m_mask_dir.empty(); }
    /// Full paths of the images, sorted by file name.
    const std::vector<std::string>& files() const { return m_files; }
    /// The eye mask of image i: nullopt without a mask folder, "" when the folder lacks it (zeros), else a path.
    std::optional<std::string> mask_for(size_t i) const;
    size_t missing_masks() const { return m_missing_masks; }
    /// What the constructor warned about (at most one line per folder).
    const std::vector<std::string>& warnings() const { return m_warnings; }

 private:
    std::string m_dir, m_mask_dir;
    std::vector<std::string> m_files, m_masks;  // m_masks[i] "" = missing
    size_t m_missing_masks = 0;
    std::vector<std::string> m_warnings;
};

/// The decoded faces and masks of a training run, shared by the loaders' workers: read_256() of a file (8-bit
/// BGR at 256×256, as the pipeline's step 1 makes it), kept as bytes after its first read so that each file is
/// decoded and resized once per run rather than once per sample (and once more per colour-match partner).
/// A cached read is the file's read exactly (the values are 8-bit integers either way). Bounded: once `max_bytes`
/// are held, further files are read from disk every time (nothing is evicted, so a run's cached set stays fixed).
/// Thread-safe. A file changed on disk during the run keeps its first contents.
class FaceCache {
 public:
    explicit FaceCache(size_t max_bytes) : m_max_bytes(max_bytes) {}
    /// The file at 256×256 as BGR floats with 8-bit values (0..255); throws naming the file when unreadable.
    ImageF read_256(const std::string& path);
    size_t bytes() const;
    size_t files() const;

 private:
    mutable std::mutex m_mutex;
    std::unordered_map<std::string, std::vector<uint8_t>> m_images;
    size_t m_bytes = 0, m_max_bytes;
};

/// One cache for every loader alive at once (A's and B's, each the other's colour-match partners), created at the
/// first call with `max_bytes` and freed with the last loader that holds it.
std::shared_ptr<FaceCache> shared_face_cache(size_t max_bytes);

/// A face or mask file as step 1 reads it: 256×256 BGR with 8-bit values, resized as an 8-bit cv2.resize would
/// (rounded); through `cache` when one is given.
ImageF read_256(const std::string& path, FaceCache* cache = nullptr);

/// The per-sample options of §6.
struct SampleOptions {
    int res = 64;                   ///< output resolution, a multiple of 64
    double prob_color_match = 0.5;  ///< prob_random_color_match
    bool motion_blur = false;       ///< use_da_motion_blur (applied with p = 0.25 when on)
};

/// One sample, HWC res×res: warped and target BGR in [-1, 1], eyes in [0, 1] (empty without masks).
struct TrainingSample {
    ImageF warped, target, eyes;
};

/// §6 steps 1–6 for one image. `mask`: nullopt = no eye terms, "" = zero mask, else the mask file.
/// `color_sources`: the files a colour-match partner is drawn from (A ∪ B). All draws come from `rng` (split
/// into independent colour, geometry and blur streams, so turning colour matching off keeps a seed's geometry).
/// Throws naming the file on an unreadable image or mask. Files are read through `cache` when one is given.
TrainingSample make_training_sample(const std::string& image, const std::optional<std::string>& mask,
                                    const std::vector<std::string>& color_sources, const SampleOptions& opt,
                                    std::mt19937_64& rng, FaceCache* cache = nullptr);

struct LoaderOptions {
    int res = 64;                   ///< output resolution (64, 128, 256)
    int batch = 8;                  ///< samples per batch
    uint64_t seed = 0;              ///< the sequence of batches is a function of this alone
    double prob_color_match = 0.5;  ///< see SampleOptions
    bool motion_blur = false;       ///< see SampleOptions
    int threads = 2;                ///< worker threads; 0 makes each batch in next() on the calling thread
    int prefetch = 4;               ///< batches prepared ahead (the bounded queue)
    int64_t first_batch = 0;        ///< index of the first batch next() returns (resuming a run)
    /// Decoded files (faces, masks, partners) kept in memory; null: none (every sample reads its files).
    std::shared_ptr<FaceCache> cache;
};

/// Prepares batches of `faces` ahead on background threads. Colour-match partners come from faces ∪
/// `color_sources` (the other identity, as the original's A ∪ B). Not copyable; the destructor stops and joins
/// the workers (a sample in progress finishes first, so it takes at most one sample's time).
class BatchLoader {
 public:
    BatchLoader(FaceFolder faces, FaceFolder color_sources, LoaderOptions opt = {});
    /// Colour-match partners from `faces` only.
    explicit BatchLoader(FaceFolder faces, LoaderOptions opt = {});
    ~BatchLoader();
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;

    /// The next batch: warped, target (N, 3, res, res) f32 BGR in [-1, 1]; eyes (N, 3, res, res) in [0, 1] when
    /// the faces have a mask folder, else undefined. Blocks until it is ready. An exception thrown while making
    /// it (an unreadable file, ...) is rethrown here; the loader then goes on with the following batch.
    GanBatch next();
    /// Batch `index` made on the calling thread: what next() returns as its index-th batch (from 0).
    GanBatch batch_at(int64_t index) const;
    /// The index of the batch next() returns next.
    int64_t position() const;
    /// The file sample `i` of batch `index` is made from.
    const std::string& file_of(int64_t index, int i) const;

    const FaceFolder& faces() const;
    const LoaderOptions& options() const;

 private:
    struct State;
    std::unique_ptr<State> m_state;
};

}  // namespace fs
