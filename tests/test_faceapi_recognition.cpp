// test_faceapi_recognition.cpp: the face-api.js recognition ResNet against the self-made golden descriptors of
// the 33 dlib "johns" chips (PROVENANCE.md §4), the same/different-person separation at 0.6, the gradient to
// the input (directional finite differences in double), and the error for a missing model file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "autograd/functional.h"
#include "faceswap/faceapi_recognition.h"
#include "faceswap/models.h"
#include "io/image.h"
#include "testdata.h"

using namespace fs;

namespace {

std::string manifest() { return shared_data_dir() + "/faceapi/face_recognition_model-weights_manifest.json"; }

// The chips listed in johns_descriptors.txt (paths relative to the data folder), in golden-row order.
std::vector<std::string> golden_chips() {
    std::ifstream f(shared_data_dir() + "/faceapi/golden/johns_descriptors.txt");
    std::vector<std::string> out;
    for (std::string line; std::getline(f, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

std::vector<float> golden_descriptors(size_t n) {
    std::ifstream f(shared_data_dir() + "/faceapi/golden/johns_descriptors.f32", std::ios::binary);
    std::vector<float> v(n * 128);
    f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
    EXPECT_TRUE(f.good()) << "golden descriptors file too short";
    return v;
}

// Loads chips as one BGR [-1, 1] batch (N, 3, 150, 150), the convention of our faces.
Tensor load_chips(const std::vector<std::string>& rel) {
    std::vector<Tensor> one;
    for (const std::string& r : rel) {
        Tensor t = image_to_tensor(read_image(shared_data_dir() + "/" + r, 3));
        one.push_back(t.reshape({1, 3, t.size(1), t.size(2)}));
    }
    return concat(one, ConcatParams{0});
}

std::string identity_of(const std::string& rel) { return std::filesystem::path(rel).parent_path().filename(); }

}  // namespace

TEST(FaceapiRecognition, DescriptorsMatchGoldenAndSeparateIdentities) {
    FS_REQUIRE_DATA();
    FaceRecognitionNet net(manifest());
    std::vector<std::string> chips = golden_chips();
    ASSERT_EQ(chips.size(), 33u);
#ifdef FS_SANITIZE_BUILD
    // The sanitizer build checks memory safety on a few chips (one per identity); the release build runs all 33.
    std::vector<size_t> rows = {0, 11, 22};
#else
    std::vector<size_t> rows(chips.size());
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
#endif
    std::vector<std::string> sel;
    for (size_t r : rows) sel.push_back(chips[r]);
    Tensor d;
    {
        NoGradGuard ng;
        d = net.descriptor(faceapi_input_from_bgr(load_chips(sel)));
    }
    ASSERT_EQ(d.shape(), (Shape{int64_t(rows.size()), 128}));
    std::vector<float> gold = golden_descriptors(chips.size());
    double min_cos = 1;
    for (size_t i = 0; i < rows.size(); ++i) {
        Tensor g = Tensor::from_vector({128}, std::vector<double>(gold.begin() + long(rows[i] * 128),
                                                                   gold.begin() + long(rows[i] * 128 + 128)));
        const double c = descriptor_cosine(d.slice(0, int64_t(i), int64_t(i) + 1), g);
        min_cos = std::min(min_cos, c);
        // 0.9999: the golden is float64 maths on the same dequantised weights; our f32 convs (folded scale
        // layers, different summation order) agree to ~1e-5 relative, so 1e-4 leaves ample margin while an
        // error in any layer (wrong padding, channel order, missed ReLU) drops the cosine far below it.
        EXPECT_GE(c, 0.9999) << sel[i];
    }
    std::printf("[ faceapi  ] golden cosine min %.7f over %zu chips\n", min_cos, rows.size());

    // Same person < 0.6 < different people (the usual face-api/dlib threshold).
    double same_max = 0, diff_min = 1e9;
    for (size_t i = 0; i < rows.size(); ++i)
        for (size_t j = i + 1; j < rows.size(); ++j) {
            const double dist = descriptor_distance(d.slice(0, int64_t(i), int64_t(i) + 1),
                                                    d.slice(0, int64_t(j), int64_t(j) + 1));
            if (identity_of(sel[i]) == identity_of(sel[j])) same_max = std::max(same_max, dist);
            else diff_min = std::min(diff_min, dist);
        }
    std::printf("[ faceapi  ] same-person distance max %.4f, different-person min %.4f\n", same_max, diff_min);
    if (rows.size() > 3) {
        EXPECT_LT(same_max, 0.6);
    }
    EXPECT_GT(diff_min, 0.6);
}

TEST(FaceapiRecognition, ChannelOrderMattersNegativeControl) {
    FS_REQUIRE_DATA();
    // The golden match above is only meaningful if a plausible mistake breaks it: feeding the chip with its
    // channels swapped (BGR where RGB is expected) must move the descriptor well off the golden one.
    FaceRecognitionNet net(manifest());
    std::vector<std::string> chips = golden_chips();
    NoGradGuard ng;
    Tensor bgr = load_chips({chips[0]});
    Tensor swapped = concat({slice(bgr, 1, 2, 3), slice(bgr, 1, 1, 2), slice(bgr, 1, 0, 1)}, ConcatParams{1});
    std::vector<float> gold = golden_descriptors(chips.size());
    Tensor g = Tensor::from_vector({128}, std::vector<double>(gold.begin(), gold.begin() + 128));
    const double good = descriptor_cosine(net.descriptor(faceapi_input_from_bgr(bgr)), g);
    const double bad = descriptor_cosine(net.descriptor(faceapi_input_from_bgr(swapped)), g);
    EXPECT_GE(good, 0.9999);  // as above
    EXPECT_LT(bad, 0.999) << "swapping R and B barely changed the descriptor";
    std::printf("[ faceapi  ] cosine to golden: %.6f as RGB, %.6f with R and B swapped\n", good, bad);
}

TEST(FaceapiRecognition, GradientToInputMatchesFiniteDifferences) {
    FS_REQUIRE_DATA();
    // The whole differentiable path the perceptual loss uses: a 64×64 BGR [-1, 1] face -> resize to 150 ->
    // RGB 0..255 -> normalise -> the net, in double (the f64 reference kernels), weights frozen. Loss
    // L = Σ R_d ⊙ descriptor + Σ R_c ⊙ conv1 + Σ R_s ⊙ stage64 with fixed random R (never all-ones, so a
    // permuted gradient cannot pass), compared along random directions v: <∇L, v> vs central differences.
#ifdef FS_SANITIZE_BUILD
    GTEST_SKIP() << "skipped in the sanitizer build: three 150×150 passes through the f64 reference kernels are "
                    "slow there; the perceptual-loss tests run the same path in f32, and the release build runs this";
#endif
    FaceRecognitionNet net(manifest(), DType::f64);
    std::mt19937_64 rng(8);
    Tensor x = Tensor::uniform({1, 3, 64, 64}, -1, 1, rng, DType::f64);
    Tensor r_d = Tensor::uniform({1, 128}, -1, 1, rng, DType::f64);
    Tensor r_c = Tensor::uniform({1, 32, 72, 72}, -1, 1, rng, DType::f64);
    Tensor r_s = Tensor::uniform({1, 64, 17, 17}, -1, 1, rng, DType::f64);
    auto loss = [&](const Tensor& in) {
        FaceRecognitionNet::Features f = net.forward(net.normalise(faceapi_input_from_bgr(in)));
        // Scales chosen so each term contributes a comparable share of the gradient.
        return add(add(sum(mul(f.descriptor, r_d)), scale(sum(mul(f.conv1, r_c)), 1e-2)),
                   scale(sum(mul(f.stage64, r_s)), 1e-1));
    };
    Tensor xg = x.clone().set_requires_grad(true);
    backward(loss(xg));
    ASSERT_TRUE(xg.grad().defined());
    for (auto& [name, w] : net.conv_weights()) {  // frozen: nothing was accumulated into the weights
        EXPECT_FALSE(w.requires_grad()) << name;
        EXPECT_FALSE(w.grad().defined()) << name;
    }
    const std::vector<double> g = xg.grad().to_vector();
    double gnorm = 0;
    for (double v : g) gnorm += v * v;
    ASSERT_GT(gnorm, 0);
    for (int dir = 0; dir < 2; ++dir) {
        Tensor v = Tensor::uniform(x.shape(), -1, 1, rng, DType::f64);
        const std::vector<double> vv = v.to_vector(), xv = x.to_vector();
        double analytic = 0;
        for (size_t i = 0; i < g.size(); ++i) analytic += g[i] * vv[i];
        // eps 1e-7 on inputs of size ~1. The upsampled (smooth) input makes near-ties in the 3×3 max-pool and
        // near-zero ReLU inputs common, so a larger step crosses kinks: at eps 1e-5 the difference quotient is
        // ~1 % off, at 1e-3 a few %; at 1e-7 the crossings are negligible and the rounding error
        // (~1e-16·|L|/eps ≈ 1e-7 here) is still well below the tolerance. Truncation error is O(eps²).
        const double eps = 1e-7;
        std::vector<double> xp(xv), xm(xv);
        for (size_t i = 0; i < xv.size(); ++i) xp[i] += eps * vv[i], xm[i] -= eps * vv[i];
        NoGradGuard ng;
        const double lp = loss(Tensor::from_vector(x.shape(), xp, DType::f64)).item();
        const double lm = loss(Tensor::from_vector(x.shape(), xm, DType::f64)).item();
        const double numeric = (lp - lm) / (2 * eps);
        std::printf("[ faceapi  ] direction %d: analytic %.10g numeric %.10g\n", dir, analytic, numeric);
        // 1e-6 relative: the observed agreement is ~1e-7 (rounding, above); a wrong local gradient anywhere in
        // the chain shows up at the 1e-2 level or more.
        EXPECT_NEAR(analytic, numeric, 1e-6 * std::abs(numeric) + 1e-8);
    }
}

TEST(FaceapiRecognition, MissingModelFileErrorSaysWhereToGetIt) {
    const std::string dir = (std::filesystem::temp_directory_path() / "fs_faceapi_missing").string();
    std::filesystem::create_directories(dir);
    try {
        FaceRecognitionNet net(dir + "/faceapi/face_recognition_model-weights_manifest.json");
        FAIL() << "loaded a missing file";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not found"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("face_recognition_model-weights_manifest.json"), std::string::npos);
    }
    // Through the search path: with --models pointing at an empty folder and no other folder holding it, the
    // error names the file, the folders searched and where to get it. (The shared data folder may hold the
    // file, in which case load_default succeeds and that is checked instead.)
    set_models_dir(dir);
    try {
        std::string p = FaceRecognitionNet::default_manifest_path();
        EXPECT_TRUE(std::filesystem::exists(p));
        EXPECT_EQ(p.find(dir), std::string::npos);
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(dir), std::string::npos) << msg;
        EXPECT_NE(msg.find("@vladmandic/face-api"), std::string::npos) << msg;
    }
    set_models_dir("");
}
