// test_extract.cpp: `faceswap extract` (tools/extract.cpp) on the shared sequences and stills: files, faces.tsv,
// agreement with the MTCNN reference, alignment onto the template, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/video.h"
#include "testdata.h"
#include "tools/extract.h"

namespace fs {
namespace {

namespace stdfs = std::filesystem;

const Mtcnn& mtcnn() {
    static Mtcnn m(shared_data_dir() + "/mtcnn/bin");
    return m;
}

std::string fresh(const std::string& name) {
    stdfs::path d = stdfs::temp_directory_path() / ("fs_extract_" + name);
    stdfs::remove_all(d);
    stdfs::create_directories(d);
    return d.string();
}

std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
    std::ifstream f(path);
    std::vector<std::vector<std::string>> rows;
    for (std::string line; std::getline(f, line);) {
        std::vector<std::string> cells;
        std::stringstream ss(line);
        for (std::string c; std::getline(ss, c, '\t');) cells.push_back(c);
        if (!line.empty() && line.back() == '\t') cells.push_back("");
        rows.push_back(cells);
    }
    return rows;
}

// A folder holding the first n frames of a shared sequence (symlinks; the data stays read-only).
std::string sequence_subset(const std::string& seq, int n, const std::string& name) {
    std::string dir = fresh(name + "_in");
    for (int i = 1; i <= n; ++i) {
        char f[16];
        std::snprintf(f, sizeof f, "%04d.jpg", i);
        stdfs::create_symlink(shared_data_dir() + "/sequences/" + seq + "/img/" + f, stdfs::path(dir) / f);
    }
    return dir;
}

TEST(Extract, WritesFacesAndMatchesTheReference) {
    FS_REQUIRE_DATA();
    const int n = 6;
    std::string in = sequence_subset("lp_d14_woman_asian", n, "seq"), out = fresh("seq_out");
    ExtractOptions opt;
    opt.input = in, opt.outdir = out, opt.quiet = true, opt.threads = 2;
    ExtractStats st = run_extract(opt, mtcnn());
    EXPECT_EQ(st.frames_read, n);
    EXPECT_EQ(st.faces, n);  // one person, one face per frame (reference min score 0.98)

    auto rows = read_tsv(out + "/faces.tsv");
    ASSERT_EQ(rows.size(), size_t(n + 1));
    ASSERT_EQ(rows[0].size(), 24u);
    EXPECT_EQ(rows[0][1], "face");
    // the reference, 1-based
    auto ref = read_tsv(shared_data_dir() + "/sequences/lp_d14_woman_asian/mtcnn_reference.tsv");
    for (int i = 1; i <= n; ++i) {
        const auto& r = rows[size_t(i)];
        ASSERT_EQ(r.size(), 24u);
        char name[16];
        std::snprintf(name, sizeof name, "%04d", i);
        EXPECT_EQ(r[0], name);  // frame order kept with two workers
        EXPECT_EQ(r[0] + ".jpg", ref[size_t(i)][0]);
        for (int c = 2; c < 17; ++c) {
            if (c == 6) continue;  // the score column has no 1-based offset
            // faces.tsv and the reference both print 2 decimals; the cascade agrees to ~0.01 px
            EXPECT_NEAR(std::stod(r[size_t(c)]), std::stod(ref[size_t(i)][size_t(c)]) - 1, 0.03) << name << " col " << c;
        }
        // The files exist and have the right size; the affine maps the landmarks onto the template.
        Image face = read_frame_image(out + "/aligned/" + r[17]);
        EXPECT_EQ(face.width, 256);
        EXPECT_EQ(face.height, 256);
        EXPECT_TRUE(stdfs::exists(out + "/raw/" + r[17]));
        Image mask = read_frame_image(out + "/masks/" + r[17]);
        EXPECT_EQ(mask.width, 256);
        Affine m{};
        for (int k = 0; k < 6; ++k) m[size_t(k)] = std::stod(r[size_t(18 + k)]);
        // The best any similarity can do: Umeyama straight from the landmarks to the template at 256, without the
        // original's integer truncation. Ours may lose only a little to that truncation (crop px ≈ 1 face px).
        std::vector<Point2> pts, tpl;
        for (int k = 0; k < 5; ++k) {
            pts.push_back({std::stod(r[size_t(7 + 2 * k)]), std::stod(r[size_t(8 + 2 * k)])});
            tpl.push_back({k_face_template[size_t(k)].x * 256, k_face_template[size_t(k)].y * 256});
        }
        Affine best = umeyama(pts, tpl, true);
        double err = 0, best_err = 0;
        for (size_t k = 0; k < 5; ++k) {
            Point2 p = apply_affine(m, pts[k]), q = apply_affine(best, pts[k]);
            err += std::hypot(p.x - tpl[k].x, p.y - tpl[k].y) / 5;
            best_err += std::hypot(q.x - tpl[k].x, q.y - tpl[k].y) / 5;
        }
        EXPECT_LT(err, best_err + 1.0) << name << ": mean landmark residual " << err << " px vs optimum " << best_err;
    }
}

TEST(Extract, EveryNthFrameLargestOnlyAndNoFaceRows) {
    FS_REQUIRE_DATA();
    // A still with three faces and one with none.
    std::string in = fresh("multi_in"), out = fresh("multi_out");
    stdfs::create_symlink(shared_data_dir() + "/stills/dlib_faces/2008_001322.jpg", stdfs::path(in) / "a.jpg");
    stdfs::create_symlink(shared_data_dir() + "/stills/dlib_faces/dogs_no_human_faces.jpg", stdfs::path(in) / "b.jpg");
    ExtractOptions opt;
    opt.input = in, opt.outdir = out, opt.quiet = true;
    ExtractStats all = run_extract(opt, mtcnn());
    EXPECT_EQ(all.faces, 3);
    EXPECT_EQ(all.frames_with_face, 1);
    auto rows = read_tsv(out + "/faces.tsv");
    ASSERT_EQ(rows.size(), 5u);  // header, 3 faces of a, the no-face row of b
    EXPECT_EQ(rows[4][0], "b");
    EXPECT_EQ(rows[4][1], "-1");
    EXPECT_EQ(rows[4].size(), 24u);

    opt.largest_only = true;
    opt.outdir = fresh("multi_out2");
    EXPECT_EQ(run_extract(opt, mtcnn()).faces, 1);

    // --every 2 over 5 frames: frames 1, 3, 5
    std::string seq = sequence_subset("lp_d6_woman_bun", 5, "every");
    ExtractOptions e;
    e.input = seq, e.outdir = fresh("every_out"), e.quiet = true, e.every = 2, e.write_raw = false;
    ExtractStats st = run_extract(e, mtcnn());
    EXPECT_EQ(st.frames_read, 3);
    auto er = read_tsv(e.outdir + "/faces.tsv");
    ASSERT_EQ(er.size(), 4u);
    EXPECT_EQ(er[1][0], "0001");
    EXPECT_EQ(er[2][0], "0003");
    EXPECT_EQ(er[3][0], "0005");
    EXPECT_FALSE(stdfs::exists(e.outdir + "/raw"));
}

TEST(Extract, CorruptImageIsSkippedAndReported) {
    FS_REQUIRE_DATA();
    std::string in = sequence_subset("otb_girl", 3, "corrupt"), out = fresh("corrupt_out");
    { std::ofstream(stdfs::path(in) / "0002b.jpg") << "not a jpeg"; }
    ExtractOptions opt;
    opt.input = in, opt.outdir = out, opt.quiet = true;
    ExtractStats st = run_extract(opt, mtcnn());
    EXPECT_EQ(st.unreadable, 1);
    EXPECT_EQ(st.frames_read, 3);
    EXPECT_EQ(read_tsv(out + "/faces.tsv").size() - 1, size_t(st.faces + (st.frames_read - st.frames_with_face)));
}

TEST(Extract, VideoInputAndBadInput) {
    FS_REQUIRE_DATA();
    ExtractOptions opt;
    opt.input = shared_data_dir() + "/sequences/lp_d14_woman_asian/source_d14.mp4";
    opt.outdir = fresh("video_out"), opt.quiet = true, opt.max_frames = 3, opt.format = "jpg";
    ExtractStats st = run_extract(opt, mtcnn());
    EXPECT_EQ(st.frames_read, 3);
    EXPECT_EQ(st.faces, 3);
    EXPECT_TRUE(stdfs::exists(opt.outdir + "/aligned/000000_0.jpg"));

    opt.input = "/nonexistent/video.mp4";
    EXPECT_THROW(run_extract(opt, mtcnn()), Error);
    opt.input = shared_data_dir() + "/sequences/otb_girl/img";
    opt.format = "gif";
    EXPECT_THROW(run_extract(opt, mtcnn()), Error);
}

}  // namespace
}  // namespace fs
