// The persistent thread pool: every index runs exactly once per region, regions repeat without
// new threads, exceptions reach the caller, idle workers go to sleep and wake up again, and a pool
// is destroyed cleanly in any state. Run under TSan in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
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

TEST(ThreadPool, RunCallsEachThreadOnceOnTheSameThreadEveryTime) {
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    ThreadPool pool(threads);
    std::vector<std::thread::id> owner(threads);  // written by thread t only
    std::vector<int> calls(threads, 0);
    for (int region = 0; region < 50; ++region) {
      pool.run([&](unsigned t) {
        ASSERT_LT(t, threads);
        if (region == 0) owner[t] = std::this_thread::get_id();
        EXPECT_EQ(owner[t], std::this_thread::get_id()) << "thread " << t << ", region " << region;
        ++calls[t];
      });
    }
    EXPECT_EQ(owner[0], std::this_thread::get_id()) << "the caller is thread 0";
    for (unsigned t = 0; t < threads; ++t) {
      EXPECT_EQ(calls[t], 50) << "thread " << t;
      for (unsigned u = 0; u < t; ++u) EXPECT_NE(owner[t], owner[u]);
    }
  }
}

// A decode step opens hundreds of tiny regions: each must see the previous one's writes and
// publish its own, with no lost or doubled call.
TEST(ThreadPool, ManyTinyRegions) {
  ThreadPool pool(3);
  std::vector<long> acc(3, 0);   // plain: each slot written by one thread per region
  long total = 0;
  for (int region = 1; region <= 20000; ++region) {
    pool.run([&](unsigned t) { acc[t] += region; });
    if (region % 2 == 0) pool.parallel_for(3, [&](unsigned i) { acc[i] -= 1; });
    total += region;
  }
  for (unsigned t = 0; t < 3; ++t) EXPECT_EQ(acc[t], total - 10000) << "slot " << t;
}

TEST(ThreadPool, ExceptionFromAnyThreadReachesTheCaller) {
  ThreadPool pool(4);
  for (unsigned thrower = 0; thrower < 4; ++thrower) {
    std::atomic<unsigned> ran{0};
    try {
      pool.run([&](unsigned t) {
        ran.fetch_add(1);
        if (t == thrower) throw std::runtime_error("thread " + std::to_string(t));
      });
      ADD_FAILURE() << "no exception from thread " << thrower;
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "thread " + std::to_string(thrower));
    }
    EXPECT_EQ(ran.load(), 4u) << "the other threads still ran their part";
  }
  // Every thread throws: one of them is reported, and the pool keeps working.
  EXPECT_THROW(pool.run([](unsigned) { throw std::logic_error("all"); }), std::logic_error);
  std::atomic<unsigned> sum{0};
  pool.run([&](unsigned t) { sum += t; });
  EXPECT_EQ(sum.load(), 0u + 1 + 2 + 3);
}

// Waits (up to a generous limit, not a speed requirement) until `pred` holds.
template <typename Pred>
bool eventually(Pred pred) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > limit) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Idle workers spin only for a bounded time, then sleep; a region wakes them up again.
TEST(ThreadPool, IdleWorkersSleepAndWakeUp) {
  ThreadPool pool(3);
  std::vector<int> out(3, 0);
  for (int round = 1; round <= 5; ++round) {
    ASSERT_TRUE(eventually([&] { return pool.sleeping_workers() == 2; }))
        << "workers still spinning, round " << round;
    pool.run([&](unsigned t) { out[t] = round * 10 + int(t); });
    for (int t = 0; t < 3; ++t) EXPECT_EQ(out[std::size_t(t)], round * 10 + t);
  }
}

TEST(ThreadPool, DestroyedInAnyState) {
  { ThreadPool never_used(4); }
  {
    ThreadPool just_ran(4);  // destroyed while its workers still spin
    just_ran.run([](unsigned) {});
  }
  {
    ThreadPool asleep(4);  // destroyed while its workers sleep
    asleep.parallel_for(8, [](unsigned) {});
    ASSERT_TRUE(eventually([&] { return asleep.sleeping_workers() == 3; }));
  }
  {
    ThreadPool failed(2);  // destroyed after a region that threw
    EXPECT_THROW(failed.run([](unsigned) { throw std::runtime_error("x"); }), std::runtime_error);
  }
}

TEST(ThreadPool, ZeroMeansAllCores) {
  ThreadPool pool(0);
  EXPECT_GE(pool.size(), 1u);
}

}  // namespace
}  // namespace mobilellm
