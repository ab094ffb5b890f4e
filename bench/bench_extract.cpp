// bench_extract.cpp: face extraction on the shared 512×512 sequence (lp_d14_woman_asian): MTCNN detection alone
// on one frame at a time, and the whole `faceswap extract` pipeline (decode, detect, align, write aligned face,
// raw crop and eye mask) in frames/s with `threads` frame workers. Needs the shared data (../shared/data or
// FACESWAP_DATA); skips with a message without it.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "faceswap/models.h"
#include "io/video.h"
#include "kernels/cpu/thread_pool.h"
#include "tools/extract.h"

using namespace fs;

namespace {

std::string sequence_dir() {
    try {
        std::string manifest = find_model_file("sequences/lp_d14_woman_asian/mtcnn_reference.tsv", "the shared data");
        return std::filesystem::path(manifest).parent_path().string() + "/img";
    } catch (const Error&) {
        return "";
    }
}

void BM_mtcnn_detect(benchmark::State& st) {
    const std::string dir = sequence_dir();
    if (dir.empty()) return st.SkipWithError("shared data not found (set FACESWAP_DATA)");
    set_num_threads(int(st.range(0)));
    Mtcnn m = Mtcnn::from_models();
    std::vector<Image> frames;
    auto src = open_frames(dir);
    for (int i = 0; i < 30; ++i) {
        Image img;
        if (!src->read(img)) break;
        frames.push_back(img);
    }
    size_t i = 0, faces = 0;
    for (auto _ : st) faces += m.detect(frames[i++ % frames.size()]).size();
    st.counters["frames/s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
    st.SetLabel("512x512, minsize 20, " + std::to_string(st.range(0)) + " thread(s), " +
                std::to_string(faces) + " faces");
    set_num_threads(2);
}

void BM_extract_pipeline(benchmark::State& st) {
    const std::string dir = sequence_dir();
    if (dir.empty()) return st.SkipWithError("shared data not found (set FACESWAP_DATA)");
    Mtcnn m = Mtcnn::from_models();
    const std::string out =
        (std::filesystem::temp_directory_path() / ("fs_bench_extract_" + std::to_string(getpid()))).string();
    ExtractOptions opt;
    opt.input = dir;
    opt.outdir = out;
    opt.max_frames = 120;
    opt.quiet = true;
    opt.threads = int(st.range(0));
    opt.format = st.range(1) ? "jpg" : "png";
    double frames = 0;
    for (auto _ : st) {
        std::filesystem::remove_all(out);
        frames += double(run_extract(opt, m).frames_read);
    }
    std::filesystem::remove_all(out);
    st.counters["frames/s"] = benchmark::Counter(frames, benchmark::Counter::kIsRate);
    st.SetLabel(std::to_string(opt.max_frames) + " frames 512x512, " + std::to_string(opt.threads) +
                " worker(s), " + opt.format);
}

}  // namespace

BENCHMARK(BM_mtcnn_detect)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_extract_pipeline)->Args({2, 0})->Args({2, 1})->Args({1, 0})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
