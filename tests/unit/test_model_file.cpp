// ModelFile: loading builder-made models of every weight type and sharing mode, and rejecting
// files that break the model schema of models/README.md.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "mobilellm/error.hpp"
#include "mobilellm/model_file.hpp"
#include "model_builder.hpp"

namespace mobilellm {
namespace {

using gguf::Value;
using test::ModelBuilder;
using test::ModelSpec;

// A file name unique to the running test, so tests can run in parallel.
std::string unique_path(const std::string& suffix = "") {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name() + suffix + ".gguf";
  for (char& ch : name)
    if (ch == '/') ch = '_';
  return test::tmp_path(name);
}

std::shared_ptr<const ModelFile> open_built(const ModelBuilder& b) {
  const std::string path = unique_path();
  b.write(path);
  return ModelFile::open(path);
}

std::optional<FormatError> open_error(const ModelBuilder& b) {
  try {
    open_built(b);
  } catch (const FormatError& e) {
    return e;
  }
  return std::nullopt;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Parameters of the spec's architecture, counted from the shapes the README specifies.
std::uint64_t expected_parameters(const ModelSpec& s) {
  const std::uint64_t E = s.embedding_length, V = s.vocab_size, F = s.feed_forward_length;
  const std::uint64_t q = std::uint64_t{s.head_count} * s.head_dim;
  const std::uint64_t kv = std::uint64_t{s.head_count_kv} * s.head_dim;
  const std::uint64_t per_block = E + E * q + 2 * E * kv + q * E + E + 3 * E * F;
  return V * E + E + (s.embedding_sharing ? 0 : V * E) + s.block_count * per_block;
}

// ------------------------------------------------------------------------------ valid models

using LoadCase = std::tuple<std::string, bool, bool>;  // weight type, layer sharing, emb. sharing

class ModelFileLoads : public ::testing::TestWithParam<LoadCase> {};

TEST_P(ModelFileLoads, ConfigVocabularyAndTensors) {
  ModelSpec spec;
  std::tie(spec.weight_type, spec.layer_sharing, spec.embedding_sharing) = GetParam();
  spec.seed = 7;
  const ModelBuilder b(spec);
  const auto m = open_built(b);

  EXPECT_EQ(m->gguf_version(), 3u);
  EXPECT_EQ(m->alignment(), 64u);
  EXPECT_EQ(m->name(), "test-model");
  EXPECT_EQ(m->weight_type(), spec.weight_type);

  const ModelConfig& c = m->config();
  EXPECT_EQ(c.vocab_size, spec.vocab_size);
  EXPECT_EQ(c.embedding_length, spec.embedding_length);
  EXPECT_EQ(c.feed_forward_length, spec.feed_forward_length);
  EXPECT_EQ(c.block_count, spec.block_count);
  EXPECT_EQ(c.head_count, spec.head_count);
  EXPECT_EQ(c.head_count_kv, spec.head_count_kv);
  EXPECT_EQ(c.head_dim, spec.head_dim);
  EXPECT_EQ(c.context_length, spec.context_length);
  EXPECT_EQ(c.rope_freq_base, spec.rope_freq_base);
  EXPECT_EQ(c.rms_norm_eps, spec.rms_norm_eps);
  EXPECT_EQ(c.layer_sharing, spec.layer_sharing);
  EXPECT_EQ(c.embedding_sharing, spec.embedding_sharing);
  EXPECT_EQ(c.applied_block_count(), spec.layer_sharing ? 4u : 2u);

  const Vocabulary expected = test::make_vocabulary(spec);
  const Vocabulary& v = m->vocab();
  EXPECT_EQ(v.model, "llama");
  EXPECT_EQ(v.pieces, expected.pieces);
  EXPECT_EQ(v.scores, expected.scores);
  EXPECT_EQ(v.types, expected.types);
  EXPECT_TRUE(v.merges.empty());
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.pad_id, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);

  // Every tensor the builder wrote, with its bytes, 64-byte aligned, in file order.
  ASSERT_EQ(m->tensors().size(), b.tensors.size());
  for (std::size_t i = 0; i < b.tensors.size(); ++i) {
    const test::BuiltTensor& want = b.tensors[i];
    const TensorView& t = m->tensors()[i];
    SCOPED_TRACE(want.name);
    EXPECT_EQ(t.name, want.name);
    EXPECT_EQ(t.type, want.type);
    EXPECT_EQ(t.dims, want.dims);
    ASSERT_EQ(t.nbytes, want.data.size());
    EXPECT_EQ(t.element_count() * tensor_type_size(t.type), t.nbytes);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data) % 64, 0u);
    EXPECT_EQ(t.file_offset % 64, 0u);
    EXPECT_EQ(0, std::memcmp(t.data, want.data.data(), t.nbytes));
    EXPECT_EQ(m->find(want.name), &t);
  }

  const bool w8a8 = spec.weight_type == "W8A8";
  const TensorType matrix_type = w8a8 ? TensorType::i8
                                 : spec.weight_type == "F16"  ? TensorType::f16
                                 : spec.weight_type == "BF16" ? TensorType::bf16
                                                              : TensorType::f32;
  EXPECT_EQ(m->token_embd().name, "token_embd.weight");
  EXPECT_EQ(m->token_embd().type, matrix_type);
  EXPECT_EQ(m->token_embd().rows(), spec.vocab_size);
  EXPECT_EQ(m->token_embd().cols(), spec.embedding_length);
  EXPECT_EQ(m->output_norm().type, TensorType::f32);
  EXPECT_EQ(m->output().name, spec.embedding_sharing ? "token_embd.weight" : "output.weight");
  EXPECT_EQ(m->token_embd_scale() != nullptr, w8a8);
  EXPECT_EQ(m->output_scale() != nullptr, w8a8);
  if (w8a8) {
    EXPECT_EQ(m->token_embd_scale()->name, "token_embd.scale");
    EXPECT_EQ(m->output_scale()->name, spec.embedding_sharing ? "token_embd.scale" : "output.scale");
  }
  for (std::uint32_t i = 0; i < spec.block_count; ++i) {
    const BlockTensors& blk = m->block(i);
    const std::string p = "blk." + std::to_string(i) + ".";
    const std::pair<const TensorView*, const TensorView*> matrices[] = {
        {blk.attn_q, blk.attn_q_scale},     {blk.attn_k, blk.attn_k_scale},
        {blk.attn_v, blk.attn_v_scale},     {blk.attn_output, blk.attn_output_scale},
        {blk.ffn_gate, blk.ffn_gate_scale}, {blk.ffn_up, blk.ffn_up_scale},
        {blk.ffn_down, blk.ffn_down_scale},
    };
    for (const auto& [w, scale] : matrices) {
      ASSERT_NE(w, nullptr);
      EXPECT_TRUE(w->name.starts_with(p));
      EXPECT_EQ(w->type, matrix_type);
      EXPECT_EQ(scale != nullptr, w8a8);
      if (scale) {
        EXPECT_EQ(scale->name, w->name.substr(0, w->name.size() - 6) + "scale");
        EXPECT_EQ(scale->dims, std::vector<std::uint64_t>{w->rows()});
      }
    }
    EXPECT_EQ(blk.attn_norm->name, p + "attn_norm.weight");
    EXPECT_EQ(blk.ffn_norm->name, p + "ffn_norm.weight");
    EXPECT_EQ(blk.attn_q->rows(), std::uint64_t{spec.head_count} * spec.head_dim);
    EXPECT_EQ(blk.attn_k->rows(), std::uint64_t{spec.head_count_kv} * spec.head_dim);
    EXPECT_EQ(blk.ffn_down->cols(), spec.feed_forward_length);
  }
  EXPECT_THROW(m->block(spec.block_count), std::out_of_range);
  EXPECT_EQ(m->parameter_count(), expected_parameters(spec));
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, ModelFileLoads,
                         ::testing::Combine(::testing::Values("F32", "F16", "BF16", "W8A8"),
                                            ::testing::Bool(), ::testing::Bool()),
                         [](const auto& p) {
                           return std::get<0>(p.param) +
                                  (std::get<1>(p.param) ? "_LayerShared" : "") +
                                  (std::get<2>(p.param) ? "_TiedEmbeddings" : "_OwnHead");
                         });

TEST(ModelFile, MergesPaddingAndForeignKeys) {
  ModelSpec spec;
  spec.merges = true;
  spec.padding_token = true;
  spec.vocab_size = 100;
  ModelBuilder b(spec);
  b.set("general.license", Value::string("test"));  // general.* is free-form
  b.set("training.steps", Value::u64(12345));        // other namespaces are ignored
  const auto m = open_built(b);
  const Vocabulary& v = m->vocab();
  EXPECT_EQ(v.pad_id, 3);
  ASSERT_EQ(v.merges.size(), 26u);
  EXPECT_EQ(v.merges.front(), "\xe2\x96\x81 a");
  EXPECT_EQ(v.merges, test::make_vocabulary(spec).merges);
}

TEST(ModelFile, LargerAlignment) {
  ModelBuilder b;
  b.set_alignment(4096);
  const auto m = open_built(b);
  EXPECT_EQ(m->alignment(), 4096u);
  for (const auto& t : m->tensors()) EXPECT_EQ(t.file_offset % 4096, 0u) << t.name;
}

TEST(ModelFile, MetadataSummaryInFileOrder) {
  const ModelBuilder b;
  const auto m = open_built(b);
  const auto summary = m->metadata_summary();
  ASSERT_EQ(summary.size(), b.kvs.size());
  for (std::size_t i = 0; i < summary.size(); ++i) EXPECT_EQ(summary[i].first, b.kvs[i].first);
  auto value_of = [&](const std::string& key) {
    for (const auto& [k, v] : summary)
      if (k == key) return v;
    return std::string("(absent)");
  };
  EXPECT_EQ(value_of("general.architecture"), "\"mobilellm\"");
  EXPECT_EQ(value_of("mobilellm.vocab_size"), "64");
  EXPECT_EQ(value_of("mobilellm.rope.freq_base"), "10000");
  EXPECT_EQ(value_of("mobilellm.attention.layer_norm_rms_epsilon"), "1e-05");
  EXPECT_EQ(value_of("mobilellm.layer_sharing"), "false");
  EXPECT_EQ(value_of("tokenizer.ggml.tokens"),
            "string[64]: \"<unk>\", \"<s>\", \"</s>\", \"<pad>\", \"\xe2\x96\x81\", \"a\", ...");
  EXPECT_EQ(value_of("tokenizer.ggml.token_type"), "i32[64]: 2, 3, 3, 3, 1, 1, ...");
  EXPECT_EQ(value_of("tokenizer.ggml.scores"), "f32[64]: 0, 0, 0, 0, -4, -5, ...");
}

TEST(ModelFile, FindAndGet) {
  const auto m = open_built(ModelBuilder());
  EXPECT_EQ(m->find("blk.9.attn_q.weight"), nullptr);
  EXPECT_EQ(&m->get("output_norm.weight"), &m->output_norm());
  try {
    m->get("blk.9.attn_q.weight");
    FAIL() << "get of an absent tensor returned";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "blk.9.attn_q.weight");
  }
}

TEST(ModelFile, MissingFileIsAnIoError) {
  EXPECT_THROW(ModelFile::open(test::tmp_path("does-not-exist.gguf")), IoError);
}

// ------------------------------------------------------------------------- schema violations

// Each case: a mutation of a valid default model, and what the error must name.
struct Rejection {
  std::string name;
  std::function<void(ModelBuilder&)> mutate;
  std::string field;
  std::string detail;  // a substring of the detail, naming the offending value
};

class ModelFileRejects : public ::testing::TestWithParam<Rejection> {};

TEST_P(ModelFileRejects, WithFieldAndValue) {
  const Rejection& r = GetParam();
  ModelBuilder b;
  r.mutate(b);
  auto e = open_error(b);
  ASSERT_TRUE(e) << "the mutated model was accepted";
  EXPECT_EQ(e->field(), r.field) << e->what();
  EXPECT_TRUE(contains(e->detail(), r.detail)) << e->what();
  EXPECT_TRUE(contains(e->file(), ".gguf")) << e->what();
}

void set_f32(ModelBuilder& b, const char* key, float v) { b.set(key, Value::f32(v)); }
void set_u32(ModelBuilder& b, const char* key, std::uint32_t v) { b.set(key, Value::u32(v)); }
template <typename T>
void set_element(ModelBuilder& b, const char* key, std::size_t i, T v) {
  auto& a = std::get<gguf::Array>(b.kv(key)->v);
  if constexpr (std::is_same_v<T, std::string>) a.strings[i] = v;
  else if constexpr (std::is_floating_point_v<T>) a.floats[i] = v;
  else a.ints[i] = v;
}

const Rejection kRejections[] = {
    {"ArchitectureLlama",
     [](ModelBuilder& b) { b.set("general.architecture", Value::string("llama")); },
     "general.architecture", "\"llama\" is not \"mobilellm\""},
    {"MissingKey", [](ModelBuilder& b) { b.erase("mobilellm.block_count"); },
     "mobilellm.block_count", "required u32 key is missing"},
    {"WrongKeyType", [](ModelBuilder& b) { b.set("mobilellm.vocab_size", Value::u64(64)); },
     "mobilellm.vocab_size", "has type u64, expected u32"},
    {"ZeroDimension", [](ModelBuilder& b) { set_u32(b, "mobilellm.embedding_length", 0); },
     "mobilellm.embedding_length", "0 is outside 1..16777216"},
    {"HugeContext", [](ModelBuilder& b) { set_u32(b, "mobilellm.context_length", 1u << 21); },
     "mobilellm.context_length", "2097152 is outside 1..1048576"},
    {"TooManyBlocks", [](ModelBuilder& b) { set_u32(b, "mobilellm.block_count", 1025); },
     "mobilellm.block_count", "1025 is outside 1..1024"},
    {"HeadsNotDividing",
     [](ModelBuilder& b) { set_u32(b, "mobilellm.attention.head_count_kv", 3); },
     "mobilellm.attention.head_count_kv", "3 does not divide mobilellm.attention.head_count 4"},
    {"NaNEpsilon",
     [](ModelBuilder& b) {
       set_f32(b, "mobilellm.attention.layer_norm_rms_epsilon",
               std::numeric_limits<float>::quiet_NaN());
     },
     "mobilellm.attention.layer_norm_rms_epsilon", "nan is not a finite positive number"},
    {"NegativeFreqBase", [](ModelBuilder& b) { set_f32(b, "mobilellm.rope.freq_base", -1.0f); },
     "mobilellm.rope.freq_base", "-1 is not a finite positive number"},
    {"ValueLengthDiffers",
     [](ModelBuilder& b) { set_u32(b, "mobilellm.attention.value_length", 16); },
     "mobilellm.attention.value_length", "16 differs from mobilellm.attention.key_length 8"},
    {"RopeDimensionDiffers",
     [](ModelBuilder& b) { set_u32(b, "mobilellm.rope.dimension_count", 4); },
     "mobilellm.rope.dimension_count", "4 differs"},
    {"OddHeadDim",
     [](ModelBuilder& b) {
       for (const char* k : {"mobilellm.attention.key_length", "mobilellm.attention.value_length",
                             "mobilellm.rope.dimension_count"})
         set_u32(b, k, 7);
     },
     "mobilellm.attention.key_length", "head dimension 7 is odd"},
    {"UnknownWeightType",
     [](ModelBuilder& b) { b.set("mobilellm.weight_type", Value::string("Q4_0")); },
     "mobilellm.weight_type", "\"Q4_0\" is not one of"},
    {"UnknownOwnedKey",
     [](ModelBuilder& b) { b.set("mobilellm.rope.scaling_type", Value::string("linear")); },
     "mobilellm.rope.scaling_type", "unknown key"},
    {"SmallAlignment", [](ModelBuilder& b) { b.set_alignment(32); }, "general.alignment",
     "32 is below the minimum of 64"},
    {"TokenizerModel", [](ModelBuilder& b) { b.set("tokenizer.ggml.model", Value::string("gpt2")); },
     "tokenizer.ggml.model", "\"gpt2\" is not supported"},
    {"VocabSizeDiffersFromTokens",
     [](ModelBuilder& b) { set_u32(b, "mobilellm.vocab_size", 63); }, "tokenizer.ggml.tokens",
     "has 64 entries, but mobilellm.vocab_size is 63"},
    {"ScoresCount",
     [](ModelBuilder& b) {
       std::get<gguf::Array>(b.kv("tokenizer.ggml.scores")->v).floats.pop_back();
     },
     "tokenizer.ggml.scores", "has 63 entries"},
    {"TokensNotStrings",
     [](ModelBuilder& b) { b.set("tokenizer.ggml.tokens", Value::i32_array({1, 2})); },
     "tokenizer.ggml.tokens", "is an array of i32, expected an array of string"},
    {"EmptyPiece",
     [](ModelBuilder& b) { set_element(b, "tokenizer.ggml.tokens", 10, std::string()); },
     "tokenizer.ggml.tokens[10]", "token piece is empty"},
    {"DuplicatePiece",
     [](ModelBuilder& b) { set_element(b, "tokenizer.ggml.tokens", 10, std::string("a")); },
     "tokenizer.ggml.tokens[10]", "piece \"a\" duplicates token 5"},
    {"InfiniteScore",
     [](ModelBuilder& b) {
       set_element(b, "tokenizer.ggml.scores", 7, std::numeric_limits<double>::infinity());
     },
     "tokenizer.ggml.scores[7]", "score inf is not finite"},
    {"TokenType7",
     [](ModelBuilder& b) { set_element(b, "tokenizer.ggml.token_type", 9, std::int64_t{7}); },
     "tokenizer.ggml.token_type[9]", "token type 7 is not one of 1..6"},
    {"MergeOfUnknownPieces",
     [](ModelBuilder& b) {
       b.set("tokenizer.ggml.merges", Value::string_array({"a b", "q zz"}));
     },
     "tokenizer.ggml.merges[0]", "\"a b\" is not \"LEFT RIGHT\""},
    {"MergeWithoutSpace",
     [](ModelBuilder& b) { b.set("tokenizer.ggml.merges", Value::string_array({"ab"})); },
     "tokenizer.ggml.merges[0]", "\"ab\""},
    {"BosOutOfRange", [](ModelBuilder& b) { set_u32(b, "tokenizer.ggml.bos_token_id", 64); },
     "tokenizer.ggml.bos_token_id", "token id 64 is not below the vocabulary size 64"},
    {"PadOutOfRange",
     [](ModelBuilder& b) { set_u32(b, "tokenizer.ggml.padding_token_id", 4000000000u); },
     "tokenizer.ggml.padding_token_id", "token id 4000000000"},
    {"MissingAddBos", [](ModelBuilder& b) { b.erase("tokenizer.ggml.add_bos_token"); },
     "tokenizer.ggml.add_bos_token", "required bool key is missing"},
    {"ShapeMismatch", [](ModelBuilder& b) { set_u32(b, "mobilellm.feed_forward_length", 96); },
     "blk.0.ffn_gate.weight", "has dims {32, 80}, expected {32, 96}"},
    {"TransposedMatrix", [](ModelBuilder& b) { b.tensor("blk.1.attn_k.weight")->dims = {16, 32}; },
     "blk.1.attn_k.weight", "has dims {16, 32}, expected {32, 16}"},
    {"WrongMatrixType",
     [](ModelBuilder& b) { b.tensor("blk.0.attn_v.weight")->type = TensorType::f16; },
     "blk.0.attn_v.weight", "has type F16, expected F32 (mobilellm.weight_type is F32)"},
    {"NormNotF32", [](ModelBuilder& b) { b.tensor("output_norm.weight")->type = TensorType::bf16; },
     "output_norm.weight", "has type BF16, expected F32"},
    {"MissingTensor", [](ModelBuilder& b) { b.erase_tensor("blk.1.ffn_down.weight"); },
     "blk.1.ffn_down.weight", "required tensor is missing"},
    {"OutputWithSharedEmbeddings",
     [](ModelBuilder& b) {
       test::BuiltTensor t = *b.tensor("token_embd.weight");
       t.name = "output.weight";
       b.tensors.push_back(t);
     },
     "output.weight", "unexpected tensor"},
    {"BlockBeyondBlockCount", [](ModelBuilder& b) { set_u32(b, "mobilellm.block_count", 1); },
     "blk.1.attn_norm.weight", "unexpected tensor: not part of a model with block_count 1"},
};

INSTANTIATE_TEST_SUITE_P(Schema, ModelFileRejects, ::testing::ValuesIn(kRejections),
                         [](const auto& p) { return p.param.name; });

TEST(ModelFileRejectsW8A8, MissingScale) {
  ModelBuilder b({.weight_type = "W8A8"});
  b.erase_tensor("blk.0.ffn_up.scale");
  auto e = open_error(b);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "blk.0.ffn_up.scale");
  EXPECT_TRUE(contains(e->detail(), "required tensor is missing")) << e->what();
}

TEST(ModelFileRejectsW8A8, NaNScaleNamesRowAndOffset) {
  ModelBuilder b({.weight_type = "W8A8"});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(b.tensor("blk.1.attn_k.scale")->data.data() + 4 * 5, &nan, 4);
  const std::string path = unique_path();
  const gguf::Layout layout = b.write(path);
  std::uint64_t data_offset = 0;
  for (const auto& t : layout.tensors)
    if (t.name == "blk.1.attn_k.scale") data_offset = t.data_offset;
  try {
    ModelFile::open(path);
    FAIL() << "a NaN scale was accepted";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "blk.1.attn_k.scale");
    EXPECT_TRUE(contains(e.detail(), "scale of row 5 is nan")) << e.what();
    EXPECT_EQ(e.offset(), data_offset + 4 * 5);
  }
}

TEST(ModelFileRejectsW8A8, ScalesWithoutW8A8) {
  ModelBuilder b;  // F32
  b.tensors.push_back({"blk.0.attn_q.scale", TensorType::f32, {32}, {}});
  auto e = open_error(b);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "blk.0.attn_q.scale");
  EXPECT_TRUE(contains(e->detail(), "weight_type F32")) << e->what();
}

TEST(ModelFile, ContainerErrorsCarryFileAndOffset) {
  std::vector<std::uint8_t> bytes = ModelBuilder().bytes();
  test::patch_u32(bytes, 4, 2);
  const std::string path = unique_path();
  test::write_file(path, bytes);
  try {
    ModelFile::open(path);
    FAIL() << "a version 2 file was accepted";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.field(), "header.version");
    EXPECT_EQ(e.offset(), 4u);
  }
}

}  // namespace
}  // namespace mobilellm
