// Synthetic models (see include/mobilellm/synthetic.hpp): an official MobileLLM shape filled with
// seeded random weights and a generated vocabulary, streamed through gguf::Writer.
#include "mobilellm/synthetic.hpp"

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/core.h>

#include "common/half.hpp"
#include "format/gguf.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

// One official shape. The numbers are those of facebookresearch/MobileLLM configs/<name>/
// config.json (tests/unit/test_synthetic.cpp checks them against ../shared when it is present);
// every shape has a 32000-token vocabulary, 2048 positions, rope theta 1e4, RMSNorm eps 1e-5,
// initializer_range 0.02 and head_dim = hidden_size / num_attention_heads = 64.
constexpr SyntheticShape official(const char* name, std::uint32_t hidden, std::uint32_t ffn,
                                  std::uint32_t layers, std::uint32_t heads,
                                  std::uint32_t kv_heads) {
  ModelConfig c;
  c.vocab_size = 32000;
  c.embedding_length = hidden;
  c.feed_forward_length = ffn;
  c.block_count = layers;
  c.head_count = heads;
  c.head_count_kv = kv_heads;
  c.head_dim = hidden / heads;
  c.context_length = 2048;
  c.rope_freq_base = 10000.0f;
  c.rms_norm_eps = 1e-5f;
  c.layer_sharing = false;
  c.embedding_sharing = true;
  return SyntheticShape{name, c, 0.02f, true};
}

constexpr SyntheticShape tiny() {
  ModelConfig c;
  c.vocab_size = 512;
  c.embedding_length = 64;
  c.feed_forward_length = 160;
  c.block_count = 2;
  c.head_count = 4;
  c.head_count_kv = 2;
  c.head_dim = 16;
  c.context_length = 512;
  c.rope_freq_base = 10000.0f;
  c.rms_norm_eps = 1e-5f;
  c.layer_sharing = false;
  c.embedding_sharing = true;
  return SyntheticShape{"tiny", c, 0.02f, false};
}

// clang-format off
constexpr std::array<SyntheticShape, 6> kShapes{
    //       name    hidden  ffn  layers heads kv heads
    official("125M",  576,  1536, 30,    9,    3),
    official("350M",  960,  2560, 32,    15,   5),
    official("600M",  1152, 3072, 40,    18,   6),
    official("1B",    1280, 3584, 54,    20,   5),
    official("1.5B",  1600, 4352, 54,    25,   5),
    tiny(),
};
// clang-format on

// xoshiro256** seeded through splitmix64: fast, and the same stream on every platform.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t sm = seed ^ (0xd1b54a32d192ed03ull * (stream + 1));
    for (auto& w : s_) w = splitmix64(sm);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

// Uniform floats in [-bound, bound): 24 random bits each, two per generator step.
void fill_uniform(Rng& rng, float bound, std::size_t n, float* out) {
  constexpr float kUnit = 1.0f / 16777216.0f;  // 2^-24
  std::size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const std::uint64_t r = rng.next();
    out[i] = (float(std::uint32_t(r >> 40)) * kUnit * 2.0f - 1.0f) * bound;
    out[i + 1] = (float(std::uint32_t(r >> 8) & 0xffffffu) * kUnit * 2.0f - 1.0f) * bound;
  }
  if (i < n) out[i] = (float(std::uint32_t(rng.next() >> 40)) * kUnit * 2.0f - 1.0f) * bound;
}

// Uniform int8 values in [-127, 127]: four 16-bit draws per generator step.
void fill_int8(Rng& rng, std::size_t n, std::int8_t* out) {
  std::size_t i = 0;
  while (i < n) {
    std::uint64_t r = rng.next();
    for (int j = 0; j < 4 && i < n; ++j, ++i, r >>= 16)
      out[i] = static_cast<std::int8_t>(int(((r & 0xffffu) * 255u) >> 16) - 127);
  }
}

// A random matrix (or vector) in `type`, drawn from its own stream.
void fill_weights(TensorType type, float bound, std::uint64_t seed, std::uint64_t stream,
                  std::span<std::byte> out) {
  Rng rng(seed, stream);
  switch (type) {
    case TensorType::f32:
      fill_uniform(rng, bound, out.size() / 4, reinterpret_cast<float*>(out.data()));
      return;
    case TensorType::f16:
    case TensorType::bf16: {
      std::vector<float> row(4096);
      const std::size_t n = out.size() / 2;
      for (std::size_t i = 0; i < n; i += row.size()) {
        const std::size_t k = std::min(row.size(), n - i);
        fill_uniform(rng, bound, k, row.data());
        for (std::size_t j = 0; j < k; ++j) {
          const std::uint16_t h =
              type == TensorType::f16 ? f32_to_f16(row[j]) : f32_to_bf16(row[j]);
          std::memcpy(out.data() + 2 * (i + j), &h, 2);
        }
      }
      return;
    }
    case TensorType::i8:
      fill_int8(rng, out.size(), reinterpret_cast<std::int8_t*>(out.data()));
      return;
  }
}

void fill_constant(float value, std::span<std::byte> out) {
  for (std::size_t i = 0; i < out.size(); i += 4) std::memcpy(out.data() + i, &value, 4);
}

// <unk>, <s>, </s>, the 256 byte tokens, then every string over {▁, '!'..'~'} by length and in
// order (1 character, then 2, ...), each scored below the previous so shorter pieces merge first.
Vocabulary synthetic_vocabulary(std::uint32_t size) {
  Vocabulary v;
  auto add = [&](std::string piece, float score, TokenType type) {
    v.pieces.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0.0f, TokenType::unknown);
  add("<s>", 0.0f, TokenType::control);
  add("</s>", 0.0f, TokenType::control);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0.0f, TokenType::byte);
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;

  std::vector<std::string> alphabet{"\xE2\x96\x81"};  // U+2581, SentencePiece's space
  for (char c = '!'; c <= '~'; ++c) alphabet.emplace_back(1, c);
  std::unordered_set<std::string> taken(v.pieces.begin(), v.pieces.end());
  std::vector<std::size_t> digits{0};  // the next string, as indices into the alphabet
  float score = -1.0f;
  while (v.pieces.size() < size) {
    std::string piece;
    for (std::size_t d : digits) piece += alphabet[d];
    if (taken.insert(piece).second) add(piece, score--, TokenType::normal);
    std::size_t i = digits.size();  // increment, growing by one digit after the last string
    while (i > 0 && ++digits[i - 1] == alphabet.size()) digits[--i] = 0;
    if (i == 0) digits.insert(digits.begin(), 0);
  }
  return v;
}

TensorType matrix_type(OutputType t) {
  switch (t) {
    case OutputType::source:
    case OutputType::f32: return TensorType::f32;
    case OutputType::f16: return TensorType::f16;
    case OutputType::bf16: return TensorType::bf16;
    case OutputType::w8a8: return TensorType::i8;
  }
  throw InvalidArgument("synthetic model: unsupported output type");
}

}  // namespace

std::span<const SyntheticShape> synthetic_shapes() { return kShapes; }

const SyntheticShape* find_synthetic_shape(std::string_view name) {
  for (const auto& s : kShapes)
    if (name == s.name) return &s;
  return nullptr;
}

ConvertReport write_synthetic_model(const SyntheticOptions& opt) {
  const SyntheticShape* shape = find_synthetic_shape(opt.shape);
  if (!shape) {
    std::string names;
    for (const auto& s : kShapes) names += std::string(names.empty() ? "" : ", ") + s.name;
    throw InvalidArgument("synthetic model: unknown shape '" + opt.shape + "' (known: " + names +
                          ")");
  }
  if (opt.output_path.empty()) throw InvalidArgument("synthetic model: no output path given");
  ModelConfig cfg = shape->config;
  cfg.layer_sharing = opt.layer_sharing;
  const TensorType mtype = matrix_type(opt.type);
  const std::string weight_type = mtype == TensorType::i8 ? "W8A8" : tensor_type_name(mtype);
  const float bound = shape->initializer_std * std::sqrt(3.0f);  // uniform with that std
  const Vocabulary vocab = synthetic_vocabulary(cfg.vocab_size);

  gguf::Writer out;
  out.set_alignment(gguf::kDefaultAlignment);
  const std::string name = fmt::format("synthetic MobileLLM-{}{} {}",
                                       cfg.layer_sharing ? "LS-" : "", shape->name, weight_type);
  out.add_string("general.architecture", "mobilellm");
  out.add_string("general.name", name);
  out.add_string("general.description",
                 fmt::format("random weights, not a trained model: for benchmarks only (mobilellm "
                             "synthetic generator v{}, seed {})",
                             kSyntheticGeneratorVersion, opt.seed));
  out.add_u32("general.alignment", std::uint32_t(gguf::kDefaultAlignment));
  out.add_u32("mobilellm.vocab_size", cfg.vocab_size);
  out.add_u32("mobilellm.context_length", cfg.context_length);
  out.add_u32("mobilellm.embedding_length", cfg.embedding_length);
  out.add_u32("mobilellm.feed_forward_length", cfg.feed_forward_length);
  out.add_u32("mobilellm.block_count", cfg.block_count);
  out.add_u32("mobilellm.attention.head_count", cfg.head_count);
  out.add_u32("mobilellm.attention.head_count_kv", cfg.head_count_kv);
  out.add_u32("mobilellm.attention.key_length", cfg.head_dim);
  out.add_u32("mobilellm.attention.value_length", cfg.head_dim);
  out.add_u32("mobilellm.rope.dimension_count", cfg.head_dim);
  out.add_f32("mobilellm.rope.freq_base", cfg.rope_freq_base);
  out.add_f32("mobilellm.attention.layer_norm_rms_epsilon", cfg.rms_norm_eps);
  out.add_bool("mobilellm.layer_sharing", cfg.layer_sharing);
  out.add_bool("mobilellm.embedding_sharing", cfg.embedding_sharing);
  out.add_string("mobilellm.weight_type", weight_type);
  out.add_string("tokenizer.ggml.model", vocab.model);
  out.add_string_array("tokenizer.ggml.tokens", vocab.pieces);
  out.add_f32_array("tokenizer.ggml.scores", vocab.scores);
  std::vector<std::int32_t> types;
  for (TokenType t : vocab.types) types.push_back(static_cast<std::int32_t>(t));
  out.add_i32_array("tokenizer.ggml.token_type", types);
  out.add_u32("tokenizer.ggml.bos_token_id", std::uint32_t(vocab.bos_id));
  out.add_u32("tokenizer.ggml.eos_token_id", std::uint32_t(vocab.eos_id));
  out.add_u32("tokenizer.ggml.unknown_token_id", std::uint32_t(vocab.unk_id));
  out.add_bool("tokenizer.ggml.add_bos_token", true);
  out.add_bool("tokenizer.ggml.add_eos_token", false);
  out.add_bool("tokenizer.ggml.add_space_prefix", true);

  ConvertReport report;
  std::vector<std::uint64_t> sizes;  // bytes of each tensor, in file order, for progress
  const std::uint64_t seed = opt.seed;
  auto add_norm = [&](const std::string& tname) {
    sizes.push_back(4ull * cfg.embedding_length);
    report.parameter_count += cfg.embedding_length;
    out.add_tensor(tname, TensorType::f32, {cfg.embedding_length},
                   [](std::span<std::byte> dst) { fill_constant(1.0f, dst); });
  };
  // `rows` x `cols` (PyTorch [out, in]); each matrix draws from its own stream (its index).
  auto add_matrix = [&](const std::string& tname, std::uint64_t rows, std::uint64_t cols) {
    const std::uint64_t stream = sizes.size();
    sizes.push_back(rows * cols * tensor_type_size(mtype));
    report.parameter_count += rows * cols;
    out.add_tensor(tname + ".weight", mtype, {cols, rows},
                   [mtype, bound, seed, stream](std::span<std::byte> dst) {
                     fill_weights(mtype, bound, seed, stream, dst);
                   });
    if (mtype == TensorType::i8) {  // uniform int8 in [-127, 127] x bound / 127: the same range
      sizes.push_back(4 * rows);
      out.add_tensor(tname + ".scale", TensorType::f32, {rows},
                     [bound](std::span<std::byte> dst) { fill_constant(bound / 127.0f, dst); });
    }
  };
  const std::uint64_t E = cfg.embedding_length, F = cfg.feed_forward_length, V = cfg.vocab_size;
  const std::uint64_t Dq = std::uint64_t(cfg.head_count) * cfg.head_dim;
  const std::uint64_t Dkv = std::uint64_t(cfg.head_count_kv) * cfg.head_dim;
  add_matrix("token_embd", V, E);
  for (std::uint32_t i = 0; i < cfg.block_count; ++i) {
    const std::string b = fmt::format("blk.{}.", i);
    add_norm(b + "attn_norm.weight");
    add_matrix(b + "attn_q", Dq, E);
    add_matrix(b + "attn_k", Dkv, E);
    add_matrix(b + "attn_v", Dkv, E);
    add_matrix(b + "attn_output", E, Dq);
    add_norm(b + "ffn_norm.weight");
    add_matrix(b + "ffn_gate", F, E);
    add_matrix(b + "ffn_up", F, E);
    add_matrix(b + "ffn_down", E, F);
  }
  add_norm("output_norm.weight");

  std::uint64_t total_bytes = 0, done_bytes = 0;
  for (auto b : sizes) total_bytes += b;
  out.write(opt.output_path, [&](std::size_t i, std::size_t n, const std::string& tname) {
    if (i > 0) done_bytes += sizes[i - 1];
    if (opt.progress) opt.progress(i, n, done_bytes, total_bytes, tname);
  });
  if (opt.progress) opt.progress(sizes.size(), sizes.size(), total_bytes, total_bytes, "");

  report.output_path = opt.output_path;
  report.file_size = std::filesystem::file_size(opt.output_path);
  report.tensor_count = sizes.size();
  report.config = cfg;
  report.weights_source =
      fmt::format("synthetic: uniform random, std {}, seed {}", shape->initializer_std, opt.seed);
  report.tokenizer_source = "synthetic vocabulary";
  report.weight_type = weight_type;
  report.notes.push_back(name);
  return report;
}

}  // namespace mobilellm
