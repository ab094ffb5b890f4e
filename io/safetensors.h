// safetensors.h: weight files in the safetensors format (https://github.com/huggingface/safetensors):
//   8 bytes  little-endian u64 N, the header's length
//   N bytes  UTF-8 JSON: {"__metadata__": {"key": "value", ...},
//                         "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
//   the data: each tensor's bytes, row-major little-endian, at [begin, end) from the end of the header
// Readers elsewhere (PyTorch, Hugging Face) open our models with safetensors.torch.load_file().
// Loading validates everything before touching the data: header length within the file, well-formed JSON,
// known dtypes, end − begin == numel·dtype size, offsets inside the data and not overlapping; errors name the
// file and the tensor. Saving is atomic (temporary file, fsync, rename).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace fs {

using Metadata = std::map<std::string, std::string>;

struct SafeTensors {
    Metadata metadata;
    std::vector<std::pair<std::string, Tensor>> tensors;  ///< in file order (sorted by data offset)
    /// The tensor named `name`; throws naming the file's tensors when absent.
    const Tensor& get(const std::string& name) const;
    bool has(const std::string& name) const;
};

/// Writes tensors (CPU; f32, f64, f16 or bf16) and string metadata atomically. Names must be unique.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const Metadata& metadata = {});
/// Reads and validates a whole file.
SafeTensors load_safetensors(const std::string& path);
/// Copies the file's tensors into `dst` by name: every name of dst must be present with the same shape and
/// dtype (the error names the offending tensor); with `strict`, the file may hold no other tensors.
void load_into(const std::vector<std::pair<std::string, Tensor>>& dst, const SafeTensors& src,
               const std::string& what, bool strict = true);

}  // namespace fs
