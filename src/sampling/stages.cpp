// The built-in sampler stages. Each is a small class behind a factory, so the public header only
// shows the parameters; all of them work through CandidateSet's operations, which keep its
// invariants (never empty, ids untouched, one finite logit).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mobilellm/error.hpp"
#include "mobilellm/sampler.hpp"
#include "sampling/parameters.hpp"

namespace mobilellm {
namespace {

// See PenaltyParams for the definition.
class PenaltiesStage final : public SamplerStage {
 public:
  explicit PenaltiesStage(const PenaltyParams& params) : params_(params) {}

  void apply(CandidateSet& candidates, std::span<const std::int32_t> recent_tokens) override {
    if (!params_.enabled()) return;
    const std::size_t window_size =
        params_.last_n < 0
            ? recent_tokens.size()
            : std::min(recent_tokens.size(), static_cast<std::size_t>(params_.last_n));
    const std::size_t window_start = recent_tokens.size() - window_size;
    const std::span<const std::int32_t> window = recent_tokens.subspan(window_start);
    if (window.empty()) return;

    const std::int32_t vocab_size = candidates.vocab_size();
    for (std::size_t i = 0; i < window.size(); ++i) {
      if (window[i] < 0 || window[i] >= vocab_size) {
        throw InvalidArgument(
            fmt::format("recent_tokens[{}] = {} is not a token id: the vocabulary has {} tokens",
                        window_start + i, window[i], vocab_size));
      }
    }
    // counts_ is all zeros between calls: only the window's ids are set, and reset at the end.
    // It grows to the vocabulary once and is then reused.
    const auto vocab = static_cast<std::size_t>(vocab_size);
    if (counts_.size() < vocab) counts_.resize(vocab);
    for (const std::int32_t id : window) ++counts_[id];

    const double repeat = params_.repeat_penalty;
    const double presence = params_.presence_penalty;
    const double frequency = params_.frequency_penalty;
    // Cannot throw: a finite logit stays finite (saturated) and -inf stays -inf.
    candidates.update_logits("penalties", [&](const TokenCandidate& c) {
      const std::uint32_t n = counts_[c.id];
      if (n == 0) return c.logit;
      double x = c.logit;
      x = x > 0 ? x / repeat : x * repeat;
      x -= n * frequency + presence;
      return sampling::saturate_to_float(x);
    });
    for (const std::int32_t id : window) counts_[id] = 0;
  }

  std::string describe() const override {
    return fmt::format("penalties(repeat={}, presence={}, frequency={}, last_n={})",
                       params_.repeat_penalty, params_.presence_penalty, params_.frequency_penalty,
                       params_.last_n);
  }

 private:
  PenaltyParams params_;
  std::vector<std::uint32_t> counts_;  // occurrences in the window, indexed by token id
};

class TopKStage final : public SamplerStage {
 public:
  explicit TopKStage(std::int32_t k) : k_(k) {}

  void apply(CandidateSet& candidates, std::span<const std::int32_t>) override {
    if (k_ > 0) candidates.keep_best(static_cast<std::size_t>(k_));
  }

  std::string describe() const override { return fmt::format("top_k={}", k_); }

 private:
  std::int32_t k_;
};

// Nucleus sampling: the shortest run of best candidates holding probability >= p.
class TopPStage final : public SamplerStage {
 public:
  explicit TopPStage(float p) : p_(p) {}

  void apply(CandidateSet& candidates, std::span<const std::int32_t>) override {
    if (p_ < 1.0f) candidates.keep_best_mass(p_);
  }

  std::string describe() const override { return fmt::format("top_p={}", p_); }

 private:
  float p_;
};

// Keeps prob >= p * max_prob. Since prob / max_prob = exp(logit - max_logit), that is
// logit - max_logit >= ln p: no exponentials, and the best candidate always stays.
class MinPStage final : public SamplerStage {
 public:
  explicit MinPStage(float p) : p_(p) {}

  void apply(CandidateSet& candidates, std::span<const std::int32_t>) override {
    if (p_ <= 0.0f) return;
    const double max_logit = candidates.best().logit;
    const double min_delta = std::log(static_cast<double>(p_));
    candidates.retain("min_p", [&](const TokenCandidate& c) {
      return static_cast<double>(c.logit) - max_logit >= min_delta;
    });
  }

  std::string describe() const override { return fmt::format("min_p={}", p_); }

 private:
  float p_;
};

class TemperatureStage final : public SamplerStage {
 public:
  explicit TemperatureStage(float t) : t_(t) {}

  void apply(CandidateSet& candidates, std::span<const std::int32_t>) override {
    if (t_ == 1.0f) return;
    const double t = t_;
    candidates.update_logits("temperature", [t](const TokenCandidate& c) {
      return sampling::saturate_to_float(c.logit / t);
    });
  }

  std::string describe() const override { return fmt::format("temperature={}", t_); }

 private:
  float t_;
};

}  // namespace

void PenaltyParams::validate() const {
  sampling::check_repeat_penalty(repeat_penalty);
  sampling::check_finite("presence_penalty", presence_penalty);
  sampling::check_finite("frequency_penalty", frequency_penalty);
  sampling::check_penalty_last_n(last_n);
}

std::unique_ptr<SamplerStage> make_penalties(const PenaltyParams& params) {
  params.validate();
  return std::make_unique<PenaltiesStage>(params);
}

std::unique_ptr<SamplerStage> make_top_k(std::int32_t k) {
  sampling::check_top_k(k);
  return std::make_unique<TopKStage>(k);
}

std::unique_ptr<SamplerStage> make_top_p(float p) {
  sampling::check_unit_interval("top_p", p);
  return std::make_unique<TopPStage>(p);
}

std::unique_ptr<SamplerStage> make_min_p(float p) {
  sampling::check_unit_interval("min_p", p);
  return std::make_unique<MinPStage>(p);
}

std::unique_ptr<SamplerStage> make_temperature(float t) {
  sampling::check_temperature(t, /*zero_allowed=*/false);
  return std::make_unique<TemperatureStage>(t);
}

}  // namespace mobilellm
