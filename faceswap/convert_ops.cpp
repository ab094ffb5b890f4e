// convert_ops.cpp: see convert_ops.h. The original's sources: converter/kalman_filter.py, video_converter.py
// (_get_smoothed_coord, process_video), face_transformer.py, color_correction.py, vc_utils.py.
#include "faceswap/convert_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "autograd/tape.h"
#include "faceswap/align.h"
#include "tensor/error.h"

namespace fs {

namespace {

/// What numpy's astype('uint8') / assignment into a uint8 array does to the non-negative floats here: truncation
/// toward zero (clamped to [0, 255] so out-of-range values cannot wrap).
void truncate_u8(ImageF& img) {
    for (float& v : img.px) v = std::clamp(std::trunc(v), 0.f, 255.f);
}

/// t·b + (1 − t)·a written as a + t·(b − a): the same blend, but exactly `a` when t = 0 or b = a, so an
/// untouched pixel survives the 8-bit truncations that follow unchanged (t·a + (1 − t)·a can land a float ulp
/// below a and truncate to a − 1).
inline float lerp_to(float a, float b, float t) { return a + t * (b - a); }


}  // namespace

// --- Kalman filter ----------------------------------------------------------------------------------------------

KalmanFilter2D::KalmanFilter2D(double noise_coef) : m_q(noise_coef) {
    FS_CHECK(std::isfinite(noise_coef) && noise_coef > 0, "KalmanFilter2D: noise coefficient must be > 0, got ",
             noise_coef);
}

std::array<double, 2> KalmanFilter2D::predict() {
    // x⁻ = F·x⁺ with F = [I I; 0 I] (2×2 blocks): position += velocity.
    const Vec4& x = m_x_post;
    m_x_pre = {x[0] + x[2], x[1] + x[3], x[2], x[3]};
    // P⁻ = F·P⁺·Fᵀ + Q. F·P adds row i+2 to row i (i < 2); (F·P)·Fᵀ adds column j+2 to column j (j < 2).
    const Mat4& P = m_p_post;
    Mat4 FP{};
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
            FP[size_t(i * 4 + j)] = P[size_t(i * 4 + j)] + (i < 2 ? P[size_t((i + 2) * 4 + j)] : 0.0);
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
            m_p_pre[size_t(i * 4 + j)] =
                FP[size_t(i * 4 + j)] + (j < 2 ? FP[size_t(i * 4 + j + 2)] : 0.0) + (i == j ? m_q : 0.0);
    m_x_post = m_x_pre;  // OpenCV: the prior also becomes the posterior until the next correct()
    m_p_post = m_p_pre;
    return {m_x_pre[0], m_x_pre[1]};
}

std::array<double, 2> KalmanFilter2D::correct(double p, double q) {
    const Mat4& P = m_p_pre;
    auto at = [&](int i, int j) { return P[size_t(i * 4 + j)]; };
    // S = H·P⁻·Hᵀ + R: the top-left 2×2 block of P⁻ plus I₂; its inverse in closed form.
    const double s00 = at(0, 0) + 1, s01 = at(0, 1), s10 = at(1, 0), s11 = at(1, 1) + 1;
    const double det = s00 * s11 - s01 * s10;
    FS_CHECK(std::isfinite(det) && det != 0, "KalmanFilter2D: singular innovation covariance");
    const double i00 = s11 / det, i01 = -s01 / det, i10 = -s10 / det, i11 = s00 / det;
    // K = P⁻·Hᵀ·S⁻¹, where P⁻·Hᵀ is the first two columns of P⁻ (4×2).
    std::array<double, 8> K{};
    for (int i = 0; i < 4; ++i) {
        K[size_t(i * 2 + 0)] = at(i, 0) * i00 + at(i, 1) * i10;
        K[size_t(i * 2 + 1)] = at(i, 0) * i01 + at(i, 1) * i11;
    }
    const double r0 = p - m_x_pre[0], r1 = q - m_x_pre[1];  // innovation z − H·x⁻
    for (int i = 0; i < 4; ++i)
        m_x_post[size_t(i)] = m_x_pre[size_t(i)] + K[size_t(i * 2)] * r0 + K[size_t(i * 2 + 1)] * r1;
    // P⁺ = P⁻ − K·(H·P⁻), where H·P⁻ is the first two rows of P⁻.
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
            m_p_post[size_t(i * 4 + j)] = at(i, j) - (K[size_t(i * 2)] * at(0, j) + K[size_t(i * 2 + 1)] * at(1, j));
    return {m_x_post[0], m_x_post[1]};
}

void KalmanFilter2D::warm_start(int n) {
    FS_CHECK(n >= 0, "KalmanFilter2D::warm_start: negative count ", n);
    for (int i = 0; i < n; ++i) predict();
}

// --- boxes, smoothing, tracking -------------------------------------------------------------------------------

BoxI clamp_box(const BoxI& b, int w, int h) {
    return {std::clamp(b.x0, 0, w), std::clamp(b.y0, 0, h), std::clamp(b.x1, 0, w), std::clamp(b.y1, 0, h)};
}

double box_iou(const BoxI& a, const BoxI& b) {
    if (a.empty() || b.empty()) return 0.0;
    const int64_t iw = std::max(0, std::min(a.x1, b.x1) - std::max(a.x0, b.x0));
    const int64_t ih = std::max(0, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
    const int64_t inter = iw * ih;
    const int64_t uni = int64_t(a.width()) * a.height() + int64_t(b.width()) * b.height() - inter;
    return double(inter) / double(uni);
}

BoxSmoother::BoxSmoother(const SmoothOptions& opt) : m_opt(opt), m_kf0(opt.kf_noise_coef), m_kf1(opt.kf_noise_coef) {
    FS_CHECK(opt.ema_coef >= 0 && opt.ema_coef <= 1, "BoxSmoother: the moving-average coefficient must be in [0, 1], ",
             "got ", opt.ema_coef);
    FS_CHECK(opt.warm_start >= 0, "BoxSmoother: negative warm start ", opt.warm_start);
}

BoxI BoxSmoother::update(const BoxI& det, int img_w, int img_h) {
    FS_CHECK(img_w > 0 && img_h > 0, "BoxSmoother: bad image size ", img_w, "x", img_h);
    if (!m_started || m_opt.mode == SmoothMode::none) {
        // First sight: the detection itself; the filters are inflated so the next correction snaps to it.
        if (!m_started && m_opt.mode == SmoothMode::kalman) {
            m_kf0.warm_start(m_opt.warm_start);
            m_kf1.warm_start(m_opt.warm_start);
        }
        m_started = true;
        m_prev = clamp_box(det, img_w, img_h);
        return m_prev;
    }
    double x0, y0, x1, y1;
    if (m_opt.mode == SmoothMode::kalman) {
        m_kf0.correct(det.x0, det.y0);
        const std::array<double, 2> c0 = m_kf0.predict();
        m_kf1.correct(det.x1, det.y1);
        const std::array<double, 2> c1 = m_kf1.predict();
        x0 = c0[0], y0 = c0[1], x1 = c1[0], y1 = c1[1];
    } else {
        const double r = m_opt.ema_coef;
        x0 = r * m_prev.x0 + (1 - r) * det.x0;
        y0 = r * m_prev.y0 + (1 - r) * det.y0;
        x1 = r * m_prev.x1 + (1 - r) * det.x1;
        y1 = r * m_prev.y1 + (1 - r) * det.y1;
    }
    // The original clamps the corners (max(0, ·) / min(size, ·)) and truncates with astype(int); after the
    // clamp the values are ≥ 0, where truncation is the floor. Clamping both ends of both corners also keeps
    // a box that drifted outside the frame inside it.
    auto fl = [](double v, int hi) { return int(std::floor(std::clamp(v, 0.0, double(hi)))); };
    BoxI b{fl(x0, img_w), fl(y0, img_h), fl(x1, img_w), fl(y1, img_h)};
    if (b.empty()) b = clamp_box(m_prev, img_w, img_h);  // collapsed (or inverted): keep the previous box
    m_prev = b;
    return b;
}

FaceTracker::FaceTracker(const TrackerOptions& opt) : m_opt(opt) {
    FS_CHECK(opt.iou_threshold > 0 && opt.iou_threshold <= 1, "FaceTracker: IoU threshold must be in (0, 1], got ",
             opt.iou_threshold);
    FS_CHECK(opt.max_missed >= 0, "FaceTracker: negative max_missed ", opt.max_missed);
    BoxSmoother check(opt.smooth);  // validates the smoothing options now rather than at the first face
    (void)check;
}

void FaceTracker::reset() {
    m_tracks.clear();
    m_next_id = 0;
}

std::vector<TrackedFace> FaceTracker::update(const std::vector<BoxI>& detections, int img_w, int img_h) {
    FS_CHECK(img_w > 0 && img_h > 0, "FaceTracker: bad image size ", img_w, "x", img_h);
    const int nd = int(detections.size());
    std::vector<BoxI> det(detections.size());
    std::vector<bool> valid(detections.size());
    for (int d = 0; d < nd; ++d) {
        det[size_t(d)] = clamp_box(detections[size_t(d)], img_w, img_h);
        valid[size_t(d)] = !det[size_t(d)].empty();
    }
    // Candidate pairs above the threshold, best IoU first; ties: lower detection index, then older track.
    struct Pair {
        double iou;
        int d, t;
    };
    std::vector<Pair> pairs;
    for (int t = 0; t < int(m_tracks.size()); ++t)
        for (int d = 0; d < nd; ++d) {
            if (!valid[size_t(d)]) continue;
            const double iou = box_iou(m_tracks[size_t(t)].last_raw, det[size_t(d)]);
            if (iou >= m_opt.iou_threshold) pairs.push_back({iou, d, t});
        }
    std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
        if (a.iou != b.iou) return a.iou > b.iou;
        if (a.d != b.d) return a.d < b.d;
        return a.t < b.t;
    });
    std::vector<int> track_of(detections.size(), -1);
    std::vector<bool> track_used(m_tracks.size(), false);
    for (const Pair& p : pairs) {
        if (track_of[size_t(p.d)] >= 0 || track_used[size_t(p.t)]) continue;
        track_of[size_t(p.d)] = p.t;
        track_used[size_t(p.t)] = true;
    }
    std::vector<TrackedFace> faces(detections.size());
    for (int d = 0; d < nd; ++d) {
        const int t = track_of[size_t(d)];
        if (t < 0) continue;
        Track& tr = m_tracks[size_t(t)];
        tr.last_raw = det[size_t(d)];
        tr.missed = 0;
        faces[size_t(d)] = {d, tr.id, det[size_t(d)], tr.smoother.update(det[size_t(d)], img_w, img_h)};
    }
    // Unmatched tracks age; those missing for too long go (before new tracks are appended).
    std::vector<Track> kept;
    kept.reserve(m_tracks.size());
    for (size_t t = 0; t < m_tracks.size(); ++t) {
        if (!track_used[t]) ++m_tracks[t].missed;
        if (m_tracks[t].missed <= m_opt.max_missed) kept.push_back(std::move(m_tracks[t]));
    }
    m_tracks = std::move(kept);
    for (int d = 0; d < nd; ++d) {
        if (!valid[size_t(d)] || track_of[size_t(d)] >= 0) continue;
        m_tracks.push_back({m_next_id++, det[size_t(d)], 0, BoxSmoother(m_opt.smooth)});
        Track& tr = m_tracks.back();
        faces[size_t(d)] = {d, tr.id, det[size_t(d)], tr.smoother.update(det[size_t(d)], img_w, img_h)};
    }
    std::vector<TrackedFace> out;
    for (const TrackedFace& f : faces)
        if (f.detection >= 0) out.push_back(f);
    return out;
}

// --- colour correction ----------------------------------------------------------------------------------------

ColorCorrection parse_color_correction(const std::string& name) {
    if (name == "none") return ColorCorrection::none;
    if (name == "adain") return ColorCorrection::adain;
    if (name == "adain_xyz") return ColorCorrection::adain_xyz;
    if (name == "hist_match") return ColorCorrection::hist_match;
    FS_FAIL("unknown colour correction '", name, "' (none, adain, adain_xyz or hist_match)");
}

const char* color_correction_name(ColorCorrection c) {
    switch (c) {
        case ColorCorrection::none:
            return "none";
        case ColorCorrection::adain:
            return "adain";
        case ColorCorrection::adain_xyz:
            return "adain_xyz";
        case ColorCorrection::hist_match:
            return "hist_match";
    }
    return "?";
}

namespace {

/// Per-channel population mean and std over the whole image, in double (numpy's mean/std).
void channel_mean_std(const ImageF& img, std::vector<double>& mean, std::vector<double>& std_) {
    const size_t C = size_t(img.c), n = img.px.size() / C;
    FS_CHECK(n > 0, "colour correction: empty image");
    mean.assign(C, 0.0);
    std_.assign(C, 0.0);
    for (size_t i = 0; i < n; ++i)
        for (size_t c = 0; c < C; ++c) mean[c] += img.px[i * C + c];
    for (size_t c = 0; c < C; ++c) mean[c] /= double(n);
    for (size_t i = 0; i < n; ++i)
        for (size_t c = 0; c < C; ++c) {
            const double d = img.px[i * C + c] - mean[c];
            std_[c] += d * d;
        }
    for (size_t c = 0; c < C; ++c) std_[c] = std::sqrt(std_[c] / double(n));
}

/// np.interp(x, xp, fp) for increasing xp: fp[0] left of xp[0], fp[-1] right of xp[-1], linear between.
double interp(double x, const std::vector<double>& xp, const std::vector<double>& fp) {
    if (x <= xp.front()) return fp.front();
    if (x >= xp.back()) return fp.back();
    const size_t j = size_t(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;  // xp[j] ≤ x < xp[j+1]
    return fp[j] + (x - xp[j]) * (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
}

/// An order-preserving unsigned key of a float: a < b ⇔ key(a) < key(b); −0 and +0 share one key, as they compare
/// equal.
inline uint32_t float_key(float f) {
    if (f == 0.f) f = 0.f;
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

/// True when every value of channel c is an integer in [0, 255] (8-bit data, the usual case): the histogram paths
/// below then replace the sorts.
bool channel_is_u8(const ImageF& img, int c) {
    const size_t C = size_t(img.c);
    for (size_t i = size_t(c); i < img.px.size(); i += C) {
        const float v = img.px[i];
        if (!(v >= 0.f && v <= 255.f) || v != std::floor(v)) return false;
    }
    return true;
}

/// Channel c as (key << 32 | pixel index), sorted ascending by value (LSD radix sort on the 32-bit key: four
/// byte passes, O(n), where std::sort of 40 000 values per channel was a fifth of a conversion's run time).
std::vector<uint64_t> sorted_channel(const ImageF& img, int c) {
    const size_t C = size_t(img.c), n = img.px.size() / C;
    FS_CHECK(n < (size_t(1) << 32), "hist_match: image too large (", n, " pixels)");
    std::vector<uint64_t> a(n), b(n);
    for (size_t i = 0; i < n; ++i) a[i] = (uint64_t(float_key(img.px[i * C + size_t(c)])) << 32) | uint64_t(i);
    for (int shift = 32; shift < 64; shift += 8) {
        size_t count[257] = {};
        for (uint64_t v : a) ++count[((v >> shift) & 0xff) + 1];
        for (size_t k = 1; k < 257; ++k) count[k] += count[k - 1];
        for (uint64_t v : a) b[count[(v >> shift) & 0xff]++] = v;
        a.swap(b);
    }
    return a;
}

/// The distinct values of channel c (ascending) and their cumulative quantiles (count ≤ value / total), as
/// numpy's unique + cumsum in the original: the last copy of a value carries its cumulative count.
void value_quantiles(const ImageF& img, int c, std::vector<double>& values, std::vector<double>& quantiles) {
    const size_t C = size_t(img.c), n = img.px.size() / C;
    values.clear();
    quantiles.clear();
    if (channel_is_u8(img, c)) {
        size_t hist[256] = {};
        for (size_t i = size_t(c); i < img.px.size(); i += C) ++hist[size_t(img.px[i])];
        size_t cum = 0;
        for (size_t v = 0; v < 256; ++v) {
            if (!hist[v]) continue;
            cum += hist[v];
            values.push_back(double(v));
            quantiles.push_back(double(cum) / double(n));
        }
        return;
    }
    const std::vector<uint64_t> order = sorted_channel(img, c);
    for (size_t i = 0; i < n; ++i) {
        if (i + 1 < n && (order[i + 1] >> 32) == (order[i] >> 32)) continue;
        values.push_back(img.px[size_t(order[i] & 0xffffffffu) * C + size_t(c)]);
        quantiles.push_back(double(i + 1) / double(n));
    }
}

}  // namespace

ImageF adain(const ImageF& src, const ImageF& tar) {
    FS_CHECK(src.c == tar.c && src.c > 0, "adain: channel counts differ (", src.c, " vs ", tar.c, ")");
    std::vector<double> ms, ss, mt, st;
    channel_mean_std(src, ms, ss);
    channel_mean_std(tar, mt, st);
    if (std::all_of(ss.begin(), ss.end(), [](double s) { return s == 0.0; })) return src;
    const double eps = 1e-7;  // the original's epsilon (keeps a flat channel finite: it becomes mt)
    ImageF out = src;
    const size_t C = size_t(src.c);
    for (size_t i = 0; i < out.px.size(); ++i) {
        const size_t c = i % C;
        out.px[i] = float(std::clamp(st[c] * (double(src.px[i]) - ms[c]) / (ss[c] + eps) + mt[c], 0.0, 255.0));
    }
    return out;
}

ImageF adain_xyz(const ImageF& src, const ImageF& tar) {
    ImageF out = xyz_to_bgr(adain(bgr_to_xyz(src), bgr_to_xyz(tar)));
    for (float& v : out.px) v = std::clamp(v, 0.f, 255.f);
    return out;
}

ImageF hist_match(const ImageF& src, const ImageF& tar) {
    FS_CHECK(src.c == tar.c && src.c > 0, "hist_match: channel counts differ (", src.c, " vs ", tar.c, ")");
    FS_CHECK(!src.empty() && !tar.empty(), "hist_match: empty image");
    ImageF out = src;
    const size_t C = size_t(src.c), n = src.px.size() / C;
    std::vector<double> tv, tq;
    for (int c = 0; c < src.c; ++c) {
        value_quantiles(tar, c, tv, tq);
        if (channel_is_u8(src, c)) {
            // 8-bit source: the quantile of each of the 256 levels, then a lookup per pixel.
            size_t hist[256] = {};
            for (size_t i = 0; i < n; ++i) ++hist[size_t(src.px[i * C + size_t(c)])];
            float lut[256] = {};
            size_t cum = 0;
            for (size_t v = 0; v < 256; ++v) {
                cum += hist[v];
                if (hist[v]) lut[v] = float(std::clamp(interp(double(cum) / double(n), tq, tv), 0.0, 255.0));
            }
            for (size_t i = 0; i < n; ++i) out.px[i * C + size_t(c)] = lut[size_t(src.px[i * C + size_t(c)])];
            continue;
        }
        // Any other source: pixels in value order; each run of equal values maps through its cumulative quantile.
        const std::vector<uint64_t> order = sorted_channel(src, c);
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && (order[j] >> 32) == (order[i] >> 32)) ++j;
            const float m = float(std::clamp(interp(double(j) / double(n), tq, tv), 0.0, 255.0));
            for (size_t k = i; k < j; ++k) out.px[size_t(order[k] & 0xffffffffu) * C + size_t(c)] = m;
            i = j;
        }
    }
    return out;
}

ImageF color_correct(const ImageF& src, const ImageF& tar, ColorCorrection mode) {
    switch (mode) {
        case ColorCorrection::none:
            return src;
        case ColorCorrection::adain:
            return adain(src, tar);
        case ColorCorrection::adain_xyz:
            return adain_xyz(src, tar);
        case ColorCorrection::hist_match:
            return hist_match(src, tar);
    }
    FS_FAIL("color_correct: unknown mode");
}

// --- ROI, feathering, blurring --------------------------------------------------------------------------------

int roi_margin(int size, double coverage) {
    FS_CHECK(coverage > 0 && coverage < 1, "roi_coverage must be in (0, 1), got ", coverage);
    FS_CHECK(size >= 0, "roi_margin: negative size ", size);
    return int(double(size) * (1.0 - coverage));  // Python's int(): truncation of the double product
}

BoxI roi_box(int h, int w, double coverage) {
    const int my = roi_margin(h, coverage), mx = roi_margin(w, coverage);
    FS_CHECK(my > 0 && mx > 0, "a ", w, "x", h, " face crop is too small for roi_coverage ", coverage,
             " (its margin is 0 pixels); increase the minimum face area or decrease roi_coverage");
    BoxI b{mx, my, w - mx, h - my};
    FS_CHECK(!b.empty(), "roi_coverage ", coverage, " leaves no ROI in a ", w, "x", h, " crop");
    return b;
}

ImageF crop_image(const ImageF& img, const BoxI& b) {
    FS_CHECK(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= img.w && b.y1 <= img.h && !b.empty(), "crop_image: box [", b.x0, ",",
             b.x1, ")x[", b.y0, ",", b.y1, ") outside a ", img.w, "x", img.h, " image");
    ImageF out(b.height(), b.width(), img.c);
    const size_t row = size_t(b.width()) * size_t(img.c);
    for (int y = 0; y < b.height(); ++y)
        std::copy_n(&img.px[(size_t(b.y0 + y) * size_t(img.w) + size_t(b.x0)) * size_t(img.c)], row,
                    &out.px[size_t(y) * row]);
    return out;
}

void paste_image(ImageF& img, const BoxI& b, const ImageF& patch) {
    FS_CHECK(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= img.w && b.y1 <= img.h && !b.empty(), "paste_image: box [", b.x0, ",",
             b.x1, ")x[", b.y0, ",", b.y1, ") outside a ", img.w, "x", img.h, " image");
    FS_CHECK(patch.h == b.height() && patch.w == b.width() && patch.c == img.c, "paste_image: a ", patch.w, "x",
             patch.h, "x", patch.c, " patch does not fit box ", b.width(), "x", b.height(), "x", img.c);
    const size_t row = size_t(b.width()) * size_t(img.c);
    for (int y = 0; y < b.height(); ++y)
        std::copy_n(&patch.px[size_t(y) * row], row,
                    &img.px[(size_t(b.y0 + y) * size_t(img.w) + size_t(b.x0)) * size_t(img.c)]);
}


ImageF feather_mask(int h, int w, double coverage) {
    FS_CHECK(h > 0 && w > 0, "feather_mask: bad size ", w, "x", h);
    const int my = roi_margin(h, coverage), mx = roi_margin(w, coverage);
    ImageF m(h, w, 1, 0.f);
    // The original's slice [m:-m] is empty when m is 0 (Python's -0 is 0), which leaves an all-zero mask.
    if (my > 0 && mx > 0)
        for (int y = my; y < h - my; ++y)
            for (int x = mx; x < w - mx; ++x) m.at(y, x, 0) = 255.f;
    m = gaussian_blur(m, 15, 10.0);
    quantize_u8(m);  // a uint8 mask in the original
    return m;
}

// --- the face transform ---------------------------------------------------------------------------------------

GeneratorFn model_generator(const FaceSwapModel& model, bool a_to_b) {
    const FaceSwapModel* m = &model;
    return [m, a_to_b](const Tensor& x) {
        NoGradGuard ng;
        return (a_to_b ? m->decoder_b : m->decoder_a)->forward(m->encoder->forward(x));
    };
}

FaceInput face_transform_input(const ImageF& crop, const FaceTransformOptions& o) {
    FS_CHECK(crop.c == 3 && crop.h > 0 && crop.w > 0, "face_transform: needs a 3-channel crop, got ", crop.w, "x",
             crop.h, "x", crop.c);
    FS_CHECK(o.res > 0, "face_transform: bad model resolution ", o.res);
    FaceInput in;
    in.roi = roi_box(crop.h, crop.w, o.roi_coverage);
    in.roi_img = crop_image(crop, in.roi);
    // The model input: the ROI resized to RES (cv2.resize of a uint8 image: stored 8-bit).
    in.small = resize_bilinear(in.roi_img, o.res, o.res);
    quantize_u8(in.small);
    return in;
}

void face_input_to_tensor(const FaceInput& in, Tensor& x, int64_t i) {
    const int64_t R = in.small.h;
    FS_CHECK(x.dtype() == DType::f32 && x.is_contiguous() && x.dim() == 4 && x.size(1) == 3 && x.size(2) == R &&
                 x.size(3) == R && i >= 0 && i < x.size(0),
             "face_input_to_tensor: face ", i, " (", R, "x", R, ") does not fit the batch ", x.str());
    float* xp = x.data<float>() + i * 3 * R * R;
    const size_t plane = size_t(R) * size_t(R);
    for (size_t k = 0; k < plane; ++k)
        for (size_t c = 0; c < 3; ++c) xp[c * plane + k] = in.small.px[k * 3 + c] / 255.f * 2.f - 1.f;  // x/255·2 − 1
}

namespace {

/// Checks a generator output (N, C, R, R) of a batch of `n` faces and returns it as contiguous f32.
Tensor checked_output(const Tensor& t, int64_t n, int64_t c, int64_t R, const char* what) {
    FS_CHECK(t.dim() == 4 && t.size(0) == n && t.size(1) == c && t.size(2) == R && t.size(3) == R,
             "face_transform: the generator's ", what, " is ", t.str(), ", expected (", n, ", ", c, ", ", R, ", ", R,
             ")");
    return t.to(DType::f32).contiguous();
}

}  // namespace

FaceTransformResult face_transform_output(const ImageF& crop, const FaceInput& in, const DecoderOut& out, int64_t i,
                                          const FaceTransformOptions& o) {
    const int R = o.res;
    FS_CHECK(in.small.h == R && in.small.w == R, "face_transform: the input was made for RES ", in.small.h,
             ", the options say ", R);
    FS_CHECK(out.alpha.defined() && out.bgr.defined() && out.alpha.dim() == 4,
             "face_transform: the generator returned no alpha/bgr");
    const int64_t n = out.alpha.size(0);
    FS_CHECK(i >= 0 && i < n, "face_transform: face ", i, " of a batch of ", n);
    const Tensor ta = checked_output(out.alpha, n, 1, R, "alpha"), tb = checked_output(out.bgr, n, 3, R, "bgr");
    const size_t plane = size_t(R) * size_t(R);
    const float* ap = ta.data<float>() + size_t(i) * plane;
    const float* bp = tb.data<float>() + size_t(i) * 3 * plane;
    const BoxI rb = in.roi;
    const int rh = rb.height(), rw = rb.width();
    const ImageF& roi = in.roi_img;
    FS_CHECK(roi.h == rh && roi.w == rw && crop.h >= rb.y1 && crop.w >= rb.x1,
             "face_transform: the input does not belong to this crop");
    ImageF a_small(R, R, 1), b_small(R, R, 3);
    for (size_t k = 0; k < plane; ++k) {
        a_small.px[k] = ap[k] * 255.f;
        for (size_t c = 0; c < 3; ++c)
            b_small.px[k * 3 + c] = std::clamp((bp[c * plane + k] + 1.f) * 255.f / 2.f, 0.f, 255.f);
    }
    const ImageF a = resize_bilinear(a_small, rh, rw);    // α·255 at ROI size (float)
    const ImageF bgr = resize_bilinear(b_small, rh, rw);  // 0..255 at ROI size (float)

    ImageF masked(rh, rw, 3);
    for (size_t k = 0; k < size_t(rh) * size_t(rw); ++k) {
        const float al = a.px[k] / 255.f;
        for (size_t c = 0; c < 3; ++c) masked.px[k * 3 + c] = lerp_to(roi.px[k * 3 + c], bgr.px[k * 3 + c], al);
    }
    truncate_u8(masked);  // astype('uint8')
    const ImageF masked_c = color_correct(masked, roi, o.color);
    const ImageF bgr_c = color_correct(bgr, roi, o.color);

    const ImageF f = feather_mask(rh, rw, o.roi_coverage);
    ImageF blended_roi(rh, rw, 3), alpha_roi(rh, rw, 1);
    for (size_t k = 0; k < size_t(rh) * size_t(rw); ++k) {
        const float fi = f.px[k] / 255.f;
        for (size_t c = 0; c < 3; ++c)
            blended_roi.px[k * 3 + c] = lerp_to(roi.px[k * 3 + c], masked_c.px[k * 3 + c], fi);
        alpha_roi.px[k] = fi * a.px[k];
    }
    FaceTransformResult r;
    r.blended = crop;
    r.raw = crop;
    r.alpha = ImageF(crop.h, crop.w, 1, 0.f);
    ImageF raw_roi = bgr_c;
    truncate_u8(blended_roi);  // each pasted into a uint8 array in the original
    truncate_u8(raw_roi);
    truncate_u8(alpha_roi);
    paste_image(r.blended, rb, blended_roi);
    paste_image(r.raw, rb, raw_roi);
    paste_image(r.alpha, rb, alpha_roi);
    return r;
}

FaceTransformResult face_transform(const ImageF& crop, const GeneratorFn& gen, const FaceTransformOptions& o) {
    FS_CHECK(static_cast<bool>(gen), "face_transform: no generator");
    const FaceInput in = face_transform_input(crop, o);
    Tensor x = Tensor::empty({1, 3, o.res, o.res});
    face_input_to_tensor(in, x, 0);
    return face_transform_output(crop, in, gen(x), 0, o);
}

ImageF composite_alpha(const ImageF& raw, const ImageF& alpha, const ImageF& original) {
    FS_CHECK(raw.c == 3 && original.c == 3 && alpha.c == 1, "composite_alpha: needs 3-channel images and a ",
             "1-channel alpha, got ", raw.c, ", ", original.c, ", ", alpha.c);
    FS_CHECK(raw.h == original.h && raw.w == original.w && alpha.h == raw.h && alpha.w == raw.w,
             "composite_alpha: sizes differ: ", raw.w, "x", raw.h, ", ", alpha.w, "x", alpha.h, ", ", original.w, "x",
             original.h);
    ImageF out(raw.h, raw.w, 3);
    for (size_t i = 0; i < alpha.px.size(); ++i) {
        const float al = alpha.px[i] / 255.f;
        for (size_t c = 0; c < 3; ++c) out.px[i * 3 + c] = lerp_to(original.px[i * 3 + c], raw.px[i * 3 + c], al);
    }
    return out;
}

SwapInput swap_face_input(const ImageF& crop, const Affine& to_aligned, const FaceTransformOptions& o) {
    FS_CHECK(crop.c == 3 && crop.h > 0 && crop.w > 0, "swap_face: needs a 3-channel crop");
    SwapInput in;
    in.aligned = warp_affine(crop, to_aligned, crop.h, crop.w, Border::replicate);
    quantize_u8(in.aligned);  // warpAffine of a uint8 crop
    in.face = face_transform_input(in.aligned, o);
    return in;
}

SwappedFace swap_face_output(const ImageF& crop, const SwapInput& in, const Affine& from_aligned, const DecoderOut& out,
                             int64_t i, const FaceTransformOptions& o) {
    FS_CHECK(in.aligned.h == crop.h && in.aligned.w == crop.w, "swap_face: the input was made for a ", in.aligned.w,
             "x", in.aligned.h, " crop, not ", crop.w, "x", crop.h);
    const FaceTransformResult t = face_transform_output(in.aligned, in.face, out, i, o);
    ImageF raw_back = warp_affine(t.raw, from_aligned, crop.h, crop.w, Border::replicate);
    ImageF alpha_back = warp_affine(t.alpha, from_aligned, crop.h, crop.w, Border::replicate);
    quantize_u8(raw_back);
    quantize_u8(alpha_back);
    SwappedFace s;
    s.result = composite_alpha(raw_back, alpha_back, crop);
    s.alpha = std::move(alpha_back);
    return s;
}

SwappedFace swap_face(const ImageF& crop, const Affine& to_aligned, const Affine& from_aligned, const GeneratorFn& gen,
                      const FaceTransformOptions& o) {
    FS_CHECK(static_cast<bool>(gen), "swap_face: no generator");
    const SwapInput in = swap_face_input(crop, to_aligned, o);
    Tensor x = Tensor::empty({1, 3, o.res, o.res});
    face_input_to_tensor(in.face, x, 0);
    return swap_face_output(crop, in, from_aligned, gen(x), 0, o);
}

CropAlignment crop_alignment(const std::array<Point2, 5>& points, const BoxI& box) {
    const int cw = box.width(), ch = box.height();
    FS_CHECK(cw > 1 && ch > 1, "crop_alignment: the crop box is empty (", cw, "x", ch, ")");
    // get_src_landmarks / get_tar_landmarks of the original: int() of each coordinate, the template's row and
    // column fractions scaled by the crop's own height and width.
    std::vector<Point2> src, dst;
    for (size_t k = 0; k < 5; ++k) {
        src.push_back({std::trunc(points[k].x - box.x0), std::trunc(points[k].y - box.y0)});
        dst.push_back({std::trunc(k_face_template[k].x * cw), std::trunc(k_face_template[k].y * ch)});
    }
    CropAlignment a;
    a.to_aligned = umeyama(src, dst, true);
    a.from_aligned = umeyama(dst, src, true);
    return a;
}

// --- the output frame -----------------------------------------------------------------------------------------

int layout_width(OutputLayout layout, int w) {
    switch (layout) {
        case OutputLayout::result:
            return w;
        case OutputLayout::side_by_side:
            return 2 * w;
        case OutputLayout::with_mask:
            return 3 * w;
    }
    FS_FAIL("unknown output layout ", int(layout));
}

std::array<float, 3> hot_colormap(float v) {
    v = std::clamp(v, 0.f, 1.f);
    const float r = std::clamp(3 * v, 0.f, 1.f), g = std::clamp(3 * v - 1, 0.f, 1.f),
                b = std::clamp(3 * v - 2, 0.f, 1.f);
    return {b, g, r};
}

FrameComposer::FrameComposer(const ImageF& input_bgr)
    : m_input(input_bgr), m_result(input_bgr), m_mask(input_bgr.h, input_bgr.w, 1, 0.f) {
    FS_CHECK(input_bgr.c == 3 && input_bgr.h > 0 && input_bgr.w > 0, "FrameComposer: needs a 3-channel frame");
}

void FrameComposer::add_face(const BoxI& box, const ImageF& result, const ImageF& alpha) {
    FS_CHECK(alpha.c == 1 && alpha.h == box.height() && alpha.w == box.width(), "FrameComposer: alpha is ", alpha.w,
             "x", alpha.h, "x", alpha.c, ", the box ", box.width(), "x", box.height());
    paste_image(m_result, box, result);  // checks the box and the result's size
    for (int y = 0; y < box.height(); ++y)
        for (int x = 0; x < box.width(); ++x) {
            float& m = m_mask.at(box.y0 + y, box.x0 + x, 0);
            m = std::min(255.f, m + alpha.at(y, x, 0));
        }
}

Image FrameComposer::render(OutputLayout layout, double enhance) const {
    FS_CHECK(std::isfinite(enhance), "FrameComposer: bad enhance ", enhance);
    const int H = m_input.h, W = m_input.w;
    ImageF res = m_result;
    if (enhance != 0) {
        const float e = float(enhance);
        for (size_t i = 0; i < res.px.size(); ++i)
            res.px[i] = std::clamp((1 + e) * res.px[i] - e * m_input.px[i], 0.f, 255.f);
    }
    if (layout == OutputLayout::result) return bgr_f_to_image(res);
    const int OW = layout_width(layout, W);
    ImageF out(H, OW, 3);
    paste_image(out, {0, 0, W, H}, m_input);
    paste_image(out, {W, 0, 2 * W, H}, res);
    if (layout == OutputLayout::with_mask) {
        ImageF panel(H, W, 3);
        for (size_t i = 0; i < m_mask.px.size(); ++i) {
            const std::array<float, 3> col = hot_colormap(m_mask.px[i] / 255.f);
            for (size_t c = 0; c < 3; ++c)
                panel.px[i * 3 + c] = std::clamp(255.f * col[c] + 0.15f * m_input.px[i * 3 + c], 0.f, 255.f);
        }
        paste_image(out, {2 * W, 0, 3 * W, H}, panel);
    }
    return bgr_f_to_image(out);
}

}  // namespace fs
