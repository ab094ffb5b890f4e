// bench_data.cpp: the training data pipeline (spec §6) on real aligned faces: one sample (decode or cache, colour
// match with p 0.5, random transform, random warp, eye mask) on one thread, and whole batches of 8 from the
// BatchLoader with its background workers. The faces are extracted once from the shared sequence
// lp_d14_woman_asian (every 4th of the first 160 frames, `faceswap extract --largest`) into a temporary folder;
// without the shared data (../shared/data or FACESWAP_DATA) the benchmarks skip with a message.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <random>

#include "faceswap/dataset.h"
#include "faceswap/models.h"
#include "tools/extract.h"

using namespace fs;

namespace {

/// OUTDIR of the one-off extraction (aligned/ and masks/), or "" without the shared data.
const std::string& faces_dir() {
    // Never destroyed: the atexit handler below runs after the destructors of statics constructed after it was
    // registered, which include this one (a destroyed string there removed nothing and left the folder in /tmp).
    static const std::string* dir = new std::string([] {
        std::string seq;
        try {
            std::string manifest =
                find_model_file("sequences/lp_d14_woman_asian/mtcnn_reference.tsv", "the shared data");
            seq = std::filesystem::path(manifest).parent_path().string() + "/img";
        } catch (const Error&) {
            return std::string();
        }
        const std::string out =
            (std::filesystem::temp_directory_path() / ("fs_bench_data_" + std::to_string(getpid()))).string();
        ExtractOptions opt;
        opt.input = seq;
        opt.outdir = out;
        opt.every = 4;
        opt.max_frames = 160;
        opt.largest_only = true;
        opt.write_raw = false;
        opt.quiet = true;
        run_extract(opt, Mtcnn::from_models());
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(faces_dir(), ec);
        });
        return out;
    }());
    return *dir;
}

/// One sample at a time on the calling thread; arg 0: eye masks off/on; arg 1: files decoded for every sample (0) or
/// through a FaceCache (1: the trainer's default; the cache is filled before the timing starts).
void BM_training_sample(benchmark::State& st) {
    const std::string& dir = faces_dir();
    if (dir.empty()) return st.SkipWithError("shared data not found (set FACESWAP_DATA)");
    const bool masks = st.range(0) != 0;
    FaceFolder faces(dir + "/aligned", masks ? dir + "/masks" : "");
    SampleOptions so;  // res 64, colour match p 0.5: the trainer's defaults
    std::unique_ptr<FaceCache> cache;
    if (st.range(1)) {
        cache = std::make_unique<FaceCache>(size_t(1) << 30);
        for (size_t f = 0; f < faces.size(); ++f) {
            read_256(faces.files()[f], cache.get());
            if (masks) read_256(*faces.mask_for(f), cache.get());
        }
    }
    std::mt19937_64 rng(1);
    size_t i = 0;
    for (auto _ : st) {
        const size_t f = i++ % faces.size();
        TrainingSample s =
            make_training_sample(faces.files()[f], faces.mask_for(f), faces.files(), so, rng, cache.get());
        benchmark::DoNotOptimize(s.warped.px.data());
    }
    st.counters["samples/s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
    st.SetLabel(std::to_string(faces.size()) + " faces 256 px -> 64 px, " + (masks ? "eye masks" : "no masks") +
                (cache ? ", cached" : ", decoded each time"));
}

/// Batches of 8 from the BatchLoader with `threads` workers (the trainer's default: 2), as the trainer takes them:
/// the time per batch with nothing else running, through the cache as the trainer has it (the first batches fill
/// it). An iteration of §5.4 takes four.
void BM_batch_loader(benchmark::State& st) {
    const std::string& dir = faces_dir();
    if (dir.empty()) return st.SkipWithError("shared data not found (set FACESWAP_DATA)");
    LoaderOptions opt;
    opt.threads = int(st.range(0));
    opt.cache = std::make_shared<FaceCache>(size_t(1) << 30);
    BatchLoader loader(FaceFolder(dir + "/aligned", dir + "/masks"), opt);
    for (auto _ : st) {
        GanBatch b = loader.next();
        benchmark::DoNotOptimize(b.warped.data<float>());
    }
    st.counters["samples/s"] = benchmark::Counter(double(st.iterations()) * opt.batch, benchmark::Counter::kIsRate);
    st.SetLabel("batch 8, 64 px, eye masks, " + std::to_string(opt.threads) + " worker(s), cached");
}

}  // namespace

BENCHMARK(BM_training_sample)->Args({0, 0})->Args({1, 0})->Args({1, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_batch_loader)->Arg(2)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
