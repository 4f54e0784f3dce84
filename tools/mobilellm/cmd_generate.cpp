// mobilellm generate [-m MODEL] -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]
//                    [--repeat-penalty R] [--seed S] [-c CTX] [--stop STR] ...
// Streams only the generated text to stdout; stats go to stderr.
#include <chrono>
#include <cstdio>
#include <random>

#include <fmt/core.h>

#include "cli.hpp"
#include "common/file.hpp"
#include "default_model.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/session.hpp"

namespace mobilellm::cli {
namespace {

constexpr const char* kUsage = R"(usage: mobilellm generate [-m MODEL] -p PROMPT [options]

Generates a continuation of PROMPT. Only the generated text is written to stdout, as it is
produced; timing and the finish reason go to stderr.

options:
  -m, --model PATH         model file (default: the bundled model, models/README.md; looked for
                           in <prefix>/share/mobilellm/models and the source tree's models/)
  -p, --prompt TEXT        prompt (may be empty: generation then starts from BOS alone)
  -f, --file PATH          read the prompt from a file instead
  -n, --n-predict N        maximum tokens to generate (default 128)
  -c, --ctx-size N         context length (default: the model's)
  --cache-type TYPE        KV cache element type: f32 (default) or f16 (half the memory; keys
                           and values rounded to float16, attention computed in float32)
  --temp T                 temperature (default 0.8); 0 = greedy
  --top-k K                keep the K most likely tokens (default 40; 0 = off)
  --top-p P                nucleus sampling threshold (default 0.95; 1 = off)
  --min-p P                drop tokens below P x the best one's probability (default 0.05; 0 = off)
  --repeat-penalty R       penalty for repeated tokens (default 1.0 = off)
  --repeat-last-n N        tokens the penalties look back over (default 64; -1 = all)
  --presence-penalty P     subtracted once from seen tokens' logits (default 0)
  --frequency-penalty P    subtracted per occurrence (default 0)
  -s, --seed S             random seed (default: random, printed to stderr)
  --stop STR               stop when STR is generated (repeatable; STR is not printed)
  --ignore-eos             keep generating past the end-of-sequence token
  --no-bos                 do not prepend BOS to the prompt
  --truncate-prompt        drop the oldest prompt tokens if the prompt does not fit the context
  -t, --threads N          compute threads (default 0 = all cores)
  --kernels NAME       W8A8 kernels to use (scalar, avx2, avx512vnni, neon, neondot, neoni8mm;
                       default: the best this CPU supports; env MOBILELLM_KERNELS)
)";

}  // namespace

int run_generate(const Args& args) {
  std::string model_path, prompt;
  bool have_prompt = false;
  std::int64_t threads = 0;
  LoadOptions load;
  std::int64_t ctx = 0;
  KvType cache_type = KvType::f32;
  std::optional<std::uint64_t> seed;
  GenerationConfig gc;
  ArgCursor c(args);
  while (!c.done()) {
    if (c.flag({"-h", "--help"})) {
      fmt::print("{}", kUsage);
      return 0;
    } else if (auto v = c.option({"-m", "--model"})) {
      model_path = *v;
    } else if (auto v = c.option({"-p", "--prompt"})) {
      prompt = *v;
      have_prompt = true;
    } else if (auto v = c.option({"-f", "--file"})) {
      prompt = read_text_file(*v, 64ull << 20);
      have_prompt = true;
    } else if (auto v = c.option({"-n", "--n-predict"})) {
      gc.max_new_tokens = std::uint32_t(parse_int("-n", *v, 0, INT32_MAX));
    } else if (auto v = c.option({"--kernels"})) {
      load.kernels = *v;
    } else if (auto v = c.option({"-t", "--threads"})) {
      threads = parse_int("--threads", *v, 0, 1024);
    } else if (auto v = c.option({"-c", "--ctx-size"})) {
      ctx = parse_int("-c", *v, 0, INT32_MAX);
    } else if (auto v = c.option({"--cache-type"})) {
      cache_type = parse_cache_type("--cache-type", *v);
    } else if (auto v = c.option({"--temp", "--temperature"})) {
      gc.sampling.temperature = float(parse_double("--temp", *v));
    } else if (auto v = c.option({"--top-k"})) {
      gc.sampling.top_k = std::int32_t(parse_int("--top-k", *v, INT32_MIN, INT32_MAX));
    } else if (auto v = c.option({"--top-p"})) {
      gc.sampling.top_p = float(parse_double("--top-p", *v));
    } else if (auto v = c.option({"--min-p"})) {
      gc.sampling.min_p = float(parse_double("--min-p", *v));
    } else if (auto v = c.option({"--repeat-penalty"})) {
      gc.sampling.repeat_penalty = float(parse_double("--repeat-penalty", *v));
    } else if (auto v = c.option({"--repeat-last-n"})) {
      gc.sampling.penalty_last_n = std::int32_t(parse_int("--repeat-last-n", *v, INT32_MIN, INT32_MAX));
    } else if (auto v = c.option({"--presence-penalty"})) {
      gc.sampling.presence_penalty = float(parse_double("--presence-penalty", *v));
    } else if (auto v = c.option({"--frequency-penalty"})) {
      gc.sampling.frequency_penalty = float(parse_double("--frequency-penalty", *v));
    } else if (auto v = c.option({"-s", "--seed"})) {
      seed = std::uint64_t(parse_int("--seed", *v, 0, INT64_MAX));
    } else if (auto v = c.option({"--stop"})) {
      gc.stop.push_back(*v);
    } else if (c.flag({"--ignore-eos"})) {
      gc.stop_at_eos = false;
    } else if (c.flag({"--no-bos"})) {
      gc.add_bos = false;
    } else if (c.flag({"--truncate-prompt"})) {
      gc.prompt_overflow = PromptOverflow::truncate_left;
    } else {
      throw UsageError{"unexpected argument '" + c.peek() + "'"};
    }
  }
  if (!have_prompt) throw UsageError{"missing -p PROMPT (use -p \"\" to start from BOS alone)"};
  gc.sampling.seed = seed ? *seed : std::random_device{}();
  gc.sampling.validate();  // report bad sampling flags before loading the model
  if (model_path.empty()) model_path = default_model_path();

  auto model = Model::load(model_path, load);
  Session session(model, SessionOptions{std::uint32_t(ctx), unsigned(threads), cache_type});
  GenerationResult r = session.generate(prompt, gc, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);

  const Stats& s = r.stats;
  fmt::print(stderr,
             "\n[finish: {}] seed {} | load {:.1f} ms | prompt {} tokens, {:.1f} tok/s | "
             "first token {:.1f} ms | generated {} tokens, decode {:.1f} tok/s | KV cache {:.1f} MiB | "
             "kernels: {}\n",
             finish_reason_name(r.finish_reason), gc.sampling.seed, s.load_seconds * 1e3,
             s.prompt_tokens, s.prefill_tokens_per_second(), s.time_to_first_token * 1e3,
             s.generated_tokens, s.decode_tokens_per_second(), double(s.kv_cache_bytes) / (1 << 20),
             s.kernels);
  return 0;
}

}  // namespace mobilellm::cli
