// The perf_event power/energy-pkg fallback against fake PMU trees. A fake PMU's type number is one
// no kernel has, so perf_event_open can only fail, whatever the machine (ENOENT for the unknown
// PMU, EACCES/EPERM when perf events are restricted, ENOSYS under emulators).
#include <gtest/gtest.h>

#include <string>

#include "energy/meters.hpp"
#include "fake_sysfs.hpp"

namespace mobilellm::energy {
namespace {

using testing::describe;
using testing::FakeSysfs;

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

void fake_pmu(const FakeSysfs& fs) {
  fs.write("devices/power/type", "4000000000");
  fs.write("devices/power/events/energy-pkg", "event=0x02");
  fs.write("devices/power/events/energy-pkg.scale", "2.3283064365386962890625e-10");
  fs.write("devices/power/events/energy-pkg.unit", "Joules");
}

TEST(EnergyPerfEvent, NoPmuSaysWhy) {
  FakeSysfs fs;
  auto meters = detail::probe_perf_event(fs.path("devices"));
  ASSERT_EQ(meters.size(), 1u);
  const MeterInfo& info = meters[0]->info();
  EXPECT_EQ(info.id, "perf:power/energy-pkg");
  EXPECT_FALSE(info.available);
  EXPECT_TRUE(contains(info.reason, fs.path("devices/power/type"))) << info.reason;
  EXPECT_TRUE(contains(info.reason, "ENOENT")) << info.reason;
  EXPECT_TRUE(contains(info.fix, "RAPL")) << info.fix;
}

TEST(EnergyPerfEvent, OpenFailureIsReportedWithTheCall) {
  FakeSysfs fs;
  fake_pmu(fs);
  auto meters = detail::probe_perf_event(fs.path("devices"));
  ASSERT_EQ(meters.size(), 1u) << describe(meters);
  const MeterInfo& info = meters[0]->info();
  EXPECT_FALSE(info.available);
  EXPECT_TRUE(contains(info.reason, "perf_event_open(type 4000000000")) << info.reason;
  EXPECT_TRUE(contains(info.reason, "config 0x2 (energy-pkg), pid -1, cpu 0) failed: E")) << info.reason;
  EXPECT_FALSE(info.fix.empty());
}

TEST(EnergyPerfEvent, OneCounterPerPackageCpu) {
  FakeSysfs fs;
  fake_pmu(fs);
  fs.write("devices/power/cpumask", "0,28-29");
  auto meters = detail::probe_perf_event(fs.path("devices"));
  ASSERT_EQ(meters.size(), 3u) << describe(meters);
  EXPECT_EQ(meters[0]->info().id, "perf:power/energy-pkg:cpu0");
  EXPECT_EQ(meters[1]->info().id, "perf:power/energy-pkg:cpu28");
  EXPECT_EQ(meters[2]->info().id, "perf:power/energy-pkg:cpu29");
  EXPECT_TRUE(contains(meters[2]->info().reason, "cpu 29) failed")) << meters[2]->info().reason;
}

TEST(EnergyPerfEvent, MalformedPmuFilesAreNamed) {
  struct Case {
    const char* file;
    const char* value;
    const char* expect;
  };
  const Case cases[] = {
      {"type", "abc", "\"abc\""},
      {"type", "4294967296", "not a 32-bit PMU type"},
      {"events/energy-pkg", "event=0xzz", "no valid event number"},
      {"events/energy-pkg", "event=0x02,umask=0x1", "not a single"},
      {"events/energy-pkg.scale", "0", "not a positive scale"},
      {"events/energy-pkg.scale", "nan", "\"nan\""},
      {"events/energy-pkg.unit", "Watts", "\"Watts\" is not \"Joules\""},
      {"cpumask", "3-1", "not a usable CPU list"},
      {"cpumask", "0-100000", "not a usable CPU list"},
      {"cpumask", "", "empty"},
  };
  for (const Case& c : cases) {
    FakeSysfs fs;
    fake_pmu(fs);
    fs.write(std::string("devices/power/") + c.file, c.value);
    auto meters = detail::probe_perf_event(fs.path("devices"));
    ASSERT_EQ(meters.size(), 1u) << describe(meters);
    const MeterInfo& info = meters[0]->info();
    EXPECT_FALSE(info.available);
    EXPECT_TRUE(contains(info.reason, fs.path(std::string("devices/power/") + c.file))) << info.reason;
    EXPECT_TRUE(contains(info.reason, c.expect)) << info.reason;
  }
}

TEST(EnergyPerfEvent, TriedOnlyWhenPowercapIsUnusable) {
  FakeSysfs fs;
  ProbeOptions options = fs.options();
  options.use_perf_event = true;
  {
    auto meters = probe_meters(options);  // no powercap zone: perf_event is tried and says why
    const Meter* perf = testing::find_meter(meters, "perf:power/energy-pkg");
    ASSERT_NE(perf, nullptr) << describe(meters);
    EXPECT_TRUE(contains(perf->info().reason, "ENOENT")) << perf->info().reason;
  }
  fs.rapl_zone("intel-rapl:0", "package-0", 1);
  {
    auto meters = probe_meters(options);  // powercap works: no second view of the same counter
    EXPECT_EQ(testing::find_meter(meters, "perf:power/energy-pkg"), nullptr) << describe(meters);
  }
  fs.remove("powercap/intel-rapl:0");
  options.use_perf_event = false;
  {
    auto meters = probe_meters(options);
    const Meter* perf = testing::find_meter(meters, "perf:power/energy-pkg");
    ASSERT_NE(perf, nullptr) << describe(meters);
    EXPECT_TRUE(contains(perf->info().reason, "not tried")) << perf->info().reason;
  }
}

}  // namespace
}  // namespace mobilellm::energy
