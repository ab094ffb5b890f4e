// model.cpp: the encoder, decoder and discriminator of spec §2–§3 from the layers of layers/nn.h.
#include "faceswap/model.h"

#include <sstream>

namespace fs {

void ModelConfig::validate() const {
    FS_CHECK(res == 64 || res == 128 || res == 256, "model: resolution must be 64, 128 or 256, got ", res);
}

std::string ModelConfig::str() const {
    std::ostringstream os;
    os << (capacity == Capacity::lite ? "lite " : "standard ") << res << ", "
       << (self_attention ? "self-attention" : "no self-attention") << ", " << norm_name(norm);
    return os.str();
}

namespace {

// Runs a layer list in order.
Tensor run_seq(const std::vector<std::shared_ptr<Layer>>& seq, Tensor x) {
    for (const auto& m : seq) x = m->forward(x);
    return x;
}

std::shared_ptr<Layer> make_upscale(const ModelConfig& cfg, int64_t cin, int64_t f, std::mt19937_64& rng) {
    bool use_norm = cfg.norm != NormKind::none;
    if (cfg.capacity == Capacity::lite) return std::make_shared<UpscaleNN>(cin, f, cfg.norm, use_norm, rng);
    return std::make_shared<UpscalePS>(cin, f, cfg.norm, use_norm, rng);
}

}  // namespace

// --- encoder -------------------------------------------------------------------------------------------------------

Encoder::Encoder(const ModelConfig& cfg, std::mt19937_64& rng) : m_cfg(cfg) {
    cfg.validate();
    const int c = cfg.coef();
    const bool use_norm = cfg.norm != NormKind::none;
    int idx = 0;
    auto add = [&](std::shared_ptr<Layer> m) {
        m_down.push_back(register_module("down" + std::to_string(idx++), m));
    };
    m_conv1 = register_module("conv1", std::make_shared<Conv2d>(3, 64 / c, ConvOptions{5, 1, false, Init::glorot_uniform,
                                                                                        false, Padding::same},
                                                               rng));
    add(std::make_shared<ConvBlock>(64 / c, 128 / c, 2, cfg.norm, false, rng));  // no norm on the first block
    add(std::make_shared<ConvBlock>(128 / c, 256 / c, 2, cfg.norm, use_norm, rng));
    if (cfg.self_attention) add(std::make_shared<SelfAttention>(256 / c, rng));
    add(std::make_shared<ConvBlock>(256 / c, 512 / c, 2, cfg.norm, use_norm, rng));
    if (cfg.self_attention) add(std::make_shared<SelfAttention>(512 / c, rng));
    m_tail_c = 1024 / (c * c);
    add(std::make_shared<ConvBlock>(512 / c, m_tail_c, 2, cfg.norm, use_norm, rng));
    for (int size = cfg.res / 16; size > 4; size /= 2)  // extra stride-2 blocks until the map is 4×4
        add(std::make_shared<ConvBlock>(m_tail_c, m_tail_c, 2, cfg.norm, use_norm, rng));
    m_dense1 = register_module("dense1", std::make_shared<Dense>(4 * 4 * m_tail_c, cfg.latent(), rng));
    m_dense2 = register_module("dense2", std::make_shared<Dense>(cfg.latent(), 4 * 4 * m_tail_c, rng));
    m_up = register_module("up", make_upscale(cfg, m_tail_c, 512 / c, rng));
}

Tensor Encoder::forward(const Tensor& x) const {
    FS_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == m_cfg.res && x.size(3) == m_cfg.res,
             "encoder: expects (N, 3, ", m_cfg.res, ", ", m_cfg.res, "), got ", x.str());
    const int64_t N = x.size(0);
    Tensor h = run_seq(m_down, m_conv1->forward(x));
    // Keras flattens NHWC: permute to (N, 4, 4, C) first so the Dense weights keep the original's order.
    h = reshape(permute(h, {0, 2, 3, 1}), {N, 4 * 4 * m_tail_c});
    h = m_dense2->forward(m_dense1->forward(h));
    h = permute(reshape(h, {N, 4, 4, m_tail_c}), {0, 3, 1, 2});
    return m_up->forward(h);
}

// --- decoder -------------------------------------------------------------------------------------------------------

Decoder::Decoder(const ModelConfig& cfg, std::mt19937_64& rng) : m_cfg(cfg) {
    cfg.validate();
    const int c = cfg.coef();
    int idx = 0;
    auto add = [&](std::shared_ptr<Layer> m) { m_body.push_back(register_module("body" + std::to_string(idx++), m)); };
    add(make_upscale(cfg, cfg.enc_channels(), 256 / c, rng));
    add(make_upscale(cfg, 256 / c, 128 / c, rng));
    if (cfg.self_attention) add(std::make_shared<SelfAttention>(128 / c, rng));
    add(make_upscale(cfg, 128 / c, 64 / c, rng));
    add(std::make_shared<ResBlock>(64 / c, rng));
    if (cfg.self_attention) add(std::make_shared<SelfAttention>(64 / c, rng));
    else add(std::make_shared<ConvBlock>(64 / c, 64 / c, 1, cfg.norm, false, rng));
    ConvOptions head{5, 1, true, Init::glorot_uniform, false, Padding::same};
    int s = 0;
    for (int size = 64; size < cfg.res; size *= 2, ++s) {
        std::string n = std::to_string(size);
        m_aux_heads.push_back(register_module("aux_head" + n, std::make_shared<Conv2d>(64 / c, 3, head, rng)));
        std::vector<std::shared_ptr<Layer>> stage;
        stage.push_back(register_module("aux_up" + n, make_upscale(cfg, 64 / c, 64 / c, rng)));
        stage.push_back(register_module("aux_block" + n,
                                        std::make_shared<ConvBlock>(64 / c, 64 / c, 1, cfg.norm, false, rng)));
        m_aux_stages.push_back(stage);
    }
    m_alpha = register_module("alpha_head", std::make_shared<Conv2d>(64 / c, 1, head, rng));
    m_bgr = register_module("bgr_head", std::make_shared<Conv2d>(64 / c, 3, head, rng));
}

DecoderOut Decoder::forward(const Tensor& z) const {
    FS_CHECK(z.dim() == 4 && z.size(1) == m_cfg.enc_channels() && z.size(2) == 8 && z.size(3) == 8,
             "decoder: expects (N, ", m_cfg.enc_channels(), ", 8, 8), got ", z.str());
    DecoderOut out;
    Tensor h = run_seq(m_body, z);
    for (size_t i = 0; i < m_aux_heads.size(); ++i) {
        out.aux.push_back(tanh(m_aux_heads[i]->forward(h)));
        h = run_seq(m_aux_stages[i], h);
    }
    out.alpha = sigmoid(m_alpha->forward(h));
    out.bgr = tanh(m_bgr->forward(h));
    return out;
}

// --- discriminator -------------------------------------------------------------------------------------------------

Discriminator::Discriminator(const ModelConfig& cfg, std::mt19937_64& rng) {
    cfg.validate();
    const bool use_norm = cfg.norm != NormKind::none;
    int idx = 0;
    auto add = [&](std::shared_ptr<Layer> m) { m_body.push_back(register_module("body" + std::to_string(idx++), m)); };
    add(std::make_shared<ConvBlockD>(6, 64, cfg.norm, false, rng));
    add(std::make_shared<ConvBlockD>(64, 128, cfg.norm, use_norm, rng));
    add(std::make_shared<ConvBlockD>(128, 256, cfg.norm, use_norm, rng));
    if (cfg.self_attention) add(std::make_shared<SelfAttention>(256, rng));
    for (int size = cfg.res / 8; size > 8; size /= 2) {
        add(std::make_shared<ConvBlockD>(256, 256, cfg.norm, use_norm, rng));
        if (cfg.self_attention) add(std::make_shared<SelfAttention>(256, rng));
    }
    m_head = register_module("head", std::make_shared<Conv2d>(256, 1, ConvOptions{4, 1, false, Init::glorot_uniform,
                                                                                  false, Padding::same},
                                                             rng));
}

Tensor Discriminator::forward(const Tensor& x) const {
    FS_CHECK(x.dim() == 4 && x.size(1) == 6, "discriminator: expects (N, 6, RES, RES), got ", x.str());
    return m_head->forward(run_seq(m_body, x));
}

// --- the whole model -----------------------------------------------------------------------------------------------

FaceSwapModel::FaceSwapModel(const ModelConfig& c) : cfg(c) {
    cfg.validate();
    // One stream per network, derived from the seed, so adding a network never changes another's init.
    std::mt19937_64 r_enc(cfg.seed * 5 + 1), r_da(cfg.seed * 5 + 2), r_db(cfg.seed * 5 + 3), r_xa(cfg.seed * 5 + 4),
        r_xb(cfg.seed * 5 + 5);
    encoder = std::make_shared<Encoder>(cfg, r_enc);
    decoder_a = std::make_shared<Decoder>(cfg, r_da);
    decoder_b = std::make_shared<Decoder>(cfg, r_db);
    disc_a = std::make_shared<Discriminator>(cfg, r_xa);
    disc_b = std::make_shared<Discriminator>(cfg, r_xb);
}

NamedTensors FaceSwapModel::named_tensors() const {
    NamedTensors out;
    auto add = [&](const std::string& prefix, const Module& m) {
        for (auto& p : m.named_parameters()) out.emplace_back(prefix + p.first, p.second);
        for (auto& p : m.named_buffers()) out.emplace_back(prefix + p.first, p.second);
    };
    add("encoder.", *encoder);
    add("decoder_a.", *decoder_a);
    add("decoder_b.", *decoder_b);
    add("disc_a.", *disc_a);
    add("disc_b.", *disc_b);
    return out;
}

void FaceSwapModel::swap_decoders() {
    NoGradGuard ng;
    NamedTensors a = decoder_a->named_parameters(), b = decoder_b->named_parameters();
    NamedTensors ab = decoder_a->named_buffers(), bb = decoder_b->named_buffers();
    a.insert(a.end(), ab.begin(), ab.end());
    b.insert(b.end(), bb.begin(), bb.end());
    FS_CHECK(a.size() == b.size(), "swap_decoders: decoders differ in structure");
    for (size_t i = 0; i < a.size(); ++i) {
        Tensor tmp = a[i].second.clone();
        a[i].second.copy_from(b[i].second);
        b[i].second.copy_from(tmp);
    }
}

Tensor composite(const Tensor& alpha, const Tensor& bgr, const Tensor& input) {
    // α·bgr + (1 − α)·x = x + α·(bgr − x): one fewer op than the literal form.
    return add(input, mul(alpha, sub(bgr, input)));
}

}  // namespace fs
