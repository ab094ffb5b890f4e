// schedule.cpp: the phase tables of spec §5.5.
#include "faceswap/schedule.h"

#include <algorithm>

#include "tensor/error.h"

namespace fs {

Schedule Schedule::faithful(int64_t total, int64_t display) {
    Schedule s;
    s.total = total;
    s.display = display;
    //             num den  PL    hinge  m    lr    swap   name
    s.phases = {{0, 1, false, false, 0.0, 1.0, false, "warm-up"},
                {1, 5, true, false, 0.0, 1.0, false, "T/5: perceptual loss on"},
                {3, 10, true, true, 0.5, 1.0, false, "T/5+T/10: mask hinge 0.5"},
                {2, 5, true, true, 0.2, 1.0, false, "2T/5: mask hinge 0.2"},
                {1, 2, true, true, 0.4, 1.0, false, "T/2: mask hinge 0.4"},
                {2, 3, true, false, 0.0, 0.3, false, "2T/3: hinge off, lr x0.3"},
                {8, 10, true, true, 0.1, 0.3, true, "8T/10: decoder swap, hinge 0.1"},
                {9, 10, true, false, 0.0, 0.1, false, "9T/10: hinge off, lr x0.1"}};
    return s;
}

Schedule Schedule::colab(int64_t total, int64_t display) {
    Schedule s;
    s.total = total;
    s.display = display;
    s.phases = {{0, 1, false, false, 0.0, 1.0, false, "warm-up"},
                {1, 5, true, false, 0.0, 1.0, false, "T/5: perceptual loss on"},
                {3, 10, true, true, 0.5, 1.0, false, "T/5+T/10: mask hinge 0.5"},
                {2, 5, true, true, 0.2, 1.0, false, "2T/5: mask hinge 0.2"},
                {1, 2, true, true, 0.4, 0.3, false, "T/2: hinge 0.4, lr x0.3"},
                {2, 3, true, true, 0.5, 1.0, true, "2T/3: decoder swap, hinge 0.5, lr x1"},
                {8, 10, true, true, 0.1, 0.3, false, "8T/10: hinge 0.1, lr x0.3"},
                {9, 10, true, false, 0.0, 0.1, false, "9T/10: hinge off, lr x0.1"}};
    return s;
}

// For runs of a few hundred iterations (the demo): the faithful table's mask-hinge and learning-rate phases, with
// two changes. No decoder swap: swapped at 8T/10, each decoder has 2T/10 iterations left to re-learn its own
// person, which in a short run it cannot (measured: the swap then draws the wrong person). And the perceptual
// loss (when it is on) from the start, since a short run has no time for a warm-up without it.
Schedule Schedule::short_run(int64_t total, int64_t display) {
    Schedule s;
    s.total = total;
    s.display = display;
    s.phases = {{0, 1, true, false, 0.0, 1.0, false, "warm-up"},
                {3, 10, true, true, 0.5, 1.0, false, "3T/10: mask hinge 0.5"},
                {2, 5, true, true, 0.2, 1.0, false, "2T/5: mask hinge 0.2"},
                {1, 2, true, true, 0.4, 1.0, false, "T/2: mask hinge 0.4"},
                {2, 3, true, false, 0.0, 0.3, false, "2T/3: hinge off, lr x0.3"},
                {8, 10, true, true, 0.1, 0.3, false, "8T/10: hinge 0.1"},
                {9, 10, true, false, 0.0, 0.1, false, "9T/10: hinge off, lr x0.1"}};
    return s;
}

Schedule Schedule::by_name(const std::string& name, int64_t total, int64_t display) {
    if (name == "faithful") return faithful(total, display);
    if (name == "colab") return colab(total, display);
    if (name == "short") return short_run(total, display);
    FS_FAIL("schedule: unknown schedule '", name, "' (faithful, colab or short)");
}

int64_t Schedule::start(size_t k) const {
    FS_CHECK(k < phases.size(), "schedule: no phase ", k);
    const Phase& p = phases[k];
    if (p.num == 0) return 0;
    // The notebook computes the expression in integers (TOTAL_ITERS // 5 etc.) and subtracts display // 2. In a
    // very short run that could land at or before 0; no later phase starts before iteration 1.
    return std::max<int64_t>(1, (p.num * total) / p.den - display / 2);
}

size_t Schedule::phase_at(int64_t iter) const {
    FS_CHECK(!phases.empty(), "schedule: no phases");
    size_t k = 0;
    for (size_t i = 1; i < phases.size(); ++i)
        if (iter >= start(i)) k = i;
    return k;
}

}  // namespace fs
