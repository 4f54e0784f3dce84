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

namespace mobilellm {

struct SessionOptions {
  std::uint32_t context_length = 0;  // tokens the KV cache holds; 0 = the model's context length
};

class Transformer;
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
  std::uint64_t kv_cache_bytes() const;
  void reset();  // forget the conversation (position 0)

  // Appends `tokens` at the current position and returns the logits (vocab floats) predicted after
  // the last of them; the span stays valid until the next call. Throws InvalidArgument when the
  // tokens do not fit in the remaining context or an id is outside the vocabulary.
  std::span<const float> prefill(std::span<const std::int32_t> tokens);
  // Appends one token (usually the one just sampled) and returns the next logits.
  std::span<const float> decode_step(std::int32_t token);
  // Appends `tokens` and writes the logits of every one of them (tokens.size() × vocab floats).
  void evaluate(std::span<const std::int32_t> tokens, std::vector<float>& logits);

 private:
  friend class SessionGuard;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Transformer> transformer_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<Scratch> scratch_;
  std::vector<float> logits_;
  std::uint32_t position_ = 0;
  std::atomic<bool> busy_{false};
};

}  // namespace mobilellm
