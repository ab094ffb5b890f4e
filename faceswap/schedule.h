// schedule.h: faceswap-GAN's training schedule (spec §5.5) as data. A phase starts at
// floor(fraction · T) − display/2 (the notebook checks at display steps, 150 before the round number), changes
// the perceptual loss, the mask hinge, the learning-rate factor, and may swap the decoders. Every phase change
// resets the optimisers in the original (optional here).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fs {

struct Phase {
    int64_t num = 0, den = 1;  ///< starts at floor(num·T/den) − display/2 (0/1: iteration 0)
    bool use_pl = false;       ///< perceptual loss on
    bool mask_hinge = false;   ///< α term: hinge max(0, m_mask − α) (on) or 0.01·mean|α| (off)
    double m_mask = 0.0;
    double lr_factor = 1.0;    ///< multiplies lrG 1e-4 and lrD 2e-4
    bool swap_decoders = false;  ///< at the start of this phase, decoder A and B exchange weights
    std::string name;
};

struct Schedule {
    std::vector<Phase> phases;
    int64_t total = 40000;
    int64_t display = 300;

    /// The main notebook's 8 phases (T defaults to 40 000).
    static Schedule faithful(int64_t total = 40000, int64_t display = 300);
    /// The Colab demo's variant (lite, hybrid norm, batch 4, T = 34 000).
    static Schedule colab(int64_t total = 34000, int64_t display = 300);
    /// For runs of a few hundred iterations (faceswap demo): see schedule.cpp.
    static Schedule short_run(int64_t total, int64_t display = 300);
    /// By name: "faithful", "colab" or "short".
    static Schedule by_name(const std::string& name, int64_t total, int64_t display = 300);

    /// First iteration of phase k.
    int64_t start(size_t k) const;
    /// Index of the phase that iteration `iter` (0-based) runs in.
    size_t phase_at(int64_t iter) const;
    const Phase& at(int64_t iter) const { return phases[phase_at(iter)]; }
};

}  // namespace fs
