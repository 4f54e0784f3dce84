// Fake sysfs trees for the energy meter tests: powercap, perf_event and power_supply roots in a
// fresh directory per test. Files are replaced atomically (temp file + rename), so a meter polling
// on another thread never reads a half-written value.
#pragma once

#include <gtest/gtest.h>
#if defined(__linux__)
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "energy/meters.hpp"
#include "mobilellm/energy.hpp"

namespace mobilellm::energy::testing {

// max_energy_range_uj of an Intel package zone (2^32 - 1 counts of 61.035 µJ).
constexpr std::uint64_t kIntelMaxRange = 262143328850;

class FakeSysfs {
 public:
  // MOBILELLM_TEST_TMPDIR/energy/<suite>.<test>, emptied.
  FakeSysfs() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = (std::filesystem::path(MOBILELLM_TEST_TMPDIR) / "energy" /
             (std::string(test->test_suite_name()) + "." + test->name()))
                .string();
    std::filesystem::remove_all(root_);
    for (const char* dir : {"powercap", "devices", "power_supply"})
      std::filesystem::create_directories(root_ + "/" + dir);
  }

  const std::string& root() const { return root_; }
  std::string path(const std::string& relative) const { return root_ + "/" + relative; }

  // Roots inside this tree; perf_event_open and powermetrics are never used.
  ProbeOptions options() const {
    ProbeOptions options;
    options.powercap_root = path("powercap");
    options.perf_event_root = path("devices");
    options.power_supply_root = path("power_supply");
    options.use_perf_event = false;
    options.use_powermetrics = false;
    return options;
  }

  // Writes `relative` (creating its folder) with `content` plus the newline sysfs ends values with.
  void write(const std::string& relative, const std::string& content) const {
    const std::filesystem::path target = path(relative);
    std::filesystem::create_directories(target.parent_path());
    const std::string temp = target.string() + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << content << '\n';
      if (!out) throw std::runtime_error("cannot write " + temp);
    }
    std::filesystem::rename(temp, target);
  }
  void write(const std::string& relative, std::int64_t value) const {
    write(relative, std::to_string(value));
  }
  void remove(const std::string& relative) const { std::filesystem::remove_all(path(relative)); }

  // A powercap zone <powercap>/<zone>/ with name, energy_uj and max_energy_range_uj.
  void rapl_zone(const std::string& zone, const std::string& name, std::uint64_t energy_uj,
                 std::uint64_t max_range = kIntelMaxRange) const {
    write("powercap/" + zone + "/name", name);
    write("powercap/" + zone + "/max_energy_range_uj", std::to_string(max_range));
    write("powercap/" + zone + "/energy_uj", std::to_string(energy_uj));
  }

  // A power supply <power_supply>/<name>/ with these attribute files.
  void supply(const std::string& name,
              const std::vector<std::pair<std::string, std::string>>& attributes) const {
    std::filesystem::create_directories(path("power_supply/" + name));
    for (const auto& [attribute, value] : attributes) write("power_supply/" + name + "/" + attribute, value);
  }

 private:
  std::string root_;
};

// A clock the test moves by hand (atomic: the recorder's thread may read it).
class FakeClock {
 public:
  detail::Clock clock() {
    return [this] { return now_.load(); };
  }
  void advance(double seconds) {
    now_.store(now_.load() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::chrono::duration<double>(seconds)));
  }

 private:
  std::atomic<detail::TimePoint> now_{detail::TimePoint{} + std::chrono::hours(1)};
};

inline const Meter* find_meter(const std::vector<std::unique_ptr<Meter>>& meters,
                               const std::string& id) {
  for (const auto& m : meters)
    if (m->info().id == id) return m.get();
  return nullptr;
}

inline Meter* find_meter(std::vector<std::unique_ptr<Meter>>& meters, const std::string& id) {
  for (auto& m : meters)
    if (m->info().id == id) return m.get();
  return nullptr;
}

inline std::string describe(const std::vector<std::unique_ptr<Meter>>& meters) {
  std::string out;
  for (const auto& m : meters)
    out += m->info().id + (m->info().available ? " available" : " unavailable: " + m->info().reason) + "\n";
  return out;
}

// Runs `fn` on a new thread whose effective capabilities lack CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH (capabilities are per thread), so file permission bits deny even root.
// Returns false, without running `fn`, when the capabilities cannot be dropped.
inline bool without_file_capabilities(const std::function<void()>& fn) {
#if !defined(__linux__)
  (void)fn;
  return false;
#else
  bool dropped = false;
  std::thread thread([&] {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) return;
    for (const int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH})
      data[cap / 32].effective &= ~(1u << (cap % 32));
    if (::syscall(SYS_capset, &header, data) != 0) return;
    dropped = true;
    fn();
  });
  thread.join();
  return dropped;
#endif
}

}  // namespace mobilellm::energy::testing
