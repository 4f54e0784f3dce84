// mobilellm logits -m MODEL --tokens 1,2,3 [--batch N] [-c CTX] -o OUT.npy
// Writes the float32 logits of every position as a [T, vocab] .npy array. --batch is how many
// tokens each forward call takes (1 = token by token through the KV cache; 0 = all at once).
#include <cstdint>
#include <vector>

#include <fmt/core.h>

#include "cli.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/session.hpp"
#include "npy.hpp"

namespace mobilellm::cli {
namespace {

constexpr const char* kUsage = R"(usage: mobilellm logits -m MODEL --tokens ID,ID,... -o OUT.npy [options]

Evaluates the token ids and writes the logits of every position as a float32 NumPy array of
shape [T, vocab]. Used to check the runtime against reference implementations.

options:
  -m, --model PATH     model file
  --tokens LIST        comma-separated token ids (no BOS is added)
  --batch N            tokens per forward call; 1 = token by token through the KV cache,
                       0 (default) = the whole sequence in one call
  -c, --ctx-size N     context length of the session (default: the model's)
  --cache-type TYPE    KV cache element type: f32 (default) or f16 (half the memory; keys and
                       values rounded to float16, attention computed in float32)
  -o, --output PATH    output .npy file (written atomically)
  -t, --threads N      compute threads (default 0 = all cores)
  --kernels NAME       W8A8 kernels to use (scalar, avx2, avx512vnni, neon, neondot, neoni8mm;
                       default: the best this CPU supports; env MOBILELLM_KERNELS)
)";

std::vector<std::int32_t> parse_ids(const std::string& s) {
  std::vector<std::int32_t> ids;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    ids.push_back(std::int32_t(parse_int("--tokens", s.substr(i, j - i), 0, INT32_MAX)));
    i = j + 1;
  }
  return ids;
}

}  // namespace

int run_logits(const Args& args) {
  std::string model_path, out_path;
  std::vector<std::int32_t> tokens;
  std::int64_t batch = 0, ctx = 0, threads = 0;
  LoadOptions load;
  KvType cache_type = KvType::f32;
  ArgCursor c(args);
  while (!c.done()) {
    if (c.flag({"-h", "--help"})) {
      fmt::print("{}", kUsage);
      return 0;
    } else if (auto v = c.option({"-m", "--model"})) {
      model_path = *v;
    } else if (auto v = c.option({"--tokens"})) {
      tokens = parse_ids(*v);
    } else if (auto v = c.option({"--batch", "-b"})) {
      batch = parse_int("--batch", *v, 0, INT32_MAX);
    } else if (auto v = c.option({"--kernels"})) {
      load.kernels = *v;
    } else if (auto v = c.option({"-t", "--threads"})) {
      threads = parse_int("--threads", *v, 0, 1024);
    } else if (auto v = c.option({"-c", "--ctx-size"})) {
      ctx = parse_int("--ctx-size", *v, 0, INT32_MAX);
    } else if (auto v = c.option({"--cache-type"})) {
      cache_type = parse_cache_type("--cache-type", *v);
    } else if (auto v = c.option({"-o", "--output"})) {
      out_path = *v;
    } else {
      throw UsageError{"unexpected argument '" + c.peek() + "'"};
    }
  }
  if (model_path.empty()) throw UsageError{"missing -m MODEL"};
  if (tokens.empty()) throw UsageError{"missing --tokens"};
  if (out_path.empty()) throw UsageError{"missing -o OUT.npy"};

  auto model = Model::load(model_path, load);
  Session session(model, SessionOptions{std::uint32_t(ctx), unsigned(threads), cache_type});
  const std::size_t V = model->config().vocab_size;
  const std::size_t step = batch == 0 ? tokens.size() : std::size_t(batch);
  std::vector<float> all(tokens.size() * V), part;
  for (std::size_t i = 0; i < tokens.size(); i += step) {
    const std::size_t n = std::min(step, tokens.size() - i);
    session.evaluate(std::span<const std::int32_t>(tokens).subspan(i, n), part);
    std::copy(part.begin(), part.end(), all.begin() + std::ptrdiff_t(i * V));
  }
  write_npy_f32(out_path, all, {tokens.size(), V});
  fmt::print(stderr, "wrote {} logits [{}, {}] to {}\n", tokens.size() * V, tokens.size(), V, out_path);
  return 0;
}

}  // namespace mobilellm::cli
