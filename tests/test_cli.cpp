// test_cli.cpp: the `faceswap` binary as a user runs it: help, model-info, init-model + swap-images, and clear
// errors with exit code 1 (never a crash) on bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "faceswap/synthetic.h"
#include "io/image.h"

using namespace fs;
namespace fsys = std::filesystem;

namespace {

struct Result {
    int rc;
    std::string out;
};

// Runs the built faceswap binary with `args` (stdout and stderr together).
Result run_cli(const std::string& args) {
    std::string cmd = std::string(FS_BINARY_DIR) + "/faceswap " + args + " 2>&1";
    Result r{-1, ""};
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    int status = ::pclose(p);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string fresh_dir(const std::string& name) {
    auto d = fsys::temp_directory_path() / ("fs_cli_" + name);
    fsys::remove_all(d);
    fsys::create_directories(d);
    return d.string();
}

}  // namespace

TEST(Cli, HelpListsTheCommands) {
    Result r = run_cli("--help");
    EXPECT_EQ(r.rc, 0);
    for (const char* c : {"demo", "train", "model-info", "swap-images", "extract", "convert"})
        EXPECT_NE(r.out.find(c), std::string::npos) << c;
    Result bad = run_cli("frobnicate");
    EXPECT_EQ(bad.rc, 2);
    EXPECT_NE(bad.out.find("unknown command"), std::string::npos);
}

TEST(Cli, ModelInfoPrintsTheSpecCounts) {
    Result r = run_cli("model-info --capacity lite");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("10065994"), std::string::npos) << r.out;  // spec §2.5, lite 64 encoder
    EXPECT_NE(r.out.find("415460"), std::string::npos) << r.out;
    Result bad = run_cli("model-info --res 96");
    EXPECT_EQ(bad.rc, 1);
    EXPECT_NE(bad.out.find("--res must be 64, 128 or 256"), std::string::npos) << bad.out;
}

TEST(Cli, InitModelThenSwapImages) {
    std::string d = fresh_dir("swap");
    fsys::create_directories(d + "/in");
    for (int i = 0; i < 2; ++i) {  // two procedural faces at 80 px: swap-images resizes to the model's 64
        FrameParams f;
        f.yaw = 0.1 * i;
        write_png(d + "/in/face" + std::to_string(i) + ".png",
                  tensor_to_image(render_face(identity_a(), f, 80)));
    }
    { std::FILE* junk = std::fopen((d + "/in/broken.png").c_str(), "w"); std::fputs("not a png", junk); std::fclose(junk); }
    Result init = run_cli("init-model " + d + "/m.safetensors --capacity lite");
    ASSERT_EQ(init.rc, 0) << init.out;
    Result sw = run_cli("swap-images " + d + "/m.safetensors " + d + "/in " + d + "/out --direction BtoA");
    EXPECT_EQ(sw.rc, 0) << sw.out;
    EXPECT_NE(sw.out.find("skipping"), std::string::npos) << sw.out;  // the broken file is named, not fatal
    for (int i = 0; i < 2; ++i) {
        Image img = read_image(d + "/out/face" + std::to_string(i) + ".png");
        EXPECT_EQ(img.width, 64);
        EXPECT_EQ(img.height, 64);
    }
    Result missing = run_cli("swap-images " + d + "/nope.safetensors " + d + "/in " + d + "/out");
    EXPECT_EQ(missing.rc, 1);
    EXPECT_NE(missing.out.find("nope.safetensors"), std::string::npos) << missing.out;
    fsys::remove_all(d);
}

TEST(Cli, ConvertHelpAndErrors) {
    Result help = run_cli("convert --help");
    EXPECT_EQ(help.rc, 0);
    for (const char* o : {"usage: faceswap convert MODEL INPUT OUTPUT", "--detect-every", "--smoothing", "--kf-noise",
                          "--roi-coverage", "--color", "--enhance", "--output-type", "--start", "--end"})
        EXPECT_NE(help.out.find(o), std::string::npos) << o;
    Result usage = run_cli("convert only-one-argument");
    EXPECT_EQ(usage.rc, 2);
    std::string d = fresh_dir("convert");
    Result missing = run_cli("convert " + d + "/none.safetensors " + d + " " + d + "/out.mp4");
    EXPECT_EQ(missing.rc, 1);
    EXPECT_NE(missing.out.find("none.safetensors"), std::string::npos) << missing.out;
    Result bad = run_cli("convert m in out --direction sideways");
    EXPECT_EQ(bad.rc, 1);
    EXPECT_NE(bad.out.find("AtoB or BtoA"), std::string::npos) << bad.out;
    fsys::remove_all(d);
}
