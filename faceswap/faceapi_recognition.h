// faceapi_recognition.h: the face-recognition ResNet of face-api.js (a port of dlib's ResNet-29 face descriptor,
// 128-D, weights ../shared/data/faceapi, PROVENANCE.md §4) built from the framework's differentiable ops, so a
// loss on its features back-propagates to the input image while the weights stay frozen (they never require
// grad). Used by the perceptual loss (faceswap/perceptual.h) and `faceswap eval` (faceswap/eval.h).
//
// Input conventions (NCHW throughout; the tfjs weights are HWIO and are permuted once at load):
//   rgb255      (N, 3, 150, 150) RGB in 0..255: what face-api.js feeds the net (after its square pad + resize)
//   normalised  (rgb255 − (122.782, 117.001, 104.298)) / 255: what forward() takes
//   our faces   (N, 3, H, W) BGR in [-1, 1] (generator outputs, image_to_tensor): faceapi_input_from_bgr() maps
//               them to rgb255, resizing to 150×150 with the differentiable resize_bilinear op when H, W ≠ 150.
//
// Layers (face-api.js faceRecognitionNet): every conv is conv + bias, then a per-channel "scale" layer
// (x·w + b); the two affine steps are folded into one conv at load (in double, then rounded to the weights'
// dtype), which is exact up to rounding and saves a pass per conv.
//   conv32_down   7×7/2 'valid' + ReLU                    150 → 72   (32 ch)
//   maxpool       3×3/2 'valid'                            72 → 35
//   conv32_1..3   residual: relu(conv2(relu(conv1(x))) + x), 3×3 'same'
//   conv64_down   residual down-block (below)              35 → 17   (64 ch), then conv64_1..3
//   conv128_down                                           17 → 8    (128 ch), then conv128_1..2
//   conv256_down                                            8 → 4    (256 ch; conv path 3, zero-padded), conv256_1..2
//   conv256_down_out                                        4 → 2    (256 ch; conv path 1, zero-padded)
//   mean over H, W, then fc (256 → 128, no bias): the descriptor (not L2-normalised; norm ≈ 1.4)
// A down-block: conv path relu(conv1 3×3/2 'valid') → conv2 3×3 'same'; shortcut avgpool 2×2/2 'valid' with
// zero channels appended when the conv path has more channels; when the conv path comes out one row/column
// smaller it gets a zero row at the bottom and a zero column at the right; then relu(conv path + shortcut).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace fs {

class FaceRecognitionNet {
 public:
    static constexpr int k_input_size = 150;
    static constexpr int k_descriptor_size = 128;

    /// The feature maps the perceptual loss can use, plus the descriptor. All are (N, C, H, W) except
    /// `descriptor` (N, 128). Sizes are for a 150×150 input.
    struct Features {
        Tensor conv1;       ///< conv32_down before its ReLU, (N, 32, 72, 72)
        Tensor stage32;     ///< conv32_3 output (after ReLU), (N, 32, 35, 35)
        Tensor stage64;     ///< conv64_3 output, (N, 64, 17, 17)
        Tensor stage128;    ///< conv128_2 output, (N, 128, 8, 8)
        Tensor stage256;    ///< conv256_2 output, (N, 256, 4, 4)
        Tensor final_map;   ///< conv256_down_out output, (N, 256, 2, 2): what the descriptor averages
        Tensor descriptor;  ///< (N, 128)
    };

    /// Loads the tfjs manifest (and its .bin) at `manifest_path`, checking every expected weight's name and
    /// shape; the weights are stored in `dtype` (f32, or f64 for gradient checks).
    explicit FaceRecognitionNet(const std::string& manifest_path, DType dtype = DType::f32);
    /// The net from "faceapi/face_recognition_model-weights_manifest.json" found by find_model_file (--models,
    /// FACESWAP_MODELS, ./models, FACESWAP_DATA, the shared data folder); the error says where to get it.
    static FaceRecognitionNet load_default(DType dtype = DType::f32);
    /// The path load_default() would read (throws the same error when absent).
    static std::string default_manifest_path();

    /// Every layer's features for a normalised input (N, 3, 150, 150) (the size the net was trained on; other
    /// sizes are rejected rather than silently giving other feature-map sizes). Differentiable w.r.t. x.
    Features forward(const Tensor& x_normalised) const;
    /// (rgb255 − mean) / 255 with the face-api.js mean, differentiable; rgb255 (N, 3, H, W).
    Tensor normalise(const Tensor& rgb255) const;
    /// The 128-D descriptors of RGB 0..255 faces (N, 3, 150, 150) -> (N, 128).
    Tensor descriptor(const Tensor& rgb255) const { return forward(normalise(rgb255)).descriptor; }

    DType dtype() const { return m_dtype; }
    /// The folded conv layers in network order (name, weight (OC, C, KH, KW)), for inspection and tests.
    std::vector<std::pair<std::string, Tensor>> conv_weights() const;

 private:
    struct Conv {
        std::string name;
        Tensor w, b;  // (OC, C, KH, KW) and (OC), scale layer folded in
    };
    struct Block {
        std::string name;
        bool down = false;
        Conv c1, c2;
    };
    Tensor conv(const Tensor& x, const Conv& c, bool down) const;
    Tensor block(const Tensor& x, const Block& b) const;

    DType m_dtype = DType::f32;
    Conv m_stem;
    std::vector<Block> m_blocks;  // conv32_1 .. conv256_down_out in order
    Tensor m_fc;                  // (128, 256): dense() layout (OUT, IN)
    Tensor m_mean;                // (1, 3, 1, 1) RGB mean
};

/// Our faces, BGR in [-1, 1] (N, 3, H, W), to the net's rgb255 input (N, 3, 150, 150): channel order reversed,
/// (x + 1)·127.5, and a TF1-style bilinear resize (tf.image.resize_bilinear, as face-api.js resizes) when H or W
/// is not 150. Differentiable. Aligned faces should be roughly dlib-chip framed (face filling most of the
/// square); see docs/DEVIATIONS.md on how our 64/128/256 crops compare.
Tensor faceapi_input_from_bgr(const Tensor& bgr);

/// Cosine similarity and Euclidean distance of two descriptors (any length, f32/f64 CPU, rank 1 or (1, D)).
double descriptor_cosine(const Tensor& a, const Tensor& b);
double descriptor_distance(const Tensor& a, const Tensor& b);

}  // namespace fs
