// test_sgemm.cpp: the fast sgemm against sgemm_reference (double accumulation) on awkward sizes, all transpose
// combinations, padded leading dimensions, alpha/beta variants and guard bands around C; every micro-kernel family
// the CPU can run; and the thread pool's parallel_for contract.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/thread_pool.h"
#include "kernels/sgemm.h"
#include "tensor/error.h"

using namespace fs;

namespace {

struct GemmCase {
    int64_t M, N, K;
    bool ta, tb;
    float alpha, beta;
    int64_t pad_a, pad_b, pad_c;  // leading dimension minus its minimum
    std::string str() const {
        return "M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
               " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " alpha=" + std::to_string(alpha) +
               " beta=" + std::to_string(beta) + " pads=" + std::to_string(pad_a) + "," + std::to_string(pad_b) + "," +
               std::to_string(pad_c);
    }
};

// A value no GEMM result here can produce: guard cells must still hold exactly this afterwards.
constexpr float k_guard = -12345.678f;
constexpr int64_t k_guard_rows = 3;  // whole rows of guard before and after the C window

// Runs one case through sgemm and sgemm_reference and compares; returns false (after reporting) on a mismatch.
bool check_case(const GemmCase& g, std::mt19937& rng) {
    const int64_t a_rows = g.ta ? g.K : g.M, a_cols = g.ta ? g.M : g.K;
    const int64_t b_rows = g.tb ? g.N : g.K, b_cols = g.tb ? g.K : g.N;
    const int64_t lda = std::max<int64_t>(1, a_cols) + g.pad_a, ldb = std::max<int64_t>(1, b_cols) + g.pad_b;
    const int64_t ldc = std::max<int64_t>(1, g.N) + g.pad_c;
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    // Padding elements of A and B hold NaN: reading outside op(A)/op(B) would poison the result.
    std::vector<float> A(static_cast<size_t>(std::max<int64_t>(1, a_rows * lda)), NAN);
    std::vector<float> B(static_cast<size_t>(std::max<int64_t>(1, b_rows * ldb)), NAN);
    for (int64_t r = 0; r < a_rows; ++r)
        for (int64_t c = 0; c < a_cols; ++c) A[size_t(r * lda + c)] = u(rng);
    for (int64_t r = 0; r < b_rows; ++r)
        for (int64_t c = 0; c < b_cols; ++c) B[size_t(r * ldb + c)] = u(rng);

    // C buffer: k_guard_rows full rows of guard, then M rows of ldc (columns N..ldc are guard), then guard rows.
    const int64_t rows = g.M + 2 * k_guard_rows;
    std::vector<float> C(static_cast<size_t>(rows * ldc), k_guard);
    float* c0 = C.data() + k_guard_rows * ldc;
    float max_c = 0;
    for (int64_t i = 0; i < g.M; ++i)
        for (int64_t j = 0; j < g.N; ++j) {
            // beta 0: C must not be read, so fill it with NaN; a read would leak into the result.
            float v = g.beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : u(rng);
            c0[i * ldc + j] = v;
            if (g.beta != 0.0f) max_c = std::max(max_c, std::fabs(v));
        }
    std::vector<float> R = C;
    float* r0 = R.data() + k_guard_rows * ldc;

    sgemm(g.ta, g.tb, g.M, g.N, g.K, g.alpha, A.data(), lda, B.data(), ldb, g.beta, c0, ldc);
    sgemm_reference(g.ta, g.tb, g.M, g.N, g.K, g.alpha, A.data(), lda, B.data(), ldb, g.beta, r0, ldc);

    // Tolerance. The reference is double-accumulated, so the difference is the fast path's float error. A length-K
    // float dot product with |a|,|b| <= 1 has worst-case error gamma_K·sum|a·b| ~ K·u·K (u = eps/2, Higham 3.1),
    // but with independent random signs the partial sums stay ~sqrt(k) and the error is ~K·u/sqrt(2) (std); K·eps
    // (= 2·K·u) times |alpha| is then ~8 standard deviations, with FMAs rounding less still. beta·C adds one
    // rounding of |beta|·max|C|, the final rounding of the result is eps·|result|.
    const double eps = std::numeric_limits<float>::epsilon();
    const double tol_base =
        double(std::max<int64_t>(g.K, 1)) * eps * std::fabs(g.alpha) + 2 * eps * std::fabs(g.beta) * max_c;
    int reported = 0;
    bool ok = true;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < ldc; ++c) {
            const float got = C[size_t(r * ldc + c)], want = R[size_t(r * ldc + c)];
            const bool inside = r >= k_guard_rows && r < k_guard_rows + g.M && c < g.N;
            bool bad;
            if (!inside) {
                bad = std::memcmp(&got, &k_guard, sizeof(float)) != 0;  // guard bands untouched, bit for bit
            } else {
                const double tol = tol_base + eps * std::fabs(double(want)) + 1e-30;
                bad = !std::isfinite(got) || std::fabs(double(got) - double(want)) > tol;
            }
            if (bad) {
                ok = false;
                if (reported++ < 5)
                    ADD_FAILURE() << g.str() << ": " << (inside ? "C" : "guard") << "[" << r - k_guard_rows << "," << c
                                  << "] = " << got << ", want " << want;
            }
        }
    return ok;
}

const std::vector<int64_t> k_sizes = {1, 2, 7, 13, 31, 33, 64, 65, 127, 255, 257, 300};

// The case list: every size as a cube; every size against a few partners in each role; the listed degenerate
// mixes; and blocks spanning several KC/NC blocks with thread splits. Each shape gets all four transposes, with
// alpha, beta (0, 1, other) and leading-dimension padding rotating over the cases.
std::vector<GemmCase> make_cases(bool quick) {
    std::vector<std::array<int64_t, 3>> shapes;
    for (int64_t s : k_sizes) shapes.push_back({s, s, s});
    if (!quick) {
        for (int64_t s : k_sizes)
            for (int64_t t : {int64_t(1), int64_t(13), int64_t(65), int64_t(257)}) {
                shapes.push_back({s, t, 33});
                shapes.push_back({t, 31, s});
                shapes.push_back({65, s, t});
            }
    }
    for (auto s : std::vector<std::array<int64_t, 3>>{{1, 1000, 3},
                                                      {1000, 1, 7},
                                                      {64, 64, 1},
                                                      {300, 257, 1},
                                                      {1, 1, 1},
                                                      {1, 1, 300},
                                                      {13, 1031, 520},
                                                      {257, 600, 300}})
        shapes.push_back(s);
    const float alphas[] = {1.0f, -0.75f, 2.5f};
    const float betas[] = {0.0f, 1.0f, -0.5f};
    std::vector<GemmCase> cases;
    int n = 0;
    for (auto& s : shapes)
        for (int t = 0; t < 4; ++t, ++n)
            cases.push_back({s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, alphas[n % 3], betas[(n / 3) % 3],
                             (n % 5 == 0) ? 0 : n % 7, (n % 4 == 0) ? 0 : n % 9, (n % 3 == 0) ? 0 : 1 + n % 5});
    return cases;
}

void run_cases(const std::vector<GemmCase>& cases) {
    std::mt19937 rng(42);
    int failed = 0;
    for (const GemmCase& g : cases)
        if (!check_case(g, rng) && ++failed >= 10) FAIL() << "stopping after 10 failing cases";
}

}  // namespace

TEST(Sgemm, MatchesReferenceOnAwkwardShapes) { run_cases(make_cases(false)); }

// The same cases on every kernel family this CPU can run, so the fallbacks are exercised on an AVX-512 machine.
TEST(Sgemm, EveryKernelFamilyMatchesReference) {
    for (SgemmKernel k : {SgemmKernel::avx512, SgemmKernel::avx2, SgemmKernel::generic}) {
        SgemmKernel prev;
        try {
            prev = sgemm_force_kernel(k);
        } catch (const Error&) {
            std::printf("[   INFO   ] sgemm: this CPU has no %s kernel, skipped\n", sgemm_kernel_name(k));
            continue;
        }
        SCOPED_TRACE(sgemm_kernel_name(k));
        EXPECT_EQ(sgemm_kernel_in_use(), k);
        run_cases(make_cases(true));
        sgemm_force_kernel(prev);
    }
}

// Thread splits (over N and over M) on one thread and on several, including more threads than cores.
TEST(Sgemm, ThreadCountsGiveTheSameResult) {
    const int prev = num_threads();
    std::mt19937 rng(5);
    for (int t : {1, 2, 3}) {
        set_num_threads(t);
        SCOPED_TRACE("threads=" + std::to_string(t));
        for (auto s : std::vector<std::array<int64_t, 3>>{{200, 700, 150}, {700, 200, 150}, {97, 1100, 64}})
            for (int tr = 0; tr < 4; ++tr)
                check_case({s[0], s[1], s[2], (tr & 1) != 0, (tr & 2) != 0, 1.5f, tr == 3 ? 0.0f : 0.25f, 3, 1, 2},
                           rng);
    }
    set_num_threads(prev);
}

TEST(Sgemm, ZeroSizesAndAlphaZero) {
    std::vector<float> c = {1, 2, 3, 4}, a = {NAN, NAN}, b = {NAN, NAN};
    sgemm(false, false, 0, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);  // M = 0: nothing
    EXPECT_EQ(c, (std::vector<float>{1, 2, 3, 4}));
    sgemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 2.0f, c.data(), 2);  // K = 0: C = beta·C
    EXPECT_EQ(c, (std::vector<float>{2, 4, 6, 8}));
    sgemm(false, false, 2, 2, 1, 0.0f, a.data(), 1, b.data(), 2, 0.5f, c.data(), 2);  // alpha 0: A, B unread
    EXPECT_EQ(c, (std::vector<float>{1, 2, 3, 4}));
    std::vector<float> nan_c(4, NAN);
    sgemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, nan_c.data(), 2);  // beta 0: assigned 0
    EXPECT_EQ(nan_c, (std::vector<float>{0, 0, 0, 0}));
}

TEST(Sgemm, RejectsBadArguments) {
    std::vector<float> x(64, 0.0f);
    EXPECT_THROW(sgemm(false, false, -1, 2, 2, 1, x.data(), 2, x.data(), 2, 0, x.data(), 2), Error);
    EXPECT_THROW(sgemm(false, false, 2, 2, 3, 1, x.data(), 2, x.data(), 2, 0, x.data(), 2), Error);  // lda < K
    EXPECT_THROW(sgemm(true, false, 3, 2, 2, 1, x.data(), 2, x.data(), 2, 0, x.data(), 2), Error);   // lda < M
    EXPECT_THROW(sgemm(false, true, 2, 2, 3, 1, x.data(), 3, x.data(), 2, 0, x.data(), 2), Error);   // ldb < K
    EXPECT_THROW(sgemm(false, false, 2, 3, 2, 1, x.data(), 2, x.data(), 3, 0, x.data(), 2), Error);  // ldc < N
}

// ---------------------------------------------------------------------------------------------------------------
// sgemm_packed: A packed once (SgemmPackedA), B stored or given by a packer

namespace {

// A packer that serves a stored K × N matrix through SgemmPackB's contract, and records what it was asked for.
class StoredPack final : public SgemmPackB {
 public:
    StoredPack(const float* b, int64_t ldb, int64_t K, int64_t N) : m_b(b), m_ldb(ldb), m_K(K), m_N(N) {}
    void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int width, float* dst) const override {
        EXPECT_TRUE(k0 >= 0 && kc > 0 && k0 + kc <= m_K && j0 >= 0 && nc > 0 && j0 + nc <= m_N)
            << k0 << "+" << kc << ", " << j0 << "+" << nc;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(dst) % 64, 0u);
        for (int64_t q = 0; q * width < nc; ++q)
            for (int64_t k = 0; k < kc; ++k)
                for (int64_t c = 0; c < width; ++c) {
                    const int64_t j = q * width + c;
                    dst[(q * kc + k) * width + c] = j < nc ? m_b[(k0 + k) * m_ldb + j0 + j] : 0.f;
                }
        calls++;
    }
    mutable int64_t calls = 0;

 private:
    const float* m_b;
    int64_t m_ldb, m_K, m_N;
};

}  // namespace

// On every kernel family: the same bits as sgemm on one thread (same K blocks, same kernel; sgemm itself is held
// to the reference above), with B stored and with B through a packer (A packed ahead, or stored), on sizes with
// edge panels (M and N not multiples of any tile), several K blocks (K = 700, 1000) and N blocks (N = 1100); C
// outside its window untouched and, with beta 0, never read (NaN there).
TEST(SgemmPacked, GivesSgemmsBitsOnEveryKernel) {
    const int prev_threads = num_threads();
    set_num_threads(1);
    for (SgemmKernel kern : {SgemmKernel::avx512, SgemmKernel::avx2, SgemmKernel::generic}) {
        SgemmKernel prev;
        try {
            prev = sgemm_force_kernel(kern);
        } catch (const Error&) {
            continue;  // reported by Sgemm.EveryKernelFamilyMatchesReference
        }
        SCOPED_TRACE(sgemm_kernel_name(kern));
        std::mt19937 rng(9);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (auto s :
             std::vector<std::array<int64_t, 3>>{{128, 1024, 576}, {37, 45, 700}, {250, 1100, 1000}, {7, 300, 40}}) {
            const int64_t M = s[0], N = s[1], K = s[2];
            for (int variant = 0; variant < 3; ++variant) {  // A stored, A transposed; beta 0, 1, -0.5
                const bool ta = variant == 1;
                const float alpha = variant == 2 ? -0.75f : 1.0f;
                const float beta = variant == 0 ? 0.0f : variant == 1 ? 1.0f : -0.5f;
                const int64_t lda = (ta ? M : K) + 3, ldb = N + 5, ldc = N + 2;
                std::vector<float> A(size_t((ta ? K : M) * lda)), B(size_t(K * ldb)), C0(size_t((M + 2) * ldc));
                for (float& v : A) v = u(rng);
                for (float& v : B) v = u(rng);
                for (float& v : C0) v = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : u(rng);
                for (int64_t i = 0; i < M + 2; ++i)  // guard: the first and last rows, and columns N .. ldc
                    for (int64_t j = 0; j < ldc; ++j)
                        if (i == 0 || i == M + 1 || j >= N) C0[size_t(i * ldc + j)] = k_guard;
                std::vector<float> want = C0, stored = C0, packed = C0;
                sgemm(ta, false, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, want.data() + ldc, ldc);
                const SgemmPackedA pa(ta, M, K, A.data(), lda);
                EXPECT_EQ(pa.rows(), M);
                EXPECT_EQ(pa.depth(), K);
                sgemm_packed(pa, N, alpha, B.data(), ldb, beta, stored.data() + ldc, ldc);
                const StoredPack sp(B.data(), ldb, K, N);
                sgemm_packed(pa, N, alpha, sp, beta, packed.data() + ldc, ldc);
                EXPECT_GT(sp.calls, 0);
                std::vector<float> a_stored = C0;  // A stored, packed as it goes; B by the packer
                sgemm_packed(ta, M, N, K, alpha, A.data(), lda, sp, beta, a_stored.data() + ldc, ldc);
                const std::string what = "M=" + std::to_string(M) + " N=" + std::to_string(N) +
                                         " K=" + std::to_string(K) + " variant " + std::to_string(variant);
                EXPECT_EQ(std::memcmp(stored.data(), want.data(), want.size() * sizeof(float)), 0) << what;
                EXPECT_EQ(std::memcmp(packed.data(), want.data(), want.size() * sizeof(float)), 0) << what;
                EXPECT_EQ(std::memcmp(a_stored.data(), want.data(), want.size() * sizeof(float)), 0) << what;
            }
        }
        sgemm_force_kernel(prev);
    }
    set_num_threads(prev_threads);
}

TEST(SgemmPacked, RejectsBadArgumentsAndAStaleKernel) {
    std::vector<float> x(64, 0.0f);
    EXPECT_THROW(SgemmPackedA(false, -1, 2, x.data(), 2), Error);
    EXPECT_THROW(SgemmPackedA(false, 2, 3, x.data(), 2), Error);  // lda < K
    EXPECT_THROW(SgemmPackedA(true, 3, 2, x.data(), 2), Error);   // lda < M
    const SgemmPackedA a(false, 2, 3, x.data(), 3);
    EXPECT_THROW(sgemm_packed(a, 4, 1, x.data(), 3, 0, x.data(), 4), Error);  // ldb < N
    EXPECT_THROW(sgemm_packed(a, 4, 1, x.data(), 4, 0, x.data(), 3), Error);  // ldc < N
    const StoredPack sp(x.data(), 4, 3, 4);
    EXPECT_THROW(sgemm_packed(false, 2, 4, 3, 1, x.data(), 2, sp, 0, x.data(), 4), Error);  // lda < K
    EXPECT_THROW(sgemm_packed(false, 2, 4, 3, 1, x.data(), 3, sp, 0, x.data(), 3), Error);  // ldc < N
    if (sgemm_kernel_in_use() != SgemmKernel::generic) {  // packed for one kernel, run on another
        const SgemmKernel prev = sgemm_force_kernel(SgemmKernel::generic);
        EXPECT_THROW(sgemm_packed(a, 4, 1, x.data(), 4, 0, x.data(), 4), Error);
        sgemm_force_kernel(prev);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// parallel_for

TEST(ParallelFor, CoversTheRangeExactlyOnceInContiguousChunks) {
    const int prev = num_threads();
    for (int t : {1, 2, 4}) {
        set_num_threads(t);
        for (int64_t n : {0, 1, 2, 3, 7, 1000}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(std::max<int64_t>(n, 1)));
            std::mutex mu;
            std::vector<std::pair<int64_t, int64_t>> chunks;
            parallel_for(n, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
                std::lock_guard<std::mutex> lk(mu);
                chunks.emplace_back(b, e);
            });
            for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[size_t(i)].load(), 1) << "n=" << n << " i=" << i;
            // min(n, 8 t) chunks of near-equal size (one call on one thread): they depend on n and t only,
            // whichever thread runs them
            EXPECT_EQ(int64_t(chunks.size()), std::min<int64_t>(n, t == 1 ? 1 : 8 * t)) << "n=" << n;
            std::sort(chunks.begin(), chunks.end());
            int64_t next = 0;
            for (auto& c : chunks) {
                EXPECT_EQ(c.first, next);
                EXPECT_LT(c.first, c.second);  // no empty chunks
                if (n > 0) {
                    EXPECT_LE(std::abs((c.second - c.first) - n / int64_t(chunks.size())), 1) << "n=" << n;
                }
                next = c.second;
            }
            EXPECT_EQ(next, n);
        }
    }
    set_num_threads(prev);
}

TEST(ParallelFor, CallerTakesPartAndWorkersAreUsed) {
    const int prev = num_threads();
    set_num_threads(2);
    std::mutex mu;
    std::set<std::thread::id> ids;
    std::atomic<int> arrived{0};
    parallel_for(2, [&](int64_t, int64_t) {
        {
            std::lock_guard<std::mutex> lk(mu);
            ids.insert(std::this_thread::get_id());
        }
        // Each chunk waits (up to 10 s) for the other to start: two chunks can only run at once on two threads.
        ++arrived;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (arrived.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    });
    EXPECT_EQ(arrived.load(), 2);
    EXPECT_EQ(ids.size(), 2u);
    EXPECT_EQ(ids.count(std::this_thread::get_id()), 1u);  // the caller ran a chunk
    set_num_threads(prev);
}

TEST(ParallelFor, AStalledChunkDoesNotHoldTheOthers) {
    // The thread that takes chunk 0 stalls in it (as a thread whose vCPU the host takes away would); the other
    // thread claims every remaining chunk meanwhile instead of waiting for its fixed half.
    const int prev = num_threads();
    set_num_threads(2);
    std::mutex mu;
    std::map<std::thread::id, int> calls;
    std::thread::id stalled;
    parallel_for(16, [&](int64_t b, int64_t) {
        {
            std::lock_guard<std::mutex> lk(mu);
            ++calls[std::this_thread::get_id()];
            if (b == 0) stalled = std::this_thread::get_id();
        }
        if (b == 0) std::this_thread::sleep_for(std::chrono::seconds(1));  // far longer than a worker's wake-up
    });
    ASSERT_EQ(calls.size(), 2u);
    int total = 0;
    for (auto& c : calls) total += c.second;
    EXPECT_EQ(total, 16);            // 16 chunks of one item
    EXPECT_EQ(calls[stalled], 1);    // the other thread ran the other 15
    set_num_threads(prev);
}

TEST(ParallelFor, NestedCallsRunSeriallyInTheCallingThread) {
    const int prev = num_threads();
    set_num_threads(2);
    EXPECT_FALSE(in_parallel_region());
    std::atomic<int> bad{0}, inner_total{0};
    parallel_for(2, [&](int64_t, int64_t) {
        if (!in_parallel_region()) bad++;
        const std::thread::id me = std::this_thread::get_id();
        int calls = 0;
        parallel_for(100, [&](int64_t b, int64_t e) {
            ++calls;
            if (std::this_thread::get_id() != me || b != 0 || e != 100) bad++;
            inner_total += int(e - b);
        });
        if (calls != 1) bad++;
    });
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(inner_total.load(), 200);
    EXPECT_FALSE(in_parallel_region());
    set_num_threads(prev);
}

TEST(ParallelFor, ExceptionsPropagateToTheCaller) {
    const int prev = num_threads();
    set_num_threads(2);
    // thrown in the worker's chunk (begin > 0) and in the caller's chunk (begin == 0)
    for (int64_t thrower : {1, 0}) {
        std::atomic<int> ran{0};
        try {
            parallel_for(2, [&](int64_t b, int64_t) {
                ran++;
                if (b == thrower) throw std::runtime_error("chunk " + std::to_string(b));
            });
            ADD_FAILURE() << "no exception";
        } catch (const std::runtime_error& e) {
            EXPECT_EQ(std::string(e.what()), "chunk " + std::to_string(thrower));
        }
        EXPECT_EQ(ran.load(), 2);  // the other chunk still ran to completion
    }
    // the pool is still usable afterwards
    std::atomic<int64_t> sum{0};
    parallel_for(10, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 45);
    set_num_threads(prev);
}

TEST(ParallelFor, OneThreadRunsInTheCaller) {
    const int prev = num_threads();
    set_num_threads(1);
    EXPECT_EQ(num_threads(), 1);
    int calls = 0;
    parallel_for(50, [&](int64_t b, int64_t e) {
        ++calls;
        EXPECT_EQ(b, 0);
        EXPECT_EQ(e, 50);
    });
    EXPECT_EQ(calls, 1);
    EXPECT_THROW(set_num_threads(0), Error);
    set_num_threads(prev);
}

// Two user threads issuing parallel_for at once: one gets the pool, the other runs serially; both complete.
TEST(ParallelFor, ConcurrentCallersBothComplete) {
    const int prev = num_threads();
    set_num_threads(2);
    std::atomic<int64_t> total{0};
    auto work = [&] {
        for (int r = 0; r < 200; ++r) parallel_for(64, [&](int64_t b, int64_t e) { total += e - b; });
    };
    std::thread other(work);
    work();
    other.join();
    EXPECT_EQ(total.load(), 2 * 200 * 64);
    set_num_threads(prev);
}

// FS_NUM_THREADS is read once, when the pool is first used, so it is tested in child processes (this binary,
// run again with the variable set) rather than with setenv in a process whose pool may already exist.
TEST(ParallelFor, PoolSizeMatchesEnvironment) {
    const char* expect = std::getenv("FS_TEST_EXPECT_THREADS");  // set only by the test below, in a child
    if (expect == nullptr) {
        EXPECT_GE(num_threads(), 1);
        return;
    }
    EXPECT_EQ(num_threads(), std::atoi(expect));
}

TEST(ParallelFor, FsNumThreadsSetsThePoolSize) {
#if defined(__linux__)
    // resolved here: inside std::system's shell, /proc/self/exe would be the shell
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    for (int n : {1, 3}) {
        const std::string cmd = "FS_NUM_THREADS=" + std::to_string(n) + " FS_TEST_EXPECT_THREADS=" + std::to_string(n) +
                                " '" + self + "' --gtest_filter=ParallelFor.PoolSizeMatchesEnvironment > /dev/null";
        EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
#else
    GTEST_SKIP() << "needs /proc/self/exe to re-run this binary";
#endif
}
