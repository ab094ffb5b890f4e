// eval.cpp: `faceswap eval` (eval.h).
#include "faceswap/eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "autograd/functional.h"
#include "faceswap/models.h"
#include "io/image.h"

namespace fs {

namespace fsys = std::filesystem;

std::vector<std::string> list_face_images(const std::string& dir) {
    FS_CHECK(fsys::is_directory(dir), "eval: folder ", dir, " does not exist");
    std::vector<std::string> files;
    for (auto& e : fsys::directory_iterator(dir)) {
        std::string ext = e.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp"))
            files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

Tensor load_face_for_recognition(const std::string& path) {
    Image img = read_image(path, 3);
    if (img.width != img.height) {
        // face-api.js pads the crop to a square with black, centred, before resizing.
        const int S = std::max(img.width, img.height), ox = (S - img.width) / 2, oy = (S - img.height) / 2;
        Image sq;
        sq.width = sq.height = S;
        sq.channels = 3;
        sq.pixels.assign(size_t(S) * size_t(S) * 3, 0);
        for (int y = 0; y < img.height; ++y)
            std::copy_n(&img.pixels[size_t(y) * size_t(img.width) * 3], size_t(img.width) * 3,
                        &sq.pixels[(size_t(y + oy) * size_t(S) + size_t(ox)) * 3]);
        img = std::move(sq);
    }
    Tensor x = image_to_tensor(img);
    return faceapi_input_from_bgr(x.view({1, 3, x.size(1), x.size(2)}));
}

Tensor face_descriptors(const FaceRecognitionNet& net, const std::vector<std::string>& files,
                        std::vector<std::string>* used, std::vector<std::string>* skipped) {
    NoGradGuard ng;
    const size_t k_batch = 8;  // activations of 8 faces: ~25 MB; larger batches gain nothing on the CPU
    std::vector<Tensor> batch, out;
    auto flush = [&]() {
        if (batch.empty()) return;
        out.push_back(net.descriptor(concat(batch, ConcatParams{0})));
        batch.clear();
    };
    for (const std::string& f : files) {
        try {
            batch.push_back(load_face_for_recognition(f));
        } catch (const Error& e) {
            if (skipped) skipped->push_back(f + ": " + e.what());
            continue;
        }
        if (used) used->push_back(f);
        if (batch.size() == k_batch) flush();
    }
    flush();
    if (out.empty()) return Tensor::zeros({0, FaceRecognitionNet::k_descriptor_size});
    return out.size() == 1 ? out[0] : concat(out, ConcatParams{0});
}

namespace {

// The mean descriptor of a folder's faces (1, 128); throws when none can be read.
Tensor mean_descriptor(const FaceRecognitionNet& net, const std::string& dir, const char* role, size_t* n,
                       std::vector<std::string>* skipped) {
    std::vector<std::string> used;
    Tensor d = face_descriptors(net, list_face_images(dir), &used, skipped);
    FS_CHECK(!used.empty(), "eval: no readable face images (png, jpg, bmp) in the ", role, " folder ", dir);
    *n = used.size();
    NoGradGuard ng;
    return mean(d, ReduceParams{{0}, true});
}

}  // namespace

EvalReport evaluate_identity(const FaceRecognitionNet& net, const std::string& converted_dir,
                             const std::string& target_dir, const std::string& source_dir) {
    EvalReport r;
    const Tensor mt = mean_descriptor(net, target_dir, "target", &r.n_target, &r.skipped);
    const Tensor ms = mean_descriptor(net, source_dir, "source", &r.n_source, &r.skipped);
    std::vector<std::string> used;
    const Tensor d = face_descriptors(net, list_face_images(converted_dir), &used, &r.skipped);
    FS_CHECK(!used.empty(), "eval: no readable face images (png, jpg, bmp) in the converted folder ", converted_dir);
    size_t closer = 0;
    for (size_t i = 0; i < used.size(); ++i) {
        const Tensor di = d.slice(0, int64_t(i), int64_t(i) + 1);
        EvalFrame f;
        f.name = fsys::path(used[i]).filename().string();
        f.cos_target = descriptor_cosine(di, mt);
        f.cos_source = descriptor_cosine(di, ms);
        f.dist_target = descriptor_distance(di, mt);
        f.dist_source = descriptor_distance(di, ms);
        r.mean_cos_target += f.cos_target;
        r.mean_cos_source += f.cos_source;
        closer += f.cos_target > f.cos_source;
        r.frames.push_back(f);
    }
    const double n = double(r.frames.size());
    r.mean_cos_target /= n;
    r.mean_cos_source /= n;
    r.fraction_closer_to_target = double(closer) / n;
    return r;
}

void write_eval_tsv(const std::string& path, const EvalReport& r) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        FS_CHECK(f.good(), "eval: cannot write ", tmp);
        f << "frame\tcos_target\tcos_source\tdist_target\tdist_source\tcloser_to\n";
        char buf[256];
        for (const EvalFrame& e : r.frames) {
            std::snprintf(buf, sizeof buf, "\t%.6f\t%.6f\t%.6f\t%.6f\t%s\n", e.cos_target, e.cos_source, e.dist_target,
                          e.dist_source, e.cos_target > e.cos_source ? "target" : "source");
            f << e.name << buf;
        }
        f.flush();
        FS_CHECK(f.good(), "eval: write to ", tmp, " failed");
    }
    fsys::rename(tmp, path);
}

namespace {
const char* k_eval_usage =
    "usage: faceswap eval CONVERTED TARGET SOURCE [--tsv FILE] [--models DIR] [--quiet]\n"
    "\n"
    "Scores a face swap by identity: for every face in CONVERTED (e.g. swap-images output, A's faces as B), the\n"
    "cosine similarity of its face-api.js recognition descriptor (128-D, a dlib ResNet-29 port) to the mean\n"
    "descriptor of the TARGET identity's faces (B) and to that of the SOURCE identity's faces (A). Prints one\n"
    "line per face and a summary: the mean cosines and the fraction of faces closer to the target (the\n"
    "project's swap-quality number; 1 = every face reads as the target person).\n"
    "\n"
    "The three folders hold aligned face images (png, jpg, jpeg, bmp), one face each, any size: a non-square\n"
    "image is zero-padded to a square (centred) and every face is resized to 150x150, the net's input. The net\n"
    "was trained on dlib-style chips (the face with about 25 % margin, eyes level); faceswap's aligned faces\n"
    "and swap-images output work as they are, but scores compare best between faces with the same framing.\n"
    "Use reference faces that are not in CONVERTED's source material (e.g. other frames or photos).\n"
    "Distances on face-api's scale (< 0.6: same person, as a rule of thumb) are in the TSV.\n"
    "\n"
    "options:\n"
    "  --tsv FILE      also write the per-face table (frame, cos_target, cos_source, dist_target,\n"
    "                  dist_source, closer_to) as tab-separated values\n"
    "  --models DIR    folder holding faceapi/face_recognition_model-weights_manifest.json (+ .bin); also\n"
    "                  searched: $FACESWAP_MODELS, ./models, $FACESWAP_DATA\n"
    "  --quiet         print only the summary\n";
}  // namespace

int eval_main(const std::vector<std::string>& args) {
    for (const std::string& a : args)
        if (a == "--help" || a == "-h") {
            std::fputs(k_eval_usage, stdout);
            return 0;
        }
    std::vector<std::string> pos;
    std::string tsv;
    bool quiet = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--tsv" || a == "--models") {
            FS_CHECK(i + 1 < args.size(), "eval: ", a, " needs a value");
            if (a == "--tsv") tsv = args[++i];
            else set_models_dir(args[++i]);
        } else if (a == "--quiet") {
            quiet = true;
        } else {
            FS_CHECK(a.rfind("--", 0) != 0, "eval: unknown option '", a, "' (see faceswap eval --help)");
            pos.push_back(a);
        }
    }
    if (pos.size() != 3) {
        std::fprintf(stderr, "eval: give three folders: CONVERTED TARGET SOURCE (got %zu)\n\n%s", pos.size(),
                     k_eval_usage);
        return 2;
    }
    FaceRecognitionNet net = FaceRecognitionNet::load_default();
    EvalReport r = evaluate_identity(net, pos[0], pos[1], pos[2]);
    for (const std::string& s : r.skipped) std::fprintf(stderr, "eval: skipped %s\n", s.c_str());
    if (!quiet) {
        std::printf("%-40s %10s %10s  %s\n", "frame", "cos_target", "cos_source", "closer to");
        for (const EvalFrame& f : r.frames)
            std::printf("%-40s %10.4f %10.4f  %s\n", f.name.c_str(), f.cos_target, f.cos_source,
                        f.cos_target > f.cos_source ? "target" : "source");
    }
    std::printf("eval: %zu converted faces; references: %zu target, %zu source faces\n", r.frames.size(), r.n_target,
                r.n_source);
    std::printf("eval: mean cosine to target %.4f, to source %.4f; closer to target: %.1f %% (%zu of %zu)\n",
                r.mean_cos_target, r.mean_cos_source, 100.0 * r.fraction_closer_to_target,
                size_t(std::lround(r.fraction_closer_to_target * double(r.frames.size()))), r.frames.size());
    if (!tsv.empty()) {
        write_eval_tsv(tsv, r);
        std::printf("eval: wrote %s\n", tsv.c_str());
    }
    return 0;
}

}  // namespace fs
