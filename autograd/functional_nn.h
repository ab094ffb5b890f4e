// functional_nn.h: typed differentiable entry points for one op family (see functional.h).
#pragma once
#include "autograd/tape.h"

namespace fs {
}  // namespace fs
