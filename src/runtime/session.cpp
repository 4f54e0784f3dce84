#include "mobilellm/session.hpp"

#include <string>

#include "mobilellm/error.hpp"
#include "runtime/session_guard.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/transformer.hpp"

namespace mobilellm {

const char* kv_type_name(KvType t) noexcept {
  switch (t) {
    case KvType::f32: return "f32";
    case KvType::f16: return "f16";
  }
  return "unknown";
}

namespace {
kernels::KvType kernel_kv_type(KvType t) {
  switch (t) {
    case KvType::f32: return kernels::KvType::f32;
    case KvType::f16: return kernels::KvType::f16;
  }
  throw InvalidArgument("Session: unknown KV cache type " + std::to_string(int(t)));
}
}  // namespace

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options)
    : model_(std::move(model)) {
  if (!model_) throw InvalidArgument("Session: no model");
  const ModelConfig& c = model_->config();
  const std::uint32_t ctx = options.context_length ? options.context_length : c.context_length;
  if (ctx > c.context_length)
    throw InvalidArgument("Session: context length " + std::to_string(ctx) +
                          " exceeds the model's trained context of " +
                          std::to_string(c.context_length));
  if (options.threads > kMaxSessionThreads)
    throw InvalidArgument("Session: " + std::to_string(options.threads) +
                          " threads requested, more than " + std::to_string(kMaxSessionThreads));
  cache_ = std::make_unique<KvCache>(c, ctx, kernel_kv_type(options.kv_type));
  pool_ = std::make_unique<ThreadPool>(options.threads);
  scratch_ = std::make_unique<Scratch>(model_->transformer(), pool_->size(), ctx);
  logits_.resize(c.vocab_size);
}

Session::~Session() = default;

std::uint32_t Session::context_length() const { return cache_->capacity(); }
std::uint64_t Session::kv_cache_bytes() const { return cache_->bytes(); }
KvType Session::kv_type() const {
  return cache_->type() == kernels::KvType::f16 ? KvType::f16 : KvType::f32;
}
std::string Session::kernels() const {
  return model_->transformer().kernels_description(cache_->type());
}
unsigned Session::threads() const { return pool_->size(); }

void Session::reset() {
  SessionGuard g(*this);
  position_ = 0;
  history_.clear();
}

namespace {
void check_fits(std::uint32_t position, std::size_t count, std::uint32_t capacity) {
  if (count > capacity - position)
    throw InvalidArgument(std::to_string(count) + " tokens do not fit in the context: " +
                          std::to_string(position) + " of " + std::to_string(capacity) +
                          " positions are used");
}
}  // namespace

std::span<const float> Session::prefill(std::span<const std::int32_t> tokens) {
  SessionGuard g(*this);
  return prefill_locked(tokens);
}

std::span<const float> Session::prefill_locked(std::span<const std::int32_t> tokens) {
  if (tokens.empty()) throw InvalidArgument("prefill: no tokens");
  check_fits(position_, tokens.size(), cache_->capacity());
  model_->transformer().forward(tokens.data(), std::uint32_t(tokens.size()), position_, *cache_, *scratch_,
                        *pool_, logits_.data(), false);
  position_ += std::uint32_t(tokens.size());
  history_.insert(history_.end(), tokens.begin(), tokens.end());
  return logits_;
}

std::span<const float> Session::decode_step(std::int32_t token) {
  return prefill(std::span<const std::int32_t>(&token, 1));
}

void Session::evaluate(std::span<const std::int32_t> tokens, std::vector<float>& logits) {
  SessionGuard g(*this);
  check_fits(position_, tokens.size(), cache_->capacity());
  logits.resize(tokens.size() * std::size_t(model_->config().vocab_size));
  if (tokens.empty()) return;
  model_->transformer().forward(tokens.data(), std::uint32_t(tokens.size()), position_, *cache_, *scratch_,
                        *pool_, logits.data(), true);
  position_ += std::uint32_t(tokens.size());
  history_.insert(history_.end(), tokens.begin(), tokens.end());
}

}  // namespace mobilellm
