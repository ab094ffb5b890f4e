// demo.cpp: placeholder end-to-end example (replaced once conv and reductions land).
#include "faceswap/demo.h"

#include <cstdio>

namespace fs {
int demo_main(const std::vector<std::string>&) {
    std::printf("demo: not yet\n");
    return 0;
}
}  // namespace fs
