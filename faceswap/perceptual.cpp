// perceptual.cpp: the face-api perceptual loss (perceptual.h).
#include "faceswap/perceptual.h"

#include <cstdio>

#include "autograd/functional.h"

namespace fs {

std::array<Tensor, 4> perceptual_features(const FaceRecognitionNet::Features& f) {
    return {f.conv1, f.stage32, f.stage64, f.final_map};
}

namespace {
// The original's InstanceNormalization with γ = 1, β = 0 (they are never trained): one mean and σ per sample.
Tensor per_sample_norm(const Tensor& x) {
    Tensor one = Tensor::full({1}, 1.0, x.dtype()), zero = Tensor::zeros({1}, x.dtype());
    return instance_norm(x, one, zero, InstanceNormParams{1e-3});
}
}  // namespace

Tensor faceapi_perceptual_loss(const FaceRecognitionNet& net, const Tensor& p, const Tensor& y,
                               const std::array<double, 4>& w) {
    FS_CHECK(p.dim() == 4 && p.size(1) == 3 && p.shape() == y.shape(), "perceptual loss: prediction ", p.str(),
             " and target ", y.str(), " must both be (N, 3, H, W) BGR");
    std::array<Tensor, 4> fy;
    {
        NoGradGuard ng;  // the target is data: no graph for its branch
        fy = perceptual_features(net.forward(net.normalise(faceapi_input_from_bgr(y.detach()))));
        for (Tensor& t : fy) t = per_sample_norm(t);
    }
    std::array<Tensor, 4> fp = perceptual_features(net.forward(net.normalise(faceapi_input_from_bgr(p))));
    Tensor loss;
    for (size_t k = 0; k < 4; ++k) {
        Tensor term = scale(mean(square(sub(per_sample_norm(fp[k]), fy[k]))), w[k]);
        loss = loss.defined() ? add(loss, term) : term;
    }
    return loss;
}

PerceptualLoss make_faceapi_perceptual_loss(std::shared_ptr<const FaceRecognitionNet> net,
                                            const std::array<double, 4>& w) {
    FS_CHECK(net != nullptr, "make_faceapi_perceptual_loss: no network");
    return [net, w](const Tensor& p, const Tensor& y) { return faceapi_perceptual_loss(*net, p, y, w); };
}

PerceptualMode parse_perceptual_mode(const std::string& s) {
    if (s == "auto") return PerceptualMode::automatic;
    if (s == "on") return PerceptualMode::on;
    if (s == "off") return PerceptualMode::off;
    FS_FAIL("perceptual: mode must be auto, on or off, got '", s, "'");
}

const char* perceptual_mode_name(PerceptualMode m) {
    switch (m) {
        case PerceptualMode::automatic: return "auto";
        case PerceptualMode::on: return "on";
        case PerceptualMode::off: return "off";
    }
    return "?";
}

PerceptualLoss perceptual_for_training(PerceptualMode mode, const std::array<double, 4>& w,
                                       const std::function<std::string()>& manifest) {
    if (mode == PerceptualMode::off) return {};
    std::shared_ptr<const FaceRecognitionNet> net;
    try {
        const std::string path = manifest ? manifest() : FaceRecognitionNet::default_manifest_path();
        net = std::make_shared<const FaceRecognitionNet>(path);
    } catch (const Error& e) {
        if (mode == PerceptualMode::on)
            FS_FAIL("train: --perceptual on, but the face-api recognition model could not be loaded: ", e.what());
        std::fprintf(stderr,
                     "train: warning: the perceptual loss is OFF for this run (its phases train without it): the "
                     "face-api recognition model could not be loaded:\n  %s\n"
                     "  (--perceptual off silences this warning; --perceptual on makes it an error)\n",
                     e.what());
        return {};
    }
    return make_faceapi_perceptual_loss(net, w);
}

}  // namespace fs
