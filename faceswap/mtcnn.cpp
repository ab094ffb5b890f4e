// mtcnn.cpp: see mtcnn.h. The cascade is a line-by-line port of facenet's align/detect_face.py (which ports the
// MATLAB original); comments name the facenet function each part re-creates.
#include "faceswap/mtcnn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "autograd/functional.h"
#include "autograd/functional_linalg.h"
#include "autograd/functional_nn.h"
#include "autograd/tape.h"
#include "faceswap/models.h"
#include "kernels/cpu/thread_pool.h"
#include "tensor/error.h"

namespace fs {

void MtcnnOptions::validate() const {
    FS_CHECK(min_size >= 1, "mtcnn: min_size must be >= 1 pixel, got ", min_size);
    FS_CHECK(factor > 0 && factor < 1, "mtcnn: pyramid factor must be in (0, 1), got ", factor);
    for (double t : thresholds) FS_CHECK(t >= 0 && t <= 1, "mtcnn: thresholds must be in [0, 1], got ", t);
}

double box_iou(const FaceDetection& a, const FaceDetection& b) {
    double w = std::max(0.0, std::min(a.x2, b.x2) - std::max(a.x1, b.x1) + 1);
    double h = std::max(0.0, std::min(a.y2, b.y2) - std::max(a.y1, b.y1) + 1);
    double inter = w * h;
    double uni = a.width() * a.height() + b.width() * b.height() - inter;
    return uni > 0 ? inter / uni : 0.0;
}

// --- INTER_AREA -----------------------------------------------------------------------------------------------

namespace {

struct AreaTap {
    int dst, src;
    float w;
};

// OpenCV computeResizeAreaTab: the input cells [d·scale, (d+1)·scale) covered by each output cell, with the
// covered fraction over the (edge-clipped) cell width as weight.
std::vector<AreaTap> area_taps(int ssize, int dsize, double scale) {
    std::vector<AreaTap> tab;
    for (int dx = 0; dx < dsize; ++dx) {
        double fsx1 = dx * scale, fsx2 = fsx1 + scale;
        double cell = std::min(scale, ssize - fsx1);
        int sx1 = int(std::ceil(fsx1)), sx2 = int(std::floor(fsx2));
        sx2 = std::min(sx2, ssize - 1);
        sx1 = std::min(sx1, sx2);
        if (sx1 - fsx1 > 1e-3) tab.push_back({dx, sx1 - 1, float((sx1 - fsx1) / cell)});
        for (int sx = sx1; sx < sx2; ++sx) tab.push_back({dx, sx, float(1.0 / cell)});
        if (fsx2 - sx2 > 1e-3) tab.push_back({dx, sx2, float(std::min(std::min(fsx2 - sx2, 1.0), cell) / cell)});
    }
    return tab;
}

// OpenCV's INTER_AREA when enlarging (resize.cpp, area_mode): sx = floor(d·scale), fx = (d+1) − (sx+1)/scale,
// clamped to >= 0 and reduced to its fractional part; taps (sx, 1 − fx), (sx + 1, fx) with the edge clamped.
std::vector<AreaTap> area_linear_taps(int ssize, int dsize, double scale) {
    std::vector<AreaTap> tab;
    double inv = 1.0 / scale;
    for (int dx = 0; dx < dsize; ++dx) {
        int sx = int(std::floor(dx * scale));
        float fx = float((dx + 1) - (sx + 1) * inv);
        fx = fx <= 0 ? 0.f : fx - std::floor(fx);
        int s0 = std::clamp(sx, 0, ssize - 1), s1 = std::clamp(sx + 1, 0, ssize - 1);
        tab.push_back({dx, s0, 1.f - fx});
        tab.push_back({dx, s1, fx});
    }
    return tab;
}

// PIL's BOX filter (Image.resize(..., BOX), ImagingResample's precompute_coeffs): support 0.5·max(scale, 1)
// about the output pixel's centre in input coordinates; every input pixel whose centre falls in
// (centre − support, centre + support] gets weight 1, then the weights are normalised.
std::vector<AreaTap> box_taps(int ssize, int dsize) {
    std::vector<AreaTap> tab;
    double scale = double(ssize) / dsize, fscale = std::max(scale, 1.0), support = 0.5 * fscale;
    for (int d = 0; d < dsize; ++d) {
        double centre = (d + 0.5) * scale;
        int lo = std::max(0, int(centre - support + 0.5)), hi = std::min(ssize, int(centre + support + 0.5));
        size_t first = tab.size();
        for (int s = lo; s < hi; ++s) {
            double a = (s - centre + 0.5) / fscale;
            if (a > -0.5 && a <= 0.5) tab.push_back({d, s, 1.f});
        }
        FS_CHECK(tab.size() > first, "resize_box: no input pixel under output pixel ", d);
        float w = 1.f / float(tab.size() - first);
        for (size_t i = first; i < tab.size(); ++i) tab[i].w = w;
    }
    return tab;
}

// Separable resampling with the given taps: columns first (whole rows at a time, which vectorises, and shrinking
// first leaves fewer rows for the second pass), then rows.
ImageF resample(const ImageF& src, int out_h, int out_w, const std::vector<AreaTap>& tx,
                const std::vector<AreaTap>& ty) {
    const int C = src.c;
    const size_t in_row = size_t(src.w) * size_t(C);
    std::vector<float> tmp(size_t(out_h) * in_row, 0.f);
    for (const AreaTap& k : ty) {
        const float* s = &src.px[size_t(k.src) * in_row];
        float* t = &tmp[size_t(k.dst) * in_row];
        for (size_t i = 0; i < in_row; ++i) t[i] += k.w * s[i];
    }
    ImageF out(out_h, out_w, C, 0.f);
    const size_t out_row = size_t(out_w) * size_t(C);
    for (int y = 0; y < out_h; ++y) {
        const float* t = &tmp[size_t(y) * in_row];
        float* o = &out.px[size_t(y) * out_row];
        if (C == 3) {
            for (const AreaTap& k : tx) {
                const float* tp = t + size_t(k.src) * 3;
                float* op = o + size_t(k.dst) * 3;
                op[0] += k.w * tp[0], op[1] += k.w * tp[1], op[2] += k.w * tp[2];
            }
        } else {
            for (const AreaTap& k : tx)
                for (int c = 0; c < C; ++c) o[size_t(k.dst) * size_t(C) + size_t(c)] += k.w * t[size_t(k.src) * size_t(C) + size_t(c)];
        }
    }
    return out;
}

void check_resize(const ImageF& src, int out_h, int out_w, const char* what) {
    FS_CHECK(src.h > 0 && src.w > 0 && src.c > 0, what, ": empty input image");
    FS_CHECK(out_h > 0 && out_w > 0, what, ": output size must be positive, got ", out_h, "x", out_w);
}

}  // namespace

ImageF resize_box(const ImageF& src, int out_h, int out_w) {
    check_resize(src, out_h, out_w, "resize_box");
    return resample(src, out_h, out_w, box_taps(src.w, out_w), box_taps(src.h, out_h));
}

ImageF resize_area(const ImageF& src, int out_h, int out_w, bool round_u8) {
    check_resize(src, out_h, out_w, "resize_area");
    double sy = double(src.h) / out_h, sx = double(src.w) / out_w;
    // OpenCV takes the area path only when shrinking (or keeping) both axes.
    bool area = sy >= 1 && sx >= 1;
    ImageF out = resample(src, out_h, out_w, area ? area_taps(src.w, out_w, sx) : area_linear_taps(src.w, out_w, sx),
                          area ? area_taps(src.h, out_h, sy) : area_linear_taps(src.h, out_h, sy));
    if (round_u8)
        for (float& v : out.px) v = std::clamp(std::nearbyint(v), 0.f, 255.f);
    return out;
}

// --- weights --------------------------------------------------------------------------------------------------

namespace {

struct ManifestEntry {
    Shape shape;
    int64_t offset = 0, nbytes = 0;
};

std::vector<char> read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    FS_CHECK(f, path, ": cannot open the MTCNN weight file");
    std::vector<char> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    FS_CHECK(!f.bad(), path, ": read error");
    return buf;
}

class MtcnnWeights {
 public:
    explicit MtcnnWeights(const std::string& dir) : m_dir(dir) {
        std::string mpath = (std::filesystem::path(dir) / "manifest.tsv").string();
        std::ifstream f(mpath);
        FS_CHECK(f, mpath, ": cannot open the MTCNN manifest (expected manifest.tsv beside pnet.bin, rnet.bin, "
                           "onet.bin)");
        std::string line;
        FS_CHECK(std::getline(f, line) && line.rfind("net\tlayer\tparam\tshape\toffset\tnbytes", 0) == 0, mpath,
                 ": not an MTCNN manifest (bad header line)");
        int lineno = 1;
        while (std::getline(f, line)) {
            ++lineno;
            if (line.empty()) continue;
            std::vector<std::string> col;
            std::stringstream ss(line);
            for (std::string c; std::getline(ss, c, '\t');) col.push_back(c);
            FS_CHECK(col.size() == 6, mpath, ":", lineno, ": expected 6 tab-separated columns, got ", col.size());
            ManifestEntry e;
            std::stringstream dims(col[3]);
            for (std::string d; std::getline(dims, d, ',');) e.shape.push_back(std::stoll(d));
            e.offset = std::stoll(col[4]);
            e.nbytes = std::stoll(col[5]);
            FS_CHECK(e.nbytes == shape_numel(e.shape) * 4, mpath, ":", lineno, ": nbytes ", e.nbytes,
                     " does not match shape ", col[3], " of float32");
            m_entries[col[0] + "/" + col[1] + "/" + col[2]] = e;
        }
    }

    /// The array net/layer/param, checked to have `shape`.
    Tensor get(const std::string& net, const std::string& layer, const std::string& param, const Shape& shape) {
        std::string key = net + "/" + layer + "/" + param;
        auto it = m_entries.find(key);
        FS_CHECK(it != m_entries.end(), m_dir, "/manifest.tsv: no entry for ", key);
        const ManifestEntry& e = it->second;
        FS_CHECK(e.shape == shape, m_dir, "/manifest.tsv: ", key, " has shape ", shape_str(e.shape), ", expected ",
                 shape_str(shape));
        auto fit = m_files.find(net);
        if (fit == m_files.end()) fit = m_files.emplace(net, read_all(file_of(net))).first;
        const std::vector<char>& buf = fit->second;
        FS_CHECK(e.offset >= 0 && e.offset + e.nbytes <= int64_t(buf.size()), file_of(net), ": ", key, " at bytes [",
                 e.offset, ", ", e.offset + e.nbytes, ") lies beyond the file's ", buf.size(), " bytes (truncated?)");
        Tensor t = Tensor::empty(shape);
        std::memcpy(t.data<float>(), buf.data() + e.offset, size_t(e.nbytes));
        for (int64_t i = 0; i < t.numel(); ++i)
            FS_CHECK(std::isfinite(t.data<float>()[i]), file_of(net), ": ", key, " holds a non-finite value");
        return t;
    }

    /// Every byte of each file belongs to one array (a longer or shorter file is a different version).
    void check_sizes() {
        std::map<std::string, int64_t> total;
        for (auto& [key, e] : m_entries) total[key.substr(0, key.find('/'))] += e.nbytes;
        for (auto& [net, bytes] : total) {
            auto it = m_files.find(net);
            FS_CHECK(it != m_files.end(), file_of(net), ": never read");
            FS_CHECK(int64_t(it->second.size()) == bytes, file_of(net), ": ", it->second.size(),
                     " bytes, but the manifest describes ", bytes);
        }
    }

 private:
    std::string file_of(const std::string& net) const { return (std::filesystem::path(m_dir) / (net + ".bin")).string(); }
    std::string m_dir;
    std::map<std::string, ManifestEntry> m_entries;
    std::map<std::string, std::vector<char>> m_files;
};

}  // namespace

Mtcnn::Mtcnn(const std::string& dir) {
    MtcnnWeights W(dir);
    // HWIO (kh, kw, ci, co) -> OIHW; the kernel's first spatial axis stays the first (x in the transposed input).
    auto conv = [&](const std::string& net, const std::string& layer, const std::string& prelu, int64_t k,
                    int64_t ci, int64_t co) {
        Conv c;
        c.w = W.get(net, layer, "weights", {k, k, ci, co}).permute({3, 2, 0, 1}).contiguous();
        c.b = W.get(net, layer, "biases", {co});
        if (!prelu.empty()) c.alpha = W.get(net, prelu, "alpha", {co});
        return c;
    };
    // (in, out) -> dense's (out, in).
    auto fc = [&](const std::string& net, const std::string& layer, const std::string& prelu, int64_t in,
                  int64_t out) {
        Fc f;
        f.w = W.get(net, layer, "weights", {in, out}).transpose(0, 1).contiguous();
        f.b = W.get(net, layer, "biases", {out});
        if (!prelu.empty()) f.alpha = W.get(net, prelu, "alpha", {out});
        return f;
    };
    m_p1 = conv("pnet", "conv1", "PReLU1", 3, 3, 10);
    m_p2 = conv("pnet", "conv2", "PReLU2", 3, 10, 16);
    m_p3 = conv("pnet", "conv3", "PReLU3", 3, 16, 32);
    m_p41 = conv("pnet", "conv4-1", "", 1, 32, 2);
    m_p42 = conv("pnet", "conv4-2", "", 1, 32, 4);
    m_r1 = conv("rnet", "conv1", "prelu1", 3, 3, 28);
    m_r2 = conv("rnet", "conv2", "prelu2", 3, 28, 48);
    m_r3 = conv("rnet", "conv3", "prelu3", 2, 48, 64);
    m_r4 = fc("rnet", "conv4", "prelu4", 576, 128);
    m_r51 = fc("rnet", "conv5-1", "", 128, 2);
    m_r52 = fc("rnet", "conv5-2", "", 128, 4);
    m_o1 = conv("onet", "conv1", "prelu1", 3, 3, 32);
    m_o2 = conv("onet", "conv2", "prelu2", 3, 32, 64);
    m_o3 = conv("onet", "conv3", "prelu3", 3, 64, 64);
    m_o4 = conv("onet", "conv4", "prelu4", 2, 64, 128);
    m_o5 = fc("onet", "conv5", "prelu5", 1152, 256);
    m_o61 = fc("onet", "conv6-1", "", 256, 2);
    m_o62 = fc("onet", "conv6-2", "", 256, 4);
    m_o63 = fc("onet", "conv6-3", "", 256, 10);
    W.check_sizes();
}

Mtcnn Mtcnn::from_models() {
    std::string manifest = find_model_file("mtcnn/bin/manifest.tsv", k_mtcnn_how_to_get);
    return Mtcnn(std::filesystem::path(manifest).parent_path().string());
}

// --- the nets -------------------------------------------------------------------------------------------------

namespace {

template <typename L>
Tensor conv_prelu(const Tensor& x, const L& c) {
    Tensor y = conv2d(x, c.w, c.b, Conv2dParams::valid(1));
    return c.alpha.defined() ? prelu(y, c.alpha) : y;
}
template <typename L>
Tensor dense_prelu(const Tensor& x, const L& f) {
    Tensor y = dense(x, f.w, f.b);
    return f.alpha.defined() ? prelu(y, f.alpha) : y;
}
Tensor pool_same(const Tensor& x, int k, int s) {
    return max_pool2d(x, Pool2dParams::tf_same(k, s, x.size(2), x.size(3)));
}
Tensor pool_valid(const Tensor& x, int k, int s) { return max_pool2d(x, Pool2dParams::valid(k, s)); }
// (N, C, A, B) transposed feature map -> (N, A·B·C) in facenet's flatten order (index (a·B + b)·C + c).
Tensor flatten_nhwc(const Tensor& x) { return contiguous(permute(x, {0, 2, 3, 1})).reshape({x.size(0), -1}); }
// The face probability: the softmax op over the two class logits (last axis), channel 1. In double: near 1 the
// float32 grid (6e-8) would tie candidates that NMS must order. logits (..., 2) -> (...), f64.
Tensor face_probs(const Tensor& logits) {
    Tensor p = softmax(logits.to(DType::f64));
    return p.slice(p.dim() - 1, 1, 2).contiguous().reshape(Shape(p.shape().begin(), p.shape().end() - 1));
}
void check_input(const Tensor& x, const char* net, int64_t side) {
    FS_CHECK(x.dim() == 4 && x.size(1) == 3, "mtcnn ", net, ": input must be (N, 3, X, Y), got ", x.str());
    FS_CHECK(x.dtype() == DType::f32, "mtcnn ", net, ": input must be f32, got ", x.str());
    if (side > 0)
        FS_CHECK(x.size(2) == side && x.size(3) == side, "mtcnn ", net, ": input must be (N, 3, ", side, ", ", side,
                 "), got ", x.str());
    else
        FS_CHECK(x.size(2) >= 12 && x.size(3) >= 12, "mtcnn ", net, ": input must be at least 12x12, got ", x.str());
}

}  // namespace

PnetOut Mtcnn::pnet(const Tensor& x) const {
    check_input(x, "P-Net", 0);
    NoGradGuard ng;
    Tensor h = pool_same(conv_prelu(x, m_p1), 2, 2);
    h = conv_prelu(conv_prelu(h, m_p2), m_p3);
    PnetOut out;
    out.prob = face_probs(permute(conv_prelu(h, m_p41), {0, 2, 3, 1}));  // (N, 2, X', Y') -> (N, X', Y', 2)
    out.reg = conv_prelu(h, m_p42).contiguous();
    return out;
}

RnetOut Mtcnn::rnet(const Tensor& x) const {
    check_input(x, "R-Net", 24);
    NoGradGuard ng;
    Tensor h = pool_same(conv_prelu(x, m_r1), 3, 2);
    h = pool_valid(conv_prelu(h, m_r2), 3, 2);
    h = dense_prelu(flatten_nhwc(conv_prelu(h, m_r3)), m_r4);
    RnetOut out;
    out.prob = face_probs(dense_prelu(h, m_r51));
    out.reg = dense_prelu(h, m_r52).contiguous();
    return out;
}

OnetOut Mtcnn::onet(const Tensor& x) const {
    check_input(x, "O-Net", 48);
    NoGradGuard ng;
    Tensor h = pool_same(conv_prelu(x, m_o1), 3, 2);
    h = pool_valid(conv_prelu(h, m_o2), 3, 2);
    h = pool_same(conv_prelu(h, m_o3), 2, 2);
    h = dense_prelu(flatten_nhwc(conv_prelu(h, m_o4)), m_o5);
    OnetOut out;
    out.prob = face_probs(dense_prelu(h, m_o61));
    out.reg = dense_prelu(h, m_o62).contiguous();
    out.landmarks = dense_prelu(h, m_o63).contiguous();
    return out;
}

// --- the cascade (facenet detect_face) ------------------------------------------------------------------------

namespace {

// A candidate in facenet's 1-based box convention.
struct Cand {
    double x1, y1, x2, y2, score;
    double reg[4] = {0, 0, 0, 0};
    double pts[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
};

// facenet nms(): repeatedly keep the highest score and drop boxes overlapping it by more than `thr` (union or
// min of the two areas, with MATLAB's +1 areas). Returns kept indices, best first.
std::vector<size_t> nms(const std::vector<Cand>& b, double thr, bool min_mode) {
    std::vector<size_t> order(b.size());
    std::iota(order.begin(), order.end(), size_t(0));
    // np.argsort ascending then take from the end: the best first; ties keep the later index first.
    std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return b[i].score < b[j].score; });
    std::vector<size_t> pick;
    std::vector<char> dead(b.size(), 0);
    for (size_t oi = order.size(); oi-- > 0;) {
        size_t i = order[oi];
        if (dead[i]) continue;
        pick.push_back(i);
        double ai = (b[i].x2 - b[i].x1 + 1) * (b[i].y2 - b[i].y1 + 1);
        for (size_t oj = 0; oj < oi; ++oj) {
            size_t j = order[oj];
            if (dead[j]) continue;
            double w = std::max(0.0, std::min(b[i].x2, b[j].x2) - std::max(b[i].x1, b[j].x1) + 1);
            double h = std::max(0.0, std::min(b[i].y2, b[j].y2) - std::max(b[i].y1, b[j].y1) + 1);
            double inter = w * h;
            double aj = (b[j].x2 - b[j].x1 + 1) * (b[j].y2 - b[j].y1 + 1);
            double o = min_mode ? inter / std::min(ai, aj) : inter / (ai + aj - inter);
            if (o > thr) dead[j] = 1;
        }
    }
    return pick;
}

std::vector<Cand> take(const std::vector<Cand>& b, const std::vector<size_t>& idx) {
    std::vector<Cand> out;
    out.reserve(idx.size());
    for (size_t i : idx) out.push_back(b[i]);
    return out;
}

// facenet rerec(): square the box on its longer side about its centre.
void rerec(Cand& c) {
    double h = c.y2 - c.y1, w = c.x2 - c.x1, l = std::max(w, h);
    c.x1 = c.x1 + w * 0.5 - l * 0.5;
    c.y1 = c.y1 + h * 0.5 - l * 0.5;
    c.x2 = c.x1 + l;
    c.y2 = c.y1 + l;
}
// facenet bbreg(): apply the regression as fractions of the (+1) box size.
void bbreg(Cand& c) {
    double w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1;
    double x1 = c.x1 + c.reg[0] * w, y1 = c.y1 + c.reg[1] * h, x2 = c.x2 + c.reg[2] * w, y2 = c.y2 + c.reg[3] * h;
    c.x1 = x1, c.y1 = y1, c.x2 = x2, c.y2 = y2;
}
void fix_box(Cand& c) {
    c.x1 = std::trunc(c.x1), c.y1 = std::trunc(c.y1), c.x2 = std::trunc(c.x2), c.y2 = std::trunc(c.y2);
}

// facenet pad() + the crop loop: the box's pixels (1-based inclusive, integer) with zeros outside the image,
// resized with INTER_AREA to side×side, normalised and written transposed into dst (3, side, side) = [c][x][y].
// Returns false when the box is empty.
bool crop_resample(const ImageF& img, const Cand& c, int side, MtcnnResize rz, float* dst) {
    int x1 = int(c.x1), y1 = int(c.y1), x2 = int(c.x2), y2 = int(c.y2);
    int tw = x2 - x1 + 1, th = y2 - y1 + 1;
    if (tw < 1 || th < 1) return false;
    ImageF tmp(th, tw, 3, 0.f);
    int r0 = std::max(0, 1 - y1), r1 = std::min(th, img.h + 1 - y1);  // rows with y1 − 1 + r inside the image
    int q0 = std::max(0, 1 - x1), q1 = std::min(tw, img.w + 1 - x1);
    for (int r = r0; r < r1; ++r)
        if (q1 > q0)
            std::memcpy(&tmp.at(r, q0, 0), &img.px[(size_t(y1 - 1 + r) * size_t(img.w) + size_t(x1 - 1 + q0)) * 3],
                        size_t(q1 - q0) * 3 * sizeof(float));
    ImageF rs = rz == MtcnnResize::box ? resize_box(tmp, side, side) : resize_area(tmp, side, side, false);
    for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x)
            for (int ch = 0; ch < 3; ++ch)
                dst[(size_t(ch) * side + size_t(x)) * side + size_t(y)] = (rs.at(y, x, ch) - 127.5f) * 0.0078125f;
    return true;
}

// Crops every candidate (in parallel) into one (N, 3, side, side) batch; drops empty boxes from `cands`.
Tensor crop_batch(const ImageF& img, std::vector<Cand>& cands, int side, MtcnnResize rz) {
    std::vector<Cand> keep;
    for (const Cand& c : cands)
        if (int(c.x2) >= int(c.x1) && int(c.y2) >= int(c.y1)) keep.push_back(c);
    cands.swap(keep);
    Tensor batch = Tensor::empty({int64_t(cands.size()), 3, side, side});
    float* d = batch.data<float>();
    const size_t per = size_t(3) * size_t(side) * size_t(side);
    parallel_for(int64_t(cands.size()), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) crop_resample(img, cands[size_t(i)], side, rz, d + size_t(i) * per);
    });
    return batch;
}

// The image as float RGB (grey replicated); the channel order is the file's (RGB), as MTCNN expects.
ImageF to_rgb_f(const Image& img) {
    FS_CHECK(img.width > 0 && img.height > 0, "mtcnn: empty image");
    FS_CHECK(img.channels == 1 || img.channels == 3 || img.channels == 4, "mtcnn: unsupported channel count ",
             img.channels);
    ImageF f(img.height, img.width, 3);
    for (size_t i = 0, n = size_t(img.width) * size_t(img.height); i < n; ++i)
        for (int c = 0; c < 3; ++c)
            f.px[i * 3 + size_t(c)] = img.pixels[i * size_t(img.channels) + size_t(img.channels == 1 ? 0 : c)];
    return f;
}

}  // namespace

std::vector<FaceDetection> Mtcnn::detect(const Image& image, const MtcnnOptions& opt) const {
    opt.validate();
    const ImageF img = to_rgb_f(image);
    const int h = img.h, w = img.w;

    // Scale pyramid.
    std::vector<double> scales;
    double m = 12.0 / opt.min_size, minl = std::min(h, w) * m;
    for (int k = 0; minl >= 12; ++k, minl *= opt.factor) scales.push_back(m * std::pow(opt.factor, k));

    // Stage 1: P-Net on every scale.
    std::vector<Cand> total;
    for (double scale : scales) {
        int hs = int(std::ceil(h * scale)), ws = int(std::ceil(w * scale));
        // facenet resamples the 8-bit image with OpenCV, so its pyramid is rounded to 8 bits; the reference
        // resamples in float.
        ImageF rs = opt.resize == MtcnnResize::box ? resize_box(img, hs, ws) : resize_area(img, hs, ws, true);
        Tensor x = Tensor::empty({1, 3, ws, hs});
        float* xd = x.data<float>();
        for (int y = 0; y < hs; ++y)
            for (int xx = 0; xx < ws; ++xx)
                for (int c = 0; c < 3; ++c)
                    xd[(size_t(c) * ws + size_t(xx)) * hs + size_t(y)] = (rs.at(y, xx, c) - 127.5f) * 0.0078125f;
        PnetOut o = pnet(x);
        const int64_t X = o.prob.size(1), Y = o.prob.size(2);
        const double* p = o.prob.data<double>();
        const float* rg = o.reg.data<float>();
        std::vector<Cand> boxes;
        for (int64_t ix = 0; ix < X; ++ix)  // generateBoundingBox: np.where over the (x, y) map
            for (int64_t iy = 0; iy < Y; ++iy) {
                double s = p[ix * Y + iy];
                if (s < opt.thresholds[0]) continue;
                Cand c{};
                c.x1 = std::trunc((2.0 * ix + 1) / scale);
                c.y1 = std::trunc((2.0 * iy + 1) / scale);
                c.x2 = std::trunc((2.0 * ix + 12) / scale);
                c.y2 = std::trunc((2.0 * iy + 12) / scale);
                c.score = s;
                for (int k = 0; k < 4; ++k) c.reg[k] = rg[(k * X + ix) * Y + iy];
                boxes.push_back(c);
            }
        std::vector<Cand> kept = take(boxes, nms(boxes, 0.5, false));
        total.insert(total.end(), kept.begin(), kept.end());
    }
    if (total.empty()) return {};
    total = take(total, nms(total, 0.7, false));
    for (Cand& c : total) {
        double rw = c.x2 - c.x1, rh = c.y2 - c.y1;  // no +1 here, as facenet
        double x1 = c.x1 + c.reg[0] * rw, y1 = c.y1 + c.reg[1] * rh;
        double x2 = c.x2 + c.reg[2] * rw, y2 = c.y2 + c.reg[3] * rh;
        c.x1 = x1, c.y1 = y1, c.x2 = x2, c.y2 = y2;
        rerec(c);
        fix_box(c);
    }

    // Stage 2: R-Net on 24×24 crops.
    {
        Tensor batch = crop_batch(img, total, 24, opt.resize);
        if (total.empty()) return {};
        RnetOut o = rnet(batch);
        std::vector<Cand> pass;
        for (size_t i = 0; i < total.size(); ++i) {
            double s = o.prob.data<double>()[i];
            if (!(s > opt.thresholds[1])) continue;
            Cand c = total[i];
            c.score = s;
            for (int k = 0; k < 4; ++k) c.reg[k] = o.reg.data<float>()[i * 4 + size_t(k)];
            pass.push_back(c);
        }
        if (pass.empty()) return {};
        total = take(pass, nms(pass, 0.7, false));
        for (Cand& c : total) {
            bbreg(c);
            rerec(c);
        }
    }

    // Stage 3: O-Net on 48×48 crops.
    for (Cand& c : total) fix_box(c);
    Tensor batch = crop_batch(img, total, 48, opt.resize);
    if (total.empty()) return {};
    OnetOut o = onet(batch);
    std::vector<Cand> pass;
    for (size_t i = 0; i < total.size(); ++i) {
        double s = o.prob.data<double>()[i];
        if (!(s > opt.thresholds[2])) continue;
        Cand c = total[i];
        c.score = s;
        for (int k = 0; k < 4; ++k) c.reg[k] = o.reg.data<float>()[i * 4 + size_t(k)];
        double bw = c.x2 - c.x1 + 1, bh = c.y2 - c.y1 + 1;
        for (int k = 0; k < 5; ++k) {
            c.pts[k] = bw * o.landmarks.data<float>()[i * 10 + size_t(k)] + c.x1 - 1;
            c.pts[5 + k] = bh * o.landmarks.data<float>()[i * 10 + 5 + size_t(k)] + c.y1 - 1;
        }
        bbreg(c);
        pass.push_back(c);
    }
    std::vector<Cand> fin = take(pass, nms(pass, 0.7, true));

    std::vector<FaceDetection> out;
    for (const Cand& c : fin) {
        FaceDetection d;
        d.x1 = c.x1 - 1, d.y1 = c.y1 - 1, d.x2 = c.x2 - 1, d.y2 = c.y2 - 1;
        d.score = c.score;
        for (int k = 0; k < 5; ++k) d.points[size_t(k)] = {c.pts[k] - 1, c.pts[5 + k] - 1};
        out.push_back(d);
    }
    return out;
}

}  // namespace fs
