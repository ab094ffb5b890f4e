// faceapi_landmarks.cpp: the face-api 68-point landmark net (see the header for the wiring and the pre- and
// post-processing). Weights arrive in TF layouts (HWIO filters, (3,3,C,1) depthwise, (in,out) fc) and are
// permuted once here to this framework's (OC,C,KH,KW), (C,1,KH,KW) and (out,in).
#include "faceswap/faceapi_landmarks.h"

#include <algorithm>
#include <cmath>

#include "autograd/functional.h"
#include "faceswap/models.h"
#include "io/tfjs.h"

namespace fs {

namespace {

// The array `name`, checked against the manifest shape this net expects.
Tensor weight(const TfjsWeights& w, const std::string& name, const Shape& shape) {
    FS_CHECK(w.has(name), "face landmark net: the weights have no array '", name, "'");
    const Tensor& t = w.get(name);
    FS_CHECK(t.shape() == shape, "face landmark net: array '", name, "' is ", t.str(), ", expected shape ",
             Tensor::empty(shape).str());
    return t.to(DType::f32);
}

// HWIO (KH, KW, C, OC) -> (OC, C, KH, KW); a depthwise (KH, KW, C, 1) becomes (C, 1, KH, KW) the same way with
// the roles of the last two axes swapped.
Tensor hwio_to_oihw(const Tensor& t) { return t.permute({3, 2, 0, 1}).contiguous(); }
Tensor depthwise_to_c1hw(const Tensor& t) { return t.permute({2, 3, 0, 1}).contiguous(); }

// tf.separableConv2d(x, depthwise, pointwise, stride, 'same') + bias.
Tensor separable(const Tensor& x, const Tensor& dw, const Tensor& pw, const Tensor& b, int stride) {
    Tensor d = depthwise_conv2d(x, dw, Tensor(), Conv2dParams::tf_same(3, 3, stride, x.size(2), x.size(3)));
    return conv2d(d, pw, b, Conv2dParams::valid());
}

const double k_mean_rgb[3] = {122.782, 117.001, 104.298};

}  // namespace

FaceLandmark68Net::FaceLandmark68Net(const TfjsWeights& w) {
    const int64_t ch[4] = {32, 64, 128, 256};
    for (int b = 0; b < 4; ++b) {
        const std::string pre = "dense" + std::to_string(b) + "/conv";
        const int64_t cin = b == 0 ? 3 : ch[b - 1], c = ch[b];
        Block& blk = m_blocks[b];
        for (int k = 0; k < 4; ++k) {
            const std::string p = pre + std::to_string(k) + "/";
            if (b == 0 && k == 0) {
                blk.conv0_filters = hwio_to_oihw(weight(w, p + "filters", {3, 3, 3, c}));
                blk.conv0_bias = weight(w, p + "bias", {c});
                continue;
            }
            const int64_t in = k == 0 ? cin : c;
            blk.conv[k].depthwise = depthwise_to_c1hw(weight(w, p + "depthwise_filter", {3, 3, in, 1}));
            blk.conv[k].pointwise = hwio_to_oihw(weight(w, p + "pointwise_filter", {1, 1, in, c}));
            blk.conv[k].bias = weight(w, p + "bias", {c});
        }
    }
    m_fc_w = weight(w, "fc/weights", {256, 136}).transpose(0, 1).contiguous();
    m_fc_b = weight(w, "fc/bias", {136});
}

FaceLandmark68Net FaceLandmark68Net::load_default() {
    return FaceLandmark68Net(load_tfjs_weights(
        find_model_file("faceapi/face_landmark_68_model-weights_manifest.json", k_faceapi_how_to_get)));
}

Tensor FaceLandmark68Net::forward(const Tensor& x) const {
    FS_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == k_input_size && x.size(3) == k_input_size,
             "face landmark net: input must be (N, 3, 112, 112), got ", x.str());
    Tensor out = x;
    for (int b = 0; b < 4; ++b) {
        const Block& blk = m_blocks[b];
        const Separable* s = blk.conv;
        Tensor out1 = b == 0 ? conv2d(out, blk.conv0_filters, blk.conv0_bias,
                                      Conv2dParams::tf_same(3, 3, 2, out.size(2), out.size(3)))
                             : separable(out, s[0].depthwise, s[0].pointwise, s[0].bias, 2);
        out1 = relu(out1);
        Tensor out2 = separable(out1, s[1].depthwise, s[1].pointwise, s[1].bias, 1);
        Tensor sum12 = add(out1, out2);
        Tensor out3 = separable(relu(sum12), s[2].depthwise, s[2].pointwise, s[2].bias, 1);
        Tensor sum123 = add(sum12, out3);
        Tensor out4 = separable(relu(sum123), s[3].depthwise, s[3].pointwise, s[3].bias, 1);
        out = relu(add(sum123, out4));
    }
    // 7×7 -> 1×1: the valid 7×7/2 average is the global mean.
    out = avg_pool2d(out, Pool2dParams::valid(7, 2));
    return dense(out.reshape({out.size(0), out.size(1)}), m_fc_w, m_fc_b);
}

FaceLandmark68Net::Prepared FaceLandmark68Net::prepare(const ImageF& img, const FaceBoxXYWH& box) {
    FS_CHECK(img.c == 3 && img.h > 0 && img.w > 0, "face landmark net: needs a 3-channel image, got ", img.h, "x",
             img.w, "x", img.c);
    FS_CHECK(box.w >= 1 && box.h >= 1, "face landmark net: empty face box ", box.w, "x", box.h);
    // face-api's padToSquare(isCenterImage = true): round(diff/2) zero columns (or rows) appended after the
    // crop, the rest prepended before it.
    Prepared p;
    p.side = std::max(box.w, box.h);
    const int diff = std::abs(box.w - box.h);
    const int before = diff - int(std::lround(diff * 0.5));
    p.x0 = box.x - (box.w < box.h ? before : 0);
    p.y0 = box.y - (box.h < box.w ? before : 0);
    const int S = p.side;
    // The square in RGB 0..255: the box's pixels (those outside the image repeat the nearest edge pixel), zeros
    // in the padding around it.
    Tensor sq = Tensor::zeros({1, 3, S, S});
    float* d = sq.data<float>();
    const int64_t plane = int64_t(S) * S;
    for (int y = box.y; y < box.y + box.h; ++y)
        for (int x = box.x; x < box.x + box.w; ++x) {
            const int64_t o = int64_t(y - p.y0) * S + (x - p.x0);
            const int yc = std::clamp(y, 0, img.h - 1), xc = std::clamp(x, 0, img.w - 1);
            for (int c = 0; c < 3; ++c) d[c * plane + o] = img.at(yc, xc, 2 - c);  // BGR -> RGB
        }
    Tensor r =
        S == k_input_size ? sq : resize_bilinear(sq, ResizeParams{k_input_size, k_input_size, ResizeMode::tf_legacy});
    r = r.contiguous();
    const float* rp = r.data<float>();
    p.input = Tensor::empty({3, k_input_size, k_input_size});
    float* ip = p.input.data<float>();
    const int64_t plane_in = int64_t(k_input_size) * k_input_size;
    for (int c = 0; c < 3; ++c)
        for (int64_t i = 0; i < plane_in; ++i)
            ip[c * plane_in + i] = float((double(rp[c * plane_in + i]) - k_mean_rgb[c]) / 255.0);
    return p;
}

std::vector<std::vector<Point2>> FaceLandmark68Net::detect(const ImageF& img, const std::vector<FaceBoxXYWH>& boxes) const {
    std::vector<std::vector<Point2>> result;
    if (boxes.empty()) return result;
    NoGradGuard ng;
    std::vector<Prepared> prep;
    std::vector<Tensor> inputs;
    for (const FaceBoxXYWH& b : boxes) {
        prep.push_back(prepare(img, b));
        inputs.push_back(prep.back().input.view({1, 3, k_input_size, k_input_size}));
    }
    Tensor x = inputs.size() == 1 ? inputs[0] : concat(inputs, ConcatParams{0});
    Tensor y = forward(x).contiguous();
    const float* yp = y.data<float>();
    for (size_t n = 0; n < boxes.size(); ++n) {
        const Prepared& p = prep[n];
        std::vector<Point2> pts(k_points);
        for (int k = 0; k < k_points; ++k) {
            const float* o = yp + n * 2 * k_points + 2 * k;
            pts[size_t(k)] = {double(o[0]) * p.side + p.x0, double(o[1]) * p.side + p.y0};
        }
        result.push_back(std::move(pts));
    }
    return result;
}

std::vector<Point2> FaceLandmark68Net::detect(const ImageF& img, const FaceBoxXYWH& box) const {
    return detect(img, std::vector<FaceBoxXYWH>{box})[0];
}

}  // namespace fs
