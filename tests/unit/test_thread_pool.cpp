// The persistent thread pool: every index runs exactly once per region, regions repeat without
// new threads, exceptions reach the caller. Run under TSan in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "runtime/thread_pool.hpp"

namespace mobilellm {
namespace {

TEST(ThreadPool, EveryIndexRunsOncePerRegion) {
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (unsigned n : {0u, 1u, 2u, 7u, 64u, 1000u}) {
      for (int repeat = 0; repeat < 20; ++repeat) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, [&](unsigned i) { hits[i].fetch_add(1, std::memory_order_relaxed); });
        for (unsigned i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " threads, n=" << n;
      }
    }
  }
}

TEST(ThreadPool, ResultsAreVisibleToTheCaller) {
  ThreadPool pool(4);
  std::vector<int> out(257, 0);  // plain ints: parallel_for must publish the writes
  for (int round = 1; round <= 50; ++round) {
    pool.parallel_for(unsigned(out.size()), [&](unsigned i) { out[i] = round * int(i); });
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], round * int(i));
  }
}

TEST(ThreadPool, ExceptionReachesTheCaller) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(10, [](unsigned i) {
                 if (i == 7) throw std::runtime_error("task 7");
               }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<unsigned> sum{0};
  pool.parallel_for(10, [&](unsigned i) { sum += i; });
  EXPECT_EQ(sum.load(), 45u);
}

TEST(ThreadPool, ZeroMeansAllCores) {
  ThreadPool pool(0);
  EXPECT_GE(pool.size(), 1u);
}

}  // namespace
}  // namespace mobilellm
