// train.cpp: the `faceswap train` loop, its files (train.cfg, checkpoint.safetensors, model.safetensors,
// backups/, losses.csv, loss_curve.png, preview.png) and its progress output.
#include "faceswap/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "faceswap/models.h"
#include "faceswap/synthetic.h"
#include "io/image.h"

namespace fs {

namespace fsys = std::filesystem;

// --- config files --------------------------------------------------------------------------------------------------

namespace {

std::map<std::string, std::string> config_to_map(const TrainConfig& c) {
    return {{"a_dir", c.a_dir},
            {"b_dir", c.b_dir},
            {"a_masks", c.a_masks},
            {"b_masks", c.b_masks},
            {"synthetic", c.synthetic ? "1" : "0"},
            {"res", std::to_string(c.model.res)},
            {"capacity", c.model.capacity == Capacity::lite ? "lite" : "standard"},
            {"self_attention", c.model.self_attention ? "1" : "0"},
            {"norm", norm_name(c.model.norm)},
            {"init_seed", std::to_string(c.model.seed)},
            {"batch", std::to_string(c.batch)},
            {"iters", std::to_string(c.iters)},
            {"schedule", c.schedule},
            {"save_every", std::to_string(c.save_every)},
            {"backup_every", std::to_string(c.backup_every)},
            {"preview_every", std::to_string(c.preview_every)},
            {"seed", std::to_string(c.seed)},
            {"keep_optimizer_state", c.keep_optimizer_state ? "1" : "0"},
            {"threads", std::to_string(c.threads)},
            {"cache_mb", std::to_string(c.cache_mb)},
            {"perceptual", perceptual_mode_name(c.perceptual)},
            {"adversarial", c.adversarial ? "1" : "0"}};
}

int64_t to_int(const std::string& v, const std::string& key) {
    try {
        size_t pos = 0;
        long long x = std::stoll(v, &pos);
        FS_CHECK(pos == v.size(), "config: '", key, "' must be an integer, got '", v, "'");
        return x;
    } catch (const std::logic_error&) {
        FS_FAIL("config: '", key, "' must be an integer, got '", v, "'");
    }
}

bool to_bool(const std::string& v, const std::string& key) {
    FS_CHECK(v == "0" || v == "1" || v == "true" || v == "false", "config: '", key, "' must be 0/1, got '", v, "'");
    return v == "1" || v == "true";
}

void set_config_value(TrainConfig& c, const std::string& k, const std::string& v) {
    if (k == "a_dir") c.a_dir = v;
    else if (k == "b_dir") c.b_dir = v;
    else if (k == "a_masks") c.a_masks = v;
    else if (k == "b_masks") c.b_masks = v;
    else if (k == "synthetic") c.synthetic = to_bool(v, k);
    else if (k == "res") {
        c.model.res = int(to_int(v, k));
        c.model.validate();
    } else if (k == "capacity") {
        FS_CHECK(v == "lite" || v == "standard", "config: capacity must be lite or standard, got '", v, "'");
        c.model.capacity = v == "lite" ? Capacity::lite : Capacity::standard;
    } else if (k == "self_attention") c.model.self_attention = to_bool(v, k);
    else if (k == "norm") c.model.norm = parse_norm(v);
    else if (k == "init_seed") c.model.seed = uint64_t(to_int(v, k));
    else if (k == "batch") c.batch = int(to_int(v, k));
    else if (k == "iters") c.iters = to_int(v, k);
    else if (k == "schedule") c.schedule = v;
    else if (k == "save_every") c.save_every = to_int(v, k);
    else if (k == "backup_every") c.backup_every = to_int(v, k);
    else if (k == "preview_every") c.preview_every = to_int(v, k);
    else if (k == "seed") c.seed = uint64_t(to_int(v, k));
    else if (k == "keep_optimizer_state") c.keep_optimizer_state = to_bool(v, k);
    else if (k == "threads") c.threads = int(to_int(v, k));
    else if (k == "cache_mb") c.cache_mb = to_int(v, k);
    else if (k == "perceptual") c.perceptual = parse_perceptual_mode(v);
    else if (k == "adversarial") c.adversarial = to_bool(v, k);
    else FS_FAIL("config: unknown key '", k, "'");
}

void check_config(const TrainConfig& c) {
    c.model.validate();
    FS_CHECK(c.batch >= 2 && c.batch % 2 == 0, "train: the batch must be even and at least 2 (as the original "
             "asserts), got ", c.batch);
    FS_CHECK(c.iters >= 1, "train: --iters must be >= 1");
    FS_CHECK(c.cache_mb >= 0 && c.cache_mb <= (int64_t(1) << 30), "train: --cache-mb must be 0..2^30 (MiB), got ",
             c.cache_mb);
    FS_CHECK(c.save_every >= 1 && c.backup_every >= 1 && c.preview_every >= 1, "train: save/backup/preview "
             "intervals must be >= 1");
    Schedule::by_name(c.schedule, c.iters);  // validates the name
    if (!c.synthetic) {
        FS_CHECK(!c.a_dir.empty() && !c.b_dir.empty(), "train: give --a DIR and --b DIR (aligned faces of the two "
                 "people), or --synthetic for the built-in faces");
    }
}

}  // namespace

void load_train_config(const std::string& path, TrainConfig& cfg) {
    std::ifstream f(path);
    FS_CHECK(f.good(), "config: cannot read ", path);
    std::string line;
    int n = 0;
    while (std::getline(f, line)) {
        ++n;
        size_t hash = line.find('#');
        if (hash != std::string::npos) line = line.substr(0, hash);
        auto trim = [](std::string s) {
            s.erase(0, s.find_first_not_of(" \t\r"));
            s.erase(s.find_last_not_of(" \t\r") + 1);
            return s;
        };
        line = trim(line);
        if (line.empty()) continue;
        size_t eq = line.find('=');
        FS_CHECK(eq != std::string::npos, path, ":", n, ": expected 'key = value', got '", line, "'");
        set_config_value(cfg, trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
    }
}

void save_train_config(const std::string& path, const TrainConfig& cfg) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp);
        FS_CHECK(f.good(), "config: cannot write ", tmp);
        f << "# faceswap train configuration (key = value); `faceswap train --config FILE` reads it back\n";
        for (auto& [k, v] : config_to_map(cfg)) f << k << " = " << v << "\n";
        FS_CHECK(f.good(), "config: write to ", tmp, " failed");
    }
    fsys::rename(tmp, path);
}

// --- synthetic faces -------------------------------------------------------------------------------------------------

namespace {
class SyntheticSource : public BatchSource {
 public:
    SyntheticSource(bool b, int res, int batch, uint64_t seed) : m_b(b), m_res(res), m_batch(batch), m_seed(seed) {}
    GanBatch batch(int64_t index) override {
        GanBatch g{Tensor::empty({m_batch, 3, m_res, m_res}), Tensor::empty({m_batch, 3, m_res, m_res}), Tensor()};
        FaceIdentity id = m_b ? identity_b() : identity_a();
        for (int i = 0; i < m_batch; ++i) {
            // one generator per sample, seeded from (seed, identity, batch index, sample): any batch on demand
            std::mt19937_64 rng(m_seed * 0x9E3779B97F4A7C15ull + uint64_t(index) * 1315423911ull +
                                uint64_t(i) * 2654435761ull + (m_b ? 7ull : 3ull));
            FrameParams f = random_frame(rng);
            std::uniform_real_distribution<double> u(-1.0, 1.0);
            FrameParams w = f;  // a pose perturbation stands in for the random warp
            w.roll += 0.12 * u(rng);
            w.scale *= 1.0 + 0.08 * u(rng);
            w.yaw += 0.12 * u(rng);
            w.pitch += 0.1 * u(rng);
            g.target.slice(0, i, i + 1).copy_from(render_face(id, f, m_res).view({1, 3, m_res, m_res}));
            g.warped.slice(0, i, i + 1).copy_from(render_face(id, w, m_res).view({1, 3, m_res, m_res}));
        }
        return g;
    }

 private:
    bool m_b;
    int m_res, m_batch;
    uint64_t m_seed;
};
}  // namespace

std::unique_ptr<BatchSource> make_synthetic_source(bool identity_b, int res, int batch, uint64_t seed) {
    return std::make_unique<SyntheticSource>(identity_b, res, batch, seed);
}

// --- previews and plots --------------------------------------------------------------------------------------------

namespace {

// α in [0,1] (1,H,W) -> a blue-to-red heat-map (3,H,W) BGR in [-1,1].
Tensor heatmap(const Tensor& alpha) {
    const int64_t H = alpha.size(-2), W = alpha.size(-1);
    Tensor a = alpha.contiguous().to(DType::f32);
    Tensor out = Tensor::empty({3, H, W});
    const float* p = a.data<float>();
    float* o = out.data<float>();
    for (int64_t i = 0; i < H * W; ++i) {
        float v = std::clamp(p[i], 0.f, 1.f);
        float r = std::clamp(1.5f - std::fabs(4.f * v - 3.f), 0.f, 1.f);  // the "jet" ramps
        float g = std::clamp(1.5f - std::fabs(4.f * v - 2.f), 0.f, 1.f);
        float b = std::clamp(1.5f - std::fabs(4.f * v - 1.f), 0.f, 1.f);
        o[i] = b * 2 - 1, o[H * W + i] = g * 2 - 1, o[2 * H * W + i] = r * 2 - 1;
    }
    return out;
}

void draw_line(Image& img, int x0, int y0, int x1, int y1, const uint8_t rgb[3]) {
    int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        if (x0 >= 0 && y0 >= 0 && x0 < img.width && y0 < img.height)
            for (int c = 0; c < 3; ++c) img.pixels[size_t((y0 * img.width + x0) * 3 + c)] = rgb[c];
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

// Loss curves (log scale) of D_A, D_B, G_A, G_B against iterations, as an RGB image.
void plot_losses(const std::string& path, const std::vector<std::array<double, 5>>& rows) {
    const int W = 640, H = 360, ml = 40, mr = 10, mt = 10, mb = 30;
    Image img;
    img.width = W, img.height = H, img.channels = 3;
    img.pixels.assign(size_t(W * H * 3), 255);
    const uint8_t axis[3] = {0, 0, 0}, grid[3] = {225, 225, 225};
    const uint8_t colors[4][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}};
    double lo = 1e300, hi = -1e300, x_max = 1;
    for (auto& r : rows) {
        x_max = std::max(x_max, r[0]);
        for (int k = 1; k < 5; ++k)
            if (r[size_t(k)] > 0 && std::isfinite(r[size_t(k)])) lo = std::min(lo, r[size_t(k)]), hi = std::max(hi, r[size_t(k)]);
    }
    if (!(lo < hi)) lo = 1e-3, hi = 1;
    double llo = std::floor(std::log10(lo)), lhi = std::ceil(std::log10(hi));
    if (lhi <= llo) lhi = llo + 1;
    auto px = [&](double x) { return ml + int((W - ml - mr - 1) * x / x_max); };
    auto py = [&](double v) {
        return mt + int((H - mt - mb - 1) * (1 - (std::log10(std::max(v, 1e-30)) - llo) / (lhi - llo)));
    };
    for (double d = llo; d <= lhi; d += 1) draw_line(img, ml, py(std::pow(10, d)), W - mr, py(std::pow(10, d)), grid);
    draw_line(img, ml, mt, ml, H - mb, axis);
    draw_line(img, ml, H - mb, W - mr, H - mb, axis);
    for (int k = 1; k < 5; ++k)
        for (size_t i = 1; i < rows.size(); ++i)
            draw_line(img, px(rows[i - 1][0]), py(rows[i - 1][size_t(k)]), px(rows[i][0]), py(rows[i][size_t(k)]),
                      colors[k - 1]);
    for (int k = 0; k < 4; ++k)  // legend swatches: D_A, D_B, G_A, G_B
        for (int y = 0; y < 6; ++y) draw_line(img, W - 110 + 25 * k, mt + 4 + y, W - 95 + 25 * k, mt + 4 + y, colors[k]);
    write_png(path, img);
}

std::string fmt_duration(double s) {
    char b[32];
    if (!std::isfinite(s) || s < 0) return "?";
    if (s < 60) std::snprintf(b, sizeof b, "%.0fs", s);
    else if (s < 3600) std::snprintf(b, sizeof b, "%dm%02ds", int(s) / 60, int(s) % 60);
    else std::snprintf(b, sizeof b, "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
    return b;
}

void on_signal(int) { stop_requested() = true; }

}  // namespace

std::atomic<bool>& stop_requested() {
    static std::atomic<bool> flag{false};
    return flag;
}

Tensor render_preview(GanTrainer& t, const GanBatch& a, const GanBatch& b, int max_rows) {
    NoGradGuard ng;
    FaceSwapModel& m = t.model();
    const int64_t R = m.cfg.res;
    const int64_t na = std::min<int64_t>(max_rows, a.warped.size(0)), nb = std::min<int64_t>(max_rows, b.warped.size(0));
    Tensor grid = Tensor::full({3, (na + nb) * R, 5 * R}, -1.0);
    auto fill = [&](const GanBatch& g, int64_t n, int64_t row0, const Decoder& own, const Decoder& other) {
        Tensor x = g.warped.slice(0, 0, n);
        Tensor z = m.encoder->forward(x);
        DecoderOut rec = own.forward(z), sw = other.forward(z);
        Tensor recm = composite(rec.alpha, rec.bgr, x), swm = composite(sw.alpha, sw.bgr, x);
        for (int64_t i = 0; i < n; ++i) {
            Tensor cols[5] = {x.slice(0, i, i + 1), g.target.slice(0, i, i + 1), recm.slice(0, i, i + 1),
                              swm.slice(0, i, i + 1), heatmap(rec.alpha.slice(0, i, i + 1).reshape({1, R, R}))};
            for (int c = 0; c < 5; ++c)
                grid.slice(1, (row0 + i) * R, (row0 + i + 1) * R).slice(2, c * R, (c + 1) * R).copy_from(
                    cols[c].reshape({3, R, R}));
        }
    };
    fill(a, na, 0, *m.decoder_a, *m.decoder_b);
    fill(b, nb, na, *m.decoder_b, *m.decoder_a);
    return grid;
}

// --- the loop --------------------------------------------------------------------------------------------------------

int run_training(const TrainConfig& cfg, bool resume, BatchSource& src_a, BatchSource& src_b) {
    check_config(cfg);
    const std::string dir = cfg.model_dir;
    fsys::create_directories(dir);
    const std::string ckpt = dir + "/checkpoint.safetensors", csv_path = dir + "/losses.csv";
    // Phase boundaries sit half a preview interval before their fraction of the run, as in the notebook (where
    // the preview interval is 300).
    Schedule schedule = Schedule::by_name(cfg.schedule, cfg.iters, cfg.preview_every);
    GanOptions opt;
    opt.keep_optimizer_state = cfg.keep_optimizer_state;
    opt.perceptual = perceptual_for_training(cfg.perceptual, opt.weights.w_pl);
    opt.adversarial = cfg.adversarial;
    GanTrainer t(cfg.model, schedule, opt, cfg.seed);
    if (resume) {
        FS_CHECK(fsys::exists(ckpt), "train: --resume but ", ckpt, " does not exist (nothing to resume; drop --resume "
                 "to start a new run)");
        t.load_checkpoint(ckpt);
        std::printf("train: resumed %s at iteration %lld (phase %zu: %s)\n", ckpt.c_str(), (long long)t.iteration(),
                    t.phase(), schedule.phases[t.phase()].name.c_str());
    } else {
        FS_CHECK(!fsys::exists(ckpt), "train: ", dir, " already holds a checkpoint; use --resume to continue it or "
                 "choose another --model folder");
    }
    save_train_config(dir + "/train.cfg", cfg);

    // losses.csv: keep the rows of earlier runs up to the resumed iteration
    std::vector<std::array<double, 5>> curve;
    {
        std::vector<std::string> keep;
        std::ifstream in(csv_path);
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty() || line[0] == 'i') continue;
            std::istringstream ls(line);
            std::array<double, 5> r{};
            char comma;
            int phase;
            ls >> r[0] >> comma >> phase >> comma >> r[1] >> comma >> r[2] >> comma >> r[3] >> comma >> r[4];
            if (ls.fail() || r[0] > double(t.iteration())) continue;
            keep.push_back(line);
            curve.push_back(r);
        }
        std::ofstream out(csv_path, std::ios::trunc);
        out << "iter,phase,d_a,d_b,g_a,g_b,g_a_adv,g_a_recon,g_a_edge,g_a_pl,g_a_alpha,g_a_tv,g_a_l2,g_b_adv,"
               "g_b_recon,g_b_edge,g_b_pl,g_b_alpha,g_b_tv,g_b_l2,seconds\n";
        for (auto& l : keep) out << l << "\n";
    }
    std::ofstream csv(csv_path, std::ios::app);

    stop_requested() = false;
    auto prev_int = std::signal(SIGINT, on_signal);
    auto prev_term = std::signal(SIGTERM, on_signal);
    struct Restore {
        decltype(prev_int) i, t;
        ~Restore() {
            std::signal(SIGINT, i);
            std::signal(SIGTERM, t);
        }
    } restore{prev_int, prev_term};

    auto save = [&](bool backup) {
        t.save_checkpoint(ckpt);
        save_model(dir + "/model.safetensors", t.model(), t.iteration());
        if (backup) {
            fsys::create_directories(dir + "/backups");
            fsys::copy_file(ckpt, dir + "/backups/iter_" + std::to_string(t.iteration()) + ".safetensors",
                            fsys::copy_options::overwrite_existing);
        }
    };

    const auto t0 = std::chrono::steady_clock::now();
    const int64_t first = t.iteration();
    std::printf("train: %s, batch %d, %lld iterations (%s schedule), model folder %s\n", cfg.model.str().c_str(),
                cfg.batch, (long long)cfg.iters, cfg.schedule.c_str(), dir.c_str());
    {
        int64_t pl_start = -1;
        for (size_t k = 0; k < schedule.phases.size() && pl_start < 0; ++k)
            if (schedule.phases[k].use_pl) pl_start = schedule.start(k);
        if (opt.perceptual && pl_start >= 0)
            std::printf("train: perceptual loss (face-api recognition ResNet) from iteration %lld\n",
                        (long long)pl_start);
        else std::printf("train: perceptual loss off\n");
        if (!opt.adversarial) std::printf("train: GAN off (no discriminator steps, no adversarial term)\n");
    }
    while (t.iteration() < cfg.iters) {
        const bool session_done = cfg.stop_after > 0 && t.iteration() - first >= cfg.stop_after;
        if (stop_requested() || session_done) {
            std::printf("\ntrain: %s; saving iteration %lld ...\n", session_done ? "--stop-after reached" : "interrupted",
                        (long long)t.iteration());
            save(false);
            std::printf("train: saved %s; continue with --resume\n", ckpt.c_str());
            return 0;
        }
        const int64_t it = t.iteration();
        // 4 batches per iteration (2 per identity), indexed by iteration: a resumed run sees the same data.
        GanBatch a1 = src_a.batch(2 * it), b1 = src_b.batch(2 * it), a2 = src_a.batch(2 * it + 1),
                 b2 = src_b.batch(2 * it + 1);
        StepLosses l;
        try {
            l = t.step(a1, b1, a2, b2);
        } catch (const Error& e) {
            std::fprintf(stderr, "\ntrain: stopped: %s\ntrain: the last good checkpoint (%s) is intact\n", e.what(),
                         fsys::exists(ckpt) ? ckpt.c_str() : "none saved yet");
            return 1;
        }
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const int64_t done = t.iteration();
        const double ga = l.g_a.total.item(), gb = l.g_b.total.item();
        csv << done << "," << t.phase() << "," << l.d_a << "," << l.d_b << "," << ga << "," << gb << "," << l.g_a.adv
            << "," << l.g_a.recon << "," << l.g_a.edge << "," << l.g_a.pl << "," << l.g_a.alpha << "," << l.g_a.tv
            << "," << l.g_a.l2 << "," << l.g_b.adv << "," << l.g_b.recon << "," << l.g_b.edge << "," << l.g_b.pl
            << "," << l.g_b.alpha << "," << l.g_b.tv << "," << l.g_b.l2 << "," << el << "\n";
        csv.flush();
        curve.push_back({double(done), l.d_a, l.d_b, ga, gb});
        const double rate = double(done - first) / el;
        const int bar = 24, fill = int(bar * double(done) / double(cfg.iters));
        std::printf("\r[%s%s] %lld/%lld %.2f it/s ETA %s | D_A %.3f D_B %.3f | G_A %.3f (rec %.3f adv %.3f) G_B %.3f   ",
                    std::string(size_t(fill), '#').c_str(), std::string(size_t(bar - fill), '-').c_str(),
                    (long long)done, (long long)cfg.iters, rate, fmt_duration(double(cfg.iters - done) / rate).c_str(),
                    l.d_a, l.d_b, ga, l.g_a.recon, l.g_a.adv, gb);
        std::fflush(stdout);
        if (done % cfg.preview_every == 0 || done == cfg.iters) {
            write_png(dir + "/preview.png", tensor_to_image(render_preview(t, a2, b2)));
            plot_losses(dir + "/loss_curve.png", curve);
        }
        if (done % cfg.save_every == 0 || done == cfg.iters) save(done % cfg.backup_every == 0);
    }
    std::printf("\ntrain: done, %lld iterations; model in %s/model.safetensors\n", (long long)t.iteration(),
                dir.c_str());
    return 0;
}

// --- CLI ---------------------------------------------------------------------------------------------------------------

namespace {
const char* k_train_usage =
    "usage: faceswap train --a DIR --b DIR [options]      (or --synthetic instead of --a/--b)\n"
    "       faceswap train --model DIR --resume\n"
    "\n"
    "Trains faceswap-GAN v2.2 (shared encoder, decoders A and B with masks, two mixup-LSGAN discriminators) on\n"
    "aligned faces of two people, following the original's 8-phase schedule. Everything goes into the model\n"
    "folder: train.cfg (this configuration), checkpoint.safetensors (resume state, written atomically),\n"
    "model.safetensors (weights for swap-images/convert), backups/, losses.csv, loss_curve.png, preview.png.\n"
    "Ctrl-C saves and exits; --resume continues exactly where the run stopped.\n"
    "\n"
    "data:\n"
    "  --a DIR, --b DIR        aligned face images of person A and B (jpg/png, any size)\n"
    "  --a-masks DIR, --b-masks DIR  eye masks with the same file names (optional)\n"
    "  --synthetic             train on the built-in procedural faces (no data needed)\n"
    "model:\n"
    "  --res R                 64 (default), 128 or 256\n"
    "  --capacity C            standard (default) or lite\n"
    "  --norm N                instancenorm (default), layernorm, groupnorm, batchnorm, hybrid, none\n"
    "  --no-self-attention     without the self-attention blocks\n"
    "training:\n"
    "  --model DIR             model folder (default ./model)\n"
    "  --batch N               faces per identity per batch, even (default 8)\n"
    "  --iters N               total iterations (default 40000)\n"
    "  --schedule S            faithful (default), colab, or short (for runs of a few hundred iterations)\n"
    "  --keep-optimizer-state  keep Adam's moments across phase changes (the original resets them)\n"
    "  --save-every N          checkpoint interval (default 300)\n"
    "  --backup-every N        backup interval (default 5000)\n"
    "  --preview-every N       preview and loss-curve interval (default 300)\n"
    "  --seed N                data and mixup seed (default 1)\n"
    "  --perceptual MODE       the perceptual loss of the schedule's PL phases (from the 2nd phase), on the\n"
    "                          face-api.js recognition ResNet: auto (default: on when its model file is found,\n"
    "                          otherwise a warning and off), on (a missing model file is an error) or off\n"
    "  --no-perceptual         the same as --perceptual off\n"
    "  --no-gan                no discriminators and no adversarial term: faster, for runs of a few hundred\n"
    "                          iterations (the masks then learn only from their own terms; not for real training)\n"
    "  --gan                   the GAN back on (the default; for --resume of a run that had it off)\n"
    "  --models DIR            folder holding faceapi/face_recognition_model-weights_manifest.json (+ .bin);\n"
    "                          also searched: $FACESWAP_MODELS, ./models, $FACESWAP_DATA\n"
    "  --threads N             data-loading threads (default: automatic)\n"
    "  --cache-mb N            keep up to N MiB of decoded faces and masks in memory (192 KiB each; default\n"
    "                          1024, 0 reads every file for every sample)\n"
    "  --config FILE           read options from a train.cfg-style file first (options given here override)\n"
    "  --resume                continue the run in --model DIR (its train.cfg is read first)\n"
    "  --stop-after N          end this session after N iterations (saved; continue with --resume)\n";
}  // namespace

int train_main(const std::vector<std::string>& args) {
    for (const std::string& a : args)
        if (a == "--help" || a == "-h") {
            std::fputs(k_train_usage, stdout);
            return 0;
        }
    TrainConfig cfg;
    bool resume = false;
    // pass 1: --config / --model / --resume decide the base configuration
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--resume") resume = true;
        if ((args[i] == "--config" || args[i] == "--model") && i + 1 < args.size()) {
            if (args[i] == "--config") load_train_config(args[i + 1], cfg);
            else cfg.model_dir = args[i + 1];
        }
    }
    if (resume) {
        std::string saved = cfg.model_dir + "/train.cfg";
        FS_CHECK(fsys::exists(saved), "train: --resume but ", saved, " does not exist");
        load_train_config(saved, cfg);
    }
    // pass 2: every option overrides
    std::map<std::string, std::string> keys = {
        {"--a", "a_dir"},         {"--b", "b_dir"},           {"--a-masks", "a_masks"},   {"--b-masks", "b_masks"},
        {"--res", "res"},         {"--capacity", "capacity"}, {"--norm", "norm"},         {"--batch", "batch"},
        {"--iters", "iters"},     {"--schedule", "schedule"}, {"--save-every", "save_every"},
        {"--backup-every", "backup_every"}, {"--preview-every", "preview_every"}, {"--seed", "seed"},
        {"--threads", "threads"},           {"--perceptual", "perceptual"},   {"--cache-mb", "cache_mb"}};
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--resume") continue;
        if (a == "--config" || a == "--model") {
            ++i;
            continue;
        }
        if (a == "--synthetic") cfg.synthetic = true;
        else if (a == "--stop-after") {
            FS_CHECK(i + 1 < args.size(), "train: --stop-after needs a value");
            cfg.stop_after = to_int(args[++i], "--stop-after");
            FS_CHECK(cfg.stop_after >= 1, "train: --stop-after must be >= 1");
        }
        else if (a == "--no-self-attention") cfg.model.self_attention = false;
        else if (a == "--keep-optimizer-state") cfg.keep_optimizer_state = true;
        else if (a == "--no-perceptual") cfg.perceptual = PerceptualMode::off;
        else if (a == "--no-gan") cfg.adversarial = false;
        else if (a == "--gan") cfg.adversarial = true;
        else if (a == "--models") {
            FS_CHECK(i + 1 < args.size(), "train: --models needs a folder");
            set_models_dir(args[++i]);
        }
        else if (keys.count(a)) {
            FS_CHECK(i + 1 < args.size(), "train: ", a, " needs a value");
            set_config_value(cfg, keys[a], args[++i]);
        } else {
            FS_FAIL("train: unknown option '", a, "' (see faceswap train --help)");
        }
    }
    check_config(cfg);
    std::unique_ptr<BatchSource> a, b;
    if (cfg.synthetic) {
        a = make_synthetic_source(false, cfg.model.res, cfg.batch, cfg.seed);
        b = make_synthetic_source(true, cfg.model.res, cfg.batch, cfg.seed);
    } else {
        a = make_folder_source(cfg, false);
        b = make_folder_source(cfg, true);
    }
    return run_training(cfg, resume, *a, *b);
}

}  // namespace fs
