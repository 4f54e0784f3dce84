// Hostile and broken inputs, for every file mobilellm reads: our model file (GGUF) and the
// converter's inputs (config.json; model.safetensors, its sharded index and pytorch_model.bin;
// tokenizer.model, tokenizer.json and tokenizer_config.json).
//
// The cases come from the generator below (seeds in hostile_cases.hpp): each is one broken file
// in an otherwise valid Hugging Face folder (or a broken model file). For each case:
//   - the file's reader throws mobilellm::FormatError (UnsupportedError, IoError where that is the
//     documented answer), never another exception, and the message names the file and a field
//     (and the offending value where the reader documents it);
//   - convert_checkpoint on the folder throws the same error, and leaves nothing behind: no output
//     file and no "<out>.tmp.*" file.
// No case may crash, read out of bounds or allocate without bound: the ASan + UBSan build runs
// this suite (ctest -L unit -R Hostile), where an out-of-bounds read aborts and so does any
// allocation of the terabytes the 2^40 / 2^63 / 2^64-1 counts would make a naive reader ask for.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "common/file.hpp"
#include "convert/hf_config.hpp"
#include "convert/safetensors.hpp"
#include "convert/tokenizer_sources.hpp"
#include "convert/torch_checkpoint.hpp"
#include "hostile_cases.hpp"
#include "mobilellm/convert.hpp"
#include "mobilellm/model_file.hpp"

namespace mobilellm::hostile {
namespace {

namespace fs = std::filesystem;
namespace cb = checkpoint_bytes;
using gguf::Value;

constexpr std::uint64_t kMaxText = 64ull << 20;  // what the converter allows a JSON file

std::string str(std::uint64_t v) { return std::to_string(v); }
// "7", "minus_1": a signed value as a test-name fragment.
std::string signed_label(std::int64_t v) {
  return v < 0 ? "minus_" + std::to_string(0 - static_cast<std::uint64_t>(v)) : std::to_string(v);
}

// =============================================================================== the model file

// Little-endian stores into a copy of the seed.
void put_u32(Bytes& b, std::uint64_t at, std::uint32_t v) { test::patch_u32(b, at, v); }
void put_u64(Bytes& b, std::uint64_t at, std::uint64_t v) { test::patch_u64(b, at, v); }
void put_byte(Bytes& b, std::uint64_t at, std::uint8_t v) { b.at(at) = v; }
void put_text(Bytes& b, std::uint64_t at, std::string_view s) { test::patch_bytes(b, at, s); }

// The hyper-parameter keys of a model file: u32 sizes, then the rest.
const char* const kSizeKeys[] = {
    "mobilellm.vocab_size",
    "mobilellm.context_length",
    "mobilellm.embedding_length",
    "mobilellm.feed_forward_length",
    "mobilellm.block_count",
    "mobilellm.attention.head_count",
    "mobilellm.attention.head_count_kv",
    "mobilellm.attention.key_length",
};
const char* const kFloatKeys[] = {"mobilellm.rope.freq_base",
                                  "mobilellm.attention.layer_norm_rms_epsilon"};

// Every key models/README.md marks required.
const char* const kRequiredKeys[] = {
    "general.architecture",
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
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_eos_token",
    "tokenizer.ggml.add_space_prefix",
};

// A value of the wrong type for each required key (same meaning where one exists).
std::vector<std::pair<std::string, Value>> wrong_typed_values() {
  return {
      {"general.architecture", Value::u32(1)},
      {"mobilellm.vocab_size", Value::u64(40)},
      {"mobilellm.context_length", Value::i32(32)},
      {"mobilellm.embedding_length", Value::u16(16)},
      {"mobilellm.feed_forward_length", Value::f32(24.0f)},
      {"mobilellm.block_count", Value::string("2")},
      {"mobilellm.attention.head_count", Value::u8(2)},
      {"mobilellm.attention.head_count_kv", Value::i64(1)},
      {"mobilellm.attention.key_length", Value::boolean(true)},
      {"mobilellm.attention.value_length", Value::u64(8)},
      {"mobilellm.rope.dimension_count", Value::i32(8)},
      {"mobilellm.rope.freq_base", Value::f64(10000.0)},
      {"mobilellm.attention.layer_norm_rms_epsilon", Value::f64(1e-5)},
      {"mobilellm.layer_sharing", Value::u8(0)},
      {"mobilellm.embedding_sharing", Value::u8(1)},
      {"mobilellm.weight_type", Value::u32(0)},
      {"tokenizer.ggml.model", Value::u32(1)},
      {"tokenizer.ggml.tokens", Value::string("<unk>")},
      {"tokenizer.ggml.scores", Value::i32_array(std::vector<std::int32_t>(40, 0))},
      {"tokenizer.ggml.token_type", Value::f32_array(std::vector<float>(40, 1.0f))},
      {"tokenizer.ggml.bos_token_id", Value::i32(1)},
      {"tokenizer.ggml.eos_token_id", Value::u64(2)},
      {"tokenizer.ggml.unknown_token_id", Value::string("0")},
      {"tokenizer.ggml.add_bos_token", Value::u32(1)},
      {"tokenizer.ggml.add_eos_token", Value::i8(0)},
      {"tokenizer.ggml.add_space_prefix", Value::string("true")},
  };
}

std::vector<Case> gguf_cases() {
  CaseList list(Input::gguf);
  const GgufSeed& seed = gguf_seed();
  const std::uint64_t data_offset = seed.layout.data_offset;
  const std::uint64_t file_size = seed.bytes.size();
  const std::uint64_t V = seed.spec.vocab_size;

  auto u32_case = [&](const std::string& name, std::vector<std::string> needles, std::uint64_t at,
                      std::uint32_t v) {
    list.patch(name, std::move(needles), [at, v](Bytes& b) { put_u32(b, at, v); });
  };
  auto u64_case = [&](const std::string& name, std::vector<std::string> needles, std::uint64_t at,
                      std::uint64_t v) {
    list.patch(name, std::move(needles), [at, v](Bytes& b) { put_u64(b, at, v); });
  };
  // A model built from the seed's spec (or `spec`) and edited through the builder: the writer
  // keeps the container well-formed, so these reach the model-level validation.
  auto model = [&](const std::string& name, std::vector<std::string> needles,
                   std::function<void(test::ModelBuilder&)> edit,
                   test::ModelSpec spec = gguf_spec()) {
    list.add(name, std::move(needles), [edit = std::move(edit), spec] {
      test::ModelBuilder b(spec);
      edit(b);
      return b.bytes();
    });
  };

  // ---------------------------------------------------------------- header (offsets 0..23)
  list.patch("magic_GGUG", {"magic"}, [](Bytes& b) { put_text(b, 0, "GGUG"); });
  list.patch("magic_byte_swapped", {"magic"}, [](Bytes& b) { put_text(b, 0, "FUGG"); });
  u32_case("magic_zero", {"magic"}, 0, 0);
  for (std::uint32_t v : {0u, 1u, 2u, 4u, 0xffffffffu})
    u32_case("version_" + str(v), {"version", str(v)}, 4, v);
  const std::uint64_t n_tensors = seed.layout.tensors.size(), n_kvs = seed.layout.kvs.size();
  // Counts one off: the reader then parses key-value pairs as tensor infos or the reverse.
  u64_case("tensor_count_0", {}, 8, 0);
  u64_case("tensor_count_plus_1", {}, 8, n_tensors + 1);
  u64_case("kv_count_0", {}, 16, 0);
  u64_case("kv_count_minus_1", {}, 16, n_kvs - 1);
  u64_case("kv_count_plus_1", {}, 16, n_kvs + 1);
  // Counts no file could hold.
  for (std::uint64_t v : {std::uint64_t{65537}, k2p32, k2p40, k2p63, kMaxU64}) {
    u64_case("tensor_count_" + str(v), {"tensor_count", str(v)}, 8, v);
    u64_case("kv_count_" + str(v), {"kv_count", str(v)}, 16, v);
  }

  // ------------------------------------------------------------------- key-value pairs
  // The string length of a key: empty, one past the limit, and lengths no file holds.
  for (const char* key :
       {"general.architecture", "mobilellm.rope.freq_base", "tokenizer.ggml.add_space_prefix"}) {
    const auto& kv = seed.kv(key);
    const std::string k = case_name(key);
    u64_case(k + "_key_length_0", {}, kv.offset, 0);
    u64_case(k + "_key_length_2p20_plus_1", {str((1u << 20) + 1)}, kv.offset, (1u << 20) + 1);
    for (std::uint64_t v : kHugeCounts)
      u64_case(k + "_key_length_" + str(v), {str(v)}, kv.offset, v);
    // Value type ids past f64 (12).
    for (std::uint32_t v : {13u, 0x80000000u, 0xffffffffu})
      u32_case(k + "_value_type_" + str(v), {key, str(v)}, kv.type_offset(), v);
  }
  // Bytes a key must not hold: NUL, a byte that is never UTF-8, an overlong '/', a surrogate.
  for (const char* key : {"general.architecture", "tokenizer.ggml.tokens"}) {
    const std::uint64_t at = seed.kv(key).offset + 8;
    const std::string k = case_name(key);
    list.patch(k + "_key_holds_NUL", {}, [at](Bytes& b) { put_byte(b, at + 3, 0); });
    list.patch(k + "_key_invalid_utf8", {}, [at](Bytes& b) { put_byte(b, at, 0xff); });
    list.patch(k + "_key_overlong_utf8", {}, [at](Bytes& b) { put_text(b, at, "\xc0\xaf"); });
    list.patch(k + "_key_utf8_surrogate", {}, [at](Bytes& b) { put_text(b, at, "\xed\xa0\x80"); });
  }
  // String values: lengths past the limit and past the file, invalid UTF-8.
  for (const char* key : {"general.architecture", "general.name", "mobilellm.weight_type"}) {
    const auto& kv = seed.kv(key);
    for (std::uint64_t v : {std::uint64_t{(1u << 20) + 1}, k2p40, kMaxU64})
      u64_case(case_name(key) + "_string_length_" + str(v), {key, str(v)}, kv.value_offset(), v);
  }
  {
    const std::uint64_t at = seed.kv("general.name").value_offset() + 8;
    list.patch("general_name_invalid_utf8", {"general.name"},
               [at](Bytes& b) { put_byte(b, at, 0xff); });
  }
  // Arrays: element type, element count, first element.
  for (const char* key :
       {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"}) {
    const auto& kv = seed.kv(key);
    const std::string k = case_name(key);
    u32_case(k + "_array_of_arrays", {key}, kv.value_offset(), 9);
    for (std::uint32_t v : {13u, 0xffffffffu})
      u32_case(k + "_element_type_" + str(v), {key, str(v)}, kv.value_offset(), v);
    for (std::uint64_t v : {std::uint64_t{(1u << 24) + 1}, k2p40, k2p63, kMaxU64})
      u64_case(k + "_count_" + str(v), {key, str(v)}, kv.value_offset() + 4, v);
    u64_case(k + "_count_0", {}, kv.value_offset() + 4, 0);
    u64_case(k + "_count_plus_1", {}, kv.value_offset() + 4, V + 1);
  }
  {
    const std::uint64_t first = seed.kv("tokenizer.ggml.tokens").value_offset() + 12;
    for (std::uint64_t v : kHugeCounts)
      u64_case("token_0_length_" + str(v), {"tokenizer.ggml.tokens", str(v)}, first, v);
    list.patch("token_0_invalid_utf8", {"tokenizer.ggml.tokens"},
               [first](Bytes& b) { put_byte(b, first + 8, 0xff); });
  }
  list.patch("bool_byte_2", {"mobilellm.layer_sharing", "2"}, [&seed](Bytes& b) {
    put_byte(b, seed.kv("mobilellm.layer_sharing").value_offset(), 2);
  });
  {  // "eos" -> "bos": the key appears twice.
    const std::uint64_t at = seed.kv("tokenizer.ggml.eos_token_id").offset + 8 + 15;
    list.patch("duplicate_key", {"tokenizer.ggml.bos_token_id"},
               [at](Bytes& b) { put_text(b, at, "bos"); });
  }
  {
    const auto& kv = seed.kv(gguf::kAlignmentKey);
    for (std::uint32_t v : {0u, 48u, 0x80000001u})
      u32_case("alignment_" + str(v), {gguf::kAlignmentKey, str(v)}, kv.value_offset(), v);
    // A valid power of two the seed's tensor offsets are not multiples of.
    u32_case("alignment_128_misaligns_tensors", {}, kv.value_offset(), 128);
    u32_case("alignment_typed_i32", {gguf::kAlignmentKey}, kv.type_offset(),
             static_cast<std::uint32_t>(gguf::ValueType::i32));
  }

  // --------------------------------------------------------------------- tensor infos
  const std::uint64_t end_rel = ((file_size + 63) / 64) * 64 - data_offset;
  for (const char* name : {"token_embd.weight", "blk.1.ffn_down.weight"}) {
    const auto& t = seed.tensor(name);
    const std::string k = case_name(name);
    const std::uint64_t rel = t.data_offset - data_offset;
    u64_case(k + "_name_length_0", {}, t.info_offset, 0);
    for (std::uint64_t v : kHugeCounts)
      u64_case(k + "_name_length_" + str(v), {str(v)}, t.info_offset, v);
    list.patch(k + "_name_holds_NUL", {},
               [at = t.info_offset + 8](Bytes& b) { put_byte(b, at + 2, 0); });
    list.patch(k + "_name_invalid_utf8", {},
               [at = t.info_offset + 8](Bytes& b) { put_byte(b, at, 0xfe); });
    for (std::uint32_t v : {0u, 5u, 0xffffffffu})
      u32_case(k + "_n_dims_" + str(v), {name, str(v)}, t.n_dims_offset(), v);
    u64_case(k + "_dim0_0", {name}, t.dims_offset(), 0);
    for (std::uint64_t v : {k2p40, std::uint64_t{1} << 62, kMaxU64})
      u64_case(k + "_dim0_" + str(v), {name}, t.dims_offset(), v);
    list.patch(k + "_dims_product_overflows", {name}, [at = t.dims_offset()](Bytes& b) {
      put_u64(b, at, k2p32);
      put_u64(b, at + 8, k2p32);
    });
    // GGML ids mobilellm does not read: Q4_0, Q8_0, Q4_K, one past BF16, garbage.
    for (std::uint32_t v : {2u, 8u, 12u, 31u, 0xffffffffu})
      u32_case(k + "_type_" + str(v), {name, str(v)}, t.type_offset(), v);
    u64_case(k + "_offset_misaligned", {name, str(rel + 1)}, t.offset_offset(), rel + 1);
    u64_case(k + "_offset_past_end", {name}, t.offset_offset(), end_rel);
    u64_case(k + "_offset_wraps_64_bits", {name}, t.offset_offset(), kMaxU64 - 63);
  }
  {  // Two tensors sharing bytes.
    const auto& a = seed.tensor("blk.0.attn_k.weight");
    const auto& b = seed.tensor("blk.0.attn_v.weight");
    u64_case("tensors_overlap", {}, b.offset_offset(), a.data_offset - data_offset);
    u64_case("tensor_overlaps_its_neighbour_by_64_bytes", {}, b.offset_offset(),
             b.data_offset - data_offset - 64);
    // "attn_k" -> "attn_q": the name appears twice.
    list.patch("duplicate_tensor_name", {"blk.0.attn_q.weight"},
               [at = a.info_offset + 8](Bytes& bytes) { put_text(bytes, at, "blk.0.attn_q"); });
    list.patch("unknown_tensor_name", {"blk.0.attn_x.weight"},
               [at = a.info_offset + 8](Bytes& bytes) { put_text(bytes, at, "blk.0.attn_x"); });
  }
  // The data section cut short: the last tensor runs past the end of the file.
  list.patch("file_ends_inside_last_tensor", {"blk.1.ffn_down.weight"},
             [](Bytes& b) { b.pop_back(); });

  // ----------------------------------------------------------- the model schema (builder)
  for (const char* key : kRequiredKeys)
    model("missing_" + std::string(key), {key}, [key](test::ModelBuilder& b) { b.erase(key); });
  for (auto& [key, value] : wrong_typed_values())
    model("wrong_type_" + key, {key},
          [key = key, value = value](test::ModelBuilder& b) { b.set(key, value); });
  for (const char* key : kSizeKeys)
    for (std::uint32_t v : {0u, 0xffffffffu})
      model(std::string(key) + "_" + str(v), {key, str(v)},
            [key, v](test::ModelBuilder& b) { b.set(key, Value::u32(v)); });
  const std::pair<const char*, float> bad_floats[] = {
      {"nan", std::numeric_limits<float>::quiet_NaN()},
      {"inf", std::numeric_limits<float>::infinity()},
      {"minus_inf", -std::numeric_limits<float>::infinity()},
      {"0", 0.0f},
      {"minus_1", -1.0f}};
  for (const char* key : kFloatKeys)
    for (const auto& [label, v] : bad_floats)
      model(std::string(key) + "_" + label, {key},
            [key, v = v](test::ModelBuilder& b) { b.set(key, Value::f32(v)); });
  model("head_count_kv_does_not_divide_head_count", {"mobilellm.attention.head_count_kv", "3"},
        [](test::ModelBuilder& b) { b.set("mobilellm.attention.head_count_kv", Value::u32(3)); });
  model("odd_head_dim", {"mobilellm.attention.key_length", "7"}, [](test::ModelBuilder& b) {
    for (const char* key : {"mobilellm.attention.key_length", "mobilellm.attention.value_length",
                            "mobilellm.rope.dimension_count"})
      b.set(key, Value::u32(7));
  });
  model("value_length_differs", {"mobilellm.attention.value_length", "16"},
        [](test::ModelBuilder& b) { b.set("mobilellm.attention.value_length", Value::u32(16)); });
  model("rope_dimension_count_differs", {"mobilellm.rope.dimension_count", "4"},
        [](test::ModelBuilder& b) { b.set("mobilellm.rope.dimension_count", Value::u32(4)); });
  model("architecture_llama", {"general.architecture", "llama"},
        [](test::ModelBuilder& b) { b.set("general.architecture", Value::string("llama")); });
  model("weight_type_Q4_0", {"mobilellm.weight_type", "Q4_0"},
        [](test::ModelBuilder& b) { b.set("mobilellm.weight_type", Value::string("Q4_0")); });
  model("tokenizer_model_gpt2", {"tokenizer.ggml.model", "gpt2"},
        [](test::ModelBuilder& b) { b.set("tokenizer.ggml.model", Value::string("gpt2")); });
  for (const char* key : {"mobilellm.rope.scaling.type", "tokenizer.ggml.pre"})
    model(std::string("unknown_key_") + key, {key},
          [key](test::ModelBuilder& b) { b.set(key, Value::string("linear")); });
  model("alignment_32_below_minimum", {gguf::kAlignmentKey, "32"},
        [](test::ModelBuilder& b) { b.set_alignment(32); });

  // The vocabulary.
  auto tokens = [](test::ModelBuilder& b) -> gguf::Array& {
    return std::get<gguf::Array>(b.kv("tokenizer.ggml.tokens")->v);
  };
  auto array_of = [](test::ModelBuilder& b, const char* key) -> gguf::Array& {
    return std::get<gguf::Array>(b.kv(key)->v);
  };
  model("tokens_one_short", {"tokenizer.ggml.tokens"},
        [tokens](test::ModelBuilder& b) { tokens(b).strings.pop_back(); });
  model("scores_one_extra", {"tokenizer.ggml.scores"}, [array_of](test::ModelBuilder& b) {
    array_of(b, "tokenizer.ggml.scores").floats.push_back(0.0);
  });
  model("token_types_one_short", {"tokenizer.ggml.token_type"}, [array_of](test::ModelBuilder& b) {
    array_of(b, "tokenizer.ggml.token_type").ints.pop_back();
  });
  model("token_empty", {"tokenizer.ggml.tokens"},
        [tokens](test::ModelBuilder& b) { tokens(b).strings[5].clear(); });
  model("token_duplicate", {"tokenizer.ggml.tokens"},
        [tokens](test::ModelBuilder& b) { tokens(b).strings[6] = tokens(b).strings[5]; });
  for (const auto& [label, v] : {std::pair<const char*, double>{"nan", std::nan("")},
                                 {"inf", std::numeric_limits<double>::infinity()}})
    model(std::string("score_") + label, {"tokenizer.ggml.scores"},
          [array_of, v = v](test::ModelBuilder& b) {
            array_of(b, "tokenizer.ggml.scores").floats[5] = v;
          });
  for (std::int32_t v : {0, 7, -1})
    model("token_type_" + signed_label(v), {"tokenizer.ggml.token_type"},
          [array_of, v](test::ModelBuilder& b) {
            array_of(b, "tokenizer.ggml.token_type").ints[5] = v;
          });
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"})
    model(std::string(key) + "_is_vocab_size", {key, str(V)}, [key, V](test::ModelBuilder& b) {
      b.set(key, Value::u32(static_cast<std::uint32_t>(V)));
    });
  model(
      "eos_token_id_max", {"tokenizer.ggml.eos_token_id", "4294967295"},
      [](test::ModelBuilder& b) { b.set("tokenizer.ggml.eos_token_id", Value::u32(0xffffffffu)); });
  const std::string sp = "\xe2\x96\x81";
  for (const auto& [label, merge] :
       std::vector<std::pair<std::string, std::string>>{{"no_space", "ab"},
                                                        {"two_spaces", sp + "  a"},
                                                        {"left_unknown", "zz a"},
                                                        {"merged_unknown", "a b"},
                                                        {"empty", ""}})
    // A valid merge first: the broken one is the second.
    model("merge_" + label, {"tokenizer.ggml.merges"},
          [ok = sp + " a", merge = merge](test::ModelBuilder& b) {
            b.set("tokenizer.ggml.merges", Value::string_array({ok, merge}));
          });
  model("merges_not_strings", {"tokenizer.ggml.merges"},
        [](test::ModelBuilder& b) { b.set("tokenizer.ggml.merges", Value::f32_array({1.0f})); });

  // The tensors.
  for (const char* name : {"token_embd.weight", "output_norm.weight", "blk.1.ffn_down.weight"})
    model(std::string("missing_tensor_") + name, {name},
          [name](test::ModelBuilder& b) { b.erase_tensor(name); });
  model("extra_block_tensor", {"blk.2.attn_q.weight"}, [](test::ModelBuilder& b) {
    test::BuiltTensor t = *b.tensor("blk.0.attn_q.weight");
    t.name = "blk.2.attn_q.weight";
    b.tensors.push_back(t);
  });
  model("output_with_shared_embeddings", {"output.weight"}, [](test::ModelBuilder& b) {
    test::BuiltTensor t = *b.tensor("token_embd.weight");
    t.name = "output.weight";
    b.tensors.push_back(t);
  });
  model("output_missing_without_sharing", {"output.weight"},
        [](test::ModelBuilder& b) { b.set("mobilellm.embedding_sharing", Value::boolean(false)); });
  model("block_count_3_missing_block", {"blk.2."},
        [](test::ModelBuilder& b) { b.set("mobilellm.block_count", Value::u32(3)); });
  model("block_count_1_extra_block", {"blk.1."},
        [](test::ModelBuilder& b) { b.set("mobilellm.block_count", Value::u32(1)); });
  model("token_embd_transposed", {"token_embd.weight"}, [](test::ModelBuilder& b) {
    auto& d = b.tensor("token_embd.weight")->dims;
    std::swap(d[0], d[1]);
  });
  model("norm_two_dimensional", {"output_norm.weight"},
        [](test::ModelBuilder& b) { b.tensor("output_norm.weight")->dims.push_back(1); });
  model("norm_f16", {"blk.0.attn_norm.weight"},
        [](test::ModelBuilder& b) { b.tensor("blk.0.attn_norm.weight")->type = TensorType::f16; });
  model("matrix_f16_in_f32_model", {"blk.0.attn_q.weight"},
        [](test::ModelBuilder& b) { b.tensor("blk.0.attn_q.weight")->type = TensorType::f16; });
  model("matrix_i8_without_scales", {"blk.1.ffn_gate.weight"},
        [](test::ModelBuilder& b) { b.tensor("blk.1.ffn_gate.weight")->type = TensorType::i8; });
  model("scale_in_f32_model", {"blk.0.attn_q.scale"}, [](test::ModelBuilder& b) {
    b.tensors.push_back({"blk.0.attn_q.scale", TensorType::f32, {16}, {}});
  });
  test::ModelSpec w8a8 = gguf_spec();
  w8a8.weight_type = "W8A8";
  model(
      "w8a8_missing_scale", {"blk.0.ffn_up.scale"},
      [](test::ModelBuilder& b) { b.erase_tensor("blk.0.ffn_up.scale"); }, w8a8);
  for (const auto& [label, v] : {std::pair<const char*, float>{"negative", -0.5f},
                                 {"nan", std::numeric_limits<float>::quiet_NaN()},
                                 {"inf", std::numeric_limits<float>::infinity()}})
    model(
        std::string("w8a8_scale_") + label, {"blk.0.attn_q.scale"},
        [v = v](test::ModelBuilder& b) {
          auto& data = b.tensor("blk.0.attn_q.scale")->data;
          std::memcpy(data.data() + 4 * 3, &v, 4);
        },
        w8a8);
  return list.take();
}

// ================================================================================ safetensors

const std::string kEmbed = "model.embed_tokens.weight";
const std::string kQ = "model.layers.0.self_attn.q_proj.weight";
const std::string kK = "model.layers.0.self_attn.k_proj.weight";
const std::string kV = "model.layers.0.self_attn.v_proj.weight";
const std::string kGate = "model.layers.0.mlp.gate_proj.weight";
const std::string kNorm = "model.norm.weight";

ordered_json seed_header() { return cb::safetensors_header(safetensors_tensors(tiny::tensors())); }

// A safetensors file: `header` (space-padded to a multiple of 8, as the reference writer pads),
// then the seed's data area.
Bytes with_header(std::string header) {
  const auto& seed = safetensors_seed();
  header.append((8 - header.size() % 8) % 8, ' ');
  return cb::assemble_safetensors(header, std::span(seed.bytes).subspan(seed.data_offset));
}

// A valid safetensors file of the tiny tensors after `edit`.
std::function<Bytes()> safetensors_of(std::function<void(std::vector<tiny::Tensor>&)> edit) {
  return [edit = std::move(edit)] {
    auto t = tiny::tensors();
    edit(t);
    return cb::build_safetensors(safetensors_tensors(t)).bytes;
  };
}

tiny::Tensor& tensor_named(std::vector<tiny::Tensor>& ts, const std::string& name) {
  for (auto& t : ts)
    if (t.name == name) return t;
  throw std::logic_error("hostile: no tiny tensor " + name);
}

// Sets element 0 of an F32 tensor.
void set_first_f32(tiny::Tensor& t, float v) { std::memcpy(t.data.data(), &v, 4); }

std::vector<Case> safetensors_cases() {
  CaseList list(Input::safetensors);
  const auto& seed = safetensors_seed();
  const std::uint64_t header_size = seed.data_offset - 8;
  const std::uint64_t file_size = seed.bytes.size();

  auto header = [&](const std::string& name, std::vector<std::string> needles,
                    std::function<void(ordered_json&)> edit) {
    list.add(name, std::move(needles), [edit = std::move(edit)] {
      ordered_json h = seed_header();
      edit(h);
      return with_header(h.dump());
    });
  };
  auto header_text = [&](const std::string& name, std::vector<std::string> needles,
                         std::function<std::string(std::string)> edit) {
    list.add(name, std::move(needles),
             [edit = std::move(edit)] { return with_header(edit(seed_header().dump())); });
  };
  auto replaced = [](std::string from, std::string to) {
    return
        [from, to](std::string text) { return to_string(replace_all(to_bytes(text), from, to)); };
  };

  // The 8-byte header length.
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{7}, header_size - 1})
    list.patch("header_length_" + str(v), {}, [v](Bytes& b) { put_u64(b, 0, v); });
  for (std::uint64_t v :
       {header_size + 1, file_size, std::uint64_t{100'000'001}, k2p40, k2p63, kMaxU64})
    list.patch("header_length_" + str(v), {str(v)}, [v](Bytes& b) { put_u64(b, 0, v); });
  list.add("file_of_4_bytes", {}, [] { return Bytes{1, 0, 0, 0}; });

  // The header document.
  for (const auto& [label, text] :
       std::vector<std::pair<std::string, std::string>>{{"array", "[]"},
                                                        {"number", "5"},
                                                        {"string", "\"x\""},
                                                        {"null", "null"},
                                                        {"syntax_error", "{\"a\": }"},
                                                        {"unterminated", "{"}})
    list.add("header_" + label, {}, [text = text] { return with_header(text); });
  header_text("header_trailing_garbage", {}, [](std::string t) { return t + " x"; });
  header_text("number_overflows_double", {}, replaced("\"shape\":[12,8]", "\"shape\":[1e400,8]"));
  header_text("deeply_nested_metadata", {}, [](std::string t) {
    return "{\"__metadata__\":" + nested_arrays(100000) + "," + t.substr(1);
  });
  header_text("duplicate_tensor", {kEmbed}, [](std::string t) {
    return "{\"" + kEmbed + "\":" + seed_header()[kEmbed].dump() + "," + t.substr(1);
  });
  header_text("duplicate_dtype_key", {"dtype"},
              replaced("{\"dtype\":\"F32\",\"shape\":[8]",
                       "{\"dtype\":\"F16\",\"dtype\":\"F32\",\"shape\":[8]"));
  // Names: NUL, bytes that are not UTF-8, an escaped lone surrogate, empty.
  header_text("name_holds_NUL", {}, replaced(kNorm, "model.norm\\u0000weight"));
  header_text("name_invalid_utf8", {},
              replaced(kNorm,
                       "model.norm\xff"
                       "weight"));
  header_text("name_overlong_utf8", {},
              replaced(kNorm,
                       "model.norm\xc0\xae"
                       "weight"));
  header_text("name_lone_surrogate", {}, replaced(kNorm, "model.norm\\ud800weight"));
  header_text("name_empty", {}, replaced("\"" + kNorm + "\"", "\"\""));
  // Entries.
  header("entry_not_an_object", {kEmbed}, [](ordered_json& h) { h[kEmbed] = {1, 2}; });
  header("entry_extra_key", {kEmbed, "offsets"}, [](ordered_json& h) { h[kEmbed]["offsets"] = 0; });
  for (const char* key : {"dtype", "shape", "data_offsets"})
    header(std::string("entry_without_") + key, {kEmbed, key},
           [key](ordered_json& h) { h[kEmbed].erase(key); });
  for (const char* dtype : {"I64", "F64", "F8_E4M3", "BOOL", "U8", "f32"})
    header(std::string("dtype_") + dtype, {kEmbed, dtype},
           [dtype](ordered_json& h) { h[kEmbed]["dtype"] = dtype; });
  header("dtype_empty", {kEmbed}, [](ordered_json& h) { h[kEmbed]["dtype"] = ""; });
  header("dtype_number", {kEmbed}, [](ordered_json& h) { h[kEmbed]["dtype"] = 32; });
  header("dtype_null", {kEmbed}, [](ordered_json& h) { h[kEmbed]["dtype"] = nullptr; });
  const std::vector<std::pair<std::string, ordered_json>> bad_shapes = {
      {"negative", {-1, 8}},
      {"fractional", {2.5}},
      {"string_dim", {"12", 8}},
      {"nine_dims", {1, 1, 1, 1, 1, 1, 1, 12, 8}},
      {"numel_overflows", {k2p32, k2p32, k2p32}},
      {"bytes_overflow", {kMaxU64}},
      {"numel_differs", {12, 7}},
      {"string", "12"},
      {"object", ordered_json::object()},
  };
  for (const auto& [label, shape] : bad_shapes)
    header("shape_" + label, {kEmbed},
           [shape = shape](ordered_json& h) { h[kEmbed]["shape"] = shape; });
  const std::uint64_t embed_bytes = tiny::kVocab * tiny::kHidden * 4;
  const std::vector<std::pair<std::string, ordered_json>> bad_offsets = {
      {"reversed", {embed_bytes, 0}},
      {"single", {0}},
      {"triple", {0, embed_bytes, embed_bytes}},
      {"strings", {"0", std::to_string(embed_bytes)}},
      {"negative", {-1, embed_bytes - 1}},
      {"span_too_long", {0, embed_bytes + 4}},
  };
  for (const auto& [label, offsets] : bad_offsets)
    header("data_offsets_" + label, {kEmbed},
           [offsets = offsets](ordered_json& h) { h[kEmbed]["data_offsets"] = offsets; });
  header("tensors_shifted_by_4_bytes", {}, [](ordered_json& h) {
    for (auto& [name, entry] : h.items())
      for (auto& o : entry["data_offsets"]) o = o.get<std::uint64_t>() + 4;
  });
  list.add("gap_before_last_tensor", {kNorm}, [] {
    // Four unused bytes between the last two tensors; every extent is still inside the data.
    ordered_json h = seed_header();
    auto& offsets = h[kNorm]["data_offsets"];
    const std::uint64_t begin = offsets[0].get<std::uint64_t>();
    offsets = {begin + 4, offsets[1].get<std::uint64_t>() + 4};
    const auto& file = safetensors_seed();
    Bytes data(file.bytes.begin() + static_cast<std::ptrdiff_t>(file.data_offset),
               file.bytes.end());
    data.insert(data.begin() + static_cast<std::ptrdiff_t>(begin), 4, 0);
    std::string text = h.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    return cb::assemble_safetensors(text, data);
  });
  header("tensors_overlap", {},
         [](ordered_json& h) { h[kV]["data_offsets"] = h[kK]["data_offsets"]; });
  header("last_tensor_runs_past_data", {kNorm}, [](ordered_json& h) {
    h[kNorm]["shape"] = {tiny::kHidden + 1};
    h[kNorm]["data_offsets"][1] = h[kNorm]["data_offsets"][1].get<std::uint64_t>() + 4;
  });
  // 2^38 floats: a reader that allocated (or mapped) before checking would ask for a terabyte.
  header("tensor_of_2p40_bytes", {kEmbed}, [](ordered_json& h) {
    h[kEmbed]["shape"] = {std::uint64_t{1} << 38};
    h[kEmbed]["data_offsets"] = {0, k2p40};
  });
  header("offsets_at_2p64", {kNorm}, [](ordered_json& h) {
    h[kNorm]["shape"] = {1};
    h[kNorm]["data_offsets"] = {kMaxU64 - 4, kMaxU64};
  });
  header("metadata_value_not_string", {"__metadata__"}, [](ordered_json& h) {
    h["__metadata__"] = {{"format", 5}};
  });
  header("metadata_array", {"__metadata__"}, [](ordered_json& h) { h["__metadata__"] = {1}; });
  // The data area.
  list.patch("byte_after_last_tensor", {}, [](Bytes& b) { b.push_back(0); });
  list.patch("data_one_byte_short", {}, [](Bytes& b) { b.pop_back(); });

  // Consistent files the converter must refuse for this config.json.
  list.convert("missing_tensor", {kQ}, safetensors_of([](auto& ts) {
                 std::erase_if(ts, [](auto& t) { return t.name == kQ; });
               }));
  list.convert("extra_layer_tensor", {"model.layers.1.self_attn.q_proj.weight"},
               safetensors_of([](auto& ts) {
                 tiny::Tensor t = tensor_named(ts, kQ);
                 t.name = "model.layers.1.self_attn.q_proj.weight";
                 ts.push_back(t);
               }));
  list.convert("transposed_weight", {kGate}, safetensors_of([](auto& ts) {
                 auto& shape = tensor_named(ts, kGate).shape;
                 std::swap(shape[0], shape[1]);
               }));
  list.convert("untied_head_differs", {"lm_head.weight"}, safetensors_of([](auto& ts) {
                 tiny::Tensor t = tensor_named(ts, kEmbed);
                 t.name = "lm_head.weight";
                 set_first_f32(t, 0.5f);
                 ts.push_back(t);
               }));
  list.convert("no_embedding", {kEmbed}, safetensors_of([](auto& ts) {
                 std::erase_if(ts, [](auto& t) { return t.name == kEmbed; });
               }));
  list.convert("mixed_matrix_dtypes", {}, [] {
    auto ts = safetensors_tensors(tiny::tensors());
    for (auto& t : ts)
      if (t.name == kQ) {
        t.dtype = "F16";
        t.data.resize(t.data.size() / 2);
      }
    return cb::build_safetensors(ts).bytes;
  });
  // Values that do not fit the requested output type: the conversion fails while the output is
  // being written, which must not leave the half-written file behind.
  list.convert("value_overflows_f16", {kQ},
               safetensors_of([](auto& ts) { set_first_f32(tensor_named(ts, kQ), 1e30f); }),
               ErrorCode::format, OutputType::f16);
  list.convert("value_overflows_bf16", {kQ}, safetensors_of([](auto& ts) {
                 set_first_f32(tensor_named(ts, kQ), std::numeric_limits<float>::max());
               }),
               ErrorCode::format, OutputType::bf16);
  list.convert(
      "no_weights_file", {"model.safetensors"}, [] { return std::nullopt; }, ErrorCode::io);

  // ------------------------------------------------------------------ the sharded index
  CaseList index(Input::safetensors_index, "index_");
  auto edit_index = [&](const std::string& name, std::vector<std::string> needles,
                        std::function<void(ordered_json&)> edit,
                        ErrorCode expect = ErrorCode::format) {
    index.add(name, std::move(needles), edited_json(Input::safetensors_index, std::move(edit)),
              expect);
  };
  index.add("array", {}, json_text("[]"));
  index.add("unterminated", {}, json_text("{\"weight_map\": {"));
  edit_index("unexpected_key", {"extra"}, [](ordered_json& j) { j["extra"] = 1; });
  edit_index("metadata_number", {"metadata"}, [](ordered_json& j) { j["metadata"] = 5; });
  edit_index("weight_map_missing", {"weight_map"}, [](ordered_json& j) { j.erase("weight_map"); });
  edit_index("weight_map_empty", {"weight_map"},
             [](ordered_json& j) { j["weight_map"] = ordered_json::object(); });
  edit_index("weight_map_array", {"weight_map"}, [](ordered_json& j) { j["weight_map"] = {1}; });
  for (const auto& [label, shard] : std::vector<std::pair<std::string, ordered_json>>{
           {"parent_directory", std::string("../") + kShardNames[0]},
           {"absolute", "/etc/passwd"},
           {"subdirectory", std::string("sub/") + kShardNames[0]},
           {"empty", ""},
           {"holds_NUL", std::string("model\0.safetensors", 18)},
           {"number", 5}})
    edit_index("shard_" + label, {kQ},
               [shard = shard](ordered_json& j) { j["weight_map"][kQ] = shard; });
  edit_index("tensor_in_other_shard", {kQ},
             [](ordered_json& j) { j["weight_map"][kQ] = kShardNames[1]; });
  edit_index(
      "shard_does_not_exist", {"model-00003-of-00003.safetensors"},
      [](ordered_json& j) {
        j["weight_map"]["lm_head.weight"] = "model-00003-of-00003.safetensors";
      },
      ErrorCode::io);
  edit_index("tensor_in_no_shard", {"lm_head.weight"},
             [](ordered_json& j) { j["weight_map"]["lm_head.weight"] = kShardNames[0]; });
  index.add("number_overflows_double", {}, [] {
    return replace_all(seed_bytes(Input::safetensors_index),
                       "\"total_size\":", "\"total_size\":1e400,\"x\":");
  });
  index.add("duplicate_weight_map_key", {}, [] {
    const std::string text = to_string(seed_bytes(Input::safetensors_index));
    const std::string key = "\"weight_map\":{";
    const auto at = text.find(key) + key.size();
    return to_bytes(text.substr(0, at) + "\"" + kQ + "\":\"" + kShardNames[1] + "\"," +
                    text.substr(at));
  });

  std::vector<Case> out = list.take();
  for (Case& c : index.take()) out.push_back(std::move(c));
  return out;
}

// =========================================================================== pytorch_model.bin

// Every pickle opcode of protocols 0-5 that torch.save's state dicts do not use, by name.
const std::pair<const char*, std::uint8_t> kForeignOpcodes[] = {
    {"POP", '0'},
    {"POP_MARK", '1'},
    {"DUP", '2'},
    {"BINBYTES", 'B'},
    {"SHORT_BINBYTES", 'C'},
    {"FLOAT", 'F'},
    {"BINFLOAT", 'G'},
    {"INT", 'I'},
    {"LONG", 'L'},
    {"PERSID", 'P'},
    {"STRING", 'S'},
    {"BINSTRING", 'T'},
    {"SHORT_BINSTRING", 'U'},
    {"UNICODE", 'V'},
    {"APPEND", 'a'},
    {"DICT", 'd'},
    {"APPENDS", 'e'},
    {"GET", 'g'},
    {"INST", 'i'},
    {"LIST", 'l'},
    {"EMPTY_LIST", ']'},
    {"OBJ", 'o'},
    {"PUT", 'p'},
    {"NEWOBJ", 0x81},
    {"EXT1", 0x82},
    {"EXT2", 0x83},
    {"EXT4", 0x84},
    {"LONG4", 0x8b},
    {"SHORT_BINUNICODE", 0x8c},
    {"BINUNICODE8", 0x8d},
    {"BINBYTES8", 0x8e},
    {"EMPTY_SET", 0x8f},
    {"ADDITEMS", 0x90},
    {"FROZENSET", 0x91},
    {"NEWOBJ_EX", 0x92},
    {"STACK_GLOBAL", 0x93},
    {"MEMOIZE", 0x94},
    {"FRAME", 0x95},
    {"BYTEARRAY8", 0x96},
    {"NEXT_BUFFER", 0x97},
    {"READONLY_BUFFER", 0x98},
};

// `pickle` with `inserted` right after its 2-byte PROTO header.
Bytes after_proto(const Bytes& pickle, std::string_view inserted) {
  Bytes b(pickle.begin(), pickle.begin() + 2);
  cb::append(b, inserted);
  b.insert(b.end(), pickle.begin() + 2, pickle.end());
  return b;
}

std::vector<Case> torch_cases() {
  CaseList list(Input::torch);
  const TorchSeed& seed = torch_seed();
  const cb::ZipArchive& z = seed.archive;
  namespace zf = cb::zip_field;
  const cb::ZipMemberOffsets& version = z.members.back();   // "archive/version": "3\n"
  const cb::ZipMemberOffsets& storage3 = z.members[2 + 3];  // "archive/data/3": k_proj
  const std::uint64_t n_members = z.members.size();
  const std::uint64_t end = z.end_record, z64 = *z.zip64_end_record, loc = *z.zip64_locator;

  auto field = [&](const std::string& name, std::vector<std::string> needles, std::uint64_t at,
                   std::uint64_t value, int width) {
    list.patch(name, std::move(needles),
               [at, value, width](Bytes& b) { cb::store_le(b, at, value, width); });
  };
  auto members = [&](const std::string& name, std::vector<std::string> needles,
                     std::function<void(std::vector<cb::ZipEntry>&)> edit) {
    list.add(name, std::move(needles), [edit = std::move(edit)] {
      auto entries = torch_seed().entries;
      edit(entries);
      return cb::build_zip(entries, torch_options().zip).bytes;
    });
  };
  auto pickle = [&](const std::string& name, std::vector<std::string> needles,
                    std::function<Bytes(const Bytes&)> edit) {
    list.add(name, std::move(needles), [edit = std::move(edit)] {
      return torch_with_pickle(edit(torch_seed().pickle.bytes));
    });
  };
  auto tensors = [&](const std::string& name, std::vector<std::string> needles,
                     std::function<void(std::vector<cb::PickleTensor>&)> edit) {
    list.add(name, std::move(needles), [edit = std::move(edit)] {
      auto ts = pickle_tensors();
      edit(ts);
      return torch_with_pickle(cb::build_state_dict_pickle(ts).bytes);
    });
  };
  const std::string v = "archive/version";

  // ---------------------------------------------------------------------- zip records
  // Compression and encryption, in the central directory and in the local header.
  for (std::uint64_t method : {8u, 12u, 14u, 99u})
    field("central_method_" + str(method), {v, str(method)},
          version.central_header + zf::central_method, method, 2);
  field("local_method_8", {v, "8"}, version.local_header + zf::local_method, 8, 2);
  for (std::uint64_t flags : {0x0809u, 0x0848u, 0x2808u})
    field("central_flags_" + str(flags), {v}, version.central_header + zf::central_flags, flags, 2);
  field("local_flags_encrypted", {v}, version.local_header + zf::local_flags, 0x0809, 2);
  field("local_flags_without_descriptor", {v}, version.local_header + zf::local_flags, 0x0800, 2);
  // The end records' counts, offsets and sizes.
  // Entry counts: the classic record's (both fields, so it is not taken for a multi-disk
  // archive), the zip64 record's, and both records agreeing on a wrong count.
  for (std::uint64_t n : {std::uint64_t{0}, n_members - 1, n_members + 1})
    list.patch("end_entries_" + str(n), {}, [end, n](Bytes& b) {
      cb::store_le(b, end + zf::end_entries_on_disk, n, 2);
      cb::store_le(b, end + zf::end_entries, n, 2);
    });
  for (std::uint64_t n : {n_members + 1, k2p40, kMaxU64})
    list.patch("zip64_entries_" + str(n), {}, [z64, n](Bytes& b) {
      cb::store_le(b, z64 + zf::zip64_end_entries_on_disk, n, 8);
      cb::store_le(b, z64 + zf::zip64_end_entries, n, 8);
    });
  field("end_entries_on_disk_differ", {}, end + zf::end_entries_on_disk, n_members - 1, 2);
  list.patch("both_entry_counts_plus_1", {}, [end, z64, n_members](Bytes& b) {
    cb::store_le(b, end + zf::end_entries_on_disk, n_members + 1, 2);
    cb::store_le(b, end + zf::end_entries, n_members + 1, 2);
    cb::store_le(b, z64 + zf::zip64_end_entries_on_disk, n_members + 1, 8);
    cb::store_le(b, z64 + zf::zip64_end_entries, n_members + 1, 8);
  });
  field("end_directory_offset_0", {}, end + zf::end_directory_offset, 0, 4);
  for (std::uint64_t off : {std::uint64_t{0}, z.central_directory + 1, kMaxU64})
    field("zip64_directory_offset_" + str(off), {}, z64 + zf::zip64_end_directory_offset, off, 8);
  for (std::uint64_t size : {z.central_directory_size - 1, z.central_directory_size + 1, kMaxU64})
    field("zip64_directory_size_" + str(size), {}, z64 + zf::zip64_end_directory_size, size, 8);
  field("end_disk_1", {}, end + zf::end_disk, 1, 2);
  field("zip64_end_disk_1", {}, z64 + zf::zip64_end_disk, 1, 4);
  field("zip64_locator_disks_2", {}, loc + zf::zip64_locator_disks, 2, 4);
  field("zip64_locator_offset_plus_1", {}, loc + zf::zip64_locator_offset, z64 + 1, 8);
  field("zip64_locator_offset_max", {}, loc + zf::zip64_locator_offset, kMaxU64, 8);
  field("zip64_record_signature", {}, z64, 0, 4);
  field("zip64_record_size_plus_8", {}, z64 + zf::zip64_end_record_size, 44 + 8, 8);
  field("end_signature", {}, end, 0, 4);
  field("end_comment_length_1", {}, end + zf::end_comment_size, 1, 2);
  list.patch("byte_after_end_record", {}, [](Bytes& b) { b.push_back(0); });
  // Central directory entries that lie about their member.
  const std::uint64_t central3 = storage3.central_header;
  field("local_offset_at_other_member", {}, central3 + zf::central_local_offset,
        z.members[2 + 2].local_header, 4);
  field("local_offset_1", {}, central3 + zf::central_local_offset, 1, 4);
  field("local_offset_past_directory", {}, central3 + zf::central_local_offset,
        z.central_directory + 4, 4);
  field("local_offset_zip64_marker_without_extra", {}, central3 + zf::central_local_offset,
        0xffffffffu, 4);
  field("compressed_size_differs", {}, central3 + zf::central_compressed, 128 + 1, 4);
  list.patch("sizes_of_4_GiB", {}, [central3](Bytes& b) {
    cb::store_le(b, central3 + zf::central_compressed, 0xfffffffe, 4);
    cb::store_le(b, central3 + zf::central_uncompressed, 0xfffffffe, 4);
  });
  list.patch("crc_differs", {}, [central3](Bytes& b) { b.at(central3 + zf::central_crc) ^= 1; });
  list.patch("data_differs_from_crc", {v}, [at = version.data](Bytes& b) { b.at(at) = '4'; });
  list.patch("local_name_differs", {},
             [at = storage3.local_header + zf::local_name](Bytes& b) { b.at(at) = 'A'; });
  list.patch("central_name_holds_NUL", {},
             [at = central3 + zf::central_name](Bytes& b) { b.at(at + 3) = 0; });
  list.patch("central_name_invalid_utf8", {},
             [at = central3 + zf::central_name](Bytes& b) { b.at(at) = 0xff; });
  field("central_name_length_0", {}, central3 + zf::central_name_size, 0, 2);
  field("central_name_length_max", {}, central3 + zf::central_name_size, 0xffff, 2);
  field("central_extra_length_max", {}, central3 + zf::central_extra_size, 0xffff, 2);
  field("central_comment_length_max", {}, central3 + zf::central_comment_size, 0xffff, 2);
  field("central_disk_1", {}, central3 + zf::central_disk, 1, 2);
  field("central_signature", {}, central3, 0, 4);
  field("local_signature", {}, storage3.local_header, 0, 4);
  field("local_name_length_max", {}, storage3.local_header + zf::local_name_size, 0xffff, 2);
  field("local_extra_length_max", {}, storage3.local_header + zf::local_extra_size, 0xffff, 2);
  field("descriptor_signature", {}, *storage3.descriptor, 0, 4);
  field("descriptor_size_plus_1", {}, *storage3.descriptor + zf::descriptor_compressed, 128 + 1, 4);
  list.patch("descriptor_crc_differs", {},
             [at = *storage3.descriptor + zf::descriptor_crc](Bytes& b) { b.at(at) ^= 1; });
  list.add("zip64_extra_field_missing", {}, [] {
    // A zip64 archive (sizes and offsets in zip64 extra fields) whose first member's central
    // extra field is renamed: its 0xffffffff fields then have no values.
    auto z64_archive = cb::build_zip(torch_seed().entries, {.zip64_extra = true});
    const std::uint64_t at =
        z64_archive.members[0].central_header + zf::central_name +
        cb::load_le(z64_archive.bytes,
                    z64_archive.members[0].central_header + zf::central_name_size, 2);
    cb::store_le(z64_archive.bytes, at, 0x0002, 2);
    return z64_archive.bytes;
  });

  // ---------------------------------------------------------------------------- members
  members("member_outside_state_dict", {"archive/evil.py"}, [](auto& e) {
    e.push_back({"archive/evil.py", to_bytes("import os")});
  });
  members("member_outside_folder", {"other/version"}, [](auto& e) {
    e.push_back({"other/version", to_bytes("3\n")});
  });
  members("member_path_traversal", {}, [](auto& e) {
    e.push_back({"archive/data/../../etc/passwd", to_bytes("x")});
  });
  members("duplicate_member", {"archive/version"}, [](auto& e) {
    e.push_back({"archive/version", to_bytes("3\n")});
  });
  members("no_data_pkl", {"data.pkl"}, [](auto& e) { e.erase(e.begin()); });
  members("byteorder_big", {"byteorder"}, [](auto& e) { e[1].data = to_bytes("big"); });
  members("unused_storage", {"archive/data/99"}, [](auto& e) {
    e.push_back({"archive/data/99", Bytes(4, 0)});
  });
  members("storage_missing", {kK}, [](auto& e) { e.erase(e.begin() + 2 + 3); });
  members("storage_4_bytes_short", {kK},
          [](auto& e) { e[2 + 3].data.resize(e[2 + 3].data.size() - 4); });
  list.add("no_members", {}, [] { return cb::build_zip({}, torch_options().zip).bytes; });
  list.add("legacy_bare_pickle", {}, [] { return torch_seed().pickle.bytes; });
  list.add("not_an_archive", {}, [] { return to_bytes("this is not a zip archive at all"); });

  // -------------------------------------------------------------------------- the pickle
  for (const char* global : {"os\nsystem", "posix\nsystem", "builtins\neval", "builtins\nexec",
                             "__builtin__\ngetattr", "subprocess\nPopen", "torch\nload",
                             "numpy.core.multiarray\n_reconstruct", "collections\ndefaultdict"}) {
    std::string dotted = global;
    std::replace(dotted.begin(), dotted.end(), '\n', '.');
    pickle("global_" + dotted, {dotted}, [global = std::string(global)](const Bytes& p) {
      return replace_all(p, "collections\nOrderedDict\n", global + "\n");
    });
  }
  for (const char* storage :
       {"IntStorage", "LongStorage", "DoubleStorage", "ByteStorage", "UntypedStorage"})
    pickle(std::string("storage_") + storage, {storage},
           [storage = std::string(storage)](const Bytes& p) {
             return replace_all(p, "torch\nFloatStorage\n", "torch\n" + storage + "\n");
           });
  for (const char* rebuild : {"_rebuild_qtensor", "_rebuild_sparse_tensor", "_rebuild_tensor"})
    pickle(std::string("rebuild_") + rebuild, {rebuild},
           [rebuild = std::string(rebuild)](const Bytes& p) {
             return replace_all(p, "torch._utils\n_rebuild_tensor_v2\n",
                                "torch._utils\n" + rebuild + "\n");
           });
  for (const auto& [opname, opcode] : kForeignOpcodes)
    pickle(std::string("opcode_") + opname, {opname}, [opcode = opcode](const Bytes& p) {
      return after_proto(p, std::string(1, static_cast<char>(opcode)));
    });
  for (std::uint8_t opcode : {0x00, 0x99, 0xff})
    pickle("unknown_opcode_" + str(opcode), {}, [opcode](const Bytes& p) {
      return after_proto(p, std::string(1, static_cast<char>(opcode)));
    });
  for (std::uint8_t protocol : {0, 3, 4, 5})
    pickle("protocol_" + str(protocol), {}, [protocol](const Bytes& p) {
      Bytes b = p;
      b[1] = protocol;
      return b;
    });
  pickle("no_proto", {}, [](const Bytes& p) { return Bytes(p.begin() + 2, p.end()); });
  pickle("second_proto", {}, [](const Bytes& p) { return after_proto(p, "\x80\x02"); });
  pickle("no_stop", {}, [](const Bytes& p) { return Bytes(p.begin(), p.end() - 1); });
  pickle("byte_after_stop", {}, [](const Bytes& p) {
    Bytes b = p;
    b.push_back('N');
    return b;
  });
  for (const auto& [label, op] :
       std::vector<std::pair<std::string, std::string>>{{"SETITEM", "s"},
                                                        {"SETITEMS", "u"},
                                                        {"TUPLE", "t"},
                                                        {"TUPLE3", "\x87"},
                                                        {"REDUCE", "R"},
                                                        {"BUILD", "b"},
                                                        {"BINPERSID", "Q"},
                                                        {"BINPUT", "q\x00"}})
    pickle("stack_underflow_" + label, {},
           [op = op](const Bytes& p) { return after_proto(p, op); });
  pickle("mark_left_open", {}, [](const Bytes& p) { return after_proto(p, "("); });
  pickle("marks_65_deep", {}, [](const Bytes& p) { return after_proto(p, std::string(65, '(')); });
  pickle("marks_100000", {},
         [](const Bytes& p) { return after_proto(p, std::string(100000, '(')); });
  pickle("values_100000", {},
         [](const Bytes& p) { return after_proto(p, std::string(100000, 'N')); });
  pickle("memo_get_unset", {"200"}, [](const Bytes& p) { return after_proto(p, "h\xc8"); });
  pickle("memo_long_get_max", {"4294967295"},
         [](const Bytes& p) { return after_proto(p, "j\xff\xff\xff\xff"); });
  pickle("memo_long_put_max", {"4294967295"},
         [](const Bytes& p) { return after_proto(p, "Nr\xff\xff\xff\xff"); });
  pickle("unicode_length_max", {},
         [](const Bytes& p) { return after_proto(p, "X\xff\xff\xff\xff"); });
  pickle("unicode_invalid_utf8", {}, [](const Bytes& p) {
    return after_proto(p, std::string("X\x02\x00\x00\x00\xc0\xaf", 7));
  });
  pickle("long1_of_9_bytes", {}, [](const Bytes& p) { return after_proto(p, "\x8a\x09"); });
  pickle("long1_of_255_bytes", {}, [](const Bytes& p) { return after_proto(p, "\x8a\xff"); });
  pickle("global_line_of_300_bytes", {},
         [](const Bytes& p) { return after_proto(p, "c" + std::string(300, 'a') + "\nb\n"); });
  pickle("global_without_newline", {}, [](const Bytes& p) {
    return replace_all(p, "collections\nOrderedDict\n", "collections");
  });
  pickle("root_is_a_tuple", {},
         [](const Bytes&) { return to_bytes(std::string("\x80\x02).", 4)); });
  pickle("entry_is_an_int", {}, [](const Bytes&) {
    return to_bytes(std::string("\x80\x02}X\x01\x00\x00\x00xK\x05s.", 13));
  });
  pickle("build_on_plain_dict", {}, [](const Bytes&) {
    Bytes p = cb::build_state_dict_pickle(pickle_tensors(), {.ordered = false}).bytes;
    p.pop_back();  // STOP
    cb::append(p, "}b.");
    return p;
  });
  // Tensors.
  tensors("storage_numel_2p40", {kEmbed}, [](auto& ts) { ts[0].storage_numel = k2p40; });
  tensors("storage_numel_negative", {}, [](auto& ts) { ts[0].storage_numel = kMaxU64; });
  tensors("storage_offset_2p40", {kEmbed}, [](auto& ts) { ts[0].storage_offset = k2p40; });
  tensors("storage_offset_past_storage", {kEmbed}, [](auto& ts) { ts[0].storage_offset = 1; });
  tensors("stride_transposed", {kQ}, [](auto& ts) { ts[2].stride = {1, tiny::kHidden}; });
  tensors("rank_9", {}, [](auto& ts) { ts[1].shape = {1, 1, 1, 1, 1, 1, 1, 1, tiny::kHidden}; });
  tensors("size_overflows", {}, [](auto& ts) {
    ts[0].shape = {k2p32, k2p32, k2p32};
    ts[0].stride = {1, 1, 1};
  });
  tensors("size_negative", {}, [](auto& ts) { ts[0].shape = {kMaxU64, tiny::kHidden}; });
  tensors("shared_storage_dtype_differs", {}, [](auto& ts) {
    ts[4].key = ts[3].key;
    ts[4].storage_class = "HalfStorage";
  });
  tensors("duplicate_key", {kK}, [](auto& ts) { ts[4].name = kK; });
  tensors("empty_key", {}, [](auto& ts) { ts[4].name = ""; });
  tensors("key_holds_NUL", {}, [](auto& ts) { ts[4].name = std::string("a\0b", 3); });
  tensors("key_invalid_utf8", {}, [](auto& ts) { ts[4].name = "\xff"; });

  list.convert("missing_tensor", {kK}, [] {
    auto ts = pickle_tensors();
    auto storages = torch_storages();
    ts.erase(ts.begin() + 3);
    storages.erase(storages.begin() + 3);
    return cb::build_torch_archive(cb::build_state_dict_pickle(ts).bytes, storages, torch_options())
        .bytes;
  });
  return list.take();
}

// =================================================================================== tokenizer

std::vector<Case> sentencepiece_cases() {
  CaseList list(Input::sentencepiece, "sp_");
  using M = SentencePieceModel;
  auto model = [&](const std::string& name, std::vector<std::string> needles,
                   std::function<void(M&)> edit, ErrorCode expect = ErrorCode::format) {
    list.add(
        name, std::move(needles),
        [edit = std::move(edit)] {
          M m;
          edit(m);
          return m.bytes();
        },
        expect);
  };
  // Raw bytes put before the seed, which the reader meets first.
  auto prefixed = [&](const std::string& name, std::string prefix) {
    list.add(name, {},
             [prefix = std::move(prefix)] { return to_bytes(prefix + to_string(M().bytes())); });
  };
  const std::string seed = to_string(M().bytes());

  // -------------------------------------------------------------------- the wire format
  prefixed("key_varint_of_11_bytes", std::string(10, '\x80') + std::string(1, '\0'));
  prefixed("length_varint_overflows", "\x0a" + std::string(9, '\xff') + "\x02");
  prefixed("length_overruns_file_by_1", "\x0a" + pb::varint(seed.size() + 1));
  for (std::uint64_t v : {k2p40, kMaxU64}) prefixed("length_" + str(v), "\x0a" + pb::varint(v));
  for (unsigned wire : {3u, 4u, 6u, 7u}) prefixed("wire_type_" + str(wire), pb::key(1, wire));
  prefixed("field_number_0", pb::key(0, 2) + std::string(1, '\0'));
  prefixed("field_number_2p29", pb::varint_field(1u << 29, 0));
  prefixed("pieces_as_varint", pb::varint_field(1, 5));
  // A piece whose string claims more bytes than the piece message holds.
  prefixed("piece_string_overruns_piece", pb::bytes_field(1, "\x0a\x7f<unk>"));
  list.add("trainer_spec_overruns_file", {}, [] {
    const M m;
    return to_bytes(m.pieces_bytes() + "\x12" + pb::varint(1000) + m.trainer);
  });
  // Fields of the wrong wire type.
  model("piece_as_varint", {"piece"}, [](M& m) { m.pieces[5].extra = pb::varint_field(1, 5); });
  model("score_as_varint", {"score"}, [](M& m) { m.pieces[5].extra = pb::varint_field(2, 1); });
  model("type_as_bytes", {"type"}, [](M& m) { m.pieces[5].extra = pb::bytes_field(3, "x"); });
  model("model_type_as_bytes", {"model_type"}, [](M& m) { m.trainer += pb::bytes_field(3, "x"); });

  // ----------------------------------------------------------------------------- values
  for (std::int64_t type :
       {std::int64_t{0}, std::int64_t{7}, std::int64_t{-1},
        std::int64_t{std::numeric_limits<std::int32_t>::max()}, std::int64_t{k2p40}})
    model("piece_type_" + signed_label(type), {"type"}, [type](M& m) { m.pieces[5].type = type; });
  for (const auto& [label, score] : {std::pair<const char*, float>{"nan", std::nanf("")},
                                     {"inf", std::numeric_limits<float>::infinity()},
                                     {"minus_inf", -std::numeric_limits<float>::infinity()}})
    model(std::string("score_") + label, {"score"},
          [score = score](M& m) { m.pieces[5].score = score; });
  for (const auto& [label, text] :
       std::vector<std::pair<std::string, std::string>>{{"empty", ""},
                                                        {"invalid_utf8", "\xff"},
                                                        {"holds_NUL", std::string("a\0b", 3)},
                                                        {"overlong_utf8", "\xc0\xaf"},
                                                        {"utf8_surrogate", "\xed\xa0\x80"},
                                                        {"truncated_utf8", "\xe2\x96"},
                                                        {"duplicate", "a"}})
    model("piece_" + label, {"piece"}, [text = text](M& m) { m.pieces[6].text = text; });
  model("piece_missing", {"piece"}, [](M& m) { m.pieces[6].text.reset(); });
  for (const auto& [label, text] :
       std::vector<std::pair<std::string, std::string>>{{"lower_case", "<0x0a>"},
                                                        {"not_hex", "<0xG0>"},
                                                        {"three_digits", "<0x100>"},
                                                        {"no_brackets", "0x0A"},
                                                        {"unclosed", "<0x0A"}})
    model("byte_piece_" + label, {"piece"}, [text = text](M& m) { m.pieces[3].text = text; });
  model("no_unknown_piece", {}, [](M& m) { m.pieces[0].type = 3; });
  model("two_unknown_pieces", {}, [](M& m) { m.pieces[10].type = 2; });
  model("unk_id_not_the_unknown_piece", {"unk_id"},
        [](M& m) { m.trainer += pb::int32_field(40, 1); });
  model("unk_id_2p40", {"unk_id"},
        [](M& m) { m.trainer += pb::int32_field(40, std::int64_t{k2p40}); });
  model("bos_id_past_vocabulary", {"bos_id", str(tiny::kVocab)},
        [](M& m) { m.trainer += pb::int32_field(41, tiny::kVocab); });
  model("bos_id_below_int32", {"bos_id"},
        [](M& m) { m.trainer += pb::int32_field(41, std::int64_t{INT32_MIN} - 1); });
  model("eos_id_minus_2", {"eos_id", "-2"}, [](M& m) { m.trainer += pb::int32_field(42, -2); });
  model("pad_id_int32_max", {"pad_id", "2147483647"},
        [](M& m) { m.trainer += pb::int32_field(43, INT32_MAX); });
  model("byte_fallback_2", {"byte_fallback"}, [](M& m) { m.trainer += pb::varint_field(35, 2); });
  model("add_dummy_prefix_7", {"add_dummy_prefix"},
        [](M& m) { m.normalizer += pb::varint_field(3, 7); });
  model("remove_extra_whitespaces_2", {"remove_extra_whitespaces"},
        [](M& m) { m.normalizer += pb::varint_field(4, 2); });

  // -------------------------------------------------------------------------- structure
  model("no_trainer_spec", {"trainer_spec"}, [](M& m) { m.with_trainer = false; });
  model("no_normalizer_spec", {"normalizer_spec"}, [](M& m) { m.with_normalizer = false; });
  model("no_pieces", {"pieces"}, [](M& m) { m.pieces.clear(); });
  list.add("empty_file", {}, [] { return Bytes{}; });
  for (const auto& [label, tail] :
       std::vector<std::pair<std::string, std::string>>{{"truncated_varint_record", "\x08"},
                                                        {"invalid_key", "\xff"},
                                                        {"truncated_piece",
                                                         "\x0a\x05"
                                                         "ab"}})
    list.add("trailing_" + label, {},
             [tail = tail] { return to_bytes(to_string(M().bytes()) + tail); });
  // One more piece record than the reader allows (2^22): two bytes each, counted before any
  // piece is stored.
  list.add("pieces_above_limit", {"pieces"}, [] {
    std::string b;
    b.reserve(2 * ((std::size_t{1} << 22) + 1));
    for (std::size_t i = 0; i <= (std::size_t{1} << 22); ++i) b += std::string("\x0a\x00", 2);
    return to_bytes(b);
  });

  // ---------------------------------------------------------- features the runtime lacks
  for (std::int64_t type : {0, 1, 3, 4, 99})
    model(
        "model_type_" + std::to_string(type), {"model_type"},
        [type](M& m) { m.trainer += pb::int32_field(3, type); }, ErrorCode::unsupported);
  model(
      "no_byte_fallback", {"byte_fallback"}, [](M& m) { m.trainer += pb::varint_field(35, 0); },
      ErrorCode::unsupported);
  model(
      "whitespace_as_suffix", {"treat_whitespace_as_suffix"},
      [](M& m) { m.trainer += pb::varint_field(24, 1); }, ErrorCode::unsupported);
  model(
      "precompiled_charsmap", {"precompiled_charsmap"},
      [](M& m) { m.normalizer += pb::bytes_field(2, "\x01\x02\x03"); }, ErrorCode::unsupported);
  model(
      "remove_extra_whitespaces", {"remove_extra_whitespaces"},
      [](M& m) { m.normalizer += pb::varint_field(4, 1); }, ErrorCode::unsupported);
  model(
      "remove_extra_whitespaces_by_default", {"remove_extra_whitespaces"},
      [](M& m) { m.normalizer = pb::bytes_field(1, "identity") + pb::int32_field(3, 1); },
      ErrorCode::unsupported);
  model(
      "spaces_not_escaped", {"escape_whitespaces"},
      [](M& m) { m.normalizer += pb::varint_field(5, 0); }, ErrorCode::unsupported);

  // ------------------------------------------------------------- the converter's checks
  list.convert("bos_id_disagrees_with_config", {"bos_token_id"}, [] {
    M m;
    m.trainer += pb::int32_field(41, 2);
    return m.bytes();
  });
  list.convert("one_piece_more_than_vocab_size", {"vocab_size"}, [] {
    M m;
    m.pieces.push_back({"d", -9.0f, std::nullopt, {}});
    return m.bytes();
  });
  list.convert(
      "no_tokenizer_file", {"tokenizer"}, [] { return std::nullopt; }, ErrorCode::io);
  return list.take();
}

std::vector<Case> tokenizer_json_cases() {
  CaseList list(Input::tokenizer_json, "json_");
  auto edit = [&](const std::string& name, std::vector<std::string> needles,
                  std::function<void(ordered_json&)> f, ErrorCode expect = ErrorCode::format) {
    list.add(name, std::move(needles), edited_json(Input::tokenizer_json, std::move(f)), expect);
  };
  auto text = [&](const std::string& name, std::function<std::string(std::string)> f) {
    list.add(name, {}, [f = std::move(f)] {
      return to_bytes(f(to_string(seed_bytes(Input::tokenizer_json))));
    });
  };
  const std::string sp = "\xe2\x96\x81";

  // JSON itself.
  list.add("empty", {}, json_text(""));
  list.add("not_json", {}, json_text("tokenizer"));
  list.add("array", {}, json_text("[]"));
  text("truncated", [](std::string t) { return t.substr(0, t.size() / 2); });
  text("trailing_garbage", [](std::string t) { return t + "}"; });
  text("invalid_utf8", [](std::string t) {
    return to_string(replace_all(to_bytes(t), "\"<unk>\"", "\"<\xffnk>\""));
  });
  text("lone_surrogate", [](std::string t) {
    return to_string(replace_all(to_bytes(t), "\"<unk>\"", "\"<\\udc00>\""));
  });
  text("number_overflows_double",
       [](std::string t) { return to_string(replace_all(to_bytes(t), "\"b\":6", "\"b\":1e400")); });
  text("deeply_nested_vocab", [](std::string t) {
    return to_string(replace_all(to_bytes(t), "\"b\":6", "\"b\":" + nested_arrays(100000)));
  });
  // Duplicate keys: the same piece twice (with its own id), and two "model" objects.
  text("duplicate_vocab_key", [](std::string t) {
    return to_string(replace_all(to_bytes(t), "\"b\":6", "\"b\":6,\"b\":6"));
  });
  text("duplicate_model_key",
       [](std::string t) { return "{\"model\":{\"type\":\"Unigram\"}," + t.substr(1); });

  // model.
  edit("model_missing", {"model"}, [](ordered_json& j) { j.erase("model"); });
  edit("model_array", {"model"}, [](ordered_json& j) { j["model"] = {1}; });
  edit("model_type_number", {"model.type"}, [](ordered_json& j) { j["model"]["type"] = 5; });
  edit("byte_fallback_string", {"model.byte_fallback"},
       [](ordered_json& j) { j["model"]["byte_fallback"] = "yes"; });
  edit("unk_token_number", {"model.unk_token"},
       [](ordered_json& j) { j["model"]["unk_token"] = 0; });
  edit("unk_token_unknown", {"model.unk_token"},
       [](ordered_json& j) { j["model"]["unk_token"] = "<UNK>"; });
  // model.vocab.
  edit("vocab_missing", {"model.vocab"}, [](ordered_json& j) { j["model"].erase("vocab"); });
  edit("vocab_array", {"model.vocab"}, [](ordered_json& j) { j["model"]["vocab"] = {"a"}; });
  edit("vocab_empty", {"model.vocab"},
       [](ordered_json& j) { j["model"]["vocab"] = ordered_json::object(); });
  for (const auto& [label, id] :
       std::vector<std::pair<std::string, ordered_json>>{{"string", "6"},
                                                         {"fraction", 6.5},
                                                         {"negative", -1},
                                                         {"past_vocabulary", tiny::kVocab},
                                                         {"max_u64", kMaxU64},
                                                         {"duplicate", 5},
                                                         {"null", nullptr}})
    edit("vocab_id_" + label, {"model.vocab"},
         [id = id](ordered_json& j) { j["model"]["vocab"]["b"] = id; });
  edit("vocab_piece_empty", {"model.vocab"}, [](ordered_json& j) {
    auto& vocab = j["model"]["vocab"];
    vocab[""] = vocab["c"];
    vocab.erase("c");
  });
  edit("vocab_piece_holds_NUL", {"model.vocab"}, [](ordered_json& j) {
    auto& vocab = j["model"]["vocab"];
    vocab[std::string("c\0", 2)] = vocab["c"];
    vocab.erase("c");
  });
  // added_tokens.
  edit("added_tokens_object", {"added_tokens"},
       [](ordered_json& j) { j["added_tokens"] = ordered_json::object(); });
  edit("added_token_number", {"added_tokens[0]"},
       [](ordered_json& j) { j["added_tokens"][0] = 5; });
  edit("added_token_id_string", {"added_tokens[0].id"},
       [](ordered_json& j) { j["added_tokens"][0]["id"] = "0"; });
  edit("added_token_id_max_u64", {"added_tokens[0].id"},
       [](ordered_json& j) { j["added_tokens"][0]["id"] = kMaxU64; });
  edit("added_token_leaves_a_gap", {"added_tokens[3]", "20"}, [](ordered_json& j) {
    j["added_tokens"].push_back({{"id", 20}, {"content", "<extra>"}, {"special", true}});
  });
  edit("added_token_contradicts_vocab", {"added_tokens[1]"},
       [](ordered_json& j) { j["added_tokens"][1]["content"] = "<S>"; });
  edit("added_token_content_empty", {"added_tokens[1].content"},
       [](ordered_json& j) { j["added_tokens"][1]["content"] = ""; });
  edit("added_token_special_string", {"added_tokens[1].special"},
       [](ordered_json& j) { j["added_tokens"][1]["special"] = "yes"; });
  edit("added_token_duplicates_piece", {"added_tokens"}, [](ordered_json& j) {
    j["added_tokens"].push_back({{"id", tiny::kVocab}, {"content", "a"}, {"special", false}});
  });
  // model.merges.
  edit("merges_missing", {"model.merges"}, [](ordered_json& j) { j["model"].erase("merges"); });
  edit("merges_object", {"model.merges"},
       [](ordered_json& j) { j["model"]["merges"] = ordered_json::object(); });
  for (const auto& [label, merge] :
       std::vector<std::pair<std::string, ordered_json>>{{"number", 5},
                                                         {"no_space", "ab"},
                                                         {"two_spaces", "a  b"},
                                                         {"three_parts", "a b c"},
                                                         {"leading_space", " a"},
                                                         {"merged_unknown", "b c"},
                                                         {"side_unknown", "z b"},
                                                         {"pair_of_one", {"a"}},
                                                         {"pair_with_number", {"a", 5}}})
    edit("merge_" + label, {"model.merges[1]"},
         [merge = merge](ordered_json& j) { j["model"]["merges"][1] = merge; });
  edit("merge_repeated", {"model.merges[1]"},
       [](ordered_json& j) { j["model"]["merges"][1] = j["model"]["merges"][0]; });
  // Text handling.
  edit("normalizer_type_number", {"normalizer.type"},
       [](ordered_json& j) { j["normalizer"]["type"] = 5; });
  edit("normalizers_not_array", {"normalizer.normalizers"},
       [](ordered_json& j) { j["normalizer"]["normalizers"] = "Replace"; });
  edit("prepend_scheme_unknown", {"pre_tokenizer.prepend_scheme"}, [sp](ordered_json& j) {
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {{"type", "Metaspace"},
                          {"replacement", sp},
                          {"split", false},
                          {"prepend_scheme", "sometimes"}};
  });

  // Features the runtime lacks.
  const auto unsupported = ErrorCode::unsupported;
  edit(
      "model_type_WordPiece", {"model.type"},
      [](ordered_json& j) { j["model"]["type"] = "WordPiece"; }, unsupported);
  edit(
      "model_type_Unigram", {"model.type"}, [](ordered_json& j) { j["model"]["type"] = "Unigram"; },
      unsupported);
  edit(
      "no_byte_fallback", {"model.byte_fallback"},
      [](ordered_json& j) { j["model"]["byte_fallback"] = false; }, unsupported);
  edit(
      "byte_fallback_missing", {"model.byte_fallback"},
      [](ordered_json& j) { j["model"].erase("byte_fallback"); }, unsupported);
  edit(
      "dropout", {"model.dropout"}, [](ordered_json& j) { j["model"]["dropout"] = 0.1; },
      unsupported);
  edit(
      "continuing_subword_prefix", {"model.continuing_subword_prefix"},
      [](ordered_json& j) { j["model"]["continuing_subword_prefix"] = "##"; }, unsupported);
  edit(
      "end_of_word_suffix", {"model.end_of_word_suffix"},
      [](ordered_json& j) { j["model"]["end_of_word_suffix"] = "</w>"; }, unsupported);
  edit(
      "ignore_merges", {"model.ignore_merges"},
      [](ordered_json& j) { j["model"]["ignore_merges"] = true; }, unsupported);
  edit(
      "normalizer_lowercase", {"normalizer"},
      [](ordered_json& j) {
        j["normalizer"]["normalizers"][0] = {{"type", "Lowercase"}};
      },
      unsupported);
  edit(
      "normalizer_two_replaces", {"normalizer"},
      [](ordered_json& j) {
        j["normalizer"]["normalizers"][0] = j["normalizer"]["normalizers"][1];
      },
      unsupported);
  edit(
      "normalizer_regex", {"normalizer"},
      [](ordered_json& j) {
        j["normalizer"]["normalizers"][1]["pattern"] = {{"Regex", "\\s"}};
      },
      unsupported);
  edit(
      "prepend_other_text", {"normalizer"},
      [](ordered_json& j) { j["normalizer"]["normalizers"][0]["prepend"] = "_"; }, unsupported);
  edit(
      "normalizer_and_pre_tokenizer", {"pre_tokenizer"},
      [](ordered_json& j) {
        j["pre_tokenizer"] = {{"type", "ByteLevel"}};
      },
      unsupported);
  edit(
      "no_normalizer_or_pre_tokenizer", {"normalizer"},
      [](ordered_json& j) { j["normalizer"] = nullptr; }, unsupported);
  edit(
      "pre_tokenizer_byte_level", {"pre_tokenizer.type"},
      [](ordered_json& j) {
        j["normalizer"] = nullptr;
        j["pre_tokenizer"] = {{"type", "ByteLevel"}};
      },
      unsupported);
  edit(
      "metaspace_splits", {"pre_tokenizer.split"},
      [sp](ordered_json& j) {
        j["normalizer"] = nullptr;
        j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", sp}, {"split", true}};
      },
      unsupported);
  return list.take();
}

std::vector<Case> tokenizer_config_cases() {
  CaseList list(Input::tokenizer_config, "cfg_");
  auto edit = [&](const std::string& name, std::vector<std::string> needles,
                  std::function<void(ordered_json&)> f) {
    list.add(name, std::move(needles), edited_json(Input::tokenizer_config, std::move(f)));
  };
  list.add("not_json", {}, json_text("{\"bos_token\": "));
  list.add("array", {}, json_text("[\"<s>\"]"));
  edit("bos_token_unknown", {"bos_token"}, [](ordered_json& j) { j["bos_token"] = "<S>"; });
  edit("bos_token_number", {"bos_token"}, [](ordered_json& j) { j["bos_token"] = 1; });
  edit("eos_token_content_number", {"eos_token"},
       [](ordered_json& j) { j["eos_token"]["content"] = 2; });
  edit("eos_token_without_content", {"eos_token"},
       [](ordered_json& j) { j["eos_token"].erase("content"); });
  edit("pad_token_unknown", {"pad_token"}, [](ordered_json& j) { j["pad_token"] = "<pad>"; });
  edit("unk_token_disagrees", {"unk_token"}, [](ordered_json& j) { j["unk_token"] = "<s>"; });
  edit("add_bos_token_string", {"add_bos_token"},
       [](ordered_json& j) { j["add_bos_token"] = "true"; });
  edit("add_eos_token_number", {"add_eos_token"}, [](ordered_json& j) { j["add_eos_token"] = 0; });
  list.convert(
      "bos_token_disagrees_with_config", {"bos_token_id"},
      edited_json(Input::tokenizer_config, [](ordered_json& j) { j["bos_token"] = "</s>"; }));
  return list.take();
}

std::vector<Case> tokenizer_cases() {
  std::vector<Case> out = sentencepiece_cases();
  for (auto* more : {&tokenizer_json_cases, &tokenizer_config_cases})
    for (Case& c : more()) out.push_back(std::move(c));
  return out;
}

// ================================================================================= config.json

// The integer hyper-parameters, with the largest value config.json may give each
// (src/convert/hf_config.hpp).
const std::pair<const char*, std::uint64_t> kConfigSizes[] = {
    {"hidden_size", 65536},
    {"intermediate_size", 1u << 18},
    {"num_hidden_layers", 1024},
    {"num_attention_heads", 1024},
    {"num_key_value_heads", 1024},
    {"vocab_size", 1u << 22},
    {"max_position_embeddings", 1u << 20},
    {"head_dim", 65536},
};

std::vector<Case> config_cases() {
  CaseList list(Input::config);
  auto edit = [&](const std::string& name, std::vector<std::string> needles,
                  std::function<void(ordered_json&)> f, ErrorCode expect = ErrorCode::format) {
    list.add(name, std::move(needles), edited_json(Input::config, std::move(f)), expect);
  };
  auto text = [&](const std::string& name, std::vector<std::string> needles,
                  std::function<std::string(std::string)> f) {
    list.add(name, std::move(needles),
             [f = std::move(f)] { return to_bytes(f(to_string(seed_bytes(Input::config)))); });
  };
  auto replaced = [](std::string from, std::string to) {
    return [from, to](std::string t) { return to_string(replace_all(to_bytes(t), from, to)); };
  };

  // JSON itself.
  list.add("empty", {}, json_text(""));
  list.add("array", {}, json_text("[{\"hidden_size\": 8}]"));
  text("truncated", {}, [](std::string t) { return t.substr(0, t.size() - 1); });
  text("trailing_garbage", {}, [](std::string t) { return t + "{}"; });
  for (const auto& [label, literal] :
       std::vector<std::pair<std::string, std::string>>{{"NaN", "NaN"},
                                                        {"Infinity", "Infinity"},
                                                        {"minus_Infinity", "-Infinity"},
                                                        {"1e400", "1e400"}})
    text("rope_theta_" + label, {},
         replaced("\"rope_theta\":10000.0", "\"rope_theta\":" + literal));
  text("invalid_utf8", {},
       replaced("\"llama\"",
                "\"ll\xff"
                "ma\""));
  text("duplicate_key", {"hidden_size"},
       [](std::string t) { return "{\"hidden_size\":16," + t.substr(1); });

  // Required keys, absent or null.
  for (const char* key : {"architectures", "model_type", "hidden_size", "intermediate_size",
                          "num_hidden_layers", "num_attention_heads", "vocab_size"}) {
    edit(std::string("missing_") + key, {key}, [key](ordered_json& j) { j.erase(key); });
    edit(std::string("null_") + key, {key}, [key](ordered_json& j) { j[key] = nullptr; });
  }
  // Every integer hyper-parameter: wrong JSON types and out-of-range values.
  for (const auto& [key, max] : kConfigSizes) {
    const std::vector<std::pair<std::string, ordered_json>> bad = {
        {"0", 0},
        {"minus_1", -1},
        {"fraction", 2.5},
        {"string", "8"},
        {"true", true},
        {"array", {8}},
        {"object", {{"value", 8}}},
        {"2p63", k2p63},
        {"above_limit", max + 1},
    };
    for (const auto& [label, value] : bad) {
      std::vector<std::string> needles = {key};
      if (value.is_number_integer()) needles.push_back(value.dump());
      edit(std::string(key) + "_" + label, needles,
           [key = key, value = value](ordered_json& j) { j[key] = value; });
    }
    // 2^64 does not fit any JSON integer type: the parser reads it as a float.
    text(std::string(key) + "_2p64", {key}, [key = std::string(key)](std::string t) {
      ordered_json j = ordered_json::parse(t);
      j[key] = 0;
      return to_string(replace_all(to_bytes(j.dump()), "\"" + key + "\":0",
                                   "\"" + key + "\":18446744073709551616"));
    });
  }
  // The two float hyper-parameters.
  for (const auto& [label, value] :
       std::vector<std::pair<std::string, ordered_json>>{{"0", 0.0},
                                                         {"minus_1", -1.0},
                                                         {"string", "1e4"},
                                                         {"true", true},
                                                         {"above_float_max", 1e39},
                                                         {"array", {10000.0}}})
    edit("rope_theta_" + label, {"rope_theta"},
         [value = value](ordered_json& j) { j["rope_theta"] = value; });
  for (const auto& [label, value] :
       std::vector<std::pair<std::string, ordered_json>>{{"0", 0.0},
                                                         {"negative", -1e-6},
                                                         {"1", 1.0},
                                                         {"1_5", 1.5},
                                                         {"flushes_to_zero_as_float", 1e-50},
                                                         {"string", "1e-5"}})
    edit("rms_norm_eps_" + label, {"rms_norm_eps"},
         [value = value](ordered_json& j) { j["rms_norm_eps"] = value; });
  // Attention shapes that do not divide.
  edit("heads_do_not_divide_hidden_size", {"num_attention_heads", "3"}, [](ordered_json& j) {
    j["num_attention_heads"] = 3;
    j["num_key_value_heads"] = 1;
  });
  edit("kv_heads_do_not_divide_heads", {"num_key_value_heads", "3"},
       [](ordered_json& j) { j["num_key_value_heads"] = 3; });
  edit("head_dim_disagrees", {"head_dim", "3"}, [](ordered_json& j) { j["head_dim"] = 3; });
  edit("head_dim_odd", {"head_dim", "1"}, [](ordered_json& j) {
    j["num_attention_heads"] = 8;
    j["num_key_value_heads"] = 8;
  });
  // Token ids, booleans and strings.
  for (const auto& [label, value] : std::vector<std::pair<std::string, ordered_json>>{
           {"vocab_size", tiny::kVocab}, {"minus_1", -1}, {"string", "1"}, {"2p63", k2p63}})
    edit("bos_token_id_" + label, {"bos_token_id"},
         [value = value](ordered_json& j) { j["bos_token_id"] = value; });
  edit("eos_token_id_vocab_size", {"eos_token_id", str(tiny::kVocab)},
       [](ordered_json& j) { j["eos_token_id"] = tiny::kVocab; });
  for (const char* key :
       {"tie_word_embeddings", "share_embedding", "layer_sharing", "attention_bias"})
    for (const auto& [label, value] :
         std::vector<std::pair<std::string, ordered_json>>{{"string", "true"}, {"number", 1}})
      edit(std::string(key) + "_" + label, {key},
           [key, value = value](ordered_json& j) { j[key] = value; });
  edit("architectures_string", {"architectures"},
       [](ordered_json& j) { j["architectures"] = "LlamaForCausalLM"; });
  edit("architectures_empty", {"architectures"},
       [](ordered_json& j) { j["architectures"] = ordered_json::array(); });
  edit("architectures_number", {"architectures"},
       [](ordered_json& j) { j["architectures"] = {5}; });
  edit("model_type_number", {"model_type"}, [](ordered_json& j) { j["model_type"] = 5; });
  edit("hidden_act_number", {"hidden_act"}, [](ordered_json& j) { j["hidden_act"] = 5; });
  edit("torch_dtype_number", {"torch_dtype"}, [](ordered_json& j) { j["torch_dtype"] = 16; });

  // Features the runtime lacks.
  const auto unsupported = ErrorCode::unsupported;
  edit(
      "architecture_gpt2", {"architectures"},
      [](ordered_json& j) { j["architectures"] = {"GPT2LMHeadModel"}; }, unsupported);
  edit(
      "model_type_gpt2", {"model_type"}, [](ordered_json& j) { j["model_type"] = "gpt2"; },
      unsupported);
  edit(
      "hidden_act_gelu", {"hidden_act"}, [](ordered_json& j) { j["hidden_act"] = "gelu"; },
      unsupported);
  edit(
      "attention_bias", {"attention_bias"}, [](ordered_json& j) { j["attention_bias"] = true; },
      unsupported);
  edit(
      "mlp_bias", {"mlp_bias"}, [](ordered_json& j) { j["mlp_bias"] = true; }, unsupported);
  edit(
      "rope_scaling", {"rope_scaling"},
      [](ordered_json& j) {
        j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
      },
      unsupported);

  // Consistent configs that disagree with the weights or the tokenizer.
  auto convert = [&](const std::string& name, std::vector<std::string> needles,
                     std::function<void(ordered_json&)> f) {
    list.convert(name, std::move(needles), edited_json(Input::config, std::move(f)));
  };
  convert("vocab_size_disagrees_with_tokenizer", {"vocab_size"},
          [](ordered_json& j) { j["vocab_size"] = tiny::kVocab + 1; });
  convert("hidden_size_disagrees_with_weights", {kEmbed},
          [](ordered_json& j) { j["hidden_size"] = 16; });
  convert("intermediate_size_disagrees", {kGate},
          [](ordered_json& j) { j["intermediate_size"] = 16; });
  convert("kv_heads_disagree", {kK}, [](ordered_json& j) { j["num_key_value_heads"] = 2; });
  convert("layers_missing", {"model.layers.1."},
          [](ordered_json& j) { j["num_hidden_layers"] = 2; });
  convert("bos_token_id_disagrees", {"bos_token_id"},
          [](ordered_json& j) { j["bos_token_id"] = 2; });
  convert("eos_token_id_disagrees", {"eos_token_id"},
          [](ordered_json& j) { j["eos_token_id"] = 1; });
  convert("untied_without_lm_head", {"lm_head.weight"},
          [](ordered_json& j) { j["share_embedding"] = false; });
  list.convert(
      "no_config_file", {"config.json"}, [] { return std::nullopt; }, ErrorCode::io);
  return list.take();
}

// ====================================================================================== tests

// An empty directory for the running test: test_directory()/`name`.
std::string fresh_directory(const std::string& name) {
  const fs::path dir = fs::path(cb::test_directory()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// Writes the Hugging Face folder `files` into `dir`.
void write_folder(const std::string& dir, const std::map<std::string, Bytes>& files) {
  for (const auto& [name, bytes] : files) cb::write_file(dir + "/" + name, bytes);
}

// Runs the reader of `input` on the file of that name in `dir` (with its companions: the shards
// of an index, the tokenizer_config.json of a tokenizer.json), as the converter runs it.
void read_input(Input input, const std::string& dir) {
  const std::string path = dir + "/" + file_name(input);
  switch (input) {
    case Input::gguf:
      ModelFile::open(path);
      return;
    case Input::config:
      parse_hf_config(read_text_file(path, kMaxText), path);
      return;
    case Input::safetensors:
      read_safetensors(MappedFile::open(path));
      return;
    case Input::safetensors_index:
      read_sharded_safetensors(dir);
      return;
    case Input::torch:
      read_torch_checkpoint(MappedFile::open(path));
      return;
    case Input::sentencepiece: {
      const auto file = MappedFile::open(path);
      read_sentencepiece_model(file->bytes(), path);
      return;
    }
    case Input::tokenizer_json:
    case Input::tokenizer_config: {
      const std::string json = dir + "/" + file_name(Input::tokenizer_json);
      const std::string config = dir + "/" + file_name(Input::tokenizer_config);
      const std::string config_text = read_text_file(config, kMaxText);
      read_hf_tokenizer(read_text_file(json, kMaxText), json, &config_text, config);
      return;
    }
  }
}

// What a rejected input was rejected with.
struct Rejection {
  ErrorCode code;
  std::string message;
  std::string file, field;  // FormatError only
};

// Runs `f`, which must throw a mobilellm::Error. Anything else thrown, or nothing, is a test
// failure (and nullopt).
template <typename F>
std::optional<Rejection> rejection(F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return Rejection{e.code(), e.what(), e.file(), e.field()};
  } catch (const Error& e) {
    return Rejection{e.code(), e.what(), {}, {}};
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw " << typeid(e).name() << ", not a mobilellm::Error: " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "accepted: nothing was thrown";
  return std::nullopt;
}

// Checks that `r` is the rejection `c` expects and names the file: exactly `file` when given,
// else some file in `dir`.
void expect_rejection(const Rejection& r, const Case& c, const std::string& dir,
                      const std::optional<std::string>& file) {
  EXPECT_EQ(error_code_name(r.code), std::string(error_code_name(c.expect))) << r.message;
  const std::string named = file.value_or(dir + "/");
  switch (r.code) {
    case ErrorCode::format:
      // "FILE: FIELD: DETAIL": the file, and a field.
      if (file)
        EXPECT_EQ(r.file, *file) << r.message;
      else
        EXPECT_TRUE(r.file.starts_with(named)) << r.message;
      EXPECT_FALSE(r.field.empty()) << r.message;
      break;
    case ErrorCode::unsupported:
      // "FILE: FIELD: DETAIL" as well.
      EXPECT_TRUE(r.message.starts_with(named)) << r.message;
      EXPECT_NE(r.message.find(": ", named.size() + 2), std::string::npos) << r.message;
      break;
    default:
      EXPECT_NE(r.message.find(dir), std::string::npos) << r.message;
  }
  for (const std::string& needle : c.needles)
    EXPECT_NE(r.message.find(needle), std::string::npos)
        << "the message \"" << r.message << "\" lacks \"" << needle << "\"";
}

std::string listing(const std::string& dir) {
  std::string s;
  for (const auto& e : fs::directory_iterator(dir)) s += " " + e.path().filename().string();
  return s;
}

class Hostile : public ::testing::TestWithParam<Case> {};

TEST_P(Hostile, IsRejected) {
  const Case& c = GetParam();
  const std::optional<Bytes> broken = c.make();
  const std::string dir = fresh_directory("in");
  const std::string path = dir + "/" + file_name(c.input);

  if (c.input == Input::gguf) {
    cb::write_file(path, *broken);
    if (const auto r = rejection([&] { ModelFile::open(path); }))
      expect_rejection(*r, c, dir, path);
    return;
  }

  std::map<std::string, Bytes> files = base_folder(c.input);
  if (broken)
    files[file_name(c.input)] = *broken;
  else
    files.erase(file_name(c.input));
  write_folder(dir, files);

  std::optional<Rejection> by_reader;
  if (c.stage == Stage::reader) {
    by_reader = rejection([&] { read_input(c.input, dir); });
    // An index's problem may be reported against one of its shards.
    const bool exact = c.input != Input::safetensors_index;
    if (by_reader) expect_rejection(*by_reader, c, dir, exact ? std::optional(path) : std::nullopt);
  }

  const std::string out = fresh_directory("out");
  ConvertOptions options;
  options.input_dir = dir;
  options.output_path = out + "/model.gguf";
  options.type = c.output_type;
  if (const auto r = rejection([&] { convert_checkpoint(options); })) {
    if (by_reader)
      EXPECT_EQ(r->message, by_reader->message) << "the converter reports differently";
    else
      expect_rejection(*r, c, dir, std::nullopt);
  }
  // Neither the output nor its temporary file ("<out>.tmp.*") may be left behind.
  EXPECT_TRUE(fs::is_empty(out)) << "the failed conversion left:" << listing(out);
}

std::string param_name(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Gguf, Hostile, ::testing::ValuesIn(gguf_cases()), param_name);
INSTANTIATE_TEST_SUITE_P(Safetensors, Hostile, ::testing::ValuesIn(safetensors_cases()),
                         param_name);
INSTANTIATE_TEST_SUITE_P(TorchBin, Hostile, ::testing::ValuesIn(torch_cases()), param_name);
INSTANTIATE_TEST_SUITE_P(Tokenizer, Hostile, ::testing::ValuesIn(tokenizer_cases()), param_name);
INSTANTIATE_TEST_SUITE_P(Config, Hostile, ::testing::ValuesIn(config_cases()), param_name);

// The corpus is generated: check its size, and print it per kind of input.
TEST(HostileCorpus, HoldsAtLeast150CasesOverAllFiveKinds) {
  std::map<std::string, std::size_t> per_kind;
  std::size_t total = 0;
  for (auto* generate :
       {&gguf_cases, &safetensors_cases, &torch_cases, &tokenizer_cases, &config_cases})
    for (const Case& c : generate()) {
      ++per_kind[kind_name(c.input)];
      ++total;
    }
  for (const auto& [kind, n] : per_kind) std::cout << "hostile cases: " << n << " " << kind << "\n";
  std::cout << "hostile cases: " << total << " in all\n";
  EXPECT_EQ(per_kind.size(), 5u);
  for (const auto& [kind, n] : per_kind) EXPECT_GE(n, 30u) << kind;
  EXPECT_GE(total, 150u);
}

// The seeds the cases break are valid: each file is accepted by its reader, every folder
// converts, and the result opens. (Otherwise a case could pass for the wrong reason.)
TEST(HostileSeeds, AreAcceptedAndConvert) {
  const std::string dir = fresh_directory("gguf");
  cb::write_file(dir + "/model.gguf", gguf_seed().bytes);
  EXPECT_NO_THROW(ModelFile::open(dir + "/model.gguf"));
  for (Input input : {Input::config, Input::safetensors, Input::safetensors_index, Input::torch,
                      Input::sentencepiece, Input::tokenizer_json, Input::tokenizer_config}) {
    SCOPED_TRACE(file_name(input));
    const std::string in = fresh_directory("in");
    write_folder(in, base_folder(input));
    EXPECT_NO_THROW(read_input(input, in));
    const std::string out = fresh_directory("out");
    ConvertOptions options;
    options.input_dir = in;
    options.output_path = out + "/model.gguf";
    EXPECT_NO_THROW(convert_checkpoint(options));
    EXPECT_NO_THROW(ModelFile::open(options.output_path));
  }
}

// The seed corpora of the libFuzzer harnesses (tests/fuzz/) are valid inputs of their readers.
TEST(HostileSeeds, FuzzSeedsAreAccepted) {
  const std::string dir = fresh_directory("fuzz");
  const auto file = [&](const Seed& seed) {
    const std::string path = dir + "/" + seed.first;
    cb::write_file(path, seed.second);
    return path;
  };
  for (const Seed& s : gguf_fuzz_seeds()) EXPECT_NO_THROW(ModelFile::open(file(s))) << s.first;
  for (const Seed& s : safetensors_fuzz_seeds())
    EXPECT_NO_THROW(read_safetensors(MappedFile::open(file(s)))) << s.first;
  for (const Seed& s : pickle_fuzz_seeds())
    EXPECT_NO_THROW(parse_state_dict_pickle(s.second, s.first)) << s.first;
  for (const Seed& s : zip_fuzz_seeds())
    EXPECT_NO_THROW(read_torch_checkpoint(MappedFile::open(file(s)))) << s.first;
  for (const Seed& s : sentencepiece_fuzz_seeds())
    EXPECT_NO_THROW(read_sentencepiece_model(s.second, s.first)) << s.first;
  for (const Seed& s : tokenizer_json_fuzz_seeds()) {
    const std::string text = to_string(s.second);
    const std::size_t nul = text.find('\0');
    const std::string config = nul == std::string::npos ? "" : text.substr(nul + 1);
    EXPECT_NO_THROW(read_hf_tokenizer(text.substr(0, nul), s.first,
                                      nul == std::string::npos ? nullptr : &config, s.first))
        << s.first;
  }
  for (const Seed& s : config_fuzz_seeds())
    EXPECT_NO_THROW(parse_hf_config(to_string(s.second), s.first)) << s.first;
}

// The reproducers of past fuzzer findings (tests/fuzz/regressions/<harness>/, see
// tests/fuzz/README.md), replayed through the harness's reader in every build: each may be
// accepted or rejected with a mobilellm::Error, nothing else.
TEST(HostileRegressions, FuzzFindingsStayFixed) {
  const fs::path root = fs::path(__FILE__).parent_path().parent_path() / "fuzz" / "regressions";
  if (!fs::is_directory(root)) GTEST_SKIP() << root << " is absent";
  const std::map<std::string, std::function<void(const std::string&, const Bytes&)>> readers = {
      {"fuzz_gguf", [](const std::string& path, const Bytes&) { ModelFile::open(path); }},
      {"fuzz_safetensors",
       [](const std::string& path, const Bytes&) { read_safetensors(MappedFile::open(path)); }},
      {"fuzz_torch_pickle",
       [](const std::string& path, const Bytes& b) { parse_state_dict_pickle(b, path); }},
      {"fuzz_zip", [](const std::string& path,
                      const Bytes&) { read_torch_checkpoint(MappedFile::open(path)); }},
      {"fuzz_sentencepiece",
       [](const std::string& path, const Bytes& b) { read_sentencepiece_model(b, path); }},
      {"fuzz_tokenizer_json",
       [](const std::string& path, const Bytes& b) {
         const std::string text = to_string(b);
         const std::size_t nul = text.find('\0');
         const std::string config = nul == std::string::npos ? "" : text.substr(nul + 1);
         read_hf_tokenizer(text.substr(0, nul), path, nul == std::string::npos ? nullptr : &config,
                           path);
       }},
      {"fuzz_hf_config",
       [](const std::string& path, const Bytes& b) { parse_hf_config(to_string(b), path); }},
  };
  std::size_t replayed = 0;
  for (const auto& harness : fs::directory_iterator(root)) {
    const std::string name = harness.path().filename().string();
    ASSERT_TRUE(readers.contains(name)) << "no harness is named " << name;
    for (const auto& entry : fs::directory_iterator(harness.path())) {
      const std::string path = entry.path().string();
      const auto file = MappedFile::open(path);
      const Bytes bytes(file->bytes().begin(), file->bytes().end());
      try {
        readers.at(name)(path, bytes);
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << path << ": threw " << typeid(e).name() << ": " << e.what();
      }
      ++replayed;
    }
  }
  std::cout << replayed << " fuzzer reproducers replayed\n";
}

// Truncation at every offset: for each input, every prefix of the seed is rejected with a
// FormatError naming the file. Files of a few kilobytes are cut at every offset; the bulk data
// of the larger ones at every 97th, and at each of the last 16 bytes.
class HostileTruncation : public ::testing::TestWithParam<Input> {};

std::string input_name(const ::testing::TestParamInfo<Input>& info) {
  return case_name(file_name(info.param));
}

TEST_P(HostileTruncation, EveryPrefixIsRejected) {
  const Input input = GetParam();
  const std::string dir = fresh_directory("in");
  const std::string path = dir + "/" + file_name(input);
  std::map<std::string, Bytes> files =
      input == Input::gguf ? std::map<std::string, Bytes>{} : base_folder(input);
  const Bytes seed = seed_bytes(input);
  files[file_name(input)] = seed;
  write_folder(dir, files);
  ASSERT_NO_THROW(read_input(input, dir)) << "the seed itself is rejected";

  constexpr std::uint64_t kDense = 8192, kStride = 97, kTail = 16;
  std::uint64_t tested = 0;
  for (std::uint64_t n = 0; n < seed.size(); ++n) {
    if (n >= kDense && n % kStride != 0 && n + kTail < seed.size()) continue;
    // A new file each time: rewriting a file in place can cost a disk flush (ext4 flushes a
    // file truncated and rewritten, as a crash-safety heuristic).
    fs::remove(path);
    cb::write_file(path, std::span(seed).first(n));
    ++tested;
    try {
      read_input(input, dir);
      ADD_FAILURE() << "the first " << n << " of " << seed.size() << " bytes are accepted";
    } catch (const FormatError& e) {
      EXPECT_EQ(e.file(), path) << e.what();
      EXPECT_FALSE(e.field().empty()) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the first " << n << " bytes: threw " << typeid(e).name()
                    << ", not a FormatError: " << e.what();
    }
    if (HasFailure()) break;  // one prefix is enough to show the problem
  }
  std::cout << file_name(input) << ": " << tested << " prefixes of " << seed.size() << " bytes\n";
}

INSTANTIATE_TEST_SUITE_P(Hostile, HostileTruncation,
                         ::testing::Values(Input::gguf, Input::config, Input::safetensors,
                                           Input::safetensors_index, Input::torch,
                                           Input::sentencepiece, Input::tokenizer_json,
                                           Input::tokenizer_config),
                         input_name);

}  // namespace
}  // namespace mobilellm::hostile
