// The hostile-input corpus: valid seed inputs of every kind mobilellm reads, and a generator of
// broken variants of them.
//
// Five kinds of input are covered: our own model file (GGUF), and the converter's four inputs,
// config.json, the weights (model.safetensors, its sharded index, pytorch_model.bin: a zip around
// a pickle) and the tokenizer (tokenizer.model: SentencePiece protobuf; tokenizer.json with
// tokenizer_config.json). Every seed is one consistent tiny checkpoint, so a folder made of seeds
// converts; a case breaks exactly one file of that folder:
//   - Stage::reader cases break a file on its own terms (truncated, lying lengths, unknown type
//     ids, overflowing dims...). The file's reader must reject it, and so must the converter,
//     with the same message.
//   - Stage::converter cases break the folder's consistency (a config.json that disagrees with
//     the tensors, a missing file...): each file may be valid alone, the converter must reject.
//
// Cases are generated: named mutations applied to a seed, plus systematic families (every count
// or length field set to 0 / 2^40 / 2^63 / 2^64-1, every type id set to unknown values, every
// required key removed...). The generators only describe cases; `make` builds the broken bytes
// when a test runs, so listing the corpus stays cheap.
//
// Used by tests/unit/test_hostile_inputs.cpp and, for their seed corpora, by the libFuzzer
// harnesses in tests/fuzz/.
#pragma once

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "checkpoint_bytes.hpp"
#include "format/gguf.hpp"
#include "mobilellm/convert.hpp"
#include "mobilellm/error.hpp"
#include "model_builder.hpp"

namespace mobilellm::hostile {

using checkpoint_bytes::Bytes;
using nlohmann::ordered_json;

// Values a hostile count or length field is set to: each either exceeds every limit or makes a
// naive size computation overflow, and would make a naive reader allocate terabytes.
inline constexpr std::uint64_t k2p32 = std::uint64_t{1} << 32;
inline constexpr std::uint64_t k2p40 = std::uint64_t{1} << 40;
inline constexpr std::uint64_t k2p63 = std::uint64_t{1} << 63;
inline constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t kHugeCounts[] = {k2p40, k2p63, kMaxU64};

inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string to_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

// `b` with every occurrence of `from` replaced by `to`. Throws when there is none, so a
// mutation whose target the seed no longer holds fails loudly instead of testing the seed.
inline Bytes replace_all(const Bytes& b, std::string_view from, std::string_view to) {
  Bytes out;
  bool replaced = false;
  for (std::size_t i = 0; i < b.size();) {
    if (b.size() - i >= from.size() &&
        std::equal(from.begin(), from.end(), b.begin() + static_cast<std::ptrdiff_t>(i))) {
      checkpoint_bytes::append(out, to);
      i += from.size();
      replaced = true;
    } else {
      out.push_back(b[i++]);
    }
  }
  if (!replaced) throw std::logic_error("hostile: the seed lacks \"" + std::string(from) + "\"");
  return out;
}

// =============================================================================== the inputs

enum class Input {
  gguf,               // model.gguf: our model file, read by ModelFile::open
  config,             // config.json
  safetensors,        // model.safetensors
  safetensors_index,  // model.safetensors.index.json (with two shards)
  torch,              // pytorch_model.bin
  sentencepiece,      // tokenizer.model
  tokenizer_json,     // tokenizer.json
  tokenizer_config,   // tokenizer_config.json (read together with tokenizer.json)
};

inline const char* file_name(Input input) {
  switch (input) {
    case Input::gguf:
      return "model.gguf";
    case Input::config:
      return "config.json";
    case Input::safetensors:
      return "model.safetensors";
    case Input::safetensors_index:
      return "model.safetensors.index.json";
    case Input::torch:
      return "pytorch_model.bin";
    case Input::sentencepiece:
      return "tokenizer.model";
    case Input::tokenizer_json:
      return "tokenizer.json";
    case Input::tokenizer_config:
      return "tokenizer_config.json";
  }
  return "";
}

// The five kinds of input the issue names; the corpus is counted per kind.
inline const char* kind_name(Input input) {
  switch (input) {
    case Input::gguf:
      return "model file (GGUF)";
    case Input::config:
      return "config.json";
    case Input::safetensors:
    case Input::safetensors_index:
      return "safetensors";
    case Input::torch:
      return "pytorch_model.bin";
    case Input::sentencepiece:
    case Input::tokenizer_json:
    case Input::tokenizer_config:
      return "tokenizer";
  }
  return "";
}

// ===================================================================== the tiny checkpoint
//
// A LLaMA checkpoint in Hugging Face layout: one block, GQA with 2 query heads sharing 1 key/value
// head of dimension 4, tied embeddings (no lm_head), F32 weights, and a 12-piece vocabulary that
// both tokenizer seeds spell out identically.
namespace tiny {

inline constexpr std::uint64_t kVocab = 12, kHidden = 8, kFfn = 12, kHeads = 2, kKvHeads = 1,
                               kHeadDim = kHidden / kHeads, kLayers = 1, kContext = 32;

// A vocabulary entry (its id is its position): the piece, its SentencePiece type (1 normal,
// 2 unknown, 3 control, 6 byte) and score.
struct Piece {
  std::string text;
  int type;
  float score;
};
inline std::vector<Piece> pieces() {
  const std::string sp = "\xe2\x96\x81";  // U+2581 '▁'
  return {{"<unk>", 2, 0.0f},   {"<s>", 3, 0.0f},      {"</s>", 3, 0.0f}, {"<0x0A>", 6, 0.0f},
          {sp, 1, -1.0f},       {"a", 1, -2.0f},       {"b", 1, -3.0f},   {"ab", 1, -4.0f},
          {sp + "a", 1, -5.0f}, {sp + "ab", 1, -6.0f}, {"c", 1, -7.0f},   {sp + "c", 1, -8.0f}};
}

struct Tensor {
  std::string name;
  std::vector<std::uint64_t> shape;  // PyTorch order
  Bytes data;                        // little-endian F32
};

// Small finite values that differ from tensor to tensor.
inline Bytes f32_data(std::uint64_t count, int seed) {
  Bytes b;
  for (std::uint64_t i = 0; i < count; ++i) {
    const float v =
        0.01f * static_cast<float>((i * 7 + static_cast<std::uint64_t>(seed) * 13) % 29) - 0.14f;
    checkpoint_bytes::append_le(b, std::bit_cast<std::uint32_t>(v), 4);
  }
  return b;
}

inline std::vector<Tensor> tensors() {
  const std::uint64_t E = kHidden, F = kFfn, V = kVocab, Q = kHeads * kHeadDim,
                      KV = kKvHeads * kHeadDim;
  const std::vector<std::pair<std::string, std::vector<std::uint64_t>>> specs = {
      {"model.embed_tokens.weight", {V, E}},
      {"model.layers.0.input_layernorm.weight", {E}},
      {"model.layers.0.self_attn.q_proj.weight", {Q, E}},
      {"model.layers.0.self_attn.k_proj.weight", {KV, E}},
      {"model.layers.0.self_attn.v_proj.weight", {KV, E}},
      {"model.layers.0.self_attn.o_proj.weight", {E, Q}},
      {"model.layers.0.post_attention_layernorm.weight", {E}},
      {"model.layers.0.mlp.gate_proj.weight", {F, E}},
      {"model.layers.0.mlp.up_proj.weight", {F, E}},
      {"model.layers.0.mlp.down_proj.weight", {E, F}},
      {"model.norm.weight", {E}},
  };
  std::vector<Tensor> out;
  int seed = 0;
  for (const auto& [name, shape] : specs) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    out.push_back({name, shape, f32_data(n, ++seed)});
  }
  return out;
}

// config.json in the training form (LlamaForCausalLM), tied embeddings.
inline ordered_json config() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", kHidden},
          {"intermediate_size", kFfn},
          {"num_hidden_layers", kLayers},
          {"num_attention_heads", kHeads},
          {"num_key_value_heads", kKvHeads},
          {"vocab_size", kVocab},
          {"max_position_embeddings", kContext},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", true},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"torch_dtype", "float32"}};
}

// tokenizer.json as the Hugging Face LLaMA conversion writes it, for the same vocabulary.
inline ordered_json tokenizer_json() {
  const std::string sp = "\xe2\x96\x81";
  ordered_json vocab = ordered_json::object();
  const auto list = pieces();
  for (std::size_t i = 0; i < list.size(); ++i) vocab[list[i].text] = i;
  ordered_json added = ordered_json::array();
  for (int id = 0; id < 3; ++id)
    added.push_back({{"id", id},
                     {"content", list[static_cast<std::size_t>(id)].text},
                     {"special", true},
                     {"normalized", false}});
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", sp}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}}}}}},
          {"pre_tokenizer", nullptr},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", "<unk>"},
            {"byte_fallback", true},
            {"vocab", vocab},
            {"merges", {"a b", sp + " a", sp + " ab", sp + " c"}}}}};
}

inline ordered_json tokenizer_config() {
  return {{"add_bos_token", true},
          {"add_eos_token", false},
          {"bos_token", "<s>"},
          {"eos_token", {{"content", "</s>"}, {"lstrip", false}}},
          {"unk_token", "<unk>"},
          {"pad_token", nullptr},
          {"tokenizer_class", "LlamaTokenizer"}};
}

}  // namespace tiny

// ============================================================= SentencePiece protobuf writer

namespace pb {
inline std::string varint(std::uint64_t v) {
  std::string out;
  do {
    out += static_cast<char>((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v != 0);
  return out;
}
inline std::string key(std::uint32_t field, unsigned wire) {
  return varint((std::uint64_t{field} << 3) | wire);
}
inline std::string varint_field(std::uint32_t field, std::uint64_t v) {
  return key(field, 0) + varint(v);
}
// int32 / enum: negative values travel sign-extended to 64 bits.
inline std::string int32_field(std::uint32_t field, std::int64_t v) {
  return varint_field(field, static_cast<std::uint64_t>(v));
}
inline std::string float_field(std::uint32_t field, float v) {
  std::string out = key(field, 5);
  const auto bits = std::bit_cast<std::uint32_t>(v);
  for (int i = 0; i < 4; ++i) out += static_cast<char>(bits >> (8 * i));
  return out;
}
inline std::string bytes_field(std::uint32_t field, std::string_view payload) {
  return key(field, 2) + varint(payload.size()) + std::string(payload);
}
}  // namespace pb

// A SentencePiece ModelProto built from parts. Settings are changed by appending fields to
// `trainer` or `normalizer`, or to a piece's `extra`: for a scalar field that appears twice,
// protobuf's last value wins.
struct SentencePieceModel {
  struct Piece {
    std::optional<std::string> text;  // nullopt: leave the field out
    float score = 0.0f;
    std::optional<std::int64_t> type;  // nullopt: leave the field out (NORMAL by default)
    std::string extra;                 // raw fields appended to the piece's message
  };
  std::vector<Piece> pieces;
  std::string trainer = pb::int32_field(3, 2)              // model_type BPE
                        + pb::int32_field(35, 1)           // byte_fallback
                        + pb::int32_field(40, 0)           // unk_id
                        + pb::int32_field(41, 1)           // bos_id
                        + pb::int32_field(42, 2)           // eos_id
                        + pb::int32_field(43, -1);         // pad_id: none
  std::string normalizer = pb::bytes_field(1, "identity")  // name
                           + pb::int32_field(3, 1)         // add_dummy_prefix
                           + pb::int32_field(4, 0);        // remove_extra_whitespaces
  bool with_trainer = true, with_normalizer = true;

  SentencePieceModel() {
    for (const auto& p : tiny::pieces())
      pieces.push_back({p.text, p.score, p.type == 1 ? std::nullopt : std::optional(p.type), {}});
  }
  static std::string piece_message(const Piece& p) {
    std::string m = p.text ? pb::bytes_field(1, *p.text) : std::string();
    m += pb::float_field(2, p.score);
    if (p.type) m += pb::int32_field(3, *p.type);
    return m + p.extra;
  }
  std::string pieces_bytes() const {
    std::string out;
    for (const Piece& p : pieces) out += pb::bytes_field(1, piece_message(p));
    return out;
  }
  Bytes bytes() const {
    return to_bytes(pieces_bytes() + (with_trainer ? pb::bytes_field(2, trainer) : "") +
                    (with_normalizer ? pb::bytes_field(3, normalizer) : ""));
  }
};

// ===================================================================================== seeds

// A small valid model file and where each of its fields lies.
struct GgufSeed {
  test::ModelSpec spec;
  Bytes bytes;
  gguf::Layout layout;

  const gguf::Layout::Kv& kv(std::string_view key) const {
    for (const auto& k : layout.kvs)
      if (k.key == key) return k;
    throw std::logic_error("hostile: GGUF seed lacks key " + std::string(key));
  }
  const gguf::Layout::Tensor& tensor(std::string_view name) const {
    for (const auto& t : layout.tensors)
      if (t.name == name) return t;
    throw std::logic_error("hostile: GGUF seed lacks tensor " + std::string(name));
  }
};

inline test::ModelSpec gguf_spec() {
  return {.vocab_size = 40,
          .embedding_length = 16,
          .feed_forward_length = 24,
          .block_count = 2,
          .head_count = 2,
          .head_count_kv = 1,
          .head_dim = 8,
          .context_length = 32};
}

inline const GgufSeed& gguf_seed() {
  static const GgufSeed seed = [] {
    GgufSeed s;
    s.spec = gguf_spec();
    s.layout = test::ModelBuilder(s.spec).serialize(s.bytes);
    return s;
  }();
  return seed;
}

inline std::vector<checkpoint_bytes::SafetensorsTensor> safetensors_tensors(
    const std::vector<tiny::Tensor>& tensors) {
  std::vector<checkpoint_bytes::SafetensorsTensor> out;
  for (const auto& t : tensors) out.push_back({t.name, "F32", t.shape, t.data});
  return out;
}

inline const checkpoint_bytes::SafetensorsFile& safetensors_seed() {
  static const auto seed =
      checkpoint_bytes::build_safetensors(safetensors_tensors(tiny::tensors()));
  return seed;
}

// The sharded form: the first kShardSplit tensors in shard 1, the rest in shard 2.
inline constexpr std::size_t kShardSplit = 6;
inline const char* const kShardNames[2] = {"model-00001-of-00002.safetensors",
                                           "model-00002-of-00002.safetensors"};
inline std::vector<Bytes> shard_seeds() {
  const auto all = tiny::tensors();
  const std::vector<tiny::Tensor> first(all.begin(), all.begin() + kShardSplit),
      second(all.begin() + kShardSplit, all.end());
  return {checkpoint_bytes::build_safetensors(safetensors_tensors(first)).bytes,
          checkpoint_bytes::build_safetensors(safetensors_tensors(second)).bytes};
}
inline ordered_json safetensors_index() {
  ordered_json map = ordered_json::object();
  std::uint64_t total = 0;
  const auto all = tiny::tensors();
  for (std::size_t i = 0; i < all.size(); ++i) {
    map[all[i].name] = kShardNames[i < kShardSplit ? 0 : 1];
    total += all[i].data.size();
  }
  return {{"metadata", {{"total_size", total}}}, {"weight_map", map}};
}

// pytorch_model.bin: torch.save's archive around the state-dict pickle, storage i holding
// tensor i (a Parameter-free state dict, as model.state_dict() gives).
inline std::vector<checkpoint_bytes::PickleTensor> pickle_tensors() {
  std::vector<checkpoint_bytes::PickleTensor> out;
  const auto all = tiny::tensors();
  for (std::size_t i = 0; i < all.size(); ++i)
    out.push_back({.name = all[i].name,
                   .key = std::to_string(i),
                   .storage_numel = all[i].data.size() / 4,
                   .shape = all[i].shape});
  return out;
}
inline std::vector<std::pair<std::string, Bytes>> torch_storages() {
  std::vector<std::pair<std::string, Bytes>> out;
  const auto all = tiny::tensors();
  for (std::size_t i = 0; i < all.size(); ++i) out.emplace_back(std::to_string(i), all[i].data);
  return out;
}
inline checkpoint_bytes::TorchArchiveOptions torch_options() { return {.byteorder = true}; }

struct TorchSeed {
  checkpoint_bytes::StateDictPickle pickle;
  std::vector<checkpoint_bytes::ZipEntry> entries;  // data.pkl, byteorder, data/0.., version
  checkpoint_bytes::ZipArchive archive;
};
inline const TorchSeed& torch_seed() {
  static const TorchSeed seed = [] {
    TorchSeed s;
    s.pickle = checkpoint_bytes::build_state_dict_pickle(pickle_tensors());
    s.entries =
        checkpoint_bytes::torch_archive_entries(s.pickle.bytes, torch_storages(), torch_options());
    s.archive = checkpoint_bytes::build_zip(s.entries, torch_options().zip);
    return s;
  }();
  return seed;
}
inline Bytes torch_with_pickle(const Bytes& pickle) {
  return checkpoint_bytes::build_torch_archive(pickle, torch_storages(), torch_options()).bytes;
}

inline Bytes json_bytes(const ordered_json& j) { return to_bytes(j.dump()); }

// The seed of each input, as the bytes of its file.
inline Bytes seed_bytes(Input input) {
  switch (input) {
    case Input::gguf:
      return gguf_seed().bytes;
    case Input::config:
      return json_bytes(tiny::config());
    case Input::safetensors:
      return safetensors_seed().bytes;
    case Input::safetensors_index:
      return json_bytes(safetensors_index());
    case Input::torch:
      return torch_seed().archive.bytes;
    case Input::sentencepiece:
      return SentencePieceModel().bytes();
    case Input::tokenizer_json:
      return json_bytes(tiny::tokenizer_json());
    case Input::tokenizer_config:
      return json_bytes(tiny::tokenizer_config());
  }
  return {};
}

// The Hugging Face folder a case of `input` starts from: config.json, the weights in the form
// `input` needs (model.safetensors by default) and the tokenizer in the form it needs
// (tokenizer.model by default). Every file is a seed, so the folder converts.
inline std::map<std::string, Bytes> base_folder(Input input) {
  std::map<std::string, Bytes> files;
  files["config.json"] = seed_bytes(Input::config);
  if (input == Input::torch) {
    files["pytorch_model.bin"] = seed_bytes(Input::torch);
  } else if (input == Input::safetensors_index) {
    files["model.safetensors.index.json"] = seed_bytes(Input::safetensors_index);
    const auto shards = shard_seeds();
    for (std::size_t i = 0; i < 2; ++i) files[kShardNames[i]] = shards[i];
  } else {
    files["model.safetensors"] = seed_bytes(Input::safetensors);
  }
  if (input == Input::tokenizer_json || input == Input::tokenizer_config) {
    files["tokenizer.json"] = seed_bytes(Input::tokenizer_json);
    files["tokenizer_config.json"] = seed_bytes(Input::tokenizer_config);
  } else {
    files["tokenizer.model"] = seed_bytes(Input::sentencepiece);
  }
  return files;
}

// =================================================================== seed corpora for fuzzing
//
// The inputs the libFuzzer harnesses in tests/fuzz/ start from (`HARNESS --write-seeds=DIR`): valid
// inputs of each reader, varied to reach its different paths. HostileSeeds.FuzzSeedsAreAccepted
// checks that each one is accepted.
using Seed = std::pair<std::string, Bytes>;  // file name, contents

inline std::vector<Seed> gguf_fuzz_seeds() {
  test::ModelSpec w8a8 = gguf_spec();
  w8a8.weight_type = "W8A8";
  test::ModelSpec untied = gguf_spec();
  untied.embedding_sharing = false;
  untied.merges = true;
  untied.padding_token = true;
  untied.weight_type = "F16";
  return {{"f32.gguf", gguf_seed().bytes},
          {"w8a8.gguf", test::ModelBuilder(w8a8).bytes()},
          {"untied-f16-merges.gguf", test::ModelBuilder(untied).bytes()}};
}

inline std::vector<Seed> safetensors_fuzz_seeds() {
  namespace cb = checkpoint_bytes;
  const auto shards = shard_seeds();
  // Every dtype, an empty tensor, a 0-d tensor and metadata.
  const auto mixed = cb::build_safetensors({{"a", "F16", {2, 3}, cb::pattern(12, 1)},
                                            {"b", "BF16", {4}, cb::pattern(8, 2)},
                                            {"empty", "F32", {0, 5}, {}},
                                            {"scalar", "F32", {}, cb::pattern(4, 3)}},
                                           {{"format", "pt"}});
  return {{"tiny.safetensors", safetensors_seed().bytes},
          {"shard-1.safetensors", shards[0]},
          {"shard-2.safetensors", shards[1]},
          {"mixed.safetensors", mixed.bytes}};
}

// A state dict with views sharing a storage, a parameter (keep_vars=True), every storage class
// and a 0-d tensor, and the storages it needs.
inline std::vector<checkpoint_bytes::PickleTensor> varied_pickle_tensors() {
  return {
      {.name = "w", .key = "0", .storage_numel = 24, .shape = {4, 6}},
      {.name = "view", .key = "0", .storage_numel = 24, .storage_offset = 12, .shape = {2, 6}},
      {.name = "p",
       .storage_class = "HalfStorage",
       .key = "1",
       .storage_numel = 6,
       .shape = {6},
       .parameter = true},
      {.name = "b",
       .storage_class = "BFloat16Storage",
       .key = "2",
       .storage_numel = 1,
       .shape = {}},
  };
}

inline std::vector<Seed> pickle_fuzz_seeds() {
  namespace cb = checkpoint_bytes;
  return {{"state-dict.pkl", torch_seed().pickle.bytes},
          {"varied.pkl", cb::build_state_dict_pickle(varied_pickle_tensors()).bytes},
          {"plain-dict.pkl",
           cb::build_state_dict_pickle(varied_pickle_tensors(), {.ordered = false}).bytes}};
}

inline std::vector<Seed> zip_fuzz_seeds() {
  namespace cb = checkpoint_bytes;
  const auto& entries = torch_seed().entries;
  const auto varied = cb::build_torch_archive(
      cb::build_state_dict_pickle(varied_pickle_tensors()).bytes,
      {{"0", cb::pattern(96, 1)}, {"1", cb::pattern(12, 2)}, {"2", cb::pattern(2, 3)}},
      {.prefix = "model", .serialization_id = true});
  return {{"pytorch_model.bin", torch_seed().archive.bytes},
          {"zip64-extra.bin", cb::build_zip(entries, {.zip64_extra = true}).bytes},
          {"no-descriptor.bin",
           cb::build_zip(entries,
                         {.data_descriptor = false, .alignment = 0, .zip64_end_records = false})
               .bytes},
          {"varied.bin", varied.bytes}};
}

inline std::vector<Seed> sentencepiece_fuzz_seeds() {
  SentencePieceModel skipped;  // fields the reader skips, of all four wire types
  skipped.trainer += pb::varint_field(1000, 7) + pb::bytes_field(1001, "x") +
                     pb::float_field(1002, 1.0f) + pb::key(1003, 1) + std::string(8, '\0');
  skipped.pieces[5].extra = pb::varint_field(99, 1);
  SentencePieceModel no_prefix;  // add_dummy_prefix off, no pad or eos
  no_prefix.normalizer += pb::int32_field(3, 0);
  no_prefix.trainer += pb::int32_field(42, -1);
  return {{"tokenizer.model", SentencePieceModel().bytes()},
          {"skipped-fields.model", skipped.bytes()},
          {"no-prefix.model", no_prefix.bytes()}};
}

// tokenizer.json, then optionally a NUL byte and tokenizer_config.json: the input format of
// fuzz_tokenizer_json (JSON text never holds a raw NUL, so the split is unambiguous).
inline std::vector<Seed> tokenizer_json_fuzz_seeds() {
  const std::string config = tiny::tokenizer_config().dump();
  auto joined = [](const ordered_json& tokenizer, const std::string* config_text) {
    return to_bytes(tokenizer.dump() + (config_text ? std::string(1, '\0') + *config_text : ""));
  };
  // The other spelling of SentencePiece's text handling: a non-splitting Metaspace.
  ordered_json metaspace = tiny::tokenizer_json();
  metaspace["normalizer"] = nullptr;
  metaspace["pre_tokenizer"] = {{"type", "Metaspace"},
                                {"replacement", "\xe2\x96\x81"},
                                {"split", false},
                                {"prepend_scheme", "first"}};
  return {{"tokenizer-and-config.json", joined(tiny::tokenizer_json(), &config)},
          {"tokenizer.json", joined(tiny::tokenizer_json(), nullptr)},
          {"metaspace.json", joined(metaspace, &config)}};
}

inline std::vector<Seed> config_fuzz_seeds() {
  // The release form: MobileLLMForCausalLM with share_embedding, layer_sharing and head_dim.
  ordered_json release = tiny::config();
  release["architectures"] = {"MobileLLMForCausalLM"};
  release["model_type"] = "mobilellm";
  release["share_embedding"] = true;
  release["layer_sharing"] = true;
  release["head_dim"] = tiny::kHeadDim;
  release["rope_scaling"] = nullptr;
  release.erase("tie_word_embeddings");
  return {{"config.json", to_bytes(tiny::config().dump(2))},
          {"release-config.json", to_bytes(release.dump(2))}};
}

// ===================================================================================== cases

enum class Stage {
  reader,     // the file's reader rejects it; the converter rejects it with the same message
  converter,  // the folder is inconsistent; the converter rejects it
};

struct Case {
  std::string name;  // unique within its kind; letters, digits and '_'
  Input input;
  Stage stage = Stage::reader;
  ErrorCode expect = ErrorCode::format;
  // Strings the error message must contain: the field and the offending value, where the reader's
  // documentation promises them.
  std::vector<std::string> needles;
  // The bytes of the broken file, or nullopt when the case removes the file from the folder.
  std::function<std::optional<Bytes>()> make;
  OutputType output_type = OutputType::source;  // converter options (Stage::converter)
};

// GoogleTest prints parameters; a case prints as its name.
inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Turns a description into a test-name fragment: [A-Za-z0-9_] only.
inline std::string case_name(std::string_view s) {
  std::string out;
  for (const char ch : s) out += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return out;
}

// Collects the cases of one generator; every name gets `prefix`.
class CaseList {
 public:
  explicit CaseList(Input input, std::string prefix = {})
      : input_(input), prefix_(std::move(prefix)) {}

  // A Stage::reader case whose broken bytes `make` builds.
  CaseList& add(const std::string& name, std::vector<std::string> needles,
                std::function<Bytes()> make, ErrorCode expect = ErrorCode::format) {
    return add_case({prefix_ + case_name(name), input_, Stage::reader, expect, std::move(needles),
                     [make = std::move(make)]() -> std::optional<Bytes> { return make(); }});
  }
  // A Stage::reader case: the seed of the input, edited by `edit`.
  CaseList& patch(const std::string& name, std::vector<std::string> needles,
                  std::function<void(Bytes&)> edit, ErrorCode expect = ErrorCode::format) {
    return add(
        name, std::move(needles),
        [input = input_, edit = std::move(edit)] {
          Bytes b = seed_bytes(input);
          edit(b);
          return b;
        },
        expect);
  }
  // A Stage::converter case: `make` gives the input's file, or nullopt to leave it out.
  CaseList& convert(const std::string& name, std::vector<std::string> needles,
                    std::function<std::optional<Bytes>()> make,
                    ErrorCode expect = ErrorCode::format, OutputType type = OutputType::source) {
    return add_case({prefix_ + "convert_" + case_name(name), input_, Stage::converter, expect,
                     std::move(needles), std::move(make), type});
  }
  CaseList& add_case(Case c) {
    cases_.push_back(std::move(c));
    return *this;
  }
  std::vector<Case> take() { return std::move(cases_); }

 private:
  Input input_;
  std::string prefix_;
  std::vector<Case> cases_;
};

// A JSON input whose seed document `edit` changes, or whose text `edit_text` rewrites.
inline std::function<Bytes()> edited_json(Input input, std::function<void(ordered_json&)> edit) {
  return [input, edit = std::move(edit)] {
    ordered_json j = ordered_json::parse(to_string(seed_bytes(input)));
    edit(j);
    return json_bytes(j);
  };
}
inline std::function<Bytes()> json_text(std::string text) {
  return [text = std::move(text)] { return to_bytes(text); };
}

// `n` levels of arrays around 0: "[[[...0...]]]".
inline std::string nested_arrays(std::size_t n) {
  return std::string(n, '[') + "0" + std::string(n, ']');
}

}  // namespace mobilellm::hostile
