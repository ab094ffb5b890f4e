// test_io.cpp: image read/write round trips, the tensor convention, and clear errors on bad files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/image.h"

using namespace fs;

namespace {
std::string temp_dir() {
    auto d = std::filesystem::temp_directory_path() /
             ("fs_test_io_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(d);
    return d.string();
}
}  // namespace

TEST(ImageIO, PngRoundTripIsExact) {
    std::string dir = temp_dir();
    Image img;
    img.width = 5, img.height = 3, img.channels = 3;
    for (int i = 0; i < 45; ++i) img.pixels.push_back(uint8_t(i * 5));
    write_png(dir + "/a.png", img);
    EXPECT_FALSE(std::filesystem::exists(dir + "/a.png.tmp"));  // the temporary was renamed away
    Image back = read_image(dir + "/a.png");
    EXPECT_EQ(back.width, 5);
    EXPECT_EQ(back.height, 3);
    EXPECT_EQ(back.pixels, img.pixels);
    std::filesystem::remove_all(dir);
}

TEST(ImageIO, TensorIsBgrInMinusOneToOne) {
    Image img;
    img.width = 1, img.height = 1, img.channels = 3;
    img.pixels = {255, 0, 51};  // R=255, G=0, B=51
    Tensor t = image_to_tensor(img);
    ASSERT_EQ(t.shape(), (Shape{3, 1, 1}));
    EXPECT_FLOAT_EQ(float(t.at({0, 0, 0})), 51.f / 255.f * 2.f - 1.f);  // B first
    EXPECT_FLOAT_EQ(float(t.at({1, 0, 0})), -1.f);
    EXPECT_FLOAT_EQ(float(t.at({2, 0, 0})), 1.f);
    EXPECT_EQ(tensor_to_image(t).pixels, img.pixels);
}

TEST(ImageIO, MissingAndCorruptFilesThrowNamingTheFile) {
    std::string dir = temp_dir();
    try {
        read_image(dir + "/nope.png");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("nope.png"), std::string::npos);
    }
    std::ofstream(dir + "/bad.png") << "this is not a png";
    try {
        read_image(dir + "/bad.png");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("bad.png"), std::string::npos);
    }
    std::filesystem::remove_all(dir);
}
