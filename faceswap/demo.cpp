// demo.cpp: `faceswap demo`, the main job out of the box, in miniature until the full trainer lands.
// It draws two procedural identities (faceswap/synthetic.h), trains a shared encoder with one decoder per
// identity — the faceswap-GAN idea at 32×32, without the GAN terms yet — through the framework's own ops,
// autograd and Adam, then swaps held-out A frames to B and reports how close the swap comes to the ground truth
// (B drawn in the same pose) next to the "did nothing" baseline (the A input itself).
#include "faceswap/demo.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "autograd/functional.h"
#include "faceswap/model.h"
#include "faceswap/synthetic.h"
#include "faceswap/train.h"
#include "io/image.h"
#include "layers/adam.h"
#include "layers/module.h"
#include "layers/nn.h"

namespace fs {

namespace {

const char* k_demo_usage =
    "usage: faceswap demo [--steps N] [--batch N] [--size S] [--seed N] [--out DIR] [--quick]\n"
    "\n"
    "Trains a miniature face-swap model (shared encoder, decoders A and B with learned masks) on procedurally\n"
    "drawn faces, then swaps held-out A frames to B and scores the swap against the ground truth.\n"
    "\n"
    "  --steps N   training iterations (default 600; --quick: 40)\n"
    "  --batch N   faces per identity per iteration (default 8)\n"
    "  --size S    face size in pixels, a multiple of 4 (default 32)\n"
    "  --seed N    random seed (default 1)\n"
    "  --out DIR   where preview.png goes (default ./demo_out)\n";

// The miniature networks: 32×32 → 8×8 and back, with faceswap-GAN's α + BGR heads.
std::shared_ptr<Conv2d> conv(int64_t cin, int64_t cout, int k, int stride, std::mt19937_64& rng, bool glorot = false) {
    return std::make_shared<Conv2d>(cin, cout,
                                    ConvOptions{k, stride, true, glorot ? Init::glorot_uniform : Init::he_normal,
                                                false, Padding::same},
                                    rng);
}

struct MiniEncoder : Module {
    MiniEncoder(int64_t c, std::mt19937_64& rng) {
        c1 = register_module("conv1", conv(3, c, 5, 1, rng, true));
        c2 = register_module("conv2", conv(c, 2 * c, 3, 2, rng));
        c3 = register_module("conv3", conv(2 * c, 4 * c, 3, 2, rng));
    }
    Tensor operator()(const Tensor& x) const {
        Tensor h = c1->forward(x);
        h = leaky_relu(c2->forward(h), 0.1);
        return leaky_relu(c3->forward(h), 0.1);
    }
    std::shared_ptr<Conv2d> c1, c2, c3;
};

struct MiniDecoder : Module {
    MiniDecoder(int64_t c, std::mt19937_64& rng) {
        u1 = register_module("up1", conv(4 * c, 2 * c, 3, 1, rng));
        u2 = register_module("up2", conv(2 * c, c, 3, 1, rng));
        head = register_module("head", conv(c, 4, 5, 1, rng, true));
    }
    // Returns (alpha (N,1,H,W) in [0,1], bgr (N,3,H,W) in [-1,1]).
    std::pair<Tensor, Tensor> operator()(const Tensor& z) const {
        Tensor h = leaky_relu(u1->forward(upsample_nearest(z, UpsampleParams{2})), 0.1);
        h = leaky_relu(u2->forward(upsample_nearest(h, UpsampleParams{2})), 0.1);
        Tensor o = head->forward(h);
        return {sigmoid(slice(o, 1, 0, 1)), tanh(slice(o, 1, 1, 4))};
    }
    std::shared_ptr<Conv2d> u1, u2, head;
};

Tensor mean_all(const Tensor& x) { return mean(x, ReduceParams{}); }

// PSNR of two images in [-1, 1] (peak-to-peak 2).
double psnr(const Tensor& a, const Tensor& b) {
    std::vector<double> va = a.to_vector(), vb = b.to_vector();
    double se = 0;
    for (size_t i = 0; i < va.size(); ++i) se += (va[i] - vb[i]) * (va[i] - vb[i]);
    double mse = se / double(va.size());
    return 10.0 * std::log10(4.0 / std::max(mse, 1e-12));
}

std::string fmt_time(double s) {
    char buf[32];
    if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
    else std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
    return buf;
}

}  // namespace

int demo_main(const std::vector<std::string>& args) {
    int steps = 600, batch = 8, size = 32;
    uint64_t seed = 1;
    std::string out = "demo_out";
    for (size_t i = 0; i < args.size(); ++i) {
        auto need = [&](const char* what) -> std::string {
            FS_CHECK(i + 1 < args.size(), "demo: ", what, " needs a value");
            return args[++i];
        };
        auto as_int = [&](const std::string& v, const char* what) {
            try {
                size_t pos = 0;
                long long x = std::stoll(v, &pos);
                FS_CHECK(pos == v.size(), "demo: ", what, " must be an integer, got '", v, "'");
                return x;
            } catch (const std::logic_error&) {
                FS_FAIL("demo: ", what, " must be an integer, got '", v, "'");
            }
        };
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            std::fputs(k_demo_usage, stdout);
            return 0;
        } else if (a == "--steps") steps = int(as_int(need("--steps"), "--steps"));
        else if (a == "--batch") batch = int(as_int(need("--batch"), "--batch"));
        else if (a == "--size") size = int(as_int(need("--size"), "--size"));
        else if (a == "--seed") seed = uint64_t(as_int(need("--seed"), "--seed"));
        else if (a == "--out") out = need("--out");
        else if (a == "--quick") steps = 40;
        else FS_FAIL("demo: unknown option '", a, "'\n", k_demo_usage);
    }
    FS_CHECK(steps >= 1, "demo: --steps must be >= 1");
    FS_CHECK(batch >= 1 && batch <= 256, "demo: --batch must be in [1, 256]");
    FS_CHECK(size >= 16 && size <= 256 && size % 4 == 0, "demo: --size must be a multiple of 4 in [16, 256]");
    std::filesystem::create_directories(out);

    std::mt19937_64 rng(seed);
    const int64_t c = 16;
    MiniEncoder enc(c, rng);
    MiniDecoder dec_a(c, rng), dec_b(c, rng);
    std::vector<Tensor> pa = enc.parameters(), pb = dec_b.parameters();
    for (const Tensor& t : dec_a.parameters()) pa.push_back(t);
    // As in faceswap-GAN: one optimiser per generator, both stepping the shared encoder.
    Adam opt_a(pa, AdamConfig{2e-3, 0.5, 0.999, 1e-7});
    std::vector<Tensor> pbe = enc.parameters();
    for (const Tensor& t : pb) pbe.push_back(t);
    Adam opt_b(pbe, AdamConfig{2e-3, 0.5, 0.999, 1e-7});
    std::printf("demo: %d steps, batch %d per identity, %dx%d faces, %lld parameters\n", steps, batch, size, size,
                (long long)(enc.num_parameters() + dec_a.num_parameters() + dec_b.num_parameters()));

    // The trainer's procedural-face source: each batch a pose-perturbed "warped" input and its target.
    std::unique_ptr<BatchSource> src[2] = {make_synthetic_source(false, size, batch, seed),
                                           make_synthetic_source(true, size, batch, seed)};
    FaceIdentity ida = identity_a(), idb = identity_b();
    auto gen_loss = [&](const MiniDecoder& dec, const GanBatch& b) {
        auto [alpha, bgr] = dec(enc(b.warped));
        Tensor masked = composite(alpha, bgr, b.warped);
        // L1 on the raw output (as the original) and on the masked output, and the original's mask hinge
        // 0.1·mean(max(0, 0.5 − α)) (its hinge phases): without the GAN term nothing else stops α from
        // collapsing to 0, which would make the masked output a copy of the input.
        return add(add(mean_all(abs(sub(bgr, b.target))), mean_all(abs(sub(masked, b.target)))),
                   scale(mean_all(relu(scale(alpha, -1.0, 0.5))), 0.1));
    };
    auto t0 = std::chrono::steady_clock::now();
    double first = 0, last_a = 0, last_b = 0;
    for (int it = 1; it <= steps; ++it) {
        for (int side = 0; side < 2; ++side) {
            GanBatch b = src[side]->batch(it);
            Adam& opt = side ? opt_b : opt_a;
            enc.zero_grad();
            (side ? dec_b : dec_a).zero_grad();
            Tensor loss = gen_loss(side ? dec_b : dec_a, b);
            double lv = loss.item();
            FS_CHECK(std::isfinite(lv), "demo: the loss became ", lv, " at iteration ", it,
                     "; try a smaller learning rate or another --seed");
            backward(loss);
            opt.step();
            (side ? last_b : last_a) = lv;
        }
        if (it == 1) first = 0.5 * (last_a + last_b);
        if (it % 10 == 0 || it == steps) {
            double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::printf("\r  iter %4d/%d  loss A %.4f  B %.4f  %.2f it/s  ETA %s   ", it, steps, last_a, last_b,
                        it / el, fmt_time(el / it * (steps - it)).c_str());
            std::fflush(stdout);
        }
    }
    std::printf("\n");

    // Held-out evaluation: A frames swapped to B, scored against B drawn in the same frame.
    NoGradGuard ng;
    std::mt19937_64 eval_rng(seed + 1000);
    const int n_eval = 8;
    Tensor in_a = Tensor::empty({n_eval, 3, size, size}), gt_b = Tensor::empty({n_eval, 3, size, size});
    for (int i = 0; i < n_eval; ++i) {
        FrameParams f = random_frame(eval_rng);
        in_a.slice(0, i, i + 1).copy_from(render_face(ida, f, size).view({1, 3, size, size}));
        gt_b.slice(0, i, i + 1).copy_from(render_face(idb, f, size).view({1, 3, size, size}));
    }
    auto [alpha, bgr] = dec_b(enc(in_a));
    Tensor swap = composite(alpha, bgr, in_a);
    auto [ra_alpha, ra_bgr] = dec_a(enc(in_a));
    Tensor recon = ra_bgr;
    double p_swap = psnr(swap, gt_b), p_raw = psnr(bgr, gt_b), p_base = psnr(in_a, gt_b), p_rec = psnr(recon, in_a);
    std::printf("demo: training loss %.4f -> %.4f\n", first, 0.5 * (last_a + last_b));
    std::printf("demo: A->B swap vs the ground truth: PSNR %.2f dB masked, %.2f dB raw; did-nothing baseline "
                "%.2f dB\n", p_swap, p_raw, p_base);
    std::printf("demo: A reconstruction (raw output) PSNR %.2f dB\n", p_rec);

    // Preview: rows = A input, A reconstruction, A->B swap, B ground truth.
    Tensor grid = Tensor::empty({3, 4 * size, n_eval * size});
    const Tensor* rows[4] = {&in_a, &recon, &swap, &gt_b};
    for (int r = 0; r < 4; ++r)
        for (int i = 0; i < n_eval; ++i)
            grid.slice(1, r * size, (r + 1) * size).slice(2, i * size, (i + 1) * size)
                .copy_from(rows[r]->slice(0, i, i + 1).view({3, size, size}));
    std::string png = out + "/preview.png";
    write_png(png, tensor_to_image(grid));
    std::printf("demo: preview (rows: A input, A reconstruction, A->B swap, B ground truth) in %s\n", png.c_str());
    return 0;
}

}  // namespace fs
