// perceptual.h: the perceptual loss of spec §5.2 on the face-api.js recognition ResNet (faceswap/faceapi_recognition.h)
// instead of the VGGFace2 ResNet-50 (not available here; docs/DEVIATIONS.md). Given p = λ·b + (1−λ)·m (the mix of
// the raw and masked generator outputs, formed by generator_loss) and the target y, both BGR [-1, 1] (N, 3, H, W):
//   resize to 150×150 (TF1 bilinear), to RGB 0..255, subtract the face-api mean, /255;
//   four feature maps φ_k, early to late: conv32_down before its ReLU (72²×32), conv32_3 (35²×32), conv64_3
//   (17²×64), conv256_down_out (2²×256, what the descriptor averages);
//   L_PL = Σ_k w_pl[k] · mean((IN(φ_k(p)) − IN(φ_k(y)))²), IN the per-sample scalar "instancenorm" over C, H, W
//   (ε 1e-3 added to σ, γ = 1, β = 0, as the original's never-trained InstanceNormalization).
// y's features are computed without recording (y is data); the gradient flows to p only. The net's weights are
// frozen (never require grad).
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <string>

#include "faceswap/faceapi_recognition.h"
#include "faceswap/losses.h"

namespace fs {

/// The four φ_k of the loss, early to late (see above), from the net's features.
std::array<Tensor, 4> perceptual_features(const FaceRecognitionNet::Features& f);

/// L_PL(p, y) with weights w (spec order layer7, 28, 55, 112 → our four maps early to late). A rank-0 tensor.
Tensor faceapi_perceptual_loss(const FaceRecognitionNet& net, const Tensor& p, const Tensor& y,
                               const std::array<double, 4>& w);

/// The PerceptualLoss slot of generator_loss/GanTrainer bound to `net` and `w`.
PerceptualLoss make_faceapi_perceptual_loss(std::shared_ptr<const FaceRecognitionNet> net,
                                            const std::array<double, 4>& w);

/// How `faceswap train` decides on the perceptual loss (option --perceptual, key `perceptual` of train.cfg):
enum class PerceptualMode {
    automatic,  ///< on in the schedule's PL phases when the face-api model is found; else one warning and off
    on,         ///< required: a missing model file is an error before training starts
    off,        ///< never (the schedule's PL phases run without it)
};
PerceptualMode parse_perceptual_mode(const std::string& s);  ///< "auto", "on" or "off"
const char* perceptual_mode_name(PerceptualMode m);

/// The perceptual loss for a training run in `mode`, or an empty function when it is off. In automatic mode a
/// missing model prints one warning to stderr (what is missing, where it was looked for, that the PL phases
/// run without it, and how to silence it) and returns empty; in `on` mode it throws that error instead.
/// `manifest` finds the model's manifest (default: FaceRecognitionNet::default_manifest_path, the models search
/// path); it throws when the file is absent.
PerceptualLoss perceptual_for_training(PerceptualMode mode, const std::array<double, 4>& w,
                                       const std::function<std::string()>& manifest = {});

}  // namespace fs
