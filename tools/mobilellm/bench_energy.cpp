#include "bench_energy.hpp"

#include <chrono>
#include <thread>

#include <fmt/core.h>

namespace mobilellm::cli::bench {
namespace {

// Power (W) of an idle sum, when it is a measurement.
std::optional<double> watts(const auto& sum) {
  if (!sum.error.empty() || sum.windows == 0 || sum.seconds <= 0) return std::nullopt;
  return sum.joules / sum.seconds;
}

Json number_or_null(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

}  // namespace

TestEnergy::TestEnergy(const Options& options) : options_(options) {
  if (options.energy) recorder_ = std::make_unique<energy::EnergyRecorder>(options.probe);
}

TestEnergy::~TestEnergy() = default;

bool TestEnergy::measuring() const { return recorder_ && recorder_->available(); }

void TestEnergy::start_test() { per_meter_.clear(); }

void TestEnergy::add(const energy::Window& w, Sum PerMeter::*slot) {
  for (const auto& r : w.readings) {
    PerMeter* m = nullptr;
    for (auto& pm : per_meter_)
      if (pm.id == r.id) m = &pm;
    if (!m) {
      per_meter_.push_back({r.id, r.scope, r.kind, 0.0, {}, {}, {}, {}});
      m = &per_meter_.back();
      for (const auto& info : recorder_->meters())
        if (info.id == r.id) m->update_period = info.update_period_seconds;
    }
    Sum& s = m->*slot;
    ++s.windows;
    s.seconds += r.seconds;
    if (!r.error.empty() && s.error.empty()) s.error = r.error;
    if (r.error.empty()) s.joules += r.joules;
  }
}

void TestEnergy::idle(bool before) {
  if (!measuring() || options_.idle_seconds <= 0) return;
  recorder_->begin();
  std::this_thread::sleep_for(std::chrono::duration<double>(options_.idle_seconds));
  add(recorder_->end(), before ? &PerMeter::idle_before : &PerMeter::idle_after);
}

void TestEnergy::begin() {
  if (measuring()) recorder_->begin();
}

void TestEnergy::end(Phase phase) {
  if (measuring())
    add(recorder_->end(), phase == Phase::prompt ? &PerMeter::prompt : &PerMeter::gen);
}

Json TestEnergy::report(std::uint64_t prompt_tokens, std::uint64_t gen_tokens) const {
  Json e;
  if (!recorder_) {
    e["status"] = "disabled";
    return e;
  }
  if (!recorder_->available()) {
    e["status"] = "unavailable";
    e["meters"] = meters_json(recorder_->meters());
    return e;
  }
  e["status"] = "failed";  // until one meter measured something
  e["meters"] = meters_json(recorder_->meters());
  e["idle_seconds"] = options_.idle_seconds;
  e["net"] =
      "gross joules minus the mean of the idle powers before and after times the phase's "
      "seconds";
  Json readings = Json::array();
  for (const auto& m : per_meter_) {
    Json r;
    r["meter"] = m.id;
    r["scope"] = m.scope;
    r["kind"] = m.kind;
    const auto before = watts(m.idle_before), after = watts(m.idle_after);
    std::optional<double> idle;
    if (before && after) idle = (*before + *after) / 2;
    r["idle_w_before"] = number_or_null(before);
    r["idle_w_after"] = number_or_null(after);
    r["idle_w"] = number_or_null(idle);
    std::vector<std::string> errors;
    for (const Sum* s : {&m.idle_before, &m.idle_after, &m.prompt, &m.gen})
      if (!s->error.empty()) errors.push_back(s->error);
    bool measured = false;
    auto phase = [&](const Sum& s, std::uint64_t tokens) -> Json {
      if (s.windows == 0 || tokens == 0) return nullptr;
      Json p;
      p["tokens"] = tokens;
      p["seconds"] = s.seconds;
      if (!s.error.empty()) {
        p["error"] = s.error;
        return p;
      }
      measured = true;
      p["joules_gross"] = s.joules;
      p["j_per_token_gross"] = s.joules / double(tokens);
      if (idle) {
        const double net = s.joules - *idle * s.seconds;
        p["joules_net"] = net;
        p["j_per_token_net"] = net / double(tokens);
      } else {
        p["joules_net"] = nullptr;
        p["j_per_token_net"] = nullptr;
      }
      if (m.update_period > 0 && s.seconds < 10 * m.update_period)
        p["warning"] = fmt::format(
            "the phase lasted {:.3g} s in all, under 10 updates of the meter "
            "({} s each): coarse",
            s.seconds, m.update_period);
      return p;
    };
    r["pp"] = phase(m.prompt, prompt_tokens);
    r["tg"] = phase(m.gen, gen_tokens);
    if (!idle)
      r["idle_note"] = options_.idle_seconds <= 0 ? "not measured (--idle-seconds 0): no net values"
                                                  : "idle power unreadable: no net values";
    if (!errors.empty()) r["errors"] = errors;
    if (measured) e["status"] = "measured";
    readings.push_back(std::move(r));
  }
  e["readings"] = std::move(readings);
  return e;
}

Json meters_json(const std::vector<energy::MeterInfo>& meters) {
  Json list = Json::array();
  for (const auto& m : meters) {
    Json j;
    j["id"] = m.id;
    j["scope"] = m.scope;
    j["kind"] = m.kind;
    j["available"] = m.available;
    if (m.update_period_seconds > 0) j["update_period_s"] = m.update_period_seconds;
    if (!m.available) {
      j["reason"] = m.reason;
      j["fix"] = m.fix;
    }
    if (!m.note.empty()) j["note"] = m.note;
    list.push_back(std::move(j));
  }
  return list;
}

std::string energy_summary(const Options& o) {
  if (!o.energy) return "energy: not measured (--no-energy)";
  std::string usable, unusable;
  for (const auto& m : energy::probe_meters(o.probe)) {
    const auto& i = m->info();
    if (i.available)
      usable += fmt::format("{}{} ({})", usable.empty() ? "" : ", ", i.id, i.scope);
    else
      unusable += fmt::format("; {}: {} (fix: {})", i.id, i.reason, i.fix);
  }
  if (usable.empty()) return "energy: n/a, no usable meter" + unusable;
  return fmt::format(
      "energy: measured with {}; idle power over {} s before and after each test "
      "(model loaded); net = gross - idle power x time{}",
      usable, o.idle_seconds, unusable.empty() ? "" : "; not usable" + unusable);
}

Json energy_estimate(std::uint64_t n_params) {
  Json e;
  e["measured"] = false;
  e["method"] = "params";
  e["rule"] = "0.1 J per token per billion parameters (MobileLLM paper, Liu et al. 2024)";
  e["n_params"] = n_params;
  e["j_per_token"] = 0.1 * double(n_params) / 1e9;
  return e;
}

}  // namespace mobilellm::cli::bench
