// test_tfjs.cpp: the tfjs weights-manifest reader on the two face-api.js models and on hand-made files
// (float32 and uint8-quantised entries, and every way the bytes can disagree with the manifest).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/json.h"
#include "io/tfjs.h"
#include "testdata.h"

using namespace fs;

namespace {

std::string tmpdir() {
    auto d = std::filesystem::temp_directory_path() /
             ("fs_tfjs_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d.string();
}
void spit(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

void expect_error_mentions(const std::string& manifest, const std::string& needle) {
    try {
        load_tfjs_weights(manifest);
        FAIL() << "loaded a bad manifest " << manifest;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

// The byte count the manifest itself implies (independently of the loader): 1 byte per uint8-quantised
// element, 4 per float32 one.
uint64_t manifest_bytes(const std::string& manifest, size_t* count) {
    Json root = read_json_file(manifest);
    uint64_t total = 0;
    *count = 0;
    for (const Json& g : root.arr)
        for (const Json& w : g.at("weights").arr) {
            uint64_t n = 1;
            for (const Json& d : w.at("shape").arr) n *= uint64_t(d.num);
            total += n * (w.find("quantization") ? 1 : 4);
            ++*count;
        }
    return total;
}

// A tiny manifest: "a" float32 (2,2) then "b" uint8-quantised (3,), in one .bin.
const char* k_tiny_manifest = R"([{"paths": ["tiny.bin"], "weights": [
  {"name": "a", "shape": [2, 2], "dtype": "float32"},
  {"name": "b", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.25}}]}])";

std::string tiny_bin() {
    const float a[4] = {1.5f, -2.0f, 0.25f, 1e-3f};
    std::string s(reinterpret_cast<const char*>(a), sizeof a);  // little-endian host
    s += std::string{char(0), char(3), char(255)};
    return s;
}

}  // namespace

TEST(Tfjs, RealManifestsLoadWithDocumentedCounts) {
    FS_REQUIRE_DATA();
    struct Case {
        const char* manifest;
        const char* bin;
        size_t arrays;
        uint64_t bytes;  // PROVENANCE.md §4: the .bin sizes
    };
    for (const Case& c : {Case{"faceapi/face_recognition_model-weights_manifest.json", "faceapi/face_recognition_model.bin",
                               117, 6444032},
                          Case{"faceapi/face_landmark_68_model-weights_manifest.json",
                               "faceapi/face_landmark_68_model.bin", 49, 356840}}) {
        const std::string m = shared_data_dir() + "/" + c.manifest;
        TfjsWeights w = load_tfjs_weights(m);
        EXPECT_EQ(w.tensors.size(), c.arrays) << m;
        size_t count = 0;
        EXPECT_EQ(manifest_bytes(m, &count), c.bytes) << m;
        EXPECT_EQ(count, c.arrays);
        EXPECT_EQ(std::filesystem::file_size(shared_data_dir() + "/" + c.bin), c.bytes);
        for (auto& [name, t] : w.tensors) {
            EXPECT_EQ(t.dtype(), DType::f32) << name;
            for (double v : t.to_vector()) ASSERT_TRUE(std::isfinite(v)) << name;
        }
    }
    // Spot checks on the recognition model: shapes as documented, a quantised entry stays within
    // [min, min + 255·scale], and a float32 entry equals its raw bytes.
    const std::string m = shared_data_dir() + "/faceapi/face_recognition_model-weights_manifest.json";
    TfjsWeights w = load_tfjs_weights(m);
    EXPECT_EQ(w.get("conv32_down/conv/filters").shape(), (Shape{7, 7, 3, 32}));
    EXPECT_EQ(w.get("fc").shape(), (Shape{256, 128}));
    EXPECT_EQ(w.tensors.front().first, "conv32_down/conv/filters");
    EXPECT_EQ(w.tensors.back().first, "fc");
    Json root = read_json_file(m);
    const Json* q = root.arr[0].at("weights").arr[0].find("quantization");
    ASSERT_NE(q, nullptr);
    const double qmin = q->at("min").num, qmax = qmin + 255 * q->at("scale").num;
    for (double v : w.get("conv32_down/conv/filters").to_vector()) {
        // 1e-6: the decoded value is rounded to f32 once (relative 6e-8 of values below 0.1).
        ASSERT_GE(v, qmin - 1e-6);
        ASSERT_LE(v, qmax + 1e-6);
    }
    // conv64_down/conv1/conv/filters is the first float32 entry: its offset is the byte count of all before it.
    uint64_t off = 0;
    for (const Json& e : root.arr[0].at("weights").arr) {
        if (e.at("name").str == "conv64_down/conv1/conv/filters") break;
        uint64_t n = 1;
        for (const Json& d : e.at("shape").arr) n *= uint64_t(d.num);
        off += n * (e.find("quantization") ? 1 : 4);
    }
    std::ifstream f(shared_data_dir() + "/faceapi/face_recognition_model.bin", std::ios::binary);
    f.seekg(std::streamoff(off));
    float raw[2];
    f.read(reinterpret_cast<char*>(raw), sizeof raw);
    const Tensor& t = w.get("conv64_down/conv1/conv/filters");
    EXPECT_EQ(t.at({0, 0, 0, 0}), double(raw[0]));
    EXPECT_EQ(t.at({0, 0, 0, 1}), double(raw[1]));
}

TEST(Tfjs, TinyManifestDecodesFloatAndUint8) {
    const std::string d = tmpdir();
    spit(d + "/m.json", k_tiny_manifest);
    spit(d + "/tiny.bin", tiny_bin());
    TfjsWeights w = load_tfjs_weights(d + "/m.json");
    ASSERT_EQ(w.tensors.size(), 2u);
    EXPECT_EQ(w.tensors[0].first, "a");
    EXPECT_EQ(w.get("a").shape(), (Shape{2, 2}));
    EXPECT_EQ(w.get("a").to_vector(), (std::vector<double>{1.5, -2.0, 0.25, double(1e-3f)}));
    // q*scale+min with scale 0.5, min -1.25: q = 0, 3, 255 -> -1.25, 0.25, 126.25 (all exact in f32).
    EXPECT_EQ(w.get("b").to_vector(), (std::vector<double>{-1.25, 0.25, 126.25}));
    EXPECT_TRUE(w.has("b"));
    EXPECT_FALSE(w.has("c"));
    try {
        w.get("bb");
        FAIL() << "found a missing name";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("m.json"), std::string::npos) << msg;   // names the file
        EXPECT_NE(msg.find("'bb'"), std::string::npos) << msg;     // and the name asked for
        EXPECT_NE(msg.find("closest: b"), std::string::npos) << msg;  // and the closest names first
    }
}

TEST(Tfjs, BadFilesGiveClearErrors) {
    const std::string d = tmpdir();
    spit(d + "/m.json", k_tiny_manifest);
    // Missing .bin.
    expect_error_mentions(d + "/m.json", "tiny.bin");
    // Truncated .bin: one byte short of the uint8 entry.
    spit(d + "/tiny.bin", tiny_bin().substr(0, 18));
    expect_error_mentions(d + "/m.json", "truncated");
    // Trailing bytes.
    spit(d + "/tiny.bin", tiny_bin() + "x");
    expect_error_mentions(d + "/m.json", "1 trailing bytes");
    // Unknown dtype, and unknown quantisation dtype.
    spit(d + "/tiny.bin", tiny_bin());
    std::string bad = k_tiny_manifest;
    bad.replace(bad.find("\"float32\""), 9, "\"int64\"");
    spit(d + "/bad.json", bad);
    expect_error_mentions(d + "/bad.json", "dtype 'int64'");
    bad = k_tiny_manifest;
    bad.replace(bad.find("\"uint8\""), 7, "\"int4\"");
    spit(d + "/bad.json", bad);
    expect_error_mentions(d + "/bad.json", "quantization dtype 'int4'");
    // Missing manifest; not a list.
    expect_error_mentions(d + "/nope.json", "not found");
    spit(d + "/obj.json", "{}");
    expect_error_mentions(d + "/obj.json", "list of groups");
    // Good again after all that (the checks do not depend on state).
    EXPECT_EQ(load_tfjs_weights(d + "/m.json").tensors.size(), 2u);
}
