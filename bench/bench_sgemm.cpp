// bench_sgemm.cpp: fs::sgemm throughput (GFLOPS = 2·M·N·K per second of wall time) on square sizes and on the
// GEMM shapes of the faceswap-GAN model, with Eigen's GEMM on the same problem for comparison. Read the GFLOPS
// column against BM_peak_fma_fp32 from the same run (bench_peak.cpp). This file is compiled with -march=native
// (and OpenMP, when found) so that Eigen, a header library, gets the machine's vector ISA and threads; fs::sgemm
// lives in fs_core and picks its kernel at run time, so the flag does not touch it.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/thread_pool.h"
#include "kernels/sgemm.h"

namespace {

// The pool size before any benchmark capped it (the machine's cores, or FS_NUM_THREADS).
int default_threads() {
    static const int n = fs::num_threads();
    return n;
}

struct Problem {
    int64_t M, N, K;
    std::vector<float> a, b, c;
    Problem(int64_t m, int64_t n, int64_t k)
        : M(m),
          N(n),
          K(k),
          a(static_cast<size_t>(m * k)),
          b(static_cast<size_t>(k * n)),
          c(static_cast<size_t>(m * n), 0.0f) {
        std::mt19937 rng(7);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (float& x : a) x = u(rng);
        for (float& x : b) x = u(rng);
    }
    double flops() const { return 2.0 * double(M) * double(N) * double(K); }
};

void report(benchmark::State& state, const Problem& p, int threads) {
    state.counters["GFLOPS"] =
        benchmark::Counter(p.flops() * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
    state.SetLabel(std::string(fs::sgemm_kernel_name(fs::sgemm_kernel_in_use())) + " " + std::to_string(threads) + "T");
}

// C (M,N) = op(A) · op(B), beta 0, on `threads` threads (Args: M, N, K, threads with 0 = all). op(A) (M,K) is
// stored K×M when transposed, op(B) (K,N) stored N×K; the packs read them that way.
void run_sgemm(benchmark::State& state, bool ta, bool tb) {
    Problem p(state.range(0), state.range(1), state.range(2));
    const int threads = state.range(3) > 0 ? int(state.range(3)) : default_threads();
    fs::set_num_threads(threads);
    for (auto _ : state) {
        fs::sgemm(ta, tb, p.M, p.N, p.K, 1.0f, p.a.data(), ta ? p.M : p.K, p.b.data(), tb ? p.K : p.N, 0.0f,
                  p.c.data(), p.N);
        benchmark::DoNotOptimize(p.c.data());
        benchmark::ClobberMemory();
    }
    fs::set_num_threads(default_threads());
    report(state, p, threads);
}

// A (M,K) · B (K,N), all row-major and contiguous. Args: M, N, K, threads.
void BM_sgemm(benchmark::State& state) { run_sgemm(state, false, false); }

// The transposes of the conv backward passes. Args: M, N, K, threads, trans_a, trans_b.
void BM_sgemm_transposed(benchmark::State& state) { run_sgemm(state, state.range(4) != 0, state.range(5) != 0); }

// The same product through Eigen (row-major maps over the same buffers). Args: M, N, K, threads.
void BM_eigen_sgemm(benchmark::State& state) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Problem p(state.range(0), state.range(1), state.range(2));
    const int threads = state.range(3) > 0 ? int(state.range(3)) : default_threads();
    Eigen::setNbThreads(threads);
    Eigen::Map<const RowMajor> a(p.a.data(), p.M, p.K), b(p.b.data(), p.K, p.N);
    Eigen::Map<RowMajor> c(p.c.data(), p.M, p.N);
    for (auto _ : state) {
        c.noalias() = a * b;
        benchmark::DoNotOptimize(p.c.data());
        benchmark::ClobberMemory();
    }
    state.counters["GFLOPS"] =
        benchmark::Counter(p.flops() * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
    state.SetLabel("eigen " + std::to_string(Eigen::nbThreads()) + "T");
}

}  // namespace

// Square sizes on every core, then 1024³ on one core (compare with BM_peak_fma_fp32/1).
BENCHMARK(BM_sgemm)
    ->ArgNames({"M", "N", "K", "T"})
    ->Args({256, 256, 256, 0})
    ->Args({512, 512, 512, 0})
    ->Args({1024, 1024, 1024, 0})
    ->Args({2048, 2048, 2048, 0})
    ->Args({1024, 1024, 1024, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// faceswap-GAN's GEMMs at batch 8. Convolutions as im2col: M = OC, N = batch·Ho·Wo, K = C·KH·KW.
//   3x3 64->128 (64x64 in, stride 2 -> 32x32):  M=128,  N=8·32·32=8192, K=64·9=576
//   3x3 256->512 (16x16 -> 8x8):                M=512,  N=8·8·8=512,    K=256·9=2304
//   3x3 512->1024 (8x8, same):                  M=1024, N=8·8·8=512,    K=512·9=4608
//   dense 16384->1024 at batch 8:               M=8,    N=1024,         K=16384 (reads 64 MiB of weights)
BENCHMARK(BM_sgemm)
    ->Name("BM_sgemm_model")
    ->ArgNames({"M", "N", "K", "T"})
    ->Args({128, 8192, 576, 0})
    ->Args({512, 512, 2304, 0})
    ->Args({1024, 512, 4608, 0})
    ->Args({8, 1024, 16384, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One image of the 3x3/s2 64->128 conv's backward on one thread (the image-per-thread path): the weight gradient
// dW (128, 576) = dy (128, 1024) · colᵀ and the data gradient dcol (576, 1024) = Wᵀ · dy.
BENCHMARK(BM_sgemm_transposed)
    ->ArgNames({"M", "N", "K", "T", "tA", "tB"})
    ->Args({128, 576, 1024, 1, 0, 1})
    ->Args({576, 1024, 128, 1, 1, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_eigen_sgemm)
    ->ArgNames({"M", "N", "K", "T"})
    ->Args({1024, 1024, 1024, 0})
    ->Args({1024, 1024, 1024, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
