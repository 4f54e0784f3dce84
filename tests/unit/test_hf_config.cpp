// parse_hf_config: the seven MobileLLM configs and the tinystories one from ../shared (expected
// values read off the files themselves), defaults, and hand-written bad configs.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/file.hpp"
#include "convert/hf_config.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

using json = nlohmann::json;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The FormatError parsing `text` throws; a test failure if it throws nothing or another type.
FormatError format_error(const std::string& text) {
  try {
    parse_hf_config(text, "config.json");
  } catch (const FormatError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a FormatError, got: " << e.what();
    return {"", "", ""};
  }
  ADD_FAILURE() << "expected a FormatError, nothing was thrown";
  return {"", "", ""};
}

// The message of the UnsupportedError parsing `text` throws.
std::string unsupported_error(const std::string& text) {
  try {
    parse_hf_config(text, "config.json");
  } catch (const UnsupportedError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected an UnsupportedError, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected an UnsupportedError, nothing was thrown";
  return {};
}

// ------------------------------------------------------------------------ the shared configs

struct SharedConfig {
  const char* path;  // under MOBILELLM_SHARED_DIR
  const char* architecture;
  const char* model_type;
  std::uint32_t hidden, ffn, layers, heads, kv_heads, head_dim, vocab, context;
  float rms_norm_eps;
  std::optional<bool> tie, share, layer_sharing;
  const char* dtype;
};

// Every value below is copied from the corresponding file (head_dim: from the file when it has
// one, else hidden / heads).
const SharedConfig kSharedConfigs[] = {
    {"mobilellm/configs/125M/config.json", "LlamaForCausalLM", "llama", 576, 1536, 30, 9, 3, 64,
     32000, 2048, 1e-5f, false, std::nullopt, std::nullopt, "float16"},
    {"mobilellm/configs/350M/config.json", "LlamaForCausalLM", "llama", 960, 2560, 32, 15, 5, 64,
     32000, 2048, 1e-5f, false, std::nullopt, std::nullopt, "float16"},
    {"mobilellm/configs/600M/config.json", "LlamaForCausalLM", "llama", 1152, 3072, 40, 18, 6, 64,
     32000, 2048, 1e-5f, false, std::nullopt, std::nullopt, "float16"},
    {"mobilellm/configs/1B/config.json", "LlamaForCausalLM", "llama", 1280, 3584, 54, 20, 5, 64,
     32000, 2048, 1e-5f, false, std::nullopt, std::nullopt, "float16"},
    {"mobilellm/configs/1.5B/config.json", "LlamaForCausalLM", "llama", 1600, 4352, 54, 25, 5, 64,
     32000, 2048, 1e-5f, false, std::nullopt, std::nullopt, "float16"},
    {"mobilellm/configs/hf-release/MobileLLM-125M/config.json", "MobileLLMForCausalLM", "mobilellm",
     576, 1536, 30, 9, 3, 64, 32000, 2048, 1e-5f, false, true, false, "float16"},
    {"mobilellm/configs/hf-release/MobileLLM-125M-layer-share/config.json", "MobileLLMForCausalLM",
     "mobilellm", 576, 1536, 30, 9, 3, 64, 32000, 2048, 1e-5f, false, true, true, "float16"},
    {"models/tinystories-656k/config.json", "LlamaForCausalLM", "llama", 128, 384, 2, 8, 4, 16,
     2048, 512, 1e-6f, true, std::nullopt, std::nullopt, "float32"},
};

class SharedConfigTest : public testing::TestWithParam<SharedConfig> {};

TEST_P(SharedConfigTest, Parses) {
  const SharedConfig& want = GetParam();
  const std::string path = std::string(MOBILELLM_SHARED_DIR "/") + want.path;
  if (!file_exists(path)) GTEST_SKIP() << path << " is absent (../shared is not checked out)";
  const HfConfig hf = parse_hf_config(read_text_file(path, 1 << 20), path);
  EXPECT_EQ(hf.architecture, want.architecture);
  EXPECT_EQ(hf.model_type, want.model_type);
  const ModelConfig& c = hf.config;
  EXPECT_EQ(c.embedding_length, want.hidden);
  EXPECT_EQ(c.feed_forward_length, want.ffn);
  EXPECT_EQ(c.block_count, want.layers);
  EXPECT_EQ(c.head_count, want.heads);
  EXPECT_EQ(c.head_count_kv, want.kv_heads);
  EXPECT_EQ(c.head_dim, want.head_dim);
  EXPECT_EQ(c.vocab_size, want.vocab);
  EXPECT_EQ(c.context_length, want.context);
  EXPECT_EQ(c.rope_freq_base, 10000.0f);
  EXPECT_EQ(c.rms_norm_eps, want.rms_norm_eps);
  EXPECT_FALSE(c.layer_sharing);      // the converter decides
  EXPECT_FALSE(c.embedding_sharing);  // the converter decides
  EXPECT_EQ(hf.tie_word_embeddings, want.tie);
  EXPECT_EQ(hf.share_embedding, want.share);
  EXPECT_EQ(hf.layer_sharing, want.layer_sharing);
  EXPECT_EQ(hf.bos_token_id, 1);
  EXPECT_EQ(hf.eos_token_id, 2);
  EXPECT_EQ(hf.torch_dtype, want.dtype);
}

INSTANTIATE_TEST_SUITE_P(HfConfig, SharedConfigTest, testing::ValuesIn(kSharedConfigs),
                         [](const testing::TestParamInfo<SharedConfig>& p) {
                           std::string name = p.param.path;
                           name = name.substr(0, name.rfind('/'));
                           name = name.substr(name.rfind('/') + 1);
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

// ------------------------------------------------------------------- hand-written configs

// The 125M training config, written out so these tests do not need ../shared.
json base_config() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 576, "initializer_range": 0.02,
    "intermediate_size": 1536, "max_position_embeddings": 2048, "model_type": "llama",
    "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
    "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.34.1",
    "use_cache": true, "vocab_size": 32000
  })");
}

TEST(HfConfig, AppliesLlamaDefaults) {
  const json minimal = {{"architectures", {"LlamaForCausalLM"}},
                        {"model_type", "llama"},
                        {"hidden_size", 256},
                        {"intermediate_size", 768},
                        {"num_hidden_layers", 4},
                        {"num_attention_heads", 4},
                        {"vocab_size", 1000}};
  const HfConfig hf = parse_hf_config(minimal.dump(), "config.json");
  EXPECT_EQ(hf.config.head_count_kv, 4u);
  EXPECT_EQ(hf.config.head_dim, 64u);
  EXPECT_EQ(hf.config.context_length, 2048u);
  EXPECT_EQ(hf.config.rope_freq_base, 10000.0f);
  EXPECT_EQ(hf.config.rms_norm_eps, 1e-6f);
  EXPECT_FALSE(hf.tie_word_embeddings);
  EXPECT_FALSE(hf.share_embedding);
  EXPECT_FALSE(hf.layer_sharing);
  EXPECT_FALSE(hf.bos_token_id);
  EXPECT_FALSE(hf.eos_token_id);
  EXPECT_EQ(hf.torch_dtype, "");

  // null counts as absent.
  json with_nulls = minimal;
  with_nulls["num_key_value_heads"] = nullptr;
  with_nulls["head_dim"] = nullptr;
  with_nulls["bos_token_id"] = nullptr;
  const HfConfig n = parse_hf_config(with_nulls.dump(), "config.json");
  EXPECT_EQ(n.config.head_count_kv, 4u);
  EXPECT_EQ(n.config.head_dim, 64u);
  EXPECT_FALSE(n.bos_token_id);
}

TEST(HfConfig, ReadsNewerDtypeKeyAndIntegerRopeTheta) {
  json c = base_config();
  c.erase("torch_dtype");
  c["dtype"] = "bfloat16";
  c["rope_theta"] = 500000;
  c["rms_norm_eps"] = 1e-5;
  const HfConfig hf = parse_hf_config(c.dump(), "config.json");
  EXPECT_EQ(hf.torch_dtype, "bfloat16");
  EXPECT_EQ(hf.config.rope_freq_base, 500000.0f);
  EXPECT_EQ(hf.config.rms_norm_eps, 1e-5f);
}

TEST(HfConfig, AcceptsConsistentHeadDimAndExtremeButValidValues) {
  json c = base_config();
  c["head_dim"] = 64;
  c["num_key_value_heads"] = 1;
  c["max_position_embeddings"] = 1 << 20;
  c["bos_token_id"] = 0;
  c["eos_token_id"] = 31999;
  const HfConfig hf = parse_hf_config(c.dump(), "config.json");
  EXPECT_EQ(hf.config.head_dim, 64u);
  EXPECT_EQ(hf.config.head_count_kv, 1u);
  EXPECT_EQ(hf.config.context_length, 1u << 20);
  EXPECT_EQ(hf.bos_token_id, 0);
  EXPECT_EQ(hf.eos_token_id, 31999);
}

struct BadValue {
  const char* key;
  json value;  // a discarded json: remove the key
  const char* field;
  const char* detail;
};

void PrintTo(const BadValue& b, std::ostream* os) { *os << b.key << " = " << b.value.dump(); }

class BadValueTest : public testing::TestWithParam<BadValue> {};

TEST_P(BadValueTest, IsAFormatErrorNamingFieldAndValue) {
  const BadValue& b = GetParam();
  json c = base_config();
  if (b.value.is_discarded()) {
    c.erase(b.key);
  } else {
    c[b.key] = b.value;
  }
  const FormatError e = format_error(c.dump());
  EXPECT_EQ(e.file(), "config.json");
  EXPECT_EQ(e.field(), b.field);
  EXPECT_TRUE(contains(e.detail(), b.detail)) << e.what();
}

const json kRemove = json(json::value_t::discarded);

INSTANTIATE_TEST_SUITE_P(
    HfConfig, BadValueTest,
    testing::Values(
        // Wrong JSON types.
        BadValue{"hidden_size", "576", "hidden_size",
                 "expected an integer, found the string \"576\""},
        BadValue{"hidden_size", 2.5, "hidden_size", "expected an integer, found the number 2.5"},
        BadValue{"hidden_size", 576.0, "hidden_size",
                 "expected an integer, found the number 576.0"},
        BadValue{"hidden_size", 1e30, "hidden_size", "expected an integer"},
        BadValue{"hidden_size", true, "hidden_size", "expected an integer, found true"},
        BadValue{"hidden_size", json::array({576}), "hidden_size", "found an array"},
        BadValue{"num_hidden_layers", json::object(), "num_hidden_layers", "found an object"},
        BadValue{"rope_theta", "10000", "rope_theta", "expected a number, found the string"},
        BadValue{"rms_norm_eps", "1e-5", "rms_norm_eps", "expected a number"},
        BadValue{"tie_word_embeddings", "false", "tie_word_embeddings", "expected true or false"},
        BadValue{"share_embedding", 1, "share_embedding",
                 "expected true or false, found the number 1"},
        BadValue{"layer_sharing", "yes", "layer_sharing", "expected true or false"},
        BadValue{"attention_bias", 0, "attention_bias", "expected true or false"},
        BadValue{"hidden_act", 5, "hidden_act", "expected a string, found the number 5"},
        BadValue{"torch_dtype", 16, "torch_dtype", "expected a string"},
        BadValue{"model_type", json::array({"llama"}), "model_type", "expected a string"},
        BadValue{"architectures", "LlamaForCausalLM", "architectures",
                 "non-empty array of strings"},
        BadValue{"architectures", json::array(), "architectures", "non-empty array of strings"},
        BadValue{"architectures", json::array({5}), "architectures", "non-empty array of strings"},
        BadValue{"bos_token_id", "1", "bos_token_id", "expected an integer"},
        BadValue{"eos_token_id", json::array({2}), "eos_token_id", "expected an integer"},
        // Missing required keys.
        BadValue{"hidden_size", kRemove, "hidden_size", "is missing"},
        BadValue{"hidden_size", nullptr, "hidden_size", "is missing"},
        BadValue{"intermediate_size", kRemove, "intermediate_size", "is missing"},
        BadValue{"num_hidden_layers", kRemove, "num_hidden_layers", "is missing"},
        BadValue{"num_attention_heads", kRemove, "num_attention_heads", "is missing"},
        BadValue{"vocab_size", kRemove, "vocab_size", "is missing"},
        BadValue{"architectures", kRemove, "architectures", "is missing"},
        BadValue{"model_type", kRemove, "model_type", "is missing"},
        // Out of range.
        BadValue{"hidden_size", 0, "hidden_size", "is 0; must be between 1 and 65536"},
        BadValue{"hidden_size", -576, "hidden_size", "is -576; must be between 1 and 65536"},
        BadValue{"hidden_size", 65537, "hidden_size", "is 65537"},
        BadValue{"hidden_size", 18446744073709551615u, "hidden_size", "is 18446744073709551615"},
        BadValue{"hidden_size", -9223372036854775807 - 1, "hidden_size", "is -9223372036854775808"},
        BadValue{"intermediate_size", 262145, "intermediate_size",
                 "is 262145; must be between 1 and 262144"},
        BadValue{"num_hidden_layers", 1025, "num_hidden_layers",
                 "is 1025; must be between 1 and 1024"},
        BadValue{"num_attention_heads", 0, "num_attention_heads", "is 0"},
        BadValue{"num_attention_heads", 1025, "num_attention_heads", "is 1025"},
        BadValue{"num_key_value_heads", 0, "num_key_value_heads", "is 0"},
        BadValue{"vocab_size", 4194305, "vocab_size", "is 4194305; must be between 1 and 4194304"},
        BadValue{"max_position_embeddings", 1048577, "max_position_embeddings", "is 1048577"},
        BadValue{"max_position_embeddings", 0, "max_position_embeddings", "is 0"},
        BadValue{"rope_theta", 0, "rope_theta", "is 0; must be a positive number"},
        BadValue{"rope_theta", -10000.0, "rope_theta", "is -10000.0"},
        BadValue{"rope_theta", 1e39, "rope_theta", "is 1e+39"},
        BadValue{"rms_norm_eps", 0.0, "rms_norm_eps", "is 0.0"},
        BadValue{"rms_norm_eps", 1.5, "rms_norm_eps", "is 1.5; must be a positive number below 1"},
        BadValue{"rms_norm_eps", 1e-50, "rms_norm_eps", "is 1e-50"},  // 0 as a float
        BadValue{"bos_token_id", 32000, "bos_token_id", "is 32000; must be between 0 and 31999"},
        BadValue{"eos_token_id", -1, "eos_token_id", "is -1"},
        // Inconsistent attention shapes.
        BadValue{"num_key_value_heads", 2, "num_key_value_heads",
                 "is 2, which does not divide num_attention_heads 9"},
        BadValue{"num_key_value_heads", 18, "num_key_value_heads", "does not divide"},
        BadValue{"num_attention_heads", 15, "num_attention_heads",
                 "is 15, which does not divide hidden_size 576"},
        BadValue{"head_dim", 60, "head_dim",
                 "is 60, but num_attention_heads 9 * head_dim 60 != hidden_size 576"},
        BadValue{"head_dim", 0, "head_dim", "is 0"},
        BadValue{"num_attention_heads", 576, "head_dim",
                 "is 1 (hidden_size / num_attention_heads); rotary"}));

TEST(HfConfig, OddHeadDimGivenExplicitlyIsRejected) {
  json c = base_config();
  c["hidden_size"] = 567;
  c["head_dim"] = 63;
  const FormatError e = format_error(c.dump());
  EXPECT_EQ(e.field(), "head_dim");
  EXPECT_EQ(e.detail(), "is 63; rotary embeddings need an even head dimension");
}

TEST(HfConfig, RejectsUnsupportedFeatures) {
  struct Case {
    const char* key;
    json value;
    const char* expected;
  };
  const Case cases[] = {
      {"architectures", json::array({"MistralForCausalLM"}),
       "config.json: architectures[0]: is \"MistralForCausalLM\""},
      {"model_type", "mistral", "config.json: model_type: is \"mistral\""},
      {"hidden_act", "gelu", "config.json: hidden_act: is \"gelu\""},
      {"attention_bias", true, "config.json: attention_bias: is true"},
      {"mlp_bias", true, "config.json: mlp_bias: is true"},
      {"rope_scaling",
       {{"type", "linear"}, {"factor", 2.0}},
       "config.json: rope_scaling: is of type \"linear\""},
      {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}}, "of type \"llama3\""},
      {"rope_scaling", 2.0, "rope_scaling: is the number 2.0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    json config = base_config();
    config[c.key] = c.value;
    const std::string what = unsupported_error(config.dump());
    EXPECT_TRUE(contains(what, c.expected)) << what;
  }
  // Only the first architecture counts.
  json config = base_config();
  config["architectures"] = json::array({"LlamaForCausalLM", "Anything"});
  EXPECT_EQ(parse_hf_config(config.dump(), "config.json").architecture, "LlamaForCausalLM");
}

TEST(HfConfig, RejectsDuplicateKeys) {
  const std::string base = base_config().dump();  // "{...}"
  const FormatError top = format_error("{\"hidden_size\": 16, " + base.substr(1));
  EXPECT_EQ(top.field(), "(json)");
  EXPECT_EQ(top.detail(), "the key \"hidden_size\" appears twice in one object");
  // Inside a nested object, including one that is otherwise ignored.
  const FormatError nested =
      format_error("{\"quantization\": {\"bits\": 4, \"bits\": 8}, " + base.substr(1));
  EXPECT_TRUE(contains(nested.detail(), "\"bits\" appears twice")) << nested.what();
  // The same key in sibling objects, or in an object after its nested one closed, is fine.
  const std::string siblings =
      "{\"a\": {\"k\": 1}, \"b\": [{\"k\": 1}, {\"k\": 2}], \"k\": 3, " + base.substr(1);
  EXPECT_EQ(parse_hf_config(siblings, "config.json").config.embedding_length, 576u);
}

TEST(HfConfig, RejectsMalformedJson) {
  for (const std::string text : {"", "{", "[]", "42", "{\"hidden_size\": 1e400}", "{\"a\": 1} {}",
                                 "{\"a\": \"\xff\"}", "{\"a\": 01}"}) {
    SCOPED_TRACE(text);
    const FormatError e = format_error(text);
    EXPECT_EQ(e.file(), "config.json");
    EXPECT_TRUE(e.field() == "(json)" || e.field() == "(document)") << e.what();
  }
  const FormatError e = format_error("{\n  \"hidden_size\": 57 6\n}");
  EXPECT_EQ(e.field(), "(json)");
  EXPECT_TRUE(e.offset().has_value());
}

}  // namespace
}  // namespace mobilellm
