// synthetic.cpp: a tiny 2-D face renderer. Each pixel is shaded by painting soft-edged shapes back to front
// (background, hair, face, brows, eye whites, irises, nose, mouth), in face coordinates obtained by undoing the
// frame's roll, scale and the shift that stands in for yaw/pitch; inner features shift further than the outline
// and the nose tip furthest (a cheap parallax that makes the turn of the head visible). Edges are anti-aliased by
// coverage over one pixel, so small renders stay smooth enough to learn from.
#include "faceswap/synthetic.h"

#include <algorithm>
#include <cmath>

namespace fs {

FaceIdentity identity_a() { return FaceIdentity{}; }

FaceIdentity identity_b() {
    FaceIdentity b;
    b.face_rx = 0.62, b.face_ry = 0.64;
    b.skin[0] = 0.32, b.skin[1] = 0.42, b.skin[2] = 0.55;
    b.eye_color[0] = 0.20, b.eye_color[1] = 0.55, b.eye_color[2] = 0.25;
    b.eye_rx = 0.09, b.eye_ry = 0.075, b.eye_dx = 0.25, b.eye_y = -0.10;
    b.brow_thick = 0.045, b.brow_y = -0.25;
    b.brow_color[0] = 0.05, b.brow_color[1] = 0.05, b.brow_color[2] = 0.08;
    b.nose_w = 0.10, b.nose_len = 0.11, b.nose_y = 0.12;
    b.mouth_w = 0.30, b.mouth_y = 0.30;
    b.lip_color[0] = 0.25, b.lip_color[1] = 0.20, b.lip_color[2] = 0.45;
    b.hair_color[0] = 0.15, b.hair_color[1] = 0.45, b.hair_color[2] = 0.75;
    b.hair_line = -0.38;
    return b;
}

FrameParams random_frame(std::mt19937_64& rng) {
    std::uniform_real_distribution<double> u(-1.0, 1.0), u01(0.0, 1.0);
    FrameParams f;
    f.yaw = 0.25 * u(rng);
    f.pitch = 0.2 * u(rng);
    f.roll = 0.15 * u(rng);
    f.mouth_open = std::max(0.0, u(rng));  // closed half of the time
    f.smile = u(rng);
    f.gaze_x = u(rng);
    f.gaze_y = 0.5 * u(rng);
    f.blink = u01(rng) < 0.15 ? u01(rng) : 0.0;
    f.light = u(rng);
    for (double& c : f.background) c = 0.2 + 0.6 * u01(rng);
    f.scale = 1.0 + 0.05 * u(rng);
    return f;
}

namespace {

// Coverage of the inside of a shape from a signed distance d (negative inside), with `px` the size of a pixel
// in the same units: 1 well inside, 0 well outside, linear across one pixel.
double coverage(double d, double px) { return std::clamp(0.5 - d / px, 0.0, 1.0); }

// Approximate signed distance to an axis-aligned ellipse (scaled radial distance; exact enough for shading).
double ellipse_sd(double x, double y, double cx, double cy, double rx, double ry) {
    double dx = (x - cx) / rx, dy = (y - cy) / ry;
    double r = std::sqrt(dx * dx + dy * dy);
    return (r - 1.0) * std::min(rx, ry);
}

void paint(double* px, const double* color, double a) {
    for (int c = 0; c < 3; ++c) px[c] = px[c] * (1 - a) + color[c] * a;
}

}  // namespace

Tensor render_face(const FaceIdentity& id, const FrameParams& f, int size) {
    FS_CHECK(size >= 8 && size <= 4096, "render_face: size must be in [8, 4096], got ", size);
    Tensor out = Tensor::empty({3, size, size});
    float* o = out.data<float>();
    const double pxw = 2.0 / size / f.scale;  // one pixel in face units
    const double cr = std::cos(f.roll), sr = std::sin(f.roll);
    const double shift_x = 0.35 * std::sin(f.yaw), shift_y = 0.35 * std::sin(f.pitch);
    const double squash = std::cos(f.yaw);  // turning the head narrows the face
    for (int py = 0; py < size; ++py) {
        for (int pxi = 0; pxi < size; ++pxi) {
            // image coords in [-1, 1], then into face coords
            double ix = (pxi + 0.5) / size * 2 - 1, iy = (py + 0.5) / size * 2 - 1;
            double x = (cr * ix + sr * iy) / f.scale, y = (-sr * ix + cr * iy) / f.scale;
            double fx = (x - shift_x * 0.3) / squash, fy = y - shift_y * 0.3;
            // features move further than the outline when the head turns (a cheap parallax)
            double ex = (x - shift_x) / squash, ey = y - shift_y;

            double p[3];
            for (int c = 0; c < 3; ++c) p[c] = f.background[c] * (0.85 + 0.15 * iy);  // soft vertical gradient
            // hair: a larger ellipse behind the face
            paint(p, id.hair_color, coverage(ellipse_sd(fx, fy, 0, -0.12, id.face_rx * 1.12, id.face_ry * 1.05), pxw));
            // face, with hair covering it above the hair line
            double face_a = coverage(ellipse_sd(fx, fy, 0, 0.02, id.face_rx, id.face_ry), pxw);
            paint(p, id.skin, face_a);
            paint(p, id.hair_color, face_a * coverage(fy - id.hair_line, pxw));
            for (int side = -1; side <= 1; side += 2) {
                double cx = side * id.eye_dx;
                // brow: a flat ellipse
                paint(p, id.brow_color,
                      face_a * coverage(ellipse_sd(ex, ey, cx, id.brow_y, id.eye_rx * 1.2, id.brow_thick), pxw));
                // eye white, closing with the blink
                double ry = std::max(id.eye_ry * (1 - f.blink), 1e-3);
                double white_a = face_a * coverage(ellipse_sd(ex, ey, cx, id.eye_y, id.eye_rx, ry), pxw);
                const double white[3] = {0.92, 0.92, 0.92};
                paint(p, white, white_a);
                // iris, inside the eye white only
                double ix0 = cx + f.gaze_x * id.eye_rx * 0.45, iy0 = id.eye_y + f.gaze_y * id.eye_ry * 0.4;
                double ir = id.eye_ry * 0.95;
                paint(p, id.eye_color, white_a * coverage(ellipse_sd(ex, ey, ix0, iy0, ir, ir), pxw));
                const double pupil[3] = {0.05, 0.05, 0.05};
                paint(p, pupil, white_a * coverage(ellipse_sd(ex, ey, ix0, iy0, ir * 0.45, ir * 0.45), pxw));
            }
            // nose: a shaded ridge whose lower end (the tip, with two nostrils) moves further with the pose
            {
                double t = std::clamp((ey - (id.nose_y - id.nose_len)) / (2 * id.nose_len), 0.0, 1.0);
                double nx = ex - 0.35 * t * shift_x / squash, ny = ey - 0.35 * t * shift_y;
                double shade[3];
                for (int c = 0; c < 3; ++c) shade[c] = id.skin[c] * 0.78;
                paint(p, shade,
                      0.6 * face_a *
                          coverage(ellipse_sd(nx, ny, 0, id.nose_y, id.nose_w * (0.5 + 0.5 * t), id.nose_len), pxw));
                const double nostril[3] = {0.12, 0.12, 0.2};
                for (int side = -1; side <= 1; side += 2)
                    paint(p, nostril,
                          0.8 * face_a *
                              coverage(ellipse_sd(nx, ny, side * id.nose_w * 0.55, id.nose_y + id.nose_len * 0.8,
                                                  id.nose_w * 0.3, id.nose_w * 0.18),
                                       pxw));
            }
            // mouth: an ellipse whose height opens with mouth_open, bent by the smile
            double mx = ex / id.mouth_w;
            double bend = -f.smile * 0.06 * (1 - mx * mx);
            double mh = 0.018 + 0.09 * f.mouth_open;
            double mouth_a = face_a * coverage(ellipse_sd(ex, ey - bend, 0, id.mouth_y, id.mouth_w, mh), pxw);
            paint(p, id.lip_color, mouth_a);
            const double inside[3] = {0.1, 0.1, 0.25};
            if (f.mouth_open > 0.05)
                paint(p, inside,
                      mouth_a * coverage(ellipse_sd(ex, ey - bend, 0, id.mouth_y, id.mouth_w * 0.8, mh * 0.6), pxw));
            // light: brighten one side of the face
            double light = 1.0 + 0.25 * f.light * fx * face_a;
            for (int c = 0; c < 3; ++c)
                o[(c * size + py) * size + pxi] = float(std::clamp(p[c] * light, 0.0, 1.0) * 2.0 - 1.0);
        }
    }
    return out;
}

}  // namespace fs
