// train_data.cpp: face folders as a BatchSource, on the data pipeline's BatchLoader (faceswap/dataset.h).
// The loader is created at the first request, starting at that batch index, so a resumed run continues the same
// batch sequence; in-order requests come from its background threads, anything else is made on demand.
#include <cstdio>

#include "faceswap/dataset.h"
#include "faceswap/train.h"

namespace fs {

namespace {
class FolderSource : public BatchSource {
 public:
    FolderSource(FaceFolder faces, FaceFolder partners, LoaderOptions opt)
        : m_faces(std::move(faces)), m_partners(std::move(partners)), m_opt(opt) {}
    GanBatch batch(int64_t index) override {
        if (!m_loader) {
            LoaderOptions o = m_opt;
            o.first_batch = index;
            m_loader = std::make_unique<BatchLoader>(m_faces, m_partners, o);
        }
        if (index == m_loader->position()) return m_loader->next();
        return m_loader->batch_at(index);
    }

 private:
    FaceFolder m_faces, m_partners;
    LoaderOptions m_opt;
    std::unique_ptr<BatchLoader> m_loader;
};
}  // namespace

std::unique_ptr<BatchSource> make_folder_source(const TrainConfig& cfg, bool identity_b) {
    FaceFolder a(cfg.a_dir, cfg.a_masks), b(cfg.b_dir, cfg.b_masks);
    LoaderOptions o;
    o.res = cfg.model.res;
    o.batch = cfg.batch;
    // Different streams for A and B from the one seed.
    o.seed = cfg.seed * 2 + (identity_b ? 1 : 0);
    o.threads = cfg.threads > 0 ? cfg.threads : 2;
    if (cfg.cache_mb > 0) o.cache = shared_face_cache(size_t(cfg.cache_mb) << 20);  // A's and B's loaders share it
    std::printf("train: %s: %zu faces in %s%s\n", identity_b ? "B" : "A", (identity_b ? b : a).size(),
                (identity_b ? b : a).dir().c_str(), (identity_b ? b : a).has_masks() ? " (with eye masks)" : "");
    return identity_b ? std::make_unique<FolderSource>(b, a, o) : std::make_unique<FolderSource>(a, b, o);
}

}  // namespace fs
