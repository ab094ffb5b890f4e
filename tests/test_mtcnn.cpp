// test_mtcnn.cpp: the MTCNN detector against the shared golden tensors and reference detections
// (shared/data/PROVENANCE.md §1.4, §2), and INTER_AREA resampling on hand-computed arrays.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "faceswap/mtcnn.h"
#include "io/json.h"
#include "io/video.h"
#include "testdata.h"

namespace fs {
namespace {

// --- INTER_AREA --------------------------------------------------------------------------------------------------

ImageF row_image(const std::vector<float>& v) {
    ImageF im(1, int(v.size()), 1);
    im.px = v;
    return im;
}

TEST(ResizeArea, IntegerFactorAveragesBlocks) {
    ImageF im(2, 4, 1);
    im.px = {1, 3, 5, 7, 9, 11, 13, 15};
    ImageF r = resize_area(im, 1, 2, false);
    ASSERT_EQ(r.w, 2);
    EXPECT_FLOAT_EQ(r.px[0], (1 + 3 + 9 + 11) / 4.f);
    EXPECT_FLOAT_EQ(r.px[1], (5 + 7 + 13 + 15) / 4.f);
}

TEST(ResizeArea, FractionalCoverageWeights) {
    // 3 -> 2: each output cell covers 1.5 input cells: out0 = (a0 + a1/2)/1.5, out1 = (a1/2 + a2)/1.5.
    ImageF r = resize_area(row_image({3, 6, 12}), 1, 2, false);
    // float taps (OpenCV stores them as float): a few ulp.
    EXPECT_NEAR(r.px[0], (3 + 3) / 1.5, 1e-5);
    EXPECT_NEAR(r.px[1], (3 + 12) / 1.5, 1e-5);
    // rounding as an 8-bit Mat: 10.0 stays, 5.5 -> 6 (nearest, ties to even)
    ImageF q = resize_area(row_image({4, 7}), 1, 1, true);
    EXPECT_EQ(q.px[0], 6.f);
}

TEST(ResizeArea, EnlargingUsesOpenCvAreaLinearWeights) {
    // 2 -> 3 (scale 2/3): sx = floor(d·2/3), fx = (d+1) − (sx+1)·1.5 clamped: taps a0; ½a0 + ½a1; a1.
    ImageF r = resize_area(row_image({10, 20}), 1, 3, false);
    EXPECT_FLOAT_EQ(r.px[0], 10.f);
    EXPECT_FLOAT_EQ(r.px[1], 15.f);
    EXPECT_FLOAT_EQ(r.px[2], 20.f);
    // 2 -> 4 replicates each pixel twice.
    ImageF r4 = resize_area(row_image({10, 20}), 1, 4, false);
    EXPECT_EQ(r4.px, (std::vector<float>{10, 10, 20, 20}));
}

TEST(ResizeArea, RejectsEmptySizes) {
    EXPECT_THROW(resize_area(row_image({1, 2}), 0, 1, false), Error);
    EXPECT_THROW(resize_area(ImageF(), 1, 1, false), Error);
}

// --- shared data helpers -----------------------------------------------------------------------------------------

// The reference decoded the frames with libjpeg, as io/video's read_frame_image (OpenCV) does; stb_image's JPEG
// decoder differs by up to 3 levels on a few pixels, enough to flip which P-Net candidate wins on some frames.
Image read_rgb_libjpeg(const std::string& path) { return read_frame_image(path); }

std::string mtcnn_dir() { return shared_data_dir() + "/mtcnn/bin"; }

const Mtcnn& detector() {
    static Mtcnn m(mtcnn_dir());
    return m;
}

std::vector<float> read_f32(const std::string& path, size_t n) {
    std::ifstream f(path, std::ios::binary);
    EXPECT_TRUE(f) << path;
    std::vector<float> v(n);
    f.read(reinterpret_cast<char*>(v.data()), std::streamsize(n * sizeof(float)));
    EXPECT_EQ(size_t(f.gcount()), n * sizeof(float)) << path;
    return v;
}

// (N, H, W, 3) image-orientation golden input -> (N, 3, W, H) transposed net input (or untransposed (N,3,H,W)).
Tensor golden_input(const std::string& name, int64_t n, int64_t h, int64_t w, bool transposed = true) {
    std::vector<float> v = read_f32(shared_data_dir() + "/mtcnn/golden/" + name, size_t(n * h * w * 3));
    Tensor t = transposed ? Tensor::empty({n, 3, w, h}) : Tensor::empty({n, 3, h, w});
    float* d = t.data<float>();
    for (int64_t i = 0; i < n; ++i)
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x)
                for (int64_t c = 0; c < 3; ++c) {
                    float val = v[size_t(((i * h + y) * w + x) * 3 + c)];
                    if (transposed) d[((i * 3 + c) * w + x) * h + y] = val;
                    else d[((i * 3 + c) * h + y) * w + x] = val;
                }
    return t;
}

// The golden vectors come from a float64 numpy forward pass stored as float32; our nets run in float32 through
// several layers, so agreement to ~1e-5 is expected and the issue asks for 1e-4.
constexpr double k_golden_tol = 1e-4;

TEST(Mtcnn, PnetMatchesGolden) {
    FS_REQUIRE_DATA();
    PnetOut o = detector().pnet(golden_input("pnet_input_hwc.bin", 1, 36, 48));
    ASSERT_EQ(o.prob.shape(), (Shape{1, 19, 13}));
    std::vector<float> prob = read_f32(shared_data_dir() + "/mtcnn/golden/pnet_prob_hwc.bin", 13 * 19 * 2);
    std::vector<float> reg = read_f32(shared_data_dir() + "/mtcnn/golden/pnet_reg_hwc.bin", 13 * 19 * 4);
    double worst = 0;
    for (int y = 0; y < 13; ++y)
        for (int x = 0; x < 19; ++x) {
            worst = std::max(worst, std::abs(o.prob.at({0, x, y}) - prob[size_t((y * 19 + x) * 2 + 1)]));
            for (int k = 0; k < 4; ++k)
                worst = std::max(worst, std::abs(o.reg.at({0, k, x, y}) - reg[size_t((y * 19 + x) * 4 + k)]));
        }
    std::printf("P-Net max |ours - golden| = %.2e\n", worst);
    EXPECT_LT(worst, k_golden_tol);
}

TEST(Mtcnn, RnetMatchesGoldenAndNeedsTransposedInput) {
    FS_REQUIRE_DATA();
    RnetOut o = detector().rnet(golden_input("rnet_input_nhwc.bin", 2, 24, 24));
    std::vector<float> prob = read_f32(shared_data_dir() + "/mtcnn/golden/rnet_prob.bin", 4);
    std::vector<float> reg = read_f32(shared_data_dir() + "/mtcnn/golden/rnet_reg.bin", 8);
    double worst = 0;
    for (int n = 0; n < 2; ++n) {
        worst = std::max(worst, std::abs(o.prob.at({n}) - prob[size_t(n * 2 + 1)]));
        for (int k = 0; k < 4; ++k) worst = std::max(worst, std::abs(o.reg.at({n, k}) - reg[size_t(n * 4 + k)]));
    }
    std::printf("R-Net max |ours - golden| = %.2e (face prob %.5f)\n", worst, o.prob.at({0}));
    EXPECT_LT(worst, k_golden_tol);
    // Negative control: fed untransposed, the face crop scores 0.23121 (golden.json, 5 digits) instead of 0.976.
    RnetOut wrong = detector().rnet(golden_input("rnet_input_nhwc.bin", 2, 24, 24, false));
    EXPECT_NEAR(wrong.prob.at({0}), 0.23121, 1e-4);  // golden.json rounds to 5 decimals
}

TEST(Mtcnn, OnetMatchesGolden) {
    FS_REQUIRE_DATA();
    OnetOut o = detector().onet(golden_input("onet_input_nhwc.bin", 2, 48, 48));
    std::vector<float> prob = read_f32(shared_data_dir() + "/mtcnn/golden/onet_prob.bin", 4);
    std::vector<float> reg = read_f32(shared_data_dir() + "/mtcnn/golden/onet_reg.bin", 8);
    std::vector<float> lm = read_f32(shared_data_dir() + "/mtcnn/golden/onet_landmarks.bin", 20);
    double worst = 0;
    for (int n = 0; n < 2; ++n) {
        worst = std::max(worst, std::abs(o.prob.at({n}) - prob[size_t(n * 2 + 1)]));
        for (int k = 0; k < 4; ++k) worst = std::max(worst, std::abs(o.reg.at({n, k}) - reg[size_t(n * 4 + k)]));
        for (int k = 0; k < 10; ++k)
            worst = std::max(worst, std::abs(o.landmarks.at({n, k}) - lm[size_t(n * 10 + k)]));
    }
    std::printf("O-Net max |ours - golden| = %.2e (face prob %.5f)\n", worst, o.prob.at({0}));
    EXPECT_LT(worst, k_golden_tol);
    OnetOut wrong = detector().onet(golden_input("onet_input_nhwc.bin", 2, 48, 48, false));
    EXPECT_NEAR(wrong.prob.at({0}), 0.85894, 1e-4);  // golden.json rounds to 5 decimals
}

TEST(Mtcnn, BadWeightFolderIsAClearError) {
    FS_REQUIRE_DATA();
    std::filesystem::path tmp = std::filesystem::temp_directory_path() / "fs_mtcnn_bad";
    std::filesystem::remove_all(tmp);
    std::filesystem::create_directories(tmp);
    try {
        Mtcnn m(tmp.string());
        FAIL() << "no error for an empty folder";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("manifest.tsv"), std::string::npos) << e.what();
    }
    // A truncated onet.bin is named in the error.
    for (const char* f : {"manifest.tsv", "pnet.bin", "rnet.bin"})
        std::filesystem::copy_file(mtcnn_dir() + "/" + f, tmp / f);
    {
        std::ifstream in(mtcnn_dir() + "/onet.bin", std::ios::binary);
        std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream out(tmp / "onet.bin", std::ios::binary);
        out.write(buf.data(), std::streamsize(buf.size() - 100));
    }
    try {
        Mtcnn m(tmp.string());
        FAIL() << "no error for a truncated onet.bin";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("onet.bin"), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(tmp);
}

// --- the cascade against the reference detections --------------------------------------------------------------

struct RefFace {
    double x1, y1, x2, y2, score;
    std::array<Point2, 5> pts;
};

// Reference files are facenet's 1-based coordinates; ours are 0-based.
RefFace ref_face(double x1, double y1, double x2, double y2, double score, const double* px, const double* py) {
    RefFace r{x1 - 1, y1 - 1, x2 - 1, y2 - 1, score, {}};
    for (int k = 0; k < 5; ++k) r.pts[size_t(k)] = {px[k] - 1, py[k] - 1};
    return r;
}

struct MatchStats {
    int ref_faces = 0, found = 0, extra = 0, frames = 0;
    double min_iou = 1, max_pt_err = 0, sum_iou = 0, sum_pt_err = 0;
    int pt_count = 0;
    std::string failures;
};

// The criteria: each reference face is found with IoU >= 0.9 and every landmark within 2 px; no
// detected face that matches no reference face scores >= 0.9.
void match_frame(const std::string& frame, const std::vector<RefFace>& refs, const std::vector<FaceDetection>& dets,
                 MatchStats& st) {
    ++st.frames;
    std::vector<char> used(dets.size(), 0);
    for (const RefFace& r : refs) {
        ++st.ref_faces;
        FaceDetection rd;
        rd.x1 = r.x1, rd.y1 = r.y1, rd.x2 = r.x2, rd.y2 = r.y2;
        int best = -1;
        double best_iou = 0;
        for (size_t i = 0; i < dets.size(); ++i) {
            double iou = box_iou(rd, dets[i]);
            if (iou > best_iou) best_iou = iou, best = int(i);
        }
        if (best < 0 || best_iou < 0.9) {
            st.failures += frame + ": reference face (" + std::to_string(r.x1) + "," + std::to_string(r.y1) +
                           ") best IoU " + std::to_string(best_iou) + "\n";
            st.min_iou = std::min(st.min_iou, best_iou);
            continue;
        }
        used[size_t(best)] = 1;
        st.min_iou = std::min(st.min_iou, best_iou);
        st.sum_iou += best_iou;
        double worst = 0;
        for (int k = 0; k < 5; ++k) {
            double e = std::hypot(dets[size_t(best)].points[size_t(k)].x - r.pts[size_t(k)].x,
                                  dets[size_t(best)].points[size_t(k)].y - r.pts[size_t(k)].y);
            worst = std::max(worst, e);
            st.sum_pt_err += e;
            ++st.pt_count;
        }
        st.max_pt_err = std::max(st.max_pt_err, worst);
        if (worst > 2.0) st.failures += frame + ": landmark off by " + std::to_string(worst) + " px\n";
        else ++st.found;
    }
    for (size_t i = 0; i < dets.size(); ++i)
        if (!used[i] && dets[i].score >= 0.9) {
            ++st.extra;
            st.failures += frame + ": extra face score " + std::to_string(dets[i].score) + "\n";
        }
}

void report(const std::string& what, const MatchStats& st, double seconds) {
    std::printf("%s: %d frames, %d/%d reference faces matched, %d extra, IoU min %.3f mean %.4f, landmark error "
                "mean %.3f max %.3f px, %.1f frames/s\n",
                what.c_str(), st.frames, st.found, st.ref_faces, st.extra, st.min_iou,
                st.ref_faces ? st.sum_iou / st.ref_faces : 0.0, st.pt_count ? st.sum_pt_err / st.pt_count : 0.0,
                st.max_pt_err, seconds > 0 ? st.frames / seconds : 0.0);
    if (!st.failures.empty()) std::printf("%s", st.failures.substr(0, 3000).c_str());
}

TEST(Mtcnn, CascadeMatchesReferenceOnStills) {
    FS_REQUIRE_DATA();
    Json ref = read_json_file(shared_data_dir() + "/mtcnn/golden/cascade_reference_detections.json");
    ASSERT_EQ(ref.kind, Json::object);
    MatchStats st;
    for (const auto& [name, faces] : ref.obj) {
        std::vector<RefFace> refs;
        for (const Json& f : faces.arr) {
            const Json& b = f.at("box_x1y1x2y2");
            double px[5], py[5];
            for (int k = 0; k < 5; ++k) px[k] = f.at("points_x").arr[size_t(k)].num, py[k] = f.at("points_y").arr[size_t(k)].num;
            refs.push_back(ref_face(b.arr[0].num, b.arr[1].num, b.arr[2].num, b.arr[3].num, f.at("score").num, px, py));
        }
        Image img = read_rgb_libjpeg(shared_data_dir() + "/" + name);
        match_frame(name, refs, detector().detect(img), st);
    }
    report("stills", st, 0);
    EXPECT_GT(st.ref_faces, 6);
    EXPECT_EQ(st.found, st.ref_faces);
    EXPECT_EQ(st.extra, 0);
}

// The original's resampler (OpenCV INTER_AREA, 8-bit pyramid) finds the same faces; boxes and points move by a few
// pixels (PROVENANCE.md §1.4: "a different resizer changes boxes by a few px"), so the bounds are looser.
TEST(Mtcnn, AreaResamplerFindsTheSameFacesOnStills) {
    FS_REQUIRE_DATA();
    Json ref = read_json_file(shared_data_dir() + "/mtcnn/golden/cascade_reference_detections.json");
    MtcnnOptions opt;
    opt.resize = MtcnnResize::area;
    int faces = 0;
    double worst_iou = 1, worst_pt = 0;
    for (const auto& [name, fl] : ref.obj) {
        std::vector<FaceDetection> dets = detector().detect(read_rgb_libjpeg(shared_data_dir() + "/" + name), opt);
        int strong = 0;
        for (const FaceDetection& d : dets) strong += d.score >= 0.9;
        EXPECT_EQ(strong, int(fl.arr.size())) << name;
        for (const Json& f : fl.arr) {
            const Json& b = f.at("box_x1y1x2y2");
            FaceDetection r;
            r.x1 = b.arr[0].num - 1, r.y1 = b.arr[1].num - 1, r.x2 = b.arr[2].num - 1, r.y2 = b.arr[3].num - 1;
            double best = 0;
            size_t bi = 0;
            for (size_t i = 0; i < dets.size(); ++i)
                if (box_iou(r, dets[i]) > best) best = box_iou(r, dets[i]), bi = i;
            ++faces;
            worst_iou = std::min(worst_iou, best);
            for (int k = 0; k < 5 && !dets.empty(); ++k)
                worst_pt = std::max(worst_pt, std::hypot(dets[bi].points[size_t(k)].x - (f.at("points_x").arr[size_t(k)].num - 1),
                                                         dets[bi].points[size_t(k)].y - (f.at("points_y").arr[size_t(k)].num - 1)));
        }
    }
    std::printf("INTER_AREA vs reference on %d faces: IoU min %.3f, landmark error max %.2f px\n", faces, worst_iou, worst_pt);
    EXPECT_GE(worst_iou, 0.85);  // measured 0.93: a few px on 60-100 px boxes
    EXPECT_LE(worst_pt, 5.0);    // measured 3.7 px
}

void run_sequence(const std::string& seq, int stride) {
    std::string dir = shared_data_dir() + "/sequences/" + seq;
    std::ifstream f(dir + "/mtcnn_reference.tsv");
    ASSERT_TRUE(f) << dir;
    std::string line;
    std::getline(f, line);
    std::map<std::string, std::vector<RefFace>> refs;
    std::vector<std::string> order;
    while (std::getline(f, line)) {
        std::stringstream ss(line);
        std::string frame;
        int face;
        ss >> frame >> face;
        if (refs.find(frame) == refs.end()) order.push_back(frame), refs[frame];
        if (face < 0) continue;
        double v[15];
        for (double& x : v) ss >> x;
        double px[5], py[5];
        for (int k = 0; k < 5; ++k) px[k] = v[5 + 2 * k], py[k] = v[6 + 2 * k];
        refs[frame].push_back(ref_face(v[0], v[1], v[2], v[3], v[4], px, py));
    }
    ASSERT_FALSE(order.empty());
    MatchStats st;
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < order.size(); i += size_t(stride)) {
        Image img = read_rgb_libjpeg(dir + "/img/" + order[i]);
        match_frame(order[i], refs[order[i]], detector().detect(img), st);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report(seq + (stride > 1 ? " (every " + std::to_string(stride) + "th frame)" : ""), st, secs);
    EXPECT_EQ(st.found, st.ref_faces);
    EXPECT_EQ(st.extra, 0);
}

#ifdef FS_SANITIZE_BUILD
constexpr int k_seq_stride = 50;  // the sanitizer build is ~20x slower: a sample of frames
#else
constexpr int k_seq_stride = 1;  // every frame, as the issue asks
#endif

TEST(MtcnnSequence, WomanBun) { FS_REQUIRE_DATA(); run_sequence("lp_d6_woman_bun", k_seq_stride); }
TEST(MtcnnSequence, ManGlasses) { FS_REQUIRE_DATA(); run_sequence("lp_d9_man_glasses", k_seq_stride); }
TEST(MtcnnSequence, WomanAsian) { FS_REQUIRE_DATA(); run_sequence("lp_d14_woman_asian", k_seq_stride); }
TEST(MtcnnSequence, OtbGirl) { FS_REQUIRE_DATA(); run_sequence("otb_girl", k_seq_stride); }

}  // namespace
}  // namespace fs
