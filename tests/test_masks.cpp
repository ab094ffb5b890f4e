// test_masks.cpp: the OpenCV-semantics mask operations of faceswap/masks.h on small images with hand-computed
// results (every expected pixel is derived in the comments), the eye-mask recipe on synthetic landmarks, and
// write_image (the masks keep their faces' formats).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "faceswap/masks.h"
#include "io/image.h"

using namespace fs;

namespace {

// The image as rows of '#' (value `on`) and '.' (0), for readable comparisons.
std::string picture(const ImageF& img, float on = 255.f) {
    std::string s;
    for (int y = 0; y < img.h; ++y) {
        for (int x = 0; x < img.w; ++x) s += img.at(y, x, 0) == on ? '#' : img.at(y, x, 0) == 0.f ? '.' : '?';
        s += '\n';
    }
    return s;
}

}  // namespace

TEST(ConvexHull, DropsInteriorAndCollinearPointsAndKeepsTheOrder) {
    // Square (0,0)-(4,4) plus an interior point (2,2), a point on an edge (2,0) and a duplicate corner.
    std::vector<Point2> pts = {{4, 4}, {2, 2}, {0, 0}, {2, 0}, {4, 0}, {0, 4}, {4, 4}};
    std::vector<Point2> h = convex_hull(pts);
    ASSERT_EQ(h.size(), 4u);
    // From the lowest-x, lowest-y point along the smaller-y side: (0,0) (4,0) (4,4) (0,4).
    const double want[4][2] = {{0, 0}, {4, 0}, {4, 4}, {0, 4}};
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(h[size_t(i)].x, want[i][0]) << i;
        EXPECT_EQ(h[size_t(i)].y, want[i][1]) << i;
    }
    // Degenerate inputs come back as their distinct points.
    EXPECT_EQ(convex_hull({{1, 1}, {1, 1}}).size(), 1u);
    EXPECT_EQ(convex_hull({{0, 0}, {1, 1}, {2, 2}}).size(), 2u);  // collinear: the two ends
}

TEST(FillConvexPoly, RightTriangleIncludesItsHypotenuse) {
    // (0,0) (4,0) (0,4): rows y = 0..4 span x = 0 .. 4 − y (the right chain x = 4 − y is integral), and the
    // 8-connected outline (the diagonal (4,0) (3,1) (2,2) (1,3) (0,4)) adds nothing new: x + y <= 4.
    ImageF img(5, 6, 1);
    fill_convex_poly(img, {{0, 0}, {4, 0}, {0, 4}}, 255.f);
    EXPECT_EQ(picture(img), "#####.\n####..\n###...\n##....\n#.....\n");
}

TEST(FillConvexPoly, SpansRoundHalfUpLikeOpenCV) {
    // (0,0) (3,0) (0,2): the right edge is x = 3 − 1.5·y. Row 0: [0, 3]. Row 1: the edge is at 1.5 (in 16.16
    // fixed point 3 − 98303/65536, a hair above 1.5), rounded half up to 2: [0, 2] (a pixel-centre-inside rule
    // would stop at 1). Row 2 is the bottom vertex: the scan stops before it and the outline gives (0,2) only.
    // The outline (0,2) (1,1) (2,1) (3,0) (Bresenham from the left end) is inside that already.
    ImageF img(3, 5, 1);
    fill_convex_poly(img, {{0, 0}, {3, 0}, {0, 2}}, 255.f);
    EXPECT_EQ(picture(img), "####.\n###..\n#....\n");
}

TEST(FillConvexPoly, RectangleOrderAndClippingDoNotMatter) {
    // Integer rectangle x 1..3, y 1..2, given clockwise and counter-clockwise, and one that hangs off the image
    // on the left and bottom (x −2..1, y 2..9): only the inside part is drawn.
    ImageF a(4, 5, 1), b(4, 5, 1), c(4, 5, 1);
    fill_convex_poly(a, {{1, 1}, {3, 1}, {3, 2}, {1, 2}}, 255.f);
    fill_convex_poly(b, {{1, 2}, {3, 2}, {3, 1}, {1, 1}}, 255.f);
    EXPECT_EQ(picture(a), ".....\n.###.\n.###.\n.....\n");
    EXPECT_EQ(picture(b), picture(a));
    fill_convex_poly(c, {{-2, 2}, {1, 2}, {1, 9}, {-2, 9}}, 255.f);
    EXPECT_EQ(picture(c), ".....\n.....\n##...\n##...\n");
}

TEST(DrawLine8, BresenhamFromTheLeftEnd) {
    // (0,2) -> (3,0), drawn from the left end either way: err starts at 3 − 4 = −1 (step up at once), then 1
    // (stay), then −3 (step up): (0,2) (1,1) (2,1) (3,0).
    ImageF a(3, 4, 1), b(3, 4, 1);
    draw_line8(a, {0, 2}, {3, 0}, 255.f);
    draw_line8(b, {3, 0}, {0, 2}, 255.f);
    EXPECT_EQ(picture(a), "...#\n.##.\n#...\n");
    EXPECT_EQ(picture(b), picture(a));
    // Steep: (1,0) -> (2,4): major y, err = 4 − 2 = 2, 0, −2 (step right), 6: x = 1 1 1 2 2.
    ImageF s(5, 3, 1);
    draw_line8(s, {1, 0}, {2, 4}, 255.f);
    EXPECT_EQ(picture(s), ".#.\n.#.\n.#.\n..#\n..#\n");
}

TEST(DilateRect, IsTheWindowMaximumWithTheOutsideIgnored) {
    // One lit pixel at (1, 1) of a 4×6 image: a 3×3 kernel lights the 3×3 block around it.
    ImageF img(4, 6, 1);
    img.at(1, 1, 0) = 255.f;
    EXPECT_EQ(picture(dilate_rect(img, 3, 3)), "###...\n###...\n###...\n......\n");
    // Even width 4: OpenCV's anchor is 2, so pixel x sees [x − 2, x + 1]; the lit x = 1 reaches x = 0..3.
    EXPECT_EQ(picture(dilate_rect(img, 1, 4)), "......\n####..\n......\n......\n");
    // Negative values: the border must not act as 0 (a constant-0 border would raise the edge pixels).
    ImageF neg(2, 2, 1, -5.f);
    neg.at(0, 0, 0) = -1.f;
    ImageF d = dilate_rect(neg, 13, 13);
    for (float v : d.px) EXPECT_EQ(v, -1.f);
}

TEST(GaussianKernel, SmallSizesUseOpenCVsTableOthersTheSigmaRule) {
    EXPECT_EQ(gaussian_kernel(7, 0),
              (std::vector<double>{2 / 64., 7 / 64., 14 / 64., 18 / 64., 14 / 64., 7 / 64., 2 / 64.}));
    EXPECT_EQ(gaussian_kernel(3, -1), (std::vector<double>{0.25, 0.5, 0.25}));
    // n = 9, σ = 0 -> σ = 0.3·(4 − 1) + 0.8 = 1.7: neighbouring taps differ by exp((2x+1)/(2σ²)) at the centre.
    std::vector<double> k9 = gaussian_kernel(9, 0);
    double sum = 0;
    for (double v : k9) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-15);                                        // normalised (rounding of 9 terms)
    EXPECT_NEAR(k9[4] / k9[3], std::exp(1.0 / (2 * 1.7 * 1.7)), 1e-12);  // ratio of two exact-ish doubles
    // An explicit σ > 0 never uses the table: n = 3, σ = 1 gives [e^−½, 1, e^−½] normalised.
    std::vector<double> k3 = gaussian_kernel(3, 1.0);
    EXPECT_NEAR(k3[0], std::exp(-0.5) / (1 + 2 * std::exp(-0.5)), 1e-15);  // one division's rounding
}

TEST(GaussianBlur, SeparableWithReflect101Borders) {
    // An impulse of 4096 in a 9×9 image: out = 4096·k[dy]·k[dx], with k = [2 7 14 18 14 7 2]/64, all exact.
    ImageF img(9, 9, 1);
    img.at(4, 4, 0) = 4096.f;
    ImageF o = gaussian_blur(img, 7, 0);
    const int k[7] = {2, 7, 14, 18, 14, 7, 2};
    for (int y = 0; y < 9; ++y)
        for (int x = 0; x < 9; ++x) {
            const int dy = y - 4, dx = x - 4;
            const float want = std::abs(dy) <= 3 && std::abs(dx) <= 3 ? float(k[dy + 3] * k[dx + 3]) : 0.f;
            EXPECT_EQ(o.at(y, x, 0), want) << y << "," << x;
        }
    // A row [0 0 0 64] with k = [.25 .5 .25]: at x = 3 the tap past the edge reads x = 2 (reflect 101, not the
    // edge again): .25·0 + .5·64 + .25·0 = 32 (replicate or plain reflect would give 48). A 1-row image
    // reflects onto itself vertically, so the column pass is the identity.
    ImageF row(1, 4, 1);
    row.at(0, 3, 0) = 64.f;
    ImageF r = gaussian_blur(row, 3, 0);
    EXPECT_EQ(r.px, (std::vector<float>{0, 0, 16, 32}));
}

TEST(EyeMask, CoversDilatedBlurredHullsOfBothEyesOnly) {
    // 68 points all parked at (2, 2) except the eyes: hexagons of radius 4 around (20, 20) and (44, 20) in a
    // 40×64 image. The parked points cover (2,2) in no hull (they are not 36–47), so the mouth corner stays 0.
    std::vector<Point2> lm(68, Point2{2, 2});
    const double hex[6][2] = {{-4, 0}, {-2, -3}, {2, -3}, {4, 0}, {2, 3}, {-2, 3}};
    for (int i = 0; i < 6; ++i) {
        lm[size_t(36 + i)] = {20 + hex[i][0], 20 + hex[i][1]};
        lm[size_t(42 + i)] = {44 + hex[i][0], 20 + hex[i][1]};
    }
    ImageF m = eye_mask(lm, 40, 64);
    ASSERT_EQ(m.c, 1);
    // The right eye's filled hull contains the rectangle x 18..22, y 17..23 (between its top and bottom edges) and
    // lies inside its bounding box x 16..24, y 17..23. Dilated by 6 each side: at least x 12..28, y 11..29, at
    // most x 10..30, y 11..29. The 7×7 blur (radius 3) keeps 255 where its whole window is lit (at least
    // x 15..25, y 14..26) and gives exactly 0 where none of it is (x < 7 or x > 33, y < 8 or y > 32).
    for (int y = 14; y <= 26; ++y)
        for (int x = 15; x <= 25; ++x) EXPECT_EQ(m.at(y, x, 0), 255.f) << x << "," << y;
    for (int y = 0; y < 40; ++y)
        for (int x = 0; x < 64; ++x) {
            const bool near_eye = (y >= 8 && y <= 32) && ((x >= 7 && x <= 33) || (x >= 31 && x <= 57));
            if (!near_eye) {
                EXPECT_EQ(m.at(y, x, 0), 0.f) << x << "," << y;
            }
            EXPECT_EQ(m.at(y, x, 0), std::floor(m.at(y, x, 0))) << "integer values";
        }
    // The edge ramps through intermediate grey levels (the blur did run).
    EXPECT_GT(m.at(20, 9, 0), 0.f);
    EXPECT_LT(m.at(20, 9, 0), 255.f);
    EXPECT_THROW(eye_mask(std::vector<Point2>(5), 10, 10), Error);
}

TEST(WriteImage, FormatFollowsTheExtension) {
    // A 2×3 grey image through .png, .JPG and .bmp; PNG and BMP are lossless, JPEG close at quality 100 on flat
    // content. An unknown extension throws and writes nothing.
    const std::string dir = (std::filesystem::temp_directory_path() / "fs_test_write_image").string();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    Image g;
    g.width = 3, g.height = 2, g.channels = 1;
    g.pixels = {0, 0, 0, 255, 255, 255};
    for (const char* name : {"m.png", "m.JPG", "m.bmp"}) {
        write_image(dir + "/" + name, g, 100);
        Image r = read_image(dir + "/" + name, 1);
        ASSERT_EQ(r.width, 3);
        ASSERT_EQ(r.height, 2);
        for (size_t i = 0; i < 6; ++i)
            EXPECT_NEAR(r.pixels[i], g.pixels[i], std::string(name) == "m.JPG" ? 8 : 0) << name;
    }
    // The file really is in that format: PNG and JPEG signatures.
    auto head = [&](const char* name) {
        std::FILE* f = std::fopen((dir + "/" + name).c_str(), "rb");
        unsigned char b[2] = {0, 0};
        EXPECT_EQ(std::fread(b, 1, 2, f), 2u);
        std::fclose(f);
        return (b[0] << 8) | b[1];
    };
    EXPECT_EQ(head("m.png"), 0x8950);
    EXPECT_EQ(head("m.JPG"), 0xFFD8);
    EXPECT_EQ(head("m.bmp"), 0x424D);  // "BM"
    EXPECT_THROW(write_image(dir + "/m.tiff", g), Error);
    EXPECT_FALSE(std::filesystem::exists(dir + "/m.tiff"));
    std::filesystem::remove_all(dir);
}
