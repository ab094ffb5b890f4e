// safetensors.cpp: a small, strict reader and writer (the header is parsed by io/json.h).
#include "io/safetensors.h"

#include "io/json.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs {

namespace {

std::string json_escape(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\', o += c;
        else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(c));
            o += buf;
        } else o += c;
    }
    return o + "\"";
}

const char* st_dtype(DType t) {
    switch (t) {
        case DType::f32: return "F32";
        case DType::f64: return "F64";
        case DType::f16: return "F16";
        case DType::bf16: return "BF16";
    }
    return "?";
}

bool parse_dtype(const std::string& s, DType* t) {
    if (s == "F32") *t = DType::f32;
    else if (s == "F64") *t = DType::f64;
    else if (s == "F16") *t = DType::f16;
    else if (s == "BF16") *t = DType::bf16;
    else return false;
    return true;
}

}  // namespace

bool SafeTensors::has(const std::string& name) const {
    for (auto& t : tensors)
        if (t.first == name) return true;
    return false;
}

const Tensor& SafeTensors::get(const std::string& name) const {
    for (auto& t : tensors)
        if (t.first == name) return t.second;
    std::string names;
    for (size_t i = 0; i < tensors.size() && i < 8; ++i) names += (i ? ", " : "") + tensors[i].first;
    FS_FAIL("safetensors: no tensor named '", name, "' (the file has ", tensors.size(), ": ", names,
            tensors.size() > 8 ? ", ..." : "", ")");
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const Metadata& metadata) {
    std::set<std::string> names;
    std::ostringstream h;
    h << "{";
    bool first = true;
    if (!metadata.empty()) {
        h << "\"__metadata__\":{";
        for (auto it = metadata.begin(); it != metadata.end(); ++it)
            h << (it == metadata.begin() ? "" : ",") << json_escape(it->first) << ":" << json_escape(it->second);
        h << "}";
        first = false;
    }
    uint64_t off = 0;
    std::vector<Tensor> data;
    for (auto& [name, t] : tensors) {
        FS_CHECK(!name.empty() && name != "__metadata__", "save_safetensors: bad tensor name '", name, "'");
        FS_CHECK(names.insert(name).second, "save_safetensors: tensor name '", name, "' appears twice");
        FS_CHECK(t.defined() && t.device() == Device::cpu, "save_safetensors: tensor '", name, "' must be on the CPU");
        uint64_t bytes = uint64_t(t.numel()) * dtype_size(t.dtype());
        h << (first ? "" : ",") << json_escape(name) << ":{\"dtype\":\"" << st_dtype(t.dtype()) << "\",\"shape\":[";
        for (size_t d = 0; d < t.shape().size(); ++d) h << (d ? "," : "") << t.shape()[d];
        h << "],\"data_offsets\":[" << off << "," << off + bytes << "]}";
        off += bytes;
        first = false;
        data.push_back(t.contiguous());
    }
    h << "}";
    std::string header = h.str();
    while (header.size() % 8) header += ' ';  // align the data to 8 bytes, as the reference writer does

    std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        FS_CHECK(f.good(), "save_safetensors: cannot open ", tmp, " for writing");
        uint64_t n = header.size();
        unsigned char len[8];
        for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));  // little-endian
        f.write(reinterpret_cast<const char*>(len), 8);
        f.write(header.data(), std::streamsize(header.size()));
        for (const Tensor& t : data)
            f.write(static_cast<const char*>(t.storage()->data()) + t.offset() * int64_t(dtype_size(t.dtype())),
                    std::streamsize(uint64_t(t.numel()) * dtype_size(t.dtype())));
        f.flush();
        FS_CHECK(f.good(), "save_safetensors: write to ", tmp, " failed (disk full?)");
    }
    int fd = ::open(tmp.c_str(), O_RDONLY);
    FS_CHECK(fd >= 0, "save_safetensors: cannot reopen ", tmp, " to sync it");
    int rc = ::fsync(fd);
    ::close(fd);
    FS_CHECK(rc == 0, "save_safetensors: fsync of ", tmp, " failed");
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    FS_CHECK(!ec, "save_safetensors: cannot rename ", tmp, " to ", path, ": ", ec.message());
}

SafeTensors load_safetensors(const std::string& path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    FS_CHECK(f.good(), "load_safetensors: cannot open ", path);
    const uint64_t size = uint64_t(f.tellg());
    f.seekg(0);
    FS_CHECK(size >= 8, path, ": not a safetensors file (", size, " bytes, shorter than the 8-byte length)");
    unsigned char len[8];
    f.read(reinterpret_cast<char*>(len), 8);
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= uint64_t(len[i]) << (8 * i);
    FS_CHECK(n >= 2 && n <= size - 8 && n <= (uint64_t(100) << 20), path, ": header length ", n,
             " does not fit a file of ", size, " bytes (truncated or not a safetensors file)");
    std::string header(n, '\0');
    f.read(&header[0], std::streamsize(n));
    FS_CHECK(f.good(), path, ": could not read the header");
    Json root = parse_json(header, path + ": corrupt safetensors header");
    FS_CHECK(root.kind == Json::object, path, ": the header is not a JSON object");

    const uint64_t data_size = size - 8 - n;
    SafeTensors st;
    struct Entry {
        std::string name;
        DType dtype;
        Shape shape;
        uint64_t begin, end;
    };
    std::vector<Entry> entries;
    for (auto& [name, v] : root.obj) {
        if (name == "__metadata__") {
            FS_CHECK(v.kind == Json::object, path, ": __metadata__ is not an object");
            for (auto& [k, s] : v.obj) {
                FS_CHECK(s.kind == Json::string, path, ": metadata '", k, "' is not a string");
                st.metadata[k] = s.str;
            }
            continue;
        }
        FS_CHECK(v.kind == Json::object, path, ": entry '", name, "' is not an object");
        const Json *dt = v.find("dtype"), *sh = v.find("shape"), *of = v.find("data_offsets");
        FS_CHECK(dt && dt->kind == Json::string && sh && sh->kind == Json::array && of && of->kind == Json::array &&
                     of->arr.size() == 2,
                 path, ": tensor '", name, "' lacks dtype, shape or data_offsets");
        Entry e;
        e.name = name;
        FS_CHECK(parse_dtype(dt->str, &e.dtype), path, ": tensor '", name, "' has dtype ", dt->str,
                 " (supported: F32, F64, F16, BF16)");
        uint64_t numel = 1;
        for (const Json& d : sh->arr) {
            FS_CHECK(d.kind == Json::number && d.num >= 0 && d.num == double(int64_t(d.num)) && d.num < 1e12, path,
                     ": tensor '", name, "' has a bad dimension");
            e.shape.push_back(int64_t(d.num));
            numel *= uint64_t(d.num);
            FS_CHECK(numel < (uint64_t(1) << 40), path, ": tensor '", name, "' is implausibly large");
        }
        for (const Json& o : of->arr)
            FS_CHECK(o.kind == Json::number && o.num >= 0 && o.num == double(int64_t(o.num)), path, ": tensor '",
                     name, "' has bad data_offsets");
        e.begin = uint64_t(of->arr[0].num);
        e.end = uint64_t(of->arr[1].num);
        FS_CHECK(e.begin <= e.end && e.end <= data_size, path, ": tensor '", name, "' claims bytes [", e.begin, ",",
                 e.end, ") but the file holds ", data_size, " bytes of data (truncated?)");
        FS_CHECK(e.end - e.begin == numel * dtype_size(e.dtype), path, ": tensor '", name, "' has ",
                 e.end - e.begin, " bytes for shape ", shape_str(e.shape), " of ", dtype_name(e.dtype));
        entries.push_back(e);
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < entries.size(); ++i)
        FS_CHECK(entries[i].begin >= entries[i - 1].end, path, ": tensors '", entries[i - 1].name, "' and '",
                 entries[i].name, "' overlap");
    for (const Entry& e : entries) {
        Tensor t = Tensor::empty(e.shape, e.dtype);
        f.seekg(std::streamoff(8 + n + e.begin));
        f.read(static_cast<char*>(t.storage()->data()), std::streamsize(e.end - e.begin));
        FS_CHECK(f.good(), path, ": could not read tensor '", e.name, "'");
        st.tensors.emplace_back(e.name, t);
    }
    return st;
}

void load_into(const std::vector<std::pair<std::string, Tensor>>& dst, const SafeTensors& src,
               const std::string& what, bool strict) {
    std::set<std::string> wanted;
    for (auto& [name, t] : dst) {
        wanted.insert(name);
        FS_CHECK(src.has(name), what, ": tensor '", name, "' is missing from the file");
        const Tensor& s = src.get(name);
        FS_CHECK(s.shape() == t.shape(), what, ": tensor '", name, "' has shape ", shape_str(s.shape()),
                 " in the file but ", shape_str(t.shape()), " in the model");
        FS_CHECK(s.dtype() == t.dtype(), what, ": tensor '", name, "' is ", dtype_name(s.dtype()),
                 " in the file but ", dtype_name(t.dtype()), " in the model");
    }
    if (strict)
        for (auto& [name, t] : src.tensors)
            FS_CHECK(wanted.count(name), what, ": the file has a tensor '", name, "' the model does not");
    for (auto& [name, t] : dst) {
        Tensor d = t;  // a handle: copying into it writes the model's storage
        d.copy_from(src.get(name));
    }
}

}  // namespace fs
