// convert.cpp: see convert.h. Three threads of control: a reader thread decodes frames into a small queue, a writer
// thread encodes finished frames in order, and the calling thread converts batches of `batch` frames in stages,
// each stage spread over the CPU threads with parallel_for (nested ops then run single-threaded):
//   1. detection on the batch's detection frames (one frame per thread at a time) and RGB -> BGR float;
//   2. tracking, in frame order (cheap): FaceTracker on detection frames, the held faces on the others;
//   3. per face: the crop of the smoothed box, the alignment fitted in it, the aligned crop and its model input;
//   4. the generator over all the batch's faces (batches of up to 16), multi-threaded ops;
//   5. per face: the rest of the face transform, the reverse warp and the composite;
//   6. per frame: the composed output frame.
// Batching frames amortises the generator's dense-layer weight reads (128 MB per call for the standard model) and
// keeps both cores busy in every stage.
#include "tools/convert.h"

#include "faceswap/cli.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>

#include "faceswap/gan.h"
#include "faceswap/models.h"
#include "faceswap/progress.h"
#include "io/video.h"
#include "kernels/cpu/thread_pool.h"
#include "tensor/error.h"

namespace fs {

namespace {

namespace stdfs = std::filesystem;

/// The largest generator call: 16 faces of the standard 64 model hold ~60 MB of activations, and beyond 8 the
/// per-face cost no longer falls (the dense weights are then read once per 8+ faces).
constexpr int k_max_generator_batch = 16;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// A bounded FIFO between two threads. push() blocks while full; pop() blocks until an item arrives or the
/// producer finished. cancel() wakes everyone: pushes and pops then fail.
template <class T>
class BoundedQueue {
 public:
    explicit BoundedQueue(size_t capacity) : m_cap(capacity) {}
    bool push(T v) {
        std::unique_lock<std::mutex> lk(m_mu);
        m_cv.wait(lk, [&] { return m_cancelled || m_q.size() < m_cap; });
        if (m_cancelled) return false;
        m_q.push_back(std::move(v));
        m_cv.notify_all();
        return true;
    }
    bool pop(T& v) {
        std::unique_lock<std::mutex> lk(m_mu);
        m_cv.wait(lk, [&] { return m_cancelled || m_finished || !m_q.empty(); });
        if (m_cancelled || m_q.empty()) return false;
        v = std::move(m_q.front());
        m_q.pop_front();
        m_cv.notify_all();
        return true;
    }
    void finish() {
        std::lock_guard<std::mutex> lk(m_mu);
        m_finished = true;
        m_cv.notify_all();
    }
    void cancel() {
        std::lock_guard<std::mutex> lk(m_mu);
        m_cancelled = true;
        m_q.clear();
        m_cv.notify_all();
    }

 private:
    size_t m_cap;
    std::mutex m_mu;
    std::condition_variable m_cv;
    std::deque<T> m_q;
    bool m_finished = false, m_cancelled = false;
};

struct InFrame {
    std::string name;
    Image rgb;
};

struct OutFrame {
    std::string name;
    Image rgb;
};

/// A face to convert in one frame of the batch.
struct FaceJob {
    size_t slot = 0;  // frame within the batch
    BoxI box;         // the smoothed box (the crop)
    std::array<Point2, 5> points{};
    bool ok = false;  // prepared: the box holds an ROI and the alignment could be fitted
    ImageF crop;
    CropAlignment align;
    SwapInput input;
    size_t out = 0;  // which generator call, and the face's index in it
    int64_t index = 0;
    SwappedFace result;
};

/// The faces a frame shows: the tracker's output on a detection frame, held on the frames after it.
struct HeldFace {
    int64_t track = -1;
    BoxI raw, box;
    std::array<Point2, 5> points{};
};

BoxI to_box(const SquareBox& b) { return {b.x0, b.y0, b.x1, b.y1}; }

/// The output folder is written as a hidden sibling and moved into place at the end.
std::string temp_folder_for(const std::string& output) {
    const stdfs::path p = stdfs::path(output).lexically_normal();
    const stdfs::path name = p.filename().empty() ? p.parent_path().filename() : p.filename();
    const stdfs::path parent = p.filename().empty() ? p.parent_path().parent_path() : p.parent_path();
    return ((parent.empty() ? stdfs::path(".") : parent) /
            ("." + name.string() + ".writing-" + std::to_string(::getpid())))
        .string();
}

}  // namespace

ConvertOptions::ConvertOptions() {
    detect.min_face_area = 35 * 35;  // §8.1: the conversion notebook's min_face_area
}

bool convert_output_is_video(const std::string& path) {
    const std::string ext = lower(stdfs::path(path).extension().string());
    if (ext == ".mp4" || ext == ".m4v" || ext == ".mov" || ext == ".avi") return true;
    for (const char* v : {".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".gif", ".ogv", ".ts"})
        FS_CHECK(ext != v, "convert: cannot write ", ext,
                 " videos; use .mp4 or .avi (or a folder name without an extension for PNG frames)");
    return false;
}

ConvertStats run_convert(const ConvertOptions& opt, const Mtcnn& mtcnn, const GeneratorFn& gen, int res) {
    FS_CHECK(static_cast<bool>(gen), "convert: no generator");
    FS_CHECK(res >= 8, "convert: bad model resolution ", res);
    FS_CHECK(opt.detect_every >= 1, "convert: --detect-every must be >= 1, got ", opt.detect_every);
    FS_CHECK(opt.batch >= 1 && opt.batch <= 256, "convert: --batch must be in [1, 256], got ", opt.batch);
    FS_CHECK(std::isfinite(opt.start_s) && opt.start_s >= 0, "convert: --start must be >= 0 s, got ", opt.start_s);
    FS_CHECK(opt.end_s < 0 || opt.end_s > opt.start_s, "convert: --end (", opt.end_s, " s) must be after --start (",
             opt.start_s, " s)");
    FS_CHECK(std::isfinite(opt.enhance), "convert: bad --enhance ", opt.enhance);
    FS_CHECK(opt.face.roi_coverage > 0 && opt.face.roi_coverage < 1, "convert: --roi-coverage must be in (0, 1), got ",
             opt.face.roi_coverage);
    FS_CHECK(opt.smooth.kf_noise_coef > 0, "convert: --kf-noise must be > 0, got ", opt.smooth.kf_noise_coef);
    FS_CHECK(!opt.output.empty(), "convert: no output given");
    opt.detect.mtcnn.validate();
    FaceTransformOptions fopt = opt.face;
    fopt.res = res;
    if (opt.threads > 0) set_num_threads(opt.threads);

    const auto t_start = std::chrono::steady_clock::now();
    const bool video_out = convert_output_is_video(opt.output);
    std::error_code ec;
    if (!video_out)
        FS_CHECK(!stdfs::exists(opt.output, ec) || stdfs::is_directory(opt.output, ec), "convert: ", opt.output,
                 " exists and is not a folder (give a .mp4/.avi name for a video)");
    std::unique_ptr<FrameSource> src = open_frames(opt.input);

    ConvertStats st;
    st.width = src->width();
    st.height = src->height();
    st.out_width = layout_width(opt.layout, st.width);
    st.fps = src->fps();
    st.video_output = video_out;
    const int64_t first = std::llround(opt.start_s * st.fps);
    const int64_t end = opt.end_s < 0 ? -1 : std::llround(opt.end_s * st.fps);
    const int64_t count = src->frame_count();
    FS_CHECK(count < 0 || first < count, "convert: --start ", opt.start_s, " s (frame ", first, ") is past the end of ",
             opt.input, " (", count, " frames at ", st.fps, " fps)");
    int64_t total = count < 0 ? -1 : count - first;
    if (end >= 0) total = total < 0 ? end - first : std::min(total, end - first);
    if (opt.max_frames >= 0) total = total < 0 ? opt.max_frames : std::min(total, opt.max_frames);

    // The output: a VideoWriter (temporary file, renamed by close()) or a temporary folder.
    std::unique_ptr<VideoWriter> vw;
    std::string tmp_dir;
    if (video_out) {
        vw = std::make_unique<VideoWriter>(opt.output, st.out_width, st.height, st.fps);
    } else {
        tmp_dir = temp_folder_for(opt.output);
        stdfs::remove_all(tmp_dir, ec);
        stdfs::create_directories(tmp_dir, ec);
        FS_CHECK(!ec, "convert: cannot create ", tmp_dir, ": ", ec.message());
    }

    BoundedQueue<InFrame> in_q(size_t(2 * opt.batch));
    BoundedQueue<OutFrame> out_q(size_t(2 * opt.batch));
    std::exception_ptr reader_error, writer_error;
    std::vector<std::string> warnings;  // written by the reader only until it is joined
    int64_t unreadable = 0;

    std::thread reader([&] {
        try {
            while (src->position() < first)
                if (!src->skip()) break;
            for (int64_t n = 0; (opt.max_frames < 0 || n < opt.max_frames) && (end < 0 || src->position() < end);) {
                InFrame f;
                const int64_t index = src->position();
                try {
                    if (!src->read(f.rgb)) break;
                    f.name = src->name_of(index);
                } catch (const Error& e) {
                    if (src->is_video()) throw;
                    // A corrupt or odd-sized image in a folder is reported and skipped, as extract does.
                    warnings.push_back(e.what());
                    ++unreadable;
                    if (src->position() == index && !src->skip()) break;
                    continue;
                }
                if (!in_q.push(std::move(f))) return;
                ++n;
            }
        } catch (...) {
            reader_error = std::current_exception();
        }
        in_q.finish();
    });
    std::thread writer([&] {
        try {
            OutFrame f;
            while (out_q.pop(f)) {
                if (vw)
                    vw->write(f.rgb);
                else
                    write_frame_image((stdfs::path(tmp_dir) / (f.name + ".png")).string(), f.rgb);
            }
        } catch (...) {
            writer_error = std::current_exception();
            out_q.cancel();
        }
    });
    auto stop_threads = [&] {
        in_q.cancel();
        out_q.cancel();
        if (reader.joinable()) reader.join();
        if (writer.joinable()) writer.join();
    };

    Progress progress("convert", total, "frames");
    FaceTracker tracker(TrackerOptions{opt.smooth});
    std::vector<HeldFace> held;
    int64_t frame_no = 0;  // frames converted so far (output index)
    bool writer_gone = false;
    try {
        for (bool more = true; more;) {
            // --- gather a batch ---------------------------------------------------------------------------
            std::vector<InFrame> frames;
            while (frames.size() < size_t(opt.batch)) {
                InFrame f;
                if (!in_q.pop(f)) {
                    more = false;
                    break;
                }
                frames.push_back(std::move(f));
            }
            if (frames.empty()) break;
            const size_t nf = frames.size();
            for (const InFrame& f : frames)
                FS_CHECK(f.rgb.width == st.width && f.rgb.height == st.height, "convert: frame ", f.name, " is ",
                         f.rgb.width, "x", f.rgb.height, ", the first was ", st.width, "x", st.height);

            // --- 1. detection and BGR float frames --------------------------------------------------------
            auto t0 = std::chrono::steady_clock::now();
            std::vector<ImageF> bgr(nf);
            std::vector<std::vector<FaceDetection>> dets(nf);
            std::vector<char> is_detect(nf);
            for (size_t s = 0; s < nf; ++s) is_detect[s] = (frame_no + int64_t(s)) % opt.detect_every == 0;
            parallel_for(int64_t(nf), [&](int64_t b, int64_t e) {
                for (int64_t s = b; s < e; ++s) {
                    if (is_detect[size_t(s)]) dets[size_t(s)] = detect_faces(mtcnn, frames[size_t(s)].rgb, opt.detect);
                    bgr[size_t(s)] = image_to_bgr_f(frames[size_t(s)].rgb);
                }
            });
            st.detect_s += seconds_since(t0);

            // --- 2. tracking, in order --------------------------------------------------------------------
            std::vector<FaceJob> jobs;
            for (size_t s = 0; s < nf; ++s) {
                if (is_detect[s]) {
                    ++st.detections;
                    std::vector<BoxI> boxes;
                    for (const FaceDetection& d : dets[s]) boxes.push_back(to_box(square_box(d, st.width, st.height)));
                    held.clear();
                    for (const TrackedFace& t : tracker.update(boxes, st.width, st.height))
                        held.push_back({t.track_id, t.raw, t.box, dets[s][size_t(t.detection)].points});
                }
                for (const HeldFace& h : held) {
                    st.tracks.push_back({frame_no + int64_t(s), h.track, bool(is_detect[s]), h.raw, h.box});
                    FaceJob j;
                    j.slot = s;
                    j.box = h.box;
                    j.points = h.points;
                    jobs.push_back(std::move(j));
                }
            }

            // --- 3. crops, alignments, model inputs -------------------------------------------------------
            t0 = std::chrono::steady_clock::now();
            parallel_for(int64_t(jobs.size()), [&](int64_t b, int64_t e) {
                for (int64_t k = b; k < e; ++k) {
                    FaceJob& j = jobs[size_t(k)];
                    // The original raises when the ROI margin is 0 (a box under ~10 px at coverage 0.9) and
                    // fails on a degenerate fit; such a face is left as it is.
                    if (j.box.empty() || roi_margin(j.box.height(), fopt.roi_coverage) == 0 ||
                        roi_margin(j.box.width(), fopt.roi_coverage) == 0)
                        continue;
                    try {
                        j.align = crop_alignment(j.points, j.box);
                    } catch (const Error&) {
                        continue;
                    }
                    j.crop = crop_image(bgr[j.slot], j.box);
                    j.input = swap_face_input(j.crop, j.align.to_aligned, fopt);
                    j.ok = true;
                }
            });
            std::vector<size_t> ready;
            for (size_t k = 0; k < jobs.size(); ++k)
                if (jobs[k].ok) ready.push_back(k);
            st.faces_skipped += int64_t(jobs.size() - ready.size());
            st.prepare_s += seconds_since(t0);

            // --- 4. the generator over the batch's faces -------------------------------------------------
            t0 = std::chrono::steady_clock::now();
            std::vector<std::pair<size_t, size_t>> calls;  // [begin, end) into `ready`
            for (size_t b = 0; b < ready.size(); b += k_max_generator_batch)
                calls.push_back({b, std::min(ready.size(), b + k_max_generator_batch)});
            std::vector<DecoderOut> outs(calls.size());
            auto run_call = [&](size_t c) {
                const auto [b, e] = calls[c];
                Tensor x = Tensor::empty({int64_t(e - b), 3, res, res});
                for (size_t r = b; r < e; ++r) {
                    FaceJob& j = jobs[ready[r]];
                    face_input_to_tensor(j.input.face, x, int64_t(r - b));
                    j.out = c;
                    j.index = int64_t(r - b);
                }
                outs[c] = gen(x);
            };
            // Whole batches with multi-threaded ops: measured as fast as splitting each batch over the threads
            // (each part single-threaded), 158 vs 165 ms/face for the standard model at batch 8 on 2 cores.
            for (size_t c = 0; c < calls.size(); ++c) run_call(c);
            st.generator_s += seconds_since(t0);

            // --- 5. the rest of each face, 6. the output frames ------------------------------------------
            t0 = std::chrono::steady_clock::now();
            parallel_for(int64_t(ready.size()), [&](int64_t b, int64_t e) {
                for (int64_t r = b; r < e; ++r) {
                    FaceJob& j = jobs[ready[size_t(r)]];
                    j.result = swap_face_output(j.crop, j.input, j.align.from_aligned, outs[j.out], j.index, fopt);
                    j.crop = ImageF();
                    j.input = SwapInput();
                }
            });
            std::vector<std::vector<size_t>> faces_of(nf);
            for (size_t k : ready) faces_of[jobs[k].slot].push_back(k);
            std::vector<Image> rendered(nf);
            parallel_for(int64_t(nf), [&](int64_t b, int64_t e) {
                for (int64_t s = b; s < e; ++s) {
                    const std::vector<size_t>& fk = faces_of[size_t(s)];
                    if (fk.empty() && opt.layout == OutputLayout::result) continue;  // passes through as decoded
                    FrameComposer comp(bgr[size_t(s)]);
                    for (size_t k : fk) comp.add_face(jobs[k].box, jobs[k].result.result, jobs[k].result.alpha);
                    rendered[size_t(s)] = comp.render(opt.layout, opt.enhance);
                }
            });
            st.blend_s += seconds_since(t0);

            for (size_t s = 0; s < nf; ++s) {
                st.faces += int64_t(faces_of[s].size());
                st.frames_with_face += !faces_of[s].empty();
                OutFrame o;
                o.name = frames[s].name;
                o.rgb = faces_of[s].empty() && opt.layout == OutputLayout::result ? std::move(frames[s].rgb)
                                                                                  : std::move(rendered[s]);
                if (!out_q.push(std::move(o))) {  // the writer failed; its error is raised below
                    writer_gone = true;
                    break;
                }
            }
            frame_no += int64_t(nf);
            if (writer_gone) break;
            if (!opt.quiet) progress.update(frame_no, std::to_string(st.faces) + " faces");
        }
    } catch (...) {
        stop_threads();
        vw.reset();  // deletes the temporary video
        if (!tmp_dir.empty()) stdfs::remove_all(tmp_dir, ec);
        throw;
    }
    out_q.finish();
    writer.join();
    in_q.cancel();  // the reader has finished unless the writer failed first; then it must not block on a full queue
    reader.join();
    auto fail = [&](std::exception_ptr e) {
        vw.reset();
        if (!tmp_dir.empty()) stdfs::remove_all(tmp_dir, ec);
        std::rethrow_exception(e);
    };
    if (writer_error) fail(writer_error);
    if (reader_error) fail(reader_error);
    st.unreadable = unreadable;
    st.frames = frame_no;
    if (st.frames == 0) {
        vw.reset();
        if (!tmp_dir.empty()) stdfs::remove_all(tmp_dir, ec);
        FS_FAIL("convert: no frames to convert in ", opt.input, " (from frame ", first,
                end >= 0 ? " to frame " + std::to_string(end) : std::string(), ")");
    }

    // Into place: the video by close() (rename), the folder by a rename or, when it exists, file by file.
    if (vw) {
        vw->close();
    } else if (!stdfs::exists(opt.output, ec)) {
        stdfs::rename(tmp_dir, opt.output, ec);
        FS_CHECK(!ec, "convert: cannot rename ", tmp_dir, " to ", opt.output, ": ", ec.message());
    } else {
        for (const auto& e : stdfs::directory_iterator(tmp_dir)) {
            stdfs::rename(e.path(), stdfs::path(opt.output) / e.path().filename(), ec);
            FS_CHECK(!ec, "convert: cannot move ", e.path().string(), " into ", opt.output, ": ", ec.message());
        }
        stdfs::remove_all(tmp_dir, ec);
    }

    if (video_out && src->is_video()) {
        if (!opt.copy_audio) {
            st.audio_note = "--no-audio";
        } else {
            std::string why;
            st.audio_copied =
                mux_audio(opt.output, opt.input, &why, double(first) / st.fps, double(st.frames) / st.fps);
            if (!st.audio_copied) st.audio_note = why;
        }
    }
    st.seconds = seconds_since(t_start);
    if (!opt.quiet) {
        progress.finish(st.frames, std::to_string(st.faces) + " faces");
        for (const std::string& w : warnings)
            std::fprintf(stderr, "convert: skipped unreadable image: %s\n", w.c_str());
        if (video_out && src->is_video() && opt.copy_audio && !st.audio_copied)
            std::fprintf(stderr, "convert: warning: audio not copied: %s\n", st.audio_note.c_str());
    }
    return st;
}

// --- the command line ------------------------------------------------------------------------------------------

namespace {

const char* k_convert_help =
    "usage: faceswap convert MODEL INPUT OUTPUT [options]\n"
    "\n"
    "Swaps every face in a video (anything OpenCV/FFmpeg reads) or a folder of images (jpg, png, bmp; sorted by\n"
    "name) with a trained model (faceswap train, or faceswap init-model for a try-out).\n"
    "OUTPUT is a video when it ends in .mp4/.m4v/.mov (MPEG-4) or .avi (Motion-JPEG); any other name is a folder\n"
    "of PNG frames named after the input frames. The output keeps the input's size (times 2 or 3 for output\n"
    "types 2 and 3) and frame rate; it is written under a temporary name and renamed when complete. A video\n"
    "input's audio is copied when ffmpeg is installed (otherwise a warning). Frames without a face pass through\n"
    "unchanged; each face is tracked (box overlap across frames) and smoothed separately.\n"
    "\n"
    "options:\n"
    "  --direction D       AtoB (default: decoder B on faces of A) or BtoA\n"
    "  --detect-every N    run MTCNN on every Nth frame (default 1); the frames between reuse the last\n"
    "                      detection frame's smoothed boxes and landmarks unchanged\n"
    "  --smoothing S       kalman (default), ema (moving average, 0.65) or none\n"
    "  --kf-noise Q        Kalman process noise (default 3e-3; x10 if the box lags, x0.1 if it jitters)\n"
    "  --threshold T       O-Net face-probability threshold (default 0.7)\n"
    "  --min-face-area A   ignore faces whose square box has fewer than A pixels (default 1225 = 35x35;\n"
    "                      WxH accepted)\n"
    "  --min-size PX       smallest face MTCNN searches for (default 20; larger is faster)\n"
    "  --auto-downscale    detect on frames >= 858x480 at 1/2-1/4 size\n"
    "  --resize R          MTCNN resampling: box (default) or area (OpenCV INTER_AREA, as faceswap-GAN)\n"
    "  --roi-coverage C    part of the aligned face that is replaced, in (0, 1) (default 0.9)\n"
    "  --color M           colour correction: hist_match (default), adain, adain_xyz or none\n"
    "  --enhance E         contrast boost of the changed pixels (default 0; 0-0.4 is sensible)\n"
    "  --output-type N     1: result (default); 2: input | result; 3: input | result | mask heat-map\n"
    "  --start S           start at S seconds (default 0)\n"
    "  --end S             stop at S seconds (default: the end)\n"
    "  --max-frames N      convert at most N frames\n"
    "  --batch N           frames processed together (default 8; their faces share generator calls)\n"
    "  --threads N         CPU threads (default: FS_NUM_THREADS or the number of cores)\n"
    "  --no-audio          do not copy the audio track\n"
    "  --models DIR        folder holding mtcnn/bin/ (default search: FACESWAP_MODELS, ./models, the shared data)\n"
    "  --quiet             no progress line\n";

}  // namespace

int convert_main(const std::vector<std::string>& args) {
    if (is_help(args)) {
        std::fputs(k_convert_help, stdout);
        return 0;
    }
    ConvertOptions opt;
    bool a_to_b = true;
    std::vector<std::string> pos;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& { return option_value("convert", args, i); };
        auto num = [&](const std::string& v) { return parse_number("convert", a, v); };
        auto integer = [&](const std::string& v) { return parse_integer("convert", a, v); };
        if (a == "--direction") {
            const std::string& v = value();
            FS_CHECK(v == "AtoB" || v == "BtoA", "convert: --direction must be AtoB or BtoA, got '", v, "'");
            a_to_b = v == "AtoB";
        } else if (a == "--detect-every") {
            opt.detect_every = int(integer(value()));
        } else if (a == "--smoothing") {
            const std::string& v = value();
            FS_CHECK(v == "kalman" || v == "ema" || v == "none", "convert: --smoothing must be kalman, ema or none, ",
                     "got '", v, "'");
            opt.smooth.mode = v == "kalman" ? SmoothMode::kalman : v == "ema" ? SmoothMode::ema : SmoothMode::none;
        } else if (a == "--kf-noise") {
            opt.smooth.kf_noise_coef = num(value());
        } else if (a == "--threshold") {
            opt.detect.mtcnn.thresholds[2] = num(value());
        } else if (a == "--min-face-area") {
            const std::string v = lower(value());
            const size_t x = v.find('x');
            const int64_t area =
                x == std::string::npos ? integer(v) : integer(v.substr(0, x)) * integer(v.substr(x + 1));
            FS_CHECK(area >= 0 && area < (int64_t(1) << 31), "convert: bad --min-face-area ", v);
            opt.detect.min_face_area = int(area);
        } else if (a == "--min-size") {
            opt.detect.mtcnn.min_size = num(value());
        } else if (a == "--auto-downscale") {
            opt.detect.auto_downscale = true;
        } else if (a == "--resize") {
            const std::string& v = value();
            FS_CHECK(v == "box" || v == "area", "convert: --resize must be box or area, got '", v, "'");
            opt.detect.mtcnn.resize = v == "box" ? MtcnnResize::box : MtcnnResize::area;
        } else if (a == "--roi-coverage") {
            opt.face.roi_coverage = num(value());
        } else if (a == "--color") {
            opt.face.color = parse_color_correction(value());
        } else if (a == "--enhance") {
            opt.enhance = num(value());
        } else if (a == "--output-type") {
            const int64_t t = integer(value());
            FS_CHECK(t >= 1 && t <= 3, "convert: --output-type must be 1, 2 or 3, got ", t);
            opt.layout = OutputLayout(t);
        } else if (a == "--start") {
            opt.start_s = num(value());
        } else if (a == "--end") {
            opt.end_s = num(value());
        } else if (a == "--max-frames") {
            opt.max_frames = integer(value());
        } else if (a == "--batch") {
            opt.batch = int(integer(value()));
        } else if (a == "--threads") {
            opt.threads = int(integer(value()));
            FS_CHECK(opt.threads >= 1, "convert: --threads must be >= 1");
        } else if (a == "--no-audio") {
            opt.copy_audio = false;
        } else if (a == "--models") {
            set_models_dir(value());
        } else if (a == "--quiet") {
            opt.quiet = true;
        } else if (!a.empty() && a[0] == '-') {
            FS_FAIL("convert: unknown option ", a, " (see faceswap convert --help)");
        } else {
            pos.push_back(a);
        }
    }
    if (pos.size() != 3) {
        std::fputs(k_convert_help, stderr);
        return 2;
    }
    const std::string& model_path = pos[0];
    opt.input = pos[1];
    opt.output = pos[2];
    std::error_code ec;
    FS_CHECK(stdfs::is_regular_file(model_path, ec), "convert: model file ", model_path,
             " not found (train one with `faceswap train`, or write an untrained one with `faceswap init-model`)");
    FS_CHECK(stdfs::exists(opt.input, ec), "convert: input ", opt.input, " does not exist");
    convert_output_is_video(opt.output);  // an unwritable video type fails before the model loads
    FaceSwapModel model = load_model(model_path);
    Mtcnn mtcnn = Mtcnn::from_models();
    ConvertStats st = run_convert(opt, mtcnn, model_generator(model, a_to_b), model.cfg.res);
    std::printf("converted %lld frames (%lld faces; %lld frames without one) in %.1f s, %.2f frames/s -> %s%s\n",
                (long long)st.frames, (long long)st.faces, (long long)(st.frames - st.frames_with_face), st.seconds,
                st.rate(), opt.output.c_str(), st.audio_copied ? " (with audio)" : "");
    if (!opt.quiet)
        std::printf(
            "  stage wall times: detection %.1f s, face preparation %.1f s, generator %.1f s, blending %.1f s"
            "%s\n",
            st.detect_s, st.prepare_s, st.generator_s, st.blend_s,
            st.faces_skipped ? (", " + std::to_string(st.faces_skipped) + " faces too small to convert").c_str() : "");
    return 0;
}

}  // namespace fs
