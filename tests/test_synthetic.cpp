// test_synthetic.cpp: the procedural faces are deterministic, in range, and the identities differ while the
// same frame parameters give the same layout.
#include <gtest/gtest.h>

#include <cmath>

#include "faceswap/synthetic.h"

using namespace fs;

static double mean_abs_diff(const Tensor& a, const Tensor& b) {
    std::vector<double> va = a.to_vector(), vb = b.to_vector();
    double s = 0;
    for (size_t i = 0; i < va.size(); ++i) s += std::fabs(va[i] - vb[i]);
    return s / double(va.size());
}

TEST(Synthetic, DeterministicAndInRange) {
    std::mt19937_64 r1(42), r2(42);
    FrameParams f1 = random_frame(r1), f2 = random_frame(r2);
    Tensor a = render_face(identity_a(), f1, 32), b = render_face(identity_a(), f2, 32);
    EXPECT_EQ(max_abs_diff(a, b), 0.0);
    ASSERT_EQ(a.shape(), (Shape{3, 32, 32}));
    for (double v : a.to_vector()) {
        EXPECT_GE(v, -1.0);
        EXPECT_LE(v, 1.0);
    }
}

TEST(Synthetic, IdentitiesDifferMoreThanFramesOfOne) {
    std::mt19937_64 rng(1);
    FrameParams f = random_frame(rng);
    f.background[0] = f.background[1] = f.background[2] = 0.5;
    FrameParams g = f;
    g.mouth_open = 1.0 - f.mouth_open;  // a different expression of the same person
    g.gaze_x = -f.gaze_x;
    double between = mean_abs_diff(render_face(identity_a(), f, 48), render_face(identity_b(), f, 48));
    double within = mean_abs_diff(render_face(identity_a(), f, 48), render_face(identity_a(), g, 48));
    EXPECT_GT(within, 0.0);
    EXPECT_GT(between, 2 * within);
}

TEST(Synthetic, RejectsSillySizes) { EXPECT_THROW(render_face(identity_a(), FrameParams{}, 2), Error); }
