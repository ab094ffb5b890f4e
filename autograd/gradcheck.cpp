// gradcheck.cpp: central-difference gradient check over an op's test case, in double precision.
#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "autograd/tape.h"

namespace fs {

std::vector<Tensor> make_case_inputs(const std::vector<InputSpec>& specs, DType dtype, std::mt19937_64& rng) {
    std::vector<Tensor> in;
    for (const InputSpec& s : specs) {
        Shape full = s.shape;
        if (s.strided) {
            FS_CHECK(!full.empty(), "make_case_inputs: a strided input needs rank >= 1");
            full.back() *= 2;
        }
        Tensor t = Tensor::uniform(full, s.lo, s.hi, rng, DType::f64);
        if (s.min_abs > 0) {  // push values out of (-min_abs, min_abs), keeping the sign
            double* p = t.data<double>();
            for (int64_t i = 0; i < t.numel(); ++i)
                if (std::fabs(p[i]) < s.min_abs) p[i] = p[i] < 0 ? p[i] - s.min_abs : p[i] + s.min_abs;
        }
        t = t.to(dtype);
        if (s.strided) t = t.slice(-1, 0, full.back(), 2);
        in.push_back(t);
    }
    return in;
}

namespace {

// L = Σ_k Σ out_k ⊙ R_k, accumulated in double.
double weighted_sum(const std::vector<Tensor>& out, const std::vector<Tensor>& R) {
    double L = 0;
    for (size_t k = 0; k < out.size(); ++k) {
        std::vector<double> o = out[k].to_vector(), r = R[k].to_vector();
        for (size_t i = 0; i < o.size(); ++i) L += o[i] * r[i];
    }
    return L;
}

double eval_loss(const OpSpec& spec, const std::vector<Tensor>& in, const std::any& attrs, const std::vector<Tensor>& R) {
    NoGradGuard ng;
    return weighted_sum(spec.forward(in, attrs), R);
}

// The storage offset of linear element i of a (possibly strided) tensor.
int64_t element_offset(const Tensor& t, int64_t i) {
    int64_t off = t.offset();
    for (size_t d = t.shape().size(); d-- > 0;) {
        int64_t n = t.shape()[d];
        off += (i % n) * t.strides()[d];
        i /= n;
    }
    return off;
}

}  // namespace

GradcheckResult gradcheck(const OpSpec& spec, const TestCase& tc, const GradcheckOptions& opt) {
    GradcheckResult res;
    std::ostringstream rep;
    std::mt19937_64 rng(opt.seed);
    std::vector<Tensor> in = make_case_inputs(tc.inputs, DType::f64, rng);
    std::vector<Tensor> before;
    for (const Tensor& t : in) before.push_back(t.clone());

    std::vector<Tensor> out;
    {
        NoGradGuard ng;
        out = spec.forward(in, tc.attrs);
    }
    std::vector<Tensor> R, dout, detached;
    for (const Tensor& o : out) {
        R.push_back(Tensor::uniform(o.shape(), -1.0, 1.0, rng, DType::f64));  // fixed random upstream gradient
        dout.push_back(R.back());
        detached.push_back(o.detach());
    }
    std::vector<bool> needs;
    for (const InputSpec& s : tc.inputs) needs.push_back(s.grad);
    std::vector<Tensor> din = spec.backward({in, detached, dout, needs, tc.attrs});
    FS_CHECK(din.size() == in.size(), spec.name, "/", tc.name, ": backward returned ", din.size(), " gradients for ",
             in.size(), " inputs");
    for (size_t i = 0; i < in.size(); ++i) {
        if (!in[i].defined() || max_abs_diff(in[i], before[i]) != 0) {
            res.ok = false;
            rep << "input " << i << " was modified by forward/backward\n";
        }
    }

    const bool kinked = spec.flags & k_op_kinked;
    int mismatches = 0;
    for (size_t i = 0; i < in.size(); ++i) {
        if (!needs[i]) continue;
        if (!din[i].defined() || din[i].shape() != in[i].shape()) {
            res.ok = false;
            rep << "input " << i << ": gradient " << din[i].str() << " for input " << in[i].str() << "\n";
            continue;
        }
        std::vector<double> analytic = din[i].to_vector();
        int64_t n = in[i].numel();
        std::vector<int64_t> idx(static_cast<size_t>(n));
        std::iota(idx.begin(), idx.end(), 0);
        if (n > opt.max_elems) {  // seeded random subset
            std::shuffle(idx.begin(), idx.end(), rng);
            idx.resize(size_t(opt.max_elems));
        }
        double* base = static_cast<double*>(in[i].storage()->data());
        double L0 = kinked ? eval_loss(spec, in, tc.attrs, R) : 0;
        for (int64_t e : idx) {
            double& x = base[element_offset(in[i], e)];
            const double x0 = x;
            x = x0 + opt.eps;
            double Lp = eval_loss(spec, in, tc.attrs, R);
            x = x0 - opt.eps;
            double Lm = eval_loss(spec, in, tc.attrs, R);
            x = x0;
            double num = (Lp - Lm) / (2 * opt.eps);
            if (kinked) {
                double fwd = (Lp - L0) / opt.eps, bwd = (L0 - Lm) / opt.eps;
                if (std::fabs(fwd - bwd) > opt.atol + opt.rtol * std::fabs(num)) {
                    ++res.skipped_kinks;
                    continue;
                }
            }
            double a = analytic[size_t(e)], err = std::fabs(a - num);
            ++res.checked;
            res.max_abs_err = std::max(res.max_abs_err, err);
            if (!(err <= opt.atol + opt.rtol * std::fabs(num))) {
                res.ok = false;
                if (mismatches++ < 5)
                    rep << "input " << i << " element " << e << ": analytic " << a << " numeric " << num << "\n";
            }
        }
    }
    int64_t total = res.checked + res.skipped_kinks;
    if (res.skipped_kinks * 20 > total) {
        res.ok = false;
        rep << res.skipped_kinks << " of " << total << " elements sat on a kink (more than 5%): the test case's "
            << "inputs should keep away from the op's non-differentiable points\n";
    }
    if (res.checked == 0 && std::count(needs.begin(), needs.end(), true) > 0) {
        res.ok = false;
        rep << "no element was checked\n";
    }
    if (mismatches > 5) rep << "... " << mismatches - 5 << " more mismatches\n";
    res.report = rep.str();
    return res;
}

}  // namespace fs
