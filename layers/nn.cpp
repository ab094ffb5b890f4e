// nn.cpp: the faceswap-GAN layers as compositions of registered ops.
#include "layers/nn.h"

#include <cmath>

namespace fs {

// --- Conv2d ------------------------------------------------------------------------------------------------------

Conv2d::Conv2d(int64_t cin, int64_t cout, const ConvOptions& o, std::mt19937_64& rng) : m_o(o) {
    FS_CHECK(cin > 0 && cout > 0 && o.k > 0 && o.stride > 0, "Conv2d: bad sizes cin=", cin, " cout=", cout, " k=", o.k,
             " stride=", o.stride);
    Shape ws{cout, cin, o.k, o.k};
    const int64_t fan_in = cin * o.k * o.k, fan_out = cout * o.k * o.k;
    Tensor w;
    switch (o.init) {
        case Init::he_normal: w = he_normal(ws, fan_in, rng); break;
        case Init::glorot_uniform: w = glorot_uniform(ws, fan_in, fan_out, rng); break;
        case Init::icnr: {
            // ICNR (icnr_initializer.py): a base kernel N(0, 0.02) for cout/4 channels, copied to the 4 sub-pixel
            // positions so that, with the DCR shuffle (channel (i·2+j)·f + k), every 2×2 output block starts equal:
            // the layer begins as nearest-neighbour upsampling of one conv.
            FS_CHECK(cout % 4 == 0, "Conv2d: ICNR needs cout divisible by 4, got ", cout);
            int64_t f = cout / 4;
            Tensor base = SkipInitGuard::active() ? Tensor::zeros({f, cin, o.k, o.k})
                                                  : Tensor::normal({f, cin, o.k, o.k}, 0.0, 0.02, rng);
            w = Tensor::empty(ws);
            for (int64_t s = 0; s < 4; ++s) w.slice(0, s * f, (s + 1) * f).copy_from(base);
            break;
        }
    }
    weight = register_parameter("weight", w, o.l2);
    if (o.bias) bias = register_parameter("bias", Tensor::zeros({cout}));
}

Tensor Conv2d::forward(const Tensor& x) const {
    check_rank(x, 4, "Conv2d", "input");
    Conv2dParams p;
    switch (m_o.padding) {
        case Padding::same: p = Conv2dParams::tf_same(m_o.k, m_o.k, m_o.stride, x.size(2), x.size(3)); break;
        case Padding::valid: p = Conv2dParams::valid(m_o.stride); break;
        case Padding::reflect1:
            p = Conv2dParams::valid(m_o.stride);
            p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
            p.pad_mode = PadMode::reflect;
            break;
    }
    return conv2d(x, weight, bias, p);
}

// --- Dense -------------------------------------------------------------------------------------------------------

Dense::Dense(int64_t in, int64_t out, std::mt19937_64& rng) {
    weight = register_parameter("weight", glorot_uniform({out, in}, in, out, rng));
    bias = register_parameter("bias", Tensor::zeros({out}));
}

Tensor Dense::forward(const Tensor& x) const { return dense(x, weight, bias); }

// --- Norm --------------------------------------------------------------------------------------------------------

NormKind parse_norm(const std::string& s) {
    if (s == "instancenorm") return NormKind::instancenorm;
    if (s == "layernorm") return NormKind::layernorm;
    if (s == "groupnorm") return NormKind::groupnorm;
    if (s == "batchnorm") return NormKind::batchnorm;
    if (s == "hybrid") return NormKind::hybrid;
    if (s == "none") return NormKind::none;
    FS_FAIL("unknown norm '", s, "' (instancenorm, layernorm, groupnorm, batchnorm, hybrid or none)");
}

const char* norm_name(NormKind k) {
    switch (k) {
        case NormKind::instancenorm: return "instancenorm";
        case NormKind::layernorm: return "layernorm";
        case NormKind::groupnorm: return "groupnorm";
        case NormKind::batchnorm: return "batchnorm";
        case NormKind::hybrid: return "hybrid";
        case NormKind::none: return "none";
    }
    return "?";
}

Norm::Norm(NormKind kind, int64_t f, int64_t channels, std::mt19937_64& rng)
    : m_kind(kind), m_f(f), m_channels(channels) {
    switch (kind) {
        case NormKind::none: break;
        case NormKind::instancenorm:
            m_gamma = register_parameter("gamma", Tensor::full({1}, 1.0));
            m_beta = register_parameter("beta", Tensor::zeros({1}));
            break;
        case NormKind::layernorm:
        case NormKind::groupnorm:
            FS_CHECK(channels % (kind == NormKind::layernorm ? f : 16) == 0, "Norm: ", channels,
                     " channels do not split into ", kind == NormKind::layernorm ? f : 16, " groups");
            m_gamma = register_parameter("gamma", Tensor::full({channels}, 1.0));
            m_beta = register_parameter("beta", Tensor::zeros({channels}));
            break;
        case NormKind::batchnorm:
            m_gamma = register_parameter("gamma", Tensor::full({channels}, 1.0));
            m_beta = register_parameter("beta", Tensor::zeros({channels}));
            m_mean = register_buffer("moving_mean", Tensor::zeros({channels}));
            m_var = register_buffer("moving_variance", Tensor::full({channels}, 1.0));
            break;
        case NormKind::hybrid:
            // The first f/2 channels go through a 1×1 conv (he_normal, bias, L2), the rest through the scalar-affine
            // instancenorm; the halves are concatenated (Colab demo's "hybrid").
            FS_CHECK(f >= 2 && channels > f / 2, "Norm: hybrid needs f >= 2 and more than f/2 channels");
            m_hybrid_conv = register_module("conv", std::make_shared<Conv2d>(f / 2, f / 2,
                                                                             ConvOptions{1, 1, true, Init::he_normal,
                                                                                         true, Padding::same},
                                                                             rng));
            m_gamma = register_parameter("gamma", Tensor::full({1}, 1.0));
            m_beta = register_parameter("beta", Tensor::zeros({1}));
            break;
    }
}

Tensor Norm::forward_after_leaky(const Tensor& x, double slope) const {
    if (m_kind != NormKind::instancenorm) return forward(leaky_relu(x, slope));
    FS_CHECK(x.dim() == 4 && x.size(1) == m_channels, "Norm(", norm_name(m_kind), "): expects (N, ", m_channels,
             ", H, W), got ", x.str());
    InstanceNormParams p;
    p.pre_leaky = true;
    p.slope = slope;
    return instance_norm(x, m_gamma, m_beta, p);
}

Tensor Norm::forward(const Tensor& x) const {
    FS_CHECK(x.dim() == 4 && x.size(1) == m_channels, "Norm(", norm_name(m_kind), "): expects (N, ", m_channels,
             ", H, W), got ", x.str());
    switch (m_kind) {
        case NormKind::none: return x;
        case NormKind::instancenorm: return instance_norm(x, m_gamma, m_beta);
        case NormKind::layernorm: return group_norm(x, m_gamma, m_beta, GroupNormParams{int(m_f), 1e-6});
        case NormKind::groupnorm: return group_norm(x, m_gamma, m_beta, GroupNormParams{16, 1e-6});
        case NormKind::batchnorm: {
            const double eps = 1e-3, momentum = 0.99;  // Keras BatchNormalization defaults
            if (!training) return batch_norm(x, m_gamma, m_beta, m_mean, m_var, BatchNormParams{eps});
            // Training: batch statistics over (N, H, W), then the moving averages move toward them.
            Tensor mu = mean(x, ReduceParams{{0, 2, 3}, true});
            Tensor d = sub(x, mu);
            Tensor var = mean(square(d), ReduceParams{{0, 2, 3}, true});
            Tensor inv = exp(scale(log(scale(var, 1.0, eps)), -0.5));  // 1/sqrt(var + eps) from existing ops
            Tensor y = add(mul(mul(d, inv), reshape(m_gamma, {1, m_channels, 1, 1})),
                           reshape(m_beta, {1, m_channels, 1, 1}));
            {
                NoGradGuard ng;
                // Keras keeps the unbiased variance: var · n/(n−1).
                double n = double(x.size(0) * x.size(2) * x.size(3)), unbias = n > 1 ? n / (n - 1) : 1.0;
                std::vector<double> mv = mu.to_vector(), vv = var.to_vector();
                Tensor mm = m_mean, mvv = m_var;
                dispatch_float(mm.dtype(), "batchnorm moving stats", [&](auto tag) {
                    using T = decltype(tag);
                    T *pm = mm.data<T>(), *pv = mvv.data<T>();
                    for (int64_t c = 0; c < m_channels; ++c) {
                        pm[c] = T(momentum * double(pm[c]) + (1 - momentum) * mv[size_t(c)]);
                        pv[c] = T(momentum * double(pv[c]) + (1 - momentum) * vv[size_t(c)] * unbias);
                    }
                });
            }
            return y;
        }
        case NormKind::hybrid: {
            int64_t h = m_f / 2;
            Tensor a = m_hybrid_conv->forward(slice(x, 1, 0, h));
            Tensor b = instance_norm(slice(x, 1, h, m_channels), m_gamma, m_beta);
            return concat({a, b}, ConcatParams{1});
        }
    }
    return x;
}

// --- SelfAttention -------------------------------------------------------------------------------------------------

SelfAttention::SelfAttention(int64_t channels, std::mt19937_64& rng) {
    FS_CHECK(channels >= 8, "SelfAttention: needs C >= 8 (C/8 query/key channels), got ", channels);
    ConvOptions o{1, 1, true, Init::glorot_uniform, true, Padding::same};
    m_f = register_module("f", std::make_shared<Conv2d>(channels, channels / 8, o, rng));
    m_g = register_module("g", std::make_shared<Conv2d>(channels, channels / 8, o, rng));
    m_h = register_module("h", std::make_shared<Conv2d>(channels, channels, o, rng));
    gamma = register_parameter("gamma", Tensor::zeros({1}));
}

Tensor SelfAttention::forward(const Tensor& x) const {
    check_rank(x, 4, "SelfAttention", "input");
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), P = H * W;
    // (N, c, H, W) -> (N, H·W, c): one row per position.
    auto tokens = [&](const Tensor& t) { return permute(reshape(t, {N, t.size(1), P}), {0, 2, 1}); };
    Tensor q = tokens(m_g->forward(x)), k = tokens(m_f->forward(x)), v = tokens(m_h->forward(x));
    Tensor o = attention(q, k, v);  // S = g fᵀ, softmax over key positions j, o = softmax(S) h
    o = reshape(permute(o, {0, 2, 1}), {N, C, H, W});
    return add(x, mul(o, gamma));
}

// --- blocks --------------------------------------------------------------------------------------------------------

ConvBlock::ConvBlock(int64_t cin, int64_t f, int stride, NormKind norm, bool use_norm, std::mt19937_64& rng) {
    m_conv = register_module("conv", std::make_shared<Conv2d>(cin, f, ConvOptions{3, stride, false, Init::he_normal,
                                                                                  true, Padding::same},
                                                             rng));
    if (use_norm && norm != NormKind::none) m_norm = register_module("norm", std::make_shared<Norm>(norm, f, f, rng));
}
Tensor ConvBlock::forward(const Tensor& x) const {
    Tensor y = relu(m_conv->forward(x));
    return m_norm ? m_norm->forward(y) : y;
}

ConvBlockD::ConvBlockD(int64_t cin, int64_t f, NormKind norm, bool use_norm, std::mt19937_64& rng) {
    m_conv = register_module("conv", std::make_shared<Conv2d>(cin, f, ConvOptions{4, 2, false, Init::he_normal, true,
                                                                                  Padding::same},
                                                             rng));
    if (use_norm && norm != NormKind::none) m_norm = register_module("norm", std::make_shared<Norm>(norm, f, f, rng));
}
Tensor ConvBlockD::forward(const Tensor& x) const {
    Tensor y = m_conv->forward(x);
    return m_norm ? m_norm->forward_after_leaky(y, 0.2) : leaky_relu(y, 0.2);
}

ResBlock::ResBlock(int64_t f, std::mt19937_64& rng) {
    ConvOptions o{3, 1, false, Init::he_normal, true, Padding::same};
    m_c1 = register_module("conv1", std::make_shared<Conv2d>(f, f, o, rng));
    m_c2 = register_module("conv2", std::make_shared<Conv2d>(f, f, o, rng));
}
Tensor ResBlock::forward(const Tensor& x) const {
    Tensor y = m_c2->forward(leaky_relu(m_c1->forward(x), 0.2));
    return leaky_relu(add(y, x), 0.2);
}

UpscalePS::UpscalePS(int64_t cin, int64_t f, NormKind norm, bool use_norm, std::mt19937_64& rng) {
    m_conv = register_module("conv", std::make_shared<Conv2d>(cin, 4 * f, ConvOptions{3, 1, true, Init::icnr, true,
                                                                                      Padding::same},
                                                             rng));
    if (use_norm && norm != NormKind::none)
        m_norm = register_module("norm", std::make_shared<Norm>(norm, f, 4 * f, rng));
}
Tensor UpscalePS::forward(const Tensor& x) const {
    Tensor y = m_conv->forward(x);
    y = m_norm ? m_norm->forward_after_leaky(y, 0.2) : leaky_relu(y, 0.2);
    return pixel_shuffle(y, PixelShuffleParams{2, PixelShuffleOrder::dcr});
}

UpscaleNN::UpscaleNN(int64_t cin, int64_t f, NormKind norm, bool use_norm, std::mt19937_64& rng) {
    m_conv = register_module("conv", std::make_shared<Conv2d>(cin, f, ConvOptions{3, 1, true, Init::he_normal, true,
                                                                                  Padding::reflect1},
                                                             rng));
    if (use_norm && norm != NormKind::none) m_norm = register_module("norm", std::make_shared<Norm>(norm, f, f, rng));
}
Tensor UpscaleNN::forward(const Tensor& x) const {
    Tensor y = m_conv->forward(upsample_nearest(x, UpsampleParams{2}));
    return m_norm ? m_norm->forward(y) : y;
}

}  // namespace fs
