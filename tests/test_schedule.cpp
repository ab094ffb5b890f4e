// test_schedule.cpp: the phase boundaries of spec §5.5 for T = 40 000 and the T = 30 000 example.
#include <gtest/gtest.h>

#include "faceswap/schedule.h"
#include "tensor/error.h"

using namespace fs;

TEST(Schedule, FaithfulBoundariesAt40k) {
    Schedule s = Schedule::faithful();
    ASSERT_EQ(s.phases.size(), 8u);
    std::vector<int64_t> want = {0, 7850, 11850, 15850, 19850, 26516, 31850, 35850};  // spec §5.5 table
    for (size_t k = 0; k < want.size(); ++k) EXPECT_EQ(s.start(k), want[k]) << "phase " << k;
    EXPECT_EQ(s.phase_at(7849), 0u);
    EXPECT_EQ(s.phase_at(7850), 1u);
    EXPECT_EQ(s.phase_at(40000), 7u);
    EXPECT_TRUE(s.phases[6].swap_decoders);
    EXPECT_DOUBLE_EQ(s.at(30000).lr_factor, 0.3);
    EXPECT_DOUBLE_EQ(s.at(12000).m_mask, 0.5);
    EXPECT_FALSE(s.at(100).use_pl);
    EXPECT_TRUE(s.at(8000).use_pl);
}

TEST(Schedule, FaithfulBoundariesAt30k) {
    Schedule s = Schedule::faithful(30000);
    std::vector<int64_t> want = {0, 5850, 8850, 11850, 14850, 19850, 23850, 26850};  // spec §5.5, the T=30000 note
    for (size_t k = 0; k < want.size(); ++k) EXPECT_EQ(s.start(k), want[k]) << "phase " << k;
}

TEST(Schedule, ColabSwapsAtTwoThirds) {
    Schedule s = Schedule::colab();
    size_t swaps = 0;
    for (size_t k = 0; k < s.phases.size(); ++k)
        if (s.phases[k].swap_decoders) {
            ++swaps;
            EXPECT_EQ(s.start(k), 34000 * 2 / 3 - 150);
        }
    EXPECT_EQ(swaps, 1u);
    EXPECT_THROW(Schedule::by_name("nope", 100), Error);
}

TEST(Schedule, ShortRunHasNoDecoderSwap) {
    Schedule s = Schedule::by_name("short", 200, 20);
    for (const Phase& p : s.phases) EXPECT_FALSE(p.swap_decoders) << p.name;
    // the faithful table swaps, which is what the short one leaves out
    bool swaps = false;
    for (const Phase& p : Schedule::faithful(200, 20).phases) swaps = swaps || p.swap_decoders;
    EXPECT_TRUE(swaps);
    EXPECT_EQ(s.phases.size(), Schedule::faithful(200, 20).phases.size() - 1);
}
