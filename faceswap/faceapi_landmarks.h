// faceapi_landmarks.h: face-api.js's 68-point face landmark net (FaceLandmark68Net, the "large" one) run in this
// framework, from the tfjs weights in faceapi/face_landmark_68_model-weights_manifest.json (PROVENANCE.md §4).
//
// The net: four densely connected blocks dense0..3 (32, 64, 128, 256 channels). In each block
//   out1 = relu(conv0(x))                    conv0: stride 2, 'same'; dense0's is a plain 3×3 conv + bias, the
//                                            others depthwise-separable (3×3 depthwise, 1×1 pointwise + bias)
//   out2 = sep1(out1)                        sep1..3: separable, stride 1, 'same', no activation of their own
//   out3 = sep2(relu(out1 + out2))
//   out4 = sep3(relu(out1 + out2 + out3))
//   block = relu(out1 + out2 + out3 + out4)
// then avg-pool 7×7/2 'valid' (7×7 -> 1×1) and fc 256 -> 136: 68 (x, y) pairs interleaved, as fractions of the
// square 112×112 input. Input: RGB, (v − (122.782, 117.001, 104.298)) / 255.
//
// Pre- and post-processing follow face-api.js (NetInput.toBatchTensor, FaceLandmark68NetBase.postProcess): the
// face box (integer pixels; see FaceBoxXYWH for boxes that leave the image) is cut out, zero-padded to a square with the image
// centred (the odd pixel of the padding after), resized bilinearly to 112×112 with TF's default sampling (align_corners
// = half_pixel_centers = false), normalised, and the outputs are scaled back to the square and shifted by the padding.
// Coordinates are OpenCV's: pixel centres at integers, (x, y) = (column, row).
#pragma once
#include <string>
#include <vector>

#include "faceswap/augment.h"
#include "tensor/tensor.h"

namespace fs {

struct TfjsWeights;

/// A face box in integer pixels: left, top, width, height (width, height ≥ 1). It may reach outside the image:
/// those pixels repeat the nearest edge pixel. (face-api clips boxes to the image instead, which changes the crop's
/// shape and so the scale and centring; edge pixels keep the geometry. `faceswap masks` needs this because its box
/// is larger than the aligned crop: on aligned dlib faces edge pixels give a mean error of 0.085, zeros 0.095.)
struct FaceBoxXYWH {
    int x = 0, y = 0, w = 0, h = 0;
};

class FaceLandmark68Net {
 public:
    static constexpr int k_input_size = 112;
    static constexpr int k_points = 68;

    /// Takes the net's 49 arrays from tfjs weights (names and shapes checked, HWIO filters permuted to NCHW).
    explicit FaceLandmark68Net(const TfjsWeights& w);
    /// Loads faceapi/face_landmark_68_model-weights_manifest.json from the models folders (faceswap/models.h).
    static FaceLandmark68Net load_default();

    /// The raw net: x (N, 3, 112, 112) normalised RGB -> (N, 136) fractions of the input square. Runs with
    /// whatever grad mode is on (detect() turns it off).
    Tensor forward(const Tensor& x) const;

    /// The 68 points of each box in `img` (BGR, 0..255, the augment.h convention), in image pixels. One batch.
    std::vector<std::vector<Point2>> detect(const ImageF& img, const std::vector<FaceBoxXYWH>& boxes) const;
    std::vector<Point2> detect(const ImageF& img, const FaceBoxXYWH& box) const;

    /// The normalised (3, 112, 112) input of one box (exposed for tests) and the square it was cut from: side
    /// and the top-left corner in image pixels (the box's corner minus the centring offset).
    struct Prepared {
        Tensor input;
        int side = 0, x0 = 0, y0 = 0;
    };
    static Prepared prepare(const ImageF& img, const FaceBoxXYWH& box);

 private:
    struct Separable {
        Tensor depthwise, pointwise, bias;  // (C,1,3,3), (OC,C,1,1), (OC)
    };
    struct Block {
        Tensor conv0_filters, conv0_bias;  // dense0 only: (32, 3, 3, 3), (32)
        Separable conv[4];                 // conv[0] unused in dense0
    };
    Block m_blocks[4];
    Tensor m_fc_w, m_fc_b;  // (136, 256), (136)
};

}  // namespace fs
