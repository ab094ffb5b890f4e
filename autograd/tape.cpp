// tape.cpp: apply(), backward() and the grad-mode switch.
#include "autograd/tape.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "kernels/cpu/thread_pool.h"

namespace fs {

namespace {
thread_local bool t_grad_enabled = true;

// --- profiling ---
// FS_PROFILE=1: per op; FS_PROFILE=shapes: per op and input shapes (to find which layer a cost belongs to).
std::atomic<int>& profile_flag() {
    static std::atomic<int> f([] {
        const char* e = std::getenv("FS_PROFILE");
        if (!e) return 0;
        if (std::strcmp(e, "1") == 0) return 1;
        return std::strcmp(e, "shapes") == 0 ? 2 : 0;
    }());
    return f;
}
std::string profile_key(const char* op, const std::vector<Tensor>& inputs) {
    if (profile_flag() < 2) return op;
    std::string k = op;
    for (const Tensor& t : inputs) k += " " + shape_str(t.shape());
    return k;
}
struct ProfileEntry {
    double fwd_s = 0, bwd_s = 0;
    int64_t fwd_n = 0, bwd_n = 0;
};
std::mutex g_profile_mutex;
std::map<std::string, ProfileEntry>& profile_table() {
    static std::map<std::string, ProfileEntry> t;
    return t;
}
void profile_add(const std::string& op, bool bwd, double s) {
    std::lock_guard<std::mutex> lock(g_profile_mutex);
    ProfileEntry& e = profile_table()[op];
    (bwd ? e.bwd_s : e.fwd_s) += s;
    ++(bwd ? e.bwd_n : e.fwd_n);
}
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

void set_profiling(bool on) { profile_flag() = on ? std::max(1, profile_flag().load()) : 0; }
bool profiling() { return profile_flag() > 0; }
void profile_record(const std::string& name, double seconds) { profile_add(name, false, seconds); }
void profile_reset() {
    std::lock_guard<std::mutex> lock(g_profile_mutex);
    profile_table().clear();
}
std::string profile_report() {
    std::lock_guard<std::mutex> lock(g_profile_mutex);
    std::vector<std::pair<std::string, ProfileEntry>> rows(profile_table().begin(), profile_table().end());
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) {
        return a.second.fwd_s + a.second.bwd_s > b.second.fwd_s + b.second.bwd_s;
    });
    double total = 0;
    for (auto& r : rows) total += r.second.fwd_s + r.second.bwd_s;
    int width = 18;
    for (auto& r : rows) width = std::max(width, int(r.first.size()));
    std::ostringstream os;
    std::vector<char> storage(size_t(width) + 80);
    char* buf = storage.data();
    std::snprintf(buf, storage.size(), "%-*s %10s %8s %10s %8s %7s\n", width, "op", "fwd ms", "calls", "bwd ms",
                  "calls", "share");
    os << buf;
    for (auto& [name, e] : rows) {
        std::snprintf(buf, storage.size(), "%-*s %10.1f %8lld %10.1f %8lld %6.1f%%\n", width, name.c_str(),
                      e.fwd_s * 1e3, (long long)e.fwd_n, e.bwd_s * 1e3, (long long)e.bwd_n,
                      total > 0 ? 100.0 * (e.fwd_s + e.bwd_s) / total : 0.0);
        os << buf;
    }
    return os.str();
}

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : m_prev(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = m_prev; }

std::vector<Tensor> apply(const OpSpec& spec, const std::vector<Tensor>& inputs, const std::any& attrs) {
    int n = int(inputs.size());
    FS_CHECK(n >= spec.n_in_min && (spec.n_in_max < 0 || n <= spec.n_in_max), spec.name, ": got ", n,
             " inputs, expects ", spec.n_in_min, spec.n_in_max < 0 ? " or more" : "..",
             spec.n_in_max < 0 ? "" : std::to_string(spec.n_in_max));
    for (int i = 0; i < n; ++i) FS_CHECK(inputs[size_t(i)].defined(), spec.name, ": input ", i, " is undefined");
    check_same_dtype_device(inputs, spec.name);
    const bool prof = profiling();
    auto t0 = prof ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    std::vector<Tensor> out = spec.forward(inputs, attrs);
    if (prof) profile_add(profile_key(spec.name, inputs), false, seconds_since(t0));

    bool record = false;
    if (t_grad_enabled)
        for (const Tensor& t : inputs) record = record || t.requires_grad();
    if (!record) return out;

    auto node = std::make_shared<Node>();
    node->spec = &spec;
    node->inputs = inputs;
    node->attrs = attrs;
    for (size_t k = 0; k < out.size(); ++k) {
        node->outputs.push_back(out[k].detach());
        // View outputs get a fresh handle too, so marking them does not touch the input's own state.
        Tensor o = out[k].detach();
        o.impl()->requires_grad = true;
        o.impl()->grad_fn = node;
        o.impl()->output_nr = int(k);
        out[k] = o;
    }
    return out;
}

Tensor apply1(const OpSpec& spec, const std::vector<Tensor>& inputs, const std::any& attrs) {
    std::vector<Tensor> out = apply(spec, inputs, attrs);
    FS_CHECK(out.size() == 1, spec.name, ": apply1 used on an op with ", out.size(), " outputs");
    return out[0];
}

void accumulate_into(Tensor& a, const Tensor& b) {
    FS_CHECK(a.shape() == b.shape(), "gradient accumulation: shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()));
    FS_CHECK(a.is_contiguous() && a.dtype() == b.dtype(), "gradient accumulation: ", a.str(), " += ", b.str());
    const bool prof = profiling();
    const auto t0 = prof ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    Tensor bc = b.contiguous();
    int64_t n = a.numel();
    dispatch_float(a.dtype(), "gradient accumulation", [&](auto tag) {
        using T = decltype(tag);
        T* pa = a.data<T>();
        const T* pb = bc.data<T>();
        // Each element is independent, so splitting over the threads gives bitwise the one-pass result.
        constexpr int64_t k_grain = int64_t(1) << 16;
        const int64_t chunks = (n + k_grain - 1) / k_grain;
        auto run = [&](int64_t c0, int64_t c1) {
            for (int64_t i = c0 * k_grain, e = std::min(n, c1 * k_grain); i < e; ++i) pa[i] += pb[i];
        };
        if (chunks <= 1) run(0, chunks);
        else parallel_for(chunks, run);
        return 0;
    });
    if (prof) profile_add("(gradient accumulation)", true, seconds_since(t0));
}

void backward(const Tensor& root, const Tensor& grad) {
    FS_CHECK(root.defined(), "backward: root is undefined");
    FS_CHECK(root.requires_grad(), "backward: ", root.str(), " does not require grad (no input needed one, or it "
             "was computed under NoGradGuard)");
    Tensor seed;
    if (grad.defined()) {
        FS_CHECK(grad.shape() == root.shape(), "backward: seed gradient ", grad.str(), " for root ", root.str());
        seed = grad.to(root.dtype()).clone();
    } else {
        FS_CHECK(root.numel() == 1, "backward: root ", root.str(), " is not a scalar; pass a seed gradient");
        seed = Tensor::full(root.shape(), 1.0, root.dtype());
    }
    if (!root.grad_fn()) {  // a leaf: its gradient is the seed
        Tensor& g = root.impl()->grad;
        if (!g.defined()) g = seed;
        else accumulate_into(g, seed);
        return;
    }

    FS_CHECK(!root.grad_fn()->released, "backward: the graph of ", root.str(), " (op '", root.grad_fn()->spec->name,
             "') was already used by a backward pass (its saved tensors are freed)");
    // Topological order by iterative DFS (graphs can be deep: no recursion).
    // `order` owns the nodes: releasing a node's inputs below must not free nodes still waiting their turn.
    std::vector<std::shared_ptr<Node>> order;
    std::unordered_set<Node*> seen;
    std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack = {{root.grad_fn(), 0}};
    seen.insert(root.grad_fn().get());
    while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next < node->inputs.size()) {
            const Tensor& in = node->inputs[next++];
            const std::shared_ptr<Node>& child = in.grad_fn();
            if (child && seen.insert(child.get()).second) stack.push_back({child, 0});
        } else {
            order.push_back(std::move(node));
            stack.pop_back();
        }
    }
    // order is post-order (inputs before users); walk it backwards.
    std::unordered_map<Node*, std::vector<Tensor>> douts;
    douts[root.grad_fn().get()].resize(root.grad_fn()->outputs.size());
    douts[root.grad_fn().get()][size_t(root.impl()->output_nr)] = seed;

    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        Node* node = it->get();
        FS_CHECK(!node->released, "backward: the graph through op '", node->spec->name,
                 "' was already used by a backward pass (its saved tensors are freed)");
        std::vector<Tensor>& dout = douts[node];
        dout.resize(node->outputs.size());
        for (size_t k = 0; k < dout.size(); ++k)
            if (!dout[k].defined()) dout[k] = Tensor::zeros(node->outputs[k].shape(), node->outputs[k].dtype());
        std::vector<bool> needs(node->inputs.size());
        bool any = false;
        for (size_t i = 0; i < needs.size(); ++i) {
            needs[i] = node->inputs[i].requires_grad();
            any = any || needs[i];
        }
        if (any) {
            const bool prof = profiling();
            auto t0 = prof ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
            std::vector<Tensor> din = node->spec->backward({node->inputs, node->outputs, dout, needs, node->attrs});
            if (prof) profile_add(profile_key(node->spec->name, node->inputs), true, seconds_since(t0));
            FS_CHECK(din.size() == node->inputs.size(), node->spec->name, ": backward returned ", din.size(),
                     " gradients for ", node->inputs.size(), " inputs");
            for (size_t i = 0; i < din.size(); ++i) {
                if (!needs[i]) continue;
                const Tensor& in = node->inputs[i];
                FS_CHECK(din[i].defined() && din[i].shape() == in.shape(), node->spec->name, ": backward gave ",
                         din[i].str(), " for input ", i, " of shape ", shape_str(in.shape()));
                if (in.grad_fn()) {
                    std::vector<Tensor>& target = douts[in.grad_fn().get()];
                    target.resize(in.grad_fn()->outputs.size());
                    Tensor& slot = target[size_t(in.impl()->output_nr)];
                    if (!slot.defined()) slot = din[i].contiguous();
                    else accumulate_into(slot, din[i]);
                } else {
                    Tensor& g = in.impl()->grad;
                    if (!g.defined()) {
                        // Adopt a fresh gradient that nothing else can see (this handle is the only one on its
                        // header and its storage); copy a view or a tensor shared with others (a pass-through
                        // backward may hand back dout itself). Adopting saves a copy of every weight gradient,
                        // ~250 MB per standard-64 generator step.
                        const Tensor& d = din[i];
                        const bool sole = d.impl_ptr().use_count() == 1 && d.storage() &&
                                          d.storage().use_count() == 1 && d.is_contiguous() && d.impl()->offset == 0;
                        g = sole ? d : d.clone();
                    } else {
                        accumulate_into(g, din[i]);
                    }
                }
            }
        }
        douts.erase(node);
        node->inputs.clear();
        node->outputs.clear();
        node->released = true;
    }
}

}  // namespace fs

