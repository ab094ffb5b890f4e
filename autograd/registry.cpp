// registry.cpp: expands kernels/ops.def into the op table.
#include "autograd/registry.h"

#include <string>

namespace fs {

const std::vector<const OpSpec*>& op_registry() {
    static const std::vector<const OpSpec*> table = {
#define FS_OP(name) &k_spec_##name,
#include "kernels/ops.def"
#undef FS_OP
    };
    return table;
}

const std::vector<const char*>& op_def_names() {
    static const std::vector<const char*> names = {
#define FS_OP(name) #name,
#include "kernels/ops.def"
#undef FS_OP
    };
    return names;
}

const OpSpec& op_by_name(const std::string& name) {
    for (const OpSpec* s : op_registry())
        if (name == s->name) return *s;
    std::string known;
    for (const OpSpec* s : op_registry()) known += std::string(known.empty() ? "" : ", ") + s->name;
    FS_FAIL("no op named '", name, "'; registered ops: ", known);
}

void check_rank(const Tensor& t, int64_t rank, const char* op, const char* what) {
    FS_CHECK(t.defined(), op, ": ", what, " is undefined");
    FS_CHECK(t.dim() == rank, op, ": ", what, " must have rank ", rank, ", got ", t.str());
}

void check_same_dtype_device(const std::vector<Tensor>& in, const char* op) {
    for (size_t i = 1; i < in.size(); ++i) {
        FS_CHECK(in[i].dtype() == in[0].dtype(), op, ": input ", i, " is ", in[i].str(), " but input 0 is ",
                 in[0].str());
        FS_CHECK(in[i].device() == in[0].device(), op, ": input ", i, " is on ", device_name(in[i].device()),
                 " but input 0 is on ", device_name(in[0].device()));
    }
}

}  // namespace fs
