#include "bench_system.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/core.h>

#include "kernels/kernels.hpp"

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mobilellm::cli::bench {
namespace {

// The first value of each key in /proc/cpuinfo (one processor's block is enough).
std::map<std::string, std::string> proc_cpuinfo() {
  std::map<std::string, std::string> kv;
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto trim = [](std::string s) {
      const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    kv.emplace(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return kv;
}

}  // namespace

unsigned logical_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return unsigned(CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string cpu_info() {
  std::string model;
  std::string detail;
  const auto kv = proc_cpuinfo();
  auto get = [&](const char* k) {
    auto it = kv.find(k);
    return it == kv.end() ? std::string() : it->second;
  };
  if (!get("model name").empty()) {
    model = get("model name");
    if (!get("cpu family").empty() && !get("model").empty())
      detail = fmt::format("family {}, model {}, ", get("cpu family"), get("model"));
  } else if (!get("CPU implementer").empty()) {  // ARM Linux: no brand string
    model = get("Hardware").empty() ? "ARM" : get("Hardware");
    detail = fmt::format("implementer {}, part {}, ", get("CPU implementer"), get("CPU part"));
  }
  if (model.empty()) model = kernels::cpu_features().model;  // Apple: sysctl brand string
  if (model.empty()) model = "unknown CPU";
  return fmt::format("{} ({}{} logical CPUs)", model, detail, logical_cpus());
}

std::string cpu_feature_list() {
  const kernels::CpuFeatures& f = kernels::cpu_features();
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (on) s += std::string(s.empty() ? "" : " ") + name;
  };
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.avx512f, "avx512f");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vl, "avx512vl");
  add(f.avx512vnni, "avx512vnni");
  add(f.neon, "neon");
  add(f.dotprod, "dotprod");
  add(f.i8mm, "i8mm");
  return s.empty() ? "none (baseline ISA only)" : s;
}

std::string iso8601_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::uint64_t process_cpu_ns() {
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

bool PeakRss::reset(std::string& reason) {
#if defined(__linux__)
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) {
    reason = std::string("cannot open /proc/self/clear_refs: ") + std::strerror(errno);
    return false;
  }
  const bool ok = std::fputs("5", f) >= 0;
  const bool closed = std::fclose(f) == 0;  // the write happens at the flush
  if (!ok || !closed) {
    reason = std::string("writing 5 to /proc/self/clear_refs failed: ") + std::strerror(errno);
    return false;
  }
  return true;
#else
  reason = "this OS cannot reset the peak RSS of a process";
  return false;
#endif
}

std::uint64_t PeakRss::read() const {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::istringstream in(line.substr(6));
    std::uint64_t kib = 0;
    if (in >> kib) return kib * 1024;
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
#if defined(__APPLE__)
  return std::uint64_t(ru.ru_maxrss);  // bytes on macOS
#else
  return std::uint64_t(ru.ru_maxrss) * 1024;  // KiB elsewhere
#endif
}

}  // namespace mobilellm::cli::bench
