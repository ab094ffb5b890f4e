// test_demo.cpp: the pieces of `faceswap demo` (tools/demo.h) and a very short run of the command: the crop the
// model sees, the ground-truth pairing (the same frame drawn for A and B differs only in the person), the
// video's smooth path, and the files and numbers a run leaves.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "faceswap/eval.h"
#include "io/video.h"
#include "testdata.h"
#include "tools/demo.h"

using namespace fs;
namespace fsys = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
    auto d = fsys::temp_directory_path() / ("fs_demo_" + name + "_" + std::to_string(::getpid()));
    fsys::remove_all(d);
    return d.string();
}

}  // namespace

TEST(Demo, ModelCropIsTheTrainersTargetRegion) {
    // A horizontal ramp v = x: bilinear sampling reproduces a linear function exactly, so the crop's column j
    // must hold the source position 40.5 + j·175/64 (the warp grid's corners 128 ± 87.5 at columns 0 and 64).
    ImageF ramp(256, 256, 3);
    for (int y = 0; y < 256; ++y)
        for (int x = 0; x < 256; ++x)
            for (int c = 0; c < 3; ++c) ramp.at(y, x, c) = float(x) * 0.9f;  // stays below 255
    ImageF crop = demo_model_crop(ramp, 64);
    ASSERT_EQ(crop.h, 64);
    ASSERT_EQ(crop.w, 64);
    for (int j : {0, 1, 31, 63}) {
        const double want = 0.9 * (40.5 + j * 175.0 / 64.0);
        EXPECT_NEAR(crop.at(10, j, 1), want, 0.5 + 1e-6) << j;  // the crop is rounded to 8-bit values
    }
    EXPECT_THROW(demo_model_crop(ImageF(128, 128, 3), 64), Error);
}

TEST(Demo, GroundTruthPairsTheSameFrame) {
    std::mt19937_64 rng(7);
    FrameParams f = random_frame(rng), g = random_frame(rng);
    g.background[0] = f.background[0], g.background[1] = f.background[1], g.background[2] = f.background[2];
    const ImageF a_f = demo_model_crop(demo_render_aligned(identity_a(), f), 64);
    const ImageF b_f = demo_model_crop(demo_render_aligned(identity_b(), f), 64);
    const ImageF b_f2 = demo_model_crop(demo_render_aligned(identity_b(), f), 64);
    const ImageF b_g = demo_model_crop(demo_render_aligned(identity_b(), g), 64);
    // The truth is reproducible: the same frame and person render identically.
    EXPECT_TRUE(std::isinf(psnr(b_f, b_f2)));
    EXPECT_DOUBLE_EQ(ssim(b_f, b_f2), 1.0);
    // The baseline pair (A and B in one frame) differs: the people are not the same...
    const double base_psnr = psnr(a_f, b_f), base_ssim = ssim(a_f, b_f);
    EXPECT_LT(base_psnr, 25.0);  // skin, hair and features differ over much of the crop
    EXPECT_LT(base_ssim, 0.9);
    // ...but only in the person: the background (the crop's top corners, outside face and hair) is identical...
    for (int y = 0; y < 3; ++y)
        for (int x : {0, 1, 2, 61, 62, 63})
            for (int c = 0; c < 3; ++c) EXPECT_EQ(a_f.at(y, x, c), b_f.at(y, x, c)) << y << "," << x;
    // ...and the same frame of B is a closer truth for A's frame than B in another pose and expression.
    EXPECT_GT(base_psnr, psnr(a_f, b_g));
    EXPECT_GT(base_ssim, ssim(a_f, b_g));
}

TEST(Demo, VideoPathIsSmoothAndLoops) {
    const int n = 48;
    FrameParams first = demo_video_frame(0, n, 3);
    for (int k = 1; k < n; ++k) {
        FrameParams p = demo_video_frame(k - 1, n, 3), q = demo_video_frame(k, n, 3);
        // the steepest path (gaze_x: 0.9·sin(4πt)) moves 0.9·4π/48 ≈ 0.24 per frame; blinks 1/(0.05·48) ≈ 0.42
        EXPECT_LT(std::fabs(q.yaw - p.yaw), 0.05) << k;
        EXPECT_LT(std::fabs(q.gaze_x - p.gaze_x), 0.25) << k;
        EXPECT_LT(std::fabs(q.blink - p.blink), 0.45) << k;
        EXPECT_EQ(q.background[0], first.background[0]);
    }
    // it closes its eyes at some point, opens its mouth at some point, and turns both ways
    double max_blink = 0, max_mouth = 0, min_yaw = 0, max_yaw = 0;
    for (int k = 0; k < n; ++k) {
        FrameParams p = demo_video_frame(k, n, 3);
        max_blink = std::max(max_blink, p.blink), max_mouth = std::max(max_mouth, p.mouth_open);
        min_yaw = std::min(min_yaw, p.yaw), max_yaw = std::max(max_yaw, p.yaw);
    }
    EXPECT_GT(max_blink, 0.8);
    EXPECT_GT(max_mouth, 0.8);
    EXPECT_LT(min_yaw, -0.15);
    EXPECT_GT(max_yaw, 0.15);
    EXPECT_THROW(demo_video_frame(n, n, 3), Error);
}

TEST(Demo, ScoresOfAnUntrainedModelAndTheBaseline) {
    // The swap path end to end without training: shapes, the truth attached, and the baseline scored as the
    // input against the truth.
    ModelConfig cfg;
    cfg.capacity = Capacity::lite;
    FaceSwapModel m(cfg);
    std::vector<FrameParams> frames;
    std::mt19937_64 rng(11);
    for (int i = 0; i < 2; ++i) frames.push_back(random_frame(rng));
    std::vector<DemoSwap> s = demo_swap_frames(m, frames);
    ASSERT_EQ(s.size(), 2u);
    for (const DemoSwap& d : s) {
        EXPECT_EQ(d.swap.h, 64);
        EXPECT_EQ(d.raw.w, 64);
        EXPECT_EQ(d.truth.c, 3);
    }
    DemoScores sc = score_swaps(s);
    EXPECT_EQ(sc.baseline.n, 2);
    EXPECT_NEAR(sc.baseline.psnr(), (psnr(s[0].input, s[0].truth) + psnr(s[1].input, s[1].truth)) / 2, 1e-12);
    // an untrained decoder draws noise: far from the truth
    EXPECT_LT(sc.raw.psnr(), sc.baseline.psnr());
}

TEST(Demo, ShortRunWritesItsFilesAndPrintsTheScores) {
#ifdef FS_SANITIZE_BUILD
    const std::string size = "--iters 1 --faces 4 --eval 2 --video-frames 2";  // one slow iteration under ASan
#else
    const std::string size = "--iters 2 --faces 8 --eval 4 --video-frames 6";
#endif
    const std::string out = fresh_dir("run");
    CliResult r = run_cli("demo --out " + out + " " + size + " --no-check");
    ASSERT_EQ(r.rc, 0) << r.out;
    for (const char* f : {"faceA/0000.png", "faceB/0000.png", "model/model.safetensors", "model/preview.png",
                          "model/losses.csv", "swap_grid.png", "scores.tsv", "report.txt"})
        EXPECT_TRUE(fsys::exists(out + "/" + f)) << f;
    ASSERT_TRUE(fsys::exists(out + "/demo.mp4") || fsys::exists(out + "/demo.avi"));
    {
        // the video decodes, one frame per --video-frames, three 128-px panels with 2-px gaps
        auto video = open_frames(fsys::exists(out + "/demo.mp4") ? out + "/demo.mp4" : out + "/demo.avi");
        EXPECT_EQ(video->width(), 3 * 128 + 2 * 2);
        EXPECT_EQ(video->height(), 128);
        Image f;
        int frames = 0;
        while (video->read(f)) ++frames;
        EXPECT_EQ(frames, std::string(size).find("--video-frames 2") != std::string::npos ? 2 : 6);
    }
    for (const char* s : {"PSNR", "SSIM", "swap (masked output", "did nothing", "the swap"})
        EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
    // The table's baseline row carries two numbers: PSNR (dB, finite: A and B differ) and SSIM (at most 1).
    // (parsed by hand: std::regex trips GCC 12's -Wmaybe-uninitialized in the sanitizer build)
    const std::string row = "did nothing (the A input itself)";
    const size_t at = r.out.find(row);
    ASSERT_NE(at, std::string::npos) << r.out;
    double base_psnr = 0, base_ssim = 0;
    ASSERT_EQ(std::sscanf(r.out.c_str() + at + row.size(), "%lf %lf", &base_psnr, &base_ssim), 2) << r.out;
    EXPECT_GT(base_psnr, 5.0);  // loose sanity bounds around the ~12 dB a default run measures for A against B
    EXPECT_LT(base_psnr, 40.0);
    EXPECT_GT(base_ssim, 0.0);
    EXPECT_LE(base_ssim, 1.0);
    {
        std::ifstream tsv(out + "/scores.tsv");
        std::string line;
        int rows = 0;
        while (std::getline(tsv, line)) ++rows;
        EXPECT_EQ(rows, 1 + (std::string(size).find("--eval 2") != std::string::npos ? 2 : 4));  // header + faces
    }
    std::ifstream rep(out + "/report.txt");
    std::stringstream text;
    text << rep.rdbuf();
    EXPECT_NE(text.str().find("did nothing"), std::string::npos);

    // A second run into the same folder replaces the first; a folder of someone else's files is refused.
    CliResult again = run_cli("demo --out " + out + " --model " + out +
                           "/model/model.safetensors --eval 2 "
                           "--video-frames 0 --no-check");
    EXPECT_EQ(again.rc, 0) << again.out;
    EXPECT_FALSE(fsys::exists(out + "/faceA"));  // scoring a given model draws no training faces
    const std::string other = fresh_dir("other");
    fsys::create_directories(other);
    std::ofstream(other + "/mine.txt") << "x";
    CliResult refused = run_cli("demo --out " + other + " --iters 1");
    EXPECT_EQ(refused.rc, 1);
    EXPECT_NE(refused.out.find("earlier demo did not write"), std::string::npos) << refused.out;
    EXPECT_TRUE(fsys::exists(other + "/mine.txt"));
    fsys::remove_all(out);
    fsys::remove_all(other);
}

TEST(Demo, ClearErrorsAndHelp) {
    CliResult help = run_cli("demo --help");
    EXPECT_EQ(help.rc, 0);
    for (const char* s : {"--data", "--quick", "--iters", "PSNR", "SSIM", "baseline"})
        EXPECT_NE(help.out.find(s), std::string::npos) << s;
    CliResult odd = run_cli("demo --batch 3");
    EXPECT_EQ(odd.rc, 1);
    EXPECT_NE(odd.out.find("--batch must be even"), std::string::npos) << odd.out;
    CliResult bad = run_cli("demo --frobnicate");
    EXPECT_EQ(bad.rc, 1);
    EXPECT_NE(bad.out.find("unknown option"), std::string::npos) << bad.out;
    CliResult sched = run_cli("demo --schedule nope");
    EXPECT_EQ(sched.rc, 1);
    EXPECT_NE(sched.out.find("unknown schedule"), std::string::npos) << sched.out;
    const std::string empty = fresh_dir("nodata");
    fsys::create_directories(empty);
    CliResult nodata = run_cli("demo --data " + empty + " --out " + empty + "/out");
    EXPECT_EQ(nodata.rc, 1);
    EXPECT_NE(nodata.out.find("for person A"), std::string::npos) << nodata.out;
    fsys::remove_all(empty);
}

TEST(Demo, DataModeExtractsTrainsAndSwaps) {
    FS_REQUIRE_DATA();
#ifdef FS_SANITIZE_BUILD
    GTEST_SKIP() << "skipped in the sanitizer build: MTCNN over 12 frames plus a training step are slow there; the "
                    "release build runs it";
#endif
    // Person A as a video file (DIR/A.mp4), person B as a folder of frames (DIR/B/): both go through extraction.
    const std::string root = fresh_dir("data"), seq = shared_data_dir() + "/sequences/";
    fsys::create_directories(root + "/in");
    fsys::create_symlink(seq + "lp_d9_man_glasses/source_d9.mp4", root + "/in/A.mp4");
    fsys::create_directory_symlink(seq + "lp_d14_woman_asian/img", root + "/in/B");
    CliResult r = run_cli("demo --data " + root + "/in --out " + root +
                       "/out --max-frames 6 --iters 1 --eval 4 "
                       "--video-frames 4");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_GE(list_face_images(root + "/out/extract_A/aligned").size(), 5u) << r.out;  // a face in (nearly) every frame
    EXPECT_GE(list_face_images(root + "/out/extract_B/aligned").size(), 5u) << r.out;
    EXPECT_EQ(list_face_images(root + "/out/swap_AtoB").size(), 4u);
    EXPECT_EQ(list_face_images(root + "/out/swap_input").size(), 4u);
    EXPECT_TRUE(fsys::exists(root + "/out/swap_grid.png"));
    {
        // A's video went through `faceswap convert`: 6 frames, input | result side by side
        auto conv = open_frames(root + "/out/converted.mp4");
        auto src = open_frames(root + "/in/A.mp4");
        EXPECT_EQ(conv->width(), 2 * src->width());
        Image f;
        int frames = 0;
        while (conv->read(f)) ++frames;
        EXPECT_EQ(frames, 6);
    }
    // The shared data holds the face-api model, so the identity scores are there, for the swap and the input.
    EXPECT_NE(r.out.find("cos to B"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("did nothing"), std::string::npos) << r.out;
    fsys::remove_all(root);
}
