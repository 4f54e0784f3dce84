// Linux perf_event power/energy-pkg: the RAPL package counter through the perf PMU, the fallback
// when the powercap files are unreadable. The kernel extends the 32-bit hardware counter to 64 bits
// (its own timer reads it before it can wrap), so a count never wraps here.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>

#if defined(__linux__)
#include <linux/perf_event.h>
#include <sys/syscall.h>
#endif

#include <fmt/format.h>

#include "energy/meters.hpp"
#include "energy/sysfs.hpp"

namespace mobilellm::energy::detail {

namespace {

constexpr const char* kId = "perf:power/energy-pkg";
constexpr double kRaplUpdateSeconds = 0.001;
constexpr double kPollSeconds = 1.0;  // nothing to catch: the kernel handles the wraps
constexpr std::size_t kMaxCpus = 4096;

// "event=0x02" (the only term the power PMU's events use) → the perf config value.
std::uint64_t parse_event(const std::string& path, const std::string& text) {
  const std::string key = "event=";
  if (text.compare(0, key.size(), key) != 0 || text.find(',') != std::string::npos)
    throw SysfsError(ErrorCode::unsupported, path,
                     quote_value(text) + " is not a single \"event=N\" term");
  const std::string value = text.substr(key.size());
  const bool hex = value.size() > 2 && value[0] == '0' && (value[1] == 'x' || value[1] == 'X');
  const char* first = value.data() + (hex ? 2 : 0);
  const char* last = value.data() + value.size();
  std::uint64_t config = 0;
  const auto [end, ec] = std::from_chars(first, last, config, hex ? 16 : 10);
  if (first == last || ec != std::errc() || end != last)
    throw SysfsError(ErrorCode::format, path, quote_value(text) + " has no valid event number");
  return config;
}

// "0", "0,28", "0-3,8": the CPUs a system-wide PMU counts on (one per package).
std::vector<int> parse_cpu_list(const std::string& path, const std::string& text) {
  std::vector<int> cpus;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    const std::size_t dash = item.find('-');
    const std::uint64_t first = parse_unsigned(path, item.substr(0, dash));
    const std::uint64_t last =
        dash == std::string::npos ? first : parse_unsigned(path, item.substr(dash + 1));
    if (last < first || last >= kMaxCpus || cpus.size() + (last - first) >= kMaxCpus)
      throw SysfsError(ErrorCode::format, path, quote_value(text) + " is not a usable CPU list");
    for (std::uint64_t cpu = first; cpu <= last; ++cpu) cpus.push_back(int(cpu));
    begin = end + 1;
  }
  return cpus;
}

// perf_event_open(attr{type, config}, pid -1, cpu): a system-wide counting event, or -errno.
int open_counter(std::uint32_t type, std::uint64_t config, int cpu) {
#if defined(__linux__)
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = type;
  attr.config = config;
  const long fd = ::syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  return fd < 0 ? -errno : int(fd);
#else
  (void)type, (void)config, (void)cpu;
  return -ENOSYS;  // perf_event_open is Linux's
#endif
}

std::string paranoid_level() {
  try {
    return read_attribute("/proc/sys/kernel/perf_event_paranoid");
  } catch (const Error&) {
    return "unknown";
  }
}

std::string open_fix(int error, int cpu) {
  switch (error) {
    case EACCES:
    case EPERM:
      return "system-wide perf events need root or CAP_PERFMON while kernel.perf_event_paranoid > 0 "
             "(it is " + paranoid_level() + "): run as root, or `sudo sysctl "
             "kernel.perf_event_paranoid=0`; in a container seccomp may also block perf_event_open";
    case ENOENT:
    case ENODEV:
    case EINVAL:
    case EOPNOTSUPP:
      return fmt::format("the kernel cannot count this event on cpu {} (no RAPL package domain, "
                         "or a virtual machine)", cpu);
    case ENOSYS:
      return "perf_event_open is not available (not Linux, a kernel without perf events, or an "
             "emulator)";
    case EMFILE:
    case ENFILE:
      return "raise the open-file limit (`ulimit -n`)";
    default:
      return "see perf_event_open(2) for this error";
  }
}

std::string sysfs_fix(const SysfsError& e) {
  if (e.os_error() == ENOENT)
    return "the kernel exposes no RAPL perf events: they need an Intel or AMD CPU with RAPL and the "
           "perf RAPL driver (CONFIG_PERF_EVENTS_INTEL_RAPL); virtual machines usually expose none";
  if (e.os_error() == EACCES || e.os_error() == EPERM)
    return "make the file readable (`sudo chmod a+r " + e.path() + "`) or run as root";
  return "the power PMU's sysfs files are malformed: check `ls " +
         e.path().substr(0, e.path().rfind('/')) + "`";
}

class PerfEventMeter final : public Meter {
 public:
  PerfEventMeter(MeterInfo info, int fd, double scale)
      : info_(std::move(info)), fd_(fd), scale_(scale) {}
  ~PerfEventMeter() override { ::close(fd_); }
  PerfEventMeter(const PerfEventMeter&) = delete;
  PerfEventMeter& operator=(const PerfEventMeter&) = delete;

  const MeterInfo& info() const override { return info_; }

  void start() override {
    started_ = false;
    first_ = last_ = read_count();
    started_ = true;
  }

  void poll() override {
    if (!started_) throw Error(ErrorCode::internal, info_.id + ": poll() before start()");
    const std::uint64_t now = read_count();
    if (now < last_)
      throw Error(ErrorCode::io, fmt::format("{}: the perf_event count went backwards, from {} to {}",
                                             info_.id, last_, now));
    last_ = now;
  }

  double joules() const override { return double(last_ - first_) * scale_; }

 private:
  std::uint64_t read_count() const {
    std::uint64_t count = 0;
    const ssize_t n = ::read(fd_, &count, sizeof count);
    if (n != ssize_t(sizeof count))
      throw Error(ErrorCode::io, info_.id + ": reading the perf_event count failed: " +
                                     (n < 0 ? describe_errno(errno) : "short read"));
    return count;
  }

  MeterInfo info_;
  int fd_;
  double scale_;
  bool started_ = false;
  std::uint64_t first_ = 0, last_ = 0;
};

}  // namespace

std::vector<std::unique_ptr<Meter>> probe_perf_event(const std::string& root) {
  const std::string pmu = root + "/power";
  const char* scope = "CPU package (perf_event RAPL)";
  std::vector<std::unique_ptr<Meter>> meters;
  std::uint32_t type = 0;
  std::uint64_t config = 0;
  double scale = 0.0;
  std::vector<int> cpus;
  try {
    const std::uint64_t type_value = read_unsigned(pmu + "/type");
    if (type_value > std::numeric_limits<std::uint32_t>::max())
      throw SysfsError(ErrorCode::format, pmu + "/type",
                       fmt::format("{} is not a 32-bit PMU type", type_value));
    type = std::uint32_t(type_value);
    const std::string event_path = pmu + "/events/energy-pkg";
    config = parse_event(event_path, read_attribute(event_path));
    const std::string scale_path = event_path + ".scale";
    scale = parse_real(scale_path, read_attribute(scale_path));
    if (!(scale > 0.0))
      throw SysfsError(ErrorCode::format, scale_path, fmt::format("{} is not a positive scale", scale));
    const std::string unit_path = event_path + ".unit";
    if (const std::string unit = read_attribute(unit_path); unit != "Joules")
      throw SysfsError(ErrorCode::unsupported, unit_path, quote_value(unit) + " is not \"Joules\"");
    const std::string cpumask_path = pmu + "/cpumask";
    const auto cpumask = read_optional_attribute(cpumask_path);
    cpus = parse_cpu_list(cpumask_path, cpumask.value_or("0"));
  } catch (const SysfsError& e) {
    meters.push_back(unavailable(kId, scope, "counter", e.what(), sysfs_fix(e)));
    return meters;
  }

  for (const int cpu : cpus) {
    MeterInfo info;
    info.id = cpus.size() == 1 ? kId : fmt::format("{}:cpu{}", kId, cpu);
    info.scope = cpus.size() == 1 ? scope : fmt::format("CPU package of cpu {} (perf_event RAPL)", cpu);
    info.kind = "counter";
    info.update_period_seconds = kRaplUpdateSeconds;
    const int fd = open_counter(type, config, cpu);
    if (fd < 0) {
      info.reason = fmt::format(
          "perf_event_open(type {} from {}/type, config {:#x} (energy-pkg), pid -1, cpu {}) failed: {}",
          type, pmu, config, cpu, describe_errno(-fd));
      info.fix = open_fix(-fd, cpu);
      meters.push_back(std::make_unique<UnavailableMeter>(std::move(info)));
      continue;
    }
    info.available = true;
    info.poll_period_seconds = kPollSeconds;
    info.note = fmt::format("{:.6g} J per count ({}.scale); the kernel extends the counter to 64 bits",
                            scale, pmu + "/events/energy-pkg");
    meters.push_back(std::make_unique<PerfEventMeter>(std::move(info), fd, scale));
  }
  return meters;
}

}  // namespace mobilellm::energy::detail
