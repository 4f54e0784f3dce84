// Synthetic models (include/mobilellm/synthetic.hpp): the embedded shapes against the official
// configs in ../shared, and the files written: valid, deterministic, of the requested shape and
// type, with weights of the documented distribution, loadable and runnable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "common/file.hpp"
#include "common/half.hpp"
#include "convert/hf_config.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/model_file.hpp"
#include "mobilellm/session.hpp"
#include "mobilellm/synthetic.hpp"
#include "mobilellm/tokenizer.hpp"
#include "model_builder.hpp"

namespace mobilellm {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Every official shape equals facebookresearch/MobileLLM configs/<name>/config.json as stored in
// ../shared, read by the converter's own config parser; and the five are exactly those configs.
TEST(Synthetic, OfficialShapesMatchTheSharedConfigs) {
  const std::filesystem::path dir =
      std::filesystem::path(MOBILELLM_SHARED_DIR) / "mobilellm/configs";
  if (!std::filesystem::is_directory(dir))
    GTEST_SKIP() << dir << " is absent (../shared is not checked out)";
  int official = 0;
  for (const SyntheticShape& s : synthetic_shapes()) {
    if (!s.official) continue;
    ++official;
    SCOPED_TRACE(s.name);
    const std::string file = (dir / s.name / "config.json").string();
    ASSERT_TRUE(file_exists(file)) << file;
    const std::string text = read_text_file(file, 1 << 20);
    const HfConfig hf = parse_hf_config(text, file);
    const ModelConfig& want = hf.config;
    const ModelConfig& got = s.config;
    EXPECT_EQ(got.vocab_size, want.vocab_size);
    EXPECT_EQ(got.embedding_length, want.embedding_length);
    EXPECT_EQ(got.feed_forward_length, want.feed_forward_length);
    EXPECT_EQ(got.block_count, want.block_count);
    EXPECT_EQ(got.head_count, want.head_count);
    EXPECT_EQ(got.head_count_kv, want.head_count_kv);
    EXPECT_EQ(got.head_dim, want.head_dim);
    EXPECT_EQ(got.context_length, want.context_length);
    EXPECT_EQ(got.rope_freq_base, want.rope_freq_base);
    EXPECT_EQ(got.rms_norm_eps, want.rms_norm_eps);
    EXPECT_FALSE(got.layer_sharing);
    EXPECT_TRUE(got.embedding_sharing);  // the training default, although the config says false
    const auto json = parse_hf_json(text, file);
    EXPECT_FLOAT_EQ(s.initializer_std, json.at("initializer_range").get<float>());
  }
  std::size_t config_dirs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (std::filesystem::exists(e.path() / "config.json")) ++config_dirs;
  EXPECT_EQ(official, 5);
  EXPECT_EQ(std::size_t(official), config_dirs)
      << "a config in " << dir << " has no embedded shape";
}

TEST(Synthetic, LookupByName) {
  ASSERT_NE(find_synthetic_shape("125M"), nullptr);
  EXPECT_EQ(find_synthetic_shape("1.5B")->config.embedding_length, 1600u);
  EXPECT_EQ(find_synthetic_shape("125m"), nullptr);  // exact names only
  EXPECT_EQ(find_synthetic_shape(""), nullptr);
  SyntheticOptions o;
  o.shape = "42M";
  o.output_path = test::tmp_path("never-written.gguf");
  EXPECT_THROW(write_synthetic_model(o), InvalidArgument);
  EXPECT_FALSE(file_exists(o.output_path));
  o.shape = "tiny";
  o.output_path.clear();
  EXPECT_THROW(write_synthetic_model(o), InvalidArgument);
}

struct Written {
  ConvertReport report;
  std::string path;
};

Written write(const std::string& file, OutputType type, bool ls, std::uint64_t seed) {
  SyntheticOptions o;
  o.shape = "tiny";
  o.type = type;
  o.layer_sharing = ls;
  o.seed = seed;
  o.output_path = test::tmp_path(file);
  std::filesystem::remove(o.output_path);
  return {write_synthetic_model(o), o.output_path};
}

// Mean and standard deviation of a tensor's values in float64 (I8 times its row scales).
std::pair<double, double> moments(const ModelFile& m, const std::string& name) {
  const TensorView& t = m.get(name + ".weight");
  const TensorView* scale = m.find(name + ".scale");
  double sum = 0, sq = 0;
  const std::uint64_t n = t.element_count();
  for (std::uint64_t i = 0; i < n; ++i) {
    double v = 0;
    switch (t.type) {
      case TensorType::f32: {
        float f;
        std::memcpy(&f, t.data + 4 * i, 4);
        v = f;
        break;
      }
      case TensorType::f16: {
        std::uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        v = f16_to_f32(h);
        break;
      }
      case TensorType::bf16: {
        std::uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        v = bf16_to_f32(h);
        break;
      }
      case TensorType::i8: {
        float s;
        std::memcpy(&s, scale->data + 4 * (i / t.cols()), 4);
        v = double(static_cast<std::int8_t>(t.data[i])) * s;
        break;
      }
    }
    sum += v;
    sq += v * v;
  }
  const double mean = sum / double(n);
  return {mean, std::sqrt(sq / double(n) - mean * mean)};
}

TEST(Synthetic, TinyFilesAreValidDeterministicAndOfTheRightShape) {
  const SyntheticShape& shape = *find_synthetic_shape("tiny");
  for (OutputType type : {OutputType::f32, OutputType::f16, OutputType::bf16, OutputType::w8a8}) {
    for (bool ls : {false, true}) {
      const std::string tag = std::to_string(int(type)) + (ls ? "-ls" : "");
      SCOPED_TRACE(tag);
      const std::uint64_t seed = 12345;  // fixed: the test replays identically
      const Written a = write("synth-a-" + tag + ".gguf", type, ls, seed);
      const Written b = write("synth-b-" + tag + ".gguf", type, ls, seed);
      const Written c = write("synth-c-" + tag + ".gguf", type, ls, seed + 1);
      EXPECT_EQ(read_bytes(a.path), read_bytes(b.path)) << "same seed, different bytes";
      EXPECT_NE(read_bytes(a.path), read_bytes(c.path)) << "different seeds, same bytes";

      auto m = ModelFile::open(a.path);  // full validation of the container and every tensor
      ModelConfig want = shape.config;
      want.layer_sharing = ls;
      EXPECT_EQ(m->config().embedding_length, want.embedding_length);
      EXPECT_EQ(m->config().block_count, want.block_count);
      EXPECT_EQ(m->config().head_count_kv, want.head_count_kv);
      EXPECT_EQ(m->config().layer_sharing, ls);
      EXPECT_TRUE(m->config().embedding_sharing);
      EXPECT_EQ(m->weight_type(), a.report.weight_type);
      EXPECT_EQ(m->weight_type(), type == OutputType::w8a8   ? "W8A8"
                                  : type == OutputType::f16  ? "F16"
                                  : type == OutputType::bf16 ? "BF16"
                                                             : "F32");
      EXPECT_EQ(m->parameter_count(), a.report.parameter_count);
      EXPECT_EQ(m->file_size(), a.report.file_size);
      EXPECT_EQ(m->vocab().size(), want.vocab_size);

      // Uniform on [-b, b] with std 0.02 (w8a8: 255 levels over the same range).
      for (const char* name : {"token_embd", "blk.0.attn_q", "blk.1.ffn_down"}) {
        const auto [mean, std] = moments(*m, name);
        EXPECT_NEAR(mean, 0.0, 0.002) << name;
        EXPECT_NEAR(std, shape.initializer_std, 0.002) << name;
      }
      const auto [norm_mean, norm_std] = moments(*m, "blk.0.attn_norm");
      EXPECT_EQ(norm_mean, 1.0);
      EXPECT_EQ(norm_std, 0.0);
    }
  }
}

TEST(Synthetic, LoadsTokenizesAndRuns) {
  const Written w = write("synth-run.gguf", OutputType::w8a8, true, 7);
  auto model = Model::load(w.path);
  const std::string text = "Once upon a time, 42 tokens!";
  const auto ids = model->tokenizer().encode(text, false);
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(model->tokenizer().decode(ids), text);
  Session s(model, SessionOptions{64, 1});
  std::vector<std::int32_t> prompt{1, 300, 301, 302};
  auto logits = s.prefill(prompt);
  ASSERT_EQ(logits.size(), model->config().vocab_size);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  for (int i = 0; i < 4; ++i) {
    auto next = s.decode_step(400 + i);
    for (float x : next) ASSERT_TRUE(std::isfinite(x));
  }
  EXPECT_EQ(s.position(), 8u);
}

}  // namespace
}  // namespace mobilellm
