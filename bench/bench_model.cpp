// bench_model.cpp: whole-model figures: one faceswap-GAN training iteration (D_A, D_B, G_A, G_B steps) at batch
// 8, without and with the perceptual loss (the face-api recognition ResNet, on in every phase after the first),
// the perceptual term alone, and the generator's inference (encoder + decoder) at batch 1, the converter's
// per-face cost. Inputs are random batches: this measures compute, not the data pipeline.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <cstdio>
#include <memory>

#include "faceswap/gan.h"
#include "faceswap/perceptual.h"
#include "autograd/tape.h"
#include "layers/adam.h"
#include "autograd/functional.h"

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

long minor_faults() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

void BM_train_iteration(benchmark::State& st) {
    const bool lite = st.range(0) == 1;
    const int n = int(st.range(1));
    GanTrainer t(config(lite), Schedule::faithful(), GanOptions{}, 1);
    std::mt19937_64 rng(1);
    GanBatch a1 = batch(rng, n), b1 = batch(rng, n), a2 = batch(rng, n), b2 = batch(rng, n);
    t.step(a1, b1, a2, b2);  // warm-up: first-touch allocations
    profile_reset();
    const long faults0 = minor_faults();
    for (auto _ : st) t.step(a1, b1, a2, b2);
    // fresh pages the kernel had to zero during the timed iterations (allocations the cache did not serve)
    st.counters["page_faults_per_iter"] = double(minor_faults() - faults0) / double(st.iterations());
    st.SetLabel(std::string(lite ? "lite" : "standard") + " 64, batch " + std::to_string(n));
    // FS_PROFILE=1: where the timed iterations went, per op (autograd/tape.h)
    if (profiling())
        std::fprintf(stderr, "BM_train_iteration (%s): per-op profile of the timed iterations\n%s",
                     lite ? "lite" : "standard", profile_report().c_str());
}

// The face-api net from the models search path (the shared data folder in a source checkout), or null.
std::shared_ptr<const FaceRecognitionNet> faceapi_net(benchmark::State& st) {
    try {
        return std::make_shared<const FaceRecognitionNet>(FaceRecognitionNet::load_default());
    } catch (const Error& e) {
        st.SkipWithError(e.what());
        return nullptr;
    }
}

// The iteration of a PL phase: a one-phase schedule with the perceptual loss on from iteration 0 (the λ draw
// and everything else as in training). The difference to BM_train_iteration is the term's added cost.
void BM_train_iteration_perceptual(benchmark::State& st) {
    const bool lite = st.range(0) == 1;
    const int n = int(st.range(1));
    auto net = faceapi_net(st);
    if (!net) return;
    Schedule s = Schedule::faithful();
    Phase pl = s.phases[1];  // "T/5: perceptual loss on", moved to iteration 0
    pl.num = 0;
    s.phases = {pl};
    GanOptions opt;
    opt.perceptual = make_faceapi_perceptual_loss(net, opt.weights.w_pl);
    GanTrainer t(config(lite), s, opt, 1);
    std::mt19937_64 rng(1);
    GanBatch a1 = batch(rng, n), b1 = batch(rng, n), a2 = batch(rng, n), b2 = batch(rng, n);
    StepLosses l = t.step(a1, b1, a2, b2);  // warm-up
    if (!(l.g_a.pl > 0)) st.SkipWithError("the perceptual loss did not run");
    for (auto _ : st) t.step(a1, b1, a2, b2);
    st.SetLabel(std::string(lite ? "lite" : "standard") + " 64, batch " + std::to_string(n) + ", with perceptual loss");
}

// The perceptual term alone, as one generator step uses it: L_PL(p, y) forward and backward to p, batch n at
// 64 px (a training iteration runs it twice, for G_A and G_B).
void BM_perceptual_term(benchmark::State& st) {
    const int n = int(st.range(0));
    auto net = faceapi_net(st);
    if (!net) return;
    std::mt19937_64 rng(3);
    Tensor y = Tensor::uniform({n, 3, 64, 64}, -1, 1, rng);
    Tensor p = Tensor::uniform({n, 3, 64, 64}, -1, 1, rng).set_requires_grad(true);
    const std::array<double, 4> w = {0.01, 0.1, 0.3, 0.1};
    for (auto _ : st) {
        p.zero_grad();
        backward(faceapi_perceptual_loss(*net, p, y, w));
        benchmark::DoNotOptimize(p.grad().storage()->data());
    }
    st.SetLabel("batch " + std::to_string(n) + " at 64 px, forward + backward to the input");
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

// One generator Adam step (encoder + one decoder: what G_A's optimiser updates each iteration) with every gradient
// present. Memory-bound: 7 floats move per parameter (p, g, m, v read; p, m, v written).
void BM_adam_generator_step(benchmark::State& st) {
    const bool lite = st.range(0) == 1;
    FaceSwapModel m(config(lite));
    NamedTensors params = m.encoder->named_parameters();
    for (auto& nt : m.decoder_a->named_parameters()) params.push_back(nt);
    Tensor loss;
    for (auto& [name, p] : params) loss = loss.defined() ? add(loss, sum_squares(p)) : sum_squares(p);
    backward(loss);
    Adam opt(params, AdamConfig{});
    int64_t n = 0;
    for (auto& [name, p] : params) n += p.numel();
    for (auto _ : st) opt.step();
    st.counters["params"] = double(n);
    st.counters["GB/s"] = benchmark::Counter(double(n) * 7 * 4 * double(st.iterations()) / 1e9,
                                             benchmark::Counter::kIsRate);
    st.SetLabel(lite ? "lite 64" : "standard 64");
}

}  // namespace

BENCHMARK(BM_adam_generator_step)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_train_iteration)->Args({0, 8})->Args({1, 8})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_train_iteration_perceptual)->Args({0, 8})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_perceptual_term)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_generator_inference)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
