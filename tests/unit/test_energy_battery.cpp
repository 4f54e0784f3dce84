// Battery fuel gauges against fake power_supply trees: µA/µV and mA/mV units, sign conventions,
// power_now, energy_now, charging refused or allowed, missing files and garbage values. Time is a
// fake clock moved by the test; the expected joules are worked out by hand in the comments.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "energy/meters.hpp"
#include "energy/sysfs.hpp"
#include "fake_sysfs.hpp"

namespace mobilellm::energy {
namespace {

using testing::describe;
using testing::FakeClock;
using testing::FakeSysfs;
using Attributes = std::vector<std::pair<std::string, std::string>>;

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

struct Probe {
  FakeSysfs fs;
  FakeClock clock;
  std::vector<std::unique_ptr<Meter>> meters;

  Meter& probe(const Attributes& attributes, bool allow_charging = false) {
    fs.supply("AC", {{"type", "Mains"}, {"online", "0"}});
    fs.supply("BAT0", attributes);
    meters = detail::probe_batteries(fs.path("power_supply"), allow_charging, clock.clock());
    EXPECT_EQ(meters.size(), 1u) << describe(meters);
    EXPECT_EQ(meters.at(0)->info().id, "battery:BAT0");
    return *meters.at(0);
  }
  void set(const std::string& attribute, const std::string& value) {
    fs.write("power_supply/BAT0/" + attribute, value);
  }
};

const Attributes kDischargingMicro = {{"type", "Battery"},
                                      {"status", "Discharging"},
                                      {"voltage_now", "12000000"},   // 12 V in µV
                                      {"current_now", "1500000"}};   // 1.5 A in µA

TEST(EnergyBattery, IntegratesVoltageTimesCurrentInMicroUnits) {
  Probe p;
  Meter& meter = p.probe(kDischargingMicro);
  const MeterInfo& info = meter.info();
  ASSERT_TRUE(info.available) << info.reason;
  EXPECT_EQ(info.scope, "whole system (battery)");
  EXPECT_EQ(info.kind, "power-integrated");
  EXPECT_LE(info.poll_period_seconds, 0.25);  // at least 4 Hz
  EXPECT_TRUE(contains(info.note, "µV x µA")) << info.note;
  meter.start();
  for (int i = 0; i < 5; ++i) {  // 18 W for 1 s in 0.2 s steps
    p.clock.advance(0.2);
    meter.poll();
  }
  EXPECT_NEAR(meter.joules(), 18.0, 1e-9);
  p.set("current_now", "2500000");  // 30 W now: the trapezoid over the next 1 s is (18 + 30) / 2
  p.clock.advance(1.0);
  meter.poll();
  EXPECT_NEAR(meter.joules(), 18.0 + 24.0, 1e-9);
  p.clock.advance(0.5);
  meter.poll();
  EXPECT_NEAR(meter.joules(), 42.0 + 15.0, 1e-9);
}

TEST(EnergyBattery, MilliUnitsAreDetectedAndSaid) {
  Probe p;
  Meter& meter = p.probe({{"type", "Battery"},
                          {"status", "Discharging"},
                          {"voltage_now", "12000"},  // 12 V in mV (12 mV in µV: implausible)
                          {"current_now", "1500"}});  // 1.5 A in mA (1.5 mA in µA: too small)
  const MeterInfo& info = meter.info();
  ASSERT_TRUE(info.available) << info.reason;
  EXPECT_TRUE(contains(info.note, "voltage_now 12000 read as mV")) << info.note;
  EXPECT_TRUE(contains(info.note, "current_now 1500 read as mA")) << info.note;
  meter.start();
  p.clock.advance(2.0);
  meter.poll();
  EXPECT_NEAR(meter.joules(), 36.0, 1e-9);
}

TEST(EnergyBattery, MixedMicroVoltsAndMilliAmps) {
  Probe p;
  Meter& meter = p.probe({{"type", "Battery"},
                          {"status", "Discharging"},
                          {"voltage_now", "3800000"},  // 3.8 V, a phone
                          {"current_now", "-450"}});   // 450 mA, negative while discharging
  ASSERT_TRUE(meter.info().available) << meter.info().reason;
  EXPECT_TRUE(contains(meter.info().note, "current_now 450 read as mA")) << meter.info().note;
  meter.start();
  p.clock.advance(10.0);
  meter.poll();
  EXPECT_NEAR(meter.joules(), 3.8 * 0.45 * 10.0, 1e-9);  // positive: status says discharging
}

TEST(EnergyBattery, SignOfCurrentIgnoredDirectionFromStatus) {
  Probe p;
  Attributes attributes = kDischargingMicro;
  attributes[3].second = "-1500000";  // drivers that report discharge as negative current
  Meter& meter = p.probe(attributes);
  ASSERT_TRUE(meter.info().available) << meter.info().reason;
  meter.start();
  p.clock.advance(1.0);
  meter.poll();
  EXPECT_NEAR(meter.joules(), 18.0, 1e-9);
}

TEST(EnergyBattery, PowerNowWhenNoCurrent) {
  for (const auto& [value, unit] : {std::pair{"18000000", "µW"}, std::pair{"18000", "mW"}}) {
    Probe p;
    Meter& meter = p.probe({{"type", "Battery"}, {"status", "Discharging"}, {"power_now", value}});
    ASSERT_TRUE(meter.info().available) << meter.info().reason;
    EXPECT_TRUE(contains(meter.info().note, std::string("power_now in ") + unit)) << meter.info().note;
    meter.start();
    p.clock.advance(1.0);
    meter.poll();
    EXPECT_NEAR(meter.joules(), 18.0, 1e-9) << value;
  }
}

TEST(EnergyBattery, EnergyNowDecreaseInMicroAndMilliWattHours) {
  struct Case {
    const char *now, *full, *later, *unit;
  };
  // 10 mWh = 36 J in both units
  for (const Case& c : {Case{"50000000", "60000000", "49990000", "µWh"},
                        Case{"50000", "60000", "49990", "mWh"}}) {
    Probe p;
    Meter& meter = p.probe({{"type", "Battery"},
                            {"status", "Discharging"},
                            {"energy_now", c.now},
                            {"energy_full", c.full},
                            {"voltage_now", "12000000"},
                            {"current_now", "1"}});
    const MeterInfo& info = meter.info();
    ASSERT_TRUE(info.available) << info.reason;
    EXPECT_EQ(info.kind, "counter");
    EXPECT_TRUE(contains(info.note, std::string("energy_now (") + c.unit + ")")) << info.note;
    EXPECT_TRUE(contains(info.note, "refreshes")) << info.note;  // the coarse update is stated
    meter.start();
    p.clock.advance(30.0);
    meter.poll();
    EXPECT_EQ(meter.joules(), 0.0);  // the gauge has not refreshed yet
    p.set("energy_now", c.later);
    meter.poll();
    EXPECT_NEAR(meter.joules(), 36.0, 1e-9) << c.unit;
  }
}

TEST(EnergyBattery, LowEnergyNowUsesEnergyFullForTheUnit) {
  Probe p;  // 0.5 Wh left of 50 Wh: 500000 alone would look like mWh
  Meter& meter = p.probe({{"type", "Battery"}, {"status", "Discharging"},
                          {"energy_now", "500000"}, {"energy_full_design", "50000000"}});
  ASSERT_TRUE(meter.info().available) << meter.info().reason;
  EXPECT_TRUE(contains(meter.info().note, "energy_now (µWh)")) << meter.info().note;
  meter.start();
  p.set("energy_now", "499000");
  meter.poll();
  EXPECT_NEAR(meter.joules(), 1000e-6 * 3600.0, 1e-9);
}

TEST(EnergyBattery, ChargingIsRefused) {
  for (const char* status : {"Charging", "Full", "Not charging", "Unknown"}) {
    Probe p;
    Attributes attributes = kDischargingMicro;
    attributes[1].second = status;
    const MeterInfo& info = p.probe(attributes).info();
    EXPECT_FALSE(info.available) << status;
    EXPECT_TRUE(contains(info.reason, p.fs.path("power_supply/BAT0/status"))) << info.reason;
    EXPECT_TRUE(contains(info.reason, std::string("\"") + status + "\"")) << info.reason;
    EXPECT_TRUE(contains(info.fix, "allow_charging")) << info.fix;
  }
  Probe p;  // no status at all: cannot tell, so refused too
  Attributes attributes = kDischargingMicro;
  attributes.erase(attributes.begin() + 1);
  const MeterInfo& info = p.probe(attributes).info();
  EXPECT_FALSE(info.available);
  EXPECT_TRUE(contains(info.reason, "status: does not exist")) << info.reason;
}

TEST(EnergyBattery, ChargingAllowedCountsNegative) {
  Probe p;
  Attributes attributes = kDischargingMicro;
  attributes[1].second = "Charging";
  Meter& meter = p.probe(attributes, /*allow_charging=*/true);
  ASSERT_TRUE(meter.info().available) << meter.info().reason;
  meter.start();
  p.clock.advance(1.0);
  meter.poll();
  EXPECT_NEAR(meter.joules(), -18.0, 1e-9);  // 18 W flowing into the battery
  p.set("status", "Discharging");  // unplugged: the next interval's ends are -18 W and +18 W
  p.clock.advance(1.0);
  meter.poll();
  EXPECT_NEAR(meter.joules(), -18.0, 1e-9);
  p.clock.advance(1.0);
  meter.poll();
  EXPECT_NEAR(meter.joules(), 0.0, 1e-9);
}

TEST(EnergyBattery, ChargerPluggedInDuringTheWindowIsAnError) {
  Probe p;
  Meter& meter = p.probe(kDischargingMicro);
  ASSERT_TRUE(meter.info().available) << meter.info().reason;
  meter.start();
  p.set("status", "Charging");
  p.clock.advance(0.2);
  try {
    meter.poll();
    FAIL() << "a charging battery was read";
  } catch (const SysfsError& e) {
    EXPECT_TRUE(contains(e.what(), p.fs.path("power_supply/BAT0/status"))) << e.what();
    EXPECT_TRUE(contains(e.what(), "\"Charging\"")) << e.what();
  }
}

TEST(EnergyBattery, PeripheralAndAbsentBatteriesAreNotUsed) {
  {
    Probe p;
    Attributes attributes = kDischargingMicro;
    attributes.push_back({"scope", "Device"});  // a wireless mouse
    const MeterInfo& info = p.probe(attributes).info();
    EXPECT_FALSE(info.available);
    EXPECT_TRUE(contains(info.reason, "\"Device\"")) << info.reason;
  }
  {
    Probe p;
    Attributes attributes = kDischargingMicro;
    attributes.push_back({"present", "0"});
    const MeterInfo& info = p.probe(attributes).info();
    EXPECT_FALSE(info.available);
    EXPECT_TRUE(contains(info.reason, "not present")) << info.reason;
  }
}

TEST(EnergyBattery, NoBattery) {
  FakeSysfs fs;
  FakeClock clock;
  auto meters = detail::probe_batteries(fs.path("power_supply"), false, clock.clock());
  ASSERT_EQ(meters.size(), 1u);
  EXPECT_EQ(meters[0]->info().id, "battery");
  EXPECT_FALSE(meters[0]->info().available);
  EXPECT_TRUE(contains(meters[0]->info().reason, "it lists no power supply")) << meters[0]->info().reason;
  EXPECT_FALSE(meters[0]->info().fix.empty());

  fs.supply("AC", {{"type", "Mains"}});
  fs.supply("ucsi-source-psy-0", {});
  meters = detail::probe_batteries(fs.path("power_supply"), false, clock.clock());
  ASSERT_EQ(meters.size(), 1u);
  EXPECT_TRUE(contains(meters[0]->info().reason,
                       "power supplies: AC (Mains), ucsi-source-psy-0 (no type)"))
      << meters[0]->info().reason;

  meters = detail::probe_batteries(fs.path("absent"), false, clock.clock());
  ASSERT_EQ(meters.size(), 1u);
  EXPECT_TRUE(contains(meters[0]->info().reason, fs.path("absent") + " does not exist"));
}

TEST(EnergyBattery, MissingFilesAreNamed) {
  Probe p;  // voltage without current, and no power_now or energy_now
  const MeterInfo& info = p.probe({{"type", "Battery"}, {"status", "Discharging"},
                                   {"voltage_now", "12000000"}}).info();
  EXPECT_FALSE(info.available);
  EXPECT_TRUE(contains(info.reason, p.fs.path("power_supply/BAT0") + " has none of")) << info.reason;
}

TEST(EnergyBattery, GarbageValuesAreNamed) {
  struct Case {
    const char* attribute;
    const char* value;
    const char* expect;
  };
  const std::string long_value(5000, 'x');
  const Case cases[] = {
      {"voltage_now", "abc", "\"abc\""},
      {"voltage_now", "500000", "implausible"},  // 0.5 V or 500 V
      {"voltage_now", "-12000000", "implausible"},
      {"current_now", "99999999999999999999999", "64-bit range"},
      {"current_now", "", "empty"},
      {"current_now", "200000000", "implausible"},  // 200 A
      {"status", long_value.c_str(), "4096"},
  };
  for (const Case& c : cases) {
    Probe p;
    Attributes attributes = kDischargingMicro;
    for (auto& [attribute, value] : attributes)
      if (attribute == c.attribute) value = c.value;
    const MeterInfo& info = p.probe(attributes).info();
    EXPECT_FALSE(info.available) << c.attribute << "=" << c.value;
    EXPECT_TRUE(contains(info.reason, p.fs.path(std::string("power_supply/BAT0/") + c.attribute)))
        << info.reason;
    EXPECT_TRUE(contains(info.reason, c.expect)) << info.reason;
  }
  for (const char* energy : {"-5", "abc", "99999999999999999"}) {
    Probe p;
    const MeterInfo& info = p.probe({{"type", "Battery"}, {"status", "Discharging"},
                                     {"energy_now", energy}}).info();
    EXPECT_FALSE(info.available) << energy;
    EXPECT_TRUE(contains(info.reason, p.fs.path("power_supply/BAT0/energy_now"))) << info.reason;
  }
}

TEST(EnergyBattery, GarbageDuringTheWindowIsAnError) {
  Probe p;
  Meter& meter = p.probe(kDischargingMicro);
  ASSERT_TRUE(meter.info().available) << meter.info().reason;
  meter.start();
  p.set("voltage_now", "0");  // a gauge glitch
  p.clock.advance(0.2);
  EXPECT_THROW(meter.poll(), SysfsError);
}

}  // namespace
}  // namespace mobilellm::energy
