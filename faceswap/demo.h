// demo.h: `faceswap demo`, the main job out of the box.
#pragma once
#include <string>
#include <vector>

namespace fs {
/// Runs the demo subcommand with its arguments (after "demo"); returns the process exit code.
int demo_main(const std::vector<std::string>& args);
}  // namespace fs
