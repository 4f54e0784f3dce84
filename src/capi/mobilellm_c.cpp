// The C API: a thin layer over the C++ API that catches every exception at the boundary.
#include "mobilellm/mobilellm.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "mobilellm/error.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/session.hpp"
#include "mobilellm/tokenizer.hpp"
#include "mobilellm/version.hpp"

struct mobilellm_model {
  std::shared_ptr<const mobilellm::Model> model;
};
struct mobilellm_session {
  std::unique_ptr<mobilellm::Session> session;
};

namespace {

thread_local std::string g_last_error;

mobilellm_status fail(mobilellm_status s, const char* message) {
  try {
    g_last_error = message;
  } catch (...) {
    // Out of memory while recording the message: keep the status.
  }
  return s;
}

// Runs `f`, translating any exception into a status and the thread's last error.
template <typename F>
mobilellm_status guarded(F&& f) noexcept {
  try {
    g_last_error.clear();
    return f();
  } catch (const mobilellm::Error& e) {
    return fail(static_cast<mobilellm_status>(static_cast<int>(e.code())), e.what());
  } catch (const std::bad_alloc&) {
    return fail(MOBILELLM_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(MOBILELLM_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(MOBILELLM_ERROR_INTERNAL, "unknown exception");
  }
}

mobilellm_status null_argument(const char* name) {
  return fail(MOBILELLM_ERROR_INVALID_ARGUMENT, (std::string(name) + " is NULL").c_str());
}

mobilellm_finish_reason to_c(mobilellm::FinishReason r) {
  switch (r) {
    case mobilellm::FinishReason::eos: return MOBILELLM_FINISH_EOS;
    case mobilellm::FinishReason::length: return MOBILELLM_FINISH_LENGTH;
    case mobilellm::FinishReason::stop: return MOBILELLM_FINISH_STOP;
    case mobilellm::FinishReason::context_full: return MOBILELLM_FINISH_CONTEXT_FULL;
    case mobilellm::FinishReason::cancelled: return MOBILELLM_FINISH_CANCELLED;
  }
  return MOBILELLM_FINISH_LENGTH;
}

}  // namespace

extern "C" {

const char* mobilellm_version(void) { return mobilellm::version(); }

const char* mobilellm_status_name(mobilellm_status status) {
  switch (status) {
    case MOBILELLM_OK: return "ok";
    case MOBILELLM_ERROR_BUFFER_TOO_SMALL: return "buffer_too_small";
    default: {
      const int c = static_cast<int>(status);
      if (c >= 1 && c <= 7) return mobilellm::error_code_name(static_cast<mobilellm::ErrorCode>(c));
      return "unknown";
    }
  }
}

const char* mobilellm_last_error(void) { return g_last_error.c_str(); }

mobilellm_status mobilellm_model_load(const char* path, mobilellm_model** out_model) {
  if (!path) return null_argument("path");
  if (!out_model) return null_argument("out_model");
  *out_model = nullptr;
  return guarded([&] {
    auto m = std::make_unique<mobilellm_model>();
    m->model = mobilellm::Model::load(path);
    *out_model = m.release();
    return MOBILELLM_OK;
  });
}

void mobilellm_model_free(mobilellm_model* model) { delete model; }

uint32_t mobilellm_model_vocab_size(const mobilellm_model* model) {
  return model ? model->model->config().vocab_size : 0;
}

uint32_t mobilellm_model_context_length(const mobilellm_model* model) {
  return model ? model->model->config().context_length : 0;
}

void mobilellm_session_options_default(mobilellm_session_options* options) {
  if (!options) return;
  const mobilellm::SessionOptions d;
  *options = mobilellm_session_options{};
  options->struct_size = sizeof(mobilellm_session_options);
  options->context_length = d.context_length;
  options->threads = d.threads;
  options->kv_type = d.kv_type == mobilellm::KvType::f16 ? MOBILELLM_KV_F16 : MOBILELLM_KV_F32;
}

mobilellm_status mobilellm_session_new_with_options(const mobilellm_model* model,
                                                    const mobilellm_session_options* options,
                                                    mobilellm_session** out_session) {
  if (!out_session) return null_argument("out_session");
  *out_session = nullptr;
  if (!model) return null_argument("model");
  if (!options) return null_argument("options");
  if (options->struct_size != sizeof(mobilellm_session_options))
    return fail(MOBILELLM_ERROR_INVALID_ARGUMENT,
                "options->struct_size does not match this library: call "
                "mobilellm_session_options_default() first");
  // Read the enum as its integer: a caller may pass any value, and loading an out-of-range
  // value as the enum type would be undefined in C++.
  static_assert(sizeof(mobilellm_kv_type) == sizeof(int));
  int kv = 0;
  std::memcpy(&kv, &options->kv_type, sizeof kv);
  if (kv != MOBILELLM_KV_F32 && kv != MOBILELLM_KV_F16)
    return fail(MOBILELLM_ERROR_INVALID_ARGUMENT,
                ("options->kv_type " + std::to_string(kv) +
                 " is not MOBILELLM_KV_F32 (0) or MOBILELLM_KV_F16 (1)").c_str());
  return guarded([&] {
    mobilellm::SessionOptions o;
    o.context_length = options->context_length;
    o.threads = options->threads;
    o.kv_type = kv == MOBILELLM_KV_F16 ? mobilellm::KvType::f16 : mobilellm::KvType::f32;
    auto s = std::make_unique<mobilellm_session>();
    s->session = std::make_unique<mobilellm::Session>(model->model, o);
    *out_session = s.release();
    return MOBILELLM_OK;
  });
}

mobilellm_status mobilellm_session_new(const mobilellm_model* model, uint32_t context_length,
                                       mobilellm_session** out_session) {
  mobilellm_session_options options;
  mobilellm_session_options_default(&options);
  options.context_length = context_length;
  return mobilellm_session_new_with_options(model, &options, out_session);
}

uint64_t mobilellm_session_kv_cache_bytes(const mobilellm_session* session) {
  return session ? session->session->kv_cache_bytes() : 0;
}

void mobilellm_session_free(mobilellm_session* session) { delete session; }

mobilellm_status mobilellm_session_reset(mobilellm_session* session) {
  if (!session) return null_argument("session");
  return guarded([&] {
    session->session->reset();
    return MOBILELLM_OK;
  });
}

void mobilellm_generation_params_default(mobilellm_generation_params* p) {
  if (!p) return;
  const mobilellm::GenerationConfig d;
  *p = mobilellm_generation_params{};
  p->struct_size = sizeof(mobilellm_generation_params);
  p->max_new_tokens = d.max_new_tokens;
  p->temperature = d.sampling.temperature;
  p->top_k = d.sampling.top_k;
  p->top_p = d.sampling.top_p;
  p->min_p = d.sampling.min_p;
  p->repeat_penalty = d.sampling.repeat_penalty;
  p->presence_penalty = d.sampling.presence_penalty;
  p->frequency_penalty = d.sampling.frequency_penalty;
  p->penalty_last_n = d.sampling.penalty_last_n;
  p->seed = d.sampling.seed;
  p->stop_at_eos = d.stop_at_eos ? 1 : 0;
  p->add_bos = d.add_bos ? 1 : 0;
}

mobilellm_status mobilellm_generate(mobilellm_session* session, const char* prompt,
                                    const mobilellm_generation_params* params,
                                    mobilellm_token_callback on_token, void* user_data,
                                    mobilellm_finish_reason* finish, mobilellm_stats* stats) {
  if (!session) return null_argument("session");
  if (!prompt) return null_argument("prompt");
  if (!params) return null_argument("params");
  if (params->struct_size != sizeof(mobilellm_generation_params))
    return fail(MOBILELLM_ERROR_INVALID_ARGUMENT,
                "params->struct_size does not match this library: call "
                "mobilellm_generation_params_default() first");
  if (params->stop_string_count > 0 && !params->stop_strings) return null_argument("params->stop_strings");
  return guarded([&] {
    mobilellm::GenerationConfig gc;
    gc.max_new_tokens = params->max_new_tokens;
    gc.sampling.temperature = params->temperature;
    gc.sampling.top_k = params->top_k;
    gc.sampling.top_p = params->top_p;
    gc.sampling.min_p = params->min_p;
    gc.sampling.repeat_penalty = params->repeat_penalty;
    gc.sampling.presence_penalty = params->presence_penalty;
    gc.sampling.frequency_penalty = params->frequency_penalty;
    gc.sampling.penalty_last_n = params->penalty_last_n;
    gc.sampling.seed = params->seed;
    gc.stop_at_eos = params->stop_at_eos != 0;
    gc.add_bos = params->add_bos != 0;
    for (size_t i = 0; i < params->stop_string_count; ++i) {
      if (!params->stop_strings[i]) throw mobilellm::InvalidArgument("params->stop_strings has a NULL entry");
      gc.stop.emplace_back(params->stop_strings[i]);
    }
    mobilellm::TokenCallback cb;
    if (on_token)
      cb = [&](std::string_view text) { return on_token(text.data(), text.size(), user_data) == 0; };
    mobilellm::GenerationResult r = session->session->generate(prompt, gc, cb);
    if (finish) *finish = to_c(r.finish_reason);
    if (stats) {
      stats->load_seconds = r.stats.load_seconds;
      stats->time_to_first_token_seconds = r.stats.time_to_first_token;
      stats->prefill_tokens_per_second = r.stats.prefill_tokens_per_second();
      stats->decode_tokens_per_second = r.stats.decode_tokens_per_second();
      stats->prompt_tokens = r.stats.prompt_tokens;
      stats->generated_tokens = r.stats.generated_tokens;
      stats->kv_cache_bytes = r.stats.kv_cache_bytes;
    }
    return MOBILELLM_OK;
  });
}

mobilellm_status mobilellm_tokenize(const mobilellm_model* model, const char* text, int add_bos,
                                    int32_t* out_ids, size_t capacity, size_t* out_count) {
  if (!model) return null_argument("model");
  if (!text) return null_argument("text");
  if (!out_count) return null_argument("out_count");
  if (capacity > 0 && !out_ids) return null_argument("out_ids");
  return guarded([&] {
    const auto ids = model->model->tokenizer().encode(text, add_bos != 0);
    *out_count = ids.size();
    if (ids.size() > capacity)
      return fail(MOBILELLM_ERROR_BUFFER_TOO_SMALL,
                  ("the text has " + std::to_string(ids.size()) + " tokens; capacity is " +
                   std::to_string(capacity)).c_str());
    std::copy(ids.begin(), ids.end(), out_ids);
    return MOBILELLM_OK;
  });
}

mobilellm_status mobilellm_detokenize(const mobilellm_model* model, const int32_t* ids,
                                      size_t count, char* out_text, size_t capacity,
                                      size_t* out_length) {
  if (!model) return null_argument("model");
  if (count > 0 && !ids) return null_argument("ids");
  if (!out_length) return null_argument("out_length");
  if (capacity > 0 && !out_text) return null_argument("out_text");
  return guarded([&] {
    const std::string text = model->model->tokenizer().decode({ids, count});
    *out_length = text.size();
    if (text.size() + 1 > capacity)
      return fail(MOBILELLM_ERROR_BUFFER_TOO_SMALL,
                  ("the text needs " + std::to_string(text.size() + 1) + " bytes; capacity is " +
                   std::to_string(capacity)).c_str());
    std::memcpy(out_text, text.data(), text.size());
    out_text[text.size()] = '\0';
    return MOBILELLM_OK;
  });
}

}  // extern "C"
