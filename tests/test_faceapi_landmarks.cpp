// test_faceapi_landmarks.cpp: the face-api 68-point landmark net run in this framework, against dlib's 68-point
// annotations of stills/dlib_faces (PROVENANCE.md §3): 18 faces in 4 PASCAL VOC photos, boxes from training.xml,
// points from training_with_face_landmarks.xml (both 0-based pixels).
#include <gtest/gtest.h>

#include "faceswap/align.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "autograd/tape.h"
#include "faceswap/faceapi_landmarks.h"
#include "faceswap/masks.h"
#include "faceswap/models.h"
#include "testdata.h"

using namespace fs;

namespace {

struct DlibFace {
    std::string file;
    FaceBoxXYWH box;
    std::vector<Point2> points;  // 68, or empty in training.xml
};

// The value of attribute `name` in one XML tag (dlib writes name='value').
std::string xml_attr(const std::string& tag, const std::string& name) {
    const std::string key = " " + name + "='";
    const size_t a = tag.find(key);
    FS_CHECK(a != std::string::npos, "dlib xml: no attribute ", name, " in ", tag);
    const size_t b = tag.find('\'', a + key.size());
    return tag.substr(a + key.size(), b - a - key.size());
}

// The faces of a dlib imglab XML file, in file order: <image file=...> <box top left width height> <part .../>.
std::vector<DlibFace> read_dlib_xml(const std::string& path) {
    std::ifstream in(path);
    FS_CHECK(in.good(), "cannot open ", path);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    std::vector<DlibFace> faces;
    std::string file;
    for (size_t p = s.find('<'); p != std::string::npos; p = s.find('<', p + 1)) {
        const std::string tag = s.substr(p, s.find('>', p) - p + 1);
        if (tag.rfind("<image ", 0) == 0) {
            file = xml_attr(tag, "file");
        } else if (tag.rfind("<box ", 0) == 0) {
            DlibFace f;
            f.file = file;
            f.box = {std::stoi(xml_attr(tag, "left")), std::stoi(xml_attr(tag, "top")),
                     std::stoi(xml_attr(tag, "width")), std::stoi(xml_attr(tag, "height"))};
            faces.push_back(f);
        } else if (tag.rfind("<part ", 0) == 0) {
            FS_CHECK(!faces.empty(), "dlib xml: part outside a box in ", path);
            const size_t k = size_t(std::stoi(xml_attr(tag, "name")));
            FS_CHECK(k == faces.back().points.size(), "dlib xml: parts out of order in ", path);
            faces.back().points.push_back({std::stod(xml_attr(tag, "x")), std::stod(xml_attr(tag, "y"))});
        }
    }
    return faces;
}

// The box scaled by `s` about its centre, in integer pixels.
FaceBoxXYWH enlarge(const FaceBoxXYWH& b, double s) {
    const double cx = b.x + b.w / 2.0, cy = b.y + b.h / 2.0, w = b.w * s, h = b.h * s;
    return {int(std::lround(cx - w / 2)), int(std::lround(cy - h / 2)), int(std::lround(w)), int(std::lround(h))};
}

// Mean point-to-point distance over the 68 points divided by the inter-ocular distance, the distance between the
// outer eye corners 36 and 45 (0-based; the 300-W benchmark's normalisation).
// Over points [first, last) only when given.
double normalised_error(const std::vector<Point2>& got, const std::vector<Point2>& ref, size_t first = 0,
                        size_t last = 68) {
    double sum = 0;
    for (size_t k = first; k < last; ++k) sum += std::hypot(got[k].x - ref[k].x, got[k].y - ref[k].y);
    return sum / double(last - first) / std::hypot(ref[36].x - ref[45].x, ref[36].y - ref[45].y);
}

double iou(const FaceBoxXYWH& a, const FaceBoxXYWH& b) {
    const double iw = std::max(0, std::min(a.x + a.w, b.x + b.w) - std::max(a.x, b.x));
    const double ih = std::max(0, std::min(a.y + a.h, b.y + b.h) - std::max(a.y, b.y));
    return iw * ih / (double(a.w) * a.h + double(b.w) * b.h - iw * ih);
}

struct Fixture {
    std::vector<DlibFace> faces;
    std::map<std::string, ImageF> images;
};

Fixture load_dlib_faces() {
    const std::string dir = shared_data_dir() + "/stills/dlib_faces/";
    Fixture fx;
    std::vector<DlibFace> boxes = read_dlib_xml(dir + "training.xml");
    fx.faces = read_dlib_xml(dir + "training_with_face_landmarks.xml");
    FS_CHECK(boxes.size() == fx.faces.size() && !boxes.empty(), "dlib xml: ", boxes.size(), " boxes but ",
             fx.faces.size(), " annotated faces");
    for (size_t i = 0; i < boxes.size(); ++i) {
        // The two files list the same faces in the same order; the landmark file's boxes are dlib's detections
        // (two of the 18 differ slightly from the hand boxes, IoU 0.7 and 0.9). The boxes used are training.xml's.
        FS_CHECK(boxes[i].file == fx.faces[i].file && iou(boxes[i].box, fx.faces[i].box) > 0.5 &&
                     fx.faces[i].points.size() == 68,
                 "dlib xml: face ", i, " differs between the two files");
        fx.faces[i].box = boxes[i].box;
        if (!fx.images.count(boxes[i].file))
            fx.images[boxes[i].file] = image_to_bgr_f(read_image(dir + boxes[i].file, 3));
    }
    return fx;
}

// The mean normalised error over all faces with boxes enlarged by `scale`, or with `flip` the crops mirrored
// (x -> W−1−x) before the net and the points mapped back without swapping left/right labels.
double mean_error(const FaceLandmark68Net& net, const Fixture& fx, double scale, bool flip = false) {
    double sum = 0;
    for (const DlibFace& f : fx.faces) {
        const ImageF& img = fx.images.at(f.file);
        const FaceBoxXYWH b = enlarge(f.box, scale);
        std::vector<Point2> pts;
        if (!flip) {
            pts = net.detect(img, b);
        } else {
            ImageF m = img;
            for (int y = 0; y < img.h; ++y)
                for (int x = 0; x < img.w; ++x)
                    for (int c = 0; c < 3; ++c) m.at(y, x, c) = img.at(y, img.w - 1 - x, c);
            pts = net.detect(m, FaceBoxXYWH{img.w - b.x - b.w, b.y, b.w, b.h});
            for (Point2& p : pts) p.x = img.w - 1 - p.x;
        }
        sum += normalised_error(pts, f.points);
    }
    return sum / double(fx.faces.size());
}

}  // namespace

TEST(FaceapiLandmarks, LoadsAndRunsOnAZeroInput) {
    FS_REQUIRE_DATA();
    FaceLandmark68Net net = FaceLandmark68Net::load_default();
    NoGradGuard ng;
    Tensor y = net.forward(Tensor::zeros({2, 3, 112, 112}));
    EXPECT_EQ(y.shape(), (Shape{2, 136}));
    for (double v : y.to_vector()) EXPECT_TRUE(std::isfinite(v));
    EXPECT_THROW(net.forward(Tensor::zeros({1, 3, 96, 96})), Error);
}

TEST(FaceapiLandmarks, PreparePadsToACentredSquare) {
    // A 4×2 (h×w) box of constant colour: padded to 4×4 with one zero column on each side; then scaled ×28
    // (legacy TF sampling src = dst/28: output column u reads column floor(u/28) exactly, no blending at the
    // integer positions). The padding reads as (0 − mean)/255, the face as (v − mean)/255.
    ImageF img(6, 6, 3, 0.f);
    for (int y = 0; y < 6; ++y)
        for (int x = 0; x < 6; ++x) img.at(y, x, 0) = 200.f, img.at(y, x, 1) = 100.f, img.at(y, x, 2) = 50.f;  // BGR
    FaceLandmark68Net::Prepared p = FaceLandmark68Net::prepare(img, FaceBoxXYWH{2, 1, 2, 4});
    EXPECT_EQ(p.side, 4);
    EXPECT_EQ(p.x0, 1);  // the box's left 2 minus one column of padding
    EXPECT_EQ(p.y0, 1);
    auto at = [&](int c, int y, int x) { return double(p.input.data<float>()[(c * 112 + y) * 112 + x]); };
    // Channel 0 is red (file order RGB): 50 in the face, 0 in the padding. float rounding of (v − m)/255 only.
    EXPECT_NEAR(at(0, 50, 0), (0 - 122.782) / 255, 1e-6);
    EXPECT_NEAR(at(0, 50, 28), (50 - 122.782) / 255, 1e-6);
    EXPECT_NEAR(at(0, 50, 56), (50 - 122.782) / 255, 1e-6);
    EXPECT_NEAR(at(2, 50, 84), (0 - 104.298) / 255, 1e-6);
    EXPECT_NEAR(at(2, 50, 56), (200 - 104.298) / 255, 1e-6);
    // A box hanging off the left edge: its columns outside the image repeat column 0 (here blue 10, elsewhere 200).
    for (int y = 0; y < 6; ++y) img.at(y, 0, 0) = 10.f;
    // Box columns x = −2, −1, 0, 1 land on output columns 0, 28, 56, 84.
    FaceLandmark68Net::Prepared q = FaceLandmark68Net::prepare(img, FaceBoxXYWH{-2, 0, 4, 4});
    EXPECT_EQ(q.x0, -2);
    auto qat = [&](int c, int y, int x) { return double(q.input.data<float>()[(c * 112 + y) * 112 + x]); };
    for (int u : {0, 28, 56}) EXPECT_NEAR(qat(2, 10, u), (10 - 104.298) / 255, 1e-6) << u;  // image column 0
    EXPECT_NEAR(qat(2, 10, 84), (200 - 104.298) / 255, 1e-6);                               // image column 1
}

// The figure of the issue: the landmark net against dlib's annotations, mean over the 68 points and the 18 faces of
// the point error divided by the distance between the outer eye corners (points 36 and 45).
//
// Box enlargement: face-api feeds this net boxes from its own SSD detector, which are looser than dlib's HOG
// boxes (those cut through the forehead and the chin). The dlib box is scaled ×1.2 about its centre as a
// stand-in. 1.2 is the best of a sweep over 1.0–1.5 on these same 18 faces (0.092, 0.081, 0.075, 0.082, 0.088,
// 0.103), so the figure is slightly optimistic; the sweep is printed.
TEST(FaceapiLandmarks, AgreesWithDlibAnnotationsOnTheDlibFaces) {
    FS_REQUIRE_DATA();
    const FaceLandmark68Net net = FaceLandmark68Net::load_default();
    const Fixture fx = load_dlib_faces();
    ASSERT_EQ(fx.faces.size(), 18u);
#ifndef FS_SANITIZE_BUILD
    for (double s : {1.0, 1.1, 1.3, 1.4, 1.5})
        std::printf("[ landmarks ] box x%.1f: mean error %.4f\n", s, mean_error(net, fx, s));
#endif
    const double err = mean_error(net, fx, 1.2);
    std::printf("[ landmarks ] %zu dlib faces, box x1.2: mean error %.4f of the outer-eye-corner distance\n",
                fx.faces.size(), err);
    // Measured 0.075. Most faces are tiny (37 px boxes, 16–21 px between the eye corners, upsampled ×2.5 to
    // 112), the reference is itself a model's output (dlib's predictor) and the jaw contour is drawn to different
    // conventions (jaw 0.13, eyes 0.055, mouth 0.048 at ×1.2); 0.10 leaves that room, while a wiring or layout error
    // (wrong ReLU, padding or weight permutation) sends it well above 0.2.
    EXPECT_LT(err, 0.10);
    // The eyes (points 36–47), which the masks are drawn from, on the five faces with boxes of 60 px or more
    // (nearer the size of a face in an aligned 256 crop, which the net sees downscaled to 112).
    double eyes = 0;
    int n_large = 0;
    for (const DlibFace& f : fx.faces) {
        if (f.box.w < 60) continue;
        eyes += normalised_error(net.detect(fx.images.at(f.file), enlarge(f.box, 1.2)), f.points, 36, 48);
        ++n_large;
    }
    eyes /= n_large;
    std::printf("[ landmarks ] eyes only, %d faces with boxes >= 60 px: %.4f\n", n_large, eyes);
    EXPECT_EQ(n_large, 5);
    // Measured 0.024 (about a pixel at these sizes). 0.06 leaves room for changes that move the figure a little
    // (resampling, summation order, a different box stand-in) while an eye placed by a miswired net or a wrong box
    // is far outside it.
    EXPECT_LT(eyes, 0.06);
    // The control: mirrored crops with the points mirrored back but not relabelled put every left-side point on
    // the right side: the error must be several times larger, or the check above could not fail.
    const double flipped = mean_error(net, fx, 1.2, true);
    std::printf("[ landmarks ] mirrored crops, labels not swapped: %.4f\n", flipped);
    EXPECT_GT(flipped, 3 * err);
}

// `faceswap masks` runs the net on aligned faces with a box derived from the 5-point template (masks.cpp,
// aligned_face_box). The same faces, aligned as extraction does (the similarity that puts their eye centres,
// nose tip and mouth corners on the template of spec §7.2 at 256×256, bilinear, edges replicated), through that
// box, with the points mapped back to the photo.
TEST(FaceapiLandmarks, AgreesOnAlignedFacesThroughTheTemplateBox) {
    FS_REQUIRE_DATA();
#ifdef FS_SANITIZE_BUILD
    GTEST_SKIP() << "18 warps and net runs: too slow under the sanitizers (the test above runs the same code)";
#endif
    const FaceLandmark68Net net = FaceLandmark68Net::load_default();
    const Fixture fx = load_dlib_faces();
    double tmpl[5][2];
    for (size_t k = 0; k < 5; ++k) tmpl[k][0] = fs::k_face_template[k].x, tmpl[k][1] = fs::k_face_template[k].y;
    std::vector<Point2> dst;
    for (const auto& t : tmpl) dst.push_back({t[0] * 256, t[1] * 256});
    const FaceBoxXYWH box = aligned_face_box(256);
    double err = 0, eyes = 0;
    for (const DlibFace& f : fx.faces) {
        auto mean_of = [&](size_t a, size_t b) {
            Point2 m;
            for (size_t k = a; k < b; ++k) m.x += f.points[k].x / double(b - a), m.y += f.points[k].y / double(b - a);
            return m;
        };
        // The five points as PROVENANCE.md §3 derives them: eye centres, nose tip 30, mouth corners 48 and 54.
        const std::vector<Point2> src = {mean_of(36, 42), mean_of(42, 48), f.points[30], f.points[48], f.points[54]};
        const Affine m = umeyama(src, dst, true);
        const ImageF aligned = warp_affine(fx.images.at(f.file), m, 256, 256, Border::replicate);
        std::vector<Point2> pts = net.detect(aligned, box);
        const Affine back = invert_affine(m);
        for (Point2& p : pts) p = apply_affine(back, p);
        err += normalised_error(pts, f.points) / double(fx.faces.size());
        eyes += normalised_error(pts, f.points, 36, 48) / double(fx.faces.size());
    }
    std::printf("[ landmarks ] aligned 256 crops, template box %dx%d at (%d, %d): mean error %.4f, eyes %.4f\n", box.w,
                box.h, box.x, box.y, err, eyes);
    // Measured 0.085 (eyes 0.057), against 0.075 on the photos: the box reaches 40 px past every side of the crop,
    // where the net sees repeated edge pixels instead of the photo (with the photo's pixels there it measures
    // 0.079). Bounds as in the test above, for the same reasons.
    EXPECT_LT(err, 0.10);
    EXPECT_LT(eyes, 0.08);
}
