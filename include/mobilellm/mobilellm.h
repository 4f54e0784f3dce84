/* mobilellm C API: opaque handles, status codes with messages, UTF-8 in and out, streaming.
 *
 * Every function returns a mobilellm_status (MOBILELLM_OK = 0) or, for getters, a plain value.
 * On failure, mobilellm_last_error() returns a message for the calling thread (valid until that
 * thread's next call into the API). No C++ exception ever crosses this boundary.
 *
 * Threads: a model may be shared by any number of sessions on any threads; a session is used by
 * one thread at a time (concurrent use returns MOBILELLM_BUSY).
 */
#ifndef MOBILELLM_H
#define MOBILELLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mobilellm_status {
  MOBILELLM_OK = 0,
  MOBILELLM_ERROR_IO = 1,
  MOBILELLM_ERROR_FORMAT = 2,
  MOBILELLM_ERROR_INVALID_ARGUMENT = 3,
  MOBILELLM_ERROR_UNSUPPORTED = 4,
  MOBILELLM_ERROR_OUT_OF_MEMORY = 5,
  MOBILELLM_ERROR_INTERNAL = 6,
  MOBILELLM_BUSY = 7,
  MOBILELLM_ERROR_BUFFER_TOO_SMALL = 8
} mobilellm_status;

typedef enum mobilellm_finish_reason {
  MOBILELLM_FINISH_EOS = 0,
  MOBILELLM_FINISH_LENGTH = 1,
  MOBILELLM_FINISH_STOP = 2,
  MOBILELLM_FINISH_CONTEXT_FULL = 3,
  MOBILELLM_FINISH_CANCELLED = 4
} mobilellm_finish_reason;

/* Element type of a session's KV cache. */
typedef enum mobilellm_kv_type {
  MOBILELLM_KV_F32 = 0, /* float32 keys and values (the default) */
  MOBILELLM_KV_F16 = 1  /* float16: half the memory; attention still computes in float32 */
} mobilellm_kv_type;

typedef struct mobilellm_model mobilellm_model;
typedef struct mobilellm_session mobilellm_session;

typedef struct mobilellm_generation_params {
  uint32_t struct_size; /* sizeof(mobilellm_generation_params), set by ..._default() */
  uint32_t max_new_tokens;
  float temperature; /* 0 = greedy */
  int32_t top_k;
  float top_p;
  float min_p;
  float repeat_penalty;
  float presence_penalty;
  float frequency_penalty;
  int32_t penalty_last_n;
  uint64_t seed;
  const char* const* stop_strings; /* UTF-8, may be NULL */
  size_t stop_string_count;
  int stop_at_eos; /* nonzero: end at EOS (default) */
  int add_bos;     /* nonzero: BOS before the first prompt (default) */
} mobilellm_generation_params;

typedef struct mobilellm_stats {
  double load_seconds;
  double time_to_first_token_seconds;
  double prefill_tokens_per_second;
  double decode_tokens_per_second;
  uint32_t prompt_tokens;
  uint32_t generated_tokens;
  uint64_t kv_cache_bytes;
} mobilellm_stats;

/* Receives generated UTF-8 text (whole characters) as it is produced; `text` is not
 * NUL-terminated. Return 0 to continue, nonzero to cancel. */
typedef int (*mobilellm_token_callback)(const char* text, size_t length, void* user_data);

const char* mobilellm_version(void);
const char* mobilellm_status_name(mobilellm_status status);
/* The calling thread's last error message ("" when none). */
const char* mobilellm_last_error(void);

mobilellm_status mobilellm_model_load(const char* path, mobilellm_model** out_model);
void mobilellm_model_free(mobilellm_model* model); /* NULL is fine */
uint32_t mobilellm_model_vocab_size(const mobilellm_model* model);
uint32_t mobilellm_model_context_length(const mobilellm_model* model);

typedef struct mobilellm_session_options {
  uint32_t struct_size;      /* sizeof(mobilellm_session_options), set by ..._default() */
  uint32_t context_length;   /* tokens the KV cache holds; 0 = the model's (default) */
  uint32_t threads;          /* compute threads, counting the caller; 0 = all cores; at most
                                1024; default 1 */
  mobilellm_kv_type kv_type; /* default MOBILELLM_KV_F32 */
} mobilellm_session_options;

void mobilellm_session_options_default(mobilellm_session_options* options);

/* context_length 0 = the model's; one thread, float32 KV cache. */
mobilellm_status mobilellm_session_new(const mobilellm_model* model, uint32_t context_length,
                                       mobilellm_session** out_session);
/* A session with every option (see mobilellm_session_options_default). */
mobilellm_status mobilellm_session_new_with_options(const mobilellm_model* model,
                                                    const mobilellm_session_options* options,
                                                    mobilellm_session** out_session);
/* The KV cache's size in bytes (0 for NULL). */
uint64_t mobilellm_session_kv_cache_bytes(const mobilellm_session* session);
void mobilellm_session_free(mobilellm_session* session); /* NULL is fine */
mobilellm_status mobilellm_session_reset(mobilellm_session* session);

void mobilellm_generation_params_default(mobilellm_generation_params* params);

/* Generates a continuation of `prompt` (UTF-8, NUL-terminated) after what the session holds.
 * on_token, finish and stats may be NULL. */
mobilellm_status mobilellm_generate(mobilellm_session* session, const char* prompt,
                                    const mobilellm_generation_params* params,
                                    mobilellm_token_callback on_token, void* user_data,
                                    mobilellm_finish_reason* finish, mobilellm_stats* stats);

/* Tokenizes `text`; writes at most `capacity` ids to `out_ids` and the number of ids to
 * `out_count`. If capacity is too small, returns MOBILELLM_ERROR_BUFFER_TOO_SMALL with
 * *out_count set to the size needed. */
mobilellm_status mobilellm_tokenize(const mobilellm_model* model, const char* text, int add_bos,
                                    int32_t* out_ids, size_t capacity, size_t* out_count);

/* Decodes ids into UTF-8 text, NUL-terminated; *out_length (excluding the NUL) is set even when
 * the buffer is too small (MOBILELLM_ERROR_BUFFER_TOO_SMALL). */
mobilellm_status mobilellm_detokenize(const mobilellm_model* model, const int32_t* ids,
                                      size_t count, char* out_text, size_t capacity,
                                      size_t* out_length);

#ifdef __cplusplus
}
#endif

#endif /* MOBILELLM_H */
