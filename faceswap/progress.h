// progress.h: a one-line progress display for long jobs (extraction, conversion): count, rate, ETA and a
// caller-supplied note. On a terminal it redraws one line at most 5 times a second; otherwise (a log file, CI)
// it prints a full line every 10 % or 30 s, so logs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace fs {

class Progress {
 public:
    /// `total` < 0 when unknown (no bar, no ETA). `unit` names the rate ("frames" -> "frames/s").
    Progress(std::string label, int64_t total, std::string unit, std::FILE* out = stderr);
    /// Reports `done` items so far (throttled).
    void update(int64_t done, const std::string& note = "");
    /// The final line (always printed), ending with a newline.
    void finish(int64_t done, const std::string& note = "");
    /// Items per second since construction.
    double rate(int64_t done) const;
    double elapsed_s() const;

 private:
    void draw(int64_t done, const std::string& note, bool final);
    std::string m_label, m_unit;
    int64_t m_total;
    std::FILE* m_out;
    bool m_tty;
    std::chrono::steady_clock::time_point m_start, m_last;
    int64_t m_last_decile = -1;
};

/// "1:05" / "1:02:03" for a number of seconds.
std::string format_duration(double seconds);

}  // namespace fs
