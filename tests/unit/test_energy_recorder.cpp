// EnergyRecorder: windows over fake meters and fake sysfs trees, its polling thread (present only
// with a usable meter, polling only while a window is open), meter failures as reading errors; and
// what the real machine running the tests offers, each meter with its reason.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "energy/meters.hpp"
#include "fake_sysfs.hpp"
#include "mobilellm/energy.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::energy {
namespace {

using testing::FakeSysfs;

// A meter whose readings the test scripts: each poll adds `step` joules; poll number `fail_at`
// (counting from 1 after each start) throws.
class ScriptedMeter final : public Meter {
 public:
  ScriptedMeter(std::string id, double step, double poll_seconds, int fail_at = 0)
      : step_(step), fail_at_(fail_at) {
    info_.id = std::move(id);
    info_.scope = "test";
    info_.kind = "counter";
    info_.available = true;
    info_.poll_period_seconds = poll_seconds;
  }
  const MeterInfo& info() const override { return info_; }
  void start() override {
    polls_since_start_ = 0;
    joules_ = 0.0;
  }
  void poll() override {
    polls_.fetch_add(1);
    if (++polls_since_start_ == fail_at_) throw Error(ErrorCode::io, info_.id + ": scripted failure");
    joules_ += step_;
  }
  double joules() const override { return joules_; }
  // Total polls, readable from the test while the recorder's thread runs.
  const std::atomic<int>& polls() const { return polls_; }

 private:
  MeterInfo info_;
  double step_;
  int fail_at_;
  int polls_since_start_ = 0;
  double joules_ = 0.0;
  std::atomic<int> polls_{0};
};

// Threads of this process (Linux), or -1 when /proc cannot tell.
int thread_count() {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return ec ? -1 : n;
}

// The thread count once it has held still for 50 ms (up to 2 s): a thread that was just joined
// can stay listed in /proc/self/task for a moment after join() returns (seen under qemu-user),
// and a new thread appears there only once it runs.
int settled_thread_count() {
  int last = thread_count(), same_for_ms = 0;
  for (int waited = 0; waited < 2000 && same_for_ms < 50; waited += 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const int now = thread_count();
    same_for_ms = now == last ? same_for_ms + 5 : 0;
    last = now;
  }
  return last;
}

TEST(EnergyRecorder, NoMeterMeansNoThreadAndNoNumbers) {
  FakeSysfs fs;  // empty roots
  ProbeOptions options = fs.options();
  options.use_perf_event = true;  // tried: this tree has no power PMU
  const int threads_before = settled_thread_count();
  EnergyRecorder recorder(options);
  if (threads_before > 0) {
    EXPECT_EQ(settled_thread_count(), threads_before);
  }
  EXPECT_FALSE(recorder.available());
  ASSERT_EQ(recorder.meters().size(), 3u);  // rapl, perf, battery
  for (const MeterInfo& info : recorder.meters()) {
    EXPECT_FALSE(info.available) << info.id;
    EXPECT_FALSE(info.reason.empty()) << info.id;
    EXPECT_FALSE(info.fix.empty()) << info.id;
  }
  recorder.begin();
  const Window window = recorder.end();
  EXPECT_TRUE(window.readings.empty());
  EXPECT_GE(window.seconds, 0.0);
}

TEST(EnergyRecorder, CountsAWrapInAWindowWhileTheThreadPolls) {
  FakeSysfs fs;
  const std::uint64_t range = 100'000'000;  // polled every 25 ms
  fs.rapl_zone("intel-rapl:0", "package-0", range - 1000, range);
  // ThreadSanitizer's runtime starts its own background thread at the first thread creation:
  // create (and join) one first, so the count below sees only the recorder's thread.
  std::thread([] {}).join();
  const int threads_before = settled_thread_count();
  EnergyRecorder recorder(fs.options());
  if (threads_before > 0) {
    EXPECT_EQ(settled_thread_count(), threads_before + 1);
  }
  ASSERT_TRUE(recorder.available());
  for (int round = 0; round < 3; ++round) {
    fs.write("powercap/intel-rapl:0/energy_uj", std::to_string(range - 1000));
    recorder.begin();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    fs.write("powercap/intel-rapl:0/energy_uj", 500);  // wrapped
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    const Window window = recorder.end();
    ASSERT_EQ(window.readings.size(), 1u);
    const MeterReading& reading = window.readings[0];
    EXPECT_EQ(reading.id, "rapl:package-0");
    EXPECT_EQ(reading.kind, "counter");
    EXPECT_TRUE(reading.error.empty()) << reading.error;
    EXPECT_DOUBLE_EQ(reading.joules, 1501e-6);
    EXPECT_GT(window.seconds, 0.0);
    EXPECT_EQ(reading.seconds, window.seconds);
  }
}

TEST(EnergyRecorder, PollsWhileAWindowIsOpenOnly) {
  std::vector<std::unique_ptr<Meter>> meters;
  meters.push_back(std::make_unique<ScriptedMeter>("fast", 1.0, 0.001));
  const auto& meter = static_cast<const ScriptedMeter&>(*meters[0]);
  EnergyRecorder recorder(std::move(meters));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(meter.polls().load(), 0);  // no window yet
  recorder.begin();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (meter.polls().load() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_GE(meter.polls().load(), 3) << "the thread did not poll";
  const Window window = recorder.end();  // every poll added 1 J, end() polls once more
  const int polls = meter.polls().load();
  ASSERT_EQ(window.readings.size(), 1u);
  EXPECT_EQ(window.readings[0].joules, double(polls));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(meter.polls().load(), polls);  // closed: no more polls
}

TEST(EnergyRecorder, AFailingMeterBecomesAReadingError) {
  std::vector<std::unique_ptr<Meter>> meters;
  meters.push_back(std::make_unique<ScriptedMeter>("good", 2.0, 1.0));
  meters.push_back(std::make_unique<ScriptedMeter>("bad", 1.0, 1.0, /*fail_at=*/1));
  meters.push_back(detail::unavailable("none", "test", "counter", "not here", "none"));
  EnergyRecorder recorder(std::move(meters));
  EXPECT_TRUE(recorder.available());
  ASSERT_EQ(recorder.meters().size(), 3u);
  EXPECT_EQ(recorder.meters()[2].reason, "not here");
  for (int round = 0; round < 2; ++round) {  // each window starts afresh
    recorder.begin();
    const Window window = recorder.end();
    ASSERT_EQ(window.readings.size(), 2u);  // the unavailable meter has no reading
    EXPECT_EQ(window.readings[0].id, "good");
    EXPECT_TRUE(window.readings[0].error.empty());
    EXPECT_GE(window.readings[0].joules, 2.0);
    EXPECT_EQ(window.readings[1].id, "bad");
    EXPECT_EQ(window.readings[1].error, "bad: scripted failure");
    EXPECT_EQ(window.readings[1].joules, 0.0);
  }
}

TEST(EnergyRecorder, WindowsDoNotNest) {
  std::vector<std::unique_ptr<Meter>> meters;
  meters.push_back(std::make_unique<ScriptedMeter>("m", 1.0, 1.0));
  EnergyRecorder recorder(std::move(meters));
  EXPECT_THROW(recorder.end(), InvalidArgument);
  recorder.begin();
  EXPECT_THROW(recorder.begin(), InvalidArgument);
  recorder.end();
  EXPECT_THROW(recorder.end(), InvalidArgument);
}

TEST(EnergyRecorder, DestroyedWithAWindowOpen) {
  FakeSysfs fs;
  fs.rapl_zone("intel-rapl:0", "package-0", 1, 100'000'000);
  EnergyRecorder recorder(fs.options());
  recorder.begin();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
}  // the thread stops and joins

// What the machine running the tests offers: whatever it is, every meter is usable or says why
// and how to fix it. (On a VM without meters, this prints every reason.)
TEST(EnergyRecorder, RealMachineExplainsEveryMeter) {
  EnergyRecorder recorder;
  for (const MeterInfo& info : recorder.meters()) {
    std::cout << "  " << info.id << " [" << info.scope << "]: "
              << (info.available ? "available; " + info.note
                                 : "unavailable: " + info.reason + " | fix: " + info.fix)
              << "\n";
    if (!info.available) {
      EXPECT_FALSE(info.reason.empty()) << info.id;
      EXPECT_FALSE(info.fix.empty()) << info.id;
    }
  }
  recorder.begin();
  const Window window = recorder.end();
  std::size_t usable = 0;
  for (const MeterInfo& info : recorder.meters()) usable += info.available;
  EXPECT_EQ(window.readings.size(), usable);
  for (const MeterReading& reading : window.readings)
    if (!reading.error.empty()) {
      EXPECT_EQ(reading.joules, 0.0) << reading.id;
    }
}

}  // namespace
}  // namespace mobilellm::energy
