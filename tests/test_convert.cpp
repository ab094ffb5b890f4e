// test_convert.cpp: `faceswap convert` (tools/convert.cpp) end to end on the shared sequences with a fresh lite
// model: the output video's frame count, size and fps; frames without a face passing through bit for bit; two
// faces tracked separately; box smoothing; the hold between detections; the output layouts; clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "io/video.h"
#include "testdata.h"
#include "tools/convert.h"

namespace fs {
namespace {

namespace stdfs = std::filesystem;

#ifdef FS_SANITIZE_BUILD
constexpr int k_frames = 8;  // ASan/UBSan at -O1 run MTCNN and the generator ~10x slower
#else
constexpr int k_frames = 30;
#endif

const Mtcnn& mtcnn() {
    static Mtcnn m(shared_data_dir() + "/mtcnn/bin");
    return m;
}

// A fresh lite 64 model (seeded): untrained, so its faces are noise, but every stage of the pipeline runs.
const FaceSwapModel& lite_model() {
    static FaceSwapModel m([] {
        ModelConfig c;
        c.capacity = Capacity::lite;
        c.seed = 7;
        return c;
    }());
    return m;
}

// A temporary folder unique to this process (ctest runs the tests in parallel processes).
std::string fresh(const std::string& name) {
    stdfs::path d = stdfs::temp_directory_path() / ("fs_convert_" + name + "_" + std::to_string(::getpid()));
    stdfs::remove_all(d);
    stdfs::create_directories(d);
    return d.string();
}

std::string d14() { return shared_data_dir() + "/sequences/lp_d14_woman_asian"; }

ConvertOptions options(const std::string& in, const std::string& out) {
    ConvertOptions o;
    o.input = in;
    o.output = out;
    o.quiet = true;
    return o;
}

ConvertStats convert(const ConvertOptions& o) {
    return run_convert(o, mtcnn(), model_generator(lite_model(), true), 64);
}

// Mean |second difference| of the box centres of one track over frames [skip, end): the frame-to-frame
// acceleration, which is jitter for a head that moves smoothly.
double centre_jitter(const std::vector<TrackRecord>& t, bool smoothed, size_t skip) {
    double sum = 0;
    size_t n = 0;
    auto cx = [&](size_t i) {
        const BoxI& b = smoothed ? t[i].box : t[i].raw;
        return std::array<double, 2>{(b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0};
    };
    for (size_t i = std::max<size_t>(skip, 2); i < t.size(); ++i) {
        const auto a = cx(i - 2), b = cx(i - 1), c = cx(i);
        sum += std::abs(c[0] - 2 * b[0] + a[0]) + std::abs(c[1] - 2 * b[1] + a[1]);
        ++n;
    }
    return n ? sum / double(n) : 0.0;
}

}  // namespace

TEST(Convert, VideoOfASequenceKeepsFramesSizeAndFps) {
    FS_REQUIRE_DATA();
    const std::string dir = fresh("video");
    ConvertOptions o = options(d14() + "/source_d14.mp4", dir + "/out.mp4");
    o.max_frames = k_frames;
    o.threads = 2;
    const ConvertStats st = convert(o);
    EXPECT_EQ(st.frames, k_frames);
    EXPECT_EQ(st.faces, k_frames);  // the reference finds exactly one face in every frame of this clip
    EXPECT_EQ(st.frames_with_face, k_frames);
    EXPECT_EQ(st.detections, k_frames);
    EXPECT_TRUE(st.video_output);
    EXPECT_FALSE(stdfs::exists(dir + "/.out.writing.mp4"));  // the temporary file was renamed

    std::unique_ptr<FrameSource> in = open_frames(d14() + "/source_d14.mp4");
    std::unique_ptr<FrameSource> out = open_frames(dir + "/out.mp4");
    EXPECT_EQ(out->width(), 512);
    EXPECT_EQ(out->height(), 512);
    EXPECT_NEAR(out->fps(), in->fps(), 1e-3);  // the container stores the rate as a rational (30/1 here)
    Image img;
    int n = 0;
    while (out->read(img)) ++n;
    EXPECT_EQ(n, k_frames);

    // One track through the clip; the Kalman-smoothed centre moves more smoothly than the raw detections. The
    // first frames are left out: the 200-prediction warm start makes the filter snap to the second and third
    // measurements (a deliberate transient, tested in test_convert_ops.cpp).
    ASSERT_EQ(st.tracks.size(), size_t(k_frames));
    std::set<int64_t> ids;
    for (const TrackRecord& r : st.tracks) ids.insert(r.track);
    EXPECT_EQ(ids.size(), 1u);
    const double raw = centre_jitter(st.tracks, false, 4), smooth = centre_jitter(st.tracks, true, 4);
    std::printf("centre jitter over %d frames: raw %.3f px, Kalman %.3f px\n", k_frames, raw, smooth);
    EXPECT_GT(raw, 0.0);
    EXPECT_LT(smooth, raw);
    stdfs::remove_all(dir);
}

TEST(Convert, FacelessFramesPassThroughAndTwoFacesAreTrackedApart) {
    FS_REQUIRE_DATA();
    // Frames of 512×256: two d14 frames at 256×256 side by side (two people), and the dlib still of dogs (no
    // human face) resized to that size, as PNGs so that the input is exactly what the converter reads.
    const std::string dir = fresh("folder"), in = dir + "/in";
    stdfs::create_directories(in);
    auto two_faces = [&](int k) {
        ImageF f(256, 512, 3);
        for (int half = 0; half < 2; ++half) {
            char name[32];
            std::snprintf(name, sizeof name, "/img/%04d.jpg", k + 40 * half);
            const ImageF s = resize_bilinear(to_float_image(read_frame_image(d14() + name)), 256, 256);
            for (int y = 0; y < 256; ++y)
                for (int x = 0; x < 256; ++x)
                    for (int c = 0; c < 3; ++c) f.at(y, x + 256 * half, c) = s.at(y, x, c);
        }
        return to_u8_image(f);
    };
    const Image dogs = to_u8_image(resize_bilinear(
        to_float_image(read_frame_image(shared_data_dir() + "/stills/dlib_faces/dogs_no_human_faces.jpg")), 256, 512));
    write_frame_image(in + "/0001.png", two_faces(1));
    write_frame_image(in + "/0002.png", dogs);
    write_frame_image(in + "/0003.png", two_faces(2));
    write_frame_image(in + "/0004.png", dogs);

    ConvertOptions o = options(in, dir + "/out");
    o.threads = 2;
    o.batch = 3;  // two batches, so the tracks continue across a batch boundary
    const ConvertStats st = convert(o);
    EXPECT_FALSE(st.video_output);
    EXPECT_EQ(st.frames, 4);
    EXPECT_EQ(st.frames_with_face, 2);
    EXPECT_EQ(st.faces, 4);
    std::set<int64_t> ids;
    for (const TrackRecord& r : st.tracks) ids.insert(r.track);
    EXPECT_EQ(ids.size(), 2u);  // each person keeps a track of their own through the faceless frame
    for (const char* f : {"0001", "0002", "0003", "0004"}) {
        const Image got = read_frame_image(dir + "/out/" + f + ".png"), want = read_frame_image(in + "/" + f + ".png");
        ASSERT_EQ(got.width, 512);
        ASSERT_EQ(got.height, 256);
        if (f[3] == '2' || f[3] == '4')
            EXPECT_EQ(got.pixels, want.pixels) << f;  // no face: the frame passes through bit for bit
        else
            EXPECT_NE(got.pixels, want.pixels) << f;  // faces replaced (by an untrained model's noise)
    }

    // Layout 3 into an existing folder: [input | result | mask], 3× as wide; the left panel is the input, the
    // faceless frame's result panel too.
    o.layout = OutputLayout::with_mask;
    o.max_frames = 2;
    const ConvertStats s3 = convert(o);
    EXPECT_EQ(s3.out_width, 3 * 512);
    const Image wide = read_frame_image(dir + "/out/0002.png"), in2 = read_frame_image(in + "/0002.png");
    ASSERT_EQ(wide.width, 3 * 512);
    for (int y = 0; y < 256; y += 5)
        for (int x = 0; x < 512; x += 3)
            for (int c = 0; c < 3; ++c) {
                const uint8_t v = in2.pixels[(size_t(y) * 512 + size_t(x)) * 3 + size_t(c)];
                ASSERT_EQ(wide.pixels[(size_t(y) * 1536 + size_t(x)) * 3 + size_t(c)], v);
                ASSERT_EQ(wide.pixels[(size_t(y) * 1536 + 512 + size_t(x)) * 3 + size_t(c)], v);
            }
    EXPECT_TRUE(stdfs::exists(dir + "/out/0004.png"));    // files of the earlier run are kept
    for (const auto& e : stdfs::directory_iterator(dir))  // no temporary folder left behind
        EXPECT_EQ(e.path().filename().string().find(".out.writing"), std::string::npos) << e.path();
    stdfs::remove_all(dir);
}

TEST(Convert, BetweenDetectionsTheFacesAreHeld) {
    FS_REQUIRE_DATA();
    const std::string dir = fresh("every");
    ConvertOptions o = options(d14() + "/img", dir + "/out");
    o.max_frames = 5;
    o.detect_every = 3;
    o.batch = 2;
    o.start_s = 10 / k_folder_fps;  // from frame 10 (0-based): 0011.jpg
    const ConvertStats st = convert(o);
    EXPECT_EQ(st.frames, 5);
    EXPECT_EQ(st.detections, 2);  // frames 0 and 3 of the run
    EXPECT_EQ(st.faces, 5);
    ASSERT_EQ(st.tracks.size(), 5u);
    for (size_t i = 0; i < 5; ++i) EXPECT_EQ(st.tracks[i].detected, i % 3 == 0) << i;
    EXPECT_EQ(st.tracks[1].box, st.tracks[0].box);
    EXPECT_EQ(st.tracks[2].box, st.tracks[0].box);
    EXPECT_EQ(st.tracks[4].box, st.tracks[3].box);
    EXPECT_TRUE(stdfs::exists(dir + "/out/0011.png"));
    EXPECT_TRUE(stdfs::exists(dir + "/out/0015.png"));
    EXPECT_FALSE(stdfs::exists(dir + "/out/0016.png"));
    stdfs::remove_all(dir);
}

TEST(Convert, ClearErrors) {
    FS_REQUIRE_DATA();
    const std::string dir = fresh("errors");
    auto message = [&](const ConvertOptions& o) {
        try {
            convert(o);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string missing = message(options(dir + "/nope.mp4", dir + "/out.mp4"));
    EXPECT_NE(missing.find("nope.mp4"), std::string::npos) << missing;
    {
        std::FILE* f = std::fopen((dir + "/junk.mp4").c_str(), "w");
        std::fputs("not a video", f);
        std::fclose(f);
    }
    const std::string junk = message(options(dir + "/junk.mp4", dir + "/out.mp4"));
    EXPECT_NE(junk.find("junk.mp4"), std::string::npos) << junk;
    const std::string mkv = message(options(d14() + "/img", dir + "/out.mkv"));
    EXPECT_NE(mkv.find(".mkv"), std::string::npos) << mkv;
    ConvertOptions late = options(d14() + "/img", dir + "/out");
    late.start_s = 1000;
    const std::string past = message(late);
    EXPECT_NE(past.find("past the end"), std::string::npos) << past;
    EXPECT_FALSE(stdfs::exists(dir + "/out.mp4"));  // nothing written by the failed runs
    EXPECT_FALSE(stdfs::exists(dir + "/out"));
    // The CLI: a missing model file is named, with how to make one.
    try {
        convert_main({dir + "/none.safetensors", d14() + "/img", dir + "/out"});
        ADD_FAILURE() << "no error for a missing model";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("none.safetensors"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("init-model"), std::string::npos) << e.what();
    }
    EXPECT_THROW(convert_main({"--smoothing", "median", "m", "i", "o"}), Error);
    EXPECT_THROW(convert_main({"--output-type", "4", "m", "i", "o"}), Error);
    stdfs::remove_all(dir);
}

}  // namespace fs
