// test_cli.cpp: the `faceswap` binary as a user runs it: help, model-info, init-model + swap-images, masks, and clear
// errors with exit code 1 (never a crash) on bad input.
#include <gtest/gtest.h>

#include "faceswap/align.h"

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "faceswap/augment.h"
#include "faceswap/synthetic.h"
#include "io/image.h"
#include "testdata.h"

using namespace fs;
namespace fsys = std::filesystem;

namespace {


std::string fresh_dir(const std::string& name) {
    auto d = fsys::temp_directory_path() / ("fs_cli_" + name);
    fsys::remove_all(d);
    fsys::create_directories(d);
    return d.string();
}

}  // namespace

TEST(Cli, HelpListsTheCommands) {
    CliResult r = run_cli("--help");
    EXPECT_EQ(r.rc, 0);
    for (const char* c : {"demo", "train", "model-info", "swap-images", "masks", "eval", "extract", "convert"})
        EXPECT_NE(r.out.find(c), std::string::npos) << c;
    CliResult bad = run_cli("frobnicate");
    EXPECT_EQ(bad.rc, 2);
    EXPECT_NE(bad.out.find("unknown command"), std::string::npos);
}

TEST(Cli, ModelInfoPrintsTheSpecCounts) {
    CliResult r = run_cli("model-info --capacity lite");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("10065994"), std::string::npos) << r.out;  // spec §2.5, lite 64 encoder
    EXPECT_NE(r.out.find("415460"), std::string::npos) << r.out;
    CliResult bad = run_cli("model-info --res 96");
    EXPECT_EQ(bad.rc, 1);
    EXPECT_NE(bad.out.find("--res must be 64, 128 or 256"), std::string::npos) << bad.out;
}

TEST(Cli, TrainRejectsABadCacheSize) {
    CliResult r = run_cli("train --synthetic --cache-mb -5 --iters 1");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("--cache-mb must be"), std::string::npos) << r.out;
    CliResult help = run_cli("train --help");
    EXPECT_NE(help.out.find("--cache-mb N"), std::string::npos) << help.out;
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
    CliResult init = run_cli("init-model " + d + "/m.safetensors --capacity lite");
    ASSERT_EQ(init.rc, 0) << init.out;
    CliResult sw = run_cli("swap-images " + d + "/m.safetensors " + d + "/in " + d + "/out --direction BtoA");
    EXPECT_EQ(sw.rc, 0) << sw.out;
    EXPECT_NE(sw.out.find("skipping"), std::string::npos) << sw.out;  // the broken file is named, not fatal
    for (int i = 0; i < 2; ++i) {
        Image img = read_image(d + "/out/face" + std::to_string(i) + ".png");
        EXPECT_EQ(img.width, 64);
        EXPECT_EQ(img.height, 64);
    }
    CliResult missing = run_cli("swap-images " + d + "/nope.safetensors " + d + "/in " + d + "/out");
    EXPECT_EQ(missing.rc, 1);
    EXPECT_NE(missing.out.find("nope.safetensors"), std::string::npos) << missing.out;
    fsys::remove_all(d);
}

// --- faceswap masks ---------------------------------------------------------------------------------------------

namespace {

// Writes aligned faces as extraction makes them: frames of a shared sequence warped by the similarity that puts
// the reference 5 points (mtcnn_reference.tsv, 1-based) on spec §7.2's template at 256×256. Frames 1, 41, 81, ...
// (face 0 only); the first `n_jpg` as .jpg, the rest as .png. Returns the file names.
std::vector<std::string> write_aligned_faces(const std::string& seq, const std::string& out, int n, int n_jpg) {
    std::ifstream in(seq + "/mtcnn_reference.tsv");
    std::string line;
    std::getline(in, line);  // header: frame face x1 y1 x2 y2 score leye_x leye_y reye_x reye_y nose_x nose_y ...
    double tmpl[5][2];
    for (size_t k = 0; k < 5; ++k) tmpl[k][0] = fs::k_face_template[k].x, tmpl[k][1] = fs::k_face_template[k].y;
    std::vector<Point2> dst;
    for (const auto& t : tmpl) dst.push_back({t[0] * 256, t[1] * 256});
    std::vector<std::string> names;
    for (int row = 0; std::getline(in, line) && int(names.size()) < n; ++row) {
        std::stringstream ss(line);
        std::string frame, cell;
        std::vector<double> v;
        std::getline(ss, frame, '\t');
        while (std::getline(ss, cell, '\t')) v.push_back(std::stod(cell));
        if (row % 40 != 0 || v.size() < 16 || v[0] != 0) continue;
        std::vector<Point2> src;
        for (int k = 0; k < 5; ++k) src.push_back({v[size_t(6 + 2 * k)] - 1, v[size_t(7 + 2 * k)] - 1});
        const ImageF img = image_to_bgr_f(read_image(seq + "/img/" + frame, 3));
        const ImageF face = warp_affine(img, umeyama(src, dst, true), 256, 256, Border::replicate);
        std::string name = fsys::path(frame).stem().string() + (int(names.size()) < n_jpg ? ".jpg" : ".png");
        write_image(out + "/" + name, bgr_f_to_image(face));
        names.push_back(name);
    }
    return names;
}

}  // namespace

TEST(Cli, MasksDrawsEyeMasksForAlignedFaces) {
    FS_REQUIRE_DATA();
    std::string d = fresh_dir("masks");
    fsys::create_directories(d + "/faces");
    std::vector<std::string> names =
        write_aligned_faces(shared_data_dir() + "/sequences/lp_d9_man_glasses", d + "/faces", 3, 1);
    ASSERT_EQ(names.size(), 3u);
    {
        std::FILE* junk = std::fopen((d + "/faces/broken.png").c_str(), "w");
        std::fputs("not a png", junk);
        std::fclose(junk);
    }
    CliResult r = run_cli("masks " + d + "/faces " + d + "/masks");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("skipping"), std::string::npos) << r.out;  // the broken file is named, not fatal
    EXPECT_NE(r.out.find("wrote 3 masks"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("skipped 1 unreadable image"), std::string::npos) << r.out;
    EXPECT_FALSE(fsys::exists(d + "/masks/broken.png"));
    for (const std::string& n : names) {
        // Same name and extension; grey (a PNG stores 1 channel; stb's JPEG writer always stores 3 equal ones).
        if (fsys::path(n).extension() == ".png") {
            EXPECT_EQ(read_image(d + "/masks/" + n, 0).channels, 1) << n;
        }
        Image m = read_image(d + "/masks/" + n, 1);
        ASSERT_EQ(m.width, 256);
        ASSERT_EQ(m.height, 256);
        auto at = [&](int x, int y) { return int(m.pixels[size_t(y * 256 + x)]); };
        // The template's eye centres, (83.4, 80.2) and (185.0, 79.6), lie inside the filled and dilated hulls.
        // (Some tolerance for the JPEG one: 8-bit JPEG at quality 95 moves flat 255 regions by a few levels.)
        EXPECT_GE(at(83, 80), 240) << n;
        EXPECT_GE(at(185, 80), 240) << n;
        // The mask covers the eyes and little else: nothing below the nose (y >= 140: mouth, chin), nothing in
        // the corners, and lit area between 1 % and 15 % of the image (two dilated eyes are about 6 %).
        int lit = 0, lit_low = 0;
        for (int y = 0; y < 256; ++y)
            for (int x = 0; x < 256; ++x) {
                const bool on = at(x, y) > 16;  // above JPEG ringing
                lit += on;
                if (y >= 140) lit_low += on;
            }
        EXPECT_EQ(lit_low, 0) << n;
        EXPECT_GT(lit, 256 * 256 / 100) << n;
        EXPECT_LT(lit, 256 * 256 * 15 / 100) << n;
        EXPECT_LE(at(5, 5) + at(250, 5) + at(5, 250) + at(250, 250), 16) << n;
    }
    // Errors: a missing input folder, a missing argument, an unknown option; --help.
    CliResult missing = run_cli("masks " + d + "/nope " + d + "/out");
    EXPECT_EQ(missing.rc, 1);
    EXPECT_NE(missing.out.find("does not exist"), std::string::npos) << missing.out;
    EXPECT_EQ(run_cli("masks " + d + "/faces").rc, 2);
    CliResult bad = run_cli("masks " + d + "/faces " + d + "/out --frobnicate");
    EXPECT_EQ(bad.rc, 1);
    EXPECT_NE(bad.out.find("unknown option"), std::string::npos) << bad.out;
    CliResult help = run_cli("masks --help");
    EXPECT_EQ(help.rc, 0);
    EXPECT_NE(help.out.find("--models"), std::string::npos) << help.out;
    fsys::remove_all(d);
}

TEST(Cli, ConvertHelpAndErrors) {
    CliResult help = run_cli("convert --help");
    EXPECT_EQ(help.rc, 0);
    for (const char* o : {"usage: faceswap convert MODEL INPUT OUTPUT", "--detect-every", "--smoothing", "--kf-noise",
                          "--roi-coverage", "--color", "--enhance", "--output-type", "--start", "--end"})
        EXPECT_NE(help.out.find(o), std::string::npos) << o;
    CliResult usage = run_cli("convert only-one-argument");
    EXPECT_EQ(usage.rc, 2);
    std::string d = fresh_dir("convert");
    CliResult missing = run_cli("convert " + d + "/none.safetensors " + d + " " + d + "/out.mp4");
    EXPECT_EQ(missing.rc, 1);
    EXPECT_NE(missing.out.find("none.safetensors"), std::string::npos) << missing.out;
    CliResult bad = run_cli("convert m in out --direction sideways");
    EXPECT_EQ(bad.rc, 1);
    EXPECT_NE(bad.out.find("AtoB or BtoA"), std::string::npos) << bad.out;
    fsys::remove_all(d);
}
