// fast.cpp: the process-wide reference/optimised switch.
#include "kernels/fast.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace fs {

namespace {
std::atomic<bool>& flag() {
    static std::atomic<bool> f([] {
        const char* e = std::getenv("FS_REFERENCE_KERNELS");
        return !(e && std::strcmp(e, "1") == 0);
    }());
    return f;
}
}  // namespace

bool fast_kernels() { return flag().load(std::memory_order_relaxed); }
bool set_fast_kernels(bool on) { return flag().exchange(on); }

}  // namespace fs
