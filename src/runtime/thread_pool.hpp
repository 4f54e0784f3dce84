// A small persistent thread pool: workers are created once (per session) and woken for each
// parallel region, so no thread is created per token. The calling thread takes part in the work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
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

  // Calls fn(i) once for every i in [0, n), spread over the threads, and returns when all calls
  // have finished. An exception thrown by fn is rethrown here (the first one; the others are
  // dropped). Not reentrant: fn must not call parallel_for.
  void parallel_for(unsigned n, const std::function<void(unsigned)>& fn);

 private:
  void worker_loop();
  void run_tasks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::uint64_t generation_ = 0;  // bumped for every parallel region (guarded by mutex_)
  bool stop_ = false;
  const std::function<void(unsigned)>* fn_ = nullptr;
  unsigned n_ = 0;
  std::atomic<unsigned> next_{0};
  unsigned active_ = 0;  // workers still inside the current region (guarded by mutex_)
  std::exception_ptr error_;
};

}  // namespace mobilellm
