// models.h: finding the pretrained files the tools need (MTCNN, the face-api nets). The repository holds no
// weights. A models folder has the layout of the shared data folder (PROVENANCE.md), so that folder works as is:
//   mtcnn/bin/manifest.tsv, mtcnn/bin/{pnet,rnet,onet}.bin
//   faceapi/face_recognition_model-weights_manifest.json (+ .bin), faceapi/face_landmark_68_model-...
// Folders searched, in order: the --models option, $FACESWAP_MODELS, ./models, $FACESWAP_DATA, and the shared
// data folder next to the source tree this binary was built from (<source>/../shared/data).
#pragma once
#include <string>
#include <vector>

namespace fs {

/// Sets the folder given by a command's --models option (searched first); "" clears it.
void set_models_dir(const std::string& dir);
/// The folders searched, in order (only those that are set; existence is not checked).
std::vector<std::string> models_search_path();
/// The full path of `relative` (e.g. "mtcnn/bin/manifest.tsv") in the first folder that has it. When none has
/// it, throws an error naming the file, every folder searched, and `how_to_get` (where the user finds it).
std::string find_model_file(const std::string& relative, const std::string& how_to_get);

/// Where to get the MTCNN and face-api files, for the errors above.
extern const char* const k_mtcnn_how_to_get;
extern const char* const k_faceapi_how_to_get;

}  // namespace fs
