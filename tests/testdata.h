// testdata.h: finding the shared test data (../shared/data, described in its PROVENANCE.md) and making stand-in
// aligned faces from its video sequences until the extraction pipeline exists.
// The data folder is FACESWAP_DATA when that is set, else FS_SOURCE_DIR/../shared/data (FS_SOURCE_DIR is a
// compile definition of fs_tests). Tests that need it start with FS_REQUIRE_DATA(), which skips them loudly,
// naming where it looked, when the folder is absent. Tests write only into temporary folders.
#pragma once
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "faceswap/augment.h"
#include "io/image.h"

#ifndef FS_SOURCE_DIR
#error "FS_SOURCE_DIR must be defined for the tests (CMakeLists.txt sets it on fs_tests)"
#endif

namespace fs {

/// The folders shared_data_dir() tries, in order, for messages.
inline std::vector<std::string> shared_data_candidates() {
    const char* env = std::getenv("FACESWAP_DATA");
    if (env && *env) return {env};
    return {std::string(FS_SOURCE_DIR) + "/../shared/data"};
}

/// The shared test-data folder, or "" when it is absent.
inline std::string shared_data_dir() {
    for (const std::string& c : shared_data_candidates()) {
        std::error_code ec;
        if (std::filesystem::is_directory(c, ec)) return std::filesystem::weakly_canonical(c, ec).string();
    }
    return "";
}

inline std::string shared_data_searched() {
    std::string s;
    for (const std::string& c : shared_data_candidates()) s += (s.empty() ? "" : ", ") + c;
    return s;
}

/// What run_cli returns: the exit code (-1 when killed by a signal) and stdout + stderr together.
struct CliResult {
    int rc;
    std::string out;
};

/// Runs the built `faceswap` binary (FS_BINARY_DIR) with `args`, as a user would.
inline CliResult run_cli(const std::string& args) {
    std::string cmd = std::string(FS_BINARY_DIR) + "/faceswap " + args + " 2>&1";
    CliResult r{-1, ""};
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int status = ::pclose(p);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace fs

/// Skips the current test, loudly, when the shared test data is absent.
#define FS_REQUIRE_DATA()                                                                                     \
    do {                                                                                                      \
        if (::fs::shared_data_dir().empty()) {                                                                \
            std::fprintf(stderr, "\n*** SKIPPED: shared test data not found at %s (set FACESWAP_DATA) ***\n", \
                         ::fs::shared_data_searched().c_str());                                               \
            GTEST_SKIP() << "SKIPPED: shared test data not found at " << ::fs::shared_data_searched()         \
                         << " (set FACESWAP_DATA to the shared/data folder)";                                 \
        }                                                                                                     \
    } while (0)

namespace fs {

/// Crops stand-in aligned faces from a sequence folder (img/NNNN.jpg + mtcnn_reference.tsv): for up to
/// `max_faces` frames, evenly spread over the frames whose first detection (face 0) exists, a square of side
/// 1.6 × the larger box side centred on the box (pixels outside the frame repeat the edge), resized to
/// size×size (bilinear) and written as <frame stem>.png into `out_dir` (created). Returns the number written.
/// The TSV's coordinates are 1-based (MATLAB); its columns are found by the header names.
inline int crop_reference_faces(const std::string& sequence_dir, const std::string& out_dir, int max_faces,
                                int size = 256) {
    FS_CHECK(max_faces >= 0 && size > 0, "crop_reference_faces: bad max_faces ", max_faces, " or size ", size);
    const std::string tsv = sequence_dir + "/mtcnn_reference.tsv";
    std::ifstream in(tsv);
    FS_CHECK(in.good(), "crop_reference_faces: cannot open ", tsv);
    auto split = [](const std::string& line) {
        std::vector<std::string> out;
        std::stringstream ss(line);
        std::string cell;
        while (std::getline(ss, cell, '\t')) {
            if (!cell.empty() && cell.back() == '\r') cell.pop_back();
            out.push_back(cell);
        }
        return out;
    };
    std::string line;
    FS_CHECK(static_cast<bool>(std::getline(in, line)), "crop_reference_faces: empty file ", tsv);
    std::map<std::string, size_t> col;
    std::vector<std::string> header = split(line);
    for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
    for (const char* name : {"frame", "face", "x1", "y1", "x2", "y2"})
        FS_CHECK(col.count(name), "crop_reference_faces: no column '", name, "' in ", tsv);
    struct Row {
        std::string frame;
        double x1, y1, x2, y2;
    };
    std::vector<Row> rows;
    while (std::getline(in, line)) {
        if (line.empty() || line == "\r") continue;
        std::vector<std::string> c = split(line);
        FS_CHECK(c.size() >= header.size(), "crop_reference_faces: short row in ", tsv, ": ", line);
        if (std::stoi(c[col["face"]]) != 0) continue;  // -1: no face in the frame; > 0: a second person
        rows.push_back({c[col["frame"]], std::stod(c[col["x1"]]), std::stod(c[col["y1"]]), std::stod(c[col["x2"]]),
                        std::stod(c[col["y2"]])});
    }
    std::filesystem::create_directories(out_dir);
    const int n = std::min<int>(max_faces, int(rows.size()));
    for (int j = 0; j < n; ++j) {
        const Row& r = rows[size_t(int64_t(j) * int64_t(rows.size()) / n)];
        ImageF frame = image_to_bgr_f(read_image(sequence_dir + "/img/" + r.frame, 3));
        // 1-based box -> 0-based pixel-centre coordinates; output pixel u samples left + (u + 0.5)·side/size.
        const double cx = (r.x1 + r.x2) / 2 - 1, cy = (r.y1 + r.y2) / 2 - 1;
        const double side = 1.6 * std::max(r.x2 - r.x1, r.y2 - r.y1);
        const double a = side / size, bx = cx - side / 2 + 0.5 * a, by = cy - side / 2 + 0.5 * a;
        const Affine to_crop = {1 / a, 0, -bx / a, 0, 1 / a, -by / a};
        ImageF crop = warp_affine(frame, to_crop, size, size, Border::replicate);
        write_png(out_dir + "/" + std::filesystem::path(r.frame).stem().string() + ".png", bgr_f_to_image(crop));
    }
    return n;
}

}  // namespace fs
