// commands.cpp: model-info, init-model and swap-images.
#include "faceswap/commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "faceswap/cli.h"
#include "faceswap/gan.h"
#include "io/image.h"

namespace fs {

namespace {

// Parses the options shared by the commands that build a configuration; returns false for an unknown option.
bool parse_config_option(const std::vector<std::string>& a, size_t& i, ModelConfig& c) {
    auto value = [&]() -> const std::string& {
        FS_CHECK(i + 1 < a.size(), a[i], " needs a value");
        return a[++i];
    };
    if (a[i] == "--res") {
        const std::string& v = value();
        FS_CHECK(v == "64" || v == "128" || v == "256", "--res must be 64, 128 or 256, got '", v, "'");
        c.res = std::stoi(v);
    } else if (a[i] == "--capacity") {
        const std::string& v = value();
        FS_CHECK(v == "standard" || v == "lite", "--capacity must be standard or lite, got '", v, "'");
        c.capacity = v == "lite" ? Capacity::lite : Capacity::standard;
    } else if (a[i] == "--norm") {
        c.norm = parse_norm(value());
    } else if (a[i] == "--no-self-attention") {
        c.self_attention = false;
    } else if (a[i] == "--seed") {
        c.seed = std::stoull(value());
    } else {
        return false;
    }
    return true;
}

const char* k_config_help =
    "  --res R               64, 128 or 256 (default 64)\n"
    "  --capacity C          standard or lite (default standard)\n"
    "  --norm N              instancenorm (default), layernorm, groupnorm, batchnorm, hybrid, none\n"
    "  --no-self-attention   leave out the self-attention blocks\n";

}  // namespace

int model_info_main(const std::vector<std::string>& args) {
    if (is_help(args)) {
        std::printf("usage: faceswap model-info [MODEL.safetensors | options] [--names]\n\n"
                    "Prints a model's configuration and the parameter count of each network.\n%s"
                    "  --names               also list every tensor with its shape\n",
                    k_config_help);
        return 0;
    }
    ModelConfig c;
    bool names = false;
    std::string file;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--names") names = true;
        else if (!parse_config_option(args, i, c)) {
            FS_CHECK(args[i].rfind("--", 0) != 0 && file.empty(), "model-info: unknown option '", args[i], "'");
            file = args[i];
        }
    }
    std::unique_ptr<FaceSwapModel> m;
    if (!file.empty()) {
        m = std::make_unique<FaceSwapModel>(load_model(file));
    } else {
        SkipInitGuard skip;  // structure only
        m = std::make_unique<FaceSwapModel>(c);
    }
    std::printf("model: %s%s%s\n", m->cfg.str().c_str(), file.empty() ? "" : " from ", file.c_str());
    struct Row {
        const char* name;
        const Module* mod;
    } rows[] = {{"encoder", m->encoder.get()},
                {"decoder_a", m->decoder_a.get()},
                {"decoder_b", m->decoder_b.get()},
                {"disc_a", m->disc_a.get()},
                {"disc_b", m->disc_b.get()}};
    int64_t g = 0;
    for (const Row& r : rows) {
        int64_t n = r.mod->num_parameters(), b = 0;
        for (auto& t : r.mod->named_buffers()) b += t.second.numel();
        std::printf("  %-10s %12lld parameters%s", r.name, (long long)n, b ? "" : "\n");
        if (b) std::printf(" (+%lld statistics)\n", (long long)b);
        if (r.mod != m->disc_a.get() && r.mod != m->disc_b.get()) g += n;
    }
    std::printf("  generator (encoder + both decoders): %lld parameters\n", (long long)g);
    if (names)
        for (auto& [n, t] : m->named_tensors()) std::printf("  %-48s %s\n", n.c_str(), shape_str(t.shape()).c_str());
    return 0;
}

int init_model_main(const std::vector<std::string>& args) {
    if (is_help(args) || args.empty()) {
        std::printf("usage: faceswap init-model OUT.safetensors [options]\n\n"
                    "Writes a freshly initialised model (Keras-style initialisers, seeded).\n%s"
                    "  --seed N              initialisation seed (default 0)\n",
                    k_config_help);
        return args.empty() ? 2 : 0;
    }
    ModelConfig c;
    std::string out;
    for (size_t i = 0; i < args.size(); ++i) {
        if (!parse_config_option(args, i, c)) {
            FS_CHECK(args[i].rfind("--", 0) != 0 && out.empty(), "init-model: unknown option '", args[i], "'");
            out = args[i];
        }
    }
    FS_CHECK(!out.empty(), "init-model: give the output file");
    FaceSwapModel m(c);
    save_model(out, m, 0);
    std::printf("init-model: wrote %s (%s)\n", out.c_str(), c.str().c_str());
    return 0;
}

int swap_images_main(const std::vector<std::string>& args) {
    if (is_help(args) || args.size() < 3) {
        std::printf(
            "usage: faceswap swap-images MODEL.safetensors INDIR OUTDIR [--direction AtoB|BtoA] [--raw]\n\n"
            "Runs the generator on every aligned face image in INDIR (png, jpg, bmp; any size, resized to the\n"
            "model's resolution) and writes OUTDIR/<name>.png: the masked output α·bgr + (1−α)·input, or with\n"
            "--raw the decoder's bgr output. AtoB (default) uses decoder B on faces of person A.\n");
        return args.size() < 3 && !is_help(args) ? 2 : 0;
    }
    std::string model = args[0], in = args[1], out = args[2];
    bool a_to_b = true, raw = false;
    for (size_t i = 3; i < args.size(); ++i) {
        if (args[i] == "--direction") {
            FS_CHECK(i + 1 < args.size(), "--direction needs AtoB or BtoA");
            const std::string& d = args[++i];
            FS_CHECK(d == "AtoB" || d == "BtoA", "--direction must be AtoB or BtoA, got '", d, "'");
            a_to_b = d == "AtoB";
        } else if (args[i] == "--raw") {
            raw = true;
        } else {
            FS_FAIL("swap-images: unknown option '", args[i], "'");
        }
    }
    FS_CHECK(std::filesystem::is_directory(in), "swap-images: input folder ", in, " does not exist");
    std::vector<std::filesystem::path> files;
    for (auto& e : std::filesystem::directory_iterator(in)) {
        std::string ext = e.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
        if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp"))
            files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    FS_CHECK(!files.empty(), "swap-images: no images in ", in);
    FaceSwapModel m = load_model(model);
    std::filesystem::create_directories(out);
    const int R = m.cfg.res;
    NoGradGuard ng;
    auto t0 = std::chrono::steady_clock::now();
    size_t done = 0, failed = 0;
    for (const auto& f : files) {
        Tensor x;
        try {
            Image img = read_image(f.string(), 3);
            x = image_to_tensor(img);
        } catch (const Error& e) {
            std::fprintf(stderr, "\nswap-images: skipping %s: %s\n", f.string().c_str(), e.what());
            ++failed;
            continue;
        }
        x = x.view({1, 3, x.size(1), x.size(2)});
        if (x.size(2) != R || x.size(3) != R) x = resize_bilinear(x, ResizeParams{R, R, ResizeMode::half_pixel});
        DecoderOut o = (a_to_b ? m.decoder_b : m.decoder_a)->forward(m.encoder->forward(x));
        Tensor y = raw ? o.bgr : composite(o.alpha, o.bgr, x);
        write_png((std::filesystem::path(out) / (f.stem().string() + ".png")).string(),
                  tensor_to_image(y.view({3, R, R})));
        ++done;
        double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("\rswap-images: %zu/%zu  %.1f faces/s", done + failed, files.size(), double(done) / el);
        std::fflush(stdout);
    }
    std::printf("\nswap-images: wrote %zu faces to %s%s\n", done, out.c_str(), failed ? " (some inputs skipped)" : "");
    return failed && !done ? 1 : 0;
}

}  // namespace fs
