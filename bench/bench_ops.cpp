// bench_ops.cpp: registers a forward and a backward benchmark for every op's perf cases at startup, from the
// registry; a new op gets its benchmarks without touching this file. Reports GFLOPS for ops with a flops()
// and bytes/s (inputs + outputs once) for all; compare with BM_peak_fma_fp32 in the same run.
#include <benchmark/benchmark.h>

#include <string>

#include "autograd/gradcheck.h"
#include "autograd/registry.h"
#include "autograd/tape.h"

using namespace fs;

namespace {

double io_bytes(const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
    double b = 0;
    for (const Tensor& t : in) b += double(t.numel()) * double(dtype_size(t.dtype()));
    for (const Tensor& t : out) b += double(t.numel()) * double(dtype_size(t.dtype()));
    return b;
}

void run_case(benchmark::State& state, const OpSpec* spec, const PerfCase& pc, bool bwd) {
    std::mt19937_64 rng(1);
    std::vector<Tensor> in = make_case_inputs(pc.inputs, DType::f32, rng);
    NoGradGuard ng;
    std::vector<Tensor> out = spec->forward(in, pc.attrs), dout, det;
    for (const Tensor& o : out) {
        dout.push_back(Tensor::uniform(o.shape(), -1, 1, rng));
        det.push_back(o.detach());
    }
    std::vector<bool> needs;
    for (const InputSpec& s : pc.inputs) needs.push_back(s.grad);
    for (auto _ : state) {
        if (bwd) {
            auto g = spec->backward({in, det, dout, needs, pc.attrs});
            benchmark::DoNotOptimize(g.data());
        } else {
            auto o = spec->forward(in, pc.attrs);
            benchmark::DoNotOptimize(o.data());
        }
    }
    double it = double(state.iterations());
    if (spec->flops) {
        // Backward of a linear op costs about twice its forward (one product per input gradient).
        double f = spec->flops(in, pc.attrs) * (bwd ? 2.0 : 1.0);
        state.counters["GFLOPS"] = benchmark::Counter(f * it * 1e-9, benchmark::Counter::kIsRate);
    }
    state.SetBytesProcessed(int64_t(io_bytes(in, out) * (bwd ? 2.0 : 1.0) * it));
}

const bool k_registered = [] {
    for (const OpSpec* spec : op_registry()) {
        if (spec->flags & k_op_view) continue;
        for (const PerfCase& pc : spec->perf_cases()) {
            for (bool bwd : {false, true}) {
                std::string name = std::string(spec->name) + (bwd ? "/backward/" : "/forward/") + pc.name + "/cpu";
                benchmark::RegisterBenchmark(name.c_str(), [spec, pc, bwd](benchmark::State& st) {
                    run_case(st, spec, pc, bwd);
                })->Unit(benchmark::kMillisecond)->UseRealTime();
            }
        }
    }
    return true;
}();

}  // namespace

BENCHMARK_MAIN();
