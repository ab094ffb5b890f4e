// thread_pool.h: the one process-wide CPU thread pool every parallel kernel uses.
// Sized to the machine (std::thread::hardware_concurrency, or the environment variable FS_NUM_THREADS when set to
// a positive integer) on first use. The calling thread takes part in the work, so num_threads() == 2 means the
// caller plus one worker thread. A parallel_for issued from inside a pool task (or while another thread holds the
// pool) runs serially in the calling thread: nested parallel ops never oversubscribe the cores.
#pragma once
#include <cstdint>
#include <functional>

namespace fs {

/// Threads a parallel_for may use, the caller included (>= 1).
int num_threads();

/// Caps (or raises) the threads parallel_for uses from now on; n >= 1. Workers are created as needed and kept.
/// Meant for benchmarks and tools; do not call it while a parallel_for is running on another thread.
void set_num_threads(int n);

/// Splits [0, n) into min(n, 8 · num_threads()) near-equal contiguous chunks (one, f(0, n), with one thread or
/// when nested), calls f(begin, end) once per chunk on whichever thread (the caller included) claims it next, and
/// returns when all are done. The chunks depend only on n and num_threads(): a caller that wants one piece of work
/// per thread passes n = its thread count. An exception thrown by any chunk is rethrown here, after every chunk
/// has finished (the first one caught wins). n <= 0 does nothing.
void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& f);

/// True while the current thread is running a chunk of a parallel_for (worker or caller).
bool in_parallel_region();

}  // namespace fs
