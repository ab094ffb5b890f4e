// faceapi_recognition.cpp: the face-api.js recognition ResNet (layer table and conventions in the header).
#include "faceswap/faceapi_recognition.h"

#include <cmath>

#include "autograd/functional.h"
#include "faceswap/models.h"
#include "io/tfjs.h"

namespace fs {

namespace {

const char* const k_manifest = "faceapi/face_recognition_model-weights_manifest.json";

// The residual blocks after the stem, in order; `down` marks the down-sampling blocks.
struct BlockSpec {
    const char* name;
    bool down;
    int64_t in_c, out_c;
};
const BlockSpec k_blocks[] = {
    {"conv32_1", false, 32, 32},          {"conv32_2", false, 32, 32},       {"conv32_3", false, 32, 32},
    {"conv64_down", true, 32, 64},        {"conv64_1", false, 64, 64},       {"conv64_2", false, 64, 64},
    {"conv64_3", false, 64, 64},          {"conv128_down", true, 64, 128},   {"conv128_1", false, 128, 128},
    {"conv128_2", false, 128, 128},       {"conv256_down", true, 128, 256},  {"conv256_1", false, 256, 256},
    {"conv256_2", false, 256, 256},       {"conv256_down_out", true, 256, 256},
};

const Tensor& checked(const TfjsWeights& w, const std::string& name, const Shape& shape) {
    const Tensor& t = w.get(name);
    FS_CHECK(t.shape() == shape, w.manifest_path, ": weight '", name, "' has shape ", shape_str(t.shape()),
             " but the face-recognition net needs ", shape_str(shape));
    return t;
}

}  // namespace

FaceRecognitionNet::FaceRecognitionNet(const std::string& manifest_path, DType dtype) : m_dtype(dtype) {
    FS_CHECK(dtype == DType::f32 || dtype == DType::f64, "FaceRecognitionNet: dtype must be f32 or f64, got ",
             dtype_name(dtype));
    TfjsWeights w = load_tfjs_weights(manifest_path);
    FS_CHECK(w.tensors.size() == 117, manifest_path, ": the face-recognition model has 117 weights, this manifest ",
             w.tensors.size(), " (a different model?)");

    // prefix/conv/{filters,bias} + prefix/scale/{weights,biases} -> one conv: W'[oc] = W[oc]·s[oc],
    // b'[oc] = bias[oc]·s[oc] + sb[oc], computed in double. HWIO (KH, KW, C, OC) -> (OC, C, KH, KW).
    auto load_conv = [&](const std::string& prefix, int64_t k, int64_t c, int64_t oc) {
        const Tensor& f = checked(w, prefix + "/conv/filters", {k, k, c, oc});
        const Tensor& bias = checked(w, prefix + "/conv/bias", {oc});
        const Tensor& s = checked(w, prefix + "/scale/weights", {oc});
        const Tensor& sb = checked(w, prefix + "/scale/biases", {oc});
        Tensor wt = f.permute({3, 2, 0, 1}).contiguous().to(DType::f64);
        std::vector<double> sv = s.to_vector(), bv = bias.to_vector(), sbv = sb.to_vector();
        double* wp = wt.data<double>();
        const int64_t per_oc = c * k * k;
        for (int64_t o = 0; o < oc; ++o)
            for (int64_t i = 0; i < per_oc; ++i) wp[o * per_oc + i] *= sv[size_t(o)];
        std::vector<double> b(static_cast<size_t>(oc));
        for (int64_t o = 0; o < oc; ++o) b[size_t(o)] = bv[size_t(o)] * sv[size_t(o)] + sbv[size_t(o)];
        return Conv{prefix, wt.to(dtype), Tensor::from_vector({oc}, b, dtype)};
    };
    m_stem = load_conv("conv32_down", 7, 3, 32);
    for (const BlockSpec& bs : k_blocks) {
        Block b;
        b.name = bs.name;
        b.down = bs.down;
        b.c1 = load_conv(b.name + "/conv1", 3, bs.in_c, bs.out_c);
        b.c2 = load_conv(b.name + "/conv2", 3, bs.out_c, bs.out_c);
        m_blocks.push_back(b);
    }
    m_fc = checked(w, "fc", {256, k_descriptor_size}).transpose(0, 1).contiguous().to(dtype);
    m_mean = Tensor::from_vector({1, 3, 1, 1}, {122.782, 117.001, 104.298}, dtype);
}

std::string FaceRecognitionNet::default_manifest_path() { return find_model_file(k_manifest, k_faceapi_how_to_get); }

FaceRecognitionNet FaceRecognitionNet::load_default(DType dtype) {
    return FaceRecognitionNet(default_manifest_path(), dtype);
}

std::vector<std::pair<std::string, Tensor>> FaceRecognitionNet::conv_weights() const {
    std::vector<std::pair<std::string, Tensor>> out{{m_stem.name, m_stem.w}};
    for (const Block& b : m_blocks) out.emplace_back(b.c1.name, b.c1.w), out.emplace_back(b.c2.name, b.c2.w);
    return out;
}

Tensor FaceRecognitionNet::normalise(const Tensor& rgb255) const {
    FS_CHECK(rgb255.dim() == 4 && rgb255.size(1) == 3, "FaceRecognitionNet: input must be (N, 3, H, W) RGB, got ",
             rgb255.str());
    return scale(sub(rgb255, m_mean), 1.0 / 255.0);
}

// Down-sampling convs are 3×3/2 (7×7/2 for the stem) 'valid'; all others 3×3/1 'same' (pad 1 each side).
Tensor FaceRecognitionNet::conv(const Tensor& x, const Conv& c, bool down) const {
    Conv2dParams p = down ? Conv2dParams::valid(2) : Conv2dParams::tf_same(3, 3, 1, x.size(2), x.size(3));
    return conv2d(x, c.w, c.b, p);
}

Tensor FaceRecognitionNet::block(const Tensor& x, const Block& b) const {
    Tensor out = conv(relu(conv(x, b.c1, b.down)), b.c2, false);
    if (!b.down) return relu(add(out, x));
    Tensor pooled = avg_pool2d(x, Pool2dParams::valid(2, 2));
    const int64_t N = out.size(0), C = out.size(1);
    if (out.size(2) != pooled.size(2) || out.size(3) != pooled.size(3)) {
        // face-api.js: one zero row at the bottom, then one zero column at the right.
        FS_CHECK(out.size(2) + 1 == pooled.size(2) && out.size(3) + 1 == pooled.size(3), "FaceRecognitionNet: ",
                 b.name, " conv path ", out.str(), " vs shortcut ", pooled.str());
        out = concat({out, Tensor::zeros({N, C, 1, out.size(3)}, m_dtype)}, ConcatParams{2});
        out = concat({out, Tensor::zeros({N, C, out.size(2), 1}, m_dtype)}, ConcatParams{3});
    }
    if (pooled.size(1) != C) {
        FS_CHECK(pooled.size(1) * 2 == C, "FaceRecognitionNet: ", b.name, " channel mismatch");
        pooled = concat({pooled, Tensor::zeros(pooled.shape(), m_dtype)}, ConcatParams{1});
    }
    return relu(add(pooled, out));
}

FaceRecognitionNet::Features FaceRecognitionNet::forward(const Tensor& x) const {
    FS_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == k_input_size && x.size(3) == k_input_size,
             "FaceRecognitionNet: input must be (N, 3, 150, 150), got ", x.str(),
             " (faceapi_input_from_bgr resizes our faces)");
    FS_CHECK(x.dtype() == m_dtype, "FaceRecognitionNet: input is ", dtype_name(x.dtype()), " but the weights are ",
             dtype_name(m_dtype));
    Features f;
    f.conv1 = conv(x, m_stem, true);
    Tensor h = max_pool2d(relu(f.conv1), Pool2dParams::valid(3, 2));
    for (const Block& b : m_blocks) {
        h = block(h, b);
        if (b.name == "conv32_3") f.stage32 = h;
        else if (b.name == "conv64_3") f.stage64 = h;
        else if (b.name == "conv128_2") f.stage128 = h;
        else if (b.name == "conv256_2") f.stage256 = h;
    }
    f.final_map = h;
    f.descriptor = dense(mean(h, ReduceParams{{2, 3}, false}), m_fc);
    return f;
}

Tensor faceapi_input_from_bgr(const Tensor& bgr) {
    FS_CHECK(bgr.dim() == 4 && bgr.size(1) == 3, "faceapi_input_from_bgr: expected (N, 3, H, W) BGR, got ",
             bgr.str());
    const int64_t S = FaceRecognitionNet::k_input_size;
    Tensor x = bgr;
    if (x.size(2) != S || x.size(3) != S) x = resize_bilinear(x, ResizeParams{S, S, ResizeMode::tf_legacy});
    Tensor rgb = concat({slice(x, 1, 2, 3), slice(x, 1, 1, 2), slice(x, 1, 0, 1)}, ConcatParams{1});
    return scale(rgb, 127.5, 127.5);
}

double descriptor_cosine(const Tensor& a, const Tensor& b) {
    std::vector<double> x = a.to_vector(), y = b.to_vector();
    FS_CHECK(x.size() == y.size() && !x.empty(), "descriptor_cosine: sizes ", x.size(), " and ", y.size());
    double xy = 0, xx = 0, yy = 0;
    for (size_t i = 0; i < x.size(); ++i) xy += x[i] * y[i], xx += x[i] * x[i], yy += y[i] * y[i];
    FS_CHECK(xx > 0 && yy > 0, "descriptor_cosine: zero descriptor");
    return xy / std::sqrt(xx * yy);
}

double descriptor_distance(const Tensor& a, const Tensor& b) {
    std::vector<double> x = a.to_vector(), y = b.to_vector();
    FS_CHECK(x.size() == y.size() && !x.empty(), "descriptor_distance: sizes ", x.size(), " and ", y.size());
    double d = 0;
    for (size_t i = 0; i < x.size(); ++i) d += (x[i] - y[i]) * (x[i] - y[i]);
    return std::sqrt(d);
}

}  // namespace fs
