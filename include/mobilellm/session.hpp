// One conversation with a model: its KV cache and position. A Session is used by one thread at a
// time; a call made while another thread is inside the same session throws Error(ErrorCode::busy)
// instead of corrupting the cache. Different sessions of one Model run concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mobilellm/model.hpp"
#include "mobilellm/sampler.hpp"
#include "mobilellm/stats.hpp"

namespace mobilellm {

// Element type of the KV cache (llama.cpp's -ctk / -ctv).
enum class KvType {
  f32,  // float32: keys and values exactly as computed
  f16,  // IEEE binary16: half the memory and half the bytes attention reads per token. Keys and
        // values are rounded to nearest even when written (finite values beyond 65504 become
        // infinite); attention widens them back exactly and computes in float32 as with f32.
};
const char* kv_type_name(KvType t) noexcept;  // "f32", "f16"

// The most compute threads a session takes (a larger SessionOptions::threads is an error).
inline constexpr unsigned kMaxSessionThreads = 1024;

struct SessionOptions {
  std::uint32_t context_length = 0;  // tokens the KV cache holds; 0 = the model's context length
  unsigned threads = 1;  // compute threads, counting the caller; 0 = all cores; ≤ kMaxSessionThreads
  KvType kv_type = KvType::f32;      // element type of the KV cache
};

enum class FinishReason {
  eos,           // the model produced its end-of-sequence token
  length,        // max_new_tokens were generated
  stop,          // a stop string appeared (it is not part of the output)
  context_full,  // the session's context has no room for another token
  cancelled,     // the token callback returned false
};
const char* finish_reason_name(FinishReason r) noexcept;  // "eos", "length", ...

// What to do with a prompt longer than the room left in the context.
enum class PromptOverflow {
  error,          // InvalidArgument naming both lengths (the default)
  truncate_left,  // drop the oldest prompt tokens (keeping a leading BOS) until it fits
};

struct GenerationConfig {
  std::uint32_t max_new_tokens = 128;
  SamplingParams sampling;         // temperature 0 = greedy
  std::vector<std::string> stop;   // generation ends when the output contains one of these
  bool stop_at_eos = true;         // end at the EOS token (which is never part of the output)
  bool add_bos = true;             // prepend BOS when the session is empty and the model wants it
  PromptOverflow prompt_overflow = PromptOverflow::error;
};

// Receives generated text as it becomes final: whole UTF-8 characters only, never part of a stop
// string. Returning false cancels the generation.
using TokenCallback = std::function<bool(std::string_view text)>;
using StatsCallback = std::function<void(const Stats&)>;

struct GenerationResult {
  std::string text;                  // everything passed to the callback
  std::vector<std::int32_t> tokens;  // generated ids (EOS excluded)
  FinishReason finish_reason = FinishReason::length;
  Stats stats;
};

class Transformer;
class ThreadPool;
class KvCache;
struct Scratch;

class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Model& model() const { return *model_; }
  std::uint32_t context_length() const;
  std::uint32_t position() const { return position_; }  // tokens in the cache
  std::uint64_t kv_cache_bytes() const;  // the cache's real size (keys and values)
  KvType kv_type() const;
  unsigned threads() const;
  // The kernels this session runs (Model::kernels() with the attention kernel for its KV type).
  std::string kernels() const;
  void reset();  // forget the conversation (position 0)

  // Appends `tokens` at the current position and returns the logits (vocab floats) predicted after
  // the last of them; the span stays valid until the next call. Throws InvalidArgument when the
  // tokens do not fit in the remaining context or an id is outside the vocabulary.
  std::span<const float> prefill(std::span<const std::int32_t> tokens);
  // Appends one token (usually the one just sampled) and returns the next logits.
  std::span<const float> decode_step(std::int32_t token);
  // Appends `tokens` and writes the logits of every one of them (tokens.size() × vocab floats).
  void evaluate(std::span<const std::int32_t> tokens, std::vector<float>& logits);

  // Tokenizes `prompt`, prefills it after what the session already holds, then samples up to
  // max_new_tokens, streaming text to `on_token`; `on_stats` receives the timing at the end.
  // Throws InvalidArgument for invalid sampling parameters or a prompt that does not fit (unless
  // config.prompt_overflow says to truncate), before any state changes.
  GenerationResult generate(std::string_view prompt, const GenerationConfig& config,
                            const TokenCallback& on_token = {}, const StatsCallback& on_stats = {});

  // Every token the session holds, in order (position() of them).
  std::span<const std::int32_t> tokens() const { return history_; }

 private:
  friend class SessionGuard;
  std::span<const float> prefill_locked(std::span<const std::int32_t> tokens);
  std::shared_ptr<const Model> model_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<Scratch> scratch_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<float> logits_;
  std::vector<std::int32_t> history_;
  std::uint32_t position_ = 0;
  std::atomic<bool> busy_{false};
};

}  // namespace mobilellm
