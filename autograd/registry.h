// registry.h: the op table generated from kernels/ops.def. Adding an op is one line there plus its spec; the
// extern declarations below make a missing spec a link error rather than a silently absent op.
#pragma once
#include <vector>

#include "autograd/op_spec.h"

namespace fs {

#define FS_OP(name) extern const OpSpec k_spec_##name;
#include "kernels/ops.def"
#undef FS_OP

enum class OpId {
#define FS_OP(name) name,
#include "kernels/ops.def"
#undef FS_OP
    count
};

/// Every registered op, in ops.def order.
const std::vector<const OpSpec*>& op_registry();
/// The op registered under `name`; throws listing the known names when there is none.
const OpSpec& op_by_name(const std::string& name);
/// The names as written in ops.def (to check each spec's own name against).
const std::vector<const char*>& op_def_names();

}  // namespace fs
