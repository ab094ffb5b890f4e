// metrics.cpp: PSNR and SSIM (see metrics.h for the definitions and the conventions).
#include "faceswap/metrics.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace fs {

namespace {

void check_pair(const ImageF& a, const ImageF& b, const char* what) {
    FS_CHECK(a.h == b.h && a.w == b.w && a.c == b.c, what, ": the images differ in size: ", a.h, "x", a.w, "x", a.c,
             " and ", b.h, "x", b.w, "x", b.c);
    FS_CHECK(!a.empty(), what, ": empty images");
}

// The normalised 1-D Gaussian; the 2-D window is its outer product (so it too sums to 1, as fspecial's).
std::vector<double> ssim_weights() {
    std::vector<double> g(k_ssim_window);
    double s = 0;
    for (int i = 0; i < k_ssim_window; ++i) {
        double x = i - (k_ssim_window - 1) / 2.0;
        g[size_t(i)] = std::exp(-x * x / (2 * k_ssim_sigma * k_ssim_sigma));
        s += g[size_t(i)];
    }
    for (double& v : g) v /= s;
    return g;
}

// Valid-mode separable filtering of one plane (h×w, row-major) with g: (h−n+1)×(w−n+1).
std::vector<double> filter_valid(const std::vector<double>& p, int h, int w, const std::vector<double>& g) {
    const int n = int(g.size()), oh = h - n + 1, ow = w - n + 1;
    std::vector<double> rows(size_t(h) * size_t(ow)), out(size_t(oh) * size_t(ow));
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < ow; ++x) {
            double s = 0;
            for (int k = 0; k < n; ++k) s += g[size_t(k)] * p[size_t(y) * size_t(w) + size_t(x + k)];
            rows[size_t(y) * size_t(ow) + size_t(x)] = s;
        }
    for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x) {
            double s = 0;
            for (int k = 0; k < n; ++k) s += g[size_t(k)] * rows[size_t(y + k) * size_t(ow) + size_t(x)];
            out[size_t(y) * size_t(ow) + size_t(x)] = s;
        }
    return out;
}

}  // namespace

double mse(const ImageF& a, const ImageF& b) {
    check_pair(a, b, "mse");
    double s = 0;
    for (size_t i = 0; i < a.px.size(); ++i) {
        double d = double(a.px[i]) - double(b.px[i]);
        s += d * d;
    }
    return s / double(a.px.size());
}

double psnr(const ImageF& a, const ImageF& b) {
    double m = mse(a, b);
    if (m == 0) return std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(k_metric_peak * k_metric_peak / m);
}

double ssim(const ImageF& a, const ImageF& b) {
    check_pair(a, b, "ssim");
    FS_CHECK(a.h >= k_ssim_window && a.w >= k_ssim_window, "ssim: images must be at least ", k_ssim_window, "x",
             k_ssim_window, " (the Gaussian window), got ", a.h, "x", a.w);
    const double c1 = (0.01 * k_metric_peak) * (0.01 * k_metric_peak),
                 c2 = (0.03 * k_metric_peak) * (0.03 * k_metric_peak);
    const std::vector<double> g = ssim_weights();
    const size_t np = size_t(a.h) * size_t(a.w);
    double total = 0;
    for (int c = 0; c < a.c; ++c) {
        std::vector<double> x(np), y(np), xx(np), yy(np), xy(np);
        for (size_t i = 0; i < np; ++i) {
            x[i] = a.px[i * size_t(a.c) + size_t(c)];
            y[i] = b.px[i * size_t(a.c) + size_t(c)];
            xx[i] = x[i] * x[i], yy[i] = y[i] * y[i], xy[i] = x[i] * y[i];
        }
        std::vector<double> mx = filter_valid(x, a.h, a.w, g), my = filter_valid(y, a.h, a.w, g),
                            sxx = filter_valid(xx, a.h, a.w, g), syy = filter_valid(yy, a.h, a.w, g),
                            sxy = filter_valid(xy, a.h, a.w, g);
        double s = 0;
        for (size_t i = 0; i < mx.size(); ++i) {
            // E[x²] − μ² is the weighted variance (the weights sum to 1); ssim_index.m computes it the same way.
            double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cxy = sxy[i] - mx[i] * my[i];
            s += (2 * mx[i] * my[i] + c1) * (2 * cxy + c2) / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
        }
        total += s / double(mx.size());
    }
    return total / a.c;
}

namespace {
ImageF as_float(const Image& img) {
    ImageF f(img.height, img.width, img.channels);
    for (size_t i = 0; i < img.pixels.size(); ++i) f.px[i] = float(img.pixels[i]);
    return f;
}
}  // namespace

double psnr(const Image& a, const Image& b) { return psnr(as_float(a), as_float(b)); }
double ssim(const Image& a, const Image& b) { return ssim(as_float(a), as_float(b)); }

void QualityMeans::add(double p, double s) {
    psnr_sum += std::min(p, psnr_cap);
    ssim_sum += s;
    ++n;
}
double QualityMeans::psnr() const { return n ? psnr_sum / n : 0.0; }
double QualityMeans::ssim() const { return n ? ssim_sum / n : 0.0; }

}  // namespace fs
