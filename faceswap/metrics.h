// metrics.h: full-reference image quality, for scoring a swap against a known ground truth (faceswap demo).
// Images are ImageF (faceswap/augment.h: (h, w, c) interleaved float) holding 8-bit values, 0..255; 8-bit
// Images (io/image.h) are converted first. Both images of a pair must have the same size and channel count.
//   PSNR = 10·log10(255² / MSE), the MSE over every pixel and channel; +inf for identical images.
//   SSIM (Wang, Bovik, Sheikh, Simoncelli 2004, as their reference ssim_index.m): at every position where
//   an 11×11 window fits inside the image ("valid", no padding), with the circular Gaussian weights w
//   (σ 1.5, normalised to sum 1),
//     μx = Σ w·x, σx² = Σ w·(x − μx)², σxy = Σ w·(x − μx)(y − μy)  (weighted, no Bessel correction),
//     SSIM = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
//     C1 = (0.01·255)², C2 = (0.03·255)²;
//   the image's SSIM is the mean over those positions, per channel, then averaged over the channels. The
//   colour channels are scored as given (BGR or RGB alike: the mean does not depend on the order).
// Everything is accumulated in double.
#pragma once
#include <limits>

#include "faceswap/augment.h"
#include "io/image.h"

namespace fs {

/// The SSIM window side and Gaussian σ, and the peak value the constants and the PSNR refer to.
constexpr int k_ssim_window = 11;
constexpr double k_ssim_sigma = 1.5;
constexpr double k_metric_peak = 255.0;

/// Mean squared error over every pixel and channel.
double mse(const ImageF& a, const ImageF& b);
/// PSNR in dB; +infinity when the images are identical.
double psnr(const ImageF& a, const ImageF& b);
/// Mean SSIM (see above). Both sides must be at least k_ssim_window pixels.
double ssim(const ImageF& a, const ImageF& b);

/// The same on 8-bit images (any channel count, as stored: the values are compared channel by channel).
double psnr(const Image& a, const Image& b);
double ssim(const Image& a, const Image& b);

/// Running means of PSNR and SSIM over pairs of images. A pair's PSNR enters the mean capped at `psnr_cap` dB, so
/// one identical pair cannot make the average infinite. 100 dB is an MSE of 6.5e-6 grey levels²; one grey level
/// of difference in one pixel of a 64×64 colour face is already 89 dB, so at the demo's sizes the cap only ever
/// replaces +inf.
struct QualityMeans {
    static constexpr double psnr_cap = 100.0;
    double psnr_sum = 0, ssim_sum = 0;
    int n = 0;
    void add(double p, double s);
    double psnr() const;
    double ssim() const;
};

}  // namespace fs
