// A small persistent thread pool for the forward pass's parallel regions. A decode step of a
// 30-block model opens a few hundred regions, each a few microseconds of work, so starting one
// must cost far less than a condition-variable round trip:
//   - a region is published by bumping a generation counter; idle workers spin on it (with the
//     CPU's pause instruction) for a bounded time, then sleep on it (std::atomic::wait, a futex on
//     Linux), so a region that follows another within the spin window wakes nobody up, and an
//     idle pool burns no CPU once that window has passed;
//   - the work is a function reference (a pointer to the caller's lambda and a trampoline), so no
//     std::function or other allocation happens per region;
//   - the calling thread takes part, and waits for the workers by spinning (then sleeping) on a
//     countdown of the workers still inside the region.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace mobilellm {

class ThreadPool {
 public:
  // `threads` in total, counting the caller; 0 = one per hardware thread.
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return unsigned(workers_.size()) + 1; }

  // Calls fn(t) once on every thread t in [0, size()) and returns when all calls have finished.
  // t = 0 is the caller; worker t is always the same thread, so work split statically by t (part
  // t of N) goes to the same core region after region, and the caches it warmed.
  template <typename F>
  void run(F&& fn) {
    if (workers_.empty()) {
      fn(0u);
      return;
    }
    dispatch(&invoke<F>, &fn, size(), /*per_thread=*/true);
  }

  // Calls fn(i) once for every i in [0, n), handed out to the threads one index at a time (for
  // tasks of uneven cost), and returns when all calls have finished.
  template <typename F>
  void parallel_for(unsigned n, F&& fn) {
    if (n == 0) return;
    if (workers_.empty() || n == 1) {
      for (unsigned i = 0; i < n; ++i) fn(i);
      return;
    }
    dispatch(&invoke<F>, &fn, n, /*per_thread=*/false);
  }

  // For both: an exception thrown by fn is rethrown in the caller once every thread has left the
  // region (the first one; the others are dropped). Not reentrant: fn must not use the pool.

  // Workers asleep (past their spin time, waiting for the next region). For tests and diagnostics.
  unsigned sleeping_workers() const { return sleeping_.load(std::memory_order_relaxed); }

 private:
  using Trampoline = void (*)(void* fn, unsigned i);
  template <typename F>
  static void invoke(void* fn, unsigned i) {
    (*static_cast<std::remove_reference_t<F>*>(fn))(i);
  }

  void dispatch(Trampoline call, void* fn, unsigned n, bool per_thread);
  void work(unsigned thread);  // this thread's share of the current region
  void worker_loop(unsigned thread);

  std::vector<std::thread> workers_;  // worker t - 1 is thread t

  // The current region, written by the caller before it bumps generation_ (release) and read by
  // the workers after they see the new generation (acquire).
  Trampoline call_ = nullptr;
  void* fn_ = nullptr;
  unsigned n_ = 0;
  bool per_thread_ = false;
  std::atomic<unsigned> next_{0};  // parallel_for: the next index to hand out

  // Each on its own cache line: the workers poll generation_ while the caller counts down
  // pending_, and neither should slow the other.
  alignas(64) std::atomic<std::uint32_t> generation_{0};  // one more per region, and at exit
  alignas(64) std::atomic<std::uint32_t> pending_{0};     // workers still inside the region
  std::atomic<bool> stop_{false};
  std::atomic<unsigned> sleeping_{0};

  std::mutex error_mutex_;
  std::exception_ptr error_;  // the first exception of the region (guarded by error_mutex_)
};

}  // namespace mobilellm
