// extract.h: `faceswap extract INPUT OUTDIR`: MTCNN detection, 5-point alignment and eye masks over a video or a
// folder of images (spec §7), the first step of a face swap. Output layout:
//   OUTDIR/aligned/<frame>_<face>.png   aligned faces, size×size (256 by default), the trainer's input
//   OUTDIR/raw/<frame>_<face>.png       the square crops the alignment was fitted in
//   OUTDIR/masks/<frame>_<face>.png     §7.3's rough eye masks from the two MTCNN eye points (train --a-masks)
//   OUTDIR/faces.tsv                    one row per face (face = -1 for a frame without one): the columns of
//                                       shared/data's mtcnn_reference.tsv, then the file and the frame->face
//                                       affine m00 m01 m02 m10 m11 m12.
// Coordinates in faces.tsv are 0-based pixels (x = column, y = row; 0 is the centre of the first pixel); the
// MTCNN reference files are facenet's 1-based numbers, 1 more.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "faceswap/align.h"

namespace fs {

struct ExtractOptions {
    std::string input, outdir;
    int every = 1;               ///< process every Nth frame (1 = all)
    int64_t max_frames = -1;     ///< stop after this many input frames (-1: all)
    bool largest_only = false;   ///< keep only the largest face of each frame
    int size = 256;              ///< aligned face side
    std::string format = "png";  ///< png or jpg for the written faces
    bool write_raw = true, write_masks = true;
    int threads = 0;             ///< frame workers; 0: as many as parallel_for threads
    DetectOptions detect;
    bool quiet = false;          ///< no progress line (tests)
};

struct ExtractStats {
    int64_t frames_read = 0;       ///< frames decoded and searched
    int64_t frames_with_face = 0;
    int64_t faces = 0;
    int64_t unreadable = 0;        ///< folder images that could not be decoded (skipped, reported)
    double seconds = 0;
    double fps() const { return seconds > 0 ? double(frames_read) / seconds : 0.0; }
};

/// Runs the extraction; throws on unusable input (missing, not a video/folder) or an unwritable OUTDIR.
ExtractStats run_extract(const ExtractOptions& opt, const Mtcnn& mtcnn);

/// The CLI entry point (parses options, finds the MTCNN weights, prints a summary).
int extract_main(const std::vector<std::string>& args);

}  // namespace fs
