// thread_pool.cpp: the process-wide pool behind parallel_for (see thread_pool.h).
// One job at a time: the submitting thread publishes (f, n, chunks), bumps a generation counter and claims chunks
// from an atomic counter until none is left; each worker w < team does the same, and every worker then
// acknowledges, so every worker sees every generation and the job fields are never rewritten while a worker may
// still read them. The chunks depend only on n and the thread count, never on which thread runs which. Waiting is
// spin-then-block on both sides: a GEMM of a few hundred µs would lose a noticeable share to condition-variable
// wake-ups (tens of µs on a loaded VM), but an idle pool must not burn a core, so spins are capped at k_spin_us.
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

#include "tensor/error.h"

namespace fs {

namespace {

using Fn = std::function<void(int64_t, int64_t)>;

// A job of n items is cut into up to this many chunks per thread, which the threads claim as they become free.
// With one chunk per thread, a thread that its vCPU loses for a while (a shared host) or that wakes late holds
// up the other: in a standard-64 training step the two threads sat idle for 7 % of the parallel time, and in turns
// with the same binary 8 chunks per thread made the step ~5 % faster (median of 7 pairs) than 1.
constexpr int64_t k_chunks_per_thread = 8;

// How long a thread spins on the generation / pending counters before sleeping on a condition variable.
constexpr int64_t k_spin_us = 50;

thread_local bool t_in_region = false;

struct RegionGuard {
    bool prev;
    RegionGuard() : prev(t_in_region) { t_in_region = true; }
    ~RegionGuard() { t_in_region = prev; }
};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

// Spins until pred() holds or k_spin_us have passed; returns pred()'s last value.
template <typename Pred>
bool spin_until(Pred pred) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0;; ++i) {
        if (pred()) return true;
        cpu_relax();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() - start > std::chrono::microseconds(k_spin_us))
            return pred();
    }
}

// Chunk c of [0, n) split into `chunks` near-equal contiguous parts (the first n % chunks get one more).
inline int64_t chunk_begin(int64_t n, int64_t chunks, int64_t c) { return (n / chunks) * c + std::min(c, n % chunks); }

int default_threads() {
    int hw = int(std::thread::hardware_concurrency());
#if defined(__linux__)
    cpu_set_t set;  // a container or taskset may grant fewer cores than the machine has
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int allowed = CPU_COUNT(&set);
        if (allowed > 0 && (hw <= 0 || allowed < hw)) hw = allowed;
    }
#endif
    if (const char* env = std::getenv("FS_NUM_THREADS")) {
        char* end = nullptr;
        long v = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && v > 0) hw = int(std::min<long>(v, 1024));
    }
    return std::max(hw, 1);
}

class Pool {
 public:
    static Pool& get() {
        static Pool pool;
        return pool;
    }

    int threads() const { return m_active.load(std::memory_order_relaxed); }

    void set_threads(int n) {
        FS_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got ", n);
        std::lock_guard<std::mutex> submit(m_submit);  // no job is in flight while workers are added
        while (int(m_workers.size()) < n - 1) {
            int index = int(m_workers.size()) + 1;
            uint64_t gen = m_gen.load(std::memory_order_relaxed);
            m_workers.emplace_back([this, index, gen] { worker_loop(index, gen); });
        }
        m_active.store(n, std::memory_order_relaxed);
    }

    void run(int64_t n, const Fn& f) {
        if (n <= 0) return;
        const int64_t team = std::min<int64_t>(n, threads());
        if (team <= 1 || t_in_region) return run_serial(n, f);
        // Another thread is using the pool (two user threads each running ops): run serially rather than wait
        // for it or add threads to it, so the cores are never oversubscribed.
        std::unique_lock<std::mutex> submit(m_submit, std::try_to_lock);
        if (!submit.owns_lock()) return run_serial(n, f);

        m_fn = &f;
        m_n = n;
        m_chunks = std::min<int64_t>(n, team * k_chunks_per_thread);
        m_team = team;
        m_next.store(0, std::memory_order_relaxed);
        m_error = nullptr;
        m_pending.store(int(m_workers.size()), std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lk(m_mutex);
            m_gen.fetch_add(1, std::memory_order_release);
        }
        m_wake.notify_all();

        run_chunks();

        auto done = [this] { return m_pending.load(std::memory_order_acquire) == 0; };
        if (!spin_until(done)) {
            std::unique_lock<std::mutex> lk(m_mutex);
            m_done.wait(lk, done);
        }
        m_fn = nullptr;
        if (m_error) {
            std::exception_ptr e = m_error;
            m_error = nullptr;
            std::rethrow_exception(e);
        }
    }

    ~Pool() {
        {
            std::lock_guard<std::mutex> lk(m_mutex);
            m_stop = true;
            m_gen.fetch_add(1, std::memory_order_release);
        }
        m_wake.notify_all();
        for (std::thread& t : m_workers) t.join();
    }

 private:
    Pool() { set_threads(default_threads()); }

    static void run_serial(int64_t n, const Fn& f) {
        RegionGuard g;
        f(0, n);
    }

    // Claims chunks until none is left. Which thread runs a chunk varies from call to call; the chunks themselves
    // depend only on n and the thread count.
    void run_chunks() {
        RegionGuard g;
        for (;;) {
            const int64_t c = m_next.fetch_add(1, std::memory_order_relaxed);
            if (c >= m_chunks) return;
            try {
                (*m_fn)(chunk_begin(m_n, m_chunks, c), chunk_begin(m_n, m_chunks, c + 1));
            } catch (...) {
                std::lock_guard<std::mutex> lk(m_error_mutex);
                if (!m_error) m_error = std::current_exception();
            }
        }
    }

    void worker_loop(int index, uint64_t seen) {
        for (;;) {
            auto posted = [this, seen] { return m_gen.load(std::memory_order_acquire) != seen; };
            if (!spin_until(posted)) {
                std::unique_lock<std::mutex> lk(m_mutex);
                m_wake.wait(lk, posted);
            }
            seen = m_gen.load(std::memory_order_acquire);
            {
                std::lock_guard<std::mutex> lk(m_mutex);
                if (m_stop) return;
            }
            if (index < m_team) run_chunks();
            if (m_pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                std::lock_guard<std::mutex> lk(m_mutex);  // the caller checks `pending` under this mutex
                m_done.notify_all();
            }
        }
    }

    std::mutex m_submit;  // held by the thread whose job is in flight
    std::mutex m_mutex;   // pairs with m_wake / m_done; guards m_stop
    std::condition_variable m_wake, m_done;
    std::atomic<uint64_t> m_gen{0};
    std::atomic<int> m_pending{0};
    std::atomic<int> m_active{1};
    bool m_stop = false;
    // the job in flight: written by the submitter before m_gen is bumped, read by workers after they see it
    const Fn* m_fn = nullptr;
    int64_t m_n = 0, m_chunks = 0, m_team = 0;
    std::atomic<int64_t> m_next{0};
    std::mutex m_error_mutex;
    std::exception_ptr m_error;
    std::vector<std::thread> m_workers;
};

}  // namespace

int num_threads() { return Pool::get().threads(); }

void set_num_threads(int n) { Pool::get().set_threads(n); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& f) { Pool::get().run(n, f); }

bool in_parallel_region() { return t_in_region; }

}  // namespace fs
