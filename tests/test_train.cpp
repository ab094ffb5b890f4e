// test_train.cpp: the training loop around GanTrainer: losses fall, --resume is exact, Ctrl-C saves and exits,
// and the files a user relies on are written.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "faceswap/train.h"

using namespace fs;
namespace fsys = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
    auto d = fsys::temp_directory_path() /
             ("fs_train_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" + name);
    fsys::remove_all(d);
    return d.string();
}

TrainConfig small_config(const std::string& dir, int64_t iters) {
    TrainConfig c;
    c.synthetic = true;
    c.model.capacity = Capacity::lite;
    c.model.res = 64;
    c.batch = 2;
    c.iters = iters;
    c.model_dir = dir;
    c.save_every = 2;
    c.preview_every = 2;
    // The loop tests run without the perceptual loss, so they do not depend on the face-api model file; the
    // real-faces test below runs with it.
    c.perceptual = PerceptualMode::off;
    return c;
}

int run(const TrainConfig& c, bool resume) {
    auto a = make_synthetic_source(false, c.model.res, c.batch, c.seed);
    auto b = make_synthetic_source(true, c.model.res, c.batch, c.seed);
    return run_training(c, resume, *a, *b);
}

std::vector<std::vector<double>> read_csv(const std::string& path) {
    std::vector<std::vector<double>> rows;
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
        std::vector<double> r;
        std::stringstream ls(line);
        std::string cell;
        while (std::getline(ls, cell, ',')) r.push_back(std::stod(cell));
        rows.push_back(r);
    }
    return rows;
}

}  // namespace

TEST(Train, WritesItsFilesAndTheGeneratorLossFalls) {
#ifdef FS_SANITIZE_BUILD
    GTEST_SKIP() << "skipped in the sanitizer build: 20 training iterations are slow there; the release build runs it";
#endif
    std::string dir = fresh_dir("a");
    TrainConfig c = small_config(dir, 20);
    c.preview_every = 10;
    c.save_every = 10;
    ASSERT_EQ(run(c, false), 0);
    for (const char* f : {"train.cfg", "checkpoint.safetensors", "model.safetensors", "losses.csv", "loss_curve.png",
                          "preview.png"})
        EXPECT_TRUE(fsys::exists(dir + "/" + f)) << f;
    auto rows = read_csv(dir + "/losses.csv");
    ASSERT_EQ(rows.size(), 20u);
    // columns: iter, phase, d_a, d_b, g_a, g_b, g_a_adv, g_a_recon, ...; the reconstruction terms of both
    // generators, first five iterations against the last five
    auto recon = [&](size_t i) { return rows[i][7] + rows[i][14]; };
    double first = 0, last = 0;
    for (size_t i = 0; i < 5; ++i) first += recon(i), last += recon(rows.size() - 1 - i);
    EXPECT_LT(last, first * 0.95) << "reconstruction loss did not fall: " << first / 5 << " -> " << last / 5;
    fsys::remove_all(dir);
}

TEST(Train, ResumeContinuesExactly) {
    std::string straight = fresh_dir("straight"), split = fresh_dir("split");
    ASSERT_EQ(run(small_config(straight, 4), false), 0);
    TrainConfig first = small_config(split, 4);  // the same run (same total: the schedule depends on it) ...
    first.stop_after = 2;                         // ... ended after two iterations, then resumed
    ASSERT_EQ(run(first, false), 0);
    ASSERT_EQ(run(small_config(split, 4), true), 0);
    FaceSwapModel a = load_model(straight + "/model.safetensors"), b = load_model(split + "/model.safetensors");
    NamedTensors ta = a.named_tensors(), tb = b.named_tensors();
    ASSERT_EQ(ta.size(), tb.size());
    for (size_t i = 0; i < ta.size(); ++i) ASSERT_EQ(max_abs_diff(ta[i].second, tb[i].second), 0.0) << ta[i].first;
    EXPECT_EQ(read_csv(split + "/losses.csv").size(), 4u);  // the resumed run appended to the same log
    fsys::remove_all(straight);
    fsys::remove_all(split);
}

TEST(Train, InterruptSavesAndExitsCleanly) {
    std::string dir = fresh_dir("int");
    TrainConfig c = small_config(dir, 1000);
    c.save_every = 1000;
    std::thread killer([&] {
        // wait until the first iteration is logged, then deliver Ctrl-C to this process
        for (int i = 0; i < 6000; ++i) {
            if (fsys::exists(dir + "/losses.csv") && read_csv(dir + "/losses.csv").size() >= 1) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ::kill(::getpid(), SIGINT);
    });
    int rc = run(c, false);
    killer.join();
    EXPECT_EQ(rc, 0);
    ASSERT_TRUE(fsys::exists(dir + "/checkpoint.safetensors"));
    GanTrainer t(c.model, Schedule::faithful(1000), GanOptions{}, 1);
    t.load_checkpoint(dir + "/checkpoint.safetensors");
    EXPECT_GE(t.iteration(), 1);
    EXPECT_LT(t.iteration(), 1000);
    fsys::remove_all(dir);
}

TEST(Train, RefusesToOverwriteOrResumeNothing) {
    std::string dir = fresh_dir("x");
    TrainConfig c = small_config(dir, 2);
    EXPECT_THROW(run(c, true), Error);  // nothing to resume
    ASSERT_EQ(run(c, false), 0);
    EXPECT_THROW(run(c, false), Error);  // a checkpoint is there: must say --resume
    TrainConfig bad = c;
    bad.batch = 3;
    EXPECT_THROW(run(bad, false), Error);
    fsys::remove_all(dir);
}

TEST(Train, ConfigFileRoundTrip) {
    std::string dir = fresh_dir("cfg");
    fsys::create_directories(dir);
    TrainConfig c = small_config(dir, 123);
    c.model.norm = NormKind::hybrid;
    c.schedule = "colab";
    c.cache_mb = 77;
    save_train_config(dir + "/train.cfg", c);
    TrainConfig back;
    load_train_config(dir + "/train.cfg", back);
    EXPECT_EQ(back.iters, 123);
    EXPECT_EQ(back.cache_mb, 77);
    EXPECT_EQ(back.model.norm, NormKind::hybrid);
    EXPECT_EQ(back.schedule, "colab");
    EXPECT_TRUE(back.synthetic);
    std::ofstream(dir + "/bad.cfg") << "batch = eight\n";
    EXPECT_THROW(load_train_config(dir + "/bad.cfg", back), Error);
    std::ofstream(dir + "/bad2.cfg") << "learning_rate = 1\n";
    EXPECT_THROW(load_train_config(dir + "/bad2.cfg", back), Error);
    fsys::remove_all(dir);
}

#include "testdata.h"

TEST(Train, TwentyIterationsOnRealFacesTheLossesFall) {
    FS_REQUIRE_DATA();
#ifdef FS_SANITIZE_BUILD
    GTEST_SKIP() << "skipped in the sanitizer build: 20 training iterations are slow there; the release build runs it";
#endif
    // Faces cut from two shared sequences with the reference MTCNN boxes (extraction is its own issue).
    std::string root = fresh_dir("real");
    std::string seq = shared_data_dir() + "/sequences/";
    ASSERT_GT(crop_reference_faces(seq + "lp_d6_woman_bun", root + "/faceA", 24), 0);
    ASSERT_GT(crop_reference_faces(seq + "lp_d9_man_glasses", root + "/faceB", 24), 0);
    TrainConfig c = small_config(root + "/model", 20);
    c.synthetic = false;
    c.a_dir = root + "/faceA";
    c.b_dir = root + "/faceB";
    c.preview_every = 10;
    c.save_every = 10;
    c.perceptual = PerceptualMode::on;  // the model file is in the shared data folder
    auto a = make_folder_source(c, false), b = make_folder_source(c, true);
    ASSERT_EQ(run_training(c, false, *a, *b), 0);
    auto rows = read_csv(root + "/model/losses.csv");
    ASSERT_EQ(rows.size(), 20u);
    // the reconstruction terms of both generators (columns 7 and 14), first five iterations against the last five
    auto recon = [&](size_t i) { return rows[i][7] + rows[i][14]; };
    double first = 0, last = 0;
    for (size_t i = 0; i < 5; ++i) first += recon(i), last += recon(rows.size() - 1 - i);
    EXPECT_LT(last, first * 0.95) << "reconstruction loss did not fall: " << first / 5 << " -> " << last / 5;
    // and the discriminators' losses leave their start (they learn)
    EXPECT_NE(rows.front()[2], rows.back()[2]);
    // the perceptual terms (columns 9 and 16): 0 in the first phase, positive once the schedule turns them on
    const int64_t pl_start = Schedule::by_name(c.schedule, c.iters, c.preview_every).start(1);
    for (const auto& r : rows) {
        const bool on = int64_t(r[0]) > pl_start;  // row r[0] is the iteration count after the step
        EXPECT_EQ(r[9] > 0 && r[16] > 0, on) << "iteration " << r[0];
    }
    EXPECT_TRUE(fsys::exists(root + "/model/preview.png"));
    fsys::remove_all(root);
}
