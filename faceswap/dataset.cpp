// dataset.cpp: face folders, the per-sample pipeline of spec §6, and the threaded, deterministic batch loader.
#include "faceswap/dataset.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

namespace fs {

namespace {
namespace stdfs = std::filesystem;

bool is_image_name(const stdfs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

// Salts that keep the seeds of different uses of one loader seed apart.
constexpr uint64_t k_salt_shuffle = 0x53485546464c45ull;  // "SHUFFLE"
constexpr uint64_t k_salt_sample = 0x53414d504c45ull;     // "SAMPLE"
}  // namespace

ImageF read_256(const std::string& path, FaceCache* cache) {
    if (cache) return cache->read_256(path);
    ImageF img = resize_bilinear(image_to_bgr_f(read_image(path, 3)), 256, 256);
    quantize_u8(img);
    return img;
}

// --- FaceCache ----------------------------------------------------------------------------------------------------

ImageF FaceCache::read_256(const std::string& path) {
    constexpr size_t k_size = 256 * 256 * 3;
    {
        std::lock_guard<std::mutex> lk(m_mutex);
        auto it = m_images.find(path);
        if (it != m_images.end()) {
            ImageF img(256, 256, 3);
            std::copy(it->second.begin(), it->second.end(), img.px.begin());
            return img;
        }
    }
    // Outside the lock: the workers decode different files at once (two that decode the same one store it once).
    ImageF img = fs::read_256(path);
    {
        std::lock_guard<std::mutex> lk(m_mutex);
        if (m_bytes + k_size > m_max_bytes) return img;  // full: no copy to make
    }
    std::vector<uint8_t> bytes(k_size);
    for (size_t i = 0; i < k_size; ++i) bytes[i] = uint8_t(img.px[i]);  // integers 0..255 (quantize_u8): exact
    std::lock_guard<std::mutex> lk(m_mutex);
    if (m_bytes + k_size <= m_max_bytes && m_images.emplace(path, std::move(bytes)).second) m_bytes += k_size;
    return img;
}

size_t FaceCache::bytes() const {
    std::lock_guard<std::mutex> lk(m_mutex);
    return m_bytes;
}

size_t FaceCache::files() const {
    std::lock_guard<std::mutex> lk(m_mutex);
    return m_images.size();
}

std::shared_ptr<FaceCache> shared_face_cache(size_t max_bytes) {
    static std::mutex mutex;
    static std::weak_ptr<FaceCache> current;
    std::lock_guard<std::mutex> lk(mutex);
    std::shared_ptr<FaceCache> c = current.lock();
    if (!c) {
        c = std::make_shared<FaceCache>(max_bytes);
        current = c;
    }
    return c;
}

// --- FaceFolder -------------------------------------------------------------------------------------------------

FaceFolder::FaceFolder(const std::string& dir, const std::string& mask_dir) : m_dir(dir), m_mask_dir(mask_dir) {
    std::error_code ec;
    FS_CHECK(stdfs::is_directory(dir, ec), "FaceFolder: no such folder: ", dir);
    std::vector<stdfs::path> found;
    for (const auto& e : stdfs::directory_iterator(dir, ec))
        if (e.is_regular_file(ec) && is_image_name(e.path())) found.push_back(e.path());
    FS_CHECK(!ec, "FaceFolder: cannot list ", dir, ": ", ec.message());
    FS_CHECK(!found.empty(), "FaceFolder: no images (.jpg/.jpeg/.png/.bmp) in ", dir);
    std::sort(found.begin(), found.end(),
              [](const stdfs::path& a, const stdfs::path& b) { return a.filename().string() < b.filename().string(); });
    for (const auto& p : found) m_files.push_back(p.string());
    if (mask_dir.empty()) return;
    FS_CHECK(stdfs::is_directory(mask_dir, ec), "FaceFolder: no such eye-mask folder: ", mask_dir,
             " (leave the mask folder out to train without the eye terms)");
    std::string first_missing;
    for (const auto& p : found) {
        stdfs::path m = stdfs::path(mask_dir) / p.filename();
        if (stdfs::is_regular_file(m, ec)) {
            m_masks.push_back(m.string());
        } else {
            m_masks.emplace_back();
            if (m_missing_masks++ == 0) first_missing = p.filename().string();
        }
    }
    if (m_missing_masks > 0) {
        std::string w = "warning: " + std::to_string(m_missing_masks) + " of " + std::to_string(m_files.size()) +
                        " faces in " + dir + " have no eye mask in " + mask_dir + " (first: " + first_missing +
                        "); they get an all-zero mask";
        m_warnings.push_back(w);
        std::fprintf(stderr, "%s\n", w.c_str());
    }
}

std::optional<std::string> FaceFolder::mask_for(size_t i) const {
    FS_CHECK(i < m_files.size(), "FaceFolder::mask_for: index ", i, " of ", m_files.size());
    if (!has_masks()) return std::nullopt;
    return m_masks[i];
}

// --- one sample -------------------------------------------------------------------------------------------------

TrainingSample make_training_sample(const std::string& image, const std::optional<std::string>& mask,
                                    const std::vector<std::string>& color_sources, const SampleOptions& opt,
                                    std::mt19937_64& rng, FaceCache* cache) {
    FS_CHECK(opt.res >= 64 && opt.res % 64 == 0, "training sample: res must be a multiple of 64, got ", opt.res);
    FS_CHECK(opt.prob_color_match >= 0 && opt.prob_color_match <= 1, "training sample: prob_color_match ",
             opt.prob_color_match, " is not a probability");
    std::mt19937_64 rng_color(rng()), rng_geom(rng()), rng_blur(rng());

    // Steps 1–3: the image at 256×256 (8-bit values), the random colour match, then [-1, 1].
    ImageF face = read_256(image, cache);
    if (opt.prob_color_match > 0 && rand_uniform(rng_color) <= opt.prob_color_match) {
        FS_CHECK(!color_sources.empty(), "training sample: colour matching needs at least one source image");
        const std::string& partner = color_sources[size_t(rand_int(rng_color, int64_t(color_sources.size())))];
        bool xyz = rand_uniform(rng_color) < 0.5;
        double u = rand_uniform(rng_color);
        face = color_transfer(face, read_256(partner, cache), xyz, u);
    }
    // With a mask, 256×256×6 (face, then mask in [0, 1]; a missing mask is zeros): every geometric step moves
    // face and mask together.
    ImageF eyes;
    if (mask && !mask->empty()) eyes = read_256(*mask, cache);
    const int C = mask ? 6 : 3;
    ImageF img(256, 256, C);
    for (size_t p = 0; p < size_t(256 * 256); ++p) {
        float* o = &img.px[p * size_t(C)];
        for (size_t ch = 0; ch < 3; ++ch) o[ch] = face.px[p * 3 + ch] / 255.f * 2.f - 1.f;
        if (!eyes.empty())
            for (size_t ch = 0; ch < 3; ++ch) o[3 + ch] = eyes.px[p * 3 + ch] / 255.f;
    }

    // Steps 4–5 (the draws in the original's order: the transform's, then the warp's). The transform is computed
    // only where the warp reads it.
    const TransformParams tp = draw_transform(rng_geom, img.w);
    const WarpParams warp = draw_warp(rng_geom, opt.res);
    img = apply_transform(img, tp, warp_footprint(warp));
    WarpPair wp = apply_warp(img, warp, 3);
    TrainingSample s;
    s.warped = std::move(wp.warped);
    s.target = slice_channels(wp.target, 0, 3);
    if (mask) s.eyes = slice_channels(wp.target, 3, 6);

    // Step 6: one kernel for both images; the mask is not blurred.
    if (opt.motion_blur && rand_uniform(rng_blur) < 0.25) {
        ImageF k = random_motion_blur_kernel(rng_blur);
        s.warped = filter2d(s.warped, k);
        s.target = filter2d(s.target, k);
    }
    return s;
}

// --- BatchLoader ------------------------------------------------------------------------------------------------

struct BatchLoader::State {
    FaceFolder faces;
    std::vector<std::string> sources;  // colour-match partners: faces ∪ the other folder
    LoaderOptions opt;

    // Epoch permutations, computed on demand (a few are cached: batches straddle epoch boundaries).
    mutable std::mutex perm_mutex;
    mutable std::map<int64_t, std::vector<uint32_t>> perms;

    // The bounded queue: prefetch slots; batch k lives in slot k % prefetch until next() takes it.
    struct Slot {
        int64_t index = -1;
        int done = 0;  // samples finished (successfully or not)
        GanBatch batch;
        std::exception_ptr error;
        int error_sample = INT_MAX;  // the lowest failing sample wins, so the error does not depend on timing
    };
    std::mutex mutex;
    std::condition_variable cv_work, cv_done;
    std::vector<Slot> slots;
    int64_t next_sample = 0;  // global index (batch·B + i) of the next sample to hand to a worker
    int64_t served = 0;       // index of the batch next() returns next
    bool stop = false;
    std::vector<std::thread> workers;

    size_t file_index(int64_t global_sample) const {
        const int64_t n = int64_t(faces.size());
        const int64_t epoch = global_sample / n, pos = global_sample % n;
        std::lock_guard<std::mutex> lk(perm_mutex);
        auto it = perms.find(epoch);
        if (it == perms.end()) {
            std::vector<uint32_t> p(static_cast<size_t>(n));
            for (size_t i = 0; i < p.size(); ++i) p[i] = uint32_t(i);
            std::mt19937_64 rng(derive_seed(opt.seed, {k_salt_shuffle, uint64_t(epoch)}));
            for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(rand_int(rng, i + 1))]);
            if (perms.size() >= 4) perms.erase(perms.begin());  // the oldest epoch
            it = perms.emplace(epoch, std::move(p)).first;
        }
        return it->second[size_t(pos)];
    }

    GanBatch allocate() const {
        GanBatch b;
        const int64_t N = opt.batch, R = opt.res;
        b.warped = Tensor::empty({N, 3, R, R});
        b.target = Tensor::empty({N, 3, R, R});
        if (faces.has_masks()) b.eyes = Tensor::empty({N, 3, R, R});
        return b;
    }

    /// Makes sample i of batch k and writes it into b (its own part of the tensors only).
    void fill_sample(int64_t k, int i, const GanBatch& b) const {
        const int64_t g = k * opt.batch + i;
        const size_t f = file_index(g);
        std::mt19937_64 rng(derive_seed(opt.seed, {k_salt_sample, uint64_t(k), uint64_t(i)}));
        SampleOptions so;
        so.res = opt.res;
        so.prob_color_match = opt.prob_color_match;
        so.motion_blur = opt.motion_blur;
        TrainingSample s = make_training_sample(faces.files()[f], faces.mask_for(f), sources, so, rng, opt.cache.get());
        const size_t R = size_t(opt.res), plane = R * R;
        auto put = [&](const ImageF& img, const Tensor& t) {  // HWC -> the sample's (3, R, R) planes
            float* o = t.data<float>() + size_t(i) * 3 * plane;
            for (size_t p = 0; p < plane; ++p)
                for (size_t ch = 0; ch < 3; ++ch) o[ch * plane + p] = img.px[p * 3 + ch];
        };
        put(s.warped, b.warped);
        put(s.target, b.target);
        if (b.eyes.defined()) put(s.eyes, b.eyes);
    }

    void worker_loop() {
        const int B = opt.batch, P = opt.prefetch;
        for (;;) {
            int64_t k = 0;
            int i = 0;
            Slot* slot = nullptr;
            GanBatch b;
            {
                std::unique_lock<std::mutex> lk(mutex);
                cv_work.wait(lk, [&] { return stop || next_sample / B < served + P; });
                if (stop) return;
                const int64_t g = next_sample++;
                k = g / B;
                i = int(g % B);
                slot = &slots[size_t(k % P)];
                if (slot->index != k) {  // the first sample of batch k; the slot's previous batch was taken
                    *slot = Slot{};
                    slot->index = k;
                    try {
                        slot->batch = allocate();
                    } catch (...) {
                        slot->error = std::current_exception();
                        slot->error_sample = -1;
                    }
                }
                b = slot->batch;  // shared handles; each sample writes only its own rows
            }
            std::exception_ptr err;
            if (b.warped.defined()) {
                try {
                    fill_sample(k, i, b);
                } catch (...) {
                    err = std::current_exception();
                }
            }
            {
                std::lock_guard<std::mutex> lk(mutex);
                if (err && i < slot->error_sample) {
                    slot->error = err;
                    slot->error_sample = i;
                }
                if (++slot->done == B) cv_done.notify_all();
            }
        }
    }
};

BatchLoader::BatchLoader(FaceFolder faces, LoaderOptions opt) : BatchLoader(faces, FaceFolder(), opt) {}

BatchLoader::BatchLoader(FaceFolder faces, FaceFolder color_sources, LoaderOptions opt)
    : m_state(std::make_unique<State>()) {
    FS_CHECK(faces.size() > 0, "BatchLoader: the face folder is empty (or was never given)");
    FS_CHECK(faces.size() <= size_t(UINT32_MAX), "BatchLoader: too many faces: ", faces.size());
    FS_CHECK(opt.res >= 64 && opt.res % 64 == 0, "BatchLoader: res must be a multiple of 64, got ", opt.res);
    FS_CHECK(opt.batch >= 1, "BatchLoader: batch must be >= 1, got ", opt.batch);
    FS_CHECK(opt.threads >= 0, "BatchLoader: threads must be >= 0, got ", opt.threads);
    FS_CHECK(opt.prefetch >= 1, "BatchLoader: prefetch must be >= 1, got ", opt.prefetch);
    FS_CHECK(opt.first_batch >= 0, "BatchLoader: first_batch must be >= 0, got ", opt.first_batch);
    FS_CHECK(opt.prob_color_match >= 0 && opt.prob_color_match <= 1, "BatchLoader: prob_color_match ",
             opt.prob_color_match, " is not a probability");
    State& s = *m_state;
    s.sources = faces.files();
    s.sources.insert(s.sources.end(), color_sources.files().begin(), color_sources.files().end());
    s.faces = std::move(faces);
    s.opt = opt;
    s.served = opt.first_batch;
    s.next_sample = opt.first_batch * opt.batch;
    s.slots.resize(size_t(opt.prefetch));
    try {
        for (int t = 0; t < opt.threads; ++t) s.workers.emplace_back([&s] { s.worker_loop(); });
    } catch (...) {  // could not start a thread: stop the ones that did start before giving up
        {
            std::lock_guard<std::mutex> lk(s.mutex);
            s.stop = true;
        }
        s.cv_work.notify_all();
        for (auto& w : s.workers) w.join();
        throw;
    }
}

BatchLoader::~BatchLoader() {
    State& s = *m_state;
    {
        std::lock_guard<std::mutex> lk(s.mutex);
        s.stop = true;
    }
    s.cv_work.notify_all();
    for (auto& w : s.workers) w.join();
}

GanBatch BatchLoader::next() {
    State& s = *m_state;
    if (s.workers.empty()) return batch_at(s.served++);
    std::unique_lock<std::mutex> lk(s.mutex);
    const int64_t k = s.served;
    State::Slot& slot = s.slots[size_t(k % s.opt.prefetch)];
    s.cv_done.wait(lk, [&] { return slot.index == k && slot.done == s.opt.batch; });
    GanBatch b = std::move(slot.batch);
    std::exception_ptr err = slot.error;
    slot = State::Slot{};
    ++s.served;
    lk.unlock();
    s.cv_work.notify_all();  // a slot is free: the workers may start batch k + prefetch
    if (err) std::rethrow_exception(err);
    return b;
}

GanBatch BatchLoader::batch_at(int64_t index) const {
    FS_CHECK(index >= 0, "BatchLoader::batch_at: negative index ", index);
    GanBatch b = m_state->allocate();
    for (int i = 0; i < m_state->opt.batch; ++i) m_state->fill_sample(index, i, b);
    return b;
}

int64_t BatchLoader::position() const {
    std::lock_guard<std::mutex> lk(m_state->mutex);
    return m_state->served;
}

const std::string& BatchLoader::file_of(int64_t index, int i) const {
    FS_CHECK(index >= 0 && i >= 0 && i < m_state->opt.batch, "BatchLoader::file_of: bad sample (", index, ", ", i, ")");
    return m_state->faces.files()[m_state->file_index(index * m_state->opt.batch + i)];
}

const FaceFolder& BatchLoader::faces() const { return m_state->faces; }
const LoaderOptions& BatchLoader::options() const { return m_state->opt; }

}  // namespace fs
