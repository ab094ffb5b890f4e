// video.cpp: FrameSource over OpenCV's VideoCapture (FFmpeg backend) or a folder of images (stb), VideoWriter
// over OpenCV's VideoWriter, and audio muxing through an ffmpeg subprocess. The only file of the project that
// includes OpenCV; it is built into `fs_video`, never into the core.
#include "io/video.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>
#include <sstream>
#include <vector>

#include "tensor/error.h"

extern char** environ;

namespace fs {

namespace {

namespace stdfs = std::filesystem;

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

/// The FFmpeg backend when this OpenCV has it (it reads and writes files without GStreamer's start-up cost and
/// noise), otherwise whatever OpenCV picks.
int video_api() {
    static const int api = cv::videoio_registry::hasBackend(cv::CAP_FFMPEG) ? int(cv::CAP_FFMPEG) : int(cv::CAP_ANY);
    return api;
}

/// An 8-bit BGR (or grey, or BGRA) OpenCV frame -> RGB Image.
void mat_to_rgb(const cv::Mat& m, Image& out) {
    FS_CHECK(m.depth() == CV_8U && (m.channels() == 1 || m.channels() == 3 || m.channels() == 4),
             "video: unexpected frame format (depth ", m.depth(), ", ", m.channels(), " channels)");
    out.width = m.cols;
    out.height = m.rows;
    out.channels = 3;
    out.pixels.resize(size_t(m.rows) * size_t(m.cols) * 3);
    const int c = m.channels();
    for (int y = 0; y < m.rows; ++y) {
        const uint8_t* src = m.ptr<uint8_t>(y);
        uint8_t* dst = out.pixels.data() + size_t(y) * size_t(m.cols) * 3;
        for (int x = 0; x < m.cols; ++x, src += c, dst += 3) {
            if (c == 1) {
                dst[0] = dst[1] = dst[2] = src[0];
            } else {  // OpenCV's order is B, G, R(, A)
                dst[0] = src[2];
                dst[1] = src[1];
                dst[2] = src[0];
            }
        }
    }
}

}  // namespace

Image read_frame_image(const std::string& path) {
    std::error_code ec;
    FS_CHECK(stdfs::is_regular_file(path, ec), path, ": no such image file");
    cv::Mat m = cv::imread(path, cv::IMREAD_COLOR);
    FS_CHECK(!m.empty(), path, ": cannot decode the image (corrupt, truncated or not an image OpenCV reads)");
    Image out;
    mat_to_rgb(m, out);
    return out;
}

void write_frame_image(const std::string& path, const Image& img, int jpeg_quality) {
    FS_CHECK(img.width > 0 && img.height > 0 && (img.channels == 1 || img.channels == 3),
             "write_frame_image: bad image ", img.width, "x", img.height, "x", img.channels, " for ", path);
    FS_CHECK(img.pixels.size() == size_t(img.width) * size_t(img.height) * size_t(img.channels),
             "write_frame_image: pixel buffer does not match ", img.width, "x", img.height, "x", img.channels);
    std::string ext = stdfs::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    std::vector<int> params;
    if (ext == ".png") params = {cv::IMWRITE_PNG_COMPRESSION, 1};
    else if (ext == ".jpg" || ext == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
    else FS_FAIL("write_frame_image: unsupported extension '", ext, "' for ", path, " (use .png, .jpg or .jpeg)");
    cv::Mat m(img.height, img.width, img.channels == 1 ? CV_8UC1 : CV_8UC3);
    for (int y = 0; y < img.height; ++y) {
        const uint8_t* s = img.pixels.data() + size_t(y) * size_t(img.width) * size_t(img.channels);
        uint8_t* d = m.ptr<uint8_t>(y);
        if (img.channels == 1) std::copy_n(s, img.width, d);
        else
            for (int x = 0; x < img.width; ++x) d[3 * x] = s[3 * x + 2], d[3 * x + 1] = s[3 * x + 1], d[3 * x + 2] = s[3 * x];
    }
    std::vector<uchar> buf;
    FS_CHECK(cv::imencode(ext, m, buf, params), "write_frame_image: cannot encode ", path);
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary);
        FS_CHECK(f, "write_frame_image: cannot create ", tmp);
        f.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(buf.size()));
        f.close();
        FS_CHECK(f, "write_frame_image: error writing ", tmp, " (disk full?)");
    }
    std::error_code ec;
    stdfs::rename(tmp, path, ec);
    FS_CHECK(!ec, "write_frame_image: cannot rename ", tmp, " to ", path, ": ", ec.message());
}

namespace {

std::string frame_number_name(int64_t index) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06lld", static_cast<long long>(index));
    return buf;
}

// --- a video file ---------------------------------------------------------------------------------------------

class VideoSource final : public FrameSource {
 public:
    explicit VideoSource(const std::string& path) {
        m_path = path;
        m_is_video = true;
        m_cap.open(path, video_api());
        FS_CHECK(m_cap.isOpened(), "open_frames: cannot open ", path,
                 " as a video (not a video, corrupt, or a format OpenCV/FFmpeg cannot decode)");
        // Decode the first frame now: a file FFmpeg can probe but not decode fails here, with its name.
        FS_CHECK(m_cap.read(m_first) && !m_first.empty(), "open_frames: ", path,
                 " opened as a video but no frame could be decoded (corrupt or empty video)");
        m_have_first = true;
        m_width = m_first.cols;
        m_height = m_first.rows;
        const double fps = m_cap.get(cv::CAP_PROP_FPS);
        // Containers without a rate report 0 (or NaN); such a video is played at the folder default.
        m_fps = (std::isfinite(fps) && fps > 0) ? fps : k_folder_fps;
        const double n = m_cap.get(cv::CAP_PROP_FRAME_COUNT);
        m_count = (std::isfinite(n) && n > 0) ? int64_t(std::llround(n)) : -1;
    }

    bool read(Image& rgb) override {
        if (m_have_first) {
            m_have_first = false;
            mat_to_rgb(m_first, rgb);
            m_first.release();
            ++m_pos;
            return true;
        }
        if (m_done || !m_cap.read(m_frame) || m_frame.empty()) return end();
        FS_CHECK(m_frame.cols == m_width && m_frame.rows == m_height, "video ", m_path, ": frame ", m_pos, " is ",
                 m_frame.cols, "x", m_frame.rows, " but the video started at ", m_width, "x", m_height);
        mat_to_rgb(m_frame, rgb);
        ++m_pos;
        return true;
    }

    bool skip() override {
        if (m_have_first) {
            m_have_first = false;
            m_first.release();
            ++m_pos;
            return true;
        }
        if (m_done || !m_cap.grab()) return end();
        ++m_pos;
        return true;
    }

    std::string name_of(int64_t index) const override { return frame_number_name(index); }

 private:
    bool end() {
        m_done = true;
        return false;
    }

    cv::VideoCapture m_cap;
    cv::Mat m_first, m_frame;
    bool m_have_first = false, m_done = false;
};

// --- a folder of images ---------------------------------------------------------------------------------------

class FolderSource final : public FrameSource {
 public:
    FolderSource(const std::string& path, std::vector<stdfs::path> files, bool same_size)
        : m_files(std::move(files)), m_same_size(same_size) {
        m_path = path;
        m_is_video = false;
        m_fps = k_folder_fps;
        m_count = int64_t(m_files.size());
        // The first image fixes the size (read_frame_image throws naming the file when it cannot be decoded).
        Image first = read_frame_image(m_files[0].string());
        m_width = first.width;
        m_height = first.height;
    }

    bool read(Image& rgb) override {
        if (m_pos >= m_count) return false;
        const std::string file = m_files[size_t(m_pos)].string();
        rgb = read_frame_image(file);
        FS_CHECK(!m_same_size || (rgb.width == m_width && rgb.height == m_height), "open_frames: ", file, " is ", rgb.width, "x",
                 rgb.height, " but the folder's first image (", m_files[0].filename().string(), ") is ", m_width, "x",
                 m_height, "; every frame must have the same size");
        ++m_pos;
        return true;
    }

    bool skip() override {
        if (m_pos >= m_count) return false;
        ++m_pos;
        return true;
    }

    std::string name_of(int64_t index) const override {
        FS_CHECK(index >= 0 && index < m_count, "name_of: frame ", index, " out of range [0, ", m_count, ") for ",
                 m_path);
        return m_files[size_t(index)].stem().string();
    }

 private:
    std::vector<stdfs::path> m_files;
    bool m_same_size = true;
};

bool is_image_file(const stdfs::path& p) {
    const std::string ext = lower(p.extension().string());
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

}  // namespace

std::unique_ptr<FrameSource> open_frames(const std::string& path, bool same_size) {
    FS_CHECK(!path.empty(), "open_frames: empty path");
    std::error_code ec;
    const stdfs::file_status st = stdfs::status(path, ec);
    FS_CHECK(!ec || ec == std::errc::no_such_file_or_directory, "open_frames: cannot access ", path, ": ",
             ec.message());
    FS_CHECK(stdfs::exists(st), "open_frames: no such file or folder: ", path);
    if (stdfs::is_directory(st)) {
        std::vector<stdfs::path> files;
        stdfs::directory_iterator it(path, ec), end;
        FS_CHECK(!ec, "open_frames: cannot read the folder ", path, ": ", ec.message());
        for (; it != end; it.increment(ec)) {
            FS_CHECK(!ec, "open_frames: cannot read the folder ", path, ": ", ec.message());
            std::error_code ec2;
            if (it->is_regular_file(ec2) && is_image_file(it->path())) files.push_back(it->path());
        }
        FS_CHECK(!files.empty(), "open_frames: no images (.jpg, .jpeg, .png, .bmp) in the folder ", path);
        std::sort(files.begin(), files.end(), [](const stdfs::path& a, const stdfs::path& b) {
            return a.filename().string() < b.filename().string();
        });
        return std::make_unique<FolderSource>(path, std::move(files), same_size);
    }
    FS_CHECK(stdfs::is_regular_file(st), "open_frames: ", path, " is neither a file nor a folder");
    {
        std::ifstream probe(path, std::ios::binary);
        FS_CHECK(probe.good(), "open_frames: cannot read ", path, ": ", std::strerror(errno));
    }
    return std::make_unique<VideoSource>(path);
}

// --- VideoWriter ----------------------------------------------------------------------------------------------

struct VideoWriter::Impl {
    std::string path, tmp;
    int width = 0, height = 0;
    cv::VideoWriter writer;
    cv::Mat bgr;
    int64_t frames = 0;
    bool closed = false;
};

VideoWriter::VideoWriter(const std::string& path, int width, int height, double fps) : m_impl(new Impl) {
    FS_CHECK(width > 0 && height > 0, "VideoWriter: bad size ", width, "x", height, " for ", path);
    FS_CHECK(std::isfinite(fps) && fps > 0, "VideoWriter: bad frame rate ", fps, " for ", path);
    const stdfs::path p(path);
    const std::string ext = lower(p.extension().string());
    int fourcc = 0;
    if (ext == ".mp4" || ext == ".m4v" || ext == ".mov")
        fourcc = cv::VideoWriter::fourcc('m', 'p', '4', 'v');
    else if (ext == ".avi")
        fourcc = cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
    FS_CHECK(fourcc != 0, "VideoWriter: ", path, ": unsupported extension '", ext, "' (use .mp4, .m4v, .mov or .avi)");
    const stdfs::path dir = p.has_parent_path() ? p.parent_path() : stdfs::path(".");
    std::error_code ec;
    FS_CHECK(stdfs::is_directory(dir, ec), "VideoWriter: the folder of ", path, " does not exist");
    m_impl->path = path;
    m_impl->width = width;
    m_impl->height = height;
    // Beside the target (same file system, so the final rename is atomic); the extension is kept because
    // FFmpeg chooses the container from it; the process id keeps two writers of one target apart.
    m_impl->tmp =
        (dir / ("." + p.stem().string() + ".writing-" + std::to_string(::getpid()) + p.extension().string())).string();
    m_impl->writer.open(m_impl->tmp, video_api(), fourcc, fps, cv::Size(width, height), true);
    if (!m_impl->writer.isOpened()) {
        stdfs::remove(m_impl->tmp, ec);
        FS_FAIL("VideoWriter: OpenCV cannot write ", path, " (codec ", ext == ".avi" ? "MJPG" : "mp4v", ", ", width,
                "x", height, " at ", fps, " fps; is the folder writable?)");
    }
    m_impl->bgr.create(height, width, CV_8UC3);
}

VideoWriter::~VideoWriter() {
    if (!m_impl || m_impl->closed) return;
    try {
        m_impl->writer.release();
    } catch (...) {  // a destructor never throws; the temporary file goes either way
    }
    std::error_code ec;
    stdfs::remove(m_impl->tmp, ec);
}

void VideoWriter::write(const Image& rgb) {
    Impl& d = *m_impl;
    FS_CHECK(!d.closed, "VideoWriter: write after close() for ", d.path);
    FS_CHECK(rgb.width == d.width && rgb.height == d.height && rgb.channels == 3, "VideoWriter: frame ", d.frames,
             " is ", rgb.width, "x", rgb.height, "x", rgb.channels, " but ", d.path, " is ", d.width, "x", d.height,
             "x3");
    FS_CHECK(rgb.pixels.size() == size_t(d.width) * size_t(d.height) * 3, "VideoWriter: pixel buffer size does not",
             " match ", d.width, "x", d.height, "x3");
    for (int y = 0; y < d.height; ++y) {
        const uint8_t* src = rgb.pixels.data() + size_t(y) * size_t(d.width) * 3;
        uint8_t* dst = d.bgr.ptr<uint8_t>(y);
        for (int x = 0; x < d.width; ++x, src += 3, dst += 3) {
            dst[0] = src[2];
            dst[1] = src[1];
            dst[2] = src[0];
        }
    }
    d.writer.write(d.bgr);
    ++d.frames;
}

void VideoWriter::close() {
    Impl& d = *m_impl;
    FS_CHECK(!d.closed, "VideoWriter: close() called twice for ", d.path);
    FS_CHECK(d.frames > 0, "VideoWriter: no frame was written to ", d.path);
    d.writer.release();
    std::error_code ec;
    FS_CHECK(stdfs::file_size(d.tmp, ec) > 0 && !ec, "VideoWriter: the encoder left no data in ", d.tmp);
    stdfs::rename(d.tmp, d.path, ec);
    FS_CHECK(!ec, "VideoWriter: cannot rename ", d.tmp, " to ", d.path, ": ", ec.message());
    d.closed = true;
}

const std::string& VideoWriter::temp_path() const { return m_impl->tmp; }
int64_t VideoWriter::frames_written() const { return m_impl->frames; }

// --- audio ----------------------------------------------------------------------------------------------------

namespace {

/// The full path of an executable `name` on PATH, or "".
std::string find_on_path(const std::string& name) {
    const char* env = std::getenv("PATH");
    if (!env) return "";
    std::stringstream ss(env);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        if (dir.empty()) dir = ".";
        const std::string cand = dir + "/" + name;
        struct stat st {};
        if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0) return cand;
    }
    return "";
}

/// Runs argv[0] (a full path) with stdin and stdout on /dev/null and stderr into `log`; returns the exit status
/// (-1 when it could not start or was killed by a signal).
int run_process(const std::vector<std::string>& args, const std::string& log) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_tail(const std::string& file, size_t max_chars) {
    std::ifstream in(file, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s.size() > max_chars ? "..." + s.substr(s.size() - max_chars) : s;
}

}  // namespace

bool mux_audio(const std::string& video, const std::string& audio_from, std::string* why, double start_s,
               double duration_s) {
    auto fail = [&](const std::string& reason) {
        if (why) *why = reason;
        return false;
    };
    std::error_code ec;
    if (!stdfs::is_regular_file(video, ec)) return fail("no video file " + video);
    if (!stdfs::is_regular_file(audio_from, ec)) return fail(audio_from + " is not a file (no audio to copy)");
    const std::string ffmpeg = find_on_path("ffmpeg");
    if (ffmpeg.empty()) return fail("ffmpeg is not on PATH (Debian package 'ffmpeg')");
    const stdfs::path p(video);
    const stdfs::path dir = p.has_parent_path() ? p.parent_path() : stdfs::path(".");
    const std::string tag = std::to_string(::getpid());
    const std::string tmp = (dir / ("." + p.stem().string() + ".muxing-" + tag + p.extension().string())).string();
    const std::string log = (dir / ("." + p.stem().string() + ".muxing-" + tag + ".log")).string();
    // Video from the first input, the first audio stream of the second, both copied without re-encoding; the
    // shorter stream ends the file (the audio of a longer source is cut at the video's end).
    // -ss/-t before the second -i seek in that input only.
    FS_CHECK(std::isfinite(start_s) && start_s >= 0, "mux_audio: bad start ", start_s, " s");
    std::vector<std::string> args = {ffmpeg, "-nostdin", "-y", "-v", "error", "-i", video};
    if (start_s > 0) args.insert(args.end(), {"-ss", std::to_string(start_s)});
    if (duration_s > 0) args.insert(args.end(), {"-t", std::to_string(duration_s)});
    args.insert(args.end(), {"-i", audio_from, "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-shortest", tmp});
    const int rc = run_process(args, log);
    const std::string err = read_tail(log, 400);
    stdfs::remove(log, ec);
    if (rc != 0) {
        stdfs::remove(tmp, ec);
        if (err.find("matches no streams") != std::string::npos) return fail("no audio track in " + audio_from);
        return fail("ffmpeg failed (exit " + std::to_string(rc) + "): " + err);
    }
    if (!stdfs::is_regular_file(tmp, ec) || stdfs::file_size(tmp, ec) == 0) {
        stdfs::remove(tmp, ec);
        return fail("ffmpeg wrote no output: " + err);
    }
    stdfs::rename(tmp, video, ec);
    if (ec) {
        stdfs::remove(tmp, ec);
        return fail("cannot rename " + tmp + " to " + video);
    }
    return true;
}

}  // namespace fs
