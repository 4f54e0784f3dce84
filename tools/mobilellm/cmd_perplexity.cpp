// mobilellm perplexity [-m MODEL] -f TEXT [-c CTX]
#include <cmath>
#include <vector>

#include <fmt/core.h>

#include "cli.hpp"
#include "common/file.hpp"
#include "default_model.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/session.hpp"
#include "mobilellm/tokenizer.hpp"

namespace mobilellm::cli {
namespace {

constexpr const char* kUsage = R"(usage: mobilellm perplexity [-m MODEL] -f TEXT [-c CTX]

Perplexity of the model on a text file. The file is tokenized as a whole (no BOS) and cut into
consecutive windows of CTX - 1 tokens; each window is evaluated after a BOS token, and every text
token is scored by the model's probability given the BOS and the window's tokens before it.
perplexity = exp(mean negative log-likelihood over all text tokens). The last line printed is
`perplexity: X`.

options:
  -m, --model PATH     model file (default: the bundled model, as for `generate`)
  -f, --file PATH      text file (UTF-8)
  -c, --ctx-size N     window length including BOS (default: the model's context length)
  --cache-type TYPE    KV cache element type: f32 (default) or f16 (half the memory; keys and
                       values rounded to float16, attention computed in float32)
  -b, --batch N        tokens per forward call (default 64)
  -t, --threads N      compute threads (default 0 = all cores)
  --kernels NAME       W8A8 kernels to use (scalar, avx2, avx512vnni, neon, neondot, neoni8mm;
                       default: the best this CPU supports; env MOBILELLM_KERNELS)
)";

}  // namespace

int run_perplexity(const Args& args) {
  std::string model_path, text_path;
  std::int64_t threads = 0;
  LoadOptions load;
  std::int64_t ctx = 0, batch = 64;
  KvType cache_type = KvType::f32;
  ArgCursor c(args);
  while (!c.done()) {
    if (c.flag({"-h", "--help"})) {
      fmt::print("{}", kUsage);
      return 0;
    } else if (auto v = c.option({"-m", "--model"})) {
      model_path = *v;
    } else if (auto v = c.option({"-f", "--file"})) {
      text_path = *v;
    } else if (auto v = c.option({"--kernels"})) {
      load.kernels = *v;
    } else if (auto v = c.option({"-t", "--threads"})) {
      threads = parse_int("--threads", *v, 0, 1024);
    } else if (auto v = c.option({"-c", "--ctx-size"})) {
      ctx = parse_int("-c", *v, 2, INT32_MAX);
    } else if (auto v = c.option({"--cache-type"})) {
      cache_type = parse_cache_type("--cache-type", *v);
    } else if (auto v = c.option({"-b", "--batch"})) {
      batch = parse_int("-b", *v, 1, 1 << 16);
    } else {
      throw UsageError{"unexpected argument '" + c.peek() + "'"};
    }
  }
  if (text_path.empty()) throw UsageError{"missing -f TEXT"};
  if (model_path.empty()) model_path = default_model_path();

  auto model = Model::load(model_path, load);
  const Tokenizer& tok = model->tokenizer();
  if (tok.bos() < 0) throw UnsupportedError(model_path + ": the vocabulary has no BOS token");
  const std::vector<std::int32_t> ids = tok.encode(read_text_file(text_path, 1ull << 30), false);
  if (ids.empty()) throw InvalidArgument(text_path + ": the text has no tokens");

  Session session(model, SessionOptions{std::uint32_t(ctx), unsigned(threads), cache_type});
  const std::size_t window = session.context_length() - 1;
  const std::size_t V = model->config().vocab_size;
  double nll = 0.0;
  std::size_t scored = 0;
  std::vector<std::int32_t> seq;
  std::vector<float> logits;
  for (std::size_t start = 0; start < ids.size(); start += window) {
    const std::size_t n = std::min(window, ids.size() - start);
    seq.assign(1, tok.bos());
    seq.insert(seq.end(), ids.begin() + std::ptrdiff_t(start), ids.begin() + std::ptrdiff_t(start + n));
    session.reset();
    // Position p's logits predict seq[p + 1]; evaluate in batches of `batch` tokens.
    for (std::size_t p = 0; p < n; p += std::size_t(batch)) {
      const std::size_t m = std::min(std::size_t(batch), n - p);
      session.evaluate(std::span<const std::int32_t>(seq).subspan(p, m), logits);
      for (std::size_t i = 0; i < m; ++i) {
        const float* row = logits.data() + i * V;
        double mx = row[0];
        for (std::size_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
        double sum = 0.0;
        for (std::size_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
        nll -= double(row[seq[p + i + 1]]) - mx - std::log(sum);
        ++scored;
      }
    }
    fmt::print(stderr, "[{}/{}] tokens scored, running perplexity {:.4f}\n", scored, ids.size(),
               std::exp(nll / double(scored)));
  }
  fmt::print("tokens: {}\n", scored);
  fmt::print("perplexity: {:.6f}\n", std::exp(nll / double(scored)));
  return 0;
}

}  // namespace mobilellm::cli
