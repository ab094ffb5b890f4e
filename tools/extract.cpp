// extract.cpp: see extract.h. The main thread decodes frames in order and feeds a small queue; `threads`
// workers each run detection, alignment and the image writes for whole frames (one frame per worker keeps the
// small MTCNN ops single-threaded and the cores busy); faces.tsv rows are written back in frame order.
#include "tools/extract.h"

#include "faceswap/cli.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "faceswap/models.h"
#include "faceswap/progress.h"
#include "io/video.h"
#include "kernels/cpu/thread_pool.h"
#include "tensor/error.h"

namespace fs {

namespace {

namespace stdfs = std::filesystem;

struct FrameJob {
    int64_t index = 0;
    std::string name;
    Image rgb;
};

struct FrameResult {
    std::string rows;  // faces.tsv lines
    int faces = 0;
};

std::string fmt(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}
std::string fmt6(double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
}

FrameResult process_frame(const FrameJob& job, const ExtractOptions& opt, const Mtcnn& mtcnn) {
    FrameResult res;
    std::vector<FaceDetection> dets = detect_faces(mtcnn, job.rgb, opt.detect);
    if (opt.largest_only && dets.size() > 1) {
        auto area = [](const FaceDetection& d) { return d.width() * d.height(); };
        auto it = std::max_element(dets.begin(), dets.end(),
                                   [&](const FaceDetection& a, const FaceDetection& b) { return area(a) < area(b); });
        dets = {*it};
    }
    if (dets.empty()) {
        res.rows = job.name + "\t-1" + std::string(15, '\t') + "\t\t\t\t\t\t\t\n";
        return res;
    }
    const ImageF frame = to_float_image(job.rgb);
    const stdfs::path out(opt.outdir);
    for (size_t f = 0; f < dets.size(); ++f) {
        const FaceDetection& d = dets[f];
        Alignment a = align_face(d, job.rgb.width, job.rgb.height, opt.size);
        const std::string file = job.name + "_" + std::to_string(f) + "." + opt.format;
        write_frame_image((out / "aligned" / file).string(), to_u8_image(warp_to_face(frame, a)));
        if (opt.write_raw) write_frame_image((out / "raw" / file).string(), to_u8_image(crop_box(frame, a.box)));
        if (opt.write_masks) write_frame_image((out / "masks" / file).string(), to_u8_image(eye_mask(d, a)));
        std::string row = job.name + "\t" + std::to_string(f) + "\t" + fmt(d.x1) + "\t" + fmt(d.y1) + "\t" +
                          fmt(d.x2) + "\t" + fmt(d.y2) + "\t" + fmt6(d.score);
        for (const Point2& p : d.points) row += "\t" + fmt(p.x) + "\t" + fmt(p.y);
        row += "\t" + file;
        for (double m : a.to_face) row += "\t" + fmt6(m);
        res.rows += row + "\n";
        ++res.faces;
    }
    return res;
}

}  // namespace

ExtractStats run_extract(const ExtractOptions& opt, const Mtcnn& mtcnn) {
    FS_CHECK(opt.every >= 1, "extract: --every must be >= 1, got ", opt.every);
    FS_CHECK(opt.size >= 16 && opt.size <= 4096, "extract: --size must be in [16, 4096], got ", opt.size);
    FS_CHECK(opt.format == "png" || opt.format == "jpg", "extract: --format must be png or jpg, got '", opt.format,
             "'");
    opt.detect.mtcnn.validate();
    std::unique_ptr<FrameSource> src = open_frames(opt.input, /*same_size=*/false);

    const stdfs::path out(opt.outdir);
    std::error_code ec;
    for (const char* sub : {"aligned", "raw", "masks"}) {
        if ((std::string(sub) == "raw" && !opt.write_raw) || (std::string(sub) == "masks" && !opt.write_masks))
            continue;
        stdfs::create_directories(out / sub, ec);
        FS_CHECK(!ec, "extract: cannot create ", (out / sub).string(), ": ", ec.message());
    }
    const std::string tsv_path = (out / "faces.tsv").string(), tsv_tmp = tsv_path + ".tmp";
    std::ofstream tsv(tsv_tmp);
    FS_CHECK(tsv, "extract: cannot write ", tsv_tmp);
    tsv << "frame\tface\tx1\ty1\tx2\ty2\tscore\tleye_x\tleye_y\treye_x\treye_y\tnose_x\tnose_y\tmouthl_x\tmouthl_y"
           "\tmouthr_x\tmouthr_y\tfile\tm00\tm01\tm02\tm10\tm11\tm12\n";

    int64_t total = src->frame_count();
    if (opt.max_frames >= 0) total = total < 0 ? opt.max_frames : std::min(total, opt.max_frames);
    const int64_t to_process = total < 0 ? -1 : (total + opt.every - 1) / opt.every;
    const int workers = std::max(1, opt.threads > 0 ? opt.threads : num_threads());

    std::mutex mu;
    std::condition_variable cv_job, cv_done;
    std::deque<FrameJob> queue;
    std::map<int64_t, FrameResult> done;
    bool closing = false;
    std::string error;
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w)
        pool.emplace_back([&] {
            for (;;) {
                FrameJob job;
                {
                    std::unique_lock<std::mutex> lk(mu);
                    cv_job.wait(lk, [&] { return closing || !queue.empty(); });
                    if (queue.empty()) return;
                    job = std::move(queue.front());
                    queue.pop_front();
                }
                cv_job.notify_all();  // room in the queue for the reader
                FrameResult r;
                try {
                    r = process_frame(job, opt, mtcnn);
                } catch (const std::exception& e) {
                    std::lock_guard<std::mutex> lk(mu);
                    if (error.empty()) error = "frame " + job.name + ": " + e.what();
                }
                {
                    std::lock_guard<std::mutex> lk(mu);
                    done[job.index] = std::move(r);
                }
                cv_done.notify_all();
            }
        });

    ExtractStats st;
    Progress progress("extract", to_process, "frames");
    int64_t submitted = 0, flushed = 0;
    std::vector<std::string> warnings;
    // Writes finished results in submission order; with `wait`, blocks until all submitted are written.
    auto flush = [&](bool wait) {
        std::unique_lock<std::mutex> lk(mu);
        for (;;) {
            auto it = done.find(flushed);
            if (it == done.end()) {
                if (!wait || flushed == submitted || !error.empty()) return;
                cv_done.wait(lk);
                continue;
            }
            FrameResult r = std::move(it->second);
            done.erase(it);
            ++flushed;
            lk.unlock();
            tsv << r.rows;
            st.faces += r.faces;
            st.frames_with_face += r.faces > 0;
            if (!opt.quiet) progress.update(flushed, std::to_string(st.faces) + " faces");
            lk.lock();
        }
    };

    try {
        for (int64_t i = 0; opt.max_frames < 0 || i < opt.max_frames; ++i) {
            {
                std::lock_guard<std::mutex> lk(mu);
                if (!error.empty()) break;
            }
            const int64_t index = src->position();
            if (i % opt.every != 0) {
                if (!src->skip()) break;
                continue;
            }
            FrameJob job;
            job.index = submitted;
            try {
                if (!src->read(job.rgb)) break;
                job.name = src->name_of(index);
            } catch (const Error& e) {
                if (src->is_video()) throw;
                // A corrupt image in a folder is reported and skipped; the rest of the folder is still extracted.
                warnings.push_back(e.what());
                ++st.unreadable;
                if (!src->skip()) break;
                continue;
            }
            {
                std::unique_lock<std::mutex> lk(mu);
                cv_job.wait(lk, [&] { return queue.size() < size_t(2 * workers) || !error.empty(); });
                queue.push_back(std::move(job));
            }
            cv_job.notify_all();
            ++submitted;
            ++st.frames_read;
            flush(false);
        }
    } catch (...) {
        {
            std::lock_guard<std::mutex> lk(mu);
            closing = true;
            queue.clear();
        }
        cv_job.notify_all();
        for (std::thread& t : pool) t.join();
        throw;
    }
    flush(true);
    {
        std::lock_guard<std::mutex> lk(mu);
        closing = true;
    }
    cv_job.notify_all();
    for (std::thread& t : pool) t.join();
    FS_CHECK(error.empty(), "extract: ", error);
    flush(true);
    tsv.close();
    FS_CHECK(tsv, "extract: error writing ", tsv_tmp);
    stdfs::rename(tsv_tmp, tsv_path, ec);
    FS_CHECK(!ec, "extract: cannot rename ", tsv_tmp, " to ", tsv_path, ": ", ec.message());
    st.seconds = progress.elapsed_s();
    if (!opt.quiet) {
        progress.finish(st.frames_read, std::to_string(st.faces) + " faces");
        for (const std::string& w : warnings) std::fprintf(stderr, "extract: skipped unreadable image: %s\n", w.c_str());
    }
    return st;
}

namespace {

const char* k_extract_help =
    "usage: faceswap extract INPUT OUTDIR [options]\n"
    "\n"
    "Finds faces with MTCNN in a video (anything OpenCV/FFmpeg reads) or a folder of images (jpg, png, bmp;\n"
    "sorted by name), aligns each to faceswap-GAN's 5-point template and writes:\n"
    "  OUTDIR/aligned/<frame>_<face>.png   aligned faces (the trainer's faceA/ or faceB/ folder)\n"
    "  OUTDIR/raw/<frame>_<face>.png       the square crops around the faces\n"
    "  OUTDIR/masks/<frame>_<face>.png     rough eye masks from the MTCNN eye points (train --a-masks)\n"
    "  OUTDIR/faces.tsv                    boxes, scores, 5 landmarks (0-based pixels) and each face's\n"
    "                                      frame->face affine; face = -1 marks a frame without a face\n"
    "\n"
    "options:\n"
    "  --every N          use every Nth frame (default 1; faceswap-GAN's Colab used 5)\n"
    "  --max-frames N     stop after N input frames\n"
    "  --largest          keep only the largest face of each frame (one person per video)\n"
    "  --min-size PX      smallest face MTCNN searches for, in pixels (default 20; larger is faster)\n"
    "  --min-area PX      drop faces whose square crop is smaller than PX x PX (default 25)\n"
    "  --threshold T      O-Net face-probability threshold (default 0.7; faceswap-GAN's preprocess.py 0.9)\n"
    "  --size PX          side of the aligned faces (default 256)\n"
    "  --format F         png (default) or jpg\n"
    "  --no-raw           do not write raw crops\n"
    "  --no-masks         do not write eye masks\n"
    "  --auto-downscale   detect large frames at 1/2-1/4 size (>= 858x480 pixels), as faceswap-GAN can\n"
    "  --resize R         MTCNN resampling: box (default; matches the reference detections) or area\n"
    "                     (OpenCV INTER_AREA, as faceswap-GAN)\n"
    "  --threads N        frames processed in parallel (default: FS_NUM_THREADS or the number of cores)\n"
    "  --models DIR       folder holding mtcnn/bin/ (default search: FACESWAP_MODELS, ./models, the shared data)\n"
    "  --quiet            no progress line\n";

}  // namespace

int extract_main(const std::vector<std::string>& args) {
    if (is_help(args)) {
        std::fputs(k_extract_help, stdout);
        return 0;
    }
    ExtractOptions opt;
    std::vector<std::string> pos;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& { return option_value("extract", args, i); };
        auto num = [&](const std::string& v) { return parse_number("extract", a, v); };
        if (a == "--every") opt.every = int(num(value()));
        else if (a == "--max-frames") opt.max_frames = int64_t(num(value()));
        else if (a == "--largest") opt.largest_only = true;
        else if (a == "--min-size") opt.detect.mtcnn.min_size = num(value());
        else if (a == "--min-area") {
            int s = int(num(value()));
            opt.detect.min_face_area = s * s;
        } else if (a == "--threshold") opt.detect.mtcnn.thresholds[2] = num(value());
        else if (a == "--size") opt.size = int(num(value()));
        else if (a == "--format") opt.format = value();
        else if (a == "--no-raw") opt.write_raw = false;
        else if (a == "--no-masks") opt.write_masks = false;
        else if (a == "--auto-downscale") opt.detect.auto_downscale = true;
        else if (a == "--resize") {
            const std::string& v = value();
            FS_CHECK(v == "box" || v == "area", "extract: --resize must be box or area, got '", v, "'");
            opt.detect.mtcnn.resize = v == "box" ? MtcnnResize::box : MtcnnResize::area;
        } else if (a == "--threads") opt.threads = int(num(value()));
        else if (a == "--models") set_models_dir(value());
        else if (a == "--quiet") opt.quiet = true;
        else if (!a.empty() && a[0] == '-') FS_FAIL("extract: unknown option ", a, " (see faceswap extract --help)");
        else pos.push_back(a);
    }
    if (pos.size() != 2) {
        std::fputs(k_extract_help, stderr);
        return 2;
    }
    opt.input = pos[0];
    opt.outdir = pos[1];
    Mtcnn mtcnn = Mtcnn::from_models();
    ExtractStats st = run_extract(opt, mtcnn);
    std::printf("extracted %lld faces from %lld frames (%lld without a face%s) in %.1f s, %.1f frames/s -> %s\n",
                (long long)st.faces, (long long)st.frames_read, (long long)(st.frames_read - st.frames_with_face),
                st.unreadable ? (", " + std::to_string(st.unreadable) + " unreadable images skipped").c_str() : "",
                st.seconds, st.fps(), opt.outdir.c_str());
    return 0;
}

}  // namespace fs
