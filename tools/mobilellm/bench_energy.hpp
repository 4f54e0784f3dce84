// Energy in `mobilellm bench`: the meters of mobilellm/energy.hpp around each test's timed
// phases, idle power before and after, and the report (never a number that was not measured).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "bench_run.hpp"
#include "mobilellm/energy.hpp"

namespace mobilellm::cli::bench {

enum class Phase { prompt, gen };

// Accumulates one test's energy: windows around the timed prompt and generation phases of every
// repetition, plus an idle window before and after the repetitions (model loaded, session ready).
class TestEnergy {
 public:
  // Probes the meters unless --no-energy.
  explicit TestEnergy(const Options& options);
  ~TestEnergy();
  // A meter is usable and energy is enabled: the windows below measure something.
  bool measuring() const;

  void start_test();       // forgets the previous test's windows
  void idle(bool before);  // sleeps --idle-seconds inside a window
  void begin();            // opens a window (call right before a timed phase starts)
  void end(Phase phase);   // closes it (right after the phase) and adds it to the phase

  // The row's "energy" object: status "measured", "failed" (every usable meter failed during the
  // test), "unavailable" (no usable meter) or "disabled"; the meters considered with reasons and
  // fixes; per usable meter, idle power and gross and net joules per token of each phase.
  Json report(std::uint64_t prompt_tokens, std::uint64_t gen_tokens) const;

 private:
  struct Sum {
    double joules = 0.0, seconds = 0.0;
    std::size_t windows = 0;
    std::string error;  // the first failure: then the sum is not a measurement
  };
  struct PerMeter {
    std::string id, scope, kind;
    double update_period = 0.0;
    Sum idle_before, idle_after, prompt, gen;
  };
  void add(const energy::Window& w, Sum PerMeter::*slot);

  const Options& options_;
  std::unique_ptr<energy::EnergyRecorder> recorder_;
  std::vector<PerMeter> per_meter_;
};

// Every meter as the report lists it: id, scope, kind, available, and reason and fix (or note).
Json meters_json(const std::vector<energy::MeterInfo>& meters);

// One line for the Markdown preamble: which meter measures, or why none can.
std::string energy_summary(const Options& options);

// --energy-estimate params: 0.1 J per token per billion parameters, "measured": false.
Json energy_estimate(std::uint64_t n_params);

}  // namespace mobilellm::cli::bench
