// The checkpoint converter: a Hugging Face folder (config.json, weights, tokenizer) in, one
// validated mobilellm GGUF file out. Reading is done by the format readers in this folder; this
// file decides what the model is (sharing, shapes, types) and maps names, then streams the tensors
// through gguf::Writer, converting each one's float type on the fly.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "common/file.hpp"
#include "common/half.hpp"
#include "convert/hf_config.hpp"
#include "convert/safetensors.hpp"
#include "convert/source_tensor.hpp"
#include "convert/tokenizer_sources.hpp"
#include "convert/torch_checkpoint.hpp"
#include "format/gguf.hpp"
#include "mobilellm/convert.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMaxJsonBytes = 64ull << 20;       // config / tokenizer json
constexpr std::uint64_t kMaxTokenizerModel = 64ull << 20;  // tokenizer.model

std::string join(const std::string& dir, const char* name) { return (fs::path(dir) / name).string(); }

struct Weights {
  std::map<std::string, SourceTensor> by_name;
  std::string source;  // for the report
  std::string file;    // for messages
};

Weights load_weights(const std::string& dir) {
  Weights w;
  std::vector<SourceTensor> list;
  if (file_exists(join(dir, "model.safetensors.index.json"))) {
    list = read_sharded_safetensors(dir);
    w.file = join(dir, "model.safetensors.index.json");
    w.source = "model.safetensors.index.json (sharded safetensors)";
  } else if (file_exists(join(dir, "model.safetensors"))) {
    w.file = join(dir, "model.safetensors");
    list = read_safetensors(MappedFile::open(w.file));
    w.source = "model.safetensors";
  } else if (file_exists(join(dir, "pytorch_model.bin"))) {
    w.file = join(dir, "pytorch_model.bin");
    list = read_torch_checkpoint(MappedFile::open(w.file));
    w.source = "pytorch_model.bin";
  } else {
    throw IoError(dir + ": no model.safetensors, model.safetensors.index.json or pytorch_model.bin");
  }
  for (auto& t : list) {
    std::string name = t.name;
    if (!w.by_name.emplace(name, std::move(t)).second)
      throw FormatError(w.file, name, "tensor appears twice");
  }
  return w;
}

bool same_values(const SourceTensor& a, const SourceTensor& b) {
  return a.dtype == b.dtype && a.shape == b.shape && a.bytes.size() == b.bytes.size() &&
         std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) == 0;
}

std::string shape_str(const std::vector<std::uint64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

const char* on_off(bool b) { return b ? "on" : "off"; }

// Decides embedding sharing from the explicit setting (flag or config) and the tensors present.
// MobileLLM's training form writes `tie_word_embeddings: false` although its embeddings are shared,
// so `false` there is not evidence; `share_embedding` (release form) and the flag are.
struct EmbeddingDecision {
  bool shared = false;
  const SourceTensor* embedding = nullptr;  // token_embd
  const SourceTensor* head = nullptr;       // output (untied only)
  std::string note;
};

EmbeddingDecision decide_embedding(const HfConfig& hf, const ConvertOptions& opt, const Weights& w,
                                   const std::string& config_file) {
  auto find = [&](const char* n) -> const SourceTensor* {
    auto it = w.by_name.find(n);
    return it == w.by_name.end() ? nullptr : &it->second;
  };
  const SourceTensor* embed = find("model.embed_tokens.weight");
  const SourceTensor* head = find("lm_head.weight");
  if (!embed && !head)
    throw FormatError(w.file, "model.embed_tokens.weight",
                      "neither model.embed_tokens.weight nor lm_head.weight is stored");

  std::optional<bool> explicit_shared;
  std::string why;
  if (opt.embedding_sharing) {
    explicit_shared = opt.embedding_sharing;
    why = "--embedding-sharing";
  } else if (hf.share_embedding) {
    explicit_shared = hf.share_embedding;
    why = config_file + ": share_embedding";
  } else if (hf.tie_word_embeddings.value_or(false)) {
    explicit_shared = true;
    why = config_file + ": tie_word_embeddings";
  }

  EmbeddingDecision d;
  const bool both = embed && head;
  const bool equal = both && same_values(*embed, *head);
  if (explicit_shared.has_value()) {
    if (*explicit_shared && both && !equal)
      throw FormatError(w.file, "lm_head.weight",
                        why + " says embeddings are shared, but model.embed_tokens.weight and "
                              "lm_head.weight hold different values");
    if (!*explicit_shared && !both)
      throw FormatError(w.file, embed ? "lm_head.weight" : "model.embed_tokens.weight",
                        why + " says embeddings are not shared, but only " +
                            (embed ? "model.embed_tokens.weight" : "lm_head.weight") + " is stored");
    d.shared = *explicit_shared;
    d.note = fmt::format("embedding sharing {} (from {})", on_off(d.shared), why);
  } else {
    d.shared = !both || equal;
    d.note = fmt::format("embedding sharing {} (config silent; decided from the stored tensors: {})",
                         on_off(d.shared),
                         !both ? std::string("only ") + (embed ? "model.embed_tokens.weight"
                                                               : "lm_head.weight") + " is stored"
                         : equal ? "embed_tokens and lm_head are equal"
                                 : "embed_tokens and lm_head differ");
  }
  d.embedding = embed ? embed : head;
  if (!d.shared) d.head = head;
  return d;
}

// One output tensor: its GGUF name, the source it comes from, and the type it is stored as.
struct Planned {
  std::string name;
  const SourceTensor* src;
  TensorType type;
  std::vector<std::uint64_t> expect;  // expected PyTorch shape
};

TensorType to_tensor_type(SourceDType d) {
  switch (d) {
    case SourceDType::f32: return TensorType::f32;
    case SourceDType::f16: return TensorType::f16;
    case SourceDType::bf16: return TensorType::bf16;
  }
  return TensorType::f32;
}

float load_elem(SourceDType t, const std::uint8_t* p) {
  switch (t) {
    case SourceDType::f32: { float f; std::memcpy(&f, p, 4); return f; }
    case SourceDType::f16: { std::uint16_t h; std::memcpy(&h, p, 2); return f16_to_f32(h); }
    case SourceDType::bf16: { std::uint16_t h; std::memcpy(&h, p, 2); return bf16_to_f32(h); }
  }
  return 0.0f;
}

// max|w| / 127 over elements [begin, end) of a row; NaN when one of them is NaN, infinite when one
// is infinite, so that the caller can reject the tensor (a NaN must not vanish in the maximum).
float range_scale(const SourceTensor& s, std::size_t row, std::size_t cols, std::size_t begin,
                  std::size_t end) {
  const std::size_t es = source_dtype_size(s.dtype);
  float amax = 0.0f;
  for (std::size_t c = begin; c < end; ++c) {
    const float a = std::fabs(load_elem(s.dtype, s.bytes.data() + (row * cols + c) * es));
    if (std::isnan(a)) return a;
    amax = std::max(amax, a);
  }
  return amax / 127.0f;
}

// Symmetric per-row int8 quantization: scale = max|w| / 127, q = round(w / scale) with ties away
// from zero, so q is in [-127, 127]; an all-zero row has scale 0 and q = 0.
float row_scale(const SourceTensor& s, std::size_t row, std::size_t cols) {
  return range_scale(s, row, cols, 0, cols);
}

// Group-wise (W8A8G32): the same rule over each run of `group` elements of a row (the last run of
// a row may be shorter): scale = max|w| / 127 of the run, q = round(w / scale), ties away from
// zero; an all-zero run has scale 0.
float group_scale(const SourceTensor& s, std::size_t row, std::size_t cols, std::size_t begin,
                  std::size_t end) {
  return range_scale(s, row, cols, begin, end);
}

std::size_t group_count(std::size_t cols, std::uint32_t group) {
  return (cols + group - 1) / group;
}

void fill_scales(const SourceTensor& s, std::uint32_t group, std::span<std::byte> out) {
  const std::size_t rows = s.shape[0], cols = s.shape[1];
  if (group == 0) {
    for (std::size_t r = 0; r < rows; ++r) {
      const float scale = row_scale(s, r, cols);
      std::memcpy(out.data() + 4 * r, &scale, 4);
    }
    return;
  }
  const std::size_t groups = group_count(cols, group);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t g = 0; g < groups; ++g) {
      const float scale = group_scale(s, r, cols, g * group, std::min(cols, (g + 1) * group));
      std::memcpy(out.data() + 4 * (r * groups + g), &scale, 4);
    }
  }
}

void fill_quantized(const SourceTensor& s, const std::string& src_file, std::span<std::byte> out) {
  const std::size_t rows = s.shape[0], cols = s.shape[1];
  const std::size_t es = source_dtype_size(s.dtype);
  for (std::size_t r = 0; r < rows; ++r) {
    const float scale = row_scale(s, r, cols);
    if (!std::isfinite(scale))
      throw FormatError(src_file, s.name, fmt::format("row {} holds a non-finite value", r));
    const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
    for (std::size_t c = 0; c < cols; ++c) {
      const float v = load_elem(s.dtype, s.bytes.data() + (r * cols + c) * es);
      const float q = std::clamp(std::round(v * inv), -127.0f, 127.0f);
      out[r * cols + c] = static_cast<std::byte>(static_cast<std::int8_t>(q));
    }
  }
}

void fill_quantized_groups(const SourceTensor& s, std::uint32_t group, const std::string& src_file,
                           std::span<std::byte> out) {
  const std::size_t rows = s.shape[0], cols = s.shape[1];
  const std::size_t es = source_dtype_size(s.dtype);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t begin = 0; begin < cols; begin += group) {
      const std::size_t end = std::min(cols, begin + group);
      const float scale = group_scale(s, r, cols, begin, end);
      if (!std::isfinite(scale))
        throw FormatError(src_file, s.name,
                          fmt::format("row {}, columns {}..{} hold a non-finite value", r, begin,
                                      end - 1));
      for (std::size_t c = begin; c < end; ++c) {
        const float v = load_elem(s.dtype, s.bytes.data() + (r * cols + c) * es);
        // An IEEE division, rounded half away from zero: |v| <= 127 * scale up to the rounding
        // of the scale, so the clamp only absorbs that last ulp.
        const float q = scale > 0.0f ? std::clamp(std::round(v / scale), -127.0f, 127.0f) : 0.0f;
        out[r * cols + c] = static_cast<std::byte>(static_cast<std::int8_t>(q));
      }
    }
  }
}

// Converts `src` into `out` (already sized for `type`). Same-type copies are byte-exact; every
// narrowing conversion rounds to nearest even and refuses to turn a finite value into inf.
void fill_tensor(const Planned& p, std::uint32_t group, const std::string& src_file,
                 std::span<std::byte> out) {
  const SourceTensor& s = *p.src;
  const std::size_t n = s.bytes.size() / source_dtype_size(s.dtype);
  if (p.type == TensorType::i8) {
    if (group == 0) fill_quantized(s, src_file, out);
    else fill_quantized_groups(s, group, src_file, out);
    return;
  }
  if (to_tensor_type(s.dtype) == p.type) {
    std::memcpy(out.data(), s.bytes.data(), s.bytes.size());
    return;
  }
  const std::uint8_t* in = s.bytes.data();
  const std::size_t in_size = source_dtype_size(s.dtype);
  for (std::size_t i = 0; i < n; ++i) {
    const float v = load_elem(s.dtype, in + i * in_size);
    std::uint16_t h = 0;
    switch (p.type) {
      case TensorType::f32: std::memcpy(out.data() + 4 * i, &v, 4); continue;
      case TensorType::f16: h = f32_to_f16(v); break;
      case TensorType::bf16: h = f32_to_bf16(v); break;
      case TensorType::i8: break;  // handled above
    }
    const float back = p.type == TensorType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
    if (std::isfinite(v) && !std::isfinite(back))
      throw FormatError(src_file, s.name,
                        fmt::format("element {} = {} does not fit in {}", i, v,
                                    tensor_type_name(p.type)));
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
}

}  // namespace

ConvertReport convert_checkpoint(const ConvertOptions& opt) {
  const std::string& dir = opt.input_dir;
  if (!fs::is_directory(dir)) throw IoError(dir + ": not a directory");
  if (opt.output_path.empty()) throw InvalidArgument("convert: no output path given");
  const std::uint32_t group = opt.w8a8_group_size;
  if (group != 0 && group != 32)
    throw InvalidArgument(fmt::format("convert: W8A8 group size {} is not supported (0: one scale "
                                      "per row, or 32)", group));
  if (group != 0 && opt.type != OutputType::w8a8)
    throw InvalidArgument("convert: a W8A8 group size needs the w8a8 output type");

  // 1. Hyper-parameters.
  const std::string config_file = join(dir, "config.json");
  HfConfig hf = parse_hf_config(read_text_file(config_file, kMaxJsonBytes), config_file);
  ModelConfig cfg = hf.config;

  ConvertReport report;
  cfg.layer_sharing = opt.layer_sharing.value_or(hf.layer_sharing.value_or(false));
  report.notes.push_back(fmt::format(
      "layer sharing {} (from {})", on_off(cfg.layer_sharing),
      opt.layer_sharing ? "--layer-sharing"
      : hf.layer_sharing ? config_file + ": layer_sharing"
                         : "default: config.json does not say; use --layer-sharing on for LS checkpoints"));

  // 2. Weights.
  Weights w = load_weights(dir);
  report.weights_source = w.source;
  EmbeddingDecision emb = decide_embedding(hf, opt, w, config_file);
  cfg.embedding_sharing = emb.shared;
  report.notes.push_back(emb.note);

  // 3. Tokenizer.
  Vocabulary vocab;
  if (file_exists(join(dir, "tokenizer.model"))) {
    const std::string f = join(dir, "tokenizer.model");
    auto m = MappedFile::open(f);
    if (m->size() > kMaxTokenizerModel)
      throw FormatError(f, "(file)", fmt::format("is {} bytes, above the {} limit", m->size(),
                                                 kMaxTokenizerModel));
    vocab = read_sentencepiece_model(m->bytes(), f);
    report.tokenizer_source = "tokenizer.model";
  } else if (file_exists(join(dir, "tokenizer.json"))) {
    const std::string f = join(dir, "tokenizer.json");
    const std::string cf = join(dir, "tokenizer_config.json");
    std::optional<std::string> tc;
    if (file_exists(cf)) tc = read_text_file(cf, kMaxJsonBytes);
    vocab = read_hf_tokenizer(read_text_file(f, kMaxJsonBytes), f, tc ? &*tc : nullptr, cf);
    report.tokenizer_source = "tokenizer.json";
  } else {
    throw IoError(dir + ": no tokenizer.model or tokenizer.json");
  }
  if (vocab.size() != cfg.vocab_size)
    throw FormatError(config_file, "vocab_size",
                      fmt::format("is {} but the tokenizer ({}) has {} pieces", cfg.vocab_size,
                                  report.tokenizer_source, vocab.size()));
  auto check_special = [&](const std::optional<std::int64_t>& cfg_id, std::int32_t tok_id,
                           const char* field) {
    if (cfg_id && tok_id >= 0 && *cfg_id != tok_id)
      throw FormatError(config_file, field,
                        fmt::format("is {} but the tokenizer ({}) says {}", *cfg_id,
                                    report.tokenizer_source, tok_id));
  };
  check_special(hf.bos_token_id, vocab.bos_id, "bos_token_id");
  check_special(hf.eos_token_id, vocab.eos_id, "eos_token_id");
  if (vocab.bos_id < 0 && hf.bos_token_id) vocab.bos_id = std::int32_t(*hf.bos_token_id);
  if (vocab.eos_id < 0 && hf.eos_token_id) vocab.eos_id = std::int32_t(*hf.eos_token_id);

  // 4. Plan the output tensors: names, expected shapes, types.
  const std::uint64_t E = cfg.embedding_length, F = cfg.feed_forward_length, V = cfg.vocab_size;
  const std::uint64_t Dq = std::uint64_t(cfg.head_count) * cfg.head_dim;
  const std::uint64_t Dkv = std::uint64_t(cfg.head_count_kv) * cfg.head_dim;

  std::vector<Planned> plan;
  std::map<std::string, bool> used;  // source names consumed
  auto take = [&](const std::string& src_name) -> const SourceTensor* {
    auto it = w.by_name.find(src_name);
    if (it == w.by_name.end()) throw FormatError(w.file, src_name, "tensor is missing");
    used[src_name] = true;
    return &it->second;
  };
  auto add = [&](std::string name, const SourceTensor* src, std::vector<std::uint64_t> shape,
                 bool is_norm) {
    if (src->shape != shape)
      throw FormatError(w.file, src->name,
                        fmt::format("has shape {} but config.json implies {}", shape_str(src->shape),
                                    shape_str(shape)));
    TensorType t = TensorType::f32;
    if (!is_norm) {
      switch (opt.type) {
        case OutputType::source: t = to_tensor_type(src->dtype); break;
        case OutputType::f32: t = TensorType::f32; break;
        case OutputType::f16: t = TensorType::f16; break;
        case OutputType::bf16: t = TensorType::bf16; break;
        case OutputType::w8a8: t = TensorType::i8; break;
      }
    }
    plan.push_back({std::move(name), src, t, std::move(shape)});
  };

  add("token_embd.weight", emb.embedding, {V, E}, false);
  used[emb.embedding->name] = true;
  if (emb.shared) {  // the other copy, if stored, was checked equal
    used["model.embed_tokens.weight"] = used["lm_head.weight"] = true;
  }
  for (std::uint32_t i = 0; i < cfg.block_count; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    const std::string b = fmt::format("blk.{}.", i);
    add(b + "attn_norm.weight", take(p + "input_layernorm.weight"), {E}, true);
    add(b + "attn_q.weight", take(p + "self_attn.q_proj.weight"), {Dq, E}, false);
    add(b + "attn_k.weight", take(p + "self_attn.k_proj.weight"), {Dkv, E}, false);
    add(b + "attn_v.weight", take(p + "self_attn.v_proj.weight"), {Dkv, E}, false);
    add(b + "attn_output.weight", take(p + "self_attn.o_proj.weight"), {E, Dq}, false);
    add(b + "ffn_norm.weight", take(p + "post_attention_layernorm.weight"), {E}, true);
    add(b + "ffn_gate.weight", take(p + "mlp.gate_proj.weight"), {F, E}, false);
    add(b + "ffn_up.weight", take(p + "mlp.up_proj.weight"), {F, E}, false);
    add(b + "ffn_down.weight", take(p + "mlp.down_proj.weight"), {E, F}, false);
    // Rotary caches some checkpoints carry; the runtime recomputes them from rope theta.
    used[p + "self_attn.rotary_emb.inv_freq"] = true;
  }
  add("output_norm.weight", take("model.norm.weight"), {E}, true);
  if (!emb.shared) {
    add("output.weight", emb.head, {V, E}, false);
    used[emb.head->name] = true;
  }

  for (const auto& [name, t] : w.by_name)
    if (!used.count(name))
      throw FormatError(w.file, name,
                        fmt::format("unexpected tensor (shape {}) for a {}-block model",
                                    shape_str(t.shape), cfg.block_count));

  // All matrices share one type (mobilellm.weight_type).
  std::optional<TensorType> matrix_type;
  for (const auto& p : plan) {
    if (p.expect.size() != 2) continue;
    if (matrix_type && *matrix_type != p.type)
      throw FormatError(w.file, p.src->name,
                        fmt::format("is {} while other weight matrices are {}; pass --type to "
                                    "convert all of them to one type",
                                    source_dtype_name(p.src->dtype), tensor_type_name(*matrix_type)));
    matrix_type = p.type;
  }
  report.weight_type = *matrix_type != TensorType::i8 ? tensor_type_name(*matrix_type)
                       : group == 0                   ? "W8A8"
                                                      : fmt::format("W8A8G{}", group);

  // 5. Write.
  gguf::Writer out;
  out.set_alignment(gguf::kDefaultAlignment);
  const std::string name = opt.name.empty() ? fs::path(dir).lexically_normal().filename().string()
                                            : opt.name;
  out.add_string("general.architecture", "mobilellm");
  out.add_string("general.name", name.empty() ? "mobilellm" : name);
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
  out.add_string("mobilellm.weight_type", report.weight_type);

  out.add_string("tokenizer.ggml.model", vocab.model);
  out.add_string_array("tokenizer.ggml.tokens", vocab.pieces);
  out.add_f32_array("tokenizer.ggml.scores", vocab.scores);
  std::vector<std::int32_t> types(vocab.types.size());
  std::transform(vocab.types.begin(), vocab.types.end(), types.begin(),
                 [](TokenType t) { return static_cast<std::int32_t>(t); });
  out.add_i32_array("tokenizer.ggml.token_type", types);
  if (!vocab.merges.empty()) out.add_string_array("tokenizer.ggml.merges", vocab.merges);
  auto id_key = [&](const char* key, std::int32_t id, bool required) {
    if (id >= 0) out.add_u32(key, std::uint32_t(id));
    else if (required)
      throw FormatError(report.tokenizer_source, key, "the tokenizer defines no such token");
  };
  id_key("tokenizer.ggml.bos_token_id", vocab.bos_id, true);
  id_key("tokenizer.ggml.eos_token_id", vocab.eos_id, true);
  id_key("tokenizer.ggml.unknown_token_id", vocab.unk_id, true);
  id_key("tokenizer.ggml.padding_token_id", vocab.pad_id, false);
  out.add_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
  out.add_bool("tokenizer.ggml.add_eos_token", vocab.add_eos);
  out.add_bool("tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);

  std::vector<std::uint64_t> sizes;  // bytes of each tensor, in file order, for progress
  for (const auto& p : plan) {
    // GGUF lists dims fastest first: the reverse of the PyTorch shape.
    std::vector<std::uint64_t> dims(p.expect.rbegin(), p.expect.rend());
    std::uint64_t numel = 1;
    for (auto d : dims) numel *= d;  // bounded: the source tensor holds this many elements
    sizes.push_back(numel * tensor_type_size(p.type));
    report.parameter_count += numel;
    out.add_tensor(p.name, p.type, dims,
                   [&p, &w, group](std::span<std::byte> dst) {
                     fill_tensor(p, group, w.file, dst);
                   });
    if (p.type == TensorType::i8) {  // its scales: "X.weight" -> "X.scale"
      const std::string scale_name = p.name.substr(0, p.name.size() - 7) + ".scale";
      // Per row: dims {rows}. Per group: dims {groups per row, rows}, each row's scales together.
      std::vector<std::uint64_t> scale_dims = {p.expect[0]};
      if (group != 0) scale_dims = {group_count(p.expect[1], group), p.expect[0]};
      sizes.push_back(scale_dims[0] * (group != 0 ? scale_dims[1] : 1) * 4);
      out.add_tensor(scale_name, TensorType::f32, scale_dims,
                     [&p, group](std::span<std::byte> dst) { fill_scales(*p.src, group, dst); });
    }
  }
  std::uint64_t total_bytes = 0, done_bytes = 0;
  for (auto b : sizes) total_bytes += b;
  out.write(opt.output_path, [&](std::size_t i, std::size_t n, const std::string& tname) {
    if (i > 0) done_bytes += sizes[i - 1];
    if (opt.progress) opt.progress(i, n, done_bytes, total_bytes, tname);
  });
  if (opt.progress) opt.progress(sizes.size(), sizes.size(), total_bytes, total_bytes, "");

  report.output_path = opt.output_path;
  report.file_size = fs::file_size(opt.output_path);
  report.tensor_count = sizes.size();
  report.config = cfg;
  return report;
}

}  // namespace mobilellm
