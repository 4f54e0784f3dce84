// RAPL through Linux powercap, against fake sysfs trees: counting, wrap-around, zone selection,
// permission denied (CVE-2020-8694), missing files and garbage values.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "energy/meters.hpp"
#include "energy/sysfs.hpp"
#include "fake_sysfs.hpp"

namespace mobilellm::energy {
namespace {

using testing::describe;
using testing::FakeClock;
using testing::FakeSysfs;
using testing::find_meter;
using testing::kIntelMaxRange;

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// The layout of an Intel or AMD Zen machine (AMD's powercap zones use the same intel-rapl names):
// a package zone with core (and, on Intel, uncore and dram) subzones, listed flat.
void typical_machine(const FakeSysfs& fs, std::uint64_t package_uj) {
  fs.write("powercap/intel-rapl/enabled", "1");  // the control type: no name, not a zone
  fs.rapl_zone("intel-rapl:0", "package-0", package_uj);
  fs.rapl_zone("intel-rapl:0:0", "core", 5);
  fs.rapl_zone("intel-rapl:0:1", "dram", 7);
}

TEST(EnergyPowercap, CountsThePackageZoneOnly) {
  FakeSysfs fs;
  typical_machine(fs, 1'000'000);
  FakeClock clock;
  auto meters = detail::probe_meters(fs.options(), clock.clock());
  ASSERT_EQ(meters.size(), 2u) << describe(meters);  // rapl:package-0 and the battery's "none"
  Meter* meter = find_meter(meters, "rapl:package-0");
  ASSERT_NE(meter, nullptr) << describe(meters);
  const MeterInfo& info = meter->info();
  EXPECT_TRUE(info.available) << info.reason;
  EXPECT_EQ(info.kind, "counter");
  EXPECT_TRUE(contains(info.scope, "CPU package 0")) << info.scope;
  EXPECT_EQ(info.poll_period_seconds, 1.0);  // 262 kJ take 262 s at 1000 W: capped at 1 s
  EXPECT_EQ(info.update_period_seconds, 0.001);
  // powercap works, so the perf_event fallback is not even listed
  EXPECT_EQ(find_meter(meters, "perf:power/energy-pkg"), nullptr);

  meter->start();
  EXPECT_EQ(meter->joules(), 0.0);
  fs.write("powercap/intel-rapl:0/energy_uj", 3'500'000);
  fs.write("powercap/intel-rapl:0:0/energy_uj", 999'999);  // the core zone is not read
  clock.advance(1.0);
  meter->poll();
  EXPECT_DOUBLE_EQ(meter->joules(), 2.5);
  fs.write("powercap/intel-rapl:0/energy_uj", 4'000'001);
  clock.advance(1.0);
  meter->poll();
  EXPECT_DOUBLE_EQ(meter->joules(), 3.000001);
  meter->poll();  // no change, no time: nothing added
  EXPECT_DOUBLE_EQ(meter->joules(), 3.000001);

  meter->start();  // a new window counts from zero
  fs.write("powercap/intel-rapl:0/energy_uj", 4'100'001);
  clock.advance(1.0);
  meter->poll();
  EXPECT_DOUBLE_EQ(meter->joules(), 0.1);
}

TEST(EnergyPowercap, WrapDuringTheWindow) {
  FakeSysfs fs;
  typical_machine(fs, kIntelMaxRange - 1000);
  FakeClock clock;
  auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
  Meter* meter = find_meter(meters, "rapl:package-0");
  ASSERT_NE(meter, nullptr) << describe(meters);
  meter->start();
  fs.write("powercap/intel-rapl:0/energy_uj", std::to_string(kIntelMaxRange));  // the last value
  clock.advance(0.5);
  meter->poll();
  EXPECT_DOUBLE_EQ(meter->joules(), 1000e-6);
  fs.write("powercap/intel-rapl:0/energy_uj", 500);  // past max: restarted at 0, then 500 more
  clock.advance(0.5);
  meter->poll();
  EXPECT_DOUBLE_EQ(meter->joules(), 1501e-6);
  fs.write("powercap/intel-rapl:0/energy_uj", 2500);
  clock.advance(1.0);
  meter->poll();
  EXPECT_DOUBLE_EQ(meter->joules(), 3501e-6);
}

TEST(EnergyPowercap, SmallRangeIsPolledOftenAndWrapsCorrectly) {
  FakeSysfs fs;
  const std::uint64_t range = 100'000'000;  // 100 J: could wrap in 0.1 s at 1000 W
  fs.rapl_zone("intel-rapl:0", "package-0", 90'000'000, range);
  FakeClock clock;
  auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
  Meter* meter = find_meter(meters, "rapl:package-0");
  ASSERT_NE(meter, nullptr) << describe(meters);
  EXPECT_DOUBLE_EQ(meter->info().poll_period_seconds, 0.025);  // a quarter of the wrap time
  meter->start();
  fs.write("powercap/intel-rapl:0/energy_uj", 20'000'000);
  clock.advance(0.05);  // 30 J in 50 ms: 600 W
  meter->poll();
  // 90e6 -> 100e6 is 10e6 uJ, 100e6 -> 0 is 1 uJ, 0 -> 20e6 is 20e6 uJ
  EXPECT_DOUBLE_EQ(meter->joules(), 30.000001);
}

TEST(EnergyPowercap, TooSmallARangeIsRefused) {
  FakeSysfs fs;
  fs.rapl_zone("intel-rapl:0", "package-0", 0, 1'000'000);  // 1 J: 1 ms at 1000 W
  FakeClock clock;
  auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
  ASSERT_EQ(meters.size(), 1u);
  EXPECT_FALSE(meters[0]->info().available);
  EXPECT_TRUE(contains(meters[0]->info().reason, fs.path("powercap/intel-rapl:0/max_energy_range_uj")))
      << meters[0]->info().reason;
  EXPECT_TRUE(contains(meters[0]->info().reason, "too small")) << meters[0]->info().reason;
}

TEST(EnergyPowercap, ACounterResetIsAnErrorNotAWrap) {
  FakeSysfs fs;
  fs.rapl_zone("intel-rapl:0", "package-0", 200'000'000'000);
  FakeClock clock;
  auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
  Meter* meter = find_meter(meters, "rapl:package-0");
  ASSERT_NE(meter, nullptr) << describe(meters);
  meter->start();
  fs.write("powercap/intel-rapl:0/energy_uj", 100);  // as a wrap: 62 kJ in one second
  clock.advance(1.0);
  try {
    meter->poll();
    FAIL() << "a 62 kJ jump in 1 s was accepted";
  } catch (const SysfsError& e) {
    EXPECT_TRUE(contains(e.what(), fs.path("powercap/intel-rapl:0/energy_uj"))) << e.what();
    EXPECT_TRUE(contains(e.what(), "reset")) << e.what();
  }
}

TEST(EnergyPowercap, EveryPackageOnceMmioDuplicatesIgnored) {
  FakeSysfs fs;
  fs.rapl_zone("intel-rapl:0", "package-0", 10);
  fs.rapl_zone("intel-rapl:1", "package-1", 20);
  fs.rapl_zone("intel-rapl:1:0", "core", 30);
  fs.rapl_zone("intel-rapl-mmio:0", "package-0", 40);  // the same counter through MMIO
  fs.write("powercap/intel-rapl-mmio:0/energy_uj", "abc");  // would be refused if it were chosen
  FakeClock clock;
  auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
  ASSERT_EQ(meters.size(), 2u) << describe(meters);
  EXPECT_EQ(meters[0]->info().id, "rapl:package-0");
  EXPECT_EQ(meters[1]->info().id, "rapl:package-1");
  EXPECT_TRUE(meters[0]->info().available) << meters[0]->info().reason;
  EXPECT_TRUE(meters[1]->info().available) << meters[1]->info().reason;
  EXPECT_TRUE(contains(meters[0]->info().note, "intel-rapl:0/energy_uj")) << meters[0]->info().note;
}

// energy_uj is root-only since CVE-2020-8694. Root ignores permission bits, so the probe runs on a
// thread without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, where chmod 000 binds root too.
TEST(EnergyPowercap, PermissionDeniedNamesTheFileAndTheFix) {
  FakeSysfs fs;
  typical_machine(fs, 1234);
  const std::string energy = fs.path("powercap/intel-rapl:0/energy_uj");
  ASSERT_EQ(::chmod(energy.c_str(), 0), 0);
  ProbeOptions options = fs.options();
  options.use_perf_event = true;  // the fallback is tried; this tree has no power PMU
  std::vector<std::unique_ptr<Meter>> meters;
  bool denied = false;
  const bool dropped = testing::without_file_capabilities([&] {
    // AT_EACCESS: plain access() checks with root's full capabilities
    denied = ::faccessat(AT_FDCWD, energy.c_str(), R_OK, AT_EACCESS) != 0;
    meters = probe_meters(options);
  });
  if (!dropped || !denied)
    GTEST_SKIP() << "cannot make " << energy << " unreadable here (capabilities could not be "
                 << "dropped on this thread)";
  const Meter* rapl = find_meter(meters, "rapl:package-0");
  ASSERT_NE(rapl, nullptr) << describe(meters);
  const MeterInfo& info = rapl->info();
  EXPECT_FALSE(info.available);
  EXPECT_TRUE(contains(info.reason, energy)) << info.reason;
  EXPECT_TRUE(contains(info.reason, "EACCES")) << info.reason;
  EXPECT_TRUE(contains(info.fix, "sudo chmod a+r " + energy)) << info.fix;
  EXPECT_TRUE(contains(info.fix, "CVE-2020-8694")) << info.fix;
  // powercap is unreadable, so perf_event was tried, and says why it failed too
  const Meter* perf = find_meter(meters, "perf:power/energy-pkg");
  ASSERT_NE(perf, nullptr) << describe(meters);
  EXPECT_FALSE(perf->info().available);
  EXPECT_TRUE(contains(perf->info().reason, fs.path("devices/power/type"))) << perf->info().reason;
  EXPECT_TRUE(contains(perf->info().reason, "ENOENT")) << perf->info().reason;
}

TEST(EnergyPowercap, UnreadableEnergyFileAsRoot) {
  FakeSysfs fs;
  typical_machine(fs, 1234);
  fs.remove("powercap/intel-rapl:0/energy_uj");
  fs.write("powercap/intel-rapl:0/energy_uj/x", "1");  // a directory: EISDIR even for root
  FakeClock clock;
  auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
  ASSERT_EQ(meters.size(), 1u) << describe(meters);
  EXPECT_FALSE(meters[0]->info().available);
  EXPECT_TRUE(contains(meters[0]->info().reason, fs.path("powercap/intel-rapl:0/energy_uj")));
  EXPECT_TRUE(contains(meters[0]->info().reason, "EISDIR")) << meters[0]->info().reason;
  EXPECT_THROW(meters[0]->start(), Error);
}

TEST(EnergyPowercap, MissingFilesAreNamed) {
  for (const char* file : {"energy_uj", "max_energy_range_uj"}) {
    FakeSysfs fs;
    typical_machine(fs, 1234);
    fs.remove(std::string("powercap/intel-rapl:0/") + file);
    FakeClock clock;
    auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
    ASSERT_EQ(meters.size(), 1u) << describe(meters);
    const MeterInfo& info = meters[0]->info();
    EXPECT_FALSE(info.available) << file;
    EXPECT_TRUE(contains(info.reason, fs.path(std::string("powercap/intel-rapl:0/") + file)))
        << info.reason;
    EXPECT_TRUE(contains(info.reason, "ENOENT")) << info.reason;
    EXPECT_FALSE(info.fix.empty());
  }
}

TEST(EnergyPowercap, GarbageValuesAreNamed) {
  struct Case {
    const char* file;
    const char* value;
    const char* expect;
  };
  const Case cases[] = {
      {"energy_uj", "abc", "\"abc\""},
      {"energy_uj", "-5", "\"-5\""},
      {"energy_uj", "99999999999999999999999", "out of range"},
      {"energy_uj", "", "empty"},
      {"energy_uj", "262143328851", "exceeds max_energy_range_uj 262143328850"},
      {"max_energy_range_uj", "abc", "\"abc\""},
      {"max_energy_range_uj", "0", "not a usable counter range"},
      {"max_energy_range_uj", "18446744073709551615", "not a usable counter range"},
  };
  for (const Case& c : cases) {
    FakeSysfs fs;
    typical_machine(fs, 1234);
    const std::string path = fs.path(std::string("powercap/intel-rapl:0/") + c.file);
    fs.write(std::string("powercap/intel-rapl:0/") + c.file, c.value);
    FakeClock clock;
    auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
    ASSERT_EQ(meters.size(), 1u) << describe(meters);
    const MeterInfo& info = meters[0]->info();
    EXPECT_FALSE(info.available) << c.file << "=" << c.value;
    EXPECT_TRUE(contains(info.reason, path)) << info.reason;
    EXPECT_TRUE(contains(info.reason, c.expect)) << info.reason;
  }
}

TEST(EnergyPowercap, GarbageDuringTheWindowIsAnError) {
  FakeSysfs fs;
  typical_machine(fs, 1234);
  FakeClock clock;
  auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
  Meter* meter = find_meter(meters, "rapl:package-0");
  ASSERT_NE(meter, nullptr);
  meter->start();
  fs.write("powercap/intel-rapl:0/energy_uj", "garbage");
  clock.advance(0.1);
  try {
    meter->poll();
    FAIL() << "garbage accepted";
  } catch (const SysfsError& e) {
    EXPECT_TRUE(contains(e.what(), fs.path("powercap/intel-rapl:0/energy_uj"))) << e.what();
    EXPECT_TRUE(contains(e.what(), "\"garbage\"")) << e.what();
  }
}

TEST(EnergyPowercap, NoRootOrNoPackageZone) {
  FakeSysfs fs;
  FakeClock clock;
  {
    auto meters = detail::probe_powercap(fs.path("nowhere"), clock.clock());
    ASSERT_EQ(meters.size(), 1u);
    EXPECT_EQ(meters[0]->info().id, "rapl");
    EXPECT_FALSE(meters[0]->info().available);
    EXPECT_TRUE(contains(meters[0]->info().reason, fs.path("nowhere") + " does not exist"));
    EXPECT_TRUE(contains(meters[0]->info().fix, "intel_rapl_msr")) << meters[0]->info().fix;
  }
  {
    auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
    ASSERT_EQ(meters.size(), 1u);
    EXPECT_TRUE(contains(meters[0]->info().reason, "it has no zone")) << meters[0]->info().reason;
  }
  {
    fs.rapl_zone("intel-rapl:0:0", "core", 1);  // a core zone alone is not used
    fs.rapl_zone("intel-rapl:1", "psys", 1);
    auto meters = detail::probe_powercap(fs.path("powercap"), clock.clock());
    ASSERT_EQ(meters.size(), 1u);
    EXPECT_FALSE(meters[0]->info().available);
    EXPECT_TRUE(contains(meters[0]->info().reason, "zones: intel-rapl:0:0 (core), intel-rapl:1 (psys)"))
        << meters[0]->info().reason;
  }
}

}  // namespace
}  // namespace mobilellm::energy
