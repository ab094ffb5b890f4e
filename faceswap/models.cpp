// models.cpp: see models.h.
#include "faceswap/models.h"

#include <cstdlib>
#include <filesystem>

#include "tensor/error.h"

namespace fs {

namespace {
std::string& models_option() {
    static std::string dir;
    return dir;
}
}  // namespace

const char* const k_mtcnn_how_to_get =
    "the MTCNN weights are davidsandberg/facenet src/align/det1.npy, det2.npy, det3.npy (MIT); convert them "
    "to the pickle-free mtcnn/bin/ layout (raw float32 + manifest.tsv) with the script described in "
    "shared/data/PROVENANCE.md section 1, or point --models / FACESWAP_MODELS at a copy of shared/data";
const char* const k_faceapi_how_to_get =
    "the face-api.js models are in the npm package @vladmandic/face-api 1.7.15, folder model/ (MIT); copy "
    "face_recognition_model* and face_landmark_68_model* into <models>/faceapi/, or point --models / "
    "FACESWAP_MODELS at a copy of shared/data";

void set_models_dir(const std::string& dir) { models_option() = dir; }

std::vector<std::string> models_search_path() {
    std::vector<std::string> dirs;
    if (!models_option().empty()) dirs.push_back(models_option());
    if (const char* e = std::getenv("FACESWAP_MODELS"); e && *e) dirs.push_back(e);
    dirs.push_back("models");
    if (const char* e = std::getenv("FACESWAP_DATA"); e && *e) dirs.push_back(e);
#ifdef FS_SOURCE_DIR
    dirs.push_back(std::string(FS_SOURCE_DIR) + "/../shared/data");
#endif
    return dirs;
}

std::string find_model_file(const std::string& relative, const std::string& how_to_get) {
    std::string searched;
    for (const std::string& d : models_search_path()) {
        std::filesystem::path p = std::filesystem::path(d) / relative;
        std::error_code ec;
        if (std::filesystem::is_regular_file(p, ec)) return p.lexically_normal().string();
        searched += "\n  " + p.string();
    }
    FS_FAIL("model file '", relative, "' not found; looked in:", searched, "\n", how_to_get);
}

}  // namespace fs
