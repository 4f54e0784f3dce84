#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mobilellm/error.hpp"
#include "mobilellm/sampler.hpp"

namespace mobilellm {
namespace {

// The order that decides every tie: higher logit first, then lower id. A strict total order on
// candidates, since logits are never NaN and ids are unique.
bool better(const TokenCandidate& a, const TokenCandidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// An unsigned key that orders like the logit (for every non-NaN float, -inf lowest), with -0 and
// +0 sharing a key as they compare equal: flip every bit of negatives, only the sign bit of
// positives.
std::uint32_t order_key(float logit) {
  const auto bits = std::bit_cast<std::uint32_t>(logit == 0.0f ? 0.0f : logit);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

// A probability as an exact integer number of 2^-40 units, rounded down. Sums of these are exact
// and independent of grouping, which the selection below relies on; the sum over a normalized set
// stays near 2^40, far from overflow, and the rounding moves it by at most size * 2^-40.
constexpr double kMassUnitsPerOne = 0x1p40;
std::uint64_t mass_units(float prob) { return static_cast<std::uint64_t>(prob * kMassUnitsPerOne); }

// The position in `items` of the candidate at which the probabilities, summed over the candidates
// best first, first reach `target` (in mass units); items.size() if the total stays below it.
// `items` must be in ascending id order. `active` is scratch space.
//
// A radix selection instead of a sort: each round totals the mass of the active candidates per
// value of one byte of order_key (most significant byte first), walks those 256 buckets from the
// best down to the one where the running sum reaches the target, and keeps only that bucket
// active. After at most four rounds the active candidates share one logit; they are still in
// ascending id order, which is their order among themselves, so a last walk finds the boundary.
std::size_t find_mass_boundary(std::span<const TokenCandidate> items,
                               std::vector<std::uint32_t>& active, std::uint64_t target) {
  active.resize(items.size());
  std::iota(active.begin(), active.end(), 0u);
  std::uint64_t before = 0;  // mass of the candidates better than every active one
  for (int shift = 24; shift >= 0 && active.size() > 1; shift -= 8) {
    const auto bucket_of = [shift](const TokenCandidate& c) {
      return (order_key(c.logit) >> shift) & 0xffu;
    };
    std::array<std::uint32_t, 256> bucket_size{};
    std::array<std::uint64_t, 256> bucket_mass{};
    for (const std::uint32_t i : active) {
      const std::uint32_t b = bucket_of(items[i]);
      ++bucket_size[b];
      bucket_mass[b] += mass_units(items[i].prob);
    }
    int chosen = -1;
    for (int b = 255; b >= 0; --b) {
      if (bucket_size[b] == 0) continue;
      if (before + bucket_mass[b] >= target) {
        chosen = b;
        break;
      }
      before += bucket_mass[b];
    }
    // Sums are exact, so only the first round, over the whole set, can fall short.
    if (chosen < 0) return items.size();
    // Only the chosen bucket stays active, compacted in place.
    std::size_t kept = 0;
    for (const std::uint32_t i : active) {
      if (bucket_of(items[i]) == static_cast<std::uint32_t>(chosen)) active[kept++] = i;
    }
    active.resize(kept);
  }
  // The target is reached within the active group, by its last candidate at the latest.
  for (std::size_t k = 0; k + 1 < active.size(); ++k) {
    before += mass_units(items[active[k]].prob);
    if (before >= target) return active[k];
  }
  return active.back();
}

}  // namespace

void CandidateSet::assign(std::span<const float> logits) {
  if (logits.empty()) throw InvalidArgument("logits: the row is empty (vocabulary size 0)");
  if (logits.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw InvalidArgument(
        fmt::format("logits: {} entries, more than token ids (int32) can name", logits.size()));
  }
  // Validate before touching the set, so a rejected row leaves the previous one intact. The scan
  // has no early exit, so it vectorizes; the culprit is looked for only once one is known.
  unsigned nan_or_inf = 0;  // unsigned, not bool: GCC vectorizes this form
  unsigned finite = 0;
  for (const float x : logits) {
    nan_or_inf |= !(x < kInfinity);  // NaN fails every comparison
    finite |= x > -kInfinity;
  }
  if (nan_or_inf != 0) {
    const auto bad =
        std::find_if(logits.begin(), logits.end(), [](float x) { return !(x < kInfinity); });
    throw InvalidArgument(fmt::format("logits[{}] = {}: a logit must be finite or -inf (masked)",
                                      bad - logits.begin(), *bad));
  }
  if (finite == 0) {
    throw InvalidArgument(
        fmt::format("logits: all {} entries are -inf: every token is masked", logits.size()));
  }
  items_.resize(logits.size());  // within capacity once the vocabulary has been seen
  for (std::size_t i = 0; i < logits.size(); ++i) {
    items_[i] = {static_cast<std::int32_t>(i), logits[i], 0.0f};
  }
  vocab_size_ = static_cast<std::int32_t>(logits.size());
  normalized_ = false;
}

void CandidateSet::logits_updated(const char* stage) {
  bool any_finite = false;
  for (const TokenCandidate& c : items_) {
    if (!(c.logit < kInfinity)) {
      fail(fmt::format("sampler stage {} set the logit of token {} to {}", stage, c.id, c.logit));
    }
    any_finite = any_finite || c.logit > -kInfinity;
  }
  if (!any_finite) fail(fmt::format("sampler stage {} masked every candidate (all -inf)", stage));
  normalized_ = false;
}

void CandidateSet::fail(const std::string& message) {
  items_.clear();
  normalized_ = false;
  throw InvalidArgument(message);
}

void CandidateSet::throw_nothing_kept(const char* stage) {
  throw InvalidArgument(
      fmt::format("sampler stage {} would drop every candidate with a finite logit", stage));
}

void CandidateSet::keep_best(std::size_t n) {
  if (n == 0) throw InvalidArgument("CandidateSet::keep_best(0): at least one candidate must stay");
  if (n >= items_.size()) return;
  // Heap selection: a heap of the n best candidates seen so far, the worst of them on top, so
  // each further candidate costs one comparison unless it displaces that worst one. O(size) for
  // the usual small n, O(size log n) at worst.
  const auto nth = items_.begin() + static_cast<std::ptrdiff_t>(n);
  heap_.assign(items_.begin(), nth);
  std::make_heap(heap_.begin(), heap_.end(), better);
  for (auto it = nth; it != items_.end(); ++it) {
    if (better(*it, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), better);
      heap_.back() = *it;
      std::push_heap(heap_.begin(), heap_.end(), better);
    }
  }
  std::sort(heap_.begin(), heap_.end(),
            [](const TokenCandidate& a, const TokenCandidate& b) { return a.id < b.id; });
  items_.assign(heap_.begin(), heap_.end());  // within capacity: no allocation
  normalized_ = false;
}

void CandidateSet::keep_best_mass(double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw InvalidArgument(fmt::format("CandidateSet::keep_best_mass: p = {} is not in [0, 1]", p));
  }
  if (!normalized_) normalize();
  // p * 2^40 is exact; the integer sums reach it exactly when they reach its ceiling.
  const auto target = static_cast<std::uint64_t>(std::ceil(p * kMassUnitsPerOne));
  const std::size_t boundary = find_mass_boundary(items_, scratch_, target);
  if (boundary == items_.size()) return;
  // Keep the boundary and everything better: the best candidate, finite, always among them.
  const TokenCandidate last = items_[boundary];
  compact([&last](const TokenCandidate& c) { return !better(last, c); });
}

void CandidateSet::normalize() {
  const float max_logit = best().logit;
  // exp(x - max) <= 1, and exactly 1 for the best candidate, so the sum is in [1, size].
  double sum = 0.0;
  for (TokenCandidate& c : items_) {
    c.prob = std::exp(c.logit - max_logit);
    sum += c.prob;
  }
  const double scale = 1.0 / sum;
  for (TokenCandidate& c : items_) c.prob = static_cast<float>(c.prob * scale);
  normalized_ = true;
}

const TokenCandidate& CandidateSet::best() const {
  if (items_.empty()) throw InvalidArgument("CandidateSet: no logits have been assigned");
  return *std::min_element(items_.begin(), items_.end(), better);
}

}  // namespace mobilellm
