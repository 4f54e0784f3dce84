// Session::generate: tokenize, prefill, then sample → stream → decode one token at a time.
#include <algorithm>
#include <chrono>
#include <string>

#include "mobilellm/error.hpp"
#include "mobilellm/session.hpp"
#include "mobilellm/tokenizer.hpp"
#include "runtime/session_guard.hpp"
#include "runtime/transformer.hpp"

namespace mobilellm {

const char* finish_reason_name(FinishReason r) noexcept {
  switch (r) {
    case FinishReason::eos: return "eos";
    case FinishReason::length: return "length";
    case FinishReason::stop: return "stop";
    case FinishReason::context_full: return "context_full";
    case FinishReason::cancelled: return "cancelled";
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Holds back generated text that might be the beginning of a stop string.
class StopMatcher {
 public:
  explicit StopMatcher(const std::vector<std::string>& stops) : stops_(stops) {
    for (const auto& s : stops_)
      if (s.empty()) throw InvalidArgument("generate: a stop string is empty");
  }
  // Appends `text`; returns true if a stop string is now complete. `ready` receives the text that
  // can be emitted now (up to the stop string when one matched).
  bool feed(std::string_view text, std::string& ready) {
    pending_ += text;
    std::size_t first = std::string::npos;
    for (const auto& s : stops_) first = std::min(first, pending_.find(s));
    if (first != std::string::npos) {
      ready = pending_.substr(0, first);
      pending_.clear();
      return true;
    }
    std::size_t hold = 0;  // longest suffix of pending_ that is a proper prefix of a stop string
    for (const auto& s : stops_)
      for (std::size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k)
        if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
    ready = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return false;
  }
  // Text held back when generation ends for another reason.
  std::string flush() { return std::exchange(pending_, {}); }

 private:
  const std::vector<std::string>& stops_;
  std::string pending_;
};

}  // namespace

GenerationResult Session::generate(std::string_view prompt, const GenerationConfig& config,
                                   const TokenCallback& on_token, const StatsCallback& on_stats) {
  SessionGuard guard(*this);
  const auto t_start = Clock::now();
  const Tokenizer& tok = model_->tokenizer();
  Sampler sampler = Sampler::from_params(config.sampling);  // validates the parameters
  StopMatcher stop(config.stop);

  // 1. The prompt's tokens, checked against the room left in the context.
  const bool bos = config.add_bos && position_ == 0 && tok.add_bos() && tok.bos() >= 0;
  std::vector<std::int32_t> ids = tok.encode(prompt, bos);
  if (ids.empty())
    throw InvalidArgument("generate: the prompt is empty and there is no BOS token to start from");
  const std::uint32_t room = cache_->capacity() - position_;
  if (ids.size() > room) {
    if (config.prompt_overflow == PromptOverflow::error || room == 0)
      throw InvalidArgument("generate: the prompt has " + std::to_string(ids.size()) +
                            " tokens but the context has room for " + std::to_string(room) +
                            " (context length " + std::to_string(cache_->capacity()) + ")");
    const std::size_t keep_bos = bos ? 1 : 0;
    ids.erase(ids.begin() + std::ptrdiff_t(keep_bos),
              ids.begin() + std::ptrdiff_t(ids.size() - room + keep_bos));
  }

  GenerationResult result;
  Stats& st = result.stats;
  st.load_seconds = model_->load_seconds();
  st.prompt_tokens = std::uint32_t(ids.size());
  st.kv_cache_bytes = cache_->bytes();
  st.kernels = kernels();

  // 2. Prefill. The stream decoder sees the prompt first so that the continuation's spacing is
  // decoded in context; what the prompt itself decodes to is discarded.
  Tokenizer::StreamDecoder decoder(tok);
  for (std::int32_t id : history_) decoder.push(id);
  for (std::int32_t id : ids) decoder.push(id);
  const auto t_prefill = Clock::now();
  std::span<const float> logits = prefill_locked(ids);
  st.prefill_seconds = seconds_since(t_prefill);

  // 3. Sample, stream, decode.
  const std::size_t window = config.sampling.penalty_last_n < 0
                                 ? history_.size()
                                 : std::size_t(config.sampling.penalty_last_n);
  std::string ready;
  auto emit = [&](const std::string& text) {
    if (text.empty()) return true;
    result.text += text;
    return !on_token || on_token(text);
  };
  FinishReason finish = FinishReason::length;
  double decode_seconds = 0.0;
  for (;;) {
    if (result.tokens.size() >= config.max_new_tokens) {
      finish = FinishReason::length;
      break;
    }
    const std::size_t n_recent = std::min(window, history_.size());
    const std::int32_t next =
        sampler.sample(logits, std::span<const std::int32_t>(history_).last(n_recent));
    if (result.tokens.empty()) st.time_to_first_token = seconds_since(t_start);
    if (config.stop_at_eos && next == tok.eos()) {
      finish = FinishReason::eos;
      break;
    }
    result.tokens.push_back(next);
    const bool stopped = stop.feed(decoder.push(next), ready);
    if (!emit(ready)) {
      finish = FinishReason::cancelled;
      break;
    }
    if (stopped) {
      finish = FinishReason::stop;
      break;
    }
    if (result.tokens.size() >= config.max_new_tokens) {
      finish = FinishReason::length;
      break;
    }
    if (position_ >= cache_->capacity()) {
      finish = FinishReason::context_full;
      break;
    }
    const auto t_step = Clock::now();
    logits = prefill_locked(std::span<const std::int32_t>(&next, 1));
    decode_seconds += seconds_since(t_step);
    ++st.decode_steps;
  }
  if (finish != FinishReason::stop && finish != FinishReason::cancelled) {
    std::string tail;  // bytes the decoder held; a stop string may still complete in them
    if (stop.feed(decoder.finish(), tail)) finish = FinishReason::stop;
    else tail += stop.flush();
    emit(tail);  // generation is over either way; the callback's answer changes nothing
  }
  st.generated_tokens = std::uint32_t(result.tokens.size());
  st.decode_seconds = decode_seconds;
  result.finish_reason = finish;
  if (on_stats) on_stats(st);
  return result;
}

}  // namespace mobilellm
