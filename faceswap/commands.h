// commands.h: the model-related subcommands of the `faceswap` CLI.
#pragma once
#include <string>
#include <vector>

namespace fs {
/// `faceswap model-info`: a configuration (or a model file) and its per-network parameter counts.
int model_info_main(const std::vector<std::string>& args);
/// `faceswap swap-images MODEL INDIR OUTDIR`: runs a generator on aligned faces (the notebook's static conversion).
int swap_images_main(const std::vector<std::string>& args);
/// `faceswap init-model OUT`: writes a freshly initialised model file (for trying the tools before training).
int init_model_main(const std::vector<std::string>& args);
}  // namespace fs
