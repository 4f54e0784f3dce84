// ModelFile: maps a mobilellm model file, validates the GGUF container (format/gguf.cpp) and then
// the model schema of models/README.md: every key the runtime reads, the vocabulary, and the exact
// set of tensors with their types and shapes. Nothing reaches the runtime unvalidated.
#include "mobilellm/model_file.hpp"

#include <cmath>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <fmt/core.h>

#include "common/file.hpp"
#include "common/string_index.hpp"
#include "common/utf8.hpp"
#include "format/gguf.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {

const char* tensor_type_name(TensorType t) noexcept {
  switch (t) {
    case TensorType::f32: return "F32";
    case TensorType::f16: return "F16";
    case TensorType::i8: return "I8";
    case TensorType::bf16: return "BF16";
  }
  return "unknown";
}

std::size_t tensor_type_size(TensorType t) noexcept {
  switch (t) {
    case TensorType::f32: return 4;
    case TensorType::f16: return 2;
    case TensorType::i8: return 1;
    case TensorType::bf16: return 2;
  }
  return 0;
}

std::uint64_t TensorView::element_count() const {
  std::uint64_t n = 1;
  for (auto d : dims) n *= d;  // views from ModelFile have overflow-checked dims
  return n;
}

struct ModelFile::Impl {
  std::shared_ptr<const MappedFile> map;  // keeps every TensorView::data valid
  std::unordered_map<std::string, std::size_t> index;  // tensor name -> position in tensors_
  std::vector<std::pair<std::string, std::string>> summary;
  std::uint64_t parameter_count = 0;
};

ModelFile::~ModelFile() = default;

const TensorView* ModelFile::find(const std::string& name) const {
  auto it = impl_->index.find(name);
  return it == impl_->index.end() ? nullptr : &tensors_[it->second];
}

const TensorView& ModelFile::get(const std::string& name) const {
  if (const TensorView* t = find(name)) return *t;
  throw FormatError(path_, name, "tensor is absent");
}

std::uint64_t ModelFile::parameter_count() const { return impl_->parameter_count; }
std::uint64_t ModelFile::huge_page_bytes() const { return impl_->map->huge_page_bytes(); }
bool ModelFile::huge_pages_settled() const { return impl_->map->huge_pages_settled(); }
void ModelFile::start_huge_pages() const { impl_->map->start_huge_pages(); }

std::vector<std::pair<std::string, std::string>> ModelFile::metadata_summary() const {
  return impl_->summary;
}

namespace {

using gguf::ValueType;

// Bounds on hyper-parameters, so that what later code allocates from them stays reasonable.
// Sizes that tensors must match are also bounded by the file size; these catch the rest early.
constexpr std::uint32_t kMaxDimension = 1u << 24;
constexpr std::uint32_t kMaxVocab = 1u << 22;
constexpr std::uint32_t kMaxContext = 1u << 20;
constexpr std::uint32_t kMaxBlocks = 1024;
// TensorView::data promises 64-byte alignment; the mapping itself is page aligned.
constexpr std::uint64_t kMinAlignment = 64;

constexpr std::string_view kArchitecture = "mobilellm";

// Every key of the two namespaces this runtime owns. A key there that is not listed is rejected:
// it would be a feature this runtime does not implement, silently ignored.
constexpr std::string_view kKnownKeys[] = {
    "mobilellm.vocab_size",
    "mobilellm.context_length",
    "mobilellm.embedding_length",
    "mobilellm.feed_forward_length",
    "mobilellm.block_count",
    "mobilellm.attention.head_count",
    "mobilellm.attention.head_count_kv",
    "mobilellm.attention.key_length",
    "mobilellm.attention.value_length",
    "mobilellm.rope.dimension_count",
    "mobilellm.rope.freq_base",
    "mobilellm.attention.layer_norm_rms_epsilon",
    "mobilellm.layer_sharing",
    "mobilellm.embedding_sharing",
    "mobilellm.weight_type",
    "tokenizer.ggml.model",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_eos_token",
    "tokenizer.ggml.add_space_prefix",
};
constexpr std::string_view kOwnedPrefixes[] = {"mobilellm.", "tokenizer.ggml."};

// The vocabulary's pieces by content, for its checks: the id of the first piece equal to a string.
// Open addressing over a power-of-two table (at most half full) of ids: no allocation per piece,
// so a 32000-piece vocabulary is indexed in well under a millisecond.
std::string dims_string(const std::vector<std::uint64_t>& dims) {
  std::string s = "{";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "}";
}

// A printable rendering of a metadata value; arrays show their first few elements.
std::string render(const gguf::Value& value) {
  constexpr std::size_t kShown = 6;
  auto scalar = [](ValueType t, const auto& x) -> std::string {
    using X = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<X, std::string>) return "\"" + printable(x, 80) + "\"";
    else if constexpr (std::is_same_v<X, double>)
      return t == ValueType::f32 ? fmt::format("{}", static_cast<float>(x)) : fmt::format("{}", x);
    else if constexpr (std::is_same_v<X, bool>) return x ? "true" : "false";
    else return std::to_string(x);
  };
  if (value.type != ValueType::array)
    return std::visit(
        [&](const auto& x) -> std::string {
          if constexpr (std::is_same_v<std::decay_t<decltype(x)>, gguf::Array>) return {};
          else return scalar(value.type, x);
        },
        value.v);
  const gguf::Array& a = std::get<gguf::Array>(value.v);
  std::string s = fmt::format("{}[{}]", gguf::value_type_name(a.type), a.size());
  for (std::size_t i = 0; i < a.size() && i < kShown; ++i) {
    s += i ? ", " : ": ";
    if (a.type == ValueType::string) s += scalar(a.type, a.strings[i]);
    else if (a.type == ValueType::f32 || a.type == ValueType::f64) s += scalar(a.type, a.floats[i]);
    else if (a.type == ValueType::boolean) s += scalar(a.type, a.ints[i] != 0);
    else s += scalar(a.type, a.ints[i]);
  }
  if (a.size() > kShown) s += ", ...";
  return s;
}

}  // namespace

// Validates a parsed container against the model schema and fills a ModelFile. Declared a friend
// of ModelFile, so it lives outside the anonymous namespace.
struct ModelFileLoader {
  ModelFile& m;
  gguf::Container& c;  // its token strings are moved into the vocabulary
  std::unordered_map<std::string_view, gguf::KeyValue*> keys;

  [[noreturn]] void fail(const std::string& field, const std::string& detail,
                         std::optional<std::uint64_t> offset) const {
    throw FormatError(c.file, field, detail, offset);
  }
  [[noreturn]] void fail(const gguf::KeyValue& kv, const std::string& detail) const {
    fail(kv.key, detail, kv.value_offset);
  }

  const gguf::KeyValue* find(std::string_view key, ValueType type) const {
    auto it = keys.find(key);
    if (it == keys.end()) return nullptr;
    const gguf::KeyValue& kv = *it->second;
    if (kv.value.type != type)
      fail(kv, fmt::format("has type {}, expected {}", gguf::value_type_name(kv.value.type),
                           gguf::value_type_name(type)));
    return &kv;
  }
  const gguf::KeyValue& require(std::string_view key, ValueType type) const {
    if (const gguf::KeyValue* kv = find(key, type)) return *kv;
    fail(std::string(key), fmt::format("required {} key is missing", gguf::value_type_name(type)),
         std::nullopt);
  }

  std::uint32_t positive_u32(std::string_view key, std::uint32_t max) const {
    const gguf::KeyValue& kv = require(key, ValueType::u32);
    const std::uint64_t v = std::get<std::uint64_t>(kv.value.v);
    if (v == 0 || v > max) fail(kv, fmt::format("{} is outside 1..{}", v, max));
    return static_cast<std::uint32_t>(v);
  }
  float positive_f32(std::string_view key) const {
    const gguf::KeyValue& kv = require(key, ValueType::f32);
    const float v = static_cast<float>(std::get<double>(kv.value.v));
    if (!std::isfinite(v) || v <= 0) fail(kv, fmt::format("{} is not a finite positive number", v));
    return v;
  }
  bool boolean(std::string_view key) const {
    return std::get<bool>(require(key, ValueType::boolean).value.v);
  }
  // An array of `elem` elements; with `count`, it must hold exactly that many.
  const gguf::Array& array(const gguf::KeyValue& kv, ValueType elem,
                           std::optional<std::uint32_t> count) const {
    const gguf::Array& a = std::get<gguf::Array>(kv.value.v);
    if (a.type != elem)
      fail(kv, fmt::format("is an array of {}, expected an array of {}",
                           gguf::value_type_name(a.type), gguf::value_type_name(elem)));
    if (count && a.size() != *count)
      fail(kv, fmt::format("has {} entries, but mobilellm.vocab_size is {}", a.size(), *count));
    return a;
  }
  // A token id: a u32 below the vocabulary size.
  std::int32_t token_id(const gguf::KeyValue& kv) const {
    const std::uint64_t v = std::get<std::uint64_t>(kv.value.v);
    if (v >= m.config_.vocab_size)
      fail(kv, fmt::format("token id {} is not below the vocabulary size {}", v,
                           m.config_.vocab_size));
    return static_cast<std::int32_t>(v);
  }

  void check_keys() {
    for (auto& kv : c.kvs) keys.emplace(kv.key, &kv);
    const gguf::KeyValue& arch = require("general.architecture", ValueType::string);
    if (std::get<std::string>(arch.value.v) != kArchitecture)
      fail(arch, fmt::format("\"{}\" is not \"{}\"",
                             printable(std::get<std::string>(arch.value.v)), kArchitecture));
    if (c.alignment < kMinAlignment) {
      const gguf::KeyValue* kv = c.find(gguf::kAlignmentKey);  // present: the default is 64
      fail(gguf::kAlignmentKey,
           fmt::format("{} is below the minimum of {}", c.alignment, kMinAlignment),
           kv ? std::optional(kv->value_offset) : std::nullopt);
    }
    const std::unordered_set<std::string_view> known(std::begin(kKnownKeys), std::end(kKnownKeys));
    for (const auto& kv : c.kvs)
      for (std::string_view prefix : kOwnedPrefixes)
        if (kv.key.starts_with(prefix) && !known.contains(kv.key))
          fail(kv.key, "unknown key in a namespace this runtime owns", kv.offset);
    if (const gguf::KeyValue* kv = find("general.name", ValueType::string))
      m.name_ = std::get<std::string>(kv->value.v);
  }

  void load_config() {
    ModelConfig& cfg = m.config_;
    cfg.vocab_size = positive_u32("mobilellm.vocab_size", kMaxVocab);
    cfg.context_length = positive_u32("mobilellm.context_length", kMaxContext);
    cfg.embedding_length = positive_u32("mobilellm.embedding_length", kMaxDimension);
    cfg.feed_forward_length = positive_u32("mobilellm.feed_forward_length", kMaxDimension);
    cfg.block_count = positive_u32("mobilellm.block_count", kMaxBlocks);
    cfg.head_count = positive_u32("mobilellm.attention.head_count", kMaxDimension);
    cfg.head_count_kv = positive_u32("mobilellm.attention.head_count_kv", kMaxDimension);
    cfg.head_dim = positive_u32("mobilellm.attention.key_length", kMaxDimension);
    cfg.rope_freq_base = positive_f32("mobilellm.rope.freq_base");
    cfg.rms_norm_eps = positive_f32("mobilellm.attention.layer_norm_rms_epsilon");
    cfg.layer_sharing = boolean("mobilellm.layer_sharing");
    cfg.embedding_sharing = boolean("mobilellm.embedding_sharing");

    if (cfg.head_count % cfg.head_count_kv != 0) {
      const auto& kv = require("mobilellm.attention.head_count_kv", ValueType::u32);
      fail(kv, fmt::format("{} does not divide mobilellm.attention.head_count {}",
                           cfg.head_count_kv, cfg.head_count));
    }
    // Rotary embeddings rotate pairs of the whole head: one head_dim for keys, values and RoPE.
    for (std::string_view key : {"mobilellm.attention.value_length", "mobilellm.rope.dimension_count"}) {
      const auto& kv = require(key, ValueType::u32);
      const std::uint64_t v = std::get<std::uint64_t>(kv.value.v);
      if (v != cfg.head_dim)
        fail(kv, fmt::format("{} differs from mobilellm.attention.key_length {}", v, cfg.head_dim));
    }
    if (cfg.head_dim % 2 != 0) {
      const auto& kv = require("mobilellm.attention.key_length", ValueType::u32);
      fail(kv, fmt::format("head dimension {} is odd; rotary embeddings need pairs", cfg.head_dim));
    }

    const auto& wt = require("mobilellm.weight_type", ValueType::string);
    m.weight_type_ = std::get<std::string>(wt.value.v);
    if (m.weight_type_ != "F32" && m.weight_type_ != "F16" && m.weight_type_ != "BF16" &&
        m.weight_type_ != "W8A8" && m.weight_type_ != "W8A8G32")
      fail(wt, fmt::format("\"{}\" is not one of F32, F16, BF16, W8A8, W8A8G32",
                           printable(m.weight_type_)));
  }

  void load_vocab() {
    Vocabulary& v = m.vocab_;
    const std::uint32_t n = m.config_.vocab_size;
    const auto& model = require("tokenizer.ggml.model", ValueType::string);
    v.model = std::get<std::string>(model.value.v);
    if (v.model != "llama")
      fail(model, fmt::format("tokenizer model \"{}\" is not supported (expected \"llama\")",
                              printable(v.model)));

    const auto& tokens_kv = require("tokenizer.ggml.tokens", ValueType::array);
    array(tokens_kv, ValueType::string, n);
    // The container is ours: take the strings instead of copying tens of thousands of them.
    v.pieces = std::move(std::get<gguf::Array>(keys.at("tokenizer.ggml.tokens")->value.v).strings);
    StringIndex ids(v.pieces);
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto field = [i] { return fmt::format("tokenizer.ggml.tokens[{}]", i); };
      if (v.pieces[i].empty()) fail(field(), "token piece is empty", tokens_kv.value_offset);
      if (const std::uint32_t first = ids.insert(i); first != StringIndex::kNone)
        fail(field(),
             fmt::format("piece \"{}\" duplicates token {}", printable(v.pieces[i]), first),
             tokens_kv.value_offset);
    }

    const auto& scores_kv = require("tokenizer.ggml.scores", ValueType::array);
    const auto& scores = array(scores_kv, ValueType::f32, n);
    v.scores.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      v.scores[i] = static_cast<float>(scores.floats[i]);
      if (!std::isfinite(v.scores[i]))
        fail(fmt::format("tokenizer.ggml.scores[{}]", i), fmt::format("score {} is not finite",
                                                                      v.scores[i]),
             scores_kv.value_offset);
    }

    const auto& types_kv = require("tokenizer.ggml.token_type", ValueType::array);
    const auto& types = array(types_kv, ValueType::i32, n);
    v.types.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::int64_t t = types.ints[i];
      if (t < static_cast<std::int32_t>(TokenType::normal) ||
          t > static_cast<std::int32_t>(TokenType::byte))
        fail(fmt::format("tokenizer.ggml.token_type[{}]", i),
             fmt::format("token type {} is not one of 1..6", t), types_kv.value_offset);
      v.types[i] = static_cast<TokenType>(t);
    }

    if (const auto* merges_kv = find("tokenizer.ggml.merges", ValueType::array)) {
      const auto& merges = array(*merges_kv, ValueType::string, std::nullopt);
      // Each merge is "left right": two pieces of the vocabulary whose concatenation is one too.
      for (std::size_t i = 0; i < merges.strings.size(); ++i) {
        const std::string& s = merges.strings[i];
        const std::size_t space = s.find(' ');
        const bool one_space = space != std::string::npos && space > 0 && space + 1 < s.size() &&
                               s.find(' ', space + 1) == std::string::npos;
        const std::string_view left = std::string_view(s).substr(0, one_space ? space : 0);
        const std::string_view right = std::string_view(s).substr(one_space ? space + 1 : s.size());
        if (!one_space || !ids.contains(left) || !ids.contains(right) ||
            !ids.contains(std::string(left) + std::string(right)))
          fail(fmt::format("tokenizer.ggml.merges[{}]", i),
               fmt::format("\"{}\" is not \"LEFT RIGHT\" with LEFT, RIGHT and LEFTRIGHT in the "
                           "vocabulary",
                           printable(s)),
               merges_kv->value_offset);
      }
      v.merges = merges.strings;
    }

    v.bos_id = token_id(require("tokenizer.ggml.bos_token_id", ValueType::u32));
    v.eos_id = token_id(require("tokenizer.ggml.eos_token_id", ValueType::u32));
    v.unk_id = token_id(require("tokenizer.ggml.unknown_token_id", ValueType::u32));
    if (const auto* pad = find("tokenizer.ggml.padding_token_id", ValueType::u32))
      v.pad_id = token_id(*pad);
    v.add_bos = boolean("tokenizer.ggml.add_bos_token");
    v.add_eos = boolean("tokenizer.ggml.add_eos_token");
    v.add_space_prefix = boolean("tokenizer.ggml.add_space_prefix");
  }

  // What the schema requires of one tensor, and where the loader publishes it.
  struct Expected {
    std::string name;
    TensorType type;
    std::vector<std::uint64_t> dims;
    const TensorView** slot;
    bool is_scale;
  };

  std::vector<Expected> expected_tensors() {
    const ModelConfig& cfg = m.config_;
    const std::uint64_t E = cfg.embedding_length, V = cfg.vocab_size, F = cfg.feed_forward_length;
    const std::uint64_t q_rows = std::uint64_t{cfg.head_count} * cfg.head_dim;
    const std::uint64_t kv_rows = std::uint64_t{cfg.head_count_kv} * cfg.head_dim;
    // W8A8: one scale per row. W8A8G32: one scale per group of 32 elements of a row, the last
    // group of a row shorter when the row length is not a multiple of 32.
    const std::uint64_t group = m.weight_type_ == "W8A8G32" ? 32 : 0;
    const bool w8a8 = m.weight_type_ == "W8A8" || group != 0;
    const TensorType wtype = w8a8                        ? TensorType::i8
                             : m.weight_type_ == "F16"   ? TensorType::f16
                             : m.weight_type_ == "BF16"  ? TensorType::bf16
                                                         : TensorType::f32;
    std::vector<Expected> out;
    auto norm = [&](std::string name, const TensorView** slot) {
      out.push_back({std::move(name), TensorType::f32, {E}, slot, false});
    };
    // A matrix with `rows` rows of `cols` elements (PyTorch [rows, cols]) plus, for W8A8, its
    // scales: {rows} per row, {groups, rows} per group (each row's group scales together).
    auto matrix = [&](const std::string& base, std::uint64_t cols, std::uint64_t rows,
                      const TensorView** slot, const TensorView** scale_slot) {
      out.push_back({base + ".weight", wtype, {cols, rows}, slot, false});
      if (!w8a8) return;
      std::vector<std::uint64_t> scale_dims = {rows};
      if (group != 0) scale_dims = {(cols + group - 1) / group, rows};
      out.push_back({base + ".scale", TensorType::f32, std::move(scale_dims), scale_slot, true});
    };

    matrix("token_embd", E, V, &m.token_embd_, &m.token_embd_scale_);
    norm("output_norm.weight", &m.output_norm_);
    if (!cfg.embedding_sharing) matrix("output", E, V, &m.output_, &m.output_scale_);
    m.blocks_.resize(cfg.block_count);
    for (std::uint32_t i = 0; i < cfg.block_count; ++i) {
      BlockTensors& b = m.blocks_[i];
      const std::string p = fmt::format("blk.{}.", i);
      norm(p + "attn_norm.weight", &b.attn_norm);
      matrix(p + "attn_q", E, q_rows, &b.attn_q, &b.attn_q_scale);
      matrix(p + "attn_k", E, kv_rows, &b.attn_k, &b.attn_k_scale);
      matrix(p + "attn_v", E, kv_rows, &b.attn_v, &b.attn_v_scale);
      matrix(p + "attn_output", q_rows, E, &b.attn_output, &b.attn_output_scale);
      norm(p + "ffn_norm.weight", &b.ffn_norm);
      matrix(p + "ffn_gate", E, F, &b.ffn_gate, &b.ffn_gate_scale);
      matrix(p + "ffn_up", E, F, &b.ffn_up, &b.ffn_up_scale);
      matrix(p + "ffn_down", F, E, &b.ffn_down, &b.ffn_down_scale);
    }
    return out;
  }

  void load_tensors(const MappedFile& map) {
    const std::vector<Expected> expected = expected_tensors();
    std::unordered_map<std::string_view, const Expected*> by_name;
    for (const auto& e : expected) by_name.emplace(e.name, &e);

    m.tensors_.reserve(c.tensors.size());
    for (const auto& t : c.tensors) {
      if (!by_name.contains(t.name))
        fail(t.name,
             fmt::format("unexpected tensor: not part of a model with block_count {}, weight_type "
                         "{} and embedding_sharing {}",
                         m.config_.block_count, m.weight_type_, m.config_.embedding_sharing),
             t.info_offset);
      const std::uint64_t offset = c.data_offset + t.offset;  // inside the file: checked by parse
      m.tensors_.push_back({t.name, t.type, t.dims,
                            reinterpret_cast<const std::byte*>(map.data() + offset), t.nbytes,
                            offset});
      m.impl_->index.emplace(t.name, m.tensors_.size() - 1);
    }

    for (const auto& e : expected) {
      auto it = m.impl_->index.find(e.name);
      if (it == m.impl_->index.end()) fail(e.name, "required tensor is missing", std::nullopt);
      const TensorView& t = m.tensors_[it->second];
      const std::uint64_t info_offset = c.tensors[it->second].info_offset;
      if (t.type != e.type)
        fail(e.name, fmt::format("has type {}, expected {} (mobilellm.weight_type is {})",
                                 tensor_type_name(t.type), tensor_type_name(e.type),
                                 m.weight_type_),
             info_offset);
      if (t.dims != e.dims)
        fail(e.name, fmt::format("has dims {}, expected {} from the hyper-parameters",
                                 dims_string(t.dims), dims_string(e.dims)),
             info_offset);
      if (e.is_scale) check_scales(t);
      else m.impl_->parameter_count += t.element_count();
      *e.slot = &t;
    }
    if (m.config_.embedding_sharing) {
      m.output_ = m.token_embd_;
      m.output_scale_ = m.token_embd_scale_;
    }
  }

  // A scale multiplies every weight of its row (or group): a NaN, infinite or negative one is
  // corrupt. Per row the dims are {rows}; per group {groups, rows}.
  void check_scales(const TensorView& t) const {
    const std::uint64_t count = t.element_count();
    const std::uint64_t groups = t.dims.size() == 2 ? t.dims[0] : 0;
    for (std::uint64_t i = 0; i < count; ++i) {
      float s;
      std::memcpy(&s, t.data + 4 * i, 4);
      if (std::isfinite(s) && s >= 0) continue;
      const std::string where = groups == 0
                                    ? fmt::format("row {}", i)
                                    : fmt::format("row {}, group {}", i / groups, i % groups);
      fail(t.name, fmt::format("scale of {} is {}, not a finite non-negative number", where, s),
           t.file_offset + 4 * i);
    }
  }
};

std::shared_ptr<const ModelFile> ModelFile::open(const std::string& path,
                                                 const ModelFileOptions& options) {
  auto map = MappedFile::open(path, MapOptions{options.huge_pages});
  gguf::Container container = gguf::parse(map->bytes(), path);

  std::shared_ptr<ModelFile> m(new ModelFile());
  m->impl_ = std::make_unique<Impl>();
  m->path_ = path;
  m->file_size_ = map->size();
  m->gguf_version_ = container.version;
  m->alignment_ = container.alignment;
  // Rendered before the loader moves the token strings out of the container.
  for (const auto& kv : container.kvs) m->impl_->summary.emplace_back(kv.key, render(kv.value));

  ModelFileLoader loader{*m, container, {}};
  loader.check_keys();
  loader.load_config();
  loader.load_vocab();
  loader.load_tensors(*map);
  m->impl_->map = std::move(map);
  return m;
}

}  // namespace mobilellm
