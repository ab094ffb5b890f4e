// tfjs.h: TensorFlow.js "weights manifest" files (the face-api.js models in ../shared/data/faceapi).
// A manifest is a JSON list of groups {"paths": ["a.bin", ...], "weights": [{"name", "shape", "dtype",
// "quantization"?: {"dtype", "scale", "min"}}, ...]}. A group's .bin files (paths relative to the manifest's
// folder) are read as one byte stream, in which every entry's data follows the previous one with no alignment.
// An entry without quantization stores float32 little-endian; with "quantization" {"dtype": "uint8"|"uint16"}
// it stores prod(shape) unsigned integers q, decoded as q * scale + min (affine quantisation).
// Loading is strict: missing files, a group whose entries need more bytes than its files hold, or whose files
// hold bytes no entry claims, unknown dtypes and bad shapes all throw fs::Error naming the manifest and entry.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace fs {

struct TfjsWeights {
    std::string manifest_path;                            ///< for error messages
    std::vector<std::pair<std::string, Tensor>> tensors;  ///< manifest order, f32 CPU tensors with the manifest's shape
    /// The tensor named `name`; throws naming the file and listing close names when absent.
    const Tensor& get(const std::string& name) const;
    bool has(const std::string& name) const;
};

/// Reads a tfjs weights manifest (JSON list of groups {paths, weights:[{name, shape, dtype, quantization?}]}) and
/// its .bin files (paths relative to the manifest's folder); uint8-quantised entries decode as q*scale+min.
TfjsWeights load_tfjs_weights(const std::string& manifest_path);

}  // namespace fs
