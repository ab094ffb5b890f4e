// tape.h: reverse-mode autograd.
// apply() runs an op's forward and, when gradients are on and an input requires them, records a Node that
// keeps the inputs and (detached) outputs. backward(loss) walks the recorded nodes in reverse topological
// order, calls each op's backward and accumulates: a tensor used twice receives the sum of both gradients;
// leaves (parameters) accumulate into .grad() across backward calls until zero_grad().
// A graph is consumed by its backward (its saved tensors are released); a second backward through it throws.
#pragma once
#include <any>
#include <string>
#include <memory>
#include <vector>

#include "autograd/op_spec.h"

namespace fs {

struct Node {
    const OpSpec* spec = nullptr;
    std::vector<Tensor> inputs;   // as given to forward (keeps the graph above alive)
    std::vector<Tensor> outputs;  // detached outputs (no cycle back to this node)
    std::any attrs;
    bool released = false;
};

/// True when operations record the graph (the default); thread-local.
bool grad_enabled();

/// Disables recording for its lifetime (inference, optimiser steps); nests.
class NoGradGuard {
 public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
    bool m_prev;
};

/// Runs `spec` on `inputs` and records it on the tape when needed. Checks the input count, dtypes and devices.
std::vector<Tensor> apply(const OpSpec& spec, const std::vector<Tensor>& inputs, const std::any& attrs = {});
/// apply() for single-output ops.
Tensor apply1(const OpSpec& spec, const std::vector<Tensor>& inputs, const std::any& attrs = {});

/// Back-propagates from `root`. With no `grad`, root must hold one element and the seed is 1.
void backward(const Tensor& root, const Tensor& grad = Tensor());

/// Per-op time accounting for apply() and backward(), switched on by FS_PROFILE=1 in the environment or
/// set_profiling(true); FS_PROFILE=shapes splits each op by its input shapes. profile_report() lists ops by total
/// time; profile_reset() clears the counters. profile_record() lets non-op work (the optimizer step) show up too.
void set_profiling(bool on);
bool profiling();
std::string profile_report();
void profile_reset();
void profile_record(const std::string& name, double seconds);

/// a += b elementwise (same shape, contiguous a); used for gradient accumulation.
void accumulate_into(Tensor& a, const Tensor& b);

}  // namespace fs
