// mobilellm convert HF_DIR -o OUT.gguf [--type source|f32|f16|bf16|w8a8|w8a8g32]
//                   [--layer-sharing on|off]
//                   [--embedding-sharing on|off] [--name NAME] [-q]
#include <chrono>
#include <cstdio>

#include <fmt/core.h>

#include "cli.hpp"
#include "mobilellm/convert.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::cli {
namespace {

constexpr const char* kUsage = R"(usage: mobilellm convert HF_DIR -o OUT.gguf [options]

Converts a Hugging Face MobileLLM / LLaMA checkpoint folder (config.json; model.safetensors,
sharded safetensors or pytorch_model.bin; tokenizer.model or tokenizer.json) into one model file.
The output is written to a temporary file next to OUT and renamed when complete.

options:
  -o, --output PATH          output model file (required)
  --type T                   source (default: keep the checkpoint's float type), f32, f16, bf16,
                             w8a8 (int8 weight rows with one float scale per row), or w8a8g32
                             (int8 weights with one float scale per 32 elements of a row, and
                             activations quantized per 32 too; see models/README.md)
  --layer-sharing on|off     override config.json: each stored block is applied twice in a row
  --embedding-sharing on|off override config.json: the output head is the token embedding
  --name NAME                general.name (default: the folder's name)
  -q, --quiet                no progress and no report
)";

bool parse_on_off(const std::string& flag, const std::string& v) {
  if (v == "on" || v == "true" || v == "1") return true;
  if (v == "off" || v == "false" || v == "0") return false;
  throw UsageError{flag + " expects on or off, got '" + v + "'"};
}

}  // namespace

int run_convert(const Args& args) {
  ConvertOptions opt;
  bool quiet = false;
  ArgCursor c(args);
  while (!c.done()) {
    if (c.flag({"-h", "--help"})) {
      fmt::print("{}", kUsage);
      return 0;
    } else if (c.flag({"-q", "--quiet"})) {
      quiet = true;
    } else if (auto v = c.option({"-o", "--output"})) {
      opt.output_path = *v;
    } else if (auto v = c.option({"--type", "--outtype"})) {
      opt.w8a8_group_size = 0;  // the last --type decides
      if (*v == "source") opt.type = OutputType::source;
      else if (*v == "f32") opt.type = OutputType::f32;
      else if (*v == "f16") opt.type = OutputType::f16;
      else if (*v == "bf16") opt.type = OutputType::bf16;
      else if (*v == "w8a8") opt.type = OutputType::w8a8;
      else if (*v == "w8a8g32") {
        opt.type = OutputType::w8a8;
        opt.w8a8_group_size = 32;
      } else {
        throw UsageError{"--type expects source, f32, f16, bf16, w8a8 or w8a8g32, got '" + *v + "'"};
      }
    } else if (auto v = c.option({"--layer-sharing"})) {
      opt.layer_sharing = parse_on_off("--layer-sharing", *v);
    } else if (auto v = c.option({"--embedding-sharing"})) {
      opt.embedding_sharing = parse_on_off("--embedding-sharing", *v);
    } else if (auto v = c.option({"--name"})) {
      opt.name = *v;
    } else if (opt.input_dir.empty()) {
      opt.input_dir = c.positional();
    } else {
      throw UsageError{"unexpected argument '" + c.peek() + "'"};
    }
  }
  if (opt.input_dir.empty()) throw UsageError{"missing HF_DIR"};
  if (opt.output_path.empty()) throw UsageError{"missing -o OUT.gguf"};

  const bool show_progress = !quiet && stderr_is_terminal();
  if (show_progress) {
    opt.progress = [](std::size_t i, std::size_t n, std::uint64_t done, std::uint64_t total,
                      const std::string& name) {
      const double pct = total ? 100.0 * double(done) / double(total) : 100.0;
      fmt::print(stderr, "\r\033[K[{:3}/{:3}] {:5.1f}%  {}", i, n, pct, name);
      if (i == n) fmt::print(stderr, "\n");
      std::fflush(stderr);
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  ConvertReport r = convert_checkpoint(opt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) {
    const auto& k = r.config;
    fmt::print(stderr, "wrote {} ({:.1f} MB, {} tensors, {:.2f} M parameters, {}) in {:.2f} s\n",
               r.output_path, double(r.file_size) / 1e6, r.tensor_count,
               double(r.parameter_count) / 1e6, r.weight_type, secs);
    fmt::print(stderr,
               "  model: {} blocks{} x (embedding {}, {} heads / {} kv heads of {}, ffn {}), "
               "vocab {}, context {}\n",
               k.block_count, k.layer_sharing ? fmt::format(" (applied {})", k.applied_block_count()) : "",
               k.embedding_length, k.head_count, k.head_count_kv, k.head_dim, k.feed_forward_length,
               k.vocab_size, k.context_length);
    fmt::print(stderr, "  weights from {}, tokenizer from {}\n", r.weights_source, r.tokenizer_source);
    for (const auto& n : r.notes) fmt::print(stderr, "  {}\n", n);
  }
  return 0;
}

}  // namespace mobilellm::cli
