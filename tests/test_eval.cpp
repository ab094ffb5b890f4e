// test_eval.cpp: `faceswap eval` on the dlib "johns" chips: faces of John Savage score as Savage (target) rather
// than Salley (source), swapping the roles flips the verdict, the TSV and the CLI work, and bad input gives
// clear errors.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "faceswap/eval.h"
#include "testdata.h"

using namespace fs;
namespace fsys = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
    auto d = fsys::temp_directory_path() / ("fs_eval_" + name);
    fsys::remove_all(d);
    fsys::create_directories(d);
    return d.string();
}

// Copies files [begin, end) of a johns identity folder (sorted) into dst.
void copy_chips(const std::string& who, size_t begin, size_t end, const std::string& dst) {
    std::vector<std::string> f = list_face_images(shared_data_dir() + "/stills/dlib_johns/" + who);
    ASSERT_GE(f.size(), end) << who;
    for (size_t i = begin; i < end; ++i) fsys::copy_file(f[i], dst + "/" + fsys::path(f[i]).filename().string());
}


}  // namespace

TEST(Eval, SavageFacesReadAsSavageNotSalley) {
    FS_REQUIRE_DATA();
    // converted = 5 Savage chips; target = the other 6 Savage chips; source = 6 Salley chips.
    const std::string root = fresh_dir("johns");
    for (const char* d : {"/conv", "/savage", "/salley"}) fsys::create_directories(root + d);
    copy_chips("John_Savage", 0, 5, root + "/conv");
    copy_chips("John_Savage", 5, 11, root + "/savage");
    copy_chips("John_Salley", 0, 6, root + "/salley");
    FaceRecognitionNet net(shared_data_dir() + "/faceapi/face_recognition_model-weights_manifest.json");
    EvalReport r = evaluate_identity(net, root + "/conv", root + "/savage", root + "/salley");
    ASSERT_EQ(r.frames.size(), 5u);
    EXPECT_EQ(r.n_target, 6u);
    EXPECT_EQ(r.n_source, 6u);
    EXPECT_TRUE(r.skipped.empty());
    EXPECT_EQ(r.fraction_closer_to_target, 1.0);
    EXPECT_GT(r.mean_cos_target, r.mean_cos_source);
    for (const EvalFrame& f : r.frames) {
        // Same person: distance to the mean below face-api's 0.6 threshold; different person above it.
        EXPECT_LT(f.dist_target, 0.6) << f.name;
        EXPECT_GT(f.dist_source, 0.6) << f.name;
    }
    std::printf("[ eval     ] Savage vs Salley: mean cosine to target %.4f, to source %.4f, closer to target %.2f\n",
                r.mean_cos_target, r.mean_cos_source, r.fraction_closer_to_target);
    // Roles swapped: the same faces are now all closer to the "source".
    EvalReport s = evaluate_identity(net, root + "/conv", root + "/salley", root + "/savage");
    EXPECT_EQ(s.fraction_closer_to_target, 0.0);
    EXPECT_DOUBLE_EQ(s.mean_cos_target, r.mean_cos_source);
    // The TSV has a header and one line per frame.
    write_eval_tsv(root + "/out.tsv", r);
    std::ifstream f(root + "/out.tsv");
    std::string line;
    int lines = 0;
    std::getline(f, line);
    EXPECT_EQ(line, "frame\tcos_target\tcos_source\tdist_target\tdist_source\tcloser_to");
    while (std::getline(f, line)) {
        ++lines;
        EXPECT_NE(line.find("\ttarget"), std::string::npos) << line;
    }
    EXPECT_EQ(lines, 5);
    fsys::remove_all(root);
}

TEST(Eval, NonSquareFacesArePaddedToASquare) {
    FS_REQUIRE_DATA();
    // A 150×150 chip cropped to 150×120 (rows 15..134) is padded back to 150×150 with black rows at the top and
    // bottom: the centre rows keep their place, so the input equals the chip with its top/bottom 15 rows black.
    const std::string root = fresh_dir("pad");
    const std::string chip = list_face_images(shared_data_dir() + "/stills/dlib_johns/John_Savage")[0];
    Image img = read_image(chip, 3);
    Image crop = img;
    crop.height = 120;
    crop.pixels.assign(img.pixels.begin() + 15 * 150 * 3, img.pixels.begin() + 135 * 150 * 3);
    write_png(root + "/crop.png", crop);
    Tensor t = load_face_for_recognition(root + "/crop.png");
    ASSERT_EQ(t.shape(), (Shape{1, 3, 150, 150}));
    EXPECT_NEAR(t.at({0, 0, 5, 75}), 0.0, 1e-3);  // padding: black (RGB 0); 1e-3: f32 of (−1 + 1)·127.5
    // channel 0 is R: the chip's pixel (row 40, col 75) sits at the same place; 1e-3 covers the f32 round trip
    EXPECT_NEAR(t.at({0, 0, 40, 75}), double(img.pixels[(40 * 150 + 75) * 3 + 0]), 1e-3);
    EXPECT_NEAR(t.at({0, 2, 100, 30}), double(img.pixels[(100 * 150 + 30) * 3 + 2]), 1e-3);
    fsys::remove_all(root);
}

TEST(Eval, CommandLine) {
    CliResult help = run_cli("eval --help");
    EXPECT_EQ(help.rc, 0);
    EXPECT_NE(help.out.find("CONVERTED TARGET SOURCE"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("150x150"), std::string::npos) << help.out;
    CliResult usage = run_cli("eval onlyone");
    EXPECT_EQ(usage.rc, 2) << usage.out;
    CliResult top = run_cli("--help");
    EXPECT_NE(top.out.find("eval"), std::string::npos);
    FS_REQUIRE_DATA();
    const std::string root = fresh_dir("cli");
    for (const char* d : {"/conv", "/savage", "/salley", "/empty"}) fsys::create_directories(root + d);
    copy_chips("John_Savage", 0, 3, root + "/conv");
    copy_chips("John_Savage", 5, 11, root + "/savage");
    copy_chips("John_Salley", 0, 4, root + "/salley");
    std::ofstream(root + "/conv/broken.jpg") << "not a jpeg";
    CliResult r = run_cli("eval " + root + "/conv " + root + "/savage " + root + "/salley --tsv " + root + "/e.tsv");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("closer to target: 100.0 % (3 of 3)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("skipped"), std::string::npos) << r.out;  // the broken file is reported, not fatal
    EXPECT_TRUE(fsys::exists(root + "/e.tsv"));
    // Errors: a missing folder, an empty reference folder, an unknown option (exit 1, a message, no crash).
    CliResult missing = run_cli("eval " + root + "/nope " + root + "/savage " + root + "/salley");
    EXPECT_EQ(missing.rc, 1);
    EXPECT_NE(missing.out.find("does not exist"), std::string::npos) << missing.out;
    CliResult empty = run_cli("eval " + root + "/conv " + root + "/empty " + root + "/salley");
    EXPECT_EQ(empty.rc, 1);
    EXPECT_NE(empty.out.find("no readable face images"), std::string::npos) << empty.out;
    EXPECT_NE(empty.out.find("target"), std::string::npos) << empty.out;
    CliResult bad = run_cli("eval a b c --frob");
    EXPECT_EQ(bad.rc, 1);
    EXPECT_NE(bad.out.find("unknown option"), std::string::npos) << bad.out;
    fsys::remove_all(root);
}
