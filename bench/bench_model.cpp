// bench_model.cpp: whole-model figures: one faceswap-GAN training iteration (D_A, D_B, G_A, G_B steps, no
// perceptual loss) at batch 8, and the generator's inference (encoder + decoder) at batch 1, the converter's
// per-face cost. Inputs are random batches: this measures compute, not the data pipeline.
#include <benchmark/benchmark.h>

#include "faceswap/gan.h"

using namespace fs;

namespace {

ModelConfig config(bool lite) {
    ModelConfig c;
    c.capacity = lite ? Capacity::lite : Capacity::standard;
    return c;
}

GanBatch batch(std::mt19937_64& rng, int n) {
    return {Tensor::uniform({n, 3, 64, 64}, -1, 1, rng), Tensor::uniform({n, 3, 64, 64}, -1, 1, rng), Tensor()};
}

void BM_train_iteration(benchmark::State& st) {
    const bool lite = st.range(0) == 1;
    const int n = int(st.range(1));
    GanTrainer t(config(lite), Schedule::faithful(), GanOptions{}, 1);
    std::mt19937_64 rng(1);
    GanBatch a1 = batch(rng, n), b1 = batch(rng, n), a2 = batch(rng, n), b2 = batch(rng, n);
    t.step(a1, b1, a2, b2);  // warm-up: first-touch allocations
    for (auto _ : st) t.step(a1, b1, a2, b2);
    st.SetLabel(std::string(lite ? "lite" : "standard") + " 64, batch " + std::to_string(n));
}

void BM_generator_inference(benchmark::State& st) {
    const bool lite = st.range(0) == 1;
    FaceSwapModel m(config(lite));
    std::mt19937_64 rng(2);
    Tensor x = Tensor::uniform({1, 3, 64, 64}, -1, 1, rng);
    NoGradGuard ng;
    for (auto _ : st) {
        DecoderOut o = m.decoder_b->forward(m.encoder->forward(x));
        benchmark::DoNotOptimize(o.bgr.storage()->data());
    }
    st.counters["faces/s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
    st.SetLabel(lite ? "lite 64" : "standard 64");
}

}  // namespace

BENCHMARK(BM_train_iteration)->Args({0, 8})->Args({1, 8})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_generator_inference)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
