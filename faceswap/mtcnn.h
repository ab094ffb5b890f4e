// mtcnn.h: the MTCNN face detector (Zhang et al. 2016) as faceswap-GAN v2.2 runs it (spec §7.1, §9), with the
// P-Net, R-Net and O-Net built from this framework's ops (conv2d, prelu, max_pool2d, dense) and the weights of
// davidsandberg/facenet (shared/data/PROVENANCE.md §1: raw float32 + manifest.tsv, HWIO conv filters, (in, out)
// fully connected weights).
//
// The nets were trained from MATLAB on column-major images, so they see every image TRANSPOSED: a net input
// tensor here is (N, 3, X, Y) — channels RGB, normalised (v − 127.5)·0.0078125, the first spatial axis running
// along the image's x (width). The weights are used exactly as stored.
//
// The cascade follows facenet's detect_face: a pyramid from 12/minsize by `factor` while the short side is
// ≥ 12 px, box or INTER_AREA resampling (MtcnnResize; re-created in C++, no OpenCV), P-Net proposals (stride 2, cell 12,
// score ≥ t0), NMS 0.5 Union per scale and 0.7 Union over all, box regression, squaring, zero-padded crops
// resized to 24 for R-Net (score > t1, NMS 0.7 Union, regression, squaring), to 48 for O-Net (score > t2,
// landmarks, regression, NMS 0.7 Min). Candidates go through R-Net and O-Net in batches.
//
// Coordinates: FaceDetection is 0-based (x = 0 is the centre of the leftmost pixel column, OpenCV's
// convention); x1, y1 is the first pixel inside the box and x2, y2 the last (inclusive). facenet's boxes and
// landmarks are MATLAB 1-based: subtract 1 to compare (docs/DEVIATIONS.md).
#pragma once
#include <array>
#include <string>
#include <vector>

#include "faceswap/augment.h"
#include "io/image.h"
#include "tensor/tensor.h"

namespace fs {

/// How the pyramid levels and the R-Net/O-Net crops are resampled. `box`: PIL's BOX filter in float, what the
/// shared reference detections (shared/data/mtcnn/golden, sequences/*/mtcnn_reference.tsv) were made with;
/// the default, so results can be checked against them. `area`: OpenCV INTER_AREA with the pyramid rounded to
/// 8 bits, what facenet and faceswap-GAN run; boxes move by a few pixels between the two (docs/DEVIATIONS.md).
enum class MtcnnResize { box, area };

struct MtcnnOptions {
    double min_size = 20;                              ///< smallest face side searched, pixels (≥ 1)
    std::array<double, 3> thresholds{0.6, 0.7, 0.7};  ///< P-Net, R-Net, O-Net face-probability thresholds
    double factor = 0.709;                            ///< pyramid scale step, in (0, 1)
    MtcnnResize resize = MtcnnResize::box;
    void validate() const;
};

struct FaceDetection {
    double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  ///< 0-based, inclusive (see above)
    double score = 0;                       ///< O-Net face probability
    /// Left eye, right eye, nose, left mouth corner, right mouth corner (left/right as seen in the image), 0-based.
    std::array<Point2, 5> points{};
    double width() const { return x2 - x1 + 1; }
    double height() const { return y2 - y1 + 1; }
};

/// Intersection over union of two inclusive pixel boxes (areas (x2−x1+1)·(y2−y1+1), as MTCNN's NMS).
double box_iou(const FaceDetection& a, const FaceDetection& b);

/// OpenCV cv::resize with INTER_AREA on an interleaved 8-bit or float image: when shrinking on both axes, each
/// output pixel is the coverage-weighted mean of the input pixels under it (resizeArea); otherwise OpenCV's
/// area-flavoured bilinear weights. `round_u8` rounds and clamps the result to 0..255 as an 8-bit Mat would.
ImageF resize_area(const ImageF& src, int out_h, int out_w, bool round_u8);
/// PIL Image.resize with the BOX filter, in float (no rounding): each output pixel is the plain mean of the
/// input pixels whose centres fall within ±0.5·max(in/out, 1) of its centre (one pixel when enlarging).
ImageF resize_box(const ImageF& src, int out_h, int out_w);

struct PnetOut {
    Tensor prob;  ///< (N, X', Y') f64 face probability (softmax channel 1), in the transposed layout
    Tensor reg;   ///< (N, 4, X', Y') box regression (dx1, dy1, dx2, dy2)
};
struct RnetOut {
    Tensor prob;  ///< (N) f64 face probability
    Tensor reg;   ///< (N, 4)
};
struct OnetOut {
    Tensor prob;       ///< (N) f64 face probability
    Tensor reg;        ///< (N, 4)
    Tensor landmarks;  ///< (N, 10): x1..x5, y1..y5 as fractions of the crop
};

class Mtcnn {
 public:
    /// Loads pnet.bin, rnet.bin, onet.bin and manifest.tsv from `dir` (e.g. shared/data/mtcnn/bin). Checks every
    /// array's presence, shape and byte range against the manifest and the files' sizes.
    explicit Mtcnn(const std::string& dir);
    /// Finds mtcnn/bin/ through the models search path (faceswap/models.h).
    static Mtcnn from_models();

    /// All faces in an RGB (or grey) 8-bit image, best score first after the final NMS (facenet's order).
    std::vector<FaceDetection> detect(const Image& img, const MtcnnOptions& opt = {}) const;

    // The three nets, for tests and benchmarks: inputs (N, 3, X, Y) transposed and normalised (see above).
    PnetOut pnet(const Tensor& x) const;
    RnetOut rnet(const Tensor& x) const;  ///< x (N, 3, 24, 24)
    OnetOut onet(const Tensor& x) const;  ///< x (N, 3, 48, 48)

 private:
    struct Conv {
        Tensor w, b, alpha;  // OIHW, (OC), PReLU slopes (OC) or empty
    };
    struct Fc {
        Tensor w, b, alpha;  // (OUT, IN), (OUT), PReLU slopes or empty
    };
    Conv m_p1, m_p2, m_p3, m_p41, m_p42;
    Conv m_r1, m_r2, m_r3;
    Fc m_r4, m_r51, m_r52;
    Conv m_o1, m_o2, m_o3, m_o4;
    Fc m_o5, m_o61, m_o62, m_o63;
};

}  // namespace fs
