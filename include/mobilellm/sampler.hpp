// Token sampling: a validated, seeded, composable chain of stages.
//
// A Sampler turns one row of logits into one token id. It copies the logits into a CandidateSet
// (one {id, logit, prob} per token), runs its stages in order — each one rewrites logits or drops
// candidates — and finally picks a token, either greedily or by drawing from the softmax of what
// is left with its own random generator:
//
//     Sampler s(Selection::random, seed);
//     s.add(make_penalties({.repeat_penalty = 1.1f})).add(make_top_k(40));
//     s.add(make_top_p(0.95f)).add(make_temperature(0.8f));
//     std::int32_t id = s.sample(logits, recent_tokens);
//
// Sampler::from_params builds the usual chain from a SamplingParams. Whatever the chain:
//   - logits may contain -inf ("masked", never chosen); NaN or +inf, an empty row, or a row with no
//     finite logit is an InvalidArgument naming the offending index and value;
//   - every stage leaves at least one candidate with a finite logit, so sample() always returns an
//     id in [0, logits.size()) whose input logit was finite;
//   - the same seed, chain and inputs give the same tokens: the generator is xoshiro256** seeded
//     through splitmix64, specified bit for bit, and no std:: distribution is involved. (Token
//     choices also depend on expf, which C libraries may round differently in the last bit.)
// Every parameter is validated when a stage is made; an invalid one is an InvalidArgument that
// names the parameter and its value. A Sampler reuses its buffers, so sample() does not allocate
// once the first call has sized them. A Sampler is not thread-safe; use one per sequence.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace mobilellm {

// xoshiro256** (Blackman & Vigna, 2018) with its state filled by four splitmix64 outputs from the
// seed — the seeding its authors recommend. Fully specified, so a seed means the same stream on
// every platform and standard library.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }
  void reseed(std::uint64_t seed);
  std::uint64_t next();
  // Uniform in [0, 1): the top 53 bits of next() scaled by 2^-53.
  double uniform();

 private:
  std::array<std::uint64_t, 4> s_{};
};

struct TokenCandidate {
  std::int32_t id = 0;
  float logit = 0.0f;
  float prob = 0.0f;  // meaningful only while CandidateSet::normalized()
};

// The candidates one sampling step chooses among, always in ascending id order. Stages may change
// logits and drop candidates, but never add, reorder or renumber them; the set never becomes empty
// and always keeps a candidate with a finite logit.
// "Better" means a higher logit, or an equal logit and a lower id. That order decides every tie
// (top-k keeps the lowest ids among equal logits, greedy picks the lowest id), so results never
// depend on how an algorithm happened to arrange the candidates.
class CandidateSet {
 public:
  // Replaces the set with one candidate per logit, id = index. Throws InvalidArgument when `logits`
  // is empty, longer than INT32_MAX, contains NaN or +inf, or has no finite value; the set is then
  // unchanged.
  void assign(std::span<const float> logits);

  std::span<const TokenCandidate> items() const { return items_; }
  std::size_t size() const { return items_.size(); }
  // Length of the row given to assign(): every id is in [0, vocab_size()).
  std::int32_t vocab_size() const { return vocab_size_; }

  // Rewrites every logit with f(candidate). A result that is NaN or +inf, or leaving no finite
  // logit, is an InvalidArgument naming `stage`, after which the set is cleared (assign() again
  // before using it).
  template <class F>
  void update_logits(const char* stage, F&& f) {
    for (TokenCandidate& c : items_) c.logit = f(static_cast<const TokenCandidate&>(c));
    logits_updated(stage);
  }

  // Keeps the n best candidates (n >= 1; n >= size() keeps all). A heap selection: O(size) for
  // the usual small n, O(size log n) at worst.
  void keep_best(std::size_t n);
  // Keeps the shortest run of best candidates, best first, whose probabilities sum to at least p
  // (so at least one; all of them when rounding leaves the total below p). p in [0, 1]. Sums are
  // exact, in units of 2^-40 with each probability rounded down. Normalizes first if needed.
  // O(size), no sorting.
  void keep_best_mass(double p);
  // Keeps the candidates for which keep(candidate) is true; `keep` must be a pure function (it is
  // called twice per candidate). Throws InvalidArgument naming `stage`, and leaves the set
  // unchanged, if that would keep no finite logit.
  template <class Pred>
  void retain(const char* stage, Pred&& keep) {
    bool keeps_finite = false;
    for (const TokenCandidate& c : items_) {
      keeps_finite = keeps_finite || (c.logit > -kInfinity && keep(c));
    }
    if (!keeps_finite) throw_nothing_kept(stage);
    compact(keep);
  }

  // Sets every prob to the softmax of the logits over the current set (-inf gives 0).
  void normalize();
  bool normalized() const { return normalized_; }

  // The best candidate: highest logit, lowest id among equals. The greedy choice.
  const TokenCandidate& best() const;

 private:
  static constexpr float kInfinity = std::numeric_limits<float>::infinity();
  void logits_updated(const char* stage);
  // Keeps the candidates for which keep(candidate) is true, in order.
  template <class Pred>
  void compact(Pred&& keep) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < items_.size(); ++i) {
      if (keep(static_cast<const TokenCandidate&>(items_[i]))) items_[kept++] = items_[i];
    }
    items_.resize(kept);
    normalized_ = false;
  }
  [[noreturn]] void fail(const std::string& message);  // clears the set, throws InvalidArgument
  [[noreturn]] static void throw_nothing_kept(const char* stage);

  std::vector<TokenCandidate> items_;
  std::vector<TokenCandidate> heap_;    // scratch of keep_best
  std::vector<std::uint32_t> scratch_;  // scratch of keep_best_mass: positions in items_
  std::int32_t vocab_size_ = 0;
  bool normalized_ = false;
};

// One step of a sampler chain. `recent_tokens` are the ids most recently generated or fed, oldest
// first; stages that read them throw InvalidArgument for an id outside
// [0, candidates.vocab_size()).
class SamplerStage {
 public:
  virtual ~SamplerStage() = default;
  virtual void apply(CandidateSet& candidates, std::span<const std::int32_t> recent_tokens) = 0;
  // The stage and its parameters, e.g. "top_k=40", for logs.
  virtual std::string describe() const = 0;
};

// Penalties for the tokens seen in the last `last_n` recent tokens. A token seen n > 0 times gets
//   logit' = (logit > 0 ? logit / repeat_penalty : logit * repeat_penalty)
//            - n * frequency_penalty - presence_penalty
// (llama.cpp's definitions), so repeat_penalty > 1 makes it less likely whatever its logit's sign.
struct PenaltyParams {
  float repeat_penalty = 1.0f;     // finite, > 0; 1 = off
  float presence_penalty = 0.0f;   // finite; 0 = off; negative values encourage repetition
  float frequency_penalty = 0.0f;  // finite; 0 = off; likewise
  std::int32_t last_n = 64;        // >= -1; -1 = every recent token, 0 = off
  // Throws InvalidArgument naming the first invalid parameter and its value.
  void validate() const;
  // False when these parameters cannot change any logit.
  bool enabled() const {
    return last_n != 0 &&
           (repeat_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f);
  }
};

// The stages. Each validates its parameters (InvalidArgument naming one and its value); a value
// that means "off" makes a stage that changes nothing. Logits rewritten by penalties or temperature
// that would overflow the float range saturate at +-FLT_MAX (-inf stays -inf), so they never
// become inf.
std::unique_ptr<SamplerStage> make_penalties(const PenaltyParams& params);
// Keeps the k best candidates; 0 = off; k >= 0.
std::unique_ptr<SamplerStage> make_top_k(std::int32_t k);
// Keeps the shortest run of best candidates whose probabilities sum to >= p (at least one; see
// CandidateSet::keep_best_mass); p in [0, 1], 1 = off.
std::unique_ptr<SamplerStage> make_top_p(float p);
// Keeps the candidates with prob >= p * (max prob), so always the best; p in [0, 1], 0 = off.
std::unique_ptr<SamplerStage> make_min_p(float p);
// Divides every logit by t; t finite and > 0 (for t = 0 use Selection::greedy), 1 = off.
std::unique_ptr<SamplerStage> make_temperature(float t);

enum class Selection {
  greedy,  // the best candidate: highest logit, lowest id among ties
  random,  // a draw from the softmax of the remaining candidates
};

struct SamplingParams {
  float temperature = 0.8f;  // finite, >= 0; 0 = greedy
  std::int32_t top_k = 40;   // >= 0; 0 = off
  float top_p = 0.95f;       // [0, 1]; 1 = off
  float min_p = 0.05f;       // [0, 1]; 0 = off
  float repeat_penalty = 1.0f;       // the PenaltyParams, with
  float presence_penalty = 0.0f;     // last_n = penalty_last_n
  float frequency_penalty = 0.0f;
  std::int32_t penalty_last_n = 64;
  std::uint64_t seed = 0;            // of the random draw
  // Throws InvalidArgument naming the first invalid parameter and its value.
  void validate() const;
};

class Sampler {
 public:
  explicit Sampler(Selection selection = Selection::random, std::uint64_t seed = 0);

  // Validates `params` and builds penalties -> top_k -> top_p -> min_p -> temperature -> draw,
  // leaving out stages that would change nothing. Temperature comes last, as in llama.cpp: the
  // filters see the model's own distribution, so a high temperature flattens what they kept
  // instead of letting the tail in. temperature 0 gives penalties -> greedy (the filters always
  // keep the best candidate, so they cannot change a greedy choice).
  static Sampler from_params(const SamplingParams& params);

  // Appends a stage (InvalidArgument if null). Returns *this for chaining.
  Sampler& add(std::unique_ptr<SamplerStage> stage);

  // Runs the chain on `logits` (one per token id) and returns the chosen id.
  std::int32_t sample(std::span<const float> logits,
                      std::span<const std::int32_t> recent_tokens = {});

  // Restarts the random stream as if constructed with `seed`.
  void reset(std::uint64_t seed);

  Selection selection() const { return selection_; }
  std::size_t stage_count() const { return stages_.size(); }
  // The whole chain, e.g. "top_k=40 -> temperature=0.8 -> random(seed=7)".
  std::string describe() const;
  // What the last sample() chose from: the candidates after every stage.
  const CandidateSet& last_candidates() const { return candidates_; }

 private:
  Selection selection_;
  std::uint64_t seed_;
  Rng rng_;
  std::vector<std::unique_ptr<SamplerStage>> stages_;
  CandidateSet candidates_;
};

}  // namespace mobilellm
