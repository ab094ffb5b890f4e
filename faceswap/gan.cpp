// gan.cpp: the training iteration of spec §5.4, checkpoints and model files.
#include "faceswap/gan.h"

#include <cmath>
#include <sstream>

#include "io/safetensors.h"

namespace fs {

namespace {

NamedTensors prefixed(const std::string& p, const Module& m) {
    NamedTensors out;
    for (auto& [n, t] : m.named_parameters()) out.emplace_back(p + n, t);
    return out;
}
NamedTensors concat_named(NamedTensors a, const NamedTensors& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}
void set_trainable(const Module& m, bool on) {
    for (auto& [n, t] : m.named_parameters()) {
        Tensor h = t;
        h.set_requires_grad(on);
    }
}
void check_batch(const GanBatch& b, int res, const char* which) {
    FS_CHECK(b.warped.defined() && b.target.defined(), "train step: batch ", which, " lacks warped or target");
    FS_CHECK(b.warped.dim() == 4 && b.warped.size(1) == 3 && b.warped.size(2) == res && b.warped.size(3) == res &&
                 b.target.shape() == b.warped.shape(),
             "train step: batch ", which, " must be (N, 3, ", res, ", ", res, ") warped and target, got ",
             b.warped.str(), " and ", b.target.str());
}
void check_finite(double v, const char* what, int64_t iter) {
    FS_CHECK(std::isfinite(v), "training diverged: ", what, " is ", v, " at iteration ", iter,
             "; the weights from before this step are kept (lower the learning rate or resume from a backup)");
}

}  // namespace

GanTrainer::GanTrainer(const ModelConfig& cfg, const Schedule& schedule, const GanOptions& opt, uint64_t seed)
    : m_model(cfg),
      m_schedule(schedule),
      m_opt(opt),
      m_da(prefixed("disc_a.", *m_model.disc_a), AdamConfig{2e-4, 0.5, 0.999, 1e-7}),
      m_db(prefixed("disc_b.", *m_model.disc_b), AdamConfig{2e-4, 0.5, 0.999, 1e-7}),
      m_ga(concat_named(prefixed("encoder.", *m_model.encoder), prefixed("decoder_a.", *m_model.decoder_a)),
           AdamConfig{1e-4, 0.5, 0.999, 1e-7}),
      m_gb(concat_named(prefixed("encoder.", *m_model.encoder), prefixed("decoder_b.", *m_model.decoder_b)),
           AdamConfig{1e-4, 0.5, 0.999, 1e-7}),
      m_rng(seed) {
    FS_CHECK(!schedule.phases.empty(), "GanTrainer: the schedule has no phases");
    // The L2 terms' gradients are added by the optimisers (the losses only report the terms' values): the same
    // update, without a backward pass and a gradient accumulation over every regularised kernel.
    m_da.set_l2(m_model.disc_a->l2_parameters(), m_opt.weights.w_l2);
    m_db.set_l2(m_model.disc_b->l2_parameters(), m_opt.weights.w_l2);
    m_ga.set_l2(concat_named(m_model.encoder->l2_parameters(), m_model.decoder_a->l2_parameters()),
                m_opt.weights.w_l2);
    m_gb.set_l2(concat_named(m_model.encoder->l2_parameters(), m_model.decoder_b->l2_parameters()),
                m_opt.weights.w_l2);
    enter_phase(0);
}

void GanTrainer::enter_phase(size_t k) {
    const Phase& p = m_schedule.phases[k];
    m_da.config().lr = m_db.config().lr = 2e-4 * p.lr_factor;
    m_ga.config().lr = m_gb.config().lr = 1e-4 * p.lr_factor;
    if (k != m_phase) {
        if (!m_opt.keep_optimizer_state) {  // the original rebuilds its optimisers at every phase change
            m_da.reset();
            m_db.reset();
            m_ga.reset();
            m_gb.reset();
        }
        if (p.swap_decoders) m_model.swap_decoders();
    }
    m_phase = k;
}

StepLosses GanTrainer::step(const GanBatch& a1, const GanBatch& b1, const GanBatch& a2, const GanBatch& b2) {
    const int res = m_model.cfg.res;
    check_batch(a1, res, "A (discriminator)");
    check_batch(b1, res, "B (discriminator)");
    check_batch(a2, res, "A (generator)");
    check_batch(b2, res, "B (generator)");
    size_t k = m_schedule.phase_at(m_iter);
    if (k != m_phase) enter_phase(k);
    const Phase& ph = m_schedule.phases[m_phase];
    StepLosses out;

    // --- discriminators: G runs without recording, only D learns ---
    auto d_step = [&](const Decoder& dec, const Discriminator& D, Adam& opt, const GanBatch& b, const char* name) {
        Tensor m, raw;
        {
            NoGradGuard ng;
            DecoderOut o = dec.forward(m_model.encoder->forward(b.warped));
            m = composite(o.alpha, o.bgr, b.warped);
            raw = o.bgr;
        }
        double lambda = sample_beta(0.2, 0.2, m_rng);  // one draw per batch, shared by both terms
        Tensor l2;
        {
            NoGradGuard ng;  // its gradient is added by opt (set_l2 in the constructor)
            l2 = l2_loss(D.l2_parameters(), m_opt.weights.w_l2);
        }
        Tensor loss = add(mixup_lsgan_d_loss(D, b.target, b.warped, m, raw, lambda), l2);
        double v = loss.item();
        check_finite(v, name, m_iter);
        D.zero_grad();
        backward(loss);
        opt.step();
        return v;
    };
    if (m_opt.adversarial) {
        out.d_a = d_step(*m_model.decoder_a, *m_model.disc_a, m_da, a1, "the loss of D_A");
        out.d_b = d_step(*m_model.decoder_b, *m_model.disc_b, m_db, b1, "the loss of D_B");
    }

    // --- generators: D is frozen (no gradients computed for it) ---
    GenLossOptions go;
    go.w = m_opt.weights;
    go.mask_hinge = ph.mask_hinge;
    go.m_mask = ph.m_mask;
    go.use_pl = ph.use_pl && bool(m_opt.perceptual);
    go.adversarial = m_opt.adversarial;
    go.perceptual = m_opt.perceptual;
    go.l2_by_optimizer = true;  // m_ga / m_gb add the L2 gradients (constructor)
    auto g_step = [&](const Decoder& dec, const Discriminator& D, Adam& opt, const GanBatch& b, const char* name,
                      const Decoder* other) {
        if (go.use_pl) go.pl_lambda = sample_beta(0.2, 0.2, m_rng);
        set_trainable(D, false);
        GenLossTerms t;
        try {
            t = generator_loss(*m_model.encoder, dec, D, b.warped, b.target, b.eyes, go);
            if (m_opt.cycle_loss && other) {
                Tensor c = cycle_loss(*m_model.encoder, dec, *other, b.target, m_opt.weights);
                t.cycle = c.item();
                t.total = add(t.total, c);
            }
        } catch (...) {
            set_trainable(D, true);
            throw;
        }
        set_trainable(D, true);
        check_finite(t.total.item(), name, m_iter);
        m_model.encoder->zero_grad();
        dec.zero_grad();
        if (other) other->zero_grad();
        backward(t.total);
        opt.step();
        return t;
    };
    out.g_a = g_step(*m_model.decoder_a, *m_model.disc_a, m_ga, a2, "the loss of G_A", m_model.decoder_b.get());
    out.g_b = g_step(*m_model.decoder_b, *m_model.disc_b, m_gb, b2, "the loss of G_B", m_model.decoder_a.get());
    ++m_iter;
    return out;
}

// --- files -------------------------------------------------------------------------------------------------------

Metadata model_metadata(const ModelConfig& cfg) {
    return {{"format", "faceswap-gan-v2.2"},
            {"format_version", "1"},
            {"faceswap.res", std::to_string(cfg.res)},
            {"faceswap.capacity", cfg.capacity == Capacity::lite ? "lite" : "standard"},
            {"faceswap.self_attention", cfg.self_attention ? "1" : "0"},
            {"faceswap.norm", norm_name(cfg.norm)},
            {"faceswap.layout", "NCHW, conv OIHW, dense (out,in), BGR in [-1,1]"}};
}

ModelConfig config_from_metadata(const Metadata& md, const std::string& what) {
    auto get = [&](const std::string& k) -> const std::string& {
        auto it = md.find(k);
        FS_CHECK(it != md.end(), what, ": not a faceswap model file (metadata '", k, "' is missing)");
        return it->second;
    };
    FS_CHECK(get("format") == "faceswap-gan-v2.2", what, ": unknown format '", get("format"), "'");
    FS_CHECK(get("format_version") == "1", what, ": format version ", get("format_version"),
             " is newer than this program understands (1)");
    ModelConfig c;
    try {
        c.res = std::stoi(get("faceswap.res"));
    } catch (const std::logic_error&) {
        FS_FAIL(what, ": bad resolution '", get("faceswap.res"), "'");
    }
    const std::string& cap = get("faceswap.capacity");
    FS_CHECK(cap == "lite" || cap == "standard", what, ": bad capacity '", cap, "'");
    c.capacity = cap == "lite" ? Capacity::lite : Capacity::standard;
    c.self_attention = get("faceswap.self_attention") == "1";
    c.norm = parse_norm(get("faceswap.norm"));
    c.validate();
    return c;
}

void save_model(const std::string& path, const FaceSwapModel& m, int64_t iteration) {
    Metadata md = model_metadata(m.cfg);
    md["faceswap.iteration"] = std::to_string(iteration);
    save_safetensors(path, m.named_tensors(), md);
}

FaceSwapModel load_model(const std::string& path, bool checkpoint_ok) {
    SafeTensors st = load_safetensors(path);
    ModelConfig cfg = config_from_metadata(st.metadata, path);
    // load_into below overwrites every tensor (it requires each one in the file), so the random initialisation
    // (~1.4 s of CPU for standard 64) is skipped.
    std::unique_ptr<SkipInitGuard> skip = std::make_unique<SkipInitGuard>();
    FaceSwapModel m(cfg);
    skip.reset();
    {
        NoGradGuard ng;
        load_into(m.named_tensors(), st, path, !checkpoint_ok);
    }
    return m;
}

void GanTrainer::save_checkpoint(const std::string& path) const {
    NamedTensors all = m_model.named_tensors();
    for (auto* o : {&m_da, &m_db, &m_ga, &m_gb}) {
        const char* p = o == &m_da ? "opt.d_a." : o == &m_db ? "opt.d_b." : o == &m_ga ? "opt.g_a." : "opt.g_b.";
        NamedTensors s = o->state(p);
        all.insert(all.end(), s.begin(), s.end());
    }
    Metadata md = model_metadata(m_model.cfg);
    std::ostringstream rng;
    rng << m_rng;
    md["faceswap.iteration"] = std::to_string(m_iter);
    md["train.phase"] = std::to_string(m_phase);
    md["train.rng"] = rng.str();
    md["train.steps"] = std::to_string(m_da.steps()) + " " + std::to_string(m_db.steps()) + " " +
                        std::to_string(m_ga.steps()) + " " + std::to_string(m_gb.steps());
    md["train.schedule_total"] = std::to_string(m_schedule.total);
    save_safetensors(path, all, md);
}

void GanTrainer::load_checkpoint(const std::string& path) {
    SafeTensors st = load_safetensors(path);
    ModelConfig cfg = config_from_metadata(st.metadata, path);
    FS_CHECK(cfg.res == m_model.cfg.res && cfg.capacity == m_model.cfg.capacity &&
                 cfg.self_attention == m_model.cfg.self_attention && cfg.norm == m_model.cfg.norm,
             path, ": the checkpoint is for '", cfg.str(), "' but this run is '", m_model.cfg.str(), "'");
    auto meta = [&](const std::string& k) -> const std::string& {
        auto it = st.metadata.find(k);
        FS_CHECK(it != st.metadata.end(), path, ": not a training checkpoint ('", k, "' is missing)");
        return it->second;
    };
    NoGradGuard ng;
    load_into(m_model.named_tensors(), st, path, false);
    std::istringstream steps(meta("train.steps"));
    int64_t s[4] = {0, 0, 0, 0};
    steps >> s[0] >> s[1] >> s[2] >> s[3];
    FS_CHECK(!steps.fail(), path, ": bad optimiser step counts '", meta("train.steps"), "'");
    m_da.load_state(st.tensors, "opt.d_a.", s[0]);
    m_db.load_state(st.tensors, "opt.d_b.", s[1]);
    m_ga.load_state(st.tensors, "opt.g_a.", s[2]);
    m_gb.load_state(st.tensors, "opt.g_b.", s[3]);
    std::istringstream rng(meta("train.rng"));
    rng >> m_rng;
    FS_CHECK(!rng.fail(), path, ": bad RNG state");
    m_iter = std::stoll(meta("faceswap.iteration"));
    size_t phase = std::stoul(meta("train.phase"));
    FS_CHECK(phase < m_schedule.phases.size(), path, ": phase ", phase, " is beyond this schedule");
    m_phase = phase;
    const Phase& p = m_schedule.phases[m_phase];  // the learning rates of that phase, without a reset or a swap
    m_da.config().lr = m_db.config().lr = 2e-4 * p.lr_factor;
    m_ga.config().lr = m_gb.config().lr = 1e-4 * p.lr_factor;
}

}  // namespace fs
