// macOS powermetrics: the OS's own energy estimate (Apple silicon: CPU, GPU and ANE energy per
// sample; Intel: the package's joules), read from `powermetrics -f plist` running as a child
// process. The stream parser is portable and unit-tested everywhere; starting and reading the
// process is compiled on Apple platforms only, where it is the only code here not exercised by the
// test suite (CI has no macOS runner).
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "energy/meters.hpp"
#include "energy/sysfs.hpp"

#if defined(__APPLE__)
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace mobilellm::energy::detail {

namespace {

// The number after <key>KEY</key> inside `scope`: <integer>N</integer> or <real>X</real>.
std::optional<double> plist_number(std::string_view scope, std::string_view key, std::size_t index) {
  const std::string tag = "<key>" + std::string(key) + "</key>";
  const std::size_t at = scope.find(tag);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = scope.substr(at + tag.size());
  rest.remove_prefix(std::min(rest.size(), rest.find_first_not_of(" \t\r\n")));
  for (const std::string_view type : {"integer", "real"}) {
    const std::string open = "<" + std::string(type) + ">", close = "</" + std::string(type) + ">";
    if (rest.substr(0, open.size()) != open) continue;
    const std::size_t end = rest.find(close);
    if (end == std::string_view::npos) break;
    const std::string text(rest.substr(open.size(), end - open.size()));
    const double value = parse_real(fmt::format("powermetrics sample {}, {}", index, key), text);
    if (value < 0)
      throw Error(ErrorCode::format,
                  fmt::format("powermetrics sample {}: {} is negative ({})", index, key, text));
    return value;
  }
  throw Error(ErrorCode::format,
              fmt::format("powermetrics sample {}: {} is not followed by a number", index, key));
}

}  // namespace

double powermetrics_sample_joules(std::string_view plist, std::size_t index) {
  const std::string_view processor_key = "<key>processor</key>";
  const std::size_t at = plist.find(processor_key);
  if (at == std::string_view::npos)
    throw Error(ErrorCode::format,
                fmt::format("powermetrics sample {} has no processor section (the cpu_power sampler)", index));
  const std::string_view processor = plist.substr(at + processor_key.size());
  double millijoules = 0.0;
  bool apple_silicon = false;
  for (const char* key : {"cpu_energy", "gpu_energy", "ane_energy"})
    if (const auto value = plist_number(processor, key, index)) {
      millijoules += *value;
      apple_silicon = true;
    }
  if (apple_silicon) return millijoules * 1e-3;
  if (const auto joules = plist_number(processor, "package_joules", index)) return *joules;
  throw Error(ErrorCode::format,
              fmt::format("powermetrics sample {} has neither cpu_energy, gpu_energy, ane_energy "
                          "(Apple silicon) nor package_joules (Intel)", index));
}

double PowermetricsStream::feed(std::string_view bytes) {
  constexpr std::size_t kMaxSampleBytes = 16 << 20;
  pending_.append(bytes);
  double joules = 0.0;
  std::size_t begin = 0;
  try {
    for (std::size_t end; (end = pending_.find('\0', begin)) != std::string::npos; begin = end + 1) {
      const std::string_view sample(pending_.data() + begin, end - begin);
      if (sample.find_first_not_of(" \t\r\n") == std::string_view::npos) continue;
      joules += powermetrics_sample_joules(sample, samples_++);
    }
  } catch (...) {
    pending_.clear();  // the stream is broken: nothing pending is counted twice
    throw;
  }
  pending_.erase(0, begin);
  if (pending_.size() > kMaxSampleBytes)
    throw Error(ErrorCode::format, fmt::format("powermetrics sample {} is longer than {} bytes",
                                               samples_, kMaxSampleBytes));
  return joules;
}

#if defined(__APPLE__)

namespace {

constexpr const char* kPowermetrics = "/usr/bin/powermetrics";
constexpr int kSampleMilliseconds = 200;
constexpr double kPollSeconds = 0.1;  // drain the pipe before it fills

class PowermetricsMeter final : public Meter {
 public:
  explicit PowermetricsMeter(MeterInfo info) : info_(std::move(info)) {}
  ~PowermetricsMeter() override { stop(); }
  PowermetricsMeter(const PowermetricsMeter&) = delete;
  PowermetricsMeter& operator=(const PowermetricsMeter&) = delete;

  const MeterInfo& info() const override { return info_; }

  void start() override {
    stop();
    stream_ = PowermetricsStream();
    joules_ = 0.0;
    spawn();
  }

  void poll() override {
    if (fd_ < 0) throw Error(ErrorCode::internal, info_.id + ": poll() before start()");
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n > 0) {
        joules_ += stream_.feed(std::string_view(buffer, std::size_t(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;  // all output so far is read
      const int error = n < 0 ? errno : 0;
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      ::close(fd_);
      fd_ = -1;
      throw Error(ErrorCode::io,
                  n < 0 ? fmt::format("{}: reading powermetrics' output failed: {}", info_.id,
                                      describe_errno(error))
                        : fmt::format("{}: powermetrics exited (wait status {})", info_.id, status));
    }
  }

  double joules() const override { return joules_; }

 private:
  void spawn() {
    int fds[2];
    if (::pipe(fds) != 0)
      throw Error(ErrorCode::io, info_.id + ": pipe() failed: " + describe_errno(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    const std::string interval = std::to_string(kSampleMilliseconds);
    const char* argv[] = {kPowermetrics, "--samplers", "cpu_power,gpu_power", "-f", "plist",
                          "-i", interval.c_str(), nullptr};
    char* const envp[] = {nullptr};
    pid_t pid = -1;
    const int error = ::posix_spawn(&pid, kPowermetrics, &actions, nullptr,
                                    const_cast<char* const*>(argv), envp);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (error != 0) {
      ::close(fds[0]);
      throw Error(ErrorCode::io, fmt::format("{}: starting {} failed: {}", info_.id, kPowermetrics,
                                             describe_errno(error)));
    }
    ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    pid_ = pid;
    fd_ = fds[0];
  }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  MeterInfo info_;
  PowermetricsStream stream_;
  double joules_ = 0.0;
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace

std::vector<std::unique_ptr<Meter>> probe_powermetrics() {
  const char* id = "powermetrics";
  const char* scope = "CPU, GPU and ANE (Apple silicon) or CPU package (Intel), OS estimate";
  std::vector<std::unique_ptr<Meter>> meters;
  if (::access(kPowermetrics, X_OK) != 0) {
    meters.push_back(unavailable(id, scope, "os-estimate",
                                 fmt::format("{} is not executable: {}", kPowermetrics, describe_errno(errno)),
                                 "powermetrics ships with macOS; reinstall the OS tools"));
  } else if (::geteuid() != 0) {
    meters.push_back(unavailable(id, scope, "os-estimate",
                                 "powermetrics must run as root (this process's effective uid is " +
                                     std::to_string(::geteuid()) + ")",
                                 "run the benchmark with sudo"));
  } else {
    MeterInfo info;
    info.id = id;
    info.scope = scope;
    info.kind = "os-estimate";
    info.available = true;
    info.update_period_seconds = kSampleMilliseconds / 1000.0;
    info.poll_period_seconds = kPollSeconds;
    info.note = fmt::format("macOS's own estimate from `powermetrics -i {} -f plist`; counted in whole "
                            "samples, so each end of a window is uncertain by one sample ({} ms)",
                            kSampleMilliseconds, kSampleMilliseconds);
    meters.push_back(std::make_unique<PowermetricsMeter>(std::move(info)));
  }
  return meters;
}

#endif  // __APPLE__

}  // namespace mobilellm::energy::detail
