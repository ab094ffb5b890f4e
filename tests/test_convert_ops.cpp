// test_convert_ops.cpp: faceswap/convert_ops.h: the Kalman filter against a sequence worked out by hand, box
// smoothing and tracking, each colour-correction mode on small arrays, the Gaussian feather, the face transform
// with fake generators, the composite, enhance and the output layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "faceswap/convert_ops.h"

using namespace fs;

namespace {

/// A tiny image from a flat list (row-major, interleaved).
ImageF make_image(int h, int w, int c, const std::vector<float>& v) {
    ImageF img(h, w, c);
    EXPECT_EQ(v.size(), img.px.size());
    img.px = v;
    return img;
}

}  // namespace

// --- Kalman filter ----------------------------------------------------------------------------------------------

// By hand, with noise_coef q = 1/2 (so Q = I/2), R = I, x₀ = 0, P₀ = 0. The two axes are independent; per axis
// the state is (position, velocity) and F = [[1,1],[0,1]].
//  1. correct(3, 10): P⁻ = 0, so K = 0 and x⁺ = 0.  predict(): x⁻ = 0, P⁻ = F·0·Fᵀ + Q = diag(1/2, 1/2).
//  2. correct(3, −6): S = 1/2 + 1 = 3/2, K = (1/2)/(3/2) = 1/3 for position, 0 for velocity:
//       p⁺ = 0 + 3/3 = 1, q⁺ = −6/3 = −2;  P⁺ = diag(1/2 − (1/3)(1/2), 1/2) = diag(1/3, 1/2).
//     predict(): x⁻ = (1, −2), velocities 0.  F·P⁺·Fᵀ = [[1/3 + 1/2, 1/2], [1/2, 1/2]], + Q:
//       P⁻ = [[4/3, 1/2], [1/2, 1]].
//  3. correct(6, −4): S = 4/3 + 1 = 7/3, K = (4/3, 1/2)/(7/3) = (4/7, 3/14).
//       p: innovation 6 − 1 = 5   → p⁺ = 1 + 20/7 = 27/7,   ṗ⁺ = 15/14;
//       q: innovation −4 + 2 = −2 → q⁺ = −2 − 8/7 = −22/7, q̇⁺ = −6/14 = −3/7.
//       P⁺ = P⁻ − K·(first row of P⁻) = [[4/3 − 16/21, 1/2 − 2/7], [1/2 − 2/7, 1 − 3/28]]
//          = [[4/7, 3/14], [3/14, 25/28]].
//     predict(): p⁻ = 27/7 + 15/14 = 69/14, q⁻ = −22/7 − 3/7 = −25/7.
//  4. predict() again without a measurement (OpenCV copied the prior into the posterior): p⁻ = 69/14 + 15/14 = 6.
TEST(Kalman, HandComputedSequence) {
    const double tol = 1e-12;  // double arithmetic on small rationals: only rounding error
    KalmanFilter2D kf(0.5);
    auto c = kf.correct(3, 10);
    EXPECT_NEAR(c[0], 0, tol);
    EXPECT_NEAR(c[1], 0, tol);
    auto p = kf.predict();
    EXPECT_NEAR(p[0], 0, tol);
    EXPECT_NEAR(kf.cov_pre()[0], 0.5, tol);
    EXPECT_NEAR(kf.cov_pre()[2], 0.0, tol);

    c = kf.correct(3, -6);
    EXPECT_NEAR(c[0], 1, tol);
    EXPECT_NEAR(c[1], -2, tol);
    EXPECT_NEAR(kf.cov_post()[0 * 4 + 0], 1.0 / 3, tol);
    EXPECT_NEAR(kf.cov_post()[2 * 4 + 2], 0.5, tol);
    p = kf.predict();
    EXPECT_NEAR(p[0], 1, tol);
    EXPECT_NEAR(p[1], -2, tol);
    EXPECT_NEAR(kf.cov_pre()[0 * 4 + 0], 4.0 / 3, tol);
    EXPECT_NEAR(kf.cov_pre()[0 * 4 + 2], 0.5, tol);
    EXPECT_NEAR(kf.cov_pre()[2 * 4 + 0], 0.5, tol);
    EXPECT_NEAR(kf.cov_pre()[2 * 4 + 2], 1.0, tol);
    EXPECT_NEAR(kf.cov_pre()[0 * 4 + 1], 0.0, tol);  // the axes never mix

    c = kf.correct(6, -4);
    EXPECT_NEAR(c[0], 27.0 / 7, tol);
    EXPECT_NEAR(c[1], -22.0 / 7, tol);
    EXPECT_NEAR(kf.state_post()[2], 15.0 / 14, tol);
    EXPECT_NEAR(kf.state_post()[3], -3.0 / 7, tol);
    EXPECT_NEAR(kf.cov_post()[0 * 4 + 0], 4.0 / 7, tol);
    EXPECT_NEAR(kf.cov_post()[0 * 4 + 2], 3.0 / 14, tol);
    EXPECT_NEAR(kf.cov_post()[2 * 4 + 2], 25.0 / 28, tol);
    p = kf.predict();
    EXPECT_NEAR(p[0], 69.0 / 14, tol);
    EXPECT_NEAR(p[1], -25.0 / 7, tol);
    p = kf.predict();
    EXPECT_NEAR(p[0], 6.0, tol);
}

TEST(Kalman, CorrectWorksFromTheLastPrior) {
    // Two corrections in a row start from the same prior (OpenCV's correct() reads statePre/errorCovPre).
    KalmanFilter2D kf(0.5);
    kf.predict();
    const auto a = kf.correct(3, -6);
    const auto b = kf.correct(3, -6);
    EXPECT_DOUBLE_EQ(a[0], b[0]);
    EXPECT_DOUBLE_EQ(a[1], b[1]);
    EXPECT_THROW(KalmanFilter2D(0.0), Error);
}

TEST(Kalman, WarmStartInflatesTheCovarianceSoTheNextCorrectionSnaps) {
    // 200 predictions from P = 0: per axis p' = p + 2c + v + q, c' = c + v, v' = v + q (P = [[p, c], [c, v]]).
    const double q = 3e-3;
    double pp = 0, cc = 0, vv = 0;
    for (int i = 0; i < 200; ++i) {
        pp = pp + 2 * cc + vv + q;
        cc = cc + vv;
        vv = vv + q;
    }
    KalmanFilter2D kf(q);
    kf.warm_start(200);
    EXPECT_NEAR(kf.cov_pre()[0], pp, 1e-9 * pp);  // relative: the sums reach ~8000
    EXPECT_NEAR(kf.cov_pre()[2], cc, 1e-9 * cc);
    EXPECT_NEAR(kf.cov_pre()[10], vv, 1e-9 * vv);
    // With x⁻ = 0 the correction is K·z, K = p/(p + 1) ≈ 0.99988: the measurement, nearly exactly.
    const auto c = kf.correct(120, 40);
    EXPECT_NEAR(c[0], 120 * pp / (pp + 1), 1e-9);
    EXPECT_NEAR(c[1], 40 * pp / (pp + 1), 1e-9);
    EXPECT_NEAR(c[0], 120, 0.05);
}

// --- boxes ------------------------------------------------------------------------------------------------------

TEST(Boxes, IouAndClamp) {
    EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.0);
    EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.0 / 150.0);
    EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {20, 20, 30, 30}), 0.0);
    EXPECT_DOUBLE_EQ(box_iou({0, 0, 0, 10}, {0, 0, 10, 10}), 0.0);
    EXPECT_EQ(clamp_box({-5, 3, 120, 90}, 100, 80), (BoxI{0, 3, 100, 80}));
}

TEST(BoxSmoother, KalmanFirstSightIsRawThenFollowsTheFilters) {
    SmoothOptions o;  // Kalman, 3e-3, 200 warm-start predictions
    BoxSmoother s(o);
    const BoxI first{100, 50, 200, 150};
    EXPECT_EQ(s.update(first, 640, 480), first);
    // The same calls on stand-alone filters give the expected second box (the filter itself is tested above).
    KalmanFilter2D k0(o.kf_noise_coef), k1(o.kf_noise_coef);
    k0.warm_start(200);
    k1.warm_start(200);
    const BoxI det{110, 52, 212, 154};
    k0.correct(det.x0, det.y0);
    k1.correct(det.x1, det.y1);
    const auto p0 = k0.predict(), p1 = k1.predict();
    const BoxI want{int(std::floor(p0[0])), int(std::floor(p0[1])), int(std::floor(p1[0])), int(std::floor(p1[1]))};
    EXPECT_EQ(s.update(det, 640, 480), want);
    // After the warm start the first correction snaps to the detection and the velocity estimate is small:
    // the box is within a pixel or two of the detection (overshooting by ~0.75 % of the coordinate).
    EXPECT_NEAR(want.x0, det.x0, 2);
    EXPECT_NEAR(want.x1, det.x1, 2);
}

TEST(BoxSmoother, StaticBoxConvergesAndJitterIsReduced) {
    // A face at rest with detector noise of ±3 px on every coordinate: the smoothed centre must move less than
    // the raw one from frame to frame (the jitter test) and stay closer to the true box on average.
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> noise(-3, 3);
    const BoxI truth{200, 100, 320, 220};
    for (SmoothMode mode : {SmoothMode::kalman, SmoothMode::ema}) {
        SmoothOptions o;
        o.mode = mode;
        BoxSmoother s(o);
        double raw_jitter = 0, smooth_jitter = 0, raw_err = 0, smooth_err = 0;
        double prev_raw = 0, prev_smooth = 0;
        for (int f = 0; f < 300; ++f) {
            const BoxI det{truth.x0 + noise(rng), truth.y0 + noise(rng), truth.x1 + noise(rng), truth.y1 + noise(rng)};
            const BoxI b = s.update(det, 640, 480);
            const double raw_c = (det.x0 + det.x1) / 2.0, sm_c = (b.x0 + b.x1) / 2.0;
            const double true_c = (truth.x0 + truth.x1) / 2.0;
            if (f >= 50) {  // after the filter has settled
                raw_jitter += std::fabs(raw_c - prev_raw);
                smooth_jitter += std::fabs(sm_c - prev_smooth);
                raw_err += std::fabs(raw_c - true_c);
                // The smoothed corners are floored: on average half a pixel low, which the centre inherits.
                smooth_err += std::fabs(sm_c + 0.5 - true_c);
            }
            prev_raw = raw_c;
            prev_smooth = sm_c;
        }
        EXPECT_LT(smooth_jitter, 0.5 * raw_jitter) << "mode " << int(mode);
        EXPECT_LT(smooth_err, raw_err) << "mode " << int(mode);
    }
}

TEST(BoxSmoother, MovingAverageClampAndCollapse) {
    SmoothOptions o;
    o.mode = SmoothMode::ema;
    BoxSmoother s(o);
    EXPECT_EQ(s.update({10, 20, 110, 120}, 640, 480), (BoxI{10, 20, 110, 120}));
    // int(0.65·10 + 0.35·20) = int(13.5) = 13; int(0.65·20 + 0.35·30) = 23; int(113.5) = 113; int(123.5) = 123.
    EXPECT_EQ(s.update({20, 30, 120, 130}, 640, 480), (BoxI{13, 23, 113, 123}));
    // Next: int(0.65·13 + 0.35·20) = int(15.45) = 15; int(0.65·23 + 0.35·30) = int(25.45) = 25; 115; 125.
    EXPECT_EQ(s.update({20, 30, 120, 130}, 640, 480), (BoxI{15, 25, 115, 125}));

    // Coefficient 0 follows the detection: clamped to the image, and a box that collapses keeps the previous.
    o.ema_coef = 0;
    BoxSmoother t(o);
    t.update({10, 10, 50, 50}, 100, 100);
    EXPECT_EQ(t.update({80, 90, 140, 130}, 100, 100), (BoxI{80, 90, 100, 100}));
    EXPECT_EQ(t.update({200, 200, 300, 300}, 100, 100), (BoxI{80, 90, 100, 100}));
    EXPECT_EQ(t.update({60, 10, 40, 50}, 100, 100), (BoxI{80, 90, 100, 100}));  // inverted: also a collapse

    o.mode = SmoothMode::none;
    BoxSmoother n(o);
    n.update({10, 10, 50, 50}, 100, 100);
    EXPECT_EQ(n.update({-5, 12, 52, 48}, 100, 100), (BoxI{0, 12, 52, 48}));
}

// --- tracking ---------------------------------------------------------------------------------------------------

TEST(FaceTracker, FacesKeepTheirTracksWhateverTheDetectionOrder) {
    TrackerOptions o;
    o.smooth.mode = SmoothMode::none;  // raw boxes: this test is about matching
    FaceTracker tr(o);
    // Two faces drifting right by 3 px a frame; the detector lists them in alternating order.
    int64_t left_id = -1, right_id = -1;
    for (int f = 0; f < 10; ++f) {
        const BoxI left{10 + 3 * f, 10, 110 + 3 * f, 110}, right{300 + 3 * f, 20, 380 + 3 * f, 100};
        std::vector<BoxI> dets = f % 2 ? std::vector<BoxI>{right, left} : std::vector<BoxI>{left, right};
        const std::vector<TrackedFace> faces = tr.update(dets, 640, 480);
        ASSERT_EQ(faces.size(), 2u);
        for (const TrackedFace& t : faces) {
            EXPECT_EQ(t.box, dets[size_t(t.detection)]);
            const bool is_left = t.raw == left;
            if (f == 0) (is_left ? left_id : right_id) = t.track_id;
            EXPECT_EQ(t.track_id, is_left ? left_id : right_id) << "frame " << f;
        }
    }
    EXPECT_NE(left_id, right_id);
    EXPECT_EQ(tr.num_tracks(), 2u);
}

TEST(FaceTracker, GreedyByIouMissesAndDrops) {
    TrackerOptions o;
    o.smooth.mode = SmoothMode::none;
    o.max_missed = 2;
    FaceTracker tr(o);
    const BoxI a{0, 0, 100, 100}, b{60, 0, 160, 100};  // two overlapping faces (IoU 40/160 = 0.25 < 0.3)
    auto f0 = tr.update({a, b}, 640, 480);
    ASSERT_EQ(f0.size(), 2u);
    // One detection between them, closer to b (IoU with b 0.82, with a 0.54): it continues b; a is missed.
    const BoxI c{50, 0, 150, 100};
    auto f1 = tr.update({c}, 640, 480);
    ASSERT_EQ(f1.size(), 1u);
    EXPECT_EQ(f1[0].track_id, f0[1].track_id);
    // a comes back after 2 missed frames (≤ max_missed): same track.
    tr.update({c}, 640, 480);
    auto f3 = tr.update({a, c}, 640, 480);
    ASSERT_EQ(f3.size(), 2u);
    EXPECT_EQ(f3[0].track_id, f0[0].track_id);
    // a gone for 3 frames (> max_missed): a new track when it reappears.
    for (int i = 0; i < 3; ++i) tr.update({c}, 640, 480);
    auto f7 = tr.update({a, c}, 640, 480);
    ASSERT_EQ(f7.size(), 2u);
    EXPECT_NE(f7[0].track_id, f0[0].track_id);
    EXPECT_EQ(f7[1].track_id, f0[1].track_id);
    // A far-away face starts a track; a box outside the image is ignored.
    auto f8 = tr.update({a, c, {400, 300, 480, 380}, {700, 10, 760, 60}}, 640, 480);
    ASSERT_EQ(f8.size(), 3u);
    EXPECT_EQ(f8[2].detection, 2);
    EXPECT_EQ(tr.num_tracks(), 3u);
}

TEST(FaceTracker, EachTrackHasItsOwnKalmanSmoother) {
    FaceTracker tr;  // Kalman defaults
    const BoxI a{10, 10, 110, 110}, b{300, 20, 380, 100};
    auto f0 = tr.update({a, b}, 640, 480);
    EXPECT_EQ(f0[0].box, a);  // first sight: raw
    EXPECT_EQ(f0[1].box, b);
    // Shared filters (the original) would drag one face's box toward the other's; separate ones stay put.
    auto f1 = tr.update({a, b}, 640, 480);
    EXPECT_NEAR(f1[0].box.x0, a.x0, 2);
    EXPECT_NEAR(f1[1].box.x0, b.x0, 4);  // ~0.75 % overshoot of 300 after the warm start, then floor
}

// --- colour correction ------------------------------------------------------------------------------------------

TEST(ColorCorrection, AdainHandComputed) {
    // One channel shown (all three carry the same numbers shifted). src [0, 2]: ms = 1, ss = 1.
    // tar [10, 20, 30, 40]: mt = 25, st = √125 = 11.1803. result = 11.1803·(x − 1)/(1 + 1e-7) + 25
    // = [13.8197, 36.1803].
    const ImageF src = make_image(1, 2, 3, {0, 0, 0, 2, 2, 2});
    const ImageF tar = make_image(2, 2, 3, {10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40});
    const ImageF r = adain(src, tar);
    for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(r.at(0, 0, c), 25 - std::sqrt(125.0), 1e-4);  // float storage of values ~25: ~2e-6
        EXPECT_NEAR(r.at(0, 1, c), 25 + std::sqrt(125.0), 1e-4);
    }
    // Clipping: tar [0, 255] (mt 127.5, st 127.5), src [0, 1, 2] (ms 1, ss √(2/3)):
    // 127.5·(−1)/0.8165 + 127.5 = −28.6 → 0; the middle value stays 127.5; the top is 283.6 → 255.
    const ImageF s2 = make_image(1, 3, 3, {0, 0, 0, 1, 1, 1, 2, 2, 2});
    const ImageF t2 = make_image(1, 2, 3, {0, 0, 0, 255, 255, 255});
    const ImageF r2 = adain(s2, t2);
    EXPECT_FLOAT_EQ(r2.at(0, 0, 1), 0.f);
    EXPECT_NEAR(r2.at(0, 1, 1), 127.5, 1e-4);
    EXPECT_FLOAT_EQ(r2.at(0, 2, 1), 255.f);
    // A flat source comes back unchanged; one flat channel (ss = 0) becomes the target mean.
    const ImageF flat = make_image(1, 2, 3, {5, 6, 7, 5, 6, 7});
    EXPECT_EQ(adain(flat, tar).px, flat.px);
    const ImageF half = make_image(1, 2, 3, {5, 0, 7, 5, 2, 7});
    const ImageF r3 = adain(half, tar);
    EXPECT_NEAR(r3.at(0, 0, 0), 25, 1e-4);
    EXPECT_NEAR(r3.at(0, 1, 2), 25, 1e-4);
}

TEST(ColorCorrection, AdainXyzWorksInXyz) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(40, 200);
    ImageF tar(4, 5, 3);
    for (float& v : tar.px) v = std::round(u(rng));
    // A constant offset in BGR is a constant offset in XYZ (a linear map): both modes undo it exactly.
    ImageF shifted = tar;
    for (float& v : shifted.px) v += 20;
    const float tol = 1e-3f;  // float round trip through the XYZ matrices on values ≤ 255
    const ImageF a = adain(shifted, tar), x = adain_xyz(shifted, tar);
    for (size_t i = 0; i < tar.px.size(); ++i) {
        EXPECT_NEAR(a.px[i], tar.px[i], tol);
        EXPECT_NEAR(x.px[i], tar.px[i], tol);
    }
    // Scaling one BGR channel: per-channel BGR adain restores it, the XYZ one cannot (the scale mixes into all
    // three XYZ channels), so the two modes must differ here.
    ImageF scaled = tar;
    for (size_t i = 0; i < scaled.px.size(); i += 3) scaled.px[i] = 0.5f * scaled.px[i] + 30;
    const ImageF a2 = adain(scaled, tar), x2 = adain_xyz(scaled, tar);
    double max_bgr = 0, max_xyz = 0;
    for (size_t i = 0; i < tar.px.size(); ++i) {
        max_bgr = std::max(max_bgr, double(std::fabs(a2.px[i] - tar.px[i])));
        max_xyz = std::max(max_xyz, double(std::fabs(x2.px[i] - tar.px[i])));
    }
    EXPECT_LT(max_bgr, tol);
    EXPECT_GT(max_xyz, 1.0);
}

TEST(ColorCorrection, HistMatchHandComputed) {
    // Channel 0: src [0, 0, 1, 2] → values {0, 1, 2}, quantiles {2/4, 3/4, 4/4}; tar [10, 20, 30, 40] →
    // quantiles {1/4, 2/4, 3/4, 1}: interp(0.5) = 20, interp(0.75) = 30, interp(1) = 40 → [20, 20, 30, 40].
    // Channel 1: src [5, 7, 9, 9] → quantiles {1/4, 2/4, 1}; tar [0, 0, 100, 100] → values {0, 100} at {2/4, 1}:
    // interp(0.25) = 0 (left of the first quantile), interp(0.5) = 0, interp(1) = 100 → [0, 0, 100, 100].
    // Channel 2: src [3, 1, 2, 4] → quantiles 1/4…1 (value order 1, 2, 3, 4); tar [0, 0, 0, 200] → {0, 200} at
    // {3/4, 1}: interp(0.25) = interp(0.5) = interp(0.75) = 0, interp(1) = 200 → src 3 → 0, 1 → 0, 2 → 0, 4 → 200.
    const ImageF src = make_image(1, 4, 3, {0, 5, 3, 0, 7, 1, 1, 9, 2, 2, 9, 4});
    const ImageF tar = make_image(2, 2, 3, {10, 0, 0, 20, 0, 0, 30, 100, 0, 40, 100, 200});
    const ImageF r = hist_match(src, tar);
    const std::vector<float> want = {20, 0, 0, 20, 0, 0, 30, 100, 0, 40, 100, 200};
    EXPECT_EQ(r.px, want);
    // Linear interpolation between target quantiles: src [5, 7, 9] → {1/3, 2/3, 1}; tar [0, 100] → {1/2, 1}:
    // interp(2/3) = 0 + (2/3 − 1/2)/(1/2)·100 = 33.33.
    const ImageF s2 = make_image(1, 3, 1, {5, 7, 9});
    const ImageF t2 = make_image(1, 2, 1, {0, 100});
    const ImageF r2 = hist_match(s2, t2);
    EXPECT_FLOAT_EQ(r2.px[0], 0.f);
    EXPECT_NEAR(r2.px[1], 100.0 / 3, 1e-4);  // float storage
    EXPECT_FLOAT_EQ(r2.px[2], 100.f);
    EXPECT_EQ(parse_color_correction("hist_match"), ColorCorrection::hist_match);
    EXPECT_EQ(parse_color_correction("adain_xyz"), ColorCorrection::adain_xyz);
    EXPECT_EQ(color_correct(src, tar, ColorCorrection::none).px, src.px);
    EXPECT_THROW(parse_color_correction("lab"), Error);
}

namespace {

// hist_match as the original's numpy code reads, with sorts and binary searches (what the histogram and radix-sort
// paths of convert_ops.cpp must reproduce exactly).
ImageF hist_match_reference(const ImageF& src, const ImageF& tar) {
    ImageF out = src;
    const size_t C = size_t(src.c);
    auto quantiles = [&](const ImageF& img, size_t c, std::vector<double>& v, std::vector<double>& q) {
        std::vector<float> x;
        for (size_t i = c; i < img.px.size(); i += C) x.push_back(img.px[i]);
        std::sort(x.begin(), x.end());
        v.clear();
        q.clear();
        for (size_t i = 0; i < x.size(); ++i) {
            if (i + 1 < x.size() && x[i + 1] == x[i]) continue;
            v.push_back(x[i]);
            q.push_back(double(i + 1) / double(x.size()));
        }
    };
    auto interp = [](double x, const std::vector<double>& xp, const std::vector<double>& fp) {
        if (x <= xp.front()) return fp.front();
        if (x >= xp.back()) return fp.back();
        const size_t j = size_t(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
        return fp[j] + (x - xp[j]) * (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    };
    for (size_t c = 0; c < C; ++c) {
        std::vector<double> sv, sq, tv, tq;
        quantiles(src, c, sv, sq);
        quantiles(tar, c, tv, tq);
        for (size_t i = c; i < src.px.size(); i += C) {
            const size_t k = size_t(std::lower_bound(sv.begin(), sv.end(), double(src.px[i])) - sv.begin());
            out.px[i] = float(std::clamp(interp(sq[k], tq, tv), 0.0, 255.0));
        }
    }
    return out;
}

}  // namespace

TEST(ColorCorrection, HistMatchFastPathsMatchTheSortingReference) {
    // 8-bit images (the histogram paths), float images with repeated values, and odd values (negative, −0, > 255,
    // fractions) that must take the radix-sort path: every output bit-identical to the sort-based reference.
    std::mt19937_64 rng(11);
    auto image = [&](int h, int w, int kind) {
        ImageF img(h, w, 3);
        std::uniform_real_distribution<float> u(0.f, 255.f);
        for (float& v : img.px) {
            switch (kind) {
                case 0: v = float(rng() % 256); break;                     // 8-bit
                case 1: v = std::round(u(rng) * 4.f) / 4.f; break;         // quarter steps: many duplicates
                case 2: v = u(rng); break;                                  // distinct floats
                default: {
                    const float odd[] = {-0.f, 0.f, -3.5f, 300.f, 12.25f, 7.f};
                    v = odd[rng() % 6];
                }
            }
        }
        return img;
    };
    for (int ks = 0; ks < 4; ++ks)
        for (int kt = 0; kt < 4; ++kt) {
            const ImageF src = image(37, 29, ks), tar = image(23, 41, kt);
            const ImageF got = hist_match(src, tar), want = hist_match_reference(src, tar);
            ASSERT_EQ(got.px.size(), want.px.size());
            for (size_t i = 0; i < got.px.size(); ++i)
                ASSERT_EQ(got.px[i], want.px[i]) << "source kind " << ks << ", target kind " << kt << ", element " << i;
        }
}

// --- ROI, Gaussian, feather -------------------------------------------------------------------------------------

TEST(ConvertRoi, MarginsAsPythonInt) {
    EXPECT_EQ(roi_margin(256, 0.9), 25);  // 25.6 → 25
    EXPECT_EQ(roi_margin(100, 0.9), 9);   // 100·(1 − 0.9) = 9.999999999999998 in double → 9
    EXPECT_EQ(roi_margin(40, 0.9), 3);    // 3.999… → 3
    EXPECT_EQ(roi_box(256, 200, 0.9), (BoxI{19, 25, 181, 231}));
    EXPECT_THROW(roi_box(9, 100, 0.9), Error);  // 0.9 px margin → 0: too small a face
    EXPECT_THROW(roi_margin(100, 1.0), Error);
    EXPECT_THROW(roi_margin(100, 0.0), Error);
}

TEST(ConvertRoi, GaussianBlurMatchesTheTwoDimensionalFilter) {
    const std::vector<double> k = gaussian_kernel(15, 10);
    ASSERT_EQ(k.size(), 15u);
    EXPECT_NEAR(k[7] / k[6], std::exp(1.0 / 200), 1e-12);  // exp(−x²/(2σ²)) with σ = 10
    EXPECT_NEAR(k[7] / k[0], std::exp(49.0 / 200), 1e-12);
    EXPECT_DOUBLE_EQ(k[3], k[11]);
    // Separable passes vs augment.h's filter2d with the outer-product kernel (both BORDER_REFLECT_101), on an
    // image smaller than the kernel in one direction so the reflection is exercised.
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> u(0, 255);
    ImageF img(23, 6, 2);
    for (float& v : img.px) v = u(rng);
    ImageF k2(15, 15, 1);
    for (int y = 0; y < 15; ++y)
        for (int x = 0; x < 15; ++x) k2.at(y, x, 0) = float(k[size_t(y)] * k[size_t(x)]);
    const ImageF a = gaussian_blur(img, 15, 10), b = filter2d(img, k2);
    for (size_t i = 0; i < a.px.size(); ++i) EXPECT_NEAR(a.px[i], b.px[i], 2e-3) << i;  // float sums of 225 terms
}

TEST(ConvertRoi, FeatherMask) {
    // 40×40, coverage 0.9: margin 3, inner [3, 37)². At the corner (0, 0) the reflected 15-tap window covers
    // offsets −7..7 → indices 7..1, 0, 1..7; the inner ones are |offset| ≥ 3: weight 2·Σ_{j=3..7} k_j per axis.
    const std::vector<double> k = gaussian_kernel(15, 10);
    double w = 0;
    for (int j = 3; j <= 7; ++j) w += 2 * k[size_t(7 + j)];
    const ImageF m = feather_mask(40, 40, 0.9);
    ASSERT_EQ(m.c, 1);
    EXPECT_EQ(m.at(0, 0, 0), std::nearbyint(255 * w * w));
    EXPECT_EQ(m.at(20, 20, 0), 255.f);
    EXPECT_LT(m.at(3, 20, 0), 255.f);  // feathered at the rectangle's edge
    EXPECT_GT(m.at(3, 20, 0), m.at(0, 20, 0));
    EXPECT_EQ(m.at(0, 20, 0), m.at(39, 20, 0));  // symmetric
    EXPECT_EQ(m.at(20, 0, 0), m.at(0, 20, 0));
    for (float v : m.px) EXPECT_EQ(v, std::round(v));  // stored 8-bit
    // A margin of 0 is Python's empty [0:-0] slice: nothing is set.
    const ImageF z = feather_mask(9, 9, 0.9);
    for (float v : z.px) EXPECT_EQ(v, 0.f);
}

// --- the face transform -----------------------------------------------------------------------------------------

namespace {

/// A fake generator: records its input, returns a constant α and bgr (in the generator's [-1, 1] scale).
struct FakeGenerator {
    float alpha = 1.f;
    std::array<float, 3> bgr{{0.f, 0.f, 0.f}};
    std::shared_ptr<Tensor> seen = std::make_shared<Tensor>();
    GeneratorFn fn() const {
        FakeGenerator g = *this;
        return [g](const Tensor& x) {
            *g.seen = x.contiguous();
            const int64_t R = x.size(2);
            DecoderOut o;
            o.alpha = Tensor::full({1, 1, R, R}, g.alpha);
            o.bgr = Tensor::empty({1, 3, R, R});
            float* p = o.bgr.data<float>();
            for (int64_t c = 0; c < 3; ++c)
                for (int64_t i = 0; i < R * R; ++i) p[c * R * R + i] = g.bgr[size_t(c)];
            return o;
        };
    }
};

ImageF random_crop(int h, int w, uint64_t seed) {
    std::mt19937_64 rng(seed);
    ImageF img(h, w, 3);
    for (float& v : img.px) v = float(rng() % 256);
    return img;
}

}  // namespace

TEST(FaceTransform, TheGeneratorSeesTheRoiOnly) {
    // 100×100 crop, coverage 0.9: margin 9, ROI [9, 91)². The ROI is 200, everything outside 0: a constant input
    // (200/255·2 − 1 everywhere) proves the ROI was cut exactly, since any outside pixel would leak into the
    // resize at the input's edges.
    ImageF crop(100, 100, 3, 0.f);
    for (int y = 9; y < 91; ++y)
        for (int x = 9; x < 91; ++x)
            for (int c = 0; c < 3; ++c) crop.at(y, x, c) = 200.f;
    FakeGenerator g;
    FaceTransformOptions o;
    o.res = 64;
    o.color = ColorCorrection::none;
    face_transform(crop, g.fn(), o);
    ASSERT_EQ(g.seen->shape(), (Shape{1, 3, 64, 64}));
    const float want = 200.f / 255.f * 2.f - 1.f;
    const float* p = g.seen->data<float>();
    for (int64_t i = 0; i < g.seen->numel(); ++i) ASSERT_EQ(p[i], want) << i;
}

TEST(FaceTransform, ZeroAlphaChangesNothing) {
    const ImageF crop = random_crop(90, 80, 1);
    FakeGenerator g;
    g.alpha = 0.f;
    g.bgr = {0.5f, -0.5f, 0.9f};
    FaceTransformOptions o;
    o.res = 32;
    o.color = ColorCorrection::none;
    const FaceTransformResult r = face_transform(crop, g.fn(), o);
    EXPECT_EQ(r.blended.px, crop.px);  // masked = ROI, so the feathered blend is the ROI again (integral values)
    for (float v : r.alpha.px) ASSERT_EQ(v, 0.f);
    // The raw output still carries the generator's colour in the ROI: (0.5 + 1)·127.5 = 191.25 → 191.
    const BoxI rb = roi_box(90, 80, 0.9);
    EXPECT_EQ(r.raw.at(45, 40, 0), 191.f);
    EXPECT_EQ(r.raw.at(0, 0, 0), crop.at(0, 0, 0));  // outside the ROI: the crop
    EXPECT_EQ(r.raw.at(rb.y0 - 1, 40, 1), crop.at(rb.y0 - 1, 40, 1));
    // Identity alignment: the composite with α = 0 is the crop itself.
    const Affine id = {1, 0, 0, 0, 1, 0};
    const SwappedFace s = swap_face(crop, id, id, g.fn(), o);
    EXPECT_EQ(s.result.px, crop.px);
}

TEST(FaceTransform, FullAlphaConstantFaceAndFeather) {
    const ImageF crop = random_crop(100, 100, 2);
    FakeGenerator g;
    g.alpha = 1.f;
    g.bgr = {-1.f, 0.f, 0.5f};  // → 0, 127.5, 191.25: away from integers, so the truncations below are robust to
                                // the float error of resizing a constant (a few ulp either way)
    FaceTransformOptions o;
    o.res = 32;
    o.color = ColorCorrection::none;
    const FaceTransformResult r = face_transform(crop, g.fn(), o);
    const BoxI rb = roi_box(100, 100, 0.9);  // [9, 91)
    // Centre: feather 255, α 255: the generator's colour, truncated by the uint8 stores.
    EXPECT_EQ(r.blended.at(50, 50, 0), 0.f);
    EXPECT_EQ(r.blended.at(50, 50, 1), 127.f);
    EXPECT_EQ(r.blended.at(50, 50, 2), 191.f);
    EXPECT_EQ(r.raw.at(50, 50, 1), 127.f);
    // α·255 resized in float may land an ulp below 255 before truncation (in the original too): 254 or 255.
    EXPECT_GE(r.alpha.at(50, 50, 0), 254.f);
    // α outside the ROI is 0. The feather's rectangle starts int(82·0.1) = 8 px inside the 82-px ROI, beyond the
    // 7-px reach of the blur, so the feather (and α) is 0 on the ROI's border too, and about half at the
    // rectangle's edge, where α is the feather (f/255 · α·255, truncated: f or f − 1).
    EXPECT_EQ(r.alpha.at(rb.y0 - 1, 50, 0), 0.f);
    const ImageF f = feather_mask(rb.height(), rb.width(), 0.9);
    const int fm = roi_margin(rb.height(), 0.9), ye = rb.y0 + fm;
    EXPECT_EQ(f.at(0, 50 - rb.x0, 0), 0.f);
    EXPECT_EQ(r.alpha.at(rb.y0, 50, 0), 0.f);
    const float f_edge = f.at(fm, 50 - rb.x0, 0);
    EXPECT_GT(f_edge, 64.f);
    EXPECT_LT(f_edge, 192.f);
    EXPECT_NEAR(r.alpha.at(ye, 50, 0), f_edge, 1.0);
    // Blended there: crop + f·(127 − crop) in the green channel, truncated.
    const float fe = f_edge / 255.f, c0 = crop.at(ye, 50, 1);
    EXPECT_NEAR(r.blended.at(ye, 50, 1), std::trunc(c0 + fe * (127.f - c0)), 1.0);     // ±1: truncation edge
    for (int x = 0; x < 100; ++x) EXPECT_EQ(r.blended.at(3, x, 1), crop.at(3, x, 1));  // outside the ROI

    // A black face (exactly flat in every channel): hist_match maps the single quantile 1 to the ROI's maximum in
    // each channel; adain returns a flat source unchanged.
    g.bgr = {-1.f, -1.f, -1.f};
    o.color = ColorCorrection::hist_match;
    const FaceTransformResult h = face_transform(crop, g.fn(), o);
    const ImageF roi = crop_image(crop, rb);
    for (int c = 0; c < 3; ++c) {
        float mx = 0;
        for (size_t i = size_t(c); i < roi.px.size(); i += 3) mx = std::max(mx, roi.px[i]);
        EXPECT_EQ(h.raw.at(50, 50, c), mx) << c;
    }
    o.color = ColorCorrection::adain;
    EXPECT_EQ(face_transform(crop, g.fn(), o).raw.at(50, 50, 1), 0.f);
    // Too small a crop for the coverage.
    EXPECT_THROW(face_transform(random_crop(9, 9, 3), g.fn(), o), Error);
}

TEST(FaceTransform, SwapFaceWarpsThereAndBack) {
    // A 10° rotation about the centre as the alignment and its inverse as the way back (an exact inverse here; the
    // converter fits the second similarity from swapped landmarks). A constant opaque face lands, after both
    // warps, on the crop's centre; the crop's corners map outside the ROI, where α is 0 and the crop is kept.
    const ImageF crop = random_crop(100, 100, 6);
    FakeGenerator g;
    g.alpha = 1.f;
    g.bgr = {-1.f, 0.f, 0.5f};  // → 0, 127, 191 after the 8-bit stores
    FaceTransformOptions o;
    o.res = 32;
    o.color = ColorCorrection::none;
    const Affine to = rotation_matrix_2d(49.5, 49.5, 10.0, 1.0), back = invert_affine(to);
    const SwappedFace s = swap_face(crop, to, back, g.fn(), o);
    ASSERT_EQ(s.result.h, 100);
    ASSERT_EQ(s.alpha.c, 1);
    // Centre: α ≥ 254/255 after the truncating store and the rounding warp, so within a level of the face colour.
    EXPECT_NEAR(s.result.at(50, 50, 0), 0.f, 1.0);
    EXPECT_NEAR(s.result.at(50, 50, 1), 127.f, 1.0);
    EXPECT_NEAR(s.result.at(50, 50, 2), 191.f, 1.0);
    EXPECT_GE(s.alpha.at(50, 50, 0), 254.f);
    for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(s.result.at(0, 0, c), crop.at(0, 0, c));
        EXPECT_EQ(s.result.at(99, 99, c), crop.at(99, 99, c));
    }
    EXPECT_EQ(s.alpha.at(0, 99, 0), 0.f);
}

TEST(FaceTransform, RealModelGenerator) {
#ifdef FS_SANITIZE_BUILD
    GTEST_SKIP() << "a generator forward pass is slow under the sanitizers";
#endif
    ModelConfig c;
    c.res = 64;
    c.capacity = Capacity::lite;
    FaceSwapModel m(c);
    const ImageF crop = random_crop(120, 120, 4);
    FaceTransformOptions o;
    o.res = 64;
    for (ColorCorrection cc :
         {ColorCorrection::none, ColorCorrection::adain, ColorCorrection::adain_xyz, ColorCorrection::hist_match}) {
        o.color = cc;
        const FaceTransformResult r = face_transform(crop, model_generator(m, true), o);
        ASSERT_EQ(r.raw.h, 120);
        for (const ImageF* img : {&r.blended, &r.raw, &r.alpha})
            for (float v : img->px) ASSERT_TRUE(v >= 0 && v <= 255 && v == std::trunc(v)) << color_correction_name(cc);
    }
}

// --- composite, enhance, layouts --------------------------------------------------------------------------------

TEST(ConvertCompose, CompositeAlpha) {
    const ImageF raw = make_image(1, 3, 3, {200, 100, 0, 200, 100, 0, 200, 100, 0});
    const ImageF orig = make_image(1, 3, 3, {0, 50, 250, 0, 50, 250, 0, 50, 250});
    const ImageF a = make_image(1, 3, 1, {255, 0, 51});
    const ImageF r = composite_alpha(raw, a, orig);
    const std::vector<float> want = {200, 100, 0, 0, 50, 250, 40, 60, 200};             // α 0.2: 0.2·raw + 0.8·orig
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(r.px[i], want[i], 1e-4) << i;  // float products
}

TEST(ConvertCompose, EnhanceAndLayouts) {
    // A 2×4 frame of grey 100 (B = G = R); one face at [1, 3)×[0, 2) with result 120 / 250 and α 255 / 102.
    const ImageF input(2, 4, 3, 100.f);
    FrameComposer fc(input);
    ImageF face(2, 2, 3, 120.f);
    for (int c = 0; c < 3; ++c) face.at(1, 1, c) = 250.f;
    ImageF alpha(2, 2, 1, 255.f);
    alpha.at(0, 0, 0) = 102.f;
    alpha.at(1, 0, 0) = 0.f;
    fc.add_face({1, 0, 3, 2}, face, alpha);

    // Layout 1 with enhance 0.5: (1.5)·120 − 0.5·100 = 130; 1.5·250 − 50 = 325 → 255; untouched pixels stay 100.
    const Image r1 = fc.render(OutputLayout::result, 0.5);
    ASSERT_EQ(r1.width, 4);
    auto px = [](const Image& im, int x, int y, int c) { return int(im.pixels[size_t((y * im.width + x) * 3 + c)]); };
    EXPECT_EQ(px(r1, 0, 0, 0), 100);
    EXPECT_EQ(px(r1, 1, 0, 0), 130);
    EXPECT_EQ(px(r1, 2, 1, 0), 255);
    EXPECT_EQ(px(fc.render(OutputLayout::result), 1, 0, 0), 120);

    // Layout 2: input ‖ result.
    const Image r2 = fc.render(OutputLayout::side_by_side);
    ASSERT_EQ(r2.width, 8);
    EXPECT_EQ(px(r2, 1, 0, 0), 100);
    EXPECT_EQ(px(r2, 4 + 1, 0, 0), 120);

    // Layout 3: the mask panel is clip(255·hot(α/255) + 0.15·input). α 0 → 15; α 255 → white; α 102 → hot(0.4)
    // = (r 1, g 0.2, b 0): R 255, G 51 + 15 = 66, B 15. The Image is RGB.
    const Image r3 = fc.render(OutputLayout::with_mask);
    ASSERT_EQ(r3.width, 12);
    EXPECT_EQ(px(r3, 8 + 0, 0, 0), 15);
    EXPECT_EQ(px(r3, 8 + 2, 0, 1), 255);
    EXPECT_EQ(px(r3, 8 + 1, 0, 0), 255);
    EXPECT_EQ(px(r3, 8 + 1, 0, 1), 66);
    EXPECT_EQ(px(r3, 8 + 1, 0, 2), 15);
    EXPECT_EQ(px(r3, 8 + 1, 1, 0), 15);  // α 0 inside the box

    // A second overlapping face adds its α (clipped at 255).
    fc.add_face({0, 0, 2, 2}, ImageF(2, 2, 3, 100.f), ImageF(2, 2, 1, 200.f));
    EXPECT_EQ(fc.mask().at(0, 1, 0), 255.f);                      // 102 + 200 → 255
    EXPECT_EQ(fc.mask().at(1, 1, 0), 200.f);                      // 0 + 200
    EXPECT_THROW(fc.add_face({3, 0, 5, 2}, face, alpha), Error);  // outside the frame

    const auto h = hot_colormap(1.f / 3);  // r 1, g 0, b 0
    EXPECT_NEAR(h[2], 1.f, 1e-6);
    EXPECT_NEAR(h[1], 0.f, 1e-6);
    EXPECT_EQ(layout_width(OutputLayout::with_mask, 7), 21);
}
