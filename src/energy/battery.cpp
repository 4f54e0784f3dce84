// Battery fuel gauges (<power_supply_root>/*/ with type "Battery"): the energy the battery gave
// over a window. From energy_now (remaining energy) when the gauge has it, else by integrating
// voltage_now x current_now (or power_now) sampled five times a second.
//
// The kernel ABI says µV, µA, µW and µWh, but some drivers report mV, mA, mW and mWh: the
// magnitude decides, and the meter's note says what was assumed. Drivers disagree on the sign of
// current_now and power_now while discharging, so the direction comes from status instead: a
// battery that is not discharging does not carry the system's load and is refused, unless the
// caller allows it (then charging counts as negative energy).
#include <cerrno>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "energy/meters.hpp"
#include "energy/sysfs.hpp"

namespace mobilellm::energy::detail {

namespace {

constexpr const char* kScope = "whole system (battery)";
constexpr double kSamplePeriodSeconds = 0.2;  // power is integrated at 5 Hz (at least 4 Hz)
constexpr double kEnergyPollSeconds = 1.0;
// Plausible ranges, in SI units, of a battery that powers a phone or a laptop.
constexpr double kMinVolts = 1.0, kMaxVolts = 100.0;
constexpr double kMaxAmps = 100.0;
constexpr double kMaxWatts = 1000.0;
constexpr double kMaxWattHours = 10000.0;
// Below these magnitudes a reading in the ABI's micro-units would be too small for a running
// system (50 mA, 0.1 W, 1 Wh), while in milli-units it is still plausible (up to 50 A, 100 W, 1 kWh).
constexpr double kMinMicroAmps = 50000, kMinMicroWatts = 100000, kMinMicroWattHours = 1e6;

struct Unit {
  double scale;      // raw value x scale = V, A, W or Wh
  const char* name;  // "µV", "mV", ...
  bool abi() const { return scale == 1e-6; }
};

// Picks micro- or milli-units for an attribute: micro unless the magnitude is below `min_micro`
// (0 keeps the fallback). The note explains a choice that departs from the ABI.
Unit pick_unit(const std::string& attribute, double magnitude, double min_micro, Unit micro,
               Unit milli, Unit fallback, const char* si, std::string& note) {
  if (magnitude == 0) {
    note += fmt::format("{} was 0 when probed: read as {}; ", attribute, fallback.name);
    return fallback;
  }
  if (magnitude >= min_micro) return micro;
  note += fmt::format("{} {} read as {} (as the ABI's {} it would be {:.3g} {}, too small); ",
                      attribute, magnitude, milli.name, micro.name, magnitude * 1e-6, si);
  return milli;
}

const Unit kMicroVolt{1e-6, "µV"}, kMilliVolt{1e-3, "mV"};
const Unit kMicroAmp{1e-6, "µA"}, kMilliAmp{1e-3, "mA"};
const Unit kMicroWatt{1e-6, "µW"}, kMilliWatt{1e-3, "mW"};
const Unit kMicroWattHour{1e-6, "µWh"}, kMilliWattHour{1e-3, "mWh"};

// voltage_now is unambiguous: 1-100 V is 1e6-1e8 in µV and 1e3-1e5 in mV.
Unit voltage_unit(const std::string& path, std::int64_t raw, std::string& note) {
  const double v = std::fabs(double(raw));
  if (v >= kMinVolts * 1e6 && v <= kMaxVolts * 1e6) return kMicroVolt;
  if (v >= kMinVolts * 1e3 && v <= kMaxVolts * 1e3) {
    note += fmt::format("voltage_now {} read as mV (the ABI's µV would be {:.3g} V); ", raw, v * 1e-6);
    return kMilliVolt;
  }
  throw SysfsError(ErrorCode::format, path,
                   fmt::format("{} is implausible for a battery in µV ({:.3g} V) and in mV ({:.3g} V)",
                               raw, v * 1e-6, v * 1e-3));
}

// Reads a signed value and checks its magnitude in SI units against `max_si`.
double read_scaled(const std::string& path, Unit unit, double max_si, const char* si) {
  const std::int64_t raw = read_signed(path);
  const double value = double(raw) * unit.scale;
  if (std::fabs(value) > max_si)
    throw SysfsError(ErrorCode::format, path,
                     fmt::format("{} {} = {:.4g} {} is implausible (more than {} {})", raw, unit.name,
                                 value, si, max_si, si));
  return value;
}

// +1 while discharging, -1 while charging (allowed only with allow_charging). Throws SysfsError
// (unsupported) when the battery is not discharging and charging is not allowed.
double direction(const std::string& status_path, bool allow_charging) {
  const std::optional<std::string> status = read_optional_attribute(status_path);
  if (status == "Discharging") return +1.0;
  if (!allow_charging) {
    if (!status)
      throw SysfsError(ErrorCode::unsupported, status_path,
                       "does not exist: cannot tell whether the battery is discharging");
    throw SysfsError(ErrorCode::unsupported, status_path,
                     quote_value(*status) + ", not \"Discharging\": on external power the battery "
                                            "does not carry the system's load");
  }
  return status == "Charging" ? -1.0 : +1.0;
}

class BatteryMeter : public Meter {
 public:
  const MeterInfo& info() const override { return info_; }

 protected:
  BatteryMeter(MeterInfo info, std::string dir, bool allow_charging)
      : info_(std::move(info)), dir_(std::move(dir)), allow_charging_(allow_charging) {}
  double direction() const { return detail::direction(dir_ + "/status", allow_charging_); }
  void check_started() const {
    if (!started_) throw Error(ErrorCode::internal, info_.id + ": poll() before start()");
  }

  MeterInfo info_;
  std::string dir_;
  bool allow_charging_;
  bool started_ = false;
};

// The decrease of energy_now (the gauge's remaining energy).
class EnergyNowMeter final : public BatteryMeter {
 public:
  EnergyNowMeter(MeterInfo info, std::string dir, bool allow_charging, Unit unit)
      : BatteryMeter(std::move(info), std::move(dir), allow_charging), unit_(unit) {}

  void start() override {
    started_ = false;
    direction();
    first_ = last_ = read_energy();
    started_ = true;
  }
  void poll() override {
    check_started();
    direction();
    last_ = read_energy();
  }
  double joules() const override { return (first_ - last_) * 3600.0; }

 private:
  double read_energy() const {
    const std::string path = dir_ + "/energy_now";
    const double wh = read_scaled(path, unit_, kMaxWattHours, "Wh");
    if (wh < 0)
      throw SysfsError(ErrorCode::format, path, fmt::format("{:.4g} Wh is negative", wh));
    return wh;
  }

  Unit unit_;
  double first_ = 0.0, last_ = 0.0;  // Wh
};

// Power sampled every kSamplePeriodSeconds and integrated with the trapezoid rule.
class PowerMeter final : public BatteryMeter {
 public:
  // voltage x current when `voltage` is set, else power_now.
  PowerMeter(MeterInfo info, std::string dir, bool allow_charging, std::optional<Unit> voltage,
             Unit current_or_power, Clock clock)
      : BatteryMeter(std::move(info), std::move(dir), allow_charging),
        voltage_(voltage),
        unit_(current_or_power),
        clock_(std::move(clock)) {}

  void start() override {
    started_ = false;
    last_watts_ = sample();
    last_time_ = clock_();
    joules_ = 0.0;
    started_ = true;
  }
  void poll() override {
    check_started();
    const double watts = sample();
    const TimePoint time = clock_();
    joules_ += 0.5 * (last_watts_ + watts) * seconds_between(last_time_, time);
    last_watts_ = watts;
    last_time_ = time;
  }
  double joules() const override { return joules_; }

 private:
  // Signed watts leaving the battery.
  double sample() const {
    const double sign = direction();
    if (!voltage_) return sign * std::fabs(read_scaled(dir_ + "/power_now", unit_, kMaxWatts, "W"));
    const std::string voltage_path = dir_ + "/voltage_now";
    const double volts = read_scaled(voltage_path, *voltage_, kMaxVolts, "V");
    if (volts < kMinVolts)
      throw SysfsError(ErrorCode::format, voltage_path,
                       fmt::format("{:.4g} V is implausible (less than {} V)", volts, kMinVolts));
    const double amps = std::fabs(read_scaled(dir_ + "/current_now", unit_, kMaxAmps, "A"));
    return sign * volts * amps;
  }

  std::optional<Unit> voltage_;
  Unit unit_;
  Clock clock_;
  double last_watts_ = 0.0;
  TimePoint last_time_{};
  double joules_ = 0.0;
};

std::string read_fix(const SysfsError& e) {
  if (e.os_error() == EACCES || e.os_error() == EPERM)
    return "make it readable (`sudo chmod a+r " + e.path() + "`) or run as root";
  return "the fuel gauge's driver reports no usable value in this file; another meter (RAPL) or "
         "an external power meter is needed";
}

std::unique_ptr<Meter> probe_battery(const std::string& dir, const std::string& name,
                                     bool allow_charging, const Clock& clock) {
  MeterInfo info;
  info.id = "battery:" + name;
  info.scope = kScope;
  info.kind = "power-integrated";
  const auto refuse = [&](std::string reason, std::string fix) {
    info.reason = std::move(reason);
    info.fix = std::move(fix);
    return std::make_unique<UnavailableMeter>(std::move(info));
  };
  try {
    if (read_optional_attribute(dir + "/scope") == "Device")
      return refuse(dir + "/scope is \"Device\": a peripheral's battery, not the system's",
                    "none needed: this battery does not power the machine");
    if (read_optional_attribute(dir + "/present") == "0")
      return refuse(dir + "/present is 0: the battery is not present", "insert the battery");
    try {
      direction(dir + "/status", allow_charging);
    } catch (const SysfsError& e) {
      if (e.code() != ErrorCode::unsupported) throw;
      return refuse(e.what(), "run on battery power (unplug the charger), or force the measurement "
                              "with allow_charging (the joules are then the battery's net "
                              "discharge, negative while it charges)");
    }

    std::string note;
    if (const auto energy = read_optional_attribute(dir + "/energy_now")) {
      double magnitude = double(std::max<std::int64_t>(0, parse_signed(dir + "/energy_now", *energy)));
      for (const char* other : {"/energy_full", "/energy_full_design"})
        if (const auto text = read_optional_attribute(dir + other))
          magnitude = std::max(magnitude, double(parse_signed(dir + other, *text)));
      const Unit unit = pick_unit("energy_now/energy_full", magnitude, kMinMicroWattHours, kMicroWattHour,
                                  kMilliWattHour, kMicroWattHour, "Wh", note);
      info.kind = "counter";
      info.poll_period_seconds = kEnergyPollSeconds;
      note += fmt::format(
          "the decrease of energy_now ({}), which the gauge's firmware refreshes only every few "
          "seconds to a minute in steps of 1 {} ({:.3g} J): use windows of minutes",
          unit.name, unit.name, unit.scale * 3600.0);
      info.note = std::move(note);
      info.available = true;
      auto meter = std::make_unique<EnergyNowMeter>(info, dir, allow_charging, unit);
      meter->start();  // every file readable and plausible now
      return meter;
    }

    std::optional<Unit> voltage;
    Unit unit{};
    const auto voltage_text = read_optional_attribute(dir + "/voltage_now");
    const auto current_text = read_optional_attribute(dir + "/current_now");
    if (voltage_text && current_text) {
      const std::int64_t v = parse_signed(dir + "/voltage_now", *voltage_text);
      voltage = voltage_unit(dir + "/voltage_now", v, note);
      const std::int64_t i = parse_signed(dir + "/current_now", *current_text);
      unit = pick_unit("current_now", std::fabs(double(i)), kMinMicroAmps, kMicroAmp, kMilliAmp,
                       voltage->abi() ? kMicroAmp : kMilliAmp, "A", note);
      note += fmt::format("voltage_now x current_now in {} x {}", voltage->name, unit.name);
    } else if (const auto power_text = read_optional_attribute(dir + "/power_now")) {
      const std::int64_t p = parse_signed(dir + "/power_now", *power_text);
      unit = pick_unit("power_now", std::fabs(double(p)), kMinMicroWatts, kMicroWatt, kMilliWatt,
                       kMicroWatt, "W", note);
      note += fmt::format("power_now in {}", unit.name);
    } else {
      return refuse(dir + " has none of energy_now, voltage_now with current_now, or power_now",
                    "this fuel gauge reports neither energy nor power; another meter (RAPL) or an "
                    "external power meter is needed");
    }
    note += fmt::format(", sampled every {} s (ACPI batteries refresh at most once a second); the "
                        "sign of the reading is ignored, status gives the direction",
                        kSamplePeriodSeconds);
    info.poll_period_seconds = kSamplePeriodSeconds;
    info.note = std::move(note);
    info.available = true;
    auto meter = std::make_unique<PowerMeter>(info, dir, allow_charging, voltage, unit, clock);
    meter->start();  // every file readable and plausible now
    return meter;
  } catch (const SysfsError& e) {
    info.available = false;
    info.poll_period_seconds = 0.0;
    info.note.clear();
    return refuse(e.what(), read_fix(e));
  }
}

}  // namespace

std::vector<std::unique_ptr<Meter>> probe_batteries(const std::string& root, bool allow_charging,
                                                    const Clock& clock) {
  std::vector<std::unique_ptr<Meter>> meters;
  const char* no_battery_fix =
      "none on this machine: without a battery there is no fuel gauge (use RAPL or an external "
      "power meter)";
  if (!path_exists(root)) {
    meters.push_back(unavailable("battery", kScope, "power-integrated",
                                 root + " does not exist: the kernel reports no power supply",
                                 no_battery_fix));
    return meters;
  }
  std::vector<std::string> entries;
  try {
    entries = list_directory(root);
  } catch (const SysfsError& e) {
    meters.push_back(unavailable("battery", kScope, "power-integrated", e.what(), read_fix(e)));
    return meters;
  }
  std::string others;
  for (const std::string& entry : entries) {
    const std::string dir = root + "/" + entry;
    std::optional<std::string> type;
    try {
      type = read_optional_attribute(dir + "/type");
    } catch (const SysfsError& e) {
      meters.push_back(unavailable("battery:" + entry, kScope, "power-integrated", e.what(), read_fix(e)));
      continue;
    }
    if (type != "Battery") {
      others += (others.empty() ? "" : ", ") + entry + " (" + type.value_or("no type") + ")";
      continue;
    }
    meters.push_back(probe_battery(dir, entry, allow_charging, clock));
  }
  if (meters.empty())
    meters.push_back(unavailable(
        "battery", kScope, "power-integrated",
        "no battery in " + root + " (" +
            (others.empty() ? "it lists no power supply" : "power supplies: " + others) + ")",
        no_battery_fix));
  return meters;
}

}  // namespace mobilellm::energy::detail
