// losses.cpp: the loss terms of spec §5.2–5.3 as compositions of ops.
#include "faceswap/losses.h"

#include <cmath>
#include <optional>

namespace fs {

namespace {
Tensor mean_all(const Tensor& t) { return mean(t); }
Tensor l1(const Tensor& a, const Tensor& b) { return mean_all(abs(sub(a, b))); }
Tensor masked_l1(const Tensor& mask, const Tensor& a, const Tensor& b) { return mean_all(abs(mul(mask, sub(a, b)))); }
Tensor weighted(const Tensor& t, double w) { return scale(t, w); }
Tensor grad_v(const Tensor& t) { return image_gradients(t, ImageGradParams{ImageGradAxis::vertical}); }
Tensor grad_h(const Tensor& t) { return image_gradients(t, ImageGradParams{ImageGradAxis::horizontal}); }
Tensor resize_to(const Tensor& t, int64_t h, int64_t w) {
    if (t.size(2) == h && t.size(3) == w) return t;
    return resize_bilinear(t, ResizeParams{h, w, ResizeMode::tf_legacy});  // TF1 tf.image.resize_bilinear
}
void check_pair(const Tensor& a, const Tensor& b, const char* what) {
    FS_CHECK(a.dim() == 4 && a.shape() == b.shape(), what, ": prediction ", a.str(), " and target ", b.str(),
             " must be equal (N, C, H, W)");
}
}  // namespace

Tensor recon_loss(const DecoderOut& out, const Tensor& y, const Tensor& eyes, const LossWeights& w) {
    check_pair(out.bgr, y, "recon_loss");
    Tensor loss = weighted(l1(out.bgr, y), w.w_recon);
    if (eyes.defined()) {
        check_pair(eyes, y, "recon_loss (eye mask)");
        loss = add(loss, weighted(masked_l1(eyes, out.bgr, y), w.w_eyes));
    }
    for (const Tensor& aux : out.aux)
        loss = add(loss, weighted(l1(aux, resize_to(y, aux.size(2), aux.size(3))), w.w_recon));
    return loss;
}

Tensor edge_loss(const Tensor& b, const Tensor& y, const Tensor& eyes, const LossWeights& w) {
    check_pair(b, y, "edge_loss");
    Tensor bv = grad_v(b), yv = grad_v(y), bh = grad_h(b), yh = grad_h(y);
    Tensor loss = weighted(add(l1(bv, yv), l1(bh, yh)), w.w_edge);
    if (eyes.defined()) {
        check_pair(eyes, y, "edge_loss (eye mask)");
        Tensor e = resize_to(eyes, y.size(2) - 1, y.size(3) - 1);
        loss = add(loss, weighted(add(masked_l1(e, bv, yv), masked_l1(e, bh, yh)), w.w_eyes));
    }
    return loss;
}

Tensor alpha_loss(const Tensor& alpha, bool hinge, double m_mask) {
    if (!hinge) return weighted(mean_all(abs(alpha)), 0.01);
    return weighted(mean_all(relu(scale(alpha, -1.0, m_mask))), 0.1);  // max(0, m − α)
}

Tensor alpha_tv_loss(const Tensor& alpha) {
    return add(weighted(mean_all(grad_v(alpha)), 0.1), weighted(mean_all(grad_h(alpha)), 0.1));
}

Tensor l2_loss(const NamedTensors& kernels, double w_l2) {
    Tensor total;
    for (const auto& [name, k] : kernels) {
        Tensor s = sum_squares(k);
        total = total.defined() ? add(total, s) : s;
    }
    if (!total.defined()) return Tensor::zeros({});
    return weighted(total, w_l2);
}

Tensor adversarial_loss(const Discriminator& D, const Tensor& m, const Tensor& b, const Tensor& x,
                        const LossWeights& w) {
    Tensor dm = D.forward(concat({m, x}, ConcatParams{1}));
    Tensor db = D.forward(concat({b, x}, ConcatParams{1}));
    return weighted(add(mean_all(square(scale(dm, 1.0, -1.0))), mean_all(square(scale(db, 1.0, -1.0)))), w.w_D);
}

Tensor mixup_lsgan_d_loss(const Discriminator& D, const Tensor& y, const Tensor& x, const Tensor& m, const Tensor& b,
                          double lambda) {
    FS_CHECK(lambda >= 0 && lambda <= 1, "mixup_lsgan_d_loss: lambda must be in [0, 1], got ", lambda);
    Tensor yd = y.detach(), md = m.detach(), bd = b.detach(), xd = x.detach();
    auto mixed = [&](const Tensor& fake) {
        // λ·(y‖x) + (1−λ)·(fake‖x) = (λy + (1−λ)fake) ‖ x: the warped half is the same in both pairs.
        Tensor img = add(scale(yd, lambda), scale(fake, 1.0 - lambda));
        Tensor d = D.forward(concat({img, xd}, ConcatParams{1}));
        return mean_all(square(scale(d, 1.0, -lambda)));
    };
    return add(mixed(md), mixed(bd));
}

double sample_beta(double a, double b, std::mt19937_64& rng) {
    FS_CHECK(a > 0 && b > 0, "sample_beta: parameters must be positive, got ", a, ", ", b);
    std::gamma_distribution<double> ga(a, 1.0), gb(b, 1.0);
    for (;;) {
        double x = ga(rng), y = gb(rng);
        if (x + y > 0) return x / (x + y);  // with a, b < 1 both draws can underflow to 0: draw again
    }
}

GenLossTerms generator_loss(const Encoder& enc, const Decoder& dec, const Discriminator& D, const Tensor& x,
                            const Tensor& y, const Tensor& eyes, const GenLossOptions& o) {
    DecoderOut out = dec.forward(enc.forward(x));
    Tensor m = composite(out.alpha, out.bgr, x);
    GenLossTerms t;
    Tensor adv = o.adversarial ? adversarial_loss(D, m, out.bgr, x, o.w) : Tensor::zeros({});
    Tensor rec = recon_loss(out, y, eyes, o.w);
    Tensor edge = edge_loss(out.bgr, y, eyes, o.w);
    Tensor al = alpha_loss(out.alpha, o.mask_hinge, o.m_mask);
    Tensor tv = alpha_tv_loss(out.alpha);
    NamedTensors kernels = enc.l2_parameters();
    for (auto& k : dec.l2_parameters()) kernels.push_back(k);
    const Tensor l2 = [&] {
        std::optional<NoGradGuard> ng;  // l2_by_optimizer: the optimiser adds the gradient, only the value here
        if (o.l2_by_optimizer) ng.emplace();
        return l2_loss(kernels, o.w.w_l2);
    }();
    t.total = add(add(add(add(add(adv, rec), edge), al), tv), l2);
    if (o.use_pl) {
        FS_CHECK(bool(o.perceptual), "generator_loss: the perceptual loss is on but no perceptual network was given");
        Tensor p = add(scale(out.bgr, o.pl_lambda), scale(m, 1.0 - o.pl_lambda));
        Tensor pl = o.perceptual(p, y);
        t.total = add(t.total, pl);
        t.pl = pl.item();
    }
    t.adv = adv.item(), t.recon = rec.item(), t.edge = edge.item(), t.alpha = al.item(), t.tv = tv.item(),
    t.l2 = l2.item();
    return t;
}

Tensor cycle_loss(const Encoder& enc, const Decoder& dec_a, const Decoder& dec_b, const Tensor& y_a,
                  const LossWeights& w) {
    DecoderOut to_b = dec_b.forward(enc.forward(y_a));
    DecoderOut back = dec_a.forward(enc.forward(to_b.bgr));
    Tensor l = add(l1(back.bgr, y_a), scale(l1(back.alpha, to_b.alpha), 0.1));
    return scale(l, w.w_cycle);
}

}  // namespace fs
