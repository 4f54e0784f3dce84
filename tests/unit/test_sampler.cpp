// Tests of the sampler chain (include/mobilellm/sampler.hpp).
//
// Expected values never come from the code under test: candidate sets are computed here from each
// filter's definition (full sorts, float64 softmax and cumulative sums), the generator is checked
// against vectors from an independent implementation of the published xoshiro256**/splitmix64
// algorithms, and draws are compared with the distribution the chain should produce by a
// chi-square test. The statistical tests print their seed; MOBILELLM_TEST_SEED=N replays one.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mobilellm/error.hpp"
#include "mobilellm/sampler.hpp"

namespace mobilellm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kFloatMax = std::numeric_limits<float>::max();

// ------------------------------------------------------------------------------------- helpers

// Seed of the statistical tests: MOBILELLM_TEST_SEED when set, otherwise a fixed default so that
// CI is deterministic. Printed so that any failure can be replayed.
std::uint64_t statistical_seed() {
  std::uint64_t seed = 20240607;
  if (const char* env = std::getenv("MOBILELLM_TEST_SEED"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    errno = 0;
    const unsigned long long parsed = std::strtoull(env, &end, 0);
    if (errno != 0 || *end != '\0') {
      ADD_FAILURE() << "MOBILELLM_TEST_SEED=" << env << " is not an unsigned integer";
    } else {
      seed = parsed;
    }
  }
  std::printf("[ sampler  ] statistical seed %llu (replay: MOBILELLM_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  return seed;
}

// Ids ranked best first: logit descending, lowest id first among equal logits.
std::vector<std::int32_t> ranked_ids(const std::vector<float>& logits) {
  std::vector<std::int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(),
                   [&](std::int32_t a, std::int32_t b) { return logits[a] > logits[b]; });
  return ids;
}

// float64 softmax; -inf gives exactly 0.
std::vector<double> softmax(const std::vector<float>& logits) {
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(logits[i] - max);
  for (double& x : p) x /= sum;
  return p;
}

std::vector<std::int32_t> sorted(std::vector<std::int32_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::int32_t> candidate_ids(const CandidateSet& set) {
  std::vector<std::int32_t> ids;
  for (const TokenCandidate& c : set.items()) ids.push_back(c.id);
  return sorted(ids);
}

// The ids that survive `stage` applied to `logits`, sorted.
std::vector<std::int32_t> survivors(SamplerStage& stage, const std::vector<float>& logits,
                                    std::span<const std::int32_t> recent = {}) {
  CandidateSet set;
  set.assign(logits);
  stage.apply(set, recent);
  return candidate_ids(set);
}

std::vector<std::int32_t> first_n(const std::vector<std::int32_t>& ids, std::size_t n) {
  return sorted(
      std::vector<std::int32_t>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n)));
}

// Logits on a coarse grid, so that many are equal and ties are exercised.
std::vector<float> grid_logits(std::size_t n, std::uint64_t seed, float lo, float hi, float step) {
  Rng rng(seed);
  const auto levels = static_cast<std::uint64_t>((hi - lo) / step) + 1;
  std::vector<float> logits(n);
  for (float& x : logits) x = lo + step * static_cast<float>(rng.next() % levels);
  return logits;
}

// Asserts that `f` throws InvalidArgument whose message contains every one of `parts`.
void expect_invalid(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected InvalidArgument mentioning " << parts.front();
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << part << "\"";
    }
  }
}

// Chi-square goodness of fit of `counts` to `expected` probabilities (which sum to 1). Categories
// with probability 0 must never be drawn; the statistic over the others is compared with the
// 0.999 quantile of the chi-square distribution (standard table values).
void expect_fits(const std::vector<int>& counts, const std::vector<double>& expected, int draws) {
  constexpr double kCritical999[] = {10.828, 13.816, 16.266, 18.467, 20.515,
                                     22.458, 24.322, 26.124, 27.877, 29.588};
  ASSERT_EQ(counts.size(), expected.size());
  double chi2 = 0.0;
  int categories = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0 but was drawn";
      continue;
    }
    const double e = expected[i] * draws;
    ASSERT_GE(e, 5.0) << "test design: expected count of token " << i << " too small";
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
    ++categories;
  }
  ASSERT_GE(categories, 2);
  ASSERT_LE(categories - 1, 10);
  EXPECT_LT(chi2, kCritical999[categories - 2]) << "chi-square with " << categories - 1 << " dof";
}

std::vector<int> draw_counts(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts.at(static_cast<std::size_t>(sampler.sample(logits)));
  return counts;
}

// Logits whose softmax is exactly proportional to `probs` (up to float rounding of the logs).
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(p == 0.0 ? -kInf : static_cast<float>(std::log(p)));
  return logits;
}

// ----------------------------------------------------------------------------------------- Rng

TEST(SamplerRng, MatchesReferenceStreams) {
  // First outputs of xoshiro256** with its state from four splitmix64 steps on the seed, from an
  // independent Python implementation of the published algorithms. (Its splitmix64 from 0 gives
  // 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f, the published reference values.)
  struct Case {
    std::uint64_t seed;
    std::uint64_t outputs[5];
  };
  const Case cases[] = {
      {0,
       {0x99ec5f36cb75f2b4, 0xbf6e1f784956452a, 0x1a5f849d4933e6e0, 0x6aa594f1262d2d2c,
        0xbba5ad4a1f842e59}},
      {42,
       {0x15780b2e0c2ec716, 0x6104d9866d113a7e, 0xae17533239e499a1, 0xecb8ad4703b360a1,
        0xfde6dc7fe2ec5e64}},
      {0xffffffffffffffff,
       {0x8f5520d52a7ead08, 0xc476a018caa1802d, 0x81de31c0d260469e, 0xbf658d7e065f3c2f,
        0x913593fda1bca32a}},
  };
  for (const Case& c : cases) {
    Rng rng(c.seed);
    for (std::uint64_t expected : c.outputs) EXPECT_EQ(rng.next(), expected) << "seed " << c.seed;
  }
}

TEST(SamplerRng, UniformIsTop53BitsAndReseedRestarts) {
  Rng a(7);
  Rng b(7);
  for (int i = 0; i < 1000; ++i) {
    const double u = a.uniform();
    EXPECT_EQ(u, std::ldexp(static_cast<double>(b.next() >> 11), -53));
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
  a.reseed(7);
  EXPECT_EQ(a.next(), Rng(7).next());
}

// -------------------------------------------------------------------------------- CandidateSet

TEST(SamplerCandidates, RejectsBadRows) {
  CandidateSet set;
  expect_invalid([&] { set.assign({}); }, {"logits", "empty"});
  const std::vector<float> nan_row = {0.0f, 1.0f, kNaN};
  expect_invalid([&] { set.assign(nan_row); }, {"logits[2]", "nan"});
  const std::vector<float> inf_row = {kInf, 1.0f};
  expect_invalid([&] { set.assign(inf_row); }, {"logits[0]", "inf"});
  const std::vector<float> masked = {-kInf, -kInf, -kInf};
  expect_invalid([&] { set.assign(masked); }, {"3", "-inf"});
  // Before any successful assign there is no best candidate.
  expect_invalid([&] { (void)set.best(); }, {"no logits"});
}

TEST(SamplerCandidates, RejectedRowLeavesPreviousIntact) {
  CandidateSet set;
  const std::vector<float> good = {0.5f, -kInf, 2.0f};
  set.assign(good);
  const std::vector<float> bad = {1.0f, kNaN};
  EXPECT_THROW(set.assign(bad), InvalidArgument);
  ASSERT_EQ(set.size(), 3u);
  EXPECT_EQ(set.vocab_size(), 3);
  EXPECT_EQ(set.best().id, 2);
  EXPECT_EQ(set.items()[1].logit, -kInf);
}

TEST(SamplerCandidates, NormalizeIsTheSoftmax) {
  const std::vector<float> logits = {1.0f, -kInf, 3.5f, -2.0f, 3.5f, 0.0f};
  const std::vector<double> expected = softmax(logits);
  CandidateSet set;
  set.assign(logits);
  EXPECT_FALSE(set.normalized());
  set.normalize();
  EXPECT_TRUE(set.normalized());
  for (const TokenCandidate& c : set.items()) {
    EXPECT_NEAR(c.prob, expected[c.id], 1e-7 * expected[c.id]) << "token " << c.id;
  }
  EXPECT_EQ(set.items()[1].prob, 0.0f);
}

TEST(SamplerCandidates, BestBreaksTiesByLowestId) {
  CandidateSet set;
  const std::vector<float> logits = {1.0f, 5.0f, -kInf, 5.0f, 5.0f};
  set.assign(logits);
  EXPECT_EQ(set.best().id, 1);
}

TEST(SamplerCandidates, KeepBest) {
  CandidateSet set;
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 2.0f, 3.0f, -kInf};
  set.assign(logits);
  expect_invalid([&] { set.keep_best(0); }, {"keep_best(0)"});
  expect_invalid([&] { set.keep_best_mass(std::nan("")); }, {"keep_best_mass", "nan"});
  expect_invalid([&] { set.keep_best_mass(-0.5); }, {"keep_best_mass", "-0.5"});
  expect_invalid([&] { set.keep_best_mass(1e30); }, {"keep_best_mass", "1e+30"});
  set.keep_best(4);
  EXPECT_EQ(candidate_ids(set), (std::vector<std::int32_t>{1, 2, 3, 4}));
  set.keep_best(100);
  EXPECT_EQ(set.size(), 4u);
}

TEST(SamplerCandidates, EveryOperationKeepsIdOrder) {
  const std::vector<float> logits = grid_logits(5000, 8, -3.0f, 3.0f, 0.5f);
  CandidateSet set;
  set.assign(logits);
  const auto expect_id_order = [&](const char* after) {
    const std::span<const TokenCandidate> items = set.items();
    for (std::size_t i = 1; i < items.size(); ++i) {
      ASSERT_LT(items[i - 1].id, items[i].id) << "after " << after;
    }
    for (const TokenCandidate& c : items) ASSERT_GE(c.id, 0);
  };
  expect_id_order("assign");
  set.retain("test", [](const TokenCandidate& c) { return c.id % 3 != 1; });
  expect_id_order("retain");
  set.update_logits("test", [](const TokenCandidate& c) { return c.logit * 2.0f; });
  expect_id_order("update_logits");
  set.keep_best_mass(0.9);
  expect_id_order("keep_best_mass");
  set.keep_best(100);
  expect_id_order("keep_best");
  EXPECT_EQ(set.size(), 100u);
}

TEST(SamplerCandidates, RetainRefusesToDropEveryFiniteCandidate) {
  const std::vector<float> logits = {1.0f, -kInf, 2.0f};
  CandidateSet set;
  set.assign(logits);
  expect_invalid([&] { set.retain("picky", [](const TokenCandidate& c) { return c.id == 1; }); },
                 {"picky"});
  EXPECT_EQ(set.size(), 3u);  // unchanged
  expect_invalid([&] { set.retain("none", [](const TokenCandidate&) { return false; }); },
                 {"none"});
  EXPECT_EQ(set.size(), 3u);
}

TEST(SamplerCandidates, UpdateLogitsRejectsNaNInfAndAllMasked) {
  const std::vector<float> logits = {1.0f, 2.0f};
  CandidateSet set;
  set.assign(logits);
  expect_invalid([&] { set.update_logits("bad", [](const TokenCandidate&) { return kNaN; }); },
                 {"bad", "nan"});
  EXPECT_EQ(set.size(), 0u);  // cleared
  set.assign(logits);
  expect_invalid(
      [&] {
        set.update_logits("worse", [](const TokenCandidate& c) { return c.id == 1 ? kInf : 0.f; });
      },
      {"worse", "token 1", "inf"});
  set.assign(logits);
  expect_invalid([&] { set.update_logits("mask", [](const TokenCandidate&) { return -kInf; }); },
                 {"mask", "-inf"});
}

// ----------------------------------------------------------------------- filters, exact sets

TEST(SamplerTopK, HandMadeLogits) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 2.0f, 3.0f, -kInf};
  using Ids = std::vector<std::int32_t>;
  EXPECT_EQ(survivors(*make_top_k(1), logits), (Ids{1}));
  EXPECT_EQ(survivors(*make_top_k(2), logits), (Ids{1, 2}));  // ties: lowest ids
  EXPECT_EQ(survivors(*make_top_k(4), logits), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(survivors(*make_top_k(6), logits), (Ids{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(survivors(*make_top_k(1000), logits), (Ids{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(survivors(*make_top_k(0), logits), (Ids{0, 1, 2, 3, 4, 5}));  // off
}

TEST(SamplerTopK, MatchesFullSort) {
  const std::vector<float> logits = grid_logits(2000, 2, -4.0f, 4.0f, 0.25f);
  const std::vector<std::int32_t> ranked = ranked_ids(logits);
  for (std::int32_t k : {1, 5, 40, 64, 65, 1999, 2000}) {
    EXPECT_EQ(survivors(*make_top_k(k), logits), first_n(ranked, static_cast<std::size_t>(k)))
        << "k=" << k;
  }
}

// Rows that stress the radix selection: signed zeros, negative and positive logits, huge and
// tiny magnitudes, masked tokens, long runs of ties, a single distinct value.
std::vector<std::vector<float>> awkward_rows() {
  std::vector<std::vector<float>> rows;
  rows.push_back(grid_logits(32000, 10, -6.0f, 6.0f, 0.25f));
  std::vector<float> mixed = grid_logits(4000, 11, -2.0f, 2.0f, 0.5f);
  Rng rng(12);
  const float specials[] = {0.0f, -0.0f, -kInf, kFloatMax, -kFloatMax, 1e-30f, -1e-30f, 3.5f};
  for (float& x : mixed) {
    if (rng.next() % 4 == 0) x = specials[rng.next() % 8];
  }
  rows.push_back(mixed);
  rows.push_back(std::vector<float>(3000, 1.25f));
  std::vector<float> two_levels(3000, -0.0f);
  for (std::size_t i = 0; i < two_levels.size(); i += 7) two_levels[i] = 0.0f;  // ties with -0
  for (std::size_t i = 0; i < two_levels.size(); i += 11) two_levels[i] = -1.0f;
  rows.push_back(two_levels);
  return rows;
}

TEST(SamplerTopK, MatchesFullSortOnAwkwardRows) {
  for (const std::vector<float>& logits : awkward_rows()) {
    const std::vector<std::int32_t> ranked = ranked_ids(logits);
    for (std::size_t k : {std::size_t{1}, std::size_t{2}, std::size_t{40}, std::size_t{257},
                          logits.size() / 2, logits.size() - 1}) {
      CandidateSet set;
      set.assign(logits);
      set.keep_best(k);
      EXPECT_EQ(candidate_ids(set), first_n(ranked, k)) << "k=" << k << " of " << logits.size();
    }
  }
}

TEST(SamplerTopP, HandMadeLogits) {
  // probabilities 0.1, 0.4, 0.2, 0.3 and a masked token: best first 1, 3, 2, 0 with cumulative
  // sums 0.4, 0.7, 0.9, 1.0.
  const std::vector<float> logits = logits_of({0.1, 0.4, 0.2, 0.3, 0.0});
  using Ids = std::vector<std::int32_t>;
  EXPECT_EQ(survivors(*make_top_p(0.0f), logits), (Ids{1}));  // at least one stays
  EXPECT_EQ(survivors(*make_top_p(0.35f), logits), (Ids{1}));
  EXPECT_EQ(survivors(*make_top_p(0.5f), logits), (Ids{1, 3}));
  EXPECT_EQ(survivors(*make_top_p(0.75f), logits), (Ids{1, 2, 3}));
  EXPECT_EQ(survivors(*make_top_p(0.95f), logits), (Ids{0, 1, 2, 3}));
  EXPECT_EQ(survivors(*make_top_p(1.0f), logits), (Ids{0, 1, 2, 3, 4}));  // off
  // Equal logits have probabilities of exactly 1/4: a p right on a cumulative sum is reached by
  // the candidate that completes it, not the next one.
  const std::vector<float> equal = {0.5f, 0.5f, 0.5f, 0.5f};
  EXPECT_EQ(survivors(*make_top_p(0.25f), equal), (Ids{0}));
  EXPECT_EQ(survivors(*make_top_p(0.5f), equal), (Ids{0, 1}));
  EXPECT_EQ(survivors(*make_top_p(0.75f), equal), (Ids{0, 1, 2}));
}

TEST(SamplerTopP, MatchesCumulativeSums) {
  // 3000 tokens: large enough that the nucleus outgrows the first sorted windows.
  const std::vector<float> logits = grid_logits(3000, 3, -2.0f, 2.0f, 0.25f);
  const std::vector<std::int32_t> ranked = ranked_ids(logits);
  const std::vector<double> probs = softmax(logits);
  std::vector<double> cumulative(ranked.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < ranked.size(); ++i) cumulative[i] = sum += probs[ranked[i]];
  // For each nucleus size j + 1, a p halfway between cumulative[j - 1] and cumulative[j], where
  // the rounding of either computation cannot matter.
  for (std::size_t j : {std::size_t{0}, std::size_t{9}, std::size_t{63}, std::size_t{64},
                        std::size_t{200}, std::size_t{1500}, std::size_t{2900}}) {
    const double below = j == 0 ? 0.0 : cumulative[j - 1];
    ASSERT_GT(cumulative[j] - below, 1e-5) << "test design: gap too small at j=" << j;
    const auto p = static_cast<float>((below + cumulative[j]) / 2);
    EXPECT_EQ(survivors(*make_top_p(p), logits), first_n(ranked, j + 1)) << "j=" << j;
  }
}

TEST(SamplerTopP, MatchesCumulativeSumsOnAwkwardRows) {
  for (const std::vector<float>& logits : awkward_rows()) {
    const std::vector<std::int32_t> ranked = ranked_ids(logits);
    const std::vector<double> probs = softmax(logits);
    std::vector<double> cumulative(ranked.size());
    double sum = 0.0;
    for (std::size_t i = 0; i < ranked.size(); ++i) cumulative[i] = sum += probs[ranked[i]];
    // Nucleus sizes spread over the row, each with a p halfway inside its candidate's share.
    for (std::size_t j = 0; j < ranked.size(); j += ranked.size() / 7 + 1) {
      const double below = j == 0 ? 0.0 : cumulative[j - 1];
      if (cumulative[j] - below < 1e-6) continue;  // too little mass to place p robustly
      const double p = (below + cumulative[j]) / 2;
      CandidateSet set;
      set.assign(logits);
      set.keep_best_mass(p);
      EXPECT_EQ(candidate_ids(set), first_n(ranked, j + 1)) << "j=" << j << " of " << logits.size();
    }
  }
}

TEST(SamplerMinP, HandMadeLogits) {
  // Probability ratios to the best: 1, 0.5, 0.1, 0.03, and a masked token.
  const std::vector<float> logits = logits_of({0.6, 0.3, 0.06, 0.018, 0.0});
  using Ids = std::vector<std::int32_t>;
  EXPECT_EQ(survivors(*make_min_p(0.0f), logits), (Ids{0, 1, 2, 3, 4}));  // off
  EXPECT_EQ(survivors(*make_min_p(0.01f), logits), (Ids{0, 1, 2, 3}));    // never the masked one
  EXPECT_EQ(survivors(*make_min_p(0.05f), logits), (Ids{0, 1, 2}));
  EXPECT_EQ(survivors(*make_min_p(0.3f), logits), (Ids{0, 1}));
  EXPECT_EQ(survivors(*make_min_p(1.0f), logits), (Ids{0}));  // the maximum always stays
  const std::vector<float> tied = {2.0f, 1.0f, 2.0f};
  EXPECT_EQ(survivors(*make_min_p(1.0f), tied), (Ids{0, 2}));
}

TEST(SamplerMinP, MatchesProbabilityRatios) {
  const std::vector<float> logits = grid_logits(3000, 4, -6.0f, 3.0f, 0.5f);
  const std::vector<double> probs = softmax(logits);
  const double max_prob = *std::max_element(probs.begin(), probs.end());
  std::vector<double> ratios;
  for (double p : probs) ratios.push_back(p / max_prob);
  std::vector<double> levels = ratios;
  std::sort(levels.begin(), levels.end(), std::greater<>());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  // Thresholds halfway between consecutive distinct ratios keep exactly the levels above them.
  for (std::size_t level = 0; level + 1 < levels.size(); level += 3) {
    const auto min_p = static_cast<float>((levels[level] + levels[level + 1]) / 2);
    std::vector<std::int32_t> expected;
    for (std::size_t i = 0; i < ratios.size(); ++i) {
      if (ratios[i] >= levels[level]) expected.push_back(static_cast<std::int32_t>(i));
    }
    EXPECT_EQ(survivors(*make_min_p(min_p), logits), expected) << "min_p=" << min_p;
  }
}

TEST(SamplerTemperature, DividesLogitsAndSaturates) {
  const std::vector<float> logits = {1.0f, -2.5f, 0.0f, -kInf, 3.0e38f, -3.0e38f, 7.0f};
  CandidateSet set;
  set.assign(logits);
  make_temperature(0.5f)->apply(set, {});
  ASSERT_EQ(set.size(), logits.size());
  for (const TokenCandidate& c : set.items()) {
    const float x = logits[c.id];
    float expected = static_cast<float>(static_cast<double>(x) / 0.5);
    if (x == 3.0e38f) expected = kFloatMax;  // 6e38 does not fit a float
    if (x == -3.0e38f) expected = -kFloatMax;
    EXPECT_EQ(c.logit, expected) << "token " << c.id;
  }
  // t = 1 changes nothing.
  set.assign(logits);
  make_temperature(1.0f)->apply(set, {});
  for (const TokenCandidate& c : set.items()) EXPECT_EQ(c.logit, logits[c.id]);
}

// --------------------------------------------------------------------------------- penalties

TEST(SamplerPenalties, ExactEffect) {
  //                                 0     1      2     3      4     5     6
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, -0.5f, 3.0f, 0.0f, -kInf};
  // The last 5 tokens are 1, 1, 5, 6, 3: token 1 twice, 5, 6 and 3 once; 4 and 0 fall outside.
  const std::vector<std::int32_t> recent = {4, 0, 1, 1, 5, 6, 3};
  const PenaltyParams params{1.5f, 0.25f, 0.5f, 5};
  CandidateSet set;
  set.assign(logits);
  make_penalties(params)->apply(set, recent);
  // logit' = (logit > 0 ? logit / 1.5 : logit * 1.5) - count * 0.5 - 0.25, by hand:
  const std::vector<float> expected = {2.0f, -1.5f - 1.0f - 0.25f, 0.5f, -0.75f - 0.5f - 0.25f,
                                       3.0f, 0.0f - 0.5f - 0.25f,  -kInf};
  ASSERT_EQ(set.size(), logits.size());
  for (const TokenCandidate& c : set.items())
    EXPECT_EQ(c.logit, expected[c.id]) << "token " << c.id;

  // The whole history (-1) also penalizes 4 and 0, which have positive logits: divided.
  set.assign(logits);
  make_penalties({1.5f, 0.25f, 0.5f, -1})->apply(set, recent);
  EXPECT_FLOAT_EQ(set.items()[0].logit, 2.0f / 1.5f - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(set.items()[4].logit, 3.0f / 1.5f - 0.5f - 0.25f);
  EXPECT_EQ(set.items()[2].logit, 0.5f);
}

TEST(SamplerPenalties, MatchesDefinitionOnRandomHistories) {
  const std::vector<float> logits = grid_logits(500, 5, -8.0f, 8.0f, 0.125f);
  Rng rng(6);
  const PenaltyParams params{1.3f, 0.4f, -0.2f, 32};
  auto stage = make_penalties(params);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::int32_t> recent(rng.next() % 100);
    for (std::int32_t& id : recent) id = static_cast<std::int32_t>(rng.next() % 40);  // repeats
    std::vector<std::uint32_t> count(logits.size(), 0);
    const std::size_t start = recent.size() > 32 ? recent.size() - 32 : 0;
    for (std::size_t i = start; i < recent.size(); ++i) ++count[recent[i]];
    CandidateSet set;
    set.assign(logits);
    stage->apply(set, recent);  // the same stage each round: its counts must not leak
    for (const TokenCandidate& c : set.items()) {
      double x = logits[c.id];
      if (count[c.id] > 0) {
        x = x > 0 ? x / double{1.3f} : x * double{1.3f};
        x -= count[c.id] * double{-0.2f} + double{0.4f};
      }
      ASSERT_FLOAT_EQ(c.logit, static_cast<float>(x)) << "round " << round << " token " << c.id;
    }
  }
}

TEST(SamplerPenalties, OffWindowsAndSaturation) {
  const std::vector<float> logits = {2.0f, -3.0e38f, -1.0f};
  const std::vector<std::int32_t> recent = {0, 1, 2};
  for (const PenaltyParams& off :
       {PenaltyParams{2.0f, 1.0f, 1.0f, 0}, PenaltyParams{1.0f, 0.0f, 0.0f, 64}}) {
    CandidateSet set;
    set.assign(logits);
    make_penalties(off)->apply(set, recent);
    for (const TokenCandidate& c : set.items()) EXPECT_EQ(c.logit, logits[c.id]);
  }
  // A window longer than the history is the whole history; nothing to count is no change.
  CandidateSet set;
  set.assign(logits);
  make_penalties({2.0f, 0.0f, 0.0f, 1000})->apply(set, recent);
  EXPECT_EQ(set.items()[0].logit, 1.0f);
  EXPECT_EQ(set.items()[1].logit, -kFloatMax);  // -6e38 saturates: still a candidate, not masked
  EXPECT_EQ(set.items()[2].logit, -2.0f);
  set.assign(logits);
  make_penalties({2.0f, 0.0f, 0.0f, 1000})->apply(set, {});
  for (const TokenCandidate& c : set.items()) EXPECT_EQ(c.logit, logits[c.id]);
}

TEST(SamplerPenalties, RejectsIdsOutsideTheVocabulary) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  auto stage = make_penalties({1.1f, 0.0f, 0.0f, 2});
  CandidateSet set;
  set.assign(logits);
  const std::vector<std::int32_t> too_big = {0, 1, 3};
  expect_invalid([&] { stage->apply(set, too_big); }, {"recent_tokens[2] = 3", "3 tokens"});
  const std::vector<std::int32_t> negative = {0, -1, 2};
  expect_invalid([&] { stage->apply(set, negative); }, {"recent_tokens[1] = -1"});
  // Ids before the window are not read.
  const std::vector<std::int32_t> stale = {99, 1, 2};
  EXPECT_NO_THROW(stage->apply(set, stale));
}

// ------------------------------------------------------------------------------ validation

TEST(SamplerParams, RejectsInvalidValuesNamingThem) {
  struct Bad {
    std::function<void(SamplingParams&)> set;
    std::string name;
    std::string value;
  };
  const Bad bad[] = {
      {[](SamplingParams& p) { p.temperature = -0.1f; }, "temperature", "-0.1"},
      {[](SamplingParams& p) { p.temperature = kNaN; }, "temperature", "nan"},
      {[](SamplingParams& p) { p.temperature = kInf; }, "temperature", "inf"},
      {[](SamplingParams& p) { p.top_k = -1; }, "top_k", "-1"},
      {[](SamplingParams& p) { p.top_p = -0.01f; }, "top_p", "-0.01"},
      {[](SamplingParams& p) { p.top_p = 1.01f; }, "top_p", "1.01"},
      {[](SamplingParams& p) { p.top_p = kNaN; }, "top_p", "nan"},
      {[](SamplingParams& p) { p.min_p = 2.0f; }, "min_p", "2"},
      {[](SamplingParams& p) { p.min_p = -kInf; }, "min_p", "-inf"},
      {[](SamplingParams& p) { p.repeat_penalty = 0.0f; }, "repeat_penalty", "0"},
      {[](SamplingParams& p) { p.repeat_penalty = -1.0f; }, "repeat_penalty", "-1"},
      {[](SamplingParams& p) { p.repeat_penalty = kInf; }, "repeat_penalty", "inf"},
      {[](SamplingParams& p) { p.presence_penalty = kNaN; }, "presence_penalty", "nan"},
      {[](SamplingParams& p) { p.frequency_penalty = -kInf; }, "frequency_penalty", "-inf"},
      {[](SamplingParams& p) { p.penalty_last_n = -2; }, "penalty_last_n", "-2"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name + " = " + b.value);
    SamplingParams params;
    b.set(params);
    expect_invalid([&] { params.validate(); }, {b.name + " = " + b.value});
    expect_invalid([&] { (void)Sampler::from_params(params); }, {b.name + " = " + b.value});
  }
}

TEST(SamplerParams, AcceptsBoundaryValues) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.top_k = 0;
  params.top_p = 0.0f;
  params.min_p = 1.0f;
  params.penalty_last_n = -1;
  params.presence_penalty = -2.0f;
  params.frequency_penalty = 2.0f;
  EXPECT_NO_THROW(params.validate());
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.repeat_penalty = 1e-3f;
  EXPECT_NO_THROW(params.validate());
}

TEST(SamplerParams, StageFactoriesValidate) {
  expect_invalid([] { (void)make_top_k(-5); }, {"top_k = -5"});
  expect_invalid([] { (void)make_top_p(kNaN); }, {"top_p = nan"});
  expect_invalid([] { (void)make_min_p(1.5f); }, {"min_p = 1.5"});
  expect_invalid([] { (void)make_temperature(0.0f); }, {"temperature = 0", "greedy"});
  expect_invalid([] { (void)make_temperature(-1.0f); }, {"temperature = -1"});
  expect_invalid([] { (void)make_penalties({0.5f, kNaN, 0.0f, 8}); }, {"presence_penalty = nan"});
  expect_invalid([] { (void)make_penalties({1.0f, 0.0f, 0.0f, -7}); }, {"penalty_last_n = -7"});
  Sampler sampler;
  expect_invalid([&] { sampler.add(nullptr); }, {"null"});
}

// ------------------------------------------------------------------------------- the sampler

TEST(Sampler, FromParamsBuildsTheDocumentedChain) {
  SamplingParams params;
  params.seed = 9;
  EXPECT_EQ(Sampler::from_params(params).describe(),
            "top_k=40 -> top_p=0.95 -> min_p=0.05 -> temperature=0.8 -> random(seed=9)");
  params.repeat_penalty = 1.1f;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.temperature = 1.0f;
  EXPECT_EQ(
      Sampler::from_params(params).describe(),
      "penalties(repeat=1.1, presence=0, frequency=0, last_n=64) -> top_k=40 -> random(seed=9)");
  params.temperature = 0.0f;
  const Sampler greedy = Sampler::from_params(params);
  EXPECT_EQ(greedy.selection(), Selection::greedy);
  EXPECT_EQ(greedy.describe(),
            "penalties(repeat=1.1, presence=0, frequency=0, last_n=64) -> greedy");
  Sampler sampler(Selection::random, 3);
  sampler.reset(4);
  EXPECT_EQ(sampler.describe(), "random(seed=4)");
}

TEST(Sampler, GreedyTakesTheMaximumLowestIdOnTies) {
  const std::vector<float> logits = {1.0f, 5.0f, -kInf, 5.0f, 4.99f};
  for (std::uint64_t seed : {0u, 1u, 2u}) {
    SamplingParams params;
    params.temperature = 0.0f;
    params.seed = seed;
    Sampler sampler = Sampler::from_params(params);
    EXPECT_EQ(sampler.sample(logits), 1);
  }
  // Penalties apply before the greedy choice: penalizing 1 hands the win to 3.
  SamplingParams params;
  params.temperature = 0.0f;
  params.presence_penalty = 0.5f;
  Sampler sampler = Sampler::from_params(params);
  const std::vector<std::int32_t> recent = {1};
  EXPECT_EQ(sampler.sample(logits, recent), 3);
}

TEST(Sampler, RejectsBadLogitsAndHistory) {
  Sampler sampler = Sampler::from_params(SamplingParams{});
  expect_invalid([&] { sampler.sample({}); }, {"empty"});
  const std::vector<float> nan_row = {0.0f, kNaN};
  expect_invalid([&] { sampler.sample(nan_row); }, {"logits[1] = nan"});
  const std::vector<float> inf_row = {0.0f, 1.0f, kInf};
  expect_invalid([&] { sampler.sample(inf_row); }, {"logits[2] = inf"});
  const std::vector<float> masked = {-kInf, -kInf};
  expect_invalid([&] { sampler.sample(masked); }, {"-inf"});
  SamplingParams params;
  params.repeat_penalty = 1.2f;
  Sampler penalized = Sampler::from_params(params);
  const std::vector<float> logits = {0.0f, 1.0f};
  const std::vector<std::int32_t> recent = {1, 2};
  expect_invalid([&] { penalized.sample(logits, recent); }, {"recent_tokens[1] = 2"});
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferent) {
  const std::vector<float> logits = grid_logits(1000, 7, -1.0f, 1.0f, 0.125f);
  SamplingParams params;
  params.top_k = 0;
  params.top_p = 0.9f;
  params.min_p = 0.01f;
  params.repeat_penalty = 1.3f;
  params.seed = 1234;
  const auto generate = [&](Sampler& sampler) {
    std::vector<std::int32_t> tokens;
    for (int i = 0; i < 200; ++i) tokens.push_back(sampler.sample(logits, tokens));
    return tokens;
  };
  Sampler a = Sampler::from_params(params);
  Sampler b = Sampler::from_params(params);
  const std::vector<std::int32_t> first = generate(a);
  EXPECT_EQ(generate(b), first);
  params.seed = 1235;
  Sampler c = Sampler::from_params(params);
  EXPECT_NE(generate(c), first);
  a.reset(1234);
  EXPECT_EQ(generate(a), first);
}

TEST(Sampler, DrawIsTheInverseCdfOfOneUniform) {
  // The documented mapping from the generator to tokens: one uniform u per sample, and the first
  // candidate, in id order, whose cumulative probability exceeds u.
  const std::vector<float> logits = logits_of({0.1, 0.25, 0.0, 0.4, 0.25});
  const std::vector<double> probs = softmax(logits);
  const std::uint64_t seed = statistical_seed();
  Sampler sampler(Selection::random, seed);
  Rng rng(seed);
  for (int i = 0; i < 2000; ++i) {
    const double u = rng.uniform();
    std::int32_t expected = 0;
    double cumulative = 0.0;
    double margin = 1.0;
    for (std::size_t id = 0; id < probs.size(); ++id) {
      cumulative += probs[id];
      margin = std::min(margin, std::abs(u - cumulative));
      if (u >= cumulative) expected = static_cast<std::int32_t>(id + 1);
    }
    const std::int32_t got = sampler.sample(logits);
    if (margin > 1e-6) {
      ASSERT_EQ(got, expected) << "draw " << i << " u=" << u;
    }
  }
}

TEST(SamplerStatistics, TemperatureOneMatchesSoftmax) {
  const std::uint64_t seed = statistical_seed();
  SCOPED_TRACE("MOBILELLM_TEST_SEED=" + std::to_string(seed));
  const std::vector<float> logits = {0.5f, -1.0f, 1.5f, 0.0f, -kInf, 1.0f};
  SamplingParams params;
  params.temperature = 1.0f;
  params.top_k = 0;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.seed = seed;
  Sampler sampler = Sampler::from_params(params);
  ASSERT_EQ(sampler.stage_count(), 0u);
  constexpr int kDraws = 20000;
  expect_fits(draw_counts(sampler, logits, kDraws), softmax(logits), kDraws);
}

TEST(SamplerStatistics, TemperatureSharpensAndFlattens) {
  const std::uint64_t seed = statistical_seed();
  SCOPED_TRACE("MOBILELLM_TEST_SEED=" + std::to_string(seed));
  const std::vector<double> base = {0.35, 0.25, 0.2, 0.12, 0.08};
  for (float t : {0.5f, 2.0f}) {
    SCOPED_TRACE("temperature " + std::to_string(t));
    // softmax(log p / t) is proportional to p^(1/t).
    std::vector<double> expected;
    for (double p : base) expected.push_back(std::pow(p, 1.0 / t));
    const double sum = std::accumulate(expected.begin(), expected.end(), 0.0);
    for (double& p : expected) p /= sum;
    Sampler sampler(Selection::random, seed);
    sampler.add(make_temperature(t));
    constexpr int kDraws = 20000;
    expect_fits(draw_counts(sampler, logits_of(base), kDraws), expected, kDraws);
  }
}

TEST(SamplerStatistics, FiltersRenormalize) {
  const std::uint64_t seed = statistical_seed();
  SCOPED_TRACE("MOBILELLM_TEST_SEED=" + std::to_string(seed));
  // Ranked: 0.30 (id 3), 0.25 (id 0), 0.20 (id 5), 0.12 (id 1), 0.08 (id 2), 0.05 (id 4).
  const std::vector<double> probs = {0.25, 0.12, 0.08, 0.30, 0.05, 0.20};
  const std::vector<float> logits = logits_of(probs);
  const auto renormalized = [&](const std::vector<std::int32_t>& kept, double exponent) {
    std::vector<double> expected(probs.size(), 0.0);
    double sum = 0.0;
    for (std::int32_t id : kept) sum += expected[id] = std::pow(probs[id], exponent);
    for (double& p : expected) p /= sum;
    return expected;
  };
  struct Case {
    std::string name;
    std::function<void(Sampler&)> build;
    std::vector<double> expected;
  };
  const Case cases[] = {
      {"top_k=4", [](Sampler& s) { s.add(make_top_k(4)); }, renormalized({3, 0, 5, 1}, 1.0)},
      // cumulative 0.30, 0.55, 0.75: 0.7 needs three.
      {"top_p=0.7", [](Sampler& s) { s.add(make_top_p(0.7f)); }, renormalized({3, 0, 5}, 1.0)},
      // ratios to 0.30: 0.83, 0.67, 0.4, 0.27, 0.17.
      {"min_p=0.3", [](Sampler& s) { s.add(make_min_p(0.3f)); }, renormalized({3, 0, 5, 1}, 1.0)},
      // top_k=5 drops id 4; top_p=0.8 over the renormalized five (0.32, 0.26, 0.21, 0.13, 0.08)
      // keeps four; min_p=0.5 then drops id 1 (ratio 0.4); temperature 0.5 squares the rest.
      {"top_k=5,top_p=0.8,min_p=0.5,t=0.5",
       [](Sampler& s) {
         s.add(make_top_k(5))
             .add(make_top_p(0.8f))
             .add(make_min_p(0.5f))
             .add(make_temperature(0.5f));
       },
       renormalized({3, 0, 5}, 2.0)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Sampler sampler(Selection::random, seed);
    c.build(sampler);
    constexpr int kDraws = 20000;
    expect_fits(draw_counts(sampler, logits, kDraws), c.expected, kDraws);
  }
}

TEST(Sampler, AlwaysReturnsAnUnmaskedIdInRange) {
  // Hostile rows (mostly masked, huge magnitudes, ties) through randomly parameterized chains.
  const std::uint64_t seed = statistical_seed();
  SCOPED_TRACE("MOBILELLM_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const float magnitudes[] = {0.0f, 1.0f, 1e4f, 3.0e38f};
  for (int round = 0; round < 300; ++round) {
    std::vector<float> logits(1 + rng.next() % 300);
    const float scale = magnitudes[rng.next() % 4];
    for (float& x : logits) {
      x = rng.next() % 3 == 0 ? -kInf : static_cast<float>((rng.uniform() * 2 - 1) * scale);
    }
    logits[rng.next() % logits.size()] = static_cast<float>(rng.uniform() * scale);  // one finite
    std::vector<std::int32_t> recent(rng.next() % 20);
    for (std::int32_t& id : recent) id = static_cast<std::int32_t>(rng.next() % logits.size());
    SamplingParams params;
    const float temperatures[] = {0.0f, 1e-30f, 0.7f, 1.0f, 50.0f};
    params.temperature = temperatures[rng.next() % 5];
    params.top_k = static_cast<std::int32_t>(rng.next() % 5);
    params.top_p = static_cast<float>(rng.uniform());
    params.min_p = static_cast<float>(rng.uniform());
    params.repeat_penalty = 0.5f + static_cast<float>(rng.uniform());
    params.presence_penalty = static_cast<float>(rng.uniform() * 4 - 2);
    params.frequency_penalty = static_cast<float>(rng.uniform() * 4 - 2);
    params.penalty_last_n = static_cast<std::int32_t>(rng.next() % 10) - 1;
    params.seed = rng.next();
    Sampler sampler = Sampler::from_params(params);
    const std::int32_t id = sampler.sample(logits, recent);
    ASSERT_GE(id, 0);
    ASSERT_LT(static_cast<std::size_t>(id), logits.size());
    ASSERT_GT(logits[id], -kInf) << "round " << round << ": " << sampler.describe();
    ASSERT_GE(sampler.last_candidates().size(), 1u);
  }
}

}  // namespace
}  // namespace mobilellm
