// tfjs.cpp: the tfjs weights-manifest reader (format in tfjs.h).
#include "io/tfjs.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "io/json.h"

namespace fs {

namespace {

// Edit distance, for suggesting the names closest to a missing one.
size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string read_whole_file(const std::string& path, const std::string& manifest) {
    std::ifstream f(path, std::ios::binary);
    FS_CHECK(f.good(), manifest, ": cannot open the weights file ", path, " that the manifest lists");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    FS_CHECK(!f.bad(), manifest, ": error reading ", path);
    return s;
}

}  // namespace

bool TfjsWeights::has(const std::string& name) const {
    for (auto& t : tensors)
        if (t.first == name) return true;
    return false;
}

const Tensor& TfjsWeights::get(const std::string& name) const {
    for (auto& t : tensors)
        if (t.first == name) return t.second;
    std::vector<std::pair<size_t, std::string>> near;
    for (auto& t : tensors) near.emplace_back(edit_distance(name, t.first), t.first);
    std::sort(near.begin(), near.end());
    std::string close;
    for (size_t i = 0; i < near.size() && i < 5; ++i) close += (i ? ", " : "") + near[i].second;
    FS_FAIL(manifest_path, ": no weight named '", name, "' (", tensors.size(), " weights; closest: ",
            close.empty() ? "none" : close, ")");
}

TfjsWeights load_tfjs_weights(const std::string& manifest_path) {
    const std::string& mp = manifest_path;
    FS_CHECK(std::filesystem::is_regular_file(mp), "tfjs weights manifest not found: ", mp);
    Json root = read_json_file(mp);
    FS_CHECK(root.kind == Json::array, mp, ": a tfjs weights manifest is a JSON list of groups");
    const std::filesystem::path dir = std::filesystem::path(mp).parent_path();

    TfjsWeights out;
    out.manifest_path = mp;
    std::set<std::string> seen;
    for (size_t g = 0; g < root.arr.size(); ++g) {
        const Json& group = root.arr[g];
        const std::string gctx = mp + ": group " + std::to_string(g);
        FS_CHECK(group.kind == Json::object, gctx, " is not an object");
        const Json& paths = group.at("paths", gctx);
        const Json& weights = group.at("weights", gctx);
        FS_CHECK(paths.kind == Json::array && weights.kind == Json::array, gctx, ": 'paths' and 'weights' must be lists");

        // The group's shards, concatenated in order, are one stream of bytes.
        std::string bytes;
        std::string files;
        for (const Json& p : paths.arr) {
            FS_CHECK(p.kind == Json::string && !p.str.empty(), gctx, ": a path is not a non-empty string");
            const std::string file = (dir / p.str).string();
            bytes += read_whole_file(file, mp);
            files += (files.empty() ? "" : " + ") + file;
        }

        size_t pos = 0;
        for (const Json& w : weights.arr) {
            FS_CHECK(w.kind == Json::object, gctx, ": a weight entry is not an object");
            const Json& jn = w.at("name", gctx);
            FS_CHECK(jn.kind == Json::string && !jn.str.empty(), gctx, ": a weight has no name");
            const std::string& name = jn.str;
            const std::string ctx = mp + ": weight '" + name + "'";
            FS_CHECK(seen.insert(name).second, ctx, " appears twice");
            const Json& js = w.at("shape", ctx);
            FS_CHECK(js.kind == Json::array, ctx, ": shape is not a list");
            Shape shape;
            int64_t numel = 1;
            for (const Json& d : js.arr) {
                FS_CHECK(d.kind == Json::number && d.num >= 0 && d.num == double(int64_t(d.num)) && d.num < 1e9, ctx,
                         ": bad dimension in its shape");
                shape.push_back(int64_t(d.num));
                numel *= int64_t(d.num);
                FS_CHECK(numel < (int64_t(1) << 34), ctx, ": implausibly large shape");
            }
            const Json& jd = w.at("dtype", ctx);
            FS_CHECK(jd.kind == Json::string, ctx, ": dtype is not a string");
            FS_CHECK(jd.str == "float32", ctx, ": dtype '", jd.str, "' is not supported (only float32)");

            Tensor t = Tensor::empty(shape, DType::f32);
            float* dst = t.data<float>();
            const Json* q = w.find("quantization");
            if (q && q->kind != Json::null) {
                FS_CHECK(q->kind == Json::object, ctx, ": quantization is not an object");
                const Json& qd = q->at("dtype", ctx + " quantization");
                const Json& qs = q->at("scale", ctx + " quantization");
                const Json& qm = q->at("min", ctx + " quantization");
                FS_CHECK(qd.kind == Json::string && qs.kind == Json::number && qm.kind == Json::number, ctx,
                         ": quantization needs a string dtype and numeric scale and min");
                FS_CHECK(qd.str == "uint8" || qd.str == "uint16", ctx, ": quantization dtype '", qd.str,
                         "' is not supported (uint8 or uint16)");
                const size_t qsize = qd.str == "uint8" ? 1 : 2;
                const size_t need = size_t(numel) * qsize;
                FS_CHECK(pos + need <= bytes.size(), ctx, " needs bytes [", pos, ", ", pos + need, ") but ", files,
                         " holds only ", bytes.size(), " bytes (truncated?)");
                const unsigned char* src = reinterpret_cast<const unsigned char*>(bytes.data() + pos);
                // Decode in double and round once: q*scale+min is what tfjs computes (in f32) when it dequantises.
                for (int64_t i = 0; i < numel; ++i) {
                    const unsigned v = qsize == 1 ? src[i] : unsigned(src[2 * i]) | (unsigned(src[2 * i + 1]) << 8);
                    dst[i] = float(double(v) * qs.num + qm.num);
                }
                pos += need;
            } else {
                const size_t need = size_t(numel) * 4;
                FS_CHECK(pos + need <= bytes.size(), ctx, " needs bytes [", pos, ", ", pos + need, ") but ", files,
                         " holds only ", bytes.size(), " bytes (truncated?)");
                // float32 little-endian; this project only builds for little-endian hosts (x86-64, aarch64).
                std::memcpy(dst, bytes.data() + pos, need);
                pos += need;
            }
            out.tensors.emplace_back(name, t);
        }
        FS_CHECK(pos == bytes.size(), gctx, ": its weights use ", pos, " bytes but ", files, " holds ", bytes.size(),
                 " (", bytes.size() - pos, " trailing bytes: wrong manifest for this file?)");
    }
    return out;
}

}  // namespace fs
