// faceswap: the command-line tool. Each subcommand parses its own options; every fs::Error is caught here,
// printed, and turned into exit code 1 (the library never exits).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/registry.h"
#include "faceswap/commands.h"
#include "tools/demo.h"
#include "faceswap/masks.h"
#include "faceswap/eval.h"
#include "faceswap/train.h"
#include "tools/convert.h"
#include "tools/extract.h"
#include "tensor/error.h"

namespace {

const char* k_usage =
    "faceswap: a C++17/CUDA re-creation of faceswap-GAN v2.2\n"
    "\n"
    "usage: faceswap <command> [options]\n"
    "\n"
    "commands:\n"
    "  demo         run the built-in end-to-end example (no data needed)\n"
    "  extract      find, align and save the faces in a video or a folder of images (MTCNN)\n"
    "  train        train faceswap-GAN on two people's aligned faces (or --synthetic)\n"
    "  convert      swap the faces of a video or a folder of frames with a trained model\n"
    "  model-info   a model's configuration and per-network parameter counts\n"
    "  init-model   write a freshly initialised model file\n"
    "  swap-images  run a model's generator on aligned face images (A->B or B->A)\n"
    "  masks        eye masks for aligned faces from 68-point landmarks (face-api net)\n"
    "  eval         score swapped faces by identity: closer to the target person than to the source?\n"
    "  ops          list the registered ops with their test and benchmark case counts\n"
    "  version      print the version and the backends this binary was built with\n"
    "\n"
    "`faceswap <command> --help` explains each command's options.\n";

int cmd_ops() {
    std::printf("%-18s %6s %6s  %s\n", "op", "tests", "perf", "flags");
    for (const fs::OpSpec* s : fs::op_registry()) {
        std::string flags;
        if (s->flags & fs::k_op_kinked) flags += "kinked ";
        if (s->flags & fs::k_op_view) flags += "view ";
        std::printf("%-18s %6zu %6zu  %s\n", s->name, s->test_cases().size(), s->perf_cases().size(), flags.c_str());
    }
    std::printf("%zu ops\n", fs::op_registry().size());
    return 0;
}

int cmd_version() {
    std::printf("faceswap 0.1.0\nbackends: cpu%s\n", fs::cuda_built() ? (fs::cuda_available() ? ", cuda (device present)"
                                                                                              : ", cuda (no device)")
                                                                      : "");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
            !std::strcmp(argv[1], "help")) {
            std::fputs(k_usage, stdout);
            return argc < 2 ? 2 : 0;
        }
        std::string cmd = argv[1];
        std::vector<std::string> args(argv + 2, argv + argc);
        if (cmd == "demo") return fs::demo_main(args);
        if (cmd == "extract") return fs::extract_main(args);
        if (cmd == "convert") return fs::convert_main(args);
        if (cmd == "train") return fs::train_main(args);
        if (cmd == "model-info") return fs::model_info_main(args);
        if (cmd == "init-model") return fs::init_model_main(args);
        if (cmd == "swap-images") return fs::swap_images_main(args);
        if (cmd == "masks") return fs::masks_main(args);
        if (cmd == "eval") return fs::eval_main(args);
        if (cmd == "ops") return cmd_ops();
        if (cmd == "version" || cmd == "--version") return cmd_version();
        std::fprintf(stderr, "faceswap: unknown command '%s'\n\n%s", cmd.c_str(), k_usage);
        return 2;
    } catch (const fs::Error& e) {
        std::fprintf(stderr, "faceswap: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "faceswap: unexpected error: %s\n", e.what());
        return 1;
    }
}
