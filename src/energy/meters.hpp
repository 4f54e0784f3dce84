// The meter kinds behind mobilellm/energy.hpp, one probe function per kind (each in its own file),
// plus what they share. Internal: tests use it to drive meters with a fake clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mobilellm/energy.hpp"

namespace mobilellm::energy::detail {

using TimePoint = std::chrono::steady_clock::time_point;
// The time source of meters that integrate power or check a counter's rate (tests pass a fake).
using Clock = std::function<TimePoint()>;

Clock system_clock();
double seconds_between(TimePoint from, TimePoint to);

// A meter that cannot be used: its MeterInfo says why; start() and poll() throw that reason.
class UnavailableMeter final : public Meter {
 public:
  explicit UnavailableMeter(MeterInfo info);
  const MeterInfo& info() const override { return info_; }
  void start() override;
  void poll() override;
  double joules() const override { return 0.0; }

 private:
  MeterInfo info_;
};

std::unique_ptr<Meter> unavailable(std::string id, std::string scope, std::string kind,
                                   std::string reason, std::string fix);

// Joules between two readings of a counter that runs from 0 to max_range inclusive and then
// restarts at 0: now - prev, or (max_range - prev) + 1 + now after a wrap. Requires
// prev, now <= max_range < UINT64_MAX.
std::uint64_t counter_delta(std::uint64_t prev, std::uint64_t now, std::uint64_t max_range);

// Linux powercap RAPL package zones (<root>/*/ with name "package-N").
std::vector<std::unique_ptr<Meter>> probe_powercap(const std::string& root, const Clock& clock);
// Linux perf_event power/energy-pkg (<root>/power/...), opened system-wide on each PMU CPU.
std::vector<std::unique_ptr<Meter>> probe_perf_event(const std::string& root);
// Battery fuel gauges (<root>/*/ with type "Battery").
std::vector<std::unique_ptr<Meter>> probe_batteries(const std::string& root, bool allow_charging,
                                                    const Clock& clock);

// The output of `powermetrics -f plist`: one plist per sample, samples separated by NUL bytes.
// Compiled everywhere so that its parsing is tested on every platform; only macOS runs it.
class PowermetricsStream {
 public:
  // Appends output; returns the joules of the samples it completed (0 if none).
  // Throws mobilellm::Error (format) naming the sample when one has no energy figure.
  double feed(std::string_view bytes);
  std::size_t samples() const { return samples_; }

 private:
  std::string pending_;
  std::size_t samples_ = 0;
};
// Joules of one sample: processor cpu_energy + gpu_energy + ane_energy (mJ, Apple silicon), or
// processor package_joules (J, Intel).
double powermetrics_sample_joules(std::string_view plist, std::size_t index);

#if defined(__APPLE__)
// macOS powermetrics (needs root). Compiled on Apple platforms only.
std::vector<std::unique_ptr<Meter>> probe_powermetrics();
#endif

// probe_meters() with a given clock.
std::vector<std::unique_ptr<Meter>> probe_meters(const ProbeOptions& options, const Clock& clock);

}  // namespace mobilellm::energy::detail
