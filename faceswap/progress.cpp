// progress.cpp: see progress.h.
#include "faceswap/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace fs {

std::string format_duration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    long long t = (long long)std::llround(s);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
    return buf;
}

Progress::Progress(std::string label, int64_t total, std::string unit, std::FILE* out)
    : m_label(std::move(label)), m_unit(std::move(unit)), m_total(total), m_out(out),
      m_tty(out && isatty(fileno(out))), m_start(std::chrono::steady_clock::now()), m_last(m_start) {}

double Progress::elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
}

double Progress::rate(int64_t done) const {
    double e = elapsed_s();
    return e > 0 ? double(done) / e : 0.0;
}

void Progress::update(int64_t done, const std::string& note) {
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - m_last).count();
    if (m_tty) {
        if (since < 0.2) return;
    } else {
        int64_t decile = m_total > 0 ? done * 10 / m_total : -1;
        if (decile == m_last_decile && since < 30) return;
        m_last_decile = decile;
    }
    m_last = now;
    draw(done, note, false);
}

void Progress::finish(int64_t done, const std::string& note) { draw(done, note, true); }

void Progress::draw(int64_t done, const std::string& note, bool final) {
    if (!m_out) return;
    double r = rate(done);
    std::string bar;
    if (m_total > 0) {
        const int width = 24;
        int filled = int(std::min<int64_t>(width, done * width / std::max<int64_t>(m_total, 1)));
        bar = "[" + std::string(size_t(filled), '#') + std::string(size_t(width - filled), '.') + "] ";
    }
    char counts[96];
    if (m_total > 0) std::snprintf(counts, sizeof counts, "%lld/%lld", (long long)done, (long long)m_total);
    else std::snprintf(counts, sizeof counts, "%lld", (long long)done);
    std::string eta = final ? "took " + format_duration(elapsed_s())
                            : (m_total > 0 && r > 0 ? "ETA " + format_duration(double(m_total - done) / r) : "");
    std::fprintf(m_out, "%s%s %s%s %.1f %s/s %s%s%s%s", m_tty ? "\r" : "", m_label.c_str(), bar.c_str(), counts, r,
                 m_unit.c_str(), eta.c_str(), note.empty() ? "" : " | ", note.c_str(),
                 (m_tty && !final) ? "   " : "\n");
    std::fflush(m_out);
}

}  // namespace fs
