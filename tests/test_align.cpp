// test_align.cpp: the square crop, the 5-point alignment and the eye masks of spec §7.1–7.3.
#include <gtest/gtest.h>

#include <cmath>

#include "faceswap/align.h"
#include "testdata.h"

namespace fs {
namespace {

TEST(Align, SquareBoxByHand) {
    FaceDetection d;
    d.x1 = 10.3, d.y1 = 20.7, d.x2 = 50.9, d.y2 = 70.2;
    // w = int(40.6) = 40, h = int(49.5) = 49, length 44.5, half = 44.5 // 2 = 22; centre (int 30.6, int 45.45)
    SquareBox b = square_box(d, 100, 100);
    EXPECT_EQ(b.x0, 8);
    EXPECT_EQ(b.x1, 52);
    EXPECT_EQ(b.y0, 23);
    EXPECT_EQ(b.y1, 67);
    // clipped to the image
    SquareBox c = square_box(d, 40, 60);
    EXPECT_EQ(c.x1, 40);
    EXPECT_EQ(c.y1, 60);
    EXPECT_EQ(c.x0, 8);
}

// A detection whose five points are the template placed by a known similarity (scale s, rotation th, shift).
FaceDetection synthetic_detection(double s, double th, double tx, double ty) {
    FaceDetection d;
    for (size_t k = 0; k < 5; ++k) {
        double x = k_face_template[k].x * 100 - 50, y = k_face_template[k].y * 100 - 50;
        d.points[k] = {tx + s * (std::cos(th) * x - std::sin(th) * y), ty + s * (std::sin(th) * x + std::cos(th) * y)};
    }
    d.x1 = tx - 50 * s, d.y1 = ty - 50 * s, d.x2 = tx + 50 * s, d.y2 = ty + 50 * s;
    d.score = 0.99;
    return d;
}

TEST(Align, LandmarksLandOnTheTemplate) {
    for (double th : {0.0, 0.2, -0.3}) {
        FaceDetection d = synthetic_detection(1.7, th, 160, 140);
        Alignment a = align_face(d, 320, 280, 256);
        double worst = 0;
        for (size_t k = 0; k < 5; ++k) {
            Point2 p = apply_affine(a.to_face, d.points[k]);
            worst = std::max(worst, std::hypot(p.x - k_face_template[k].x * 256, p.y - k_face_template[k].y * 256));
        }
        // Both point sets are truncated to whole crop pixels before the fit (as the original): up to ~1.4 crop px,
        // i.e. 1.4·256/170 ≈ 2.1 px here.
        EXPECT_LT(worst, 2.2) << "rotation " << th;
        // The fit removes the rotation: the eyes come out level (to the truncation error).
        Point2 le = apply_affine(a.to_face, d.points[0]), re = apply_affine(a.to_face, d.points[1]);
        EXPECT_LT(std::abs(std::atan2(re.y - le.y, re.x - le.x) -
                           std::atan2(k_face_template[1].y - k_face_template[0].y,
                                      k_face_template[1].x - k_face_template[0].x)),
                  0.03);  // radians; truncation again
        // The pasting transform is (nearly) the inverse: the fit is least squares both ways.
        for (size_t k = 0; k < 5; ++k) {
            Point2 back = apply_affine(a.to_frame, apply_affine(a.to_face, d.points[k]));
            EXPECT_NEAR(back.x, d.points[k].x, 2.0);  // two fits of truncated points
            EXPECT_NEAR(back.y, d.points[k].y, 2.0);
        }
    }
}

TEST(Align, WarpMovesImageContentToTheTemplate) {
    FaceDetection d = synthetic_detection(1.5, 0.25, 150, 150);
    ImageF frame(300, 300, 3, 0.f);
    // A bright 5×5 square at the left eye.
    int ex = int(std::lround(d.points[0].x)), ey = int(std::lround(d.points[0].y));
    for (int y = ey - 2; y <= ey + 2; ++y)
        for (int x = ex - 2; x <= ex + 2; ++x)
            for (int c = 0; c < 3; ++c) frame.at(y, x, c) = 255.f;
    Alignment a = align_face(d, 300, 300, 128);
    ImageF face = warp_to_face(frame, a);
    ASSERT_EQ(face.w, 128);
    double sx = 0, sy = 0, sw = 0;
    for (int y = 0; y < 128; ++y)
        for (int x = 0; x < 128; ++x) sx += x * face.at(y, x, 0), sy += y * face.at(y, x, 0), sw += face.at(y, x, 0);
    ASSERT_GT(sw, 0);
    // centroid of the square vs the template's left eye; rounding the square's centre + truncation ≈ 1.5 px
    EXPECT_NEAR(sx / sw, k_face_template[0].x * 128, 1.5);
    EXPECT_NEAR(sy / sw, k_face_template[0].y * 128, 1.5);
}

TEST(Align, EyeMaskCoversTheEyesOnly) {
    FaceDetection d = synthetic_detection(2.0, 0.1, 200, 200);
    Alignment a = align_face(d, 400, 400, 256);
    ImageF m = eye_mask(d, a);
    ASSERT_EQ(m.c, 1);
    for (size_t k = 0; k < 2; ++k)
        EXPECT_GT(m.at(int(k_face_template[k].y * 256), int(k_face_template[k].x * 256), 0), 250.f) << "eye " << k;
    EXPECT_EQ(m.at(int(k_face_template[2].y * 256), int(k_face_template[2].x * 256), 0), 0.f);  // nose
    EXPECT_EQ(m.at(int(k_face_template[3].y * 256), int(k_face_template[3].x * 256), 0), 0.f);  // mouth
    double total = 0;
    for (float v : m.px) total += v / 255.0;
    // Two rectangles of (2h/15)·(2w/8) crop px each, scaled to 256: ≈ 2·(0.133·0.25)·256² ≈ 4370 px.
    EXPECT_NEAR(total, 2 * (2.0 / 15) * (2.0 / 8) * 256 * 256, 600);  // truncation of the rectangle ends
}

TEST(Align, EmptyCropIsAnError) {
    FaceDetection d;
    d.x1 = 5, d.y1 = 5, d.x2 = 5.5, d.y2 = 5.5;
    EXPECT_THROW(align_face(d, 100, 100), Error);
    EXPECT_THROW(crop_box(ImageF(10, 10, 3), SquareBox{0, 0, 20, 5}), Error);
}

}  // namespace
}  // namespace fs
