// json.h: a small, strict JSON reader for the files this project reads (safetensors headers, tfjs weight
// manifests, the MTCNN manifest and reference detections). Everything JSON allows is accepted except \u escapes
// beyond the BMP; nesting is limited to 32 levels. Errors name the file (the caller's context) and the byte.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace fs {

struct Json {
    enum Kind { null, boolean, number, string, array, object } kind = null;
    double num = 0;
    bool b = false;
    std::string str;
    std::vector<Json> arr;
    std::vector<std::pair<std::string, Json>> obj;  ///< in file order
    /// The member `k` of an object, or nullptr.
    const Json* find(const std::string& k) const {
        for (auto& kv : obj)
            if (kv.first == k) return &kv.second;
        return nullptr;
    }
    /// The member `k`, which must exist (the error names `k` and `context`).
    const Json& at(const std::string& k, const std::string& context = "JSON") const;
};

/// Parses `text`; `context` starts every error message (e.g. "model.json: corrupt header").
Json parse_json(const std::string& text, const std::string& context);
/// Reads and parses a whole file; errors name the file.
Json read_json_file(const std::string& path);

}  // namespace fs
