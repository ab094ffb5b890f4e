// test_safetensors.cpp: round trips, and every way a file can lie or be cut short gives a clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/safetensors.h"

using namespace fs;

namespace {
std::string tmpfile(const std::string& name) {
    auto d = std::filesystem::temp_directory_path() /
             ("fs_st_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(d);
    return (d / name).string();
}
std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}
void spit(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
std::string make_file(const std::string& header, const std::string& data) {
    std::string s(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) s[size_t(i)] = char(n >> (8 * i));
    return s + header + data;
}
void expect_error_mentions(const std::string& path, const std::string& needle) {
    try {
        load_safetensors(path);
        FAIL() << "loaded a bad file";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}
}  // namespace

TEST(SafeTensors, RoundTripIsBitwise) {
    std::mt19937_64 rng(1);
    Tensor a = Tensor::uniform({3, 4, 5}, -1, 1, rng), b = Tensor::uniform({7}, -1, 1, rng, DType::f64);
    Tensor c = Tensor::uniform({2, 3}, -1, 1, rng).to(DType::bf16), s = Tensor::zeros({});
    std::string p = tmpfile("a.safetensors");
    save_safetensors(p, {{"enc.w", a}, {"b", b}, {"c", c}, {"scalar", s}, {"view", a.permute({2, 0, 1})}},
                     {{"arch", "faceswap-gan-v2.2"}, {"quote\"d", "line\nbreak"}});
    SafeTensors st = load_safetensors(p);
    EXPECT_EQ(st.metadata.at("arch"), "faceswap-gan-v2.2");
    EXPECT_EQ(st.metadata.at("quote\"d"), "line\nbreak");
    EXPECT_EQ(max_abs_diff(st.get("enc.w"), a), 0.0);
    EXPECT_EQ(max_abs_diff(st.get("b"), b), 0.0);
    EXPECT_EQ(st.get("c").dtype(), DType::bf16);
    EXPECT_EQ(max_abs_diff(st.get("c"), c), 0.0);
    EXPECT_EQ(st.get("scalar").dim(), 0);
    EXPECT_EQ(max_abs_diff(st.get("view"), a.permute({2, 0, 1})), 0.0);
    EXPECT_FALSE(std::filesystem::exists(p + ".tmp"));
    // header is 8-byte aligned
    std::string raw = slurp(p);
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(raw[size_t(i)])) << (8 * i);
    EXPECT_EQ(n % 8, 0u);
}

TEST(SafeTensors, LoadIntoChecksNamesShapesDtypes) {
    std::string p = tmpfile("m.safetensors");
    save_safetensors(p, {{"w", Tensor::full({2, 2}, 3.0)}, {"b", Tensor::full({2}, 1.0)}});
    SafeTensors st = load_safetensors(p);
    Tensor w = Tensor::zeros({2, 2}), b = Tensor::zeros({2});
    load_into({{"w", w}, {"b", b}}, st, "model");
    EXPECT_EQ(w.at({1, 1}), 3.0);
    Tensor wrong = Tensor::zeros({3, 2});
    try {
        load_into({{"w", wrong}, {"b", b}}, st, "model");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos) << e.what();
    }
    EXPECT_THROW(load_into({{"w", w}}, st, "model", true), Error);  // extra tensor 'b' in the file
    load_into({{"w", w}}, st, "model", false);
    EXPECT_THROW(load_into({{"w", w}, {"x", b}}, st, "model"), Error);
    EXPECT_THROW(load_into({{"w", Tensor::zeros({2, 2}, DType::f64)}, {"b", b}}, st, "model"), Error);
}

TEST(SafeTensors, TruncatedFileIsAnError) {
    std::string p = tmpfile("t.safetensors");
    save_safetensors(p, {{"w", Tensor::full({64}, 1.0)}});
    std::string raw = slurp(p);
    for (size_t cut : {size_t(0), size_t(5), size_t(12), raw.size() - 1}) {
        spit(p, raw.substr(0, cut));
        EXPECT_THROW(load_safetensors(p), Error) << "cut at " << cut;
    }
}

TEST(SafeTensors, LyingHeadersAreErrorsNeverOutOfBoundsReads) {
    std::string p = tmpfile("l.safetensors");
    std::string data(16, 'x');
    spit(p, make_file(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", data));
    expect_error_mentions(p, "'w'");  // claims more bytes than the file has
    spit(p, make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data));
    expect_error_mentions(p, "bytes for shape");
    spit(p, make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", data));
    expect_error_mentions(p, "overlap");
    spit(p, make_file(R"({"w":{"dtype":"I8","shape":[16],"data_offsets":[0,16]}})", data));
    expect_error_mentions(p, "I8");
    spit(p, make_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})", data));  // unclosed
    expect_error_mentions(p, "corrupt");
    std::string huge(8, '\xff');
    spit(p, huge + "{}");
    expect_error_mentions(p, "header length");
    EXPECT_THROW(load_safetensors(tmpfile("missing.safetensors")), Error);
}
