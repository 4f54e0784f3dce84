#include "runtime/thread_pool.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace mobilellm {
namespace {

// How long a waiting thread spins before it sleeps. Consecutive regions of a forward pass are
// microseconds apart, and so are the steps of a decode loop that samples greedily; a pool left
// idle longer than this sleeps and costs one futex wake-up (tens of microseconds) at its next
// region.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(100);
// After this much spinning, the waiting thread also offers its core to other ready threads now
// and then: when there are more threads than free cores, the one it waits for may be among them.
constexpr auto kSpinBeforeYield = std::chrono::microseconds(5);

// Tells the core that this is a spin-wait loop (lets the sibling hyperthread run, saves power).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#else
  std::this_thread::yield();
#endif
}

// Waits until `word` no longer holds `old`: spins for up to kSpinBeforeSleep, then sleeps until a
// notify, counted in `sleeping` meanwhile. Returns the new value (read with acquire ordering).
std::uint32_t wait_for_change(const std::atomic<std::uint32_t>& word, std::uint32_t old,
                              std::atomic<unsigned>* sleeping = nullptr) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (unsigned i = 1;; ++i) {
    const std::uint32_t v = word.load(std::memory_order_acquire);
    if (v != old) return v;
    cpu_relax();
    if (i % 64 == 0) {  // the clock is read now and then only
      const auto spun = Clock::now() - start;
      if (spun >= kSpinBeforeSleep) break;
      if (spun >= kSpinBeforeYield) std::this_thread::yield();  // returns at once if none is ready
    }
  }
  if (sleeping) sleeping->fetch_add(1, std::memory_order_relaxed);
  std::uint32_t v;
  do {
    word.wait(old, std::memory_order_acquire);
    v = word.load(std::memory_order_acquire);
  } while (v == old);
  if (sleeping) sleeping->fetch_sub(1, std::memory_order_relaxed);
  return v;
}

}  // namespace

ThreadPool::ThreadPool(unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);  // publishes stop_
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(unsigned thread) {
  auto guarded = [&](unsigned i) {
    try {
      call_(fn_, i);
    } catch (...) {
      std::lock_guard lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  };
  if (per_thread_) {
    guarded(thread);
    return;
  }
  for (;;) {
    const unsigned i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= n_) return;
    guarded(i);
  }
}

void ThreadPool::worker_loop(unsigned thread) {
  std::uint32_t seen = 0;  // the pool starts at generation 0 with no region
  for (;;) {
    seen = wait_for_change(generation_, seen, &sleeping_);
    if (stop_.load(std::memory_order_relaxed)) return;
    work(thread);
    // The last worker out wakes the caller if it went to sleep waiting (a no-op otherwise).
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

void ThreadPool::dispatch(Trampoline call, void* fn, unsigned n, bool per_thread) {
  // Every worker has left the previous region (pending_ reached 0), so nobody reads these now.
  call_ = call;
  fn_ = fn;
  n_ = n;
  per_thread_ = per_thread;
  next_.store(0, std::memory_order_relaxed);
  pending_.store(std::uint32_t(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);  // publishes the region
  generation_.notify_all();  // wakes workers that went to sleep; cheap when none did

  work(0);
  for (std::uint32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;)
    wait_for_change(pending_, left);

  // All threads are out of the region: its writes (results, error_) are visible here.
  std::exception_ptr error;
  {
    std::lock_guard lock(error_mutex_);
    error = std::exchange(error_, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace mobilellm
