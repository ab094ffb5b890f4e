// test_video.cpp: io/video.h: a synthetic video written and read back (.mp4 and .avi), frame folders (a shared
// sequence, mixed sizes), the errors of open_frames, the writer's temporary file, and audio muxing through a
// stand-in ffmpeg script (the real one is optional and usually absent on build machines).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "io/image.h"
#include "io/video.h"
#include "testdata.h"

using namespace fs;
namespace stdfs = std::filesystem;

namespace {

/// A fresh temporary folder, removed with everything in it at the end of the test.
struct TempDir {
    std::string path;
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path = (stdfs::temp_directory_path() / ("fs_test_video_" + std::string(info->test_suite_name()) + "_" +
                                                info->name() + "_" + std::to_string(::getpid())))
                   .string();
        stdfs::remove_all(path);
        stdfs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        stdfs::remove_all(path, ec);
    }
};

/// Frame k of the synthetic clip: four flat quadrants whose colours change with k (steps of 20 levels, larger
/// than any codec error below), so both the content and the order of the frames can be checked.
Image synthetic_frame(int k, int w, int h) {
    Image img;
    img.width = w;
    img.height = h;
    img.channels = 3;
    img.pixels.resize(size_t(w) * size_t(h) * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int q = (y >= h / 2) * 2 + (x >= w / 2);
            uint8_t* p = &img.pixels[(size_t(y) * size_t(w) + size_t(x)) * 3];
            p[0] = uint8_t(20 + 20 * k);           // R: 20..200
            p[1] = uint8_t(40 + 50 * q);           // G: one level per quadrant
            p[2] = uint8_t(220 - 15 * k - 5 * q);  // B
        }
    return img;
}

/// Mean of channel `c` over the interior of quadrant `q` (4 px away from the quadrant's edges, where the
/// codec's blocks and chroma subsampling blur the boundaries).
double quadrant_mean(const Image& img, int q, int c) {
    const int w2 = img.width / 2, h2 = img.height / 2;
    const int x0 = (q % 2) * w2 + 4, y0 = (q / 2) * h2 + 4;
    double s = 0;
    int n = 0;
    for (int y = y0; y < y0 + h2 - 8; ++y)
        for (int x = x0; x < x0 + w2 - 8; ++x, ++n)
            s += img.pixels[(size_t(y) * size_t(img.width) + size_t(x)) * 3 + size_t(c)];
    return s / n;
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

void write_and_read_back(const std::string& ext) {
    TempDir tmp;
    const std::string path = tmp.path + "/clip" + ext;
    const int w = 96, h = 64, n = 10;
    const double fps = 30;  // not the folder default 25, so the rate is known to come from the file
    {
        VideoWriter vw(path, w, h, fps);
        for (int k = 0; k < n; ++k) vw.write(synthetic_frame(k, w, h));
        EXPECT_EQ(vw.frames_written(), n);
        vw.close();
    }
    ASSERT_TRUE(stdfs::is_regular_file(path));

    std::unique_ptr<FrameSource> src = open_frames(path);
    EXPECT_TRUE(src->is_video());
    EXPECT_EQ(src->width(), w);
    EXPECT_EQ(src->height(), h);
    EXPECT_NEAR(src->fps(), fps, 1e-3);  // the container stores the rate as a rational (30/1)
    EXPECT_EQ(src->frame_count(), n);
    EXPECT_EQ(src->name_of(7), "000007");
    Image img;
    int k = 0;
    while (src->read(img)) {
        ASSERT_LT(k, n) << "more frames than were written";
        EXPECT_EQ(src->position(), k + 1);
        ASSERT_EQ(img.width, w);
        ASSERT_EQ(img.height, h);
        ASSERT_EQ(img.channels, 3);
        const Image ref = synthetic_frame(k, w, h);
        for (int q = 0; q < 4; ++q)
            for (int c = 0; c < 3; ++c)
                // 6 levels: lossy codecs with 4:2:0 chroma and YUV rounding; measured ≤ 4 (mp4v at OpenCV's
                // default bitrate) and ≤ 2.1 (MJPG) on flat areas; neighbouring frames differ by ≥ 15.
                EXPECT_NEAR(quadrant_mean(img, q, c), quadrant_mean(ref, q, c), 6.0)
                    << ext << " frame " << k << " quadrant " << q << " channel " << c;
        ++k;
    }
    EXPECT_EQ(k, n);
    EXPECT_FALSE(src->read(img));  // stays at the end
    EXPECT_FALSE(src->skip());

    // skip() lands on the right frame: skip 4, then read frame 4.
    src = open_frames(path);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(src->skip());
    EXPECT_EQ(src->position(), 4);
    ASSERT_TRUE(src->read(img));
    EXPECT_NEAR(quadrant_mean(img, 0, 0), 20 + 20 * 4, 6.0);  // R of frame 4 (tolerance as above)
    int rest = 0;
    while (src->skip()) ++rest;
    EXPECT_EQ(rest, n - 5);
}

}  // namespace

TEST(Video, WriteAndReadBackMp4) { write_and_read_back(".mp4"); }
TEST(Video, WriteAndReadBackAvi) { write_and_read_back(".avi"); }

TEST(Video, FolderSourceOverSharedSequence) {
    FS_REQUIRE_DATA();
    const std::string dir = shared_data_dir() + "/sequences/otb_girl/img";
    std::vector<std::string> files;
    for (const auto& e : stdfs::directory_iterator(dir))
        if (e.path().extension() == ".jpg") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    ASSERT_GE(files.size(), 5u);

    std::unique_ptr<FrameSource> src = open_frames(dir);
    EXPECT_FALSE(src->is_video());
    EXPECT_EQ(src->frame_count(), int64_t(files.size()));
    EXPECT_DOUBLE_EQ(src->fps(), k_folder_fps);
    EXPECT_EQ(src->name_of(0), stdfs::path(files[0]).stem().string());
    EXPECT_EQ(src->name_of(int64_t(files.size()) - 1), stdfs::path(files.back()).stem().string());
    EXPECT_THROW(src->name_of(int64_t(files.size())), Error);
    const Image first = read_frame_image(files[0]);
    {
        // OpenCV's libjpeg and stb decode the same picture, up to the chroma-upsampling rounding of a few
        // pixels (measured mean 0.03 levels, max 3, on these frames).
        const Image stb = read_image(files[0], 3);
        ASSERT_EQ(stb.pixels.size(), first.pixels.size());
        double sum = 0;
        for (size_t i = 0; i < stb.pixels.size(); ++i) sum += std::abs(int(stb.pixels[i]) - int(first.pixels[i]));
        EXPECT_LT(sum / double(stb.pixels.size()), 0.5);
    }
    EXPECT_EQ(src->width(), first.width);
    EXPECT_EQ(src->height(), first.height);

    // Frames 0 and 1 in name order, then skip 1, then frame 3: the same pixels as the files themselves.
    Image img;
    ASSERT_TRUE(src->read(img));
    EXPECT_EQ(img.pixels, first.pixels);
    ASSERT_TRUE(src->read(img));
    EXPECT_EQ(img.pixels, read_frame_image(files[1]).pixels);
    ASSERT_TRUE(src->skip());
    ASSERT_TRUE(src->read(img));
    EXPECT_EQ(img.pixels, read_frame_image(files[3]).pixels);
    EXPECT_EQ(src->position(), 4);
    while (src->skip()) {
    }
    EXPECT_EQ(src->position(), int64_t(files.size()));
    EXPECT_FALSE(src->read(img));
}

TEST(Video, SharedSourceVideoOpens) {
    FS_REQUIRE_DATA();
    const std::string path = shared_data_dir() + "/sequences/lp_d14_woman_asian/source_d14.mp4";
    ASSERT_TRUE(stdfs::is_regular_file(path)) << path;
    std::unique_ptr<FrameSource> src = open_frames(path);
    EXPECT_TRUE(src->is_video());
    EXPECT_GT(src->width(), 0);
    EXPECT_GT(src->height(), 0);
    EXPECT_GT(src->fps(), 1.0);
    EXPECT_GT(src->frame_count(), 1);
    Image img;
    ASSERT_TRUE(src->read(img));
    EXPECT_EQ(img.width, src->width());
    EXPECT_EQ(img.height, src->height());
    // A real frame is not flat: some spread of values in the first frame.
    const auto mm = std::minmax_element(img.pixels.begin(), img.pixels.end());
    EXPECT_GT(int(*mm.second) - int(*mm.first), 50);
}

TEST(Video, FolderOfMixedSizesNamesTheFile) {
    TempDir tmp;
    write_png(tmp.path + "/0001.png", synthetic_frame(0, 32, 24));
    write_png(tmp.path + "/0002.png", synthetic_frame(1, 32, 24));
    write_png(tmp.path + "/0003.png", synthetic_frame(2, 40, 24));
    write_file(tmp.path + "/notes.txt", "not an image");  // ignored: not an image extension
    std::unique_ptr<FrameSource> src = open_frames(tmp.path);
    EXPECT_EQ(src->frame_count(), 3);
    Image img;
    ASSERT_TRUE(src->read(img));
    ASSERT_TRUE(src->read(img));
    const std::string msg = error_of([&] { src->read(img); });
    EXPECT_NE(msg.find("0003.png"), std::string::npos) << msg;
    EXPECT_NE(msg.find("40x24"), std::string::npos) << msg;
}

TEST(Video, OpenErrors) {
    TempDir tmp;
    std::string msg = error_of([&] { open_frames(tmp.path + "/missing.mp4"); });
    EXPECT_NE(msg.find("no such file or folder"), std::string::npos) << msg;

    stdfs::create_directories(tmp.path + "/empty");
    write_file(tmp.path + "/empty/readme.txt", "x");
    msg = error_of([&] { open_frames(tmp.path + "/empty"); });
    EXPECT_NE(msg.find("no images"), std::string::npos) << msg;

    // Random bytes under a video name, and a text file: neither is a video.
    std::mt19937 rng(7);
    std::string junk(4096, '\0');
    for (char& c : junk) c = char(rng() & 0xff);
    write_file(tmp.path + "/corrupt.mp4", junk);
    msg = error_of([&] { open_frames(tmp.path + "/corrupt.mp4"); });
    EXPECT_NE(msg.find("corrupt.mp4"), std::string::npos) << msg;
    write_file(tmp.path + "/text.avi", "hello, this is not a video\n");
    msg = error_of([&] { open_frames(tmp.path + "/text.avi"); });
    EXPECT_NE(msg.find("text.avi"), std::string::npos) << msg;

    // A truncated real video: the header survives, the frames do not.
    {
        VideoWriter vw(tmp.path + "/good.avi", 64, 48, 25);
        for (int k = 0; k < 3; ++k) vw.write(synthetic_frame(k, 64, 48));
        vw.close();
    }
    write_file(tmp.path + "/cut.avi", read_file(tmp.path + "/good.avi").substr(0, 200));
    msg = error_of([&] { open_frames(tmp.path + "/cut.avi"); });
    EXPECT_NE(msg.find("cut.avi"), std::string::npos) << msg;

    // An unreadable file (only meaningful when not running as root, who can read anything).
    if (::geteuid() != 0) {
        write_file(tmp.path + "/locked.mp4", read_file(tmp.path + "/good.avi"));
        ::chmod((tmp.path + "/locked.mp4").c_str(), 0);
        msg = error_of([&] { open_frames(tmp.path + "/locked.mp4"); });
        EXPECT_NE(msg.find("cannot read"), std::string::npos) << msg;
    }
}

TEST(Video, WriterUsesATemporaryFileUntilClose) {
    TempDir tmp;
    const std::string path = tmp.path + "/out.mp4";
    {
        VideoWriter vw(path, 64, 48, 25);
        vw.write(synthetic_frame(0, 64, 48));
        vw.write(synthetic_frame(1, 64, 48));
        EXPECT_FALSE(stdfs::exists(path)) << "nothing at the target before close()";
        EXPECT_TRUE(stdfs::exists(vw.temp_path()));
        EXPECT_EQ(stdfs::path(vw.temp_path()).parent_path(), stdfs::path(path).parent_path());
        EXPECT_THROW(vw.write(synthetic_frame(0, 32, 48)), Error);  // wrong size
        vw.close();
        EXPECT_TRUE(stdfs::exists(path));
        EXPECT_FALSE(stdfs::exists(vw.temp_path()));
        EXPECT_THROW(vw.write(synthetic_frame(0, 64, 48)), Error);  // after close
    }
    EXPECT_TRUE(stdfs::exists(path)) << "the destructor keeps a closed file";
    EXPECT_EQ(open_frames(path)->frame_count(), 2);

    // Without close(): the destructor leaves nothing, and an existing file at the target is untouched.
    const std::string path2 = tmp.path + "/abandoned.avi";
    std::string temp2;
    {
        VideoWriter vw(path2, 64, 48, 25);
        vw.write(synthetic_frame(0, 64, 48));
        temp2 = vw.temp_path();
        EXPECT_TRUE(stdfs::exists(temp2));
    }
    EXPECT_FALSE(stdfs::exists(temp2));
    EXPECT_FALSE(stdfs::exists(path2));
    {
        VideoWriter vw(path, 64, 48, 25);
        vw.write(synthetic_frame(5, 64, 48));
    }
    EXPECT_EQ(open_frames(path)->frame_count(), 2) << "an abandoned rewrite must not replace the old file";
    EXPECT_EQ(std::distance(stdfs::directory_iterator(tmp.path), stdfs::directory_iterator()), 1)
        << "only out.mp4 is left";

    // close() with no frame, unsupported extensions, missing folders.
    {
        VideoWriter vw(tmp.path + "/none.mp4", 64, 48, 25);
        EXPECT_THROW(vw.close(), Error);
    }
    EXPECT_FALSE(stdfs::exists(tmp.path + "/none.mp4"));
    EXPECT_THROW(VideoWriter(tmp.path + "/x.gif", 64, 48, 25), Error);
    EXPECT_THROW(VideoWriter(tmp.path + "/no/such/folder/x.mp4", 64, 48, 25), Error);
    EXPECT_THROW(VideoWriter(tmp.path + "/x.mp4", 0, 48, 25), Error);
}

namespace {

/// Sets PATH for the scope of one test and restores it afterwards.
struct PathGuard {
    std::string old;
    bool had = false;
    explicit PathGuard(const std::string& path) {
        const char* p = std::getenv("PATH");
        had = p != nullptr;
        if (had) old = p;
        ::setenv("PATH", path.c_str(), 1);
    }
    ~PathGuard() {
        if (had)
            ::setenv("PATH", old.c_str(), 1);
        else
            ::unsetenv("PATH");
    }
};

void write_script(const std::string& path, const std::string& body) {
    write_file(path, "#!/bin/sh\n" + body);
    ::chmod(path.c_str(), 0755);
}

}  // namespace

TEST(Video, MuxAudioThroughFfmpegSubprocess) {
    TempDir tmp;
    const std::string video = tmp.path + "/out.mp4", source = tmp.path + "/source.mp4";
    write_file(video, "video-only");
    write_file(source, "with-audio");
    std::string why;

    {  // no ffmpeg on PATH
        stdfs::create_directories(tmp.path + "/empty_bin");
        PathGuard g(tmp.path + "/empty_bin");
        EXPECT_FALSE(mux_audio(video, source, &why));
        EXPECT_NE(why.find("ffmpeg is not on PATH"), std::string::npos) << why;
    }
    {  // a stand-in ffmpeg that records its arguments and writes its last argument (the output)
        stdfs::create_directories(tmp.path + "/bin_ok");
        write_script(tmp.path + "/bin_ok/ffmpeg", "printf '%s\\n' \"$@\" > '" + tmp.path +
                                                      "/args.txt'\n"
                                                      "for a in \"$@\"; do out=\"$a\"; done\n"
                                                      "printf muxed > \"$out\"\n");
        PathGuard g(tmp.path + "/bin_ok:/bin:/usr/bin");
        EXPECT_TRUE(mux_audio(video, source, &why)) << why;
        EXPECT_EQ(read_file(video), "muxed");
        const std::string args = read_file(tmp.path + "/args.txt");
        EXPECT_NE(args.find("-i\n" + video + "\n-i\n" + source + "\n"), std::string::npos) << args;
        EXPECT_NE(args.find("-map\n1:a:0\n-c\ncopy\n"), std::string::npos) << args;
        EXPECT_EQ(args.find("-ss"), std::string::npos) << args;
        // A subclip's audio: -ss/-t go before the audio input.
        EXPECT_TRUE(mux_audio(video, source, &why, 2.5, 4.0)) << why;
        const std::string args2 = read_file(tmp.path + "/args.txt");
        EXPECT_NE(args2.find("-ss\n2.5"), std::string::npos) << args2;
        EXPECT_LT(args2.find("-t\n4.0"), args2.find("-i\n" + source)) << args2;
    }
    write_file(video, "video-only");
    {  // a source without audio: ffmpeg's own message becomes the reason, and the video is untouched
        stdfs::create_directories(tmp.path + "/bin_noaudio");
        write_script(tmp.path + "/bin_noaudio/ffmpeg", "echo \"Stream map '1:a:0' matches no streams.\" >&2\nexit 1\n");
        PathGuard g(tmp.path + "/bin_noaudio:/bin:/usr/bin");
        EXPECT_FALSE(mux_audio(video, source, &why));
        EXPECT_NE(why.find("no audio track"), std::string::npos) << why;
        EXPECT_EQ(read_file(video), "video-only");
    }
    {  // any other failure reports ffmpeg's message
        stdfs::create_directories(tmp.path + "/bin_fail");
        write_script(tmp.path + "/bin_fail/ffmpeg", "echo 'Invalid data found' >&2\nexit 3\n");
        PathGuard g(tmp.path + "/bin_fail:/bin:/usr/bin");
        EXPECT_FALSE(mux_audio(video, source, &why));
        EXPECT_NE(why.find("exit 3"), std::string::npos) << why;
        EXPECT_NE(why.find("Invalid data found"), std::string::npos) << why;
        EXPECT_EQ(read_file(video), "video-only");
    }
    // Only the two files are left: no temporary or log files.
    EXPECT_FALSE(mux_audio(tmp.path + "/missing.mp4", source, &why));
    int files = 0;
    for (const auto& e : stdfs::directory_iterator(tmp.path)) files += e.is_regular_file();
    EXPECT_EQ(files, 3) << "out.mp4, source.mp4, args.txt";
}
