// masks.cpp: the OpenCV-semantics image operations of the eye masks (convex hull, convex polygon fill, line,
// rectangular dilation, Gaussian blur), the eye mask recipe of prep_binary_masks (spec §7.3), the face box inside
// an aligned face, and `faceswap masks`.
#include "faceswap/masks.h"

#include "faceswap/align.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "faceswap/cli.h"
#include "faceswap/models.h"
#include "io/image.h"

namespace fs {

// --- convex hull ------------------------------------------------------------------------------------------------

std::vector<Point2> convex_hull(std::vector<Point2> pts) {
    auto less = [](const Point2& a, const Point2& b) { return a.x < b.x || (a.x == b.x && a.y < b.y); };
    auto same = [](const Point2& a, const Point2& b) { return a.x == b.x && a.y == b.y; };
    std::sort(pts.begin(), pts.end(), less);
    pts.erase(std::unique(pts.begin(), pts.end(), same), pts.end());
    if (pts.size() < 3) return pts;
    // (b − a) × (c − a) > 0: a → b → c turns counter-clockwise in a y-up frame.
    auto cross = [](const Point2& a, const Point2& b, const Point2& c) {
        return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
    };
    // Andrew's monotone chain: the chain along the smaller-y side left to right, then back along the other side;
    // a point that does not turn strictly counter-clockwise (collinear included) is dropped.
    std::vector<Point2> hull(2 * pts.size());
    size_t k = 0;
    for (size_t i = 0; i < pts.size(); ++i) {
        while (k >= 2 && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
        hull[k++] = pts[i];
    }
    for (size_t i = pts.size() - 1, lower = k + 1; i-- > 0;) {
        while (k >= lower && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
        hull[k++] = pts[i];
    }
    hull.resize(k - 1);  // the last point is the first again
    return hull;
}

// --- lines and polygons -----------------------------------------------------------------------------------------

void draw_line8(ImageF& img, PointI a, PointI b, float value) {
    FS_CHECK(img.c == 1, "draw_line8: needs a 1-channel image, got ", img.c, " channels");
    if (b.x < a.x) std::swap(a, b);  // OpenCV iterates left to right
    const int dx = b.x - a.x, sy = b.y < a.y ? -1 : 1, dy = std::abs(b.y - a.y);
    const bool steep = dy > dx;
    const int major = steep ? dy : dx, minor = steep ? dx : dy;
    // OpenCV's LineIterator (connectivity 8): err starts at major − 2·minor; every step moves one pixel along the
    // major axis, and also one along the minor axis when err < 0 (then err += 2·major); err −= 2·minor each step.
    int err = major - 2 * minor;
    int x = a.x, y = a.y;
    for (int i = 0; i <= major; ++i) {
        if (x >= 0 && x < img.w && y >= 0 && y < img.h) img.at(y, x, 0) = value;
        const bool minor_step = err < 0;
        err += -2 * minor + (minor_step ? 2 * major : 0);
        if (steep) {
            y += sy;
            if (minor_step) x += 1;
        } else {
            x += 1;
            if (minor_step) y += sy;
        }
    }
}

namespace {
// floor(a / 2^16) for any sign (OpenCV writes `>> XY_SHIFT` on int64, an arithmetic shift).
int64_t floor_shift16(int64_t a) { return a >= 0 ? a / 65536 : -((-a + 65535) / 65536); }
}  // namespace

void fill_convex_poly(ImageF& img, const std::vector<PointI>& v, float value) {
    FS_CHECK(img.c == 1, "fill_convex_poly: needs a 1-channel image, got ", img.c, " channels");
    const int npts = int(v.size());
    if (npts == 0) return;
    // A port of OpenCV's FillConvexPoly (imgproc/drawing.cpp) for shift = 0 and LINE_8. Edge x positions are
    // 16.16 fixed point; each edge's step per row is rounded; a span runs from round(left x) to round(right x).
    constexpr int64_t k_one = 65536, k_half = k_one / 2;

    // The outline first, as OpenCV does: this is what covers thin or degenerate polygons.
    for (int i = 0; i < npts; ++i) draw_line8(img, v[size_t((i + npts - 1) % npts)], v[size_t(i)], value);

    int imin = 0;
    int64_t xmin = v[0].x, xmax = v[0].x, ymin = v[0].y, ymax = v[0].y;
    for (int i = 0; i < npts; ++i) {
        if (v[size_t(i)].y < ymin) ymin = v[size_t(i)].y, imin = i;
        ymax = std::max<int64_t>(ymax, v[size_t(i)].y);
        xmax = std::max<int64_t>(xmax, v[size_t(i)].x);
        xmin = std::min<int64_t>(xmin, v[size_t(i)].x);
    }
    if (npts < 3 || xmax < 0 || ymax < 0 || xmin >= img.w || ymin >= img.h) return;
    ymax = std::min<int64_t>(ymax, img.h - 1);

    // Two chains walk down from the top vertex, one forward and one backward through the vertex list.
    struct Edge {
        int idx, di;
        int64_t x, dx;
        int64_t ye;
    } edge[2];
    edge[0].idx = edge[1].idx = imin;
    int64_t y = ymin;
    edge[0].ye = edge[1].ye = y;
    edge[0].di = 1;
    edge[1].di = npts - 1;
    edge[0].x = edge[1].x = -k_one;
    edge[0].dx = edge[1].dx = 0;
    int edges = npts;  // edges left to consume over both chains
    do {
        for (Edge& e : edge) {
            if (y < e.ye) continue;
            // This chain's edge ended: advance to the next vertex below row y (skipping horizontal edges).
            int idx0 = e.idx, idx = idx0 + e.di;
            if (idx >= npts) idx -= npts;
            for (; edges-- > 0;) {
                const int64_t ty = v[size_t(idx)].y;
                if (ty > y) {
                    const int64_t xs = int64_t(v[size_t(idx0)].x) * k_one, xe = int64_t(v[size_t(idx)].x) * k_one;
                    e.ye = ty;
                    e.dx = ((xe - xs) * 2 + (ty - y)) / (2 * (ty - y));  // C++ division truncates, as OpenCV's
                    e.x = xs;
                    e.idx = idx;
                    break;
                }
                idx0 = idx;
                idx += e.di;
                if (idx >= npts) idx -= npts;
            }
        }
        if (edges < 0) break;
        if (y >= 0) {
            const bool swap = edge[0].x > edge[1].x;
            int64_t x1 = floor_shift16(edge[swap ? 1 : 0].x + k_half);
            int64_t x2 = floor_shift16(edge[swap ? 0 : 1].x + k_half);
            if (x2 >= 0 && x1 < img.w) {
                x1 = std::max<int64_t>(x1, 0);
                x2 = std::min<int64_t>(x2, img.w - 1);
                for (int64_t x = x1; x <= x2; ++x) img.at(int(y), int(x), 0) = value;
            }
        }
        edge[0].x += edge[0].dx;
        edge[1].x += edge[1].dx;
    } while (++y <= ymax);
}

// --- morphology and blur ----------------------------------------------------------------------------------------

ImageF dilate_rect(const ImageF& src, int kh, int kw) {
    FS_CHECK(kh >= 1 && kw >= 1, "dilate_rect: kernel ", kh, "x", kw, " must be at least 1x1");
    // A rectangle's maximum is separable: the maximum over the row window, then over the column window. OpenCV's
    // anchor is (kw/2, kh/2): for odd sizes the centre; the window of x spans [x − kw/2, x − kw/2 + kw).
    const int ax = kw / 2, ay = kh / 2;
    ImageF rows(src.h, src.w, src.c), out(src.h, src.w, src.c);
    for (int y = 0; y < src.h; ++y)
        for (int x = 0; x < src.w; ++x)
            for (int ch = 0; ch < src.c; ++ch) {
                float m = -INFINITY;
                for (int i = std::max(x - ax, 0); i < std::min(x - ax + kw, src.w); ++i)
                    m = std::max(m, src.at(y, i, ch));
                rows.at(y, x, ch) = m;
            }
    for (int y = 0; y < src.h; ++y)
        for (int x = 0; x < src.w; ++x)
            for (int ch = 0; ch < src.c; ++ch) {
                float m = -INFINITY;
                for (int j = std::max(y - ay, 0); j < std::min(y - ay + kh, src.h); ++j)
                    m = std::max(m, rows.at(j, x, ch));
                out.at(y, x, ch) = m;
            }
    return out;
}

std::vector<double> gaussian_kernel(int n, double sigma) {
    FS_CHECK(n >= 1 && n % 2 == 1, "gaussian_kernel: size must be odd and >= 1, got ", n);
    // OpenCV's small_gaussian_tab: used as is for odd n <= 7 when sigma <= 0.
    static const double k_small[4][7] = {{1.0},
                                         {0.25, 0.5, 0.25},
                                         {0.0625, 0.25, 0.375, 0.25, 0.0625},
                                         {0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125}};
    std::vector<double> k(size_t(n), 0.0);
    if (n <= 7 && sigma <= 0) {
        for (int i = 0; i < n; ++i) k[size_t(i)] = k_small[n / 2][i];
        return k;
    }
    const double s = sigma > 0 ? sigma : 0.3 * ((n - 1) * 0.5 - 1) + 0.8;
    double sum = 0;
    for (int i = 0; i < n; ++i) {
        const double x = i - (n - 1) * 0.5;
        k[size_t(i)] = std::exp(-x * x / (2 * s * s));
        sum += k[size_t(i)];
    }
    for (double& v : k) v /= sum;
    return k;
}

namespace {
// BORDER_REFLECT_101 index for any i (repeated reflection when the kernel is wider than the image).
int reflect101(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}
}  // namespace

ImageF gaussian_blur(const ImageF& src, int k, double sigma) {
    const std::vector<double> g = gaussian_kernel(k, sigma);
    const int r = k / 2;
    ImageF rows(src.h, src.w, src.c), out(src.h, src.w, src.c);
    for (int y = 0; y < src.h; ++y)
        for (int x = 0; x < src.w; ++x)
            for (int ch = 0; ch < src.c; ++ch) {
                double s = 0;
                for (int i = -r; i <= r; ++i) s += g[size_t(i + r)] * src.at(y, reflect101(x + i, src.w), ch);
                rows.at(y, x, ch) = float(s);
            }
    for (int y = 0; y < src.h; ++y)
        for (int x = 0; x < src.w; ++x)
            for (int ch = 0; ch < src.c; ++ch) {
                double s = 0;
                for (int i = -r; i <= r; ++i) s += g[size_t(i + r)] * rows.at(reflect101(y + i, src.h), x, ch);
                out.at(y, x, ch) = float(s);
            }
    return out;
}

// --- the eye mask -------------------------------------------------------------------------------------------------

ImageF eye_mask(const std::vector<Point2>& landmarks, int h, int w) {
    FS_CHECK(landmarks.size() == 68, "eye_mask: needs the 68 landmarks, got ", landmarks.size());
    FS_CHECK(h > 0 && w > 0, "eye_mask: empty image ", h, "x", w);
    ImageF mask(h, w, 1, 0.f);
    for (int first : {36, 42}) {  // right eye 36–41, left eye 42–47 (0-based)
        std::vector<Point2> eye(landmarks.begin() + first, landmarks.begin() + first + 6);
        std::vector<PointI> hull;
        for (const Point2& p : convex_hull(eye)) {
            FS_CHECK(std::isfinite(p.x) && std::isfinite(p.y), "eye_mask: landmark (", p.x, ", ", p.y,
                     ") is not finite");
            // Truncation toward zero, as `.astype(np.int32)`; far-off points are clamped first (an int must hold them).
            hull.push_back({int(std::clamp(p.x, -1e6, 1e6)), int(std::clamp(p.y, -1e6, 1e6))});
        }
        fill_convex_poly(mask, hull, 255.f);
    }
    mask = gaussian_blur(dilate_rect(mask, 13, 13), 7, 0.0);
    // OpenCV blurs 8-bit images in fixed point, exactly here (the kernel's taps are multiples of 1/64, the values
    // 0 or 255), then rounds half up; the float sums above are exact too, so this is the same image.
    for (float& v : mask.px) v = std::floor(v + 0.5f);
    return mask;
}

// --- the face box inside an aligned face ------------------------------------------------------------------------

namespace {

// dlib's face boxes on stills/dlib_faces, measured against the same faces' eye centres and mouth corners: side =
// 2.47 × the distance from the eye-centre midpoint to the mouth-corner midpoint (std 0.28 over 18 faces), centred
// on the middle of that segment (mean offsets 0.015 and −0.03 of it, well inside their spread of 0.1, so taken as 0).
constexpr double k_dlib_box_per_eye_mouth = 2.47;
// The enlargement of dlib's box that the landmark test uses as a stand-in for face-api's own detector boxes.
constexpr double k_box_enlarge = 1.2;

}  // namespace

FaceBoxXYWH aligned_face_box(int size) {
    FS_CHECK(size > 0, "aligned_face_box: size must be positive, got ", size);
    // Spec §7.2's template (faceswap/align.h), as fractions of the aligned crop.
    const double ex = (k_face_template[0].x + k_face_template[1].x) / 2,
                 ey = (k_face_template[0].y + k_face_template[1].y) / 2;
    const double mx = (k_face_template[3].x + k_face_template[4].x) / 2,
                 my = (k_face_template[3].y + k_face_template[4].y) / 2;
    const double side = k_dlib_box_per_eye_mouth * k_box_enlarge * std::hypot(mx - ex, my - ey) * size;
    const double cx = (ex + mx) / 2 * size, cy = (ey + my) / 2 * size;
    const int s = int(std::lround(side));
    return {int(std::lround(cx - side / 2)), int(std::lround(cy - side / 2)), s, s};
}

// --- faceswap masks ------------------------------------------------------------------------------------------------

namespace {

const char* k_masks_usage =
    "usage: faceswap masks FACESDIR OUTDIR [--models DIR]\n"
    "\n"
    "Writes an eye mask for every aligned face image in FACESDIR (png, jpg, jpeg, bmp; 256x256 from extraction,\n"
    "any size accepted and resized to 256x256) as OUTDIR/<same name> (same format, grey, 256x256): the\n"
    "good-quality masks of faceswap-GAN's prep_binary_masks. The face-api 68-point landmark net finds the eyes\n"
    "(its face box is derived from the 5-point alignment template); the convex hulls of both eyes are filled\n"
    "with 255, dilated 13x13 and blurred 7x7. Unreadable images are reported and skipped.\n"
    "\n"
    "options:\n"
    "  --models DIR   folder with faceapi/face_landmark_68_model-weights_manifest.json and its .bin\n"
    "                 (also searched: $FACESWAP_MODELS, ./models, $FACESWAP_DATA, the shared data folder)\n";

}  // namespace

int masks_main(const std::vector<std::string>& args) {
    if (is_help(args)) {
        std::fputs(k_masks_usage, stdout);
        return 0;
    }
    std::vector<std::string> pos;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--models") {
            FS_CHECK(i + 1 < args.size(), "masks: --models needs a folder");
            set_models_dir(args[++i]);
        } else if (args[i].rfind("--", 0) == 0) {
            FS_FAIL("masks: unknown option '", args[i], "' (see faceswap masks --help)");
        } else {
            pos.push_back(args[i]);
        }
    }
    if (pos.size() != 2) {
        std::fprintf(stderr, "masks: expected FACESDIR and OUTDIR, got %zu arguments\n\n%s", pos.size(), k_masks_usage);
        return 2;
    }
    const std::filesystem::path in = pos[0], out = pos[1];
    FS_CHECK(std::filesystem::is_directory(in), "masks: input folder ", in.string(), " does not exist");
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(in)) {
        std::string ext = e.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp"))
            files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    FS_CHECK(!files.empty(), "masks: no images (png, jpg, jpeg, bmp) in ", in.string());
    FS_CHECK(std::filesystem::weakly_canonical(in) != std::filesystem::weakly_canonical(out),
             "masks: OUTDIR must differ from FACESDIR (the masks keep the faces' file names)");

    const FaceLandmark68Net net = FaceLandmark68Net::load_default();  // throws naming the file and where to get it
    std::filesystem::create_directories(out);
    constexpr int k_size = 256;  // prep_binary_masks resizes every face to 256×256 first
    const FaceBoxXYWH box = aligned_face_box(k_size);
    const auto t0 = std::chrono::steady_clock::now();
    size_t done = 0, failed = 0;
    for (const auto& f : files) {
        ImageF face;
        try {
            face = image_to_bgr_f(read_image(f.string(), 3));
        } catch (const Error& e) {
            std::fprintf(stderr, "\nmasks: skipping %s: %s\n", f.string().c_str(), e.what());
            ++failed;
            continue;
        }
        if (face.h != k_size || face.w != k_size) face = resize_bilinear(face, k_size, k_size);
        const ImageF mask = eye_mask(net.detect(face, box), k_size, k_size);
        Image img;
        img.width = img.height = k_size;
        img.channels = 1;
        img.pixels.resize(mask.px.size());
        for (size_t i = 0; i < mask.px.size(); ++i) img.pixels[i] = uint8_t(mask.px[i]);  // integers 0..255 already
        write_image((out / f.filename()).string(), img);
        ++done;
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("\rmasks: %zu/%zu  %.1f faces/s", done + failed, files.size(), el > 0 ? double(done) / el : 0.0);
        std::fflush(stdout);
    }
    std::printf("\nmasks: wrote %zu masks to %s", done, out.string().c_str());
    if (failed) std::printf(", skipped %zu unreadable image%s", failed, failed == 1 ? "" : "s");
    std::printf("\n");
    return done == 0 ? 1 : 0;
}

}  // namespace fs
