// probe_meters(): every meter kind in turn, perf_event only as the fallback for powercap.
#include <algorithm>

#include "energy/meters.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::energy {

namespace detail {

Clock system_clock() {
  return [] { return std::chrono::steady_clock::now(); };
}

double seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

UnavailableMeter::UnavailableMeter(MeterInfo info) : info_(std::move(info)) {
  info_.available = false;
}

void UnavailableMeter::start() {
  throw Error(ErrorCode::unsupported, info_.id + " is unavailable: " + info_.reason);
}

void UnavailableMeter::poll() { start(); }

std::unique_ptr<Meter> unavailable(std::string id, std::string scope, std::string kind,
                                   std::string reason, std::string fix) {
  MeterInfo info;
  info.id = std::move(id);
  info.scope = std::move(scope);
  info.kind = std::move(kind);
  info.reason = std::move(reason);
  info.fix = std::move(fix);
  return std::make_unique<UnavailableMeter>(std::move(info));
}

std::vector<std::unique_ptr<Meter>> probe_meters(const ProbeOptions& options, const Clock& clock) {
  std::vector<std::unique_ptr<Meter>> meters = probe_powercap(options.powercap_root, clock);
  const bool powercap_usable = std::any_of(meters.begin(), meters.end(),
                                           [](const auto& m) { return m->info().available; });
  // perf_event's energy-pkg reads the same RAPL counters: only worth trying when powercap failed.
  if (!powercap_usable) {
    if (options.use_perf_event) {
      for (auto& m : probe_perf_event(options.perf_event_root)) meters.push_back(std::move(m));
    } else {
      meters.push_back(unavailable(
          "perf:power/energy-pkg", "CPU package", "counter",
          "not tried: perf_event is disabled (ProbeOptions::use_perf_event is false)",
          "enable perf_event probing"));
    }
  }
  for (auto& m : probe_batteries(options.power_supply_root, options.allow_charging, clock))
    meters.push_back(std::move(m));
#if defined(__APPLE__)
  if (options.use_powermetrics)
    for (auto& m : probe_powermetrics()) meters.push_back(std::move(m));
#endif
  return meters;
}

}  // namespace detail

std::vector<std::unique_ptr<Meter>> probe_meters(const ProbeOptions& options) {
  return detail::probe_meters(options, detail::system_clock());
}

}  // namespace mobilellm::energy
