#!/usr/bin/python3
"""pytorch_train_iteration.py: one faceswap-GAN v2.2 training iteration in PyTorch, the reference figure that
issue 6 puts next to fs_bench's BM_train_iteration/0/8 (docs/PERFORMANCE.md). The product never depends on
PyTorch; this script only needs Debian's python3-torch (1.13) and is skipped where it is missing.

    /usr/bin/python3 bench/pytorch_train_iteration.py                 # 2 threads, 1 warm-up + 5 timed iterations
    /usr/bin/python3 bench/pytorch_train_iteration.py --iters 3 --threads 2

What it runs is what bench/bench_model.cpp's BM_train_iteration runs (GanTrainer::step in faceswap/gan.cpp with
ModelConfig{} = standard 64, self-attention, "instancenorm", Schedule::faithful() phase 0, GanOptions{}):

  * the model of faceswap/model.cpp and layers/nn.cpp, layer for layer (spec docs/faceswap_gan_v22.md §2-§4):
    encoder, decoder_A, decoder_B, D_A, D_B; the parameter counts are checked against spec §2.5 / tests/test_model.cpp;
  * one iteration = D_A step and D_B step (generator forward without a graph, mixup-LSGAN with one Beta(0.2,0.2)
    draw per batch, only D updated), then G_A step and G_B step on a second pair of batches (D frozen but
    differentiated through; adversarial 0.1·LSGAN + L1 recon + 0.1·edge + 0.01·mean|α| (phase 0: hinge off)
    + 0.1·α TV; no perceptual loss in phase 0; no eye mask: the benchmark's batches carry none, so the eye terms
    are off; no auxiliary heads at 64 px);
  * four Adams (β 0.5/0.999, ε 1e-7, lrD 2e-4, lrG 1e-4); G_A and G_B both step the shared encoder from their own
    moments. The L2 weight decay (1e-4·Σk²) is, as in the C++ trainer (Adam::set_l2), not differentiated: its
    gradient 2·1e-4·k is added inside the optimiser step (here Adam's weight_decay on a parameter group of exactly
    the regularised kernels, which PyTorch adds to the gradient before the moments, the same update), and its
    value is only evaluated (no graph) for the logged loss, as generator_loss/d_step do;
  * inputs are fixed random batches (warped and target, N×3×64×64 in [-1,1]), float32 NCHW, the same four batches
    every iteration, as the C++ benchmark.

Differences that do not change the work: PyTorch's Adam divides by sqrt(v̂)+ε where Keras/our Adam use
lr·sqrt(1−β2ᵗ)/(1−β1ᵗ) and sqrt(v)+ε (a different ε placement, same cost). TF "same" padding is asymmetric for the
3×3 stride-2 convolutions (0 before, 1 after); PyTorch's conv2d pads symmetrically, so those use padding 1 (same
output shape and flops, only which border row is zero differs), unless --exact-padding (an explicit F.pad copy
first). The discriminator's 4×4 stride-1 head needs 1 before / 2 after to keep 8×8, so it always uses F.pad.
"""
import argparse
import math
import os
import random
import resource
import statistics
import sys
import time


def _threads_from_argv(default=2):
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return str(default)


# Debian's torch uses the system BLAS (OpenBLAS, pthread build) for dense and bmm; torch.set_num_threads may not
# reach it, so its thread count is set here, before the library loads (unless the caller set it).
os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads_from_argv())
os.environ.setdefault("OMP_NUM_THREADS", _threads_from_argv())

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    print("pytorch_train_iteration: python3-torch is not installed (apt-get install python3-torch); skipped")
    sys.exit(0)

RES = 64
W_D, W_RECON, W_EDGE, W_L2 = 0.1, 1.0, 0.1, 1e-4
LR_D, LR_G, BETAS, EPS = 2e-4, 1e-4, (0.5, 0.999), 1e-7

# spec §2.5 (analytic) = tests/test_model.cpp ParameterCountsMatchTheSpecTable, standard 64, instancenorm, SA on
EXPECTED = {"encoder": 59130506, "decoder_a": 6300924, "decoder_b": 6300924, "disc_a": 747845, "disc_b": 747845}

# Issue 6's count for the whole iteration (D_A, D_B, G_A, G_B forward + backward), used only to print GFLOP/s.
ITERATION_GFLOP = 454.0

EXACT_PADDING = False  # set from --exact-padding


# --- layers (layers/nn.cpp) -------------------------------------------------------------------------------------

def tf_same_pads(size, k, s):
    """TF "same" padding along one axis: (before, after)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def he_normal_(w):
    # Keras 2.1.5 he_normal: truncated normal (±2σ), σ = sqrt(2/fan_in)
    fan_in = w.shape[1] * w.shape[2] * w.shape[3]
    s = math.sqrt(2.0 / fan_in)
    nn.init.trunc_normal_(w, 0.0, s, -2 * s, 2 * s)


class Conv(nn.Module):
    """Conv2d with TF "same" padding; init 'he', 'glorot' or 'icnr'; l2 marks the kernel as regularised."""

    def __init__(self, cin, cout, k, stride=1, bias=True, init="he", l2=False):
        super().__init__()
        self.k, self.stride, self.l2 = k, stride, l2
        self.weight = nn.Parameter(torch.empty(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        with torch.no_grad():
            if init == "he":
                he_normal_(self.weight)
            elif init == "glorot":
                nn.init.xavier_uniform_(self.weight)
            else:  # ICNR: one N(0, 0.02) base kernel for cout/4 channels, copied to the 4 sub-pixel positions (DCR)
                f = cout // 4
                base = torch.randn(f, cin, k, k) * 0.02
                self.weight.copy_(base.repeat(4, 1, 1, 1))

    def forward(self, x):
        ph = tf_same_pads(x.shape[2], self.k, self.stride)
        pw = tf_same_pads(x.shape[3], self.k, self.stride)
        if ph[0] == ph[1] and pw[0] == pw[1]:
            return F.conv2d(x, self.weight, self.bias, self.stride, (ph[0], pw[0]))
        # symmetric padding of the larger side gives the same output shape when the surplus row falls off the
        # strided grid (3×3/s2 on even maps); otherwise (4×4/s1 head) pad explicitly
        sym = (ph[1], pw[1])
        ho = (x.shape[2] + 2 * sym[0] - self.k) // self.stride + 1
        wo = (x.shape[3] + 2 * sym[1] - self.k) // self.stride + 1
        if not EXACT_PADDING and ho == -(-x.shape[2] // self.stride) and wo == -(-x.shape[3] // self.stride):
            return F.conv2d(x, self.weight, self.bias, self.stride, sym)
        return F.conv2d(F.pad(x, (pw[0], pw[1], ph[0], ph[1])), self.weight, self.bias, self.stride, 0)


class Dense(nn.Module):
    """glorot_uniform, bias, no L2 (the encoder's two Dense layers)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class InstanceNorm(nn.Module):
    """The repo's default "instancenorm": per sample ONE mean and ONE population std over C,H,W, (x−μ)/(σ+1e-3),
    scalar γ and β (2 parameters)."""

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1))
        self.beta = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        var, mu = torch.var_mean(x, dim=(1, 2, 3), unbiased=False, keepdim=True)
        return (x - mu) / (var.sqrt() + 1e-3) * self.gamma + self.beta


class SelfAttention(nn.Module):
    """Spec §4: f, g (C→C/8) and h (C→C) 1×1 convs with bias (glorot, L2); S = g fᵀ, softmax over keys,
    o = softmax(S) h, out = x + γ·o, γ a scalar starting at 0. No scaling, no spectral norm, no output conv."""

    def __init__(self, c):
        super().__init__()
        self.f = Conv(c, c // 8, 1, init="glorot", l2=True)
        self.g = Conv(c, c // 8, 1, init="glorot", l2=True)
        self.h = Conv(c, c, 1, init="glorot", l2=True)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, c, hh, ww = x.shape
        p = hh * ww
        q = self.g(x).reshape(n, -1, p).transpose(1, 2)  # (N, P, C/8)
        k = self.f(x).reshape(n, -1, p)                   # (N, C/8, P)
        v = self.h(x).reshape(n, c, p).transpose(1, 2)    # (N, P, C)
        o = torch.bmm(torch.softmax(torch.bmm(q, k), dim=-1), v)
        o = o.transpose(1, 2).reshape(n, c, hh, ww)
        return x + o * self.gamma


class ConvBlock(nn.Module):
    """conv 3×3/stride, no bias, he_normal, L2 → ReLU → norm (if use_norm)."""

    def __init__(self, cin, f, stride, use_norm):
        super().__init__()
        self.conv = Conv(cin, f, 3, stride, bias=False, init="he", l2=True)
        self.norm = InstanceNorm() if use_norm else None

    def forward(self, x):
        y = F.relu(self.conv(x))
        return self.norm(y) if self.norm is not None else y


class ConvBlockD(nn.Module):
    """conv 4×4/s2, no bias, he_normal, L2 → LeakyReLU(0.2) → norm (if use_norm)."""

    def __init__(self, cin, f, use_norm):
        super().__init__()
        self.conv = Conv(cin, f, 4, 2, bias=False, init="he", l2=True)
        self.norm = InstanceNorm() if use_norm else None

    def forward(self, x):
        y = F.leaky_relu(self.conv(x), 0.2)
        return self.norm(y) if self.norm is not None else y


class ResBlock(nn.Module):
    """conv 3×3 → LeakyReLU 0.2 → conv 3×3 → + input → LeakyReLU 0.2 (no bias, he_normal, L2, no norm)."""

    def __init__(self, f):
        super().__init__()
        self.conv1 = Conv(f, f, 3, bias=False, init="he", l2=True)
        self.conv2 = Conv(f, f, 3, bias=False, init="he", l2=True)

    def forward(self, x):
        y = self.conv2(F.leaky_relu(self.conv1(x), 0.2))
        return F.leaky_relu(y + x, 0.2)


def pixel_shuffle_dcr(x):
    """TF depth_to_space: in channel (i·2+j)·C' + k → out[2h+i, 2w+j, k]."""
    n, c, h, w = x.shape
    f = c // 4
    return x.reshape(n, 2, 2, f, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, f, 2 * h, 2 * w)


class UpscalePS(nn.Module):
    """conv 3×3 cin→4f, bias, ICNR, L2 → LeakyReLU 0.2 → norm on the 4f channels → pixel shuffle ×2 (DCR)."""

    def __init__(self, cin, f):
        super().__init__()
        self.conv = Conv(cin, 4 * f, 3, bias=True, init="icnr", l2=True)
        self.norm = InstanceNorm()

    def forward(self, x):
        return pixel_shuffle_dcr(self.norm(F.leaky_relu(self.conv(x), 0.2)))


# --- networks (faceswap/model.cpp), standard capacity, RES 64 ----------------------------------------------------

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = Conv(3, 64, 5, bias=False, init="glorot", l2=False)
        self.down = nn.Sequential(
            ConvBlock(64, 128, 2, False),  # no norm on the first block
            ConvBlock(128, 256, 2, True),
            SelfAttention(256),
            ConvBlock(256, 512, 2, True),
            SelfAttention(512),
            ConvBlock(512, 1024, 2, True))  # RES 64: 4×4×1024, no extra blocks
        self.dense1 = Dense(4 * 4 * 1024, 1024)
        self.dense2 = Dense(1024, 4 * 4 * 1024)
        self.up = UpscalePS(1024, 512)

    def forward(self, x):
        n = x.shape[0]
        h = self.down(self.conv1(x))
        h = h.permute(0, 2, 3, 1).reshape(n, 4 * 4 * 1024)  # Keras flattens NHWC
        h = self.dense2(self.dense1(h))
        h = h.reshape(n, 4, 4, 1024).permute(0, 3, 1, 2)
        return self.up(h)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            UpscalePS(512, 256),
            UpscalePS(256, 128),
            SelfAttention(128),
            UpscalePS(128, 64),
            ResBlock(64),
            SelfAttention(64))  # RES 64: no auxiliary heads
        self.alpha_head = Conv(64, 1, 5, bias=True, init="glorot", l2=False)
        self.bgr_head = Conv(64, 3, 5, bias=True, init="glorot", l2=False)

    def forward(self, z):
        h = self.body(z)
        return torch.sigmoid(self.alpha_head(h)), torch.tanh(self.bgr_head(h))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            ConvBlockD(6, 64, False),
            ConvBlockD(64, 128, True),
            ConvBlockD(128, 256, True),
            SelfAttention(256))  # RES 64: no extra blocks
        self.head = Conv(256, 1, 4, 1, bias=False, init="glorot", l2=False)

    def forward(self, x):
        return self.head(self.body(x))


def l2_kernels(module):
    return [m.weight for m in module.modules() if isinstance(m, Conv) and m.l2]


def adam(modules, lr):
    """One Adam over the modules' parameters; the L2 kernels get weight_decay 2·w_l2 (the gradient of w_l2·Σk²,
    added before the moments, as Adam::set_l2)."""
    params = [p for m in modules for p in m.parameters()]
    l2 = {id(p) for m in modules for p in l2_kernels(m)}
    groups = [{"params": [p for p in params if id(p) in l2], "weight_decay": 2 * W_L2},
              {"params": [p for p in params if id(p) not in l2], "weight_decay": 0.0}]
    return torch.optim.Adam(groups, lr=lr, betas=BETAS, eps=EPS)


def l2_value(modules):
    with torch.no_grad():
        return W_L2 * sum(float(k.pow(2).sum()) for m in modules for k in l2_kernels(m))


# --- losses (faceswap/losses.cpp) ------------------------------------------------------------------------------

def grad_v(t):  # |x[i+1,j] − x[i,j]|, cropped to (H−1)×(W−1)
    return (t[:, :, 1:, :-1] - t[:, :, :-1, :-1]).abs()


def grad_h(t):  # |x[i,j+1] − x[i,j]|, cropped to (H−1)×(W−1)
    return (t[:, :, :-1, 1:] - t[:, :, :-1, :-1]).abs()


def composite(alpha, bgr, x):
    return x + alpha * (bgr - x)


class Trainer:
    def __init__(self):
        self.enc = Encoder()
        self.dec_a, self.dec_b = Decoder(), Decoder()
        self.disc_a, self.disc_b = Discriminator(), Discriminator()
        self.opt_da = adam([self.disc_a], LR_D)
        self.opt_db = adam([self.disc_b], LR_D)
        self.opt_ga = adam([self.enc, self.dec_a], LR_G)
        self.opt_gb = adam([self.enc, self.dec_b], LR_G)
        self.rng = random.Random(1)

    def d_step(self, dec, disc, opt, x, y):
        with torch.no_grad():
            alpha, bgr = dec(self.enc(x))
            m = composite(alpha, bgr, x)
        lam = self.rng.betavariate(0.2, 0.2)  # one draw per batch, shared by both terms

        def mixed(fake):
            d = disc(torch.cat([lam * y + (1 - lam) * fake, x], dim=1))
            return (d - lam).square().mean()

        loss = mixed(m) + mixed(bgr) + l2_value([disc])
        v = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return v

    def g_step(self, dec, disc, opt, x, y):
        disc.requires_grad_(False)
        alpha, bgr = dec(self.enc(x))
        m = composite(alpha, bgr, x)
        adv = W_D * ((disc(torch.cat([m, x], 1)) - 1).square().mean()
                     + (disc(torch.cat([bgr, x], 1)) - 1).square().mean())
        rec = W_RECON * (bgr - y).abs().mean()
        edge = W_EDGE * ((grad_v(bgr) - grad_v(y)).abs().mean() + (grad_h(bgr) - grad_h(y)).abs().mean())
        al = 0.01 * alpha.abs().mean()  # phase 0: mask hinge off
        tv = 0.1 * grad_v(alpha).mean() + 0.1 * grad_h(alpha).mean()
        total = adv + rec + edge + al + tv + l2_value([self.enc, dec])
        disc.requires_grad_(True)
        v = total.item()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        return v

    def step(self, a1, b1, a2, b2):
        da = self.d_step(self.dec_a, self.disc_a, self.opt_da, *a1)
        db = self.d_step(self.dec_b, self.disc_b, self.opt_db, *b1)
        ga = self.g_step(self.dec_a, self.disc_a, self.opt_ga, *a2)
        gb = self.g_step(self.dec_b, self.disc_b, self.opt_gb, *b2)
        return da, db, ga, gb


def main():
    global EXACT_PADDING
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5, help="timed iterations (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations first (default 1)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--exact-padding", action="store_true",
                    help="pad the stride-2 3x3 convolutions TF-style (0 before, 1 after) with an explicit F.pad")
    args = ap.parse_args()
    EXACT_PADDING = args.exact_padding
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; faceswap-GAN v2.2 standard {RES}, "
          f"batch {args.batch}, no perceptual loss, no eye masks (BM_train_iteration/0/{args.batch}); "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")

    t = Trainer()
    ok = True
    for name, net in (("encoder", t.enc), ("decoder_a", t.dec_a), ("decoder_b", t.dec_b), ("disc_a", t.disc_a),
                      ("disc_b", t.disc_b)):
        n = sum(p.numel() for p in net.parameters())
        match = n == EXPECTED[name]
        ok &= match
        print(f"  params {name:9s} {n:>11,d}  spec/C++ {EXPECTED[name]:>11,d}  {'ok' if match else 'MISMATCH'}")
    if not ok:
        print("pytorch_train_iteration: the model does not match the C++ model's parameter counts")
        sys.exit(1)

    def batch():
        return (torch.rand(args.batch, 3, RES, RES) * 2 - 1, torch.rand(args.batch, 3, RES, RES) * 2 - 1)

    a1, b1, a2, b2 = batch(), batch(), batch(), batch()  # (warped, target), the same every iteration
    for i in range(args.warmup):
        t0 = time.perf_counter()
        t.step(a1, b1, a2, b2)
        print(f"  warm-up {i + 1}: {time.perf_counter() - t0:.3f} s")
    times = []
    for i in range(args.iters):
        t0 = time.perf_counter()
        losses = t.step(a1, b1, a2, b2)
        times.append(time.perf_counter() - t0)
        print(f"  iteration {i + 1}: {times[-1]:.3f} s  (losses D_A {losses[0]:.4f} D_B {losses[1]:.4f} "
              f"G_A {losses[2]:.4f} G_B {losses[3]:.4f})")
    if times:
        med = statistics.median(times)
        print(f"median {med:.3f} s per iteration over {len(times)} (min {min(times):.3f}, max {max(times):.3f}); "
              f"{ITERATION_GFLOP / med:.0f} GFLOP/s at issue 6's {ITERATION_GFLOP:.0f} GFLOP per iteration")
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"peak RSS {rss_kib / 1024 ** 2:.2f} GiB")


if __name__ == "__main__":
    main()
