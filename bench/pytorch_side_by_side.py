#!/usr/bin/python3
"""pytorch_side_by_side.py: the shapes of bench/ (conv2d, attention, SGEMM, dense) in PyTorch, for the
side-by-side table in docs/PERFORMANCE.md (issue 3). The product never depends on PyTorch; this script only
needs Debian's python3-torch (1.13, oneDNN convolutions) and is skipped where it is missing.

    /usr/bin/python3 bench/pytorch_side_by_side.py                       # PyTorch alone
    ./build/fs_bench --benchmark_filter='conv2d|attention|sgemm_square/1024|peak' \\
        --benchmark_format=json > /tmp/fs.json
    /usr/bin/python3 bench/pytorch_side_by_side.py --fs-json /tmp/fs.json # side by side, with the speed ratio
    /usr/bin/python3 bench/pytorch_side_by_side.py --fs-bench ./build/fs_bench --rounds 3   # interleaved

On a shared machine whose speed drifts from minute to minute, one fs run followed by one PyTorch run compares two
different machines. --fs-bench runs the two sides in turns (fs_bench's conv2d and attention cases, then PyTorch's,
--rounds times) and keeps each case's minimum over all rounds and repetitions on both sides.

The case names are those of the perf cases in autograd/ops/conv.cpp and autograd/ops/attention.cpp, so the two
sides line up by name. Times are the median of --reps timed runs after warm-up, 2 threads (--threads).
Backward is the gradients of every input that the fs benchmark differentiates (x, w and b for conv2d; q, k, v
for attention), for a random upstream gradient.

TF "same" padding: the model's stride-2 convolutions pad asymmetrically (0 before, 1 after for 3x3 on even
maps). PyTorch's conv2d pads symmetrically, so stride-2 cases here use padding 1: the output shape and the flop
count are identical, only which border row is zero differs, which does not change the time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    print("pytorch_side_by_side: python3-torch is not installed (apt-get install python3-torch); skipped")
    sys.exit(0)

# name, x shape (N, C, H, W), w shape (O, C, KH, KW), bias, stride, padding  (mirrors conv2d_perf())
CONV = [
    ("enc_in_5x5_3to64_64px", (8, 3, 64, 64), (64, 3, 5, 5), False, 1, 2),
    ("enc_block_3x3s2_64to128_64px", (8, 64, 64, 64), (128, 64, 3, 3), False, 2, 1),
    ("enc_block_3x3s2_256to512_16px", (8, 256, 16, 16), (512, 256, 3, 3), False, 2, 1),
    ("upscale_ps_3x3_512to1024_8px", (8, 512, 8, 8), (1024, 512, 3, 3), True, 1, 1),
    ("enc_block_3x3s2_128to256_32px", (8, 128, 32, 32), (256, 128, 3, 3), False, 2, 1),
    ("enc_block_3x3s2_512to1024_8px", (8, 512, 8, 8), (1024, 512, 3, 3), False, 2, 1),
    ("dec_upscale_3x3_128to256_32px", (8, 128, 32, 32), (256, 128, 3, 3), True, 1, 1),
    ("enc_upscale_ps_3x3_1024to2048_4px", (8, 1024, 4, 4), (2048, 1024, 3, 3), True, 1, 1),
    ("dec_res_3x3_64to64_64px", (8, 64, 64, 64), (64, 64, 3, 3), False, 1, 1),
    ("dec_head_5x5_64to3_64px", (8, 64, 64, 64), (3, 64, 5, 5), True, 1, 2),
    ("disc_in_4x4s2_6to64_64px", (8, 6, 64, 64), (64, 6, 4, 4), False, 2, 1),
    # 128 px and batch 1 (conversion)
    ("enc_in_5x5_3to64_128px", (8, 3, 128, 128), (64, 3, 5, 5), False, 1, 2),
    ("enc_block_3x3s2_64to128_128px", (8, 64, 128, 128), (128, 64, 3, 3), False, 2, 1),
    ("dec_res_3x3_64to64_128px", (8, 64, 128, 128), (64, 64, 3, 3), False, 1, 1),
    ("b1_dec_res_3x3_64to64_64px", (1, 64, 64, 64), (64, 64, 3, 3), False, 1, 1),
    ("b1_upscale_ps_3x3_512to1024_8px", (1, 512, 8, 8), (1024, 512, 3, 3), True, 1, 1),
]

# name, B, N, D (query/key width), E (value width)  (mirrors attention_perf())
ATTN = [
    ("b1_n1024_d16_e128", 1, 1024, 16, 128),
    ("b1_n4096_d8_e64", 1, 4096, 8, 64),
    ("b8_n4096_d8_e64", 8, 4096, 8, 64),
]


STAT = statistics.median  # min in the interleaved mode (--fs-bench)


def timeit(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return STAT(ts)


def conv_flops(x, w, stride, pad):
    n, c, h, wd = x
    o, _, kh, kw = w
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (wd + 2 * pad - kw) // stride + 1
    return 2.0 * n * o * ho * wo * c * kh * kw


def bench_conv(reps):
    rows = {}
    g = torch.Generator().manual_seed(1)
    for name, xs, ws, bias, stride, pad in CONV:
        x = torch.rand(xs, generator=g) * 2 - 1
        w = (torch.rand(ws, generator=g) * 2 - 1) * 0.1
        b = torch.rand(ws[0], generator=g) if bias else None
        with torch.no_grad():
            fwd = timeit(lambda: F.conv2d(x, w, b, stride, pad), reps)
        xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
        br = b.clone().requires_grad_() if bias else None
        y = F.conv2d(xr, wr, br, stride, pad)
        dy = torch.rand(y.shape, generator=g) * 2 - 1
        ins = [xr, wr] + ([br] if bias else [])
        bwd = timeit(lambda: torch.autograd.grad(y, ins, dy, retain_graph=True), reps)
        f = conv_flops(xs, ws, stride, pad)
        rows[name] = (fwd, bwd, f)
    return rows


def bench_attention(reps):
    rows = {}
    g = torch.Generator().manual_seed(1)
    for name, bsz, n, d, e in ATTN:
        q = torch.rand((bsz, n, d), generator=g) * 2 - 1
        k = torch.rand((bsz, n, d), generator=g) * 2 - 1
        v = torch.rand((bsz, n, e), generator=g) * 2 - 1

        # faceswap-GAN's path (spec §4): S = Q Kᵀ, softmax over keys, O = P V, as Keras/PyTorch run it
        def fwd_fn(q, k, v):
            return torch.bmm(torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1), v)

        with torch.no_grad():
            fwd = timeit(lambda: fwd_fn(q, k, v), reps)
        qr, kr, vr = (t.clone().requires_grad_() for t in (q, k, v))
        o = fwd_fn(qr, kr, vr)
        do = torch.rand(o.shape, generator=g) * 2 - 1
        bwd = timeit(lambda: torch.autograd.grad(o, [qr, kr, vr], do, retain_graph=True), reps)
        f = 2.0 * bsz * n * n * (d + e)
        rows[name] = (fwd, bwd, f)
    return rows


def bench_gemm(reps):
    g = torch.Generator().manual_seed(1)
    a = torch.rand((1024, 1024), generator=g)
    b = torch.rand((1024, 1024), generator=g)
    t = timeit(lambda: torch.mm(a, b), reps)
    x = torch.rand((8, 16384), generator=g)
    w = torch.rand((16384, 1024), generator=g)
    td = timeit(lambda: torch.mm(x, w), reps)
    return {"sgemm_1024": (t, 2.0 * 1024 ** 3), "dense_8x16384x1024": (td, 2.0 * 8 * 16384 * 1024)}


def fs_times(path, out=None):
    """real_time in seconds per fs_bench benchmark name, from --benchmark_format=json; the minimum where a name
    repeats (--benchmark_repetitions) or is already in `out`."""
    with open(path) as f:
        data = json.load(f)
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    out = {} if out is None else out
    for bm in data["benchmarks"]:
        if bm.get("run_type", "iteration") != "iteration":
            continue
        name = bm["name"]
        if name.endswith("/real_time"):  # benchmarks registered with UseRealTime()
            name = name[: -len("/real_time")]
        t = bm["real_time"] * unit[bm.get("time_unit", "ns")]
        out[name] = min(t, out.get(name, t))
    return out


def run_fs_bench(exe, out):
    """One fs_bench run of the conv2d and attention cases (3 repetitions each), minima merged into out."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fs.json")
        subprocess.run([exe, "--benchmark_filter=^(conv2d|attention)/", "--benchmark_repetitions=3",
                        "--benchmark_format=json", f"--benchmark_out={path}", "--benchmark_out_format=json"],
                       check=True, stdout=subprocess.DEVNULL)
        fs_times(path, out)


def merge_min(acc, rows):
    for name, (fwd, bwd, f) in rows.items():
        old = acc.get(name)
        acc[name] = (fwd, bwd, f) if old is None else (min(fwd, old[0]), min(bwd, old[1]), f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--fs-json", help="fs_bench --benchmark_format=json output to put next to PyTorch's figures")
    ap.add_argument("--fs-bench", help="the fs_bench binary: run it in turns with PyTorch (see --rounds)")
    ap.add_argument("--rounds", type=int, default=3, help="turns of fs_bench and PyTorch with --fs-bench")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    global STAT
    fs, conv, attn = {}, {}, {}
    if args.fs_bench:
        STAT = min
        for r in range(args.rounds):
            t0 = time.perf_counter()
            run_fs_bench(args.fs_bench, fs)
            merge_min(conv, bench_conv(args.reps))
            merge_min(attn, bench_attention(args.reps))
            print(f"round {r + 1}/{args.rounds}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; both sides the minimum over "
              f"{args.rounds} interleaved rounds ({args.reps} runs per round for PyTorch, 3 repetitions for fs)")
    else:
        fs = fs_times(args.fs_json) if args.fs_json else {}
        conv, attn = bench_conv(args.reps), bench_attention(args.reps)
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.reps}")

    def side(kind, name, t_pt, f):
        key = f"{kind}/{name}/cpu"
        if key not in fs:
            return f"| {t_pt * 1e3:.2f} | {f / t_pt * 1e-9:.0f} | | | |"
        t_fs = fs[key]
        return (f"| {t_pt * 1e3:.2f} | {f / t_pt * 1e-9:.0f} | {t_fs * 1e3:.2f} | {f / t_fs * 1e-9:.0f} "
                f"| {t_pt / t_fs:.2f}x |")

    print("\n| case | pass | PyTorch ms | PyTorch GFLOP/s | fs ms | fs GFLOP/s | fs speed-up |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for op, rows in (("conv2d", conv), ("attention", attn)):
        for name, (fwd, bwd, f) in rows.items():
            print(f"| {op} {name} | forward " + side(f"{op}/forward", name, fwd, f))
            print(f"| {op} {name} | backward " + side(f"{op}/backward", name, bwd, 2 * f))
    if fs:  # issue 3's per-layer criterion: forward + backward against PyTorch's
        print("\n| case | PyTorch fwd+bwd ms | fs fwd+bwd ms | fs speed-up |")
        print("| --- | --- | --- | --- |")
        for op, rows in (("conv2d", conv), ("attention", attn)):
            for name, (fwd, bwd, f) in rows.items():
                kf, kb = f"{op}/forward/{name}/cpu", f"{op}/backward/{name}/cpu"
                if kf in fs and kb in fs:
                    t_pt, t_fs = fwd + bwd, fs[kf] + fs[kb]
                    print(f"| {op} {name} | {t_pt * 1e3:.2f} | {t_fs * 1e3:.2f} | {t_pt / t_fs:.2f}x |")
    for name, (t, f) in bench_gemm(args.reps).items():
        print(f"| {name} | forward | {t * 1e3:.2f} | {f / t * 1e-9:.0f} | | | |")


if __name__ == "__main__":
    main()
