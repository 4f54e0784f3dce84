// EnergyRecorder: one background thread polls the usable meters while a window is open (often
// enough for every meter's poll period) and sleeps otherwise. A meter's failure is caught here and
// becomes that reading's error: nothing escapes the thread.
#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stop_token>
#include <thread>

#include "energy/meters.hpp"
#include "mobilellm/energy.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::energy {

struct EnergyRecorder::Impl {
  explicit Impl(std::vector<std::unique_ptr<Meter>> all) : meters(std::move(all)) {
    for (const auto& m : meters) {
      infos.push_back(m->info());
      if (!m->info().available) continue;
      usable.push_back(m.get());
      const double period = m->info().poll_period_seconds;
      if (period > 0) poll_seconds = std::min(poll_seconds, period);
    }
    errors.resize(usable.size());
    if (!usable.empty()) thread = std::jthread([this](std::stop_token stop) { run(stop); });
  }

  // Records the first failure of each meter in the window; a failed meter is not polled again.
  void poll_all() {
    for (std::size_t i = 0; i < usable.size(); ++i) {
      if (!errors[i].empty()) continue;
      try {
        usable[i]->poll();
      } catch (const std::exception& e) {
        errors[i] = e.what();
      } catch (...) {
        errors[i] = usable[i]->info().id + ": unknown error";
      }
    }
  }

  void run(std::stop_token stop) {
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(poll_seconds));
    std::unique_lock lock(mutex);
    while (!stop.stop_requested()) {
      if (!open) {
        wake.wait(lock, stop, [this] { return open; });
        continue;
      }
      // Sleep one period unless the window closes (or the recorder stops) first.
      const std::uint64_t window = windows;
      if (wake.wait_for(lock, stop, period, [&] { return !open || windows != window; })) continue;
      if (!stop.stop_requested()) poll_all();
    }
  }

  std::vector<std::unique_ptr<Meter>> meters;
  std::vector<MeterInfo> infos;
  std::vector<Meter*> usable;
  double poll_seconds = 1.0;

  std::mutex mutex;  // guards everything below, and the meters
  std::condition_variable_any wake;
  bool open = false;
  std::uint64_t windows = 0;         // windows opened so far
  std::vector<std::string> errors;   // per usable meter, in the open window
  std::chrono::steady_clock::time_point opened{};

  std::jthread thread;  // last: stopped and joined before the members it uses are destroyed
};

EnergyRecorder::EnergyRecorder(const ProbeOptions& options)
    : EnergyRecorder(probe_meters(options)) {}

EnergyRecorder::EnergyRecorder(std::vector<std::unique_ptr<Meter>> meters)
    : impl_(std::make_unique<Impl>(std::move(meters))) {}

EnergyRecorder::~EnergyRecorder() = default;

const std::vector<MeterInfo>& EnergyRecorder::meters() const { return impl_->infos; }

bool EnergyRecorder::available() const { return !impl_->usable.empty(); }

void EnergyRecorder::begin() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->open) throw InvalidArgument("EnergyRecorder::begin: a window is already open");
    for (std::size_t i = 0; i < impl_->usable.size(); ++i) {
      impl_->errors[i].clear();
      try {
        impl_->usable[i]->start();
      } catch (const std::exception& e) {
        impl_->errors[i] = e.what();
      } catch (...) {
        impl_->errors[i] = impl_->usable[i]->info().id + ": unknown error";
      }
    }
    impl_->opened = std::chrono::steady_clock::now();
    impl_->open = true;
    ++impl_->windows;
  }
  impl_->wake.notify_all();
}

Window EnergyRecorder::end() {
  Window window;
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->open) throw InvalidArgument("EnergyRecorder::end: no window is open");
    impl_->poll_all();
    window.seconds = detail::seconds_between(impl_->opened, std::chrono::steady_clock::now());
    impl_->open = false;
    for (std::size_t i = 0; i < impl_->usable.size(); ++i) {
      const Meter& meter = *impl_->usable[i];
      MeterReading reading;
      reading.id = meter.info().id;
      reading.scope = meter.info().scope;
      reading.kind = meter.info().kind;
      reading.seconds = window.seconds;
      reading.error = impl_->errors[i];
      if (reading.error.empty()) reading.joules = meter.joules();
      window.readings.push_back(std::move(reading));
    }
  }
  impl_->wake.notify_all();
  return window;
}

}  // namespace mobilellm::energy
