/* A C program using only the C API (include/mobilellm/mobilellm.h), run by ctest.
 * usage: test_capi MODEL.gguf   (the converted shared tinystories-656k checkpoint)
 * Exits 0 on success, 1 on a failed check, 77 when the model file is absent (skipped). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mobilellm/mobilellm.h"

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

struct collected {
  char text[4096];
  size_t length;
  int calls;
  int cancel_after; /* cancel on this call (0 = never) */
};

static int collect(const char* text, size_t length, void* user) {
  struct collected* c = (struct collected*)user;
  if (c->length + length < sizeof(c->text)) {
    memcpy(c->text + c->length, text, length);
    c->length += length;
    c->text[c->length] = '\0';
  }
  ++c->calls;
  return c->cancel_after != 0 && c->calls >= c->cancel_after;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_capi MODEL.gguf\n");
    return 2;
  }
  FILE* f = fopen(argv[1], "rb");
  if (!f) {
    printf("skipped: %s not found (needs ../shared)\n", argv[1]);
    return 77;
  }
  fclose(f);

  printf("mobilellm %s\n", mobilellm_version());

  /* Errors are status codes with messages. */
  mobilellm_model* model = NULL;
  CHECK(mobilellm_model_load("/nonexistent/model.gguf", &model) == MOBILELLM_ERROR_IO);
  CHECK(model == NULL);
  CHECK(strstr(mobilellm_last_error(), "/nonexistent/model.gguf") != NULL);
  CHECK(mobilellm_model_load(NULL, &model) == MOBILELLM_ERROR_INVALID_ARGUMENT);
  CHECK(mobilellm_model_load(argv[0], &model) == MOBILELLM_ERROR_FORMAT); /* not a GGUF file */
  CHECK(strcmp(mobilellm_status_name(MOBILELLM_ERROR_FORMAT), "format") == 0);

  CHECK(mobilellm_model_load(argv[1], &model) == MOBILELLM_OK);
  if (!model) return 1;
  CHECK(mobilellm_model_vocab_size(model) == 2048);

  /* Tokenize / detokenize round trip, and the buffer-size protocol. */
  const char* text = "Once upon a time, there was a little girl.";
  int32_t ids[64];
  size_t n = 0;
  CHECK(mobilellm_tokenize(model, text, 1, ids, 2, &n) == MOBILELLM_ERROR_BUFFER_TOO_SMALL);
  CHECK(n > 2);
  CHECK(mobilellm_tokenize(model, text, 1, ids, 64, &n) == MOBILELLM_OK);
  CHECK(n > 2 && ids[0] == 1);
  char decoded[256];
  size_t len = 0;
  CHECK(mobilellm_detokenize(model, ids + 1, n - 1, decoded, sizeof decoded, &len) == MOBILELLM_OK);
  CHECK(strcmp(decoded, text) == 0);
  int32_t bad = 99999;
  CHECK(mobilellm_detokenize(model, &bad, 1, decoded, sizeof decoded, &len) ==
        MOBILELLM_ERROR_INVALID_ARGUMENT);

  mobilellm_session* session = NULL;
  CHECK(mobilellm_session_new(model, 256, &session) == MOBILELLM_OK);
  if (!session) return 1;

  /* Greedy generation from BOS alone gives the known continuation, streamed. */
  mobilellm_generation_params p;
  mobilellm_generation_params_default(&p);
  p.temperature = 0.0f;
  p.max_new_tokens = 24;
  struct collected out = {{0}, 0, 0, 0};
  mobilellm_finish_reason finish;
  mobilellm_stats stats;
  CHECK(mobilellm_generate(session, "", &p, collect, &out, &finish, &stats) == MOBILELLM_OK);
  printf("generated: %s\n", out.text);
  CHECK(strncmp(out.text, "Once upon a time, there was a little girl named Lily.", 53) == 0);
  CHECK(finish == MOBILELLM_FINISH_LENGTH);
  CHECK(stats.generated_tokens == 24);
  CHECK(out.calls > 1);
  CHECK(stats.decode_tokens_per_second > 0.0);

  /* Cancellation through the callback. */
  CHECK(mobilellm_session_reset(session) == MOBILELLM_OK);
  struct collected out2 = {{0}, 0, 0, 3};
  CHECK(mobilellm_generate(session, "", &p, collect, &out2, &finish, NULL) == MOBILELLM_OK);
  CHECK(finish == MOBILELLM_FINISH_CANCELLED);
  CHECK(out2.calls == 3);

  /* Stop strings end generation; the stop string is not emitted. */
  CHECK(mobilellm_session_reset(session) == MOBILELLM_OK);
  const char* stops[] = {"little"};
  p.stop_strings = stops;
  p.stop_string_count = 1;
  struct collected out3 = {{0}, 0, 0, 0};
  CHECK(mobilellm_generate(session, "", &p, collect, &out3, &finish, NULL) == MOBILELLM_OK);
  CHECK(finish == MOBILELLM_FINISH_STOP);
  CHECK(strcmp(out3.text, "Once upon a time, there was a ") == 0);
  p.stop_strings = NULL;
  p.stop_string_count = 0;

  /* Invalid parameters are rejected with a message naming them. */
  p.temperature = NAN;
  CHECK(mobilellm_generate(session, "x", &p, NULL, NULL, NULL, NULL) ==
        MOBILELLM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(mobilellm_last_error(), "temperature") != NULL);
  p.temperature = 0.0f;
  p.struct_size = 3;
  CHECK(mobilellm_generate(session, "x", &p, NULL, NULL, NULL, NULL) ==
        MOBILELLM_ERROR_INVALID_ARGUMENT);

  /* Session options: defaults, a float16 KV cache on two threads, and bad options refused. */
  mobilellm_session_options so;
  mobilellm_session_options_default(&so);
  CHECK(so.struct_size == sizeof(mobilellm_session_options));
  CHECK(so.context_length == 0 && so.threads == 1 && so.kv_type == MOBILELLM_KV_F32);
  so.context_length = 256;
  so.threads = 2;
  so.kv_type = MOBILELLM_KV_F16;
  mobilellm_session* half = NULL;
  CHECK(mobilellm_session_new_with_options(model, &so, &half) == MOBILELLM_OK);
  if (!half) return 1;
  CHECK(mobilellm_session_kv_cache_bytes(session) > 0);
  CHECK(2 * mobilellm_session_kv_cache_bytes(half) == mobilellm_session_kv_cache_bytes(session));
  mobilellm_generation_params_default(&p);
  p.temperature = 0.0f;
  p.max_new_tokens = 24;
  struct collected out4 = {{0}, 0, 0, 0};
  CHECK(mobilellm_generate(half, "", &p, collect, &out4, &finish, &stats) == MOBILELLM_OK);
  printf("generated with a float16 KV cache, 2 threads: %s\n", out4.text);
  CHECK(strncmp(out4.text, "Once upon a time, there was a little girl named Lily.", 53) == 0);
  CHECK(stats.kv_cache_bytes == mobilellm_session_kv_cache_bytes(half));
  mobilellm_session_free(half);

  mobilellm_session* refused = NULL;
  CHECK(mobilellm_session_new_with_options(model, NULL, &refused) ==
        MOBILELLM_ERROR_INVALID_ARGUMENT);
  so.kv_type = (mobilellm_kv_type)7;
  CHECK(mobilellm_session_new_with_options(model, &so, &refused) ==
        MOBILELLM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(mobilellm_last_error(), "kv_type 7") != NULL);
  so.kv_type = MOBILELLM_KV_F16;
  so.threads = 100000;
  CHECK(mobilellm_session_new_with_options(model, &so, &refused) ==
        MOBILELLM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(mobilellm_last_error(), "100000 threads") != NULL);
  so.threads = 1;
  so.context_length = 1u << 30;
  CHECK(mobilellm_session_new_with_options(model, &so, &refused) ==
        MOBILELLM_ERROR_INVALID_ARGUMENT);
  so.context_length = 0;
  so.struct_size = 4;
  CHECK(mobilellm_session_new_with_options(model, &so, &refused) ==
        MOBILELLM_ERROR_INVALID_ARGUMENT);
  CHECK(refused == NULL);
  CHECK(mobilellm_session_kv_cache_bytes(NULL) == 0);

  mobilellm_session_free(session);
  mobilellm_model_free(model);
  mobilellm_session_free(NULL);
  mobilellm_model_free(NULL);
  if (failures) {
    printf("%d checks failed\n", failures);
    return 1;
  }
  printf("all C API checks passed\n");
  return 0;
}
