// W8A8 at the runtime's boundary: int8 rows longer than the kernels' limit are refused before any
// packing (kernels::kMaxK), the group-wise type W8A8G32 is validated by the loader (scale shapes
// and values, naming row and group), and a W8A8G32 model evaluates consistently: every kernel
// variant this CPU runs gives bit-identical logits (the grouped contract fixes every float
// operation), and token-by-token equals batched evaluation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/model_file.hpp"
#include "mobilellm/session.hpp"
#include "model_builder.hpp"

namespace mobilellm {
namespace {

using test::BuiltTensor;
using test::ModelBuilder;
using test::ModelSpec;

// Turns a W8A8 builder into W8A8G32: every "X.scale" becomes {groups, rows} of random positive
// scales (the int8 values stay).
void make_grouped(ModelBuilder& b, std::uint64_t seed) {
  b.set("mobilellm.weight_type", gguf::Value::string("W8A8G32"));
  std::mt19937_64 rng(seed);
  for (BuiltTensor& t : b.tensors) {
    if (!t.name.ends_with(".scale")) continue;
    const std::string base = t.name.substr(0, t.name.size() - 6);
    const BuiltTensor* w = b.tensor(base + ".weight");
    const std::uint64_t cols = w->dims[0], rows = w->dims[1];
    const std::uint64_t groups = (cols + kernels::kGroupSize - 1) / kernels::kGroupSize;
    const float range = 1.0f / std::sqrt(static_cast<float>(cols)) / 127.0f;
    t.dims = {groups, rows};
    t.data.clear();
    for (std::uint64_t i = 0; i < groups * rows; ++i) {
      const float s = std::uniform_real_distribution<float>(0.5f, 1.5f)(rng) * range;
      const auto* p = reinterpret_cast<const std::byte*>(&s);
      t.data.insert(t.data.end(), p, p + sizeof s);
    }
  }
}

void set_f32(BuiltTensor& t, std::size_t index, float v) {
  std::memcpy(t.data.data() + 4 * index, &v, 4);
}

// A small GQA model whose row lengths are not multiples of 32 (E = 40, F = 72: tails of 8).
ModelSpec grouped_spec() {
  ModelSpec s;
  s.weight_type = "W8A8";
  s.embedding_length = 40;
  s.head_count = 4;
  s.head_count_kv = 2;
  s.head_dim = 10;
  s.feed_forward_length = 72;
  s.block_count = 2;
  s.layer_sharing = true;
  s.embedding_sharing = false;
  return s;
}

std::string write_grouped(const std::string& file, const ModelSpec& spec = grouped_spec()) {
  ModelBuilder b(spec);
  make_grouped(b, spec.seed + 17);
  const std::string path = test::tmp_path(file);
  b.write(path);
  return path;
}

template <typename E>
std::string expect_throw(const std::string& path, const char* kernels = "") {
  try {
    LoadOptions options;
    options.kernels = kernels;
    Model::load(path, options);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception type: " << e.what();
    return "";
  }
  ADD_FAILURE() << path << " loaded";
  return "";
}

// ------------------------------------------------------------------------------- kMaxK limit

// The smallest model whose FFN rows (ffn_down's row length is the FFN size) hold `ffn` int8s.
ModelSpec long_rows_spec(std::uint32_t ffn) {
  ModelSpec s;
  s.weight_type = "W8A8";
  s.vocab_size = 64;
  s.embedding_length = 8;
  s.head_count = 2;
  s.head_count_kv = 1;
  s.head_dim = 4;
  s.block_count = 1;
  s.feed_forward_length = ffn;
  return s;
}

TEST(W8A8Limits, RowsLongerThanKMaxKAreRefusedNamingFileTensorAndLength) {
  for (const bool grouped : {false, true}) {
    SCOPED_TRACE(grouped ? "W8A8G32" : "W8A8");
    ModelBuilder b(long_rows_spec(kernels::kMaxK + 1));
    if (grouped) make_grouped(b, 5);
    const std::string path = test::tmp_path(grouped ? "long_rows_g32.gguf" : "long_rows.gguf");
    b.write(path);
    // The file itself is valid: the limit belongs to the kernels, not to the format.
    EXPECT_NO_THROW(ModelFile::open(path));
    for (const char* kernels : {"", "scalar"}) {
      const std::string what = expect_throw<UnsupportedError>(path, kernels);
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find("blk.0.ffn_down.weight"), std::string::npos) << what;
      EXPECT_NE(what.find(std::to_string(kernels::kMaxK + 1)), std::string::npos) << what;
      EXPECT_NE(what.find(std::to_string(kernels::kMaxK)), std::string::npos) << what;
    }
  }
}

TEST(W8A8Limits, RowsOfExactlyKMaxKLoadAndRun) {
  ModelBuilder b(long_rows_spec(kernels::kMaxK));
  const std::string path = test::tmp_path("max_rows.gguf");
  b.write(path);
  auto model = Model::load(path);
  Session s(model);
  std::vector<float> logits;
  const std::int32_t tokens[] = {1, 5};
  s.evaluate(tokens, logits);
  ASSERT_EQ(logits.size(), 2u * 64u);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
}

// ------------------------------------------------------------------------- W8A8G32 loading

TEST(W8A8G32File, LoadsWithGroupScaleShapes) {
  const std::string path = write_grouped("g32_valid.gguf");
  auto f = ModelFile::open(path);
  EXPECT_EQ(f->weight_type(), "W8A8G32");
  const BlockTensors& b = f->block(0);
  // E = 40: two groups per row of q/k/v/gate/up; F = 72: three per row of down.
  EXPECT_EQ(b.attn_q_scale->dims, (std::vector<std::uint64_t>{2, 40}));
  EXPECT_EQ(b.ffn_down_scale->dims, (std::vector<std::uint64_t>{3, 40}));
  EXPECT_EQ(f->token_embd_scale()->dims, (std::vector<std::uint64_t>{2, 64}));
  auto model = Model::load(path);
  EXPECT_NE(model->kernels().find("qs8dg32_qs8cg32"), std::string::npos) << model->kernels();
}

TEST(W8A8G32File, PerRowScalesAreRejected) {
  ModelBuilder b(grouped_spec());  // per-row scales, weight_type still W8A8 ...
  b.set("mobilellm.weight_type", gguf::Value::string("W8A8G32"));  // ... but declared grouped
  const std::string path = test::tmp_path("g32_row_scales.gguf");
  b.write(path);
  try {
    ModelFile::open(path);
    ADD_FAILURE() << "loaded";
  } catch (const FormatError& e) {
    EXPECT_NE(e.field().find(".scale"), std::string::npos) << e.what();
    EXPECT_NE(e.detail().find("expected {2, "), std::string::npos) << e.what();
  }
}

TEST(W8A8G32File, GroupScalesInAPerRowFileAreRejected) {
  ModelBuilder b(grouped_spec());
  make_grouped(b, 3);
  b.set("mobilellm.weight_type", gguf::Value::string("W8A8"));
  const std::string path = test::tmp_path("w8a8_group_scales.gguf");
  b.write(path);
  EXPECT_THROW(ModelFile::open(path), FormatError);
}

TEST(W8A8G32File, WrongGroupCountIsRejected) {
  ModelBuilder b(grouped_spec());
  make_grouped(b, 3);
  b.tensor("blk.1.ffn_down.scale")->dims = {2, 40};  // F = 72 needs 3 groups
  const std::string path = test::tmp_path("g32_group_count.gguf");
  b.write(path);
  try {
    ModelFile::open(path);
    ADD_FAILURE() << "loaded";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "blk.1.ffn_down.scale") << e.what();
    EXPECT_NE(e.detail().find("{3, 40}"), std::string::npos) << e.what();
  }
}

TEST(W8A8G32File, BadScaleValuesNameRowGroupAndOffset) {
  const float inf = std::numeric_limits<float>::infinity();
  const float values[] = {std::numeric_limits<float>::quiet_NaN(), inf, -inf, -1e-3f};
  for (const float bad : values) {
    SCOPED_TRACE(bad);
    ModelBuilder b(grouped_spec());
    make_grouped(b, 3);
    BuiltTensor& t = *b.tensor("blk.0.ffn_down.scale");  // {3 groups, 40 rows}
    set_f32(t, 7 * 3 + 2, bad);                            // row 7, group 2
    const std::string path = test::tmp_path("g32_bad_scale.gguf");
    const gguf::Layout layout = b.write(path);
    try {
      ModelFile::open(path);
      ADD_FAILURE() << "loaded";
    } catch (const FormatError& e) {
      EXPECT_EQ(e.field(), "blk.0.ffn_down.scale") << e.what();
      EXPECT_NE(e.detail().find("row 7, group 2"), std::string::npos) << e.what();
      ASSERT_TRUE(e.offset().has_value()) << e.what();
      std::uint64_t data_offset = 0;
      for (const auto& ti : layout.tensors) {
        if (ti.name == "blk.0.ffn_down.scale") data_offset = ti.data_offset;
      }
      EXPECT_EQ(*e.offset(), data_offset + 4 * (7 * 3 + 2)) << e.what();
    }
  }
}

// ------------------------------------------------------------------------ W8A8G32 evaluation

std::vector<std::int32_t> test_tokens() {
  std::vector<std::int32_t> tokens;
  for (int i = 0; i < 19; ++i) tokens.push_back(1 + (i * 11) % 60);
  return tokens;
}

std::vector<float> evaluate(const std::string& path, const char* kernels, std::size_t chunk) {
  LoadOptions options;
  options.kernels = kernels;
  auto model = Model::load(path, options);
  Session s(model);
  const std::vector<std::int32_t> tokens = test_tokens();
  std::vector<float> all, part;
  for (std::size_t i = 0; i < tokens.size(); i += chunk) {
    const std::size_t n = std::min(chunk, tokens.size() - i);
    s.evaluate(std::span<const std::int32_t>(tokens).subspan(i, n), part);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

// The grouped contract fixes every float operation of the kernels and the quantizer's bytes, so
// every variant gives the same logits bit for bit, prefill (GEMM) and decode (GEMV) alike.
TEST(W8A8G32Model, EveryKernelVariantGivesIdenticalLogits) {
  const std::string path = write_grouped("g32_variants.gguf");
  const std::vector<float> want = evaluate(path, "scalar", 19);
  for (const kernels::QGemmVariant& v : kernels::qgemm_variants()) {
    if (!v.supported(kernels::cpu_features())) continue;
    SCOPED_TRACE(v.isa);
    for (const std::size_t chunk : {std::size_t{19}, std::size_t{1}}) {
      const std::vector<float> got = evaluate(path, v.isa, chunk);
      ASSERT_EQ(got.size(), want.size());
      if (chunk == 19) {
        ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
            << "batched logits differ from the scalar reference's";
      } else {
        // Token by token runs the GEMV and the decode attention over the cache: the same sums
        // (the attention contract fixes every float operation of a row, so today the bits are
        // the same too); required equal to float rounding.
        double num = 0, den = 0;
        for (std::size_t i = 0; i < got.size(); ++i) {
          num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
          den += double(want[i]) * want[i];
        }
        EXPECT_LT(std::sqrt(num / den), 1e-5) << "token by token";
      }
    }
  }
}

// The grouped path really quantizes per group: the same int8 values with per-row scales (each
// row's group scales replaced by the row's first) give different logits than with distinct group
// scales, so the group scales are used, not just the first.
TEST(W8A8G32Model, GroupScalesAreUsed) {
  ModelBuilder b(grouped_spec());
  make_grouped(b, 11);
  const std::string distinct = test::tmp_path("g32_distinct.gguf");
  b.write(distinct);
  for (BuiltTensor& t : b.tensors) {
    if (!t.name.ends_with(".scale")) continue;
    const std::uint64_t groups = t.dims[0], rows = t.dims[1];
    for (std::uint64_t r = 0; r < rows; ++r) {
      float first;
      std::memcpy(&first, t.data.data() + 4 * r * groups, 4);
      for (std::uint64_t g = 1; g < groups; ++g) set_f32(t, r * groups + g, first);
    }
  }
  const std::string uniform = test::tmp_path("g32_uniform.gguf");
  b.write(uniform);
  const std::vector<float> a = evaluate(distinct, "", 19), c = evaluate(uniform, "", 19);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - c[i]) * (double(a[i]) - c[i]);
    den += double(a[i]) * a[i];
  }
  EXPECT_GT(std::sqrt(num / den), 1e-2);
}

}  // namespace
}  // namespace mobilellm
