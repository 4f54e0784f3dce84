// Energy meters: how many joules the machine spent over a window of time, from whatever meter the
// platform offers, and an honest account of why a meter could not be used.
//
// A Meter is one source of energy readings (a RAPL package zone, a perf_event counter, a battery
// fuel gauge, macOS powermetrics). probe_meters() considers every kind, returns them all, each with
// its status: usable, or not with the reason and the fix. An EnergyRecorder polls the usable meters
// on a background thread (often enough to see every counter wrap) and turns a begin()/end() window
// into joules. Nothing here ever invents a number: an unavailable meter reports no joules.
//
// Roots are configurable so tests run against fake sysfs trees.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mobilellm::energy {

struct MeterInfo {
  std::string id;      // stable identifier, e.g. "rapl:package-0", "perf:power/energy-pkg", "battery:BAT0"
  std::string scope;   // what it covers, e.g. "CPU package", "whole system (battery)"
  std::string kind;    // "counter" (cumulative joules), "power-integrated" (W sampled x dt), "os-estimate"
  // How often the hardware refreshes the value (nominal); a window much shorter than this is not
  // meaningful. 0 when unknown.
  double update_period_seconds = 0.0;
  // The recorder reads the meter at least this often (to see every counter wrap, or to sample
  // power fast enough). Set for usable meters.
  double poll_period_seconds = 0.0;
  bool available = false;
  std::string reason;  // when unavailable: what went wrong, naming the file or call and its value
  std::string fix;     // when unavailable: what the user can do (e.g. permissions, CVE-2020-8694)
  std::string note;    // caveats of a usable meter: units assumed, resolution, sign convention
};

class Meter {
 public:
  virtual ~Meter() = default;
  virtual const MeterInfo& info() const = 0;
  // Starts counting from zero. Throws mobilellm::Error if the meter cannot be read (always, for
  // an unavailable meter).
  virtual void start() = 0;
  // Reads the hardware once: accumulates counter deltas (handling wrap-around) or integrates power.
  // Must be called at least every info().poll_period_seconds between start() and the last read,
  // and once right before joules(). Throws mobilellm::Error naming the file and value on a bad read.
  virtual void poll() = 0;
  // Joules accumulated since start(), as of the last poll().
  virtual double joules() const = 0;
};

struct ProbeOptions {
  std::string powercap_root = "/sys/class/powercap";
  std::string perf_event_root = "/sys/bus/event_source/devices";  // power/ PMU, events/energy-pkg
  std::string power_supply_root = "/sys/class/power_supply";
  bool allow_charging = false;  // battery meters refuse while the battery is charging unless set
  bool use_perf_event = true;   // false: never call perf_event_open (tests with fake trees)
  bool use_powermetrics = true; // macOS only (not compiled elsewhere)
};

// Every meter the platform might offer, usable or not (each with its MeterInfo). Never throws for
// what it finds on the machine: every problem becomes an unavailable meter with a reason.
std::vector<std::unique_ptr<Meter>> probe_meters(const ProbeOptions& options = {});

struct MeterReading {
  std::string id;
  std::string scope;
  std::string kind;
  double joules = 0.0;   // meaningful only when error is empty
  double seconds = 0.0;  // the window's length
  // Non-empty when the meter failed during the window (e.g. a read error, the battery started
  // charging): then there is no measurement and joules is 0, never to be reported as a value.
  std::string error;
};

struct Window {
  double seconds = 0.0;
  std::vector<MeterReading> readings;  // one per usable meter; empty when none is usable
};

// Polls the usable meters on a background thread between begin() and end(). The thread exists
// only when at least one meter is usable; it sleeps between windows and stops with the recorder.
// Not for concurrent use: begin() and end() are called from one thread.
class EnergyRecorder {
 public:
  // Probes the meters (probe_meters(options)) and records with the usable ones.
  explicit EnergyRecorder(const ProbeOptions& options = {});
  // Records with these meters (e.g. a subset of probe_meters()); unavailable ones are listed only.
  explicit EnergyRecorder(std::vector<std::unique_ptr<Meter>> meters);
  ~EnergyRecorder();
  EnergyRecorder(const EnergyRecorder&) = delete;
  EnergyRecorder& operator=(const EnergyRecorder&) = delete;

  // Every meter considered, usable or not, with reasons.
  const std::vector<MeterInfo>& meters() const;
  bool available() const;  // at least one usable meter

  // Opens a window (throws InvalidArgument if one is open already).
  void begin();
  // Closes the window (throws InvalidArgument if none is open). Never throws for meter failures:
  // those become MeterReading::error.
  Window end();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mobilellm::energy
