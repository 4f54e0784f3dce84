// Test helper: builds small, valid mobilellm model files (models/README.md) with random weights.
//
// A ModelBuilder holds a whole model as two editable lists, key-value pairs and tensors, filled
// from a ModelSpec. Tests mutate those lists (change a value's type or value, drop a key, change a
// tensor's dims or type, add a tensor) and serialize through gguf::Writer, which only ever writes
// well-formed containers. For container-level corruption, serialize to bytes and patch them: the
// returned gguf::Layout gives the offset of every field.
//
//   mobilellm::test::ModelBuilder b({.layer_sharing = true, .weight_type = "W8A8"});
//   b.set("mobilellm.attention.head_count_kv", gguf::Value::u32(3));
//   auto path = mobilellm::test::tmp_path("bad_heads.gguf");
//   b.write(path);                                     // ModelFile::open(path) now throws
//
//   std::vector<std::uint8_t> bytes;
//   gguf::Layout layout = b.serialize(bytes);
//   mobilellm::test::patch_u32(bytes, layout.tensors[0].type_offset(), 99);
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/half.hpp"
#include "format/gguf.hpp"
#include "mobilellm/model_file.hpp"
#include "mobilellm/vocabulary.hpp"

namespace mobilellm::test {

// A path inside MOBILELLM_TEST_TMPDIR (created on first use).
inline std::string tmp_path(const std::string& name) {
  std::filesystem::create_directories(MOBILELLM_TEST_TMPDIR);
  return (std::filesystem::path(MOBILELLM_TEST_TMPDIR) / name).string();
}

// Hyper-parameters and options of a generated model. The defaults are a tiny GQA model.
struct ModelSpec {
  std::uint32_t vocab_size = 64;  // at least 4: <unk> <s> </s> <pad>, then generated pieces
  std::uint32_t embedding_length = 32;
  std::uint32_t feed_forward_length = 80;
  std::uint32_t block_count = 2;
  std::uint32_t head_count = 4;
  std::uint32_t head_count_kv = 2;
  std::uint32_t head_dim = 8;
  std::uint32_t context_length = 64;
  float rope_freq_base = 10000.0f;
  float rms_norm_eps = 1e-5f;
  bool layer_sharing = false;
  bool embedding_sharing = true;
  std::string weight_type = "F32";  // "F32", "F16", "BF16" or "W8A8"
  bool merges = false;              // write tokenizer.ggml.merges ("▁ a" -> "▁a", ...)
  bool padding_token = false;       // write tokenizer.ggml.padding_token_id (= 3, "<pad>")
  std::string name = "test-model";
  std::uint64_t seed = 1;
};

// One tensor: GGUF dims (dims[0] fastest) and its little-endian bytes.
struct BuiltTensor {
  std::string name;
  TensorType type = TensorType::f32;
  std::vector<std::uint64_t> dims;
  std::vector<std::byte> data;
};

// The vocabulary a ModelSpec generates (also what a loaded model must report).
inline Vocabulary make_vocabulary(const ModelSpec& spec) {
  if (spec.vocab_size < 4) throw std::invalid_argument("ModelSpec::vocab_size must be >= 4");
  Vocabulary v;
  auto add = [&](std::string piece, TokenType type) {
    if (v.pieces.size() >= spec.vocab_size) return;
    v.scores.push_back(type == TokenType::normal ? -static_cast<float>(v.pieces.size()) : 0.0f);
    v.pieces.push_back(std::move(piece));
    v.types.push_back(type);
  };
  add("<unk>", TokenType::unknown);
  add("<s>", TokenType::control);
  add("</s>", TokenType::control);
  add("<pad>", TokenType::control);
  const std::string space = "\xe2\x96\x81";  // U+2581, SentencePiece's word-boundary mark
  add(space, TokenType::normal);
  for (char ch = 'a'; ch <= 'z'; ++ch) add(std::string(1, ch), TokenType::normal);
  for (char ch = 'a'; ch <= 'z'; ++ch) {
    add(space + ch, TokenType::normal);
    // Merges only for pieces that made it into the vocabulary.
    if (spec.merges && v.pieces.back() == space + ch) v.merges.push_back(space + " " + ch);
  }
  while (v.pieces.size() < spec.vocab_size) add("x" + std::to_string(v.pieces.size()), TokenType::normal);
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  v.pad_id = spec.padding_token ? 3 : -1;
  v.add_bos = true;
  v.add_eos = false;
  v.add_space_prefix = true;
  return v;
}

class ModelBuilder {
 public:
  explicit ModelBuilder(ModelSpec spec = {}) : spec_(std::move(spec)), rng_(spec_.seed) {
    add_metadata();
    add_tensors();
  }

  const ModelSpec& spec() const { return spec_; }

  // The model, in file order. Edit freely; the writer checks only container-level rules.
  std::vector<std::pair<std::string, gguf::Value>> kvs;
  std::vector<BuiltTensor> tensors;

  gguf::Value* kv(std::string_view key) {
    for (auto& [k, v] : kvs)
      if (k == key) return &v;
    return nullptr;
  }
  // Replaces the value of `key` in place, or appends the pair.
  void set(const std::string& key, gguf::Value value) {
    if (gguf::Value* v = kv(key)) *v = std::move(value);
    else kvs.emplace_back(key, std::move(value));
  }
  bool erase(std::string_view key) {
    return std::erase_if(kvs, [&](const auto& p) { return p.first == key; }) > 0;
  }
  BuiltTensor* tensor(std::string_view name) {
    for (auto& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
  bool erase_tensor(std::string_view name) {
    return std::erase_if(tensors, [&](const auto& t) { return t.name == name; }) > 0;
  }
  // Aligns tensor data to `a` and records it in general.alignment.
  void set_alignment(std::uint32_t a) {
    alignment_ = a;
    set(gguf::kAlignmentKey, gguf::Value::u32(a));
  }

  // A writer loaded with the model. It refers to this builder's tensor data: keep the builder
  // alive and its tensor list unchanged until the writer has written. A tensor whose data is shorter than its dims call for is
  // zero-extended (longer is truncated), so a test may change dims alone.
  gguf::Writer writer() const {
    gguf::Writer w;
    w.set_alignment(alignment_);
    for (const auto& [key, value] : kvs) w.add(key, value);
    for (const auto& t : tensors)
      w.add_tensor(t.name, t.type, t.dims, [&t](std::span<std::byte> out) {
        const std::size_t n = std::min(out.size(), t.data.size());
        std::copy_n(t.data.begin(), n, out.begin());
        std::fill(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), std::byte{0});
      });
    return w;
  }
  gguf::Layout write(const std::string& path) const { return writer().write(path); }
  gguf::Layout serialize(std::vector<std::uint8_t>& out) const { return writer().write_to(out); }
  std::vector<std::uint8_t> bytes() const {
    std::vector<std::uint8_t> out;
    serialize(out);
    return out;
  }

 private:
  void add_metadata() {
    const ModelSpec& s = spec_;
    const Vocabulary v = make_vocabulary(s);
    using gguf::Value;
    set("general.architecture", Value::string("mobilellm"));
    set("general.name", Value::string(s.name));
    set(gguf::kAlignmentKey, Value::u32(static_cast<std::uint32_t>(alignment_)));
    set("mobilellm.vocab_size", Value::u32(s.vocab_size));
    set("mobilellm.context_length", Value::u32(s.context_length));
    set("mobilellm.embedding_length", Value::u32(s.embedding_length));
    set("mobilellm.feed_forward_length", Value::u32(s.feed_forward_length));
    set("mobilellm.block_count", Value::u32(s.block_count));
    set("mobilellm.attention.head_count", Value::u32(s.head_count));
    set("mobilellm.attention.head_count_kv", Value::u32(s.head_count_kv));
    set("mobilellm.attention.key_length", Value::u32(s.head_dim));
    set("mobilellm.attention.value_length", Value::u32(s.head_dim));
    set("mobilellm.rope.dimension_count", Value::u32(s.head_dim));
    set("mobilellm.rope.freq_base", Value::f32(s.rope_freq_base));
    set("mobilellm.attention.layer_norm_rms_epsilon", Value::f32(s.rms_norm_eps));
    set("mobilellm.layer_sharing", Value::boolean(s.layer_sharing));
    set("mobilellm.embedding_sharing", Value::boolean(s.embedding_sharing));
    set("mobilellm.weight_type", Value::string(s.weight_type));
    set("tokenizer.ggml.model", Value::string(v.model));
    set("tokenizer.ggml.tokens", Value::string_array(v.pieces));
    set("tokenizer.ggml.scores", Value::f32_array(v.scores));
    std::vector<std::int32_t> types;
    for (TokenType t : v.types) types.push_back(static_cast<std::int32_t>(t));
    set("tokenizer.ggml.token_type", Value::i32_array(types));
    if (!v.merges.empty()) set("tokenizer.ggml.merges", Value::string_array(v.merges));
    set("tokenizer.ggml.bos_token_id", Value::u32(static_cast<std::uint32_t>(v.bos_id)));
    set("tokenizer.ggml.eos_token_id", Value::u32(static_cast<std::uint32_t>(v.eos_id)));
    set("tokenizer.ggml.unknown_token_id", Value::u32(static_cast<std::uint32_t>(v.unk_id)));
    if (v.pad_id >= 0)
      set("tokenizer.ggml.padding_token_id", Value::u32(static_cast<std::uint32_t>(v.pad_id)));
    set("tokenizer.ggml.add_bos_token", Value::boolean(v.add_bos));
    set("tokenizer.ggml.add_eos_token", Value::boolean(v.add_eos));
    set("tokenizer.ggml.add_space_prefix", Value::boolean(v.add_space_prefix));
  }

  void add_tensors() {
    const ModelSpec& s = spec_;
    const std::uint64_t E = s.embedding_length, V = s.vocab_size, F = s.feed_forward_length;
    const std::uint64_t q = std::uint64_t{s.head_count} * s.head_dim;
    const std::uint64_t kv = std::uint64_t{s.head_count_kv} * s.head_dim;
    add_matrix("token_embd", E, V);
    add_norm("output_norm.weight", E);
    if (!s.embedding_sharing) add_matrix("output", E, V);
    for (std::uint32_t i = 0; i < s.block_count; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      add_norm(p + "attn_norm.weight", E);
      add_matrix(p + "attn_q", E, q);
      add_matrix(p + "attn_k", E, kv);
      add_matrix(p + "attn_v", E, kv);
      add_matrix(p + "attn_output", q, E);
      add_norm(p + "ffn_norm.weight", E);
      add_matrix(p + "ffn_gate", E, F);
      add_matrix(p + "ffn_up", E, F);
      add_matrix(p + "ffn_down", F, E);
    }
  }

  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng_); }

  template <typename T>
  static void append(std::vector<std::byte>& out, T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }

  void add_norm(const std::string& name, std::uint64_t n) {
    BuiltTensor t{name, TensorType::f32, {n}, {}};
    for (std::uint64_t i = 0; i < n; ++i) append(t.data, uniform(0.8f, 1.2f));
    tensors.push_back(std::move(t));
  }

  // A [rows, cols] weight ({cols, rows} in GGUF), scaled like a trained layer (~1/sqrt(cols)).
  // W8A8 stores int8 values and one scale per row.
  void add_matrix(const std::string& base, std::uint64_t cols, std::uint64_t rows) {
    const float range = 1.0f / std::sqrt(static_cast<float>(cols));
    BuiltTensor w{base + ".weight", TensorType::f32, {cols, rows}, {}};
    const std::string& wt = spec_.weight_type;
    if (wt == "W8A8") {
      w.type = TensorType::i8;
      BuiltTensor scale{base + ".scale", TensorType::f32, {rows}, {}};
      for (std::uint64_t i = 0; i < rows * cols; ++i)
        append(w.data, static_cast<std::int8_t>(std::uniform_int_distribution<int>(-127, 127)(rng_)));
      for (std::uint64_t r = 0; r < rows; ++r) append(scale.data, uniform(0.5f, 1.0f) * range / 127);
      tensors.push_back(std::move(w));
      tensors.push_back(std::move(scale));
      return;
    }
    if (wt == "F16") w.type = TensorType::f16;
    else if (wt == "BF16") w.type = TensorType::bf16;
    else if (wt != "F32") throw std::invalid_argument("ModelSpec::weight_type " + wt);
    for (std::uint64_t i = 0; i < rows * cols; ++i) {
      const float x = uniform(-range, range);
      if (w.type == TensorType::f16) append(w.data, f32_to_f16(x));
      else if (w.type == TensorType::bf16) append(w.data, f32_to_bf16(x));
      else append(w.data, x);
    }
    tensors.push_back(std::move(w));
  }

  ModelSpec spec_;
  std::mt19937_64 rng_;
  std::uint64_t alignment_ = gguf::kDefaultAlignment;
};

// In-place edits of serialized bytes (little-endian), for container-level corruption.
inline void patch_u32(std::vector<std::uint8_t>& bytes, std::uint64_t offset, std::uint32_t v) {
  if (offset + 4 > bytes.size()) throw std::out_of_range("patch_u32 past the end");
  std::memcpy(bytes.data() + offset, &v, 4);
}
inline void patch_u64(std::vector<std::uint8_t>& bytes, std::uint64_t offset, std::uint64_t v) {
  if (offset + 8 > bytes.size()) throw std::out_of_range("patch_u64 past the end");
  std::memcpy(bytes.data() + offset, &v, 8);
}
inline void patch_bytes(std::vector<std::uint8_t>& bytes, std::uint64_t offset,
                        std::string_view replacement) {
  if (offset + replacement.size() > bytes.size()) throw std::out_of_range("patch_bytes past the end");
  std::memcpy(bytes.data() + offset, replacement.data(), replacement.size());
}

inline void write_file(const std::string& path, std::span<const std::uint8_t> bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

}  // namespace mobilellm::test
