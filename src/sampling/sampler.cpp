#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "mobilellm/error.hpp"
#include "mobilellm/sampler.hpp"
#include "sampling/parameters.hpp"

namespace mobilellm {

void SamplingParams::validate() const {
  sampling::check_temperature(temperature, /*zero_allowed=*/true);
  sampling::check_top_k(top_k);
  sampling::check_unit_interval("top_p", top_p);
  sampling::check_unit_interval("min_p", min_p);
  PenaltyParams{repeat_penalty, presence_penalty, frequency_penalty, penalty_last_n}.validate();
}

Sampler::Sampler(Selection selection, std::uint64_t seed)
    : selection_(selection), seed_(seed), rng_(seed) {}

Sampler Sampler::from_params(const SamplingParams& params) {
  params.validate();
  const bool greedy = params.temperature == 0.0f;
  Sampler sampler(greedy ? Selection::greedy : Selection::random, params.seed);
  const PenaltyParams penalties{params.repeat_penalty, params.presence_penalty,
                                params.frequency_penalty, params.penalty_last_n};
  if (penalties.enabled()) sampler.add(make_penalties(penalties));
  if (greedy) return sampler;
  if (params.top_k > 0) sampler.add(make_top_k(params.top_k));
  if (params.top_p < 1.0f) sampler.add(make_top_p(params.top_p));
  if (params.min_p > 0.0f) sampler.add(make_min_p(params.min_p));
  if (params.temperature != 1.0f) sampler.add(make_temperature(params.temperature));
  return sampler;
}

Sampler& Sampler::add(std::unique_ptr<SamplerStage> stage) {
  if (!stage) throw InvalidArgument("Sampler::add: the stage is null");
  stages_.push_back(std::move(stage));
  return *this;
}

std::int32_t Sampler::sample(std::span<const float> logits,
                             std::span<const std::int32_t> recent_tokens) {
  candidates_.assign(logits);
  for (const auto& stage : stages_) stage->apply(candidates_, recent_tokens);
  if (selection_ == Selection::greedy) return candidates_.best().id;

  // Inverse-CDF draw over the candidates in their current order: the first whose cumulative
  // probability exceeds u * total. Zero-probability (masked) candidates never satisfy the strict
  // comparison, and summing in double in one fixed order makes the choice reproducible.
  candidates_.normalize();
  const std::span<const TokenCandidate> items = candidates_.items();
  double total = 0.0;
  std::size_t last_positive = 0;  // the best candidate has prob > 0, so one exists
  for (std::size_t i = 0; i < items.size(); ++i) {
    total += items[i].prob;
    if (items[i].prob > 0.0f) last_positive = i;
  }
  const double target = rng_.uniform() * total;
  double cumulative = 0.0;
  for (const TokenCandidate& c : items) {
    cumulative += c.prob;
    if (target < cumulative) return c.id;
  }
  // Only when u * total rounded up to total: the draw belongs to the last candidate with mass.
  return items[last_positive].id;
}

void Sampler::reset(std::uint64_t seed) {
  seed_ = seed;
  rng_.reseed(seed);
}

std::string Sampler::describe() const {
  std::string chain;
  for (const auto& stage : stages_) {
    chain += stage->describe();
    chain += " -> ";
  }
  if (selection_ == Selection::greedy) return chain + "greedy";
  return chain + fmt::format("random(seed={})", seed_);
}

}  // namespace mobilellm
