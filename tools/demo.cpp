// demo.cpp: `faceswap demo` (see demo.h). The steps print as they go; every file goes into the output folder:
//   faceA/, faceB/          the aligned training faces (synthetic mode; --data: extract_A/, extract_B/)
//   model/                  the trainer's folder (train.cfg, model.safetensors, preview.png, losses.csv, ...)
//   swap_grid.png           held-out rows: input A | swap | ground truth B (synthetic), input A | swap (--data)
//   demo.mp4 (or .avi)      the same, as a video of smoothly moving faces (synthetic) or A's faces in order
//   converted.mp4           --data with a video or frames of A: A's footage converted by `faceswap convert`
//   scores.tsv, report.txt  per-face scores and the summary
#include "tools/demo.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "faceswap/cli.h"
#include "faceswap/convert_ops.h"
#include "faceswap/eval.h"
#include "faceswap/gan.h"
#include "faceswap/models.h"
#include "faceswap/perceptual.h"
#include "faceswap/progress.h"
#include "faceswap/train.h"
#include "io/video.h"
#include "kernels/cpu/thread_pool.h"
#include "tools/convert.h"
#include "tools/extract.h"

namespace fs {

namespace fsys = std::filesystem;

// --- model-space faces -----------------------------------------------------------------------------------------

namespace {

// ImageF (h, w, 3) BGR 0..255 <-> (3, h, w) BGR in [-1, 1], the networks' convention.
void bgr_to_planes(const ImageF& img, float* dst) {
    const size_t plane = size_t(img.h) * size_t(img.w);
    for (size_t i = 0; i < plane; ++i)
        for (size_t c = 0; c < 3; ++c) dst[c * plane + i] = img.px[i * 3 + c] / 127.5f - 1.f;
}
ImageF planes_to_bgr(const float* src, int h, int w) {
    ImageF img(h, w, 3);
    const size_t plane = size_t(h) * size_t(w);
    for (size_t i = 0; i < plane; ++i)
        for (size_t c = 0; c < 3; ++c)
            img.px[i * 3 + c] = float(std::lround(std::clamp((src[c * plane + i] + 1.f) * 127.5f, 0.f, 255.f)));
    return img;
}

}  // namespace

ImageF demo_model_crop(const ImageF& aligned256, int res) {
    FS_CHECK(aligned256.h == 256 && aligned256.w == 256 && aligned256.c == 3,
             "demo: aligned faces are 256x256 BGR, got ", aligned256.h, "x", aligned256.w, "x", aligned256.c);
    FS_CHECK(res >= 16 && res <= 256, "demo: bad model resolution ", res);
    const double k = res / (2 * k_demo_crop_half_width), x0 = 128.0 - k_demo_crop_half_width;
    ImageF crop = warp_affine(aligned256, Affine{k, 0, -k * x0, 0, k, -k * x0}, res, res, Border::constant, 0.f);
    quantize_u8(crop);
    return crop;
}

ImageF demo_render_aligned(const FaceIdentity& id, const FrameParams& f) {
    Tensor t = render_face(id, f, 256);
    return planes_to_bgr(t.data<float>(), 256, 256);
}

FrameParams demo_video_frame(int k, int n, uint64_t seed) {
    FS_CHECK(n >= 1 && k >= 0 && k < n, "demo_video_frame: frame ", k, " of ", n);
    const double pi = 3.14159265358979323846, t = double(k) / n, w = 2 * pi * t;
    // A fixed background per seed; everything else moves on slow periodic paths (whole periods over the video,
    // so it loops) within the ranges random_frame draws from.
    std::mt19937_64 rng(derive_seed(seed, {0x766964656fULL}));
    FrameParams f;
    for (double& c : f.background) c = 0.25 + 0.5 * rand_uniform(rng);
    f.yaw = 0.22 * std::sin(w);
    f.pitch = 0.15 * std::sin(2 * w + 1.0);
    f.roll = 0.10 * std::sin(w + 2.0);
    f.mouth_open = std::max(0.0, std::sin(3 * w));
    f.smile = 0.8 * std::sin(w - 0.5);
    f.gaze_x = 0.9 * std::sin(2 * w);
    f.gaze_y = 0.4 * std::cos(w);
    f.light = std::sin(w + 0.7);
    // two blinks, each a tenth of the video: close and open again
    for (double c : {0.3, 0.8}) f.blink = std::max(f.blink, 1.0 - std::fabs(t - c) / 0.05);
    f.scale = 1.0 + 0.03 * std::sin(w + 0.3);
    return f;
}

std::vector<DemoSwap> demo_swap_crops(const FaceSwapModel& model, std::vector<ImageF> crops) {
    const int R = model.cfg.res;
    GeneratorFn gen = model_generator(model, true);
    std::vector<DemoSwap> out(crops.size());
    const size_t chunk = 16;  // a batch that keeps the generator's GEMMs efficient without much memory
    for (size_t s = 0; s < crops.size(); s += chunk) {
        const size_t n = std::min(chunk, crops.size() - s);
        Tensor x = Tensor::empty({int64_t(n), 3, R, R});
        for (size_t i = 0; i < n; ++i) {
            const ImageF& c = crops[s + i];
            FS_CHECK(c.h == R && c.w == R && c.c == 3, "demo: a face crop is ", c.h, "x", c.w, "x", c.c, ", the model ",
                     "takes ", R, "x", R, "x3");
            bgr_to_planes(c, x.data<float>() + i * size_t(3 * R * R));
        }
        DecoderOut o = gen(x);
        Tensor m = composite(o.alpha, o.bgr, x).contiguous(), raw = o.bgr.contiguous(), al = o.alpha.contiguous();
        for (size_t i = 0; i < n; ++i) {
            out[s + i].alpha = ImageF(R, R, 1);
            std::copy_n(al.data<float>() + i * size_t(R * R), size_t(R * R), out[s + i].alpha.px.begin());
            out[s + i].input = std::move(crops[s + i]);
            out[s + i].swap = planes_to_bgr(m.data<float>() + i * size_t(3 * R * R), R, R);
            out[s + i].raw = planes_to_bgr(raw.data<float>() + i * size_t(3 * R * R), R, R);
        }
    }
    return out;
}

std::vector<DemoSwap> demo_swap_frames(const FaceSwapModel& model, const std::vector<FrameParams>& frames) {
    const int R = model.cfg.res;
    const FaceIdentity ida = identity_a(), idb = identity_b();
    std::vector<ImageF> inputs(frames.size()), truths(frames.size());
    // Rendering at 256 is the slow part here: spread it over the cores.
    parallel_for(int64_t(frames.size()), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            inputs[size_t(i)] = demo_model_crop(demo_render_aligned(ida, frames[size_t(i)]), R);
            truths[size_t(i)] = demo_model_crop(demo_render_aligned(idb, frames[size_t(i)]), R);
        }
    });
    std::vector<DemoSwap> out = demo_swap_crops(model, std::move(inputs));
    for (size_t i = 0; i < out.size(); ++i) out[i].truth = std::move(truths[i]);
    return out;
}

DemoScores score_swaps(const std::vector<DemoSwap>& swaps) {
    DemoScores s;
    for (const DemoSwap& d : swaps) {
        s.swap.add(psnr(d.swap, d.truth), ssim(d.swap, d.truth));
        s.raw.add(psnr(d.raw, d.truth), ssim(d.raw, d.truth));
        s.baseline.add(psnr(d.input, d.truth), ssim(d.input, d.truth));
    }
    return s;
}

MaskMeans mask_means(const std::vector<DemoSwap>& swaps) {
    double sum[2] = {0, 0};
    int64_t n[2] = {0, 0};
    for (const DemoSwap& d : swaps) {
        FS_CHECK(!d.truth.empty() && !d.alpha.empty(), "mask_means: needs swaps with a truth and a mask");
        for (size_t p = 0; p < d.alpha.px.size(); ++p) {
            const bool same = d.input.px[3 * p] == d.truth.px[3 * p] &&
                              d.input.px[3 * p + 1] == d.truth.px[3 * p + 1] &&
                              d.input.px[3 * p + 2] == d.truth.px[3 * p + 2];
            sum[same ? 0 : 1] += d.alpha.px[p];
            ++n[same ? 0 : 1];
        }
    }
    return {n[0] ? sum[0] / double(n[0]) : 0.0, n[1] ? sum[1] / double(n[1]) : 0.0};
}

// --- options -----------------------------------------------------------------------------------------------------

namespace {

// The default run: about a minute and a half on 2 cores (docs/PERFORMANCE.md has the measurements). Longer runs
// of this length class do not swap better: measured up to 300 iterations, the held-out scores peak around 50-100
// iterations and then sink slowly while each decoder specialises on its own person.
constexpr int64_t k_default_iters = 100;
constexpr int64_t k_quick_iters = 40;

const char* k_demo_usage =
    "usage: faceswap demo [options]                   built-in synthetic faces (no data needed)\n"
    "       faceswap demo --data DIR [options]        two real people: DIR/A and DIR/B\n"
    "\n"
    "The main job end to end. Without --data it draws two procedural people (A and B: face shape, skin tone,\n"
    "eyes, brows, nose, mouth and hair differ; pose, expression, gaze, blinks, light and background vary) as\n"
    "folders of aligned faces, trains the lite 64 faceswap-GAN model on them with the normal trainer (progress\n"
    "bar, previews in OUT/model; short schedule, no GAN terms unless --gan), swaps held-out A faces to B and\n"
    "scores the swap against the ground truth, B drawn in the very same frame: PSNR (dB) and SSIM of the swap,\n"
    "of the raw decoder output, and of the unswapped input (the 'did nothing' baseline), at the model's 64x64\n"
    "face crop. A seed gives the same run on the same machine and thread count. It fails (exit code 1) when the\n"
    "swap does not beat the baseline on both scores. A few minutes of CPU training give an early-stage swap:\n"
    "B's colours, hair and face shape blended over A's features, not yet B's features in A's pose.\n"
    "\n"
    "With --data DIR it runs the same steps on your own footage: DIR/A and DIR/B are each a video file\n"
    "(DIR/A.mp4, .avi, .mov, .mkv, .webm, .m4v) or a folder of frames or photos, from which `extract` cuts the\n"
    "aligned faces (the MTCNN model files are needed, see faceswap extract --help); a folder that holds an\n"
    "aligned/ subfolder (a previous `faceswap extract` output) or, with --aligned, aligned faces itself, is used\n"
    "as it is. There is no ground truth for real faces: the swap is scored by identity with the face-api.js\n"
    "recognition net (as faceswap eval) when its model file is found, next to the same score of the unswapped\n"
    "faces. Real faces need far longer training than the demo gives them: continue with\n"
    "`faceswap train --model OUT/model --resume --iters 40000 --schedule faithful --gan` (the original's).\n"
    "\n"
    "Output folder (--out): faceA/ faceB/ (or extract_A/ extract_B/), model/ (train.cfg, model.safetensors,\n"
    "preview.png, losses.csv, loss_curve.png), swap_grid.png (rows: input A | swap | ground truth B),\n"
    "demo.mp4 (the same as a video; .avi when mp4 cannot be written), scores.tsv, report.txt; with --data and\n"
    "a video or frames of A, converted.mp4: A's footage through `faceswap convert` (input | result).\n"
    "\n"
    "options:\n"
    "  --out DIR          output folder (default ./demo_out); a folder that holds files but no earlier demo\n"
    "                     run is refused, an earlier run there is replaced\n"
    "  --seed N           seed of the faces, the data pipeline and the initialisation (default 1)\n"
    "  --iters N          training iterations (default 100; --quick 40)\n"
    "  --batch N          faces per identity per batch, even (default 4)\n"
    "  --faces N          synthetic training faces per identity (default 400; --quick 160)\n"
    "  --eval N           held-out faces scored and shown (default 32; --quick 16)\n"
    "  --video-frames N   frames of the demo video (default 96, 4 s; --quick 24; 0: no video)\n"
    "  --schedule S       training schedule: short (default, for runs of a few hundred iterations), faithful\n"
    "                     or colab (the original's, meant for tens of thousands)\n"
    "  --perceptual MODE  off (default: it slows each iteration and needs the face-api model), auto or on\n"
    "  --gan              train with the discriminators and the adversarial term (default off: in runs this\n"
    "                     short they cost a third of the time and add texture that lowers the SSIM; see\n"
    "                     docs/PERFORMANCE.md)\n"
    "  --threads N        data-loading threads per identity (default: the trainer's)\n"
    "  --model FILE       score this model (or training checkpoint) file instead of training one\n"
    "  --no-check         exit 0 even when the swap does not beat the baseline\n"
    "  --quick            a short run for CI: about a minute of training, same check\n"
    "  --data DIR         train and swap two real people (see above)\n"
    "  --aligned          with --data: DIR/A and DIR/B hold aligned faces already\n"
    "  --every N          with --data: extract every Nth frame (default 1)\n"
    "  --max-frames N     with --data: extract from (and convert) at most N frames of each input (default: all)\n"
    "  --models DIR       folder with the MTCNN and face-api model files (see faceswap extract --help)\n";

struct DemoOptions {
    std::string out = "demo_out";
    std::string data;
    bool aligned = false;
    uint64_t seed = 1;
    int64_t iters = -1;
    int batch = 4;
    int faces = -1, eval = -1, video_frames = -1;
    std::string schedule = "short";
    PerceptualMode perceptual = PerceptualMode::off;
    bool gan = false;
    int threads = 0;
    std::string model_file;
    bool check = true, quick = false;
    int every = 1;
    int64_t max_frames = -1;
};


// A progress line on stdout, flushed so it keeps its place between the progress bars drawn on stderr.
template <typename... A>
void say(const char* fmt, A... a) {
    std::printf(fmt, a...);
    std::printf("\n");
    std::fflush(stdout);
}

// The demo's own marker: an output folder that holds it is one the demo may clear and reuse.
constexpr const char* k_marker = ".faceswap-demo";

// Prepares OUT: creates it, or clears what an earlier demo run wrote there; refuses a folder of other files.
void prepare_out(const std::string& out) {
    if (fsys::exists(out)) {
        FS_CHECK(fsys::is_directory(out), "demo: --out ", out, " exists and is not a folder");
        bool empty = fsys::directory_iterator(out) == fsys::directory_iterator();
        FS_CHECK(empty || fsys::exists(fsys::path(out) / k_marker), "demo: ", out,
                 " already holds files that an earlier demo did not write; give an empty or new folder with --out");
        for (const char* name :
             {"faceA", "faceB", "extract_A", "extract_B", "model", "swap_input", "swap_AtoB", "ref_A", "ref_B",
              "swap_grid.png", "demo.mp4", "demo.avi", "converted.mp4", "scores.tsv", "report.txt"})
            fsys::remove_all(fsys::path(out) / name);
    }
    fsys::create_directories(out);
    std::ofstream(fsys::path(out) / k_marker)
        << "written by faceswap demo; the next demo run here replaces its files\n";
}

// Nearest-neighbour enlargement by an integer factor (keeps the model's pixels visible in the grid and video).
ImageF enlarge(const ImageF& img, int f) {
    ImageF out(img.h * f, img.w * f, img.c);
    for (int y = 0; y < out.h; ++y)
        for (int x = 0; x < out.w; ++x)
            for (int c = 0; c < img.c; ++c) out.at(y, x, c) = img.at(y / f, x / f, c);
    return out;
}

// Panels side by side (same height), with a 2-pixel dark gap between them.
ImageF hstack(const std::vector<const ImageF*>& panels) {
    const int gap = 2;
    int w = 0;
    for (const ImageF* p : panels) w += p->w;
    w += gap * int(panels.size() - 1);
    ImageF out(panels[0]->h, w, 3, 32.f);
    int x0 = 0;
    for (const ImageF* p : panels) {
        FS_CHECK(p->h == out.h && p->c == 3, "demo: panels differ in height");
        for (int y = 0; y < p->h; ++y)
            for (int x = 0; x < p->w; ++x)
                for (int c = 0; c < 3; ++c) out.at(y, x0 + x, c) = p->at(y, x, c);
        x0 += p->w + gap;
    }
    return out;
}

ImageF vstack(const std::vector<ImageF>& rows) {
    const int gap = 2;
    int h = 0;
    for (const ImageF& r : rows) h += r.h;
    h += gap * int(rows.size() - 1);
    ImageF out(h, rows[0].w, 3, 32.f);
    int y0 = 0;
    for (const ImageF& r : rows) {
        std::copy(r.px.begin(), r.px.end(), out.px.begin() + ptrdiff_t(size_t(y0) * size_t(out.w) * 3));
        y0 += r.h + gap;
    }
    return out;
}

// The video writer: .mp4 when OpenCV can write it, else .avi (Motion-JPEG); returns the path used.
std::string write_video(const std::string& out, const std::vector<ImageF>& frames, double fps) {
    std::string err;
    for (const char* ext : {".mp4", ".avi"}) {
        std::string path = (fsys::path(out) / (std::string("demo") + ext)).string();
        try {
            VideoWriter w(path, frames[0].w, frames[0].h, fps);
            for (const ImageF& f : frames) w.write(bgr_f_to_image(f));
            w.close();
            return path;
        } catch (const Error& e) {
            err += std::string("\n  ") + e.what();
        }
    }
    FS_FAIL("demo: could not write the demo video:", err);
}

struct Report {
    std::ostringstream text;
    template <typename... A>
    void line(const char* fmt, A... a) {
        char buf[512];
        std::snprintf(buf, sizeof buf, fmt, a...);
        std::printf("%s\n", buf);
        std::fflush(stdout);
        text << buf << "\n";
    }
};

TrainConfig demo_train_config(const DemoOptions& o, const std::string& a, const std::string& b,
                              const std::string& a_masks, const std::string& b_masks) {
    TrainConfig cfg;
    cfg.a_dir = a, cfg.b_dir = b, cfg.a_masks = a_masks, cfg.b_masks = b_masks;
    cfg.model_dir = (fsys::path(o.out) / "model").string();
    cfg.model.res = 64;
    cfg.model.capacity = Capacity::lite;
    cfg.model.seed = o.seed;
    cfg.batch = o.batch;
    cfg.iters = o.iters;
    cfg.schedule = o.schedule;
    // Ten previews over the run; the schedule's phases start half a preview interval early, as the notebook's.
    cfg.preview_every = std::max<int64_t>(1, o.iters / 10);
    cfg.save_every = o.iters;        // one save at the end (and on Ctrl-C)
    cfg.backup_every = o.iters + 1;  // no backups
    cfg.seed = o.seed;
    cfg.threads = o.threads;
    cfg.perceptual = o.perceptual;
    cfg.adversarial = o.gan;
    // Adam's moments kept across the phase changes, which come every few dozen iterations in a short run (the
    // original resets them, once in thousands of iterations).
    cfg.keep_optimizer_state = true;
    return cfg;
}

// Trains with the normal trainer; returns false when the user interrupted (the model is saved either way).
bool train(const TrainConfig& cfg) {
    std::unique_ptr<BatchSource> a = make_folder_source(cfg, false), b = make_folder_source(cfg, true);
    int rc = run_training(cfg, false, *a, *b);
    FS_CHECK(rc == 0, "demo: training failed (see above)");
    return !stop_requested();
}

// --- synthetic demo ---------------------------------------------------------------------------------------------

void write_faces(const std::string& dir, const FaceIdentity& id, int n, uint64_t seed, const char* label) {
    fsys::create_directories(dir);
    Progress progress(std::string("demo: drawing ") + label, n, "faces");
    std::atomic<int> done{0};
    parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            // one generator per face: any face on demand, the same whatever the thread count
            std::mt19937_64 rng(derive_seed(seed, {uint64_t(i)}));
            ImageF img = demo_render_aligned(id, random_frame(rng));
            char name[32];
            std::snprintf(name, sizeof name, "%04lld.png", (long long)i);
            write_frame_image((fsys::path(dir) / name).string(), bgr_f_to_image(img));
            int d = ++done;
            if (b == 0) progress.update(d);  // the calling thread's chunk reports (Progress is not thread-safe)
        }
    });
    progress.finish(n);
}

int synthetic_demo(const DemoOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    auto since = [](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    Report rep;
    // A given model is read before the output folder is prepared: it may lie in an earlier run's model/ there.
    std::unique_ptr<FaceSwapModel> given;
    if (!o.model_file.empty()) given = std::make_unique<FaceSwapModel>(load_model(o.model_file, true));
    prepare_out(o.out);
    say("demo: output in %s; seed %llu", o.out.c_str(), (unsigned long long)o.seed);
    double t_data = 0, t_train = 0;
    std::string model_file = o.model_file;
    if (model_file.empty()) {
        // 1. the training sets, as extraction would leave them: one folder of aligned faces per person
        auto t = std::chrono::steady_clock::now();
        say("demo: [1/4] drawing %d aligned faces (256x256) of each procedural person", o.faces);
        const std::string fa = (fsys::path(o.out) / "faceA").string(), fb = (fsys::path(o.out) / "faceB").string();
        write_faces(fa, identity_a(), o.faces, derive_seed(o.seed, {0xA}), "person A");
        write_faces(fb, identity_b(), o.faces, derive_seed(o.seed, {0xB}), "person B");
        t_data = since(t);

        // 2. training
        t = std::chrono::steady_clock::now();
        TrainConfig cfg = demo_train_config(o, fa, fb, "", "");
        say("demo: [2/4] training the lite 64 model, %lld iterations of batch %d (%s schedule)", (long long)cfg.iters,
            cfg.batch, cfg.schedule.c_str());
        if (!train(cfg)) {
            say("demo: interrupted; the model so far is in %s", cfg.model_dir.c_str());
            return 1;
        }
        t_train = since(t);
        model_file = cfg.model_dir + "/model.safetensors";
    } else {
        say("demo: [1-2/4] scoring %s (no training)", model_file.c_str());
    }

    // 3. held-out swaps, scored against the ground truth
    auto t = std::chrono::steady_clock::now();
    if (!given) given = std::make_unique<FaceSwapModel>(load_model(model_file));
    const FaceSwapModel& model = *given;
    say("demo: [3/4] swapping %d held-out faces of A to B (%s)", o.eval, model.cfg.str().c_str());
    std::vector<FrameParams> frames;
    for (int i = 0; i < o.eval; ++i) {
        std::mt19937_64 rng(derive_seed(o.seed, {0xE7A1, uint64_t(i)}));  // a stream the training faces never use
        frames.push_back(random_frame(rng));
    }
    std::vector<DemoSwap> swaps = demo_swap_frames(model, frames);
    DemoScores sc = score_swaps(swaps);
    {
        std::ofstream tsv(fsys::path(o.out) / "scores.tsv");
        tsv << "face\tpsnr_swap\tssim_swap\tpsnr_raw\tssim_raw\tpsnr_input\tssim_input\n";
        for (size_t i = 0; i < swaps.size(); ++i) {
            const DemoSwap& d = swaps[i];
            tsv << i << "\t" << psnr(d.swap, d.truth) << "\t" << ssim(d.swap, d.truth) << "\t" << psnr(d.raw, d.truth)
                << "\t" << ssim(d.raw, d.truth) << "\t" << psnr(d.input, d.truth) << "\t" << ssim(d.input, d.truth)
                << "\n";
        }
    }
    std::vector<ImageF> rows;
    for (size_t i = 0; i < swaps.size() && i < 8; ++i) {
        ImageF a = enlarge(swaps[i].input, 2), s = enlarge(swaps[i].swap, 2), g = enlarge(swaps[i].truth, 2);
        rows.push_back(hstack({&a, &s, &g}));
    }
    const std::string grid = (fsys::path(o.out) / "swap_grid.png").string();
    write_png(grid, bgr_f_to_image(vstack(rows)));

    // 4. the video: a held-out sequence with smoothly varying pose and expression
    std::string video;
    DemoScores vs;
    if (o.video_frames > 0) {
        say("demo: [4/4] rendering the %d-frame video (input A | swap | ground truth B)", o.video_frames);
        std::vector<FrameParams> vf;
        for (int k = 0; k < o.video_frames; ++k) vf.push_back(demo_video_frame(k, o.video_frames, o.seed));
        std::vector<DemoSwap> vsw = demo_swap_frames(model, vf);
        vs = score_swaps(vsw);
        std::vector<ImageF> vframes;
        for (const DemoSwap& d : vsw) {
            ImageF a = enlarge(d.input, 2), s = enlarge(d.swap, 2), g = enlarge(d.truth, 2);
            vframes.push_back(hstack({&a, &s, &g}));
        }
        video = write_video(o.out, vframes, 24.0);
    }
    const double t_eval = since(t), total = since(t0);

    // the summary
    rep.line("");
    rep.line("demo: A->B swap of %d held-out faces, scored against the ground truth (B in the same frame),", o.eval);
    rep.line(
        "      at the model's %dx%d face crop, 8-bit BGR; PSNR over all channels, SSIM 11x11 Gaussian (sigma 1.5):",
        model.cfg.res, model.cfg.res);
    rep.line("      %-34s %9s %7s", "", "PSNR dB", "SSIM");
    rep.line("      %-34s %9.2f %7.4f", "swap (masked output, as converted)", sc.swap.psnr(), sc.swap.ssim());
    rep.line("      %-34s %9.2f %7.4f", "raw decoder output", sc.raw.psnr(), sc.raw.ssim());
    rep.line("      %-34s %9.2f %7.4f", "did nothing (the A input itself)", sc.baseline.psnr(), sc.baseline.ssim());
    const MaskMeans mm = mask_means(swaps);
    rep.line("      mask: mean alpha %.2f where A and B look alike (background), %.2f on the person", mm.same,
             mm.differs);
    if (o.video_frames > 0)
        rep.line("      video frames: swap %.2f dB / %.4f, did nothing %.2f dB / %.4f", vs.swap.psnr(), vs.swap.ssim(),
                 vs.baseline.psnr(), vs.baseline.ssim());
    const bool beats = sc.swap.psnr() > sc.baseline.psnr() && sc.swap.ssim() > sc.baseline.ssim();
    rep.line("demo: the swap %s the baseline: %+.2f dB PSNR, %+.4f SSIM", beats ? "beats" : "does NOT beat",
             sc.swap.psnr() - sc.baseline.psnr(), sc.swap.ssim() - sc.baseline.ssim());
    rep.line("demo: time %s (faces %s, training %s, swap + scores + video %s)", format_duration(total).c_str(),
             format_duration(t_data).c_str(), format_duration(t_train).c_str(), format_duration(t_eval).c_str());
    rep.line("demo: wrote %s (rows: input A | swap | ground truth B)%s%s", grid.c_str(), video.empty() ? "" : ", ",
             video.c_str());
    rep.line("demo: training previews, losses and the model in %s/model", o.out.c_str());
    {
        std::ofstream f(fsys::path(o.out) / "report.txt");
        f << rep.text.str();
    }
    if (!beats && o.check) {
        std::fprintf(stderr, "demo: FAILED: the swap does not beat the did-nothing baseline on both PSNR and SSIM\n");
        return 1;
    }
    return 0;
}

// --- real data (--data DIR) ---------------------------------------------------------------------------------------

// Where one person's faces come from: aligned faces to use as they are, or a video/folder to extract from.
struct DataInput {
    std::string aligned, masks;  // aligned faces (and eye masks, when there are any)
    std::string extract_from;    // else: the video or frame folder to run extraction on
};

DataInput resolve_input(const std::string& dir, const std::string& who, bool aligned_flag) {
    const fsys::path p = fsys::path(dir) / who;
    DataInput in;
    if (fsys::is_directory(p)) {
        if (fsys::is_directory(p / "aligned")) {  // a `faceswap extract` output folder
            in.aligned = (p / "aligned").string();
            if (fsys::is_directory(p / "masks")) in.masks = (p / "masks").string();
        } else if (aligned_flag) {
            in.aligned = p.string();
        } else {
            in.extract_from = p.string();
        }
        return in;
    }
    if (fsys::is_regular_file(p)) {
        in.extract_from = p.string();
        return in;
    }
    for (const char* ext : {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".MP4", ".AVI", ".MOV", ".MKV"}) {
        fsys::path v = p;
        v += ext;
        if (fsys::is_regular_file(v)) {
            in.extract_from = v.string();
            return in;
        }
    }
    FS_FAIL("demo --data: found neither ", p.string(), "/ (a folder of frames, photos or aligned faces) nor a video ",
            p.string(), ".mp4 (or .avi, .mov, .mkv, .webm, .m4v) for person ", who, " (see faceswap demo --help)");
}

// Up to k of n indices, evenly spread, starting at `offset` (a fraction of the step).
std::vector<size_t> spread(size_t n, size_t k, double offset) {
    std::vector<size_t> idx;
    k = std::min(k, n);
    for (size_t i = 0; i < k; ++i) idx.push_back(std::min(n - 1, size_t((double(i) + offset) * double(n) / double(k))));
    idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
    return idx;
}

ImageF read_aligned_256(const std::string& path) {
    ImageF img = image_to_bgr_f(read_image(path, 3));
    if (img.h != 256 || img.w != 256) img = resize_bilinear(img, 256, 256);  // as the training pipeline does
    quantize_u8(img);
    return img;
}

// Writes the model-space crops of `files` into dir (same stems, .png).
void write_crops(const std::string& dir, const std::vector<std::string>& files, const std::vector<ImageF>& crops) {
    fsys::create_directories(dir);
    for (size_t i = 0; i < files.size(); ++i)
        write_frame_image((fsys::path(dir) / (fsys::path(files[i]).stem().string() + ".png")).string(),
                          bgr_f_to_image(crops[i]));
}

int data_demo(const DemoOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    auto since = [](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    FS_CHECK(fsys::is_directory(o.data), "demo --data: ", o.data, " is not a folder");
    DataInput in[2] = {resolve_input(o.data, "A", o.aligned), resolve_input(o.data, "B", o.aligned)};
    prepare_out(o.out);
    say("demo: output in %s; person A and B from %s", o.out.c_str(), o.data.c_str());

    // 1. extraction, where needed
    auto t = std::chrono::steady_clock::now();
    if (!in[0].extract_from.empty() || !in[1].extract_from.empty()) {
        Mtcnn mtcnn = Mtcnn::from_models();
        for (int k = 0; k < 2; ++k) {
            if (in[k].extract_from.empty()) continue;
            ExtractOptions eo;
            eo.input = in[k].extract_from;
            eo.outdir = (fsys::path(o.out) / (k ? "extract_B" : "extract_A")).string();
            eo.every = o.every;
            eo.max_frames = o.max_frames;
            eo.largest_only = true;           // one person per input: the main face of each frame
            eo.detect.auto_downscale = true;  // HD frames are searched at a third or a quarter of their size
            say("demo: [1/5] extracting person %s's faces from %s", k ? "B" : "A", eo.input.c_str());
            ExtractStats st = run_extract(eo, mtcnn);
            FS_CHECK(st.faces > 0, "demo --data: no face found in ", eo.input);
            say("demo: %lld faces from %lld frames", (long long)st.faces, (long long)st.frames_read);
            in[k].aligned = eo.outdir + "/aligned";
            in[k].masks = eo.outdir + "/masks";
        }
    } else {
        say("demo: [1/5] using the aligned faces in %s and %s", in[0].aligned.c_str(), in[1].aligned.c_str());
    }
    const double t_extract = since(t);

    // 2. training
    t = std::chrono::steady_clock::now();
    TrainConfig cfg = demo_train_config(o, in[0].aligned, in[1].aligned, in[0].masks, in[1].masks);
    say("demo: [2/5] training the lite 64 model, %lld iterations of batch %d (%s schedule)", (long long)cfg.iters,
        cfg.batch, cfg.schedule.c_str());
    if (!train(cfg)) {
        say("demo: interrupted; the model so far is in %s", cfg.model_dir.c_str());
        return 1;
    }
    const double t_train = since(t);

    // 3. A's faces swapped to B (model space, like the synthetic demo), and reference crops of both people
    t = std::chrono::steady_clock::now();
    FaceSwapModel model = load_model(cfg.model_dir + "/model.safetensors");
    const int R = model.cfg.res;
    std::vector<std::string> fa = list_face_images(in[0].aligned), fb = list_face_images(in[1].aligned);
    auto crops_of = [&](const std::vector<std::string>& files, const std::vector<size_t>& idx,
                        std::vector<std::string>& picked) {
        std::vector<ImageF> crops;
        for (size_t i : idx) {
            picked.push_back(files[i]);
            crops.push_back(demo_model_crop(read_aligned_256(files[i]), R));
        }
        return crops;
    };
    std::vector<std::string> eval_files, ref_a_files, ref_b_files;
    // The scored faces and A's references come from interleaved frames, so no reference is a scored face.
    std::vector<DemoSwap> swaps =
        demo_swap_crops(model, crops_of(fa, spread(fa.size(), size_t(o.eval), 0.0), eval_files));
    say("demo: [3/5] swapped %zu of A's %zu faces to B", swaps.size(), fa.size());
    std::vector<ImageF> ins, outs;
    for (const DemoSwap& d : swaps) ins.push_back(d.input), outs.push_back(d.swap);
    const std::string dir_in = (fsys::path(o.out) / "swap_input").string(),
                      dir_sw = (fsys::path(o.out) / "swap_AtoB").string(),
                      dir_ra = (fsys::path(o.out) / "ref_A").string(), dir_rb = (fsys::path(o.out) / "ref_B").string();
    write_crops(dir_in, eval_files, ins);
    write_crops(dir_sw, eval_files, outs);
    std::vector<size_t> ref_a = spread(fa.size(), 64, 0.5), ref_a_unscored;  // A's references: not scored faces
    for (size_t i : ref_a)
        if (std::find(eval_files.begin(), eval_files.end(), fa[i]) == eval_files.end()) ref_a_unscored.push_back(i);
    if (ref_a_unscored.empty()) ref_a_unscored = ref_a;  // too few faces to keep them apart
    write_crops(dir_ra, ref_a_files, crops_of(fa, ref_a_unscored, ref_a_files));
    write_crops(dir_rb, ref_b_files, crops_of(fb, spread(fb.size(), 64, 0.0), ref_b_files));

    std::vector<ImageF> rows;
    for (size_t i = 0; i < swaps.size() && i < 8; ++i) {
        ImageF a = enlarge(swaps[i].input, 2), s = enlarge(swaps[i].swap, 2);
        rows.push_back(hstack({&a, &s}));
    }
    const std::string grid = (fsys::path(o.out) / "swap_grid.png").string();
    write_png(grid, bgr_f_to_image(vstack(rows)));

    // 4. the video: A's first faces in order (consecutive frames of a video), input | swap
    std::string video;
    if (o.video_frames > 0) {
        std::vector<std::string> vfiles;
        std::vector<size_t> first;
        for (size_t i = 0; i < fa.size() && i < size_t(o.video_frames); ++i) first.push_back(i);
        say("demo: [4/5] the %zu-frame video of A's faces (input A | swap)", first.size());
        std::vector<DemoSwap> vs = demo_swap_crops(model, crops_of(fa, first, vfiles));
        std::vector<ImageF> frames;
        for (const DemoSwap& d : vs) {
            ImageF a = enlarge(d.input, 2), s = enlarge(d.swap, 2);
            frames.push_back(hstack({&a, &s}));
        }
        video = write_video(o.out, frames, 25.0);
    }

    // 5. the conversion of A's footage itself (faceswap convert): detection, tracking, the swap pasted back into
    //    the frames, side by side with the input
    std::string converted;
    if (!in[0].extract_from.empty()) {
        ConvertOptions co;
        co.input = in[0].extract_from;
        co.output = (fsys::path(o.out) / "converted.mp4").string();
        co.layout = OutputLayout::side_by_side;
        co.max_frames = o.max_frames;
        co.detect.auto_downscale = true;
        say("demo: [5/5] converting %s (faceswap convert, input | result)", co.input.c_str());
        ConvertStats cs = run_convert(co, Mtcnn::from_models(), model_generator(model, true), R);
        converted = co.output;
        say("demo: %lld frames, %lld faces swapped", (long long)cs.frames, (long long)cs.faces);
    }

    // identity scores, when the recognition net is there
    Report rep;
    rep.line("");
    std::string why;
    std::unique_ptr<FaceRecognitionNet> net;
    try {
        net = std::make_unique<FaceRecognitionNet>(FaceRecognitionNet::load_default());
    } catch (const Error& e) {
        why = e.what();
    }
    if (net) {
        EvalReport sw = evaluate_identity(*net, dir_sw, dir_rb, dir_ra),
                   base = evaluate_identity(*net, dir_in, dir_rb, dir_ra);
        rep.line("demo: identity of %zu of A's faces swapped to B (face-api recognition net; references: %zu faces of",
                 sw.frames.size(), sw.n_target);
        rep.line("      B, %zu of A, all at the model's %dx%d crop):", sw.n_source, R, R);
        rep.line("      %-34s %11s %11s %14s", "", "cos to B", "cos to A", "closer to B");
        rep.line("      %-34s %11.4f %11.4f %13.1f%%", "swap (masked output, as converted)", sw.mean_cos_target,
                 sw.mean_cos_source, 100 * sw.fraction_closer_to_target);
        rep.line("      %-34s %11.4f %11.4f %13.1f%%", "did nothing (the A input itself)", base.mean_cos_target,
                 base.mean_cos_source, 100 * base.fraction_closer_to_target);
        write_eval_tsv((fsys::path(o.out) / "scores.tsv").string(), sw);
    } else {
        rep.line("demo: no identity scores (the face-api recognition model was not found: faceswap eval --help)");
        std::fprintf(stderr, "demo: %s\n", why.c_str());
    }
    rep.line("demo: time %s (extraction %s, training %s, swap + scores + video %s)", format_duration(since(t0)).c_str(),
             format_duration(t_extract).c_str(), format_duration(t_train).c_str(), format_duration(since(t)).c_str());
    rep.line("demo: wrote %s (rows: input A | swap)%s%s; faces in %s and %s", grid.c_str(), video.empty() ? "" : ", ",
             video.c_str(), dir_in.c_str(), dir_sw.c_str());
    if (!converted.empty()) rep.line("demo: A's footage converted to B: %s (input | result)", converted.c_str());
    rep.line("demo: training previews, losses and the model in %s/model; train on with", o.out.c_str());
    rep.line("      faceswap train --model %s/model --resume --iters 40000 --schedule faithful --gan", o.out.c_str());
    std::ofstream(fsys::path(o.out) / "report.txt") << rep.text.str();
    return 0;
}

}  // namespace

// --- CLI -----------------------------------------------------------------------------------------------------------

int demo_main(const std::vector<std::string>& args) {
    DemoOptions o;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& { return option_value("demo", args, i); };
        if (a == "--help" || a == "-h") {
            std::fputs(k_demo_usage, stdout);
            return 0;
        } else if (a == "--out")
            o.out = value();
        else if (a == "--seed")
            o.seed = uint64_t(parse_integer("demo", a, value()));
        else if (a == "--iters")
            o.iters = parse_integer("demo", a, value());
        else if (a == "--batch")
            o.batch = int(parse_integer("demo", a, value()));
        else if (a == "--faces")
            o.faces = int(parse_integer("demo", a, value()));
        else if (a == "--eval")
            o.eval = int(parse_integer("demo", a, value()));
        else if (a == "--video-frames")
            o.video_frames = int(parse_integer("demo", a, value()));
        else if (a == "--schedule")
            o.schedule = value();
        else if (a == "--perceptual")
            o.perceptual = parse_perceptual_mode(value());
        else if (a == "--threads")
            o.threads = int(parse_integer("demo", a, value()));
        else if (a == "--model")
            o.model_file = value();
        else if (a == "--gan")
            o.gan = true;
        else if (a == "--no-check")
            o.check = false;
        else if (a == "--quick")
            o.quick = true;
        else if (a == "--data")
            o.data = value();
        else if (a == "--aligned")
            o.aligned = true;
        else if (a == "--every")
            o.every = int(parse_integer("demo", a, value()));
        else if (a == "--max-frames")
            o.max_frames = parse_integer("demo", a, value());
        else if (a == "--models")
            set_models_dir(value());
        else
            FS_FAIL("demo: unknown option '", a, "' (see faceswap demo --help)");
    }
    if (o.iters < 0) o.iters = o.quick ? k_quick_iters : k_default_iters;
    if (o.faces < 0) o.faces = o.quick ? 160 : 400;
    if (o.eval < 0) o.eval = o.quick ? 16 : 32;
    if (o.video_frames < 0) o.video_frames = o.quick ? 24 : 96;
    FS_CHECK(o.iters >= 1, "demo: --iters must be >= 1");
    FS_CHECK(o.batch >= 2 && o.batch % 2 == 0 && o.batch <= 64, "demo: --batch must be even, in [2, 64]");
    FS_CHECK(o.faces >= 1 && o.faces <= 100000, "demo: --faces must be in [1, 100000]");
    FS_CHECK(o.eval >= 1 && o.eval <= 10000, "demo: --eval must be in [1, 10000]");
    FS_CHECK(o.video_frames >= 0 && o.video_frames <= 10000, "demo: --video-frames must be in [0, 10000]");
    FS_CHECK(o.every >= 1, "demo: --every must be >= 1");
    FS_CHECK(o.threads >= 0, "demo: --threads must be >= 0");
    Schedule::by_name(o.schedule, o.iters);  // an unknown name fails here, before any work
    FS_CHECK(o.model_file.empty() || fsys::exists(o.model_file), "demo: --model ", o.model_file, " does not exist");
    FS_CHECK(o.data.empty() || o.model_file.empty(),
             "demo: --model scores the synthetic faces; it does not go with "
             "--data");
    FS_CHECK(!o.aligned || !o.data.empty(), "demo: --aligned needs --data DIR");
    return o.data.empty() ? synthetic_demo(o) : data_demo(o);
}

}  // namespace fs
