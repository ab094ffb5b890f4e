// video.h: frames in (a video file or a folder of images) and a video out, for `faceswap extract` and `convert`.
// Frames are RGB `Image`s (io/image.h), like every other image in the project. The video side uses OpenCV's
// videoio (FFmpeg backend) inside the separate `fs_video` library; this header includes no OpenCV, and the core
// libraries never link it. Folders of images are decoded by OpenCV too (imread: libjpeg/libpng), so a folder of
// frames and the video they came from decode alike, and the MTCNN reference detections (made on libjpeg-decoded
// frames) are reproduced exactly; stb_image's JPEG decoder differs by a few levels on some pixels.
// Every failure throws fs::Error naming the file; destructors never throw.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "io/image.h"

namespace fs {

/// The frame rate reported for a folder of images, which has none of its own (the PAL rate, a common default).
constexpr double k_folder_fps = 25.0;

/// Frames from a video file (OpenCV) or a folder of images (sorted by file name; jpg/jpeg/png/bmp), as RGB Images.
/// Every frame has the size of the first one; a folder image of another size is an error naming the file.
class FrameSource {
 public:
    virtual ~FrameSource() = default;
    /// Decodes the next frame into `rgb` (3 channels); false at the end. Throws on a frame that cannot be decoded
    /// in a folder; a video's decoding error mid-stream reads as its end (OpenCV does not distinguish them).
    virtual bool read(Image& rgb) = 0;
    /// Advances one frame without decoding it where possible (a video grabs the packet; a folder skips the file);
    /// false at the end.
    virtual bool skip() = 0;
    int width() const { return m_width; }
    int height() const { return m_height; }
    /// The video's frame rate, or k_folder_fps for a folder (or a video that reports none).
    double fps() const { return m_fps; }
    /// The number of frames: exact for a folder; for a video the container's figure (FFmpeg may estimate it from
    /// the duration), or -1 when it reports none.
    int64_t frame_count() const { return m_count; }
    /// The index of the next frame read() or skip() would return.
    int64_t position() const { return m_pos; }
    /// A name for frame `index`: a folder's file stem ("0001" for 0001.jpg), a video's 6-digit frame number
    /// ("000012").
    virtual std::string name_of(int64_t index) const = 0;
    bool is_video() const { return m_is_video; }
    /// The path it was opened from.
    const std::string& path() const { return m_path; }

 protected:
    std::string m_path;
    int m_width = 0, m_height = 0;
    double m_fps = k_folder_fps;
    int64_t m_count = -1, m_pos = 0;
    bool m_is_video = false;
};

/// Reads one image file as RGB with OpenCV's decoders (what FrameSource uses for folders). Throws naming the file.
Image read_frame_image(const std::string& path);

/// Writes an RGB or grey image with OpenCV's encoders, atomically (temporary file, then rename); the format
/// follows the extension: .png (zlib level 1: fast, the files stay ~10 % larger than at the default level) or
/// .jpg/.jpeg (quality `jpeg_quality`). Used by the tools that write many images (extract).
void write_frame_image(const std::string& path, const Image& img, int jpeg_quality = 95);

/// Opens a video file or a folder of images. Throws with a clear message when the path is missing or
/// unreadable, a folder holds no images, or a file is not a video OpenCV can decode (its first frame is
/// decoded here, so a corrupt file fails now rather than at the first read).
/// `same_size` false lets a folder hold images of any size (width()/height() are then the first image's): what
/// extraction from photos needs; video frames always share one size.
std::unique_ptr<FrameSource> open_frames(const std::string& path, bool same_size = true);

/// Writes a video atomically: frames go to a temporary file beside `path` (".<stem>.writing<ext>"); close()
/// renames it into place only when complete; the destructor without close() deletes the temporary file.
/// The codec follows the extension: .mp4/.m4v/.mov MPEG-4 part 2 ('mp4v'), .avi Motion-JPEG ('MJPG'), the two
/// that Debian's OpenCV + FFmpeg can write without extra encoders.
class VideoWriter {
 public:
    VideoWriter(const std::string& path, int width, int height, double fps);
    ~VideoWriter();
    VideoWriter(const VideoWriter&) = delete;
    VideoWriter& operator=(const VideoWriter&) = delete;
    /// Appends one RGB frame of the writer's size.
    void write(const Image& rgb);
    /// Finishes the file and renames it to `path` (replacing any file there). Throws when no frame was written.
    void close();
    /// The temporary file frames go to until close().
    const std::string& temp_path() const;
    int64_t frames_written() const;

 private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// Copies the audio track of `audio_from` into the finished video `video` with ffmpeg (a subprocess, stream
/// copy: `-c copy`), when ffmpeg is on PATH and the source has audio. The muxed file is written beside `video`
/// and renamed over it only on success. Returns false, with the reason in `*why` (when not null), otherwise;
/// `video` is then unchanged. For a converted subclip, `start_s` (≥ 0) and `duration_s` (> 0; ≤ 0 for the rest)
/// select the part of the source's audio that goes with it.
bool mux_audio(const std::string& video, const std::string& audio_from, std::string* why, double start_s = 0,
               double duration_s = -1);

}  // namespace fs
