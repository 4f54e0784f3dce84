// Linux powercap RAPL: each CPU package zone's cumulative energy counter, energy_uj (µJ), which
// runs from 0 to max_energy_range_uj and then restarts at 0.
#include <algorithm>
#include <cerrno>
#include <limits>

#include <fmt/format.h>

#include "energy/meters.hpp"
#include "energy/sysfs.hpp"

namespace mobilellm::energy::detail {

namespace {

// More than any CPU package draws (server sockets peak near 500 W): bounds how fast a counter can
// advance, hence how often it must be read to see every wrap, and exposes counter resets.
constexpr double kMaxPackageWatts = 1000.0;
constexpr double kMaxPollSeconds = 1.0;
// A zone whose counter could wrap faster than this allows is refused rather than polled madly.
constexpr double kMinPollSeconds = 0.01;
// Tolerance of the rate check for very short intervals (counter steps, clock granularity).
constexpr double kRateSlackJoules = 1.0;
// RAPL refreshes its energy status about once a millisecond (Intel SDM vol. 3B, "RAPL").
constexpr double kRaplUpdateSeconds = 0.001;

bool is_package_name(const std::string& name) {
  const std::string prefix = "package-";
  return name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         std::all_of(name.begin() + prefix.size(), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

bool is_mmio_zone(const std::string& dir_name) {
  return dir_name.find("-mmio") != std::string::npos;
}

std::string fix_for(const SysfsError& e) {
  if (e.os_error() == EACCES || e.os_error() == EPERM)
    return "energy_uj is readable only by root since CVE-2020-8694 (Platypus): run as root, or "
           "make it readable until the next boot with `sudo chmod a+r " + e.path() + "`";
  return "the powercap zone's files are missing or malformed: check the intel_rapl driver "
         "(`ls " + e.path().substr(0, e.path().rfind('/')) + "`, dmesg)";
}

// Reads energy_uj, which must lie within [0, max_range].
std::uint64_t read_counter(const std::string& path, std::uint64_t max_range) {
  const std::uint64_t value = read_unsigned(path);
  if (value > max_range)
    throw SysfsError(ErrorCode::format, path,
                     fmt::format("value {} exceeds max_energy_range_uj {}", value, max_range));
  return value;
}

class PowercapMeter final : public Meter {
 public:
  PowercapMeter(MeterInfo info, std::string energy_path, std::uint64_t max_range, Clock clock)
      : info_(std::move(info)),
        energy_path_(std::move(energy_path)),
        max_range_(max_range),
        clock_(std::move(clock)) {}

  const MeterInfo& info() const override { return info_; }

  void start() override {
    started_ = false;
    last_ = read_counter(energy_path_, max_range_);
    last_time_ = clock_();
    total_uj_ = 0;
    started_ = true;
  }

  void poll() override {
    if (!started_) throw Error(ErrorCode::internal, info_.id + ": poll() before start()");
    const std::uint64_t now = read_counter(energy_path_, max_range_);
    const TimePoint time = clock_();
    const std::uint64_t delta = counter_delta(last_, now, max_range_);
    const double seconds = seconds_between(last_time_, time);
    const double joules = double(delta) * 1e-6;
    if (joules > kMaxPackageWatts * seconds + kRateSlackJoules)
      throw SysfsError(ErrorCode::format, energy_path_,
                       fmt::format("went from {} to {} µJ in {:.3f} s, {:.1f} J at more than {} W: "
                                   "the counter was reset or went backwards",
                                   last_, now, seconds, joules, kMaxPackageWatts));
    total_uj_ += delta;
    last_ = now;
    last_time_ = time;
  }

  double joules() const override { return double(total_uj_) * 1e-6; }

 private:
  MeterInfo info_;
  std::string energy_path_;
  std::uint64_t max_range_;
  Clock clock_;
  bool started_ = false;
  std::uint64_t last_ = 0;
  TimePoint last_time_{};
  std::uint64_t total_uj_ = 0;
};

std::unique_ptr<Meter> open_zone(const std::string& dir, const std::string& name,
                                 const Clock& clock) {
  MeterInfo info;
  info.id = "rapl:" + name;
  info.scope = "CPU package " + name.substr(name.find('-') + 1) + " (RAPL package domain)";
  info.kind = "counter";
  info.update_period_seconds = kRaplUpdateSeconds;
  try {
    const std::string range_path = dir + "/max_energy_range_uj";
    const std::uint64_t max_range = read_unsigned(range_path);
    if (max_range == 0 || max_range == std::numeric_limits<std::uint64_t>::max())
      throw SysfsError(ErrorCode::format, range_path,
                       fmt::format("{} is not a usable counter range", max_range));
    const std::string energy_path = dir + "/energy_uj";
    read_counter(energy_path, max_range);  // readable (root-only since CVE-2020-8694) and sane
    const double wrap_seconds = double(max_range) * 1e-6 / kMaxPackageWatts;
    const double poll_seconds = std::min(kMaxPollSeconds, wrap_seconds / 4);
    if (poll_seconds < kMinPollSeconds)
      throw SysfsError(ErrorCode::format, range_path,
                       fmt::format("{} µJ is too small: the counter could wrap every {:.3g} s at {} W",
                                   max_range, wrap_seconds, kMaxPackageWatts));
    info.poll_period_seconds = poll_seconds;
    info.available = true;
    info.note = fmt::format("{} wraps after max_energy_range_uj = {} µJ ({:.0f} s at {} W); read every {:.3g} s",
                            energy_path, max_range, wrap_seconds, kMaxPackageWatts, poll_seconds);
    return std::make_unique<PowercapMeter>(std::move(info), energy_path, max_range, clock);
  } catch (const SysfsError& e) {
    info.reason = e.what();
    info.fix = fix_for(e);
    return std::make_unique<UnavailableMeter>(std::move(info));
  }
}

}  // namespace

std::uint64_t counter_delta(std::uint64_t prev, std::uint64_t now, std::uint64_t max_range) {
  // After max_range the counter reads 0: one step of the modulus max_range + 1. (The kernel's
  // counter moves in RAPL energy units of 15-61 µJ, so the true step over the wrap is one unit,
  // not 1 µJ; the difference, below the counter's resolution, occurs once per wrap: every few
  // minutes at full power.)
  if (now >= prev) return now - prev;
  return (max_range - prev) + 1 + now;
}

std::vector<std::unique_ptr<Meter>> probe_powercap(const std::string& root, const Clock& clock) {
  const char* scope = "CPU packages (RAPL)";
  std::vector<std::unique_ptr<Meter>> meters;
  if (!path_exists(root)) {
    meters.push_back(unavailable(
        "rapl", scope, "counter", root + " does not exist: the kernel exposes no powercap zones",
        "RAPL needs an Intel or AMD CPU and the intel_rapl_msr driver (`sudo modprobe "
        "intel_rapl_msr`); virtual machines usually expose no RAPL"));
    return meters;
  }
  std::vector<std::string> entries;
  try {
    entries = list_directory(root);
  } catch (const SysfsError& e) {
    meters.push_back(unavailable("rapl", scope, "counter", e.what(), fix_for(e)));
    return meters;
  }

  struct Zone {
    std::string entry, name;
  };
  std::vector<Zone> packages;
  std::vector<std::string> others;
  for (const std::string& entry : entries) {
    std::optional<std::string> name;
    try {
      name = read_optional_attribute(root + "/" + entry + "/name");
    } catch (const SysfsError& e) {
      meters.push_back(unavailable("rapl:" + entry, scope, "counter", e.what(), fix_for(e)));
      continue;
    }
    if (!name) continue;  // a control type such as "intel-rapl", not a zone
    if (!is_package_name(*name)) {  // core, uncore, dram, psys: not the package
      others.push_back(entry + " (" + *name + ")");
      continue;
    }
    // One package may appear twice, through MSRs (intel-rapl:N) and MMIO (intel-rapl-mmio:N):
    // the same counter, counted once, preferably through the MSR zone.
    auto same = std::find_if(packages.begin(), packages.end(),
                             [&](const Zone& z) { return z.name == *name; });
    if (same == packages.end())
      packages.push_back({entry, *name});
    else if (is_mmio_zone(same->entry) && !is_mmio_zone(entry))
      *same = {entry, *name};
  }
  for (const Zone& zone : packages) meters.push_back(open_zone(root + "/" + zone.entry, zone.name, clock));
  if (meters.empty()) {
    std::string found = others.empty() ? "it has no zone" : "zones:";
    for (const std::string& other : others) found += (found.back() == ':' ? " " : ", ") + other;
    meters.push_back(unavailable(
        "rapl", scope, "counter", "no RAPL package zone (name \"package-N\") in " + root + " (" + found + ")",
        "this CPU or driver exposes no package energy counter; core, uncore, DRAM and platform "
        "zones are not used because they do not measure the CPU package"));
  }
  return meters;
}

}  // namespace mobilellm::energy::detail
