// bench_peak.cpp: this machine's FP32 FMA peak, measured in the same binary as the op benchmarks so every
// GFLOP/s figure can be read as a fraction of it. AVX-512 (16 lanes) when the CPU has it, else AVX2+FMA
// (8 lanes). 12 independent accumulators hide the 4-cycle FMA latency on 2 ports (needs >= 8).
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

constexpr int k_iters = 1 << 20;

__attribute__((target("avx512f"))) float fma_loop_avx512(float seed) {
    __m512 a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(seed + float(i));
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int it = 0; it < k_iters; ++it)
        for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
    float out[16];  // (not _mm512_reduce_add_ps: GCC 12 warns inside it, -Werror)
    _mm512_storeu_ps(out, s);
    return out[0] + out[15];
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(float seed) {
    __m256 a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(seed + float(i));
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int it = 0; it < k_iters; ++it)
        for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

bool have_avx512() { return __builtin_cpu_supports("avx512f"); }

// flops of one call: iterations × accumulators × lanes × 2 (multiply and add)
double flops_per_call() { return double(k_iters) * 12 * (have_avx512() ? 16 : 8) * 2; }

float run_one(float seed) { return have_avx512() ? fma_loop_avx512(seed) : fma_loop_avx2(seed); }

void BM_peak_fma_fp32(benchmark::State& state) {
    const int threads = int(state.range(0));
    for (auto _ : state) {
        std::vector<std::thread> pool;
        std::vector<float> sink(static_cast<size_t>(threads));
        for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink[size_t(t)] = run_one(float(t)); });
        for (auto& th : pool) th.join();
        benchmark::DoNotOptimize(sink.data());
    }
    state.counters["GFLOPS"] = benchmark::Counter(flops_per_call() * threads * double(state.iterations()) * 1e-9,
                                                  benchmark::Counter::kIsRate);
    state.SetLabel(have_avx512() ? "avx512" : "avx2");
}

}  // namespace

BENCHMARK(BM_peak_fma_fp32)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
