// gradcheck.h: the finite-difference gradient check every registered op goes through (tests/test_ops.cpp),
// and the input builder shared with the benchmarks.
#pragma once
#include <random>
#include <string>

#include "autograd/op_spec.h"

namespace fs {

/// Builds the inputs of a test case: uniform values in the spec's range, |x| >= min_abs where asked, and for
/// `strided` inputs a view taking every other element of the last axis of a twice-as-wide buffer.
std::vector<Tensor> make_case_inputs(const std::vector<InputSpec>& specs, DType dtype, std::mt19937_64& rng);

struct GradcheckOptions {
    double eps = 1e-6;        ///< central-difference step (double precision)
    double atol = 1e-5;       ///< |analytic - numeric| <= atol + rtol·|numeric| (torch.autograd.gradcheck's
    double rtol = 1e-3;       ///< defaults, which double precision meets with margin)
    int64_t max_elems = 400;  ///< per input; larger inputs are checked on a seeded random subset
    uint64_t seed = 1234;
};

struct GradcheckResult {
    bool ok = true;
    int64_t checked = 0, skipped_kinks = 0;
    double max_abs_err = 0;
    std::string report;  ///< the first mismatches, with input index, element and both values
};

/// Checks an op's backward against central differences of L = Σ_k Σ out_k ⊙ R_k, with R_k fixed random
/// tensors (never all ones, which hides permutation bugs). For k_op_kinked ops, elements whose one-sided
/// differences disagree (a kink inside ±eps) are skipped and counted; more than 5 % skipped fails.
GradcheckResult gradcheck(const OpSpec& spec, const TestCase& tc, const GradcheckOptions& opt = {});

}  // namespace fs
