// config.json of a Hugging Face LLaMA / MobileLLM checkpoint → HfConfig.
//
// Every value is type- and range-checked: a count must be a JSON integer (not 2.5, not "576")
// within a sane limit, and the attention shape must be consistent. Malformed values raise
// FormatError naming the file, the key and the value; well-formed settings of features the
// runtime lacks (biases, rotary scaling, other activations or architectures) raise
// UnsupportedError. Keys the runtime has no use for (initializer_range, use_cache, ...) are
// ignored.
#include "convert/hf_config.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/utf8.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

using json = nlohmann::json;

// Upper limits far above any MobileLLM / LLaMA shape, low enough that sizes derived from them
// cannot overflow and a hostile file cannot make the converter plan absurd allocations.
constexpr std::int64_t kMaxHidden = 65536;
constexpr std::int64_t kMaxIntermediate = std::int64_t{1} << 18;
constexpr std::int64_t kMaxLayers = 1024;
constexpr std::int64_t kMaxHeads = 1024;
constexpr std::int64_t kMaxVocab = std::int64_t{1} << 22;
constexpr std::int64_t kMaxContext = std::int64_t{1} << 20;

// Typed, range-checked access to the top-level keys of config.json. A key that is absent or
// null counts as not given.
class ConfigReader {
 public:
  ConfigReader(const std::string& text, std::string file)
      : file_(std::move(file)), root_(parse_hf_json(text, file_)) {
    if (!root_.is_object())
      fail("(document)", fmt::format("expected an object, found {}", describe_json(root_)));
  }

  [[noreturn]] void fail(std::string_view key, const std::string& detail) const {
    throw FormatError(file_, std::string(key), detail);
  }
  [[noreturn]] void unsupported(std::string_view key, const std::string& detail) const {
    throw UnsupportedError(fmt::format("{}: {}: {}", file_, key, detail));
  }

  const json* find(const char* key) const {
    const auto it = root_.find(key);
    return it == root_.end() || it->is_null() ? nullptr : &*it;
  }

  // An integer in lo..hi (0 <= lo <= hi), or nullopt when not given.
  std::optional<std::int64_t> integer(const char* key, std::int64_t lo, std::int64_t hi) const {
    const json* j = find(key);
    if (!j) return std::nullopt;
    if (!j->is_number_integer())
      fail(key, fmt::format("expected an integer, found {}", describe_json(*j)));
    // JSON integers >= 0 are held as uint64 (negative ones as int64): compare unsigned so huge
    // values cannot wrap into range.
    if (!j->is_number_unsigned() || j->get<std::uint64_t>() < static_cast<std::uint64_t>(lo) ||
        j->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
      fail(key, fmt::format("is {}; must be between {} and {}", j->dump(), lo, hi));
    return static_cast<std::int64_t>(j->get<std::uint64_t>());
  }

  // A positive size (1..hi) that must be given.
  std::uint32_t required_size(const char* key, std::int64_t hi) const {
    const auto value = integer(key, 1, hi);
    if (!value) fail(key, "is missing");
    return static_cast<std::uint32_t>(*value);
  }
  std::optional<std::uint32_t> optional_size(const char* key, std::int64_t hi) const {
    const auto value = integer(key, 1, hi);
    if (!value) return std::nullopt;
    return static_cast<std::uint32_t>(*value);
  }

  // A number, integer or not, that fits a float and is in (0, hi).
  std::optional<float> positive_float(const char* key, double hi) const {
    const json* j = find(key);
    if (!j) return std::nullopt;
    if (!j->is_number()) fail(key, fmt::format("expected a number, found {}", describe_json(*j)));
    const double value = j->get<double>();
    // The float conversion must not flush a tiny positive value to zero.
    if (!(value > 0 && value < hi) || static_cast<float>(value) == 0.0f)
      fail(key, fmt::format("is {}; must be a positive number below {:g}", j->dump(), hi));
    return static_cast<float>(value);
  }

  std::optional<bool> boolean(const char* key) const {
    const json* j = find(key);
    if (!j) return std::nullopt;
    if (!j->is_boolean())
      fail(key, fmt::format("expected true or false, found {}", describe_json(*j)));
    return j->get<bool>();
  }

  const std::string* string(const char* key) const {
    const json* j = find(key);
    if (!j) return nullptr;
    if (!j->is_string()) fail(key, fmt::format("expected a string, found {}", describe_json(*j)));
    return &j->get_ref<const std::string&>();
  }

 private:
  std::string file_;
  json root_;
};

std::string architecture(const ConfigReader& r) {
  const json* list = r.find("architectures");
  if (!list) r.fail("architectures", "is missing");
  if (!list->is_array() || list->empty() || !(*list)[0].is_string())
    r.fail("architectures",
           fmt::format("expected a non-empty array of strings, found {}", describe_json(*list)));
  const std::string& name = (*list)[0].get_ref<const std::string&>();
  if (name != "LlamaForCausalLM" && name != "MobileLLMForCausalLM")
    r.unsupported("architectures[0]",
                  fmt::format("is \"{}\"; only LlamaForCausalLM and MobileLLMForCausalLM are "
                              "supported",
                              printable(name)));
  return name;
}

// The features MobileLLM does not use must be absent or off.
void check_unsupported_features(const ConfigReader& r) {
  if (const std::string* act = r.string("hidden_act"); act && *act != "silu")
    r.unsupported("hidden_act",
                  fmt::format("is \"{}\"; only \"silu\" (SwiGLU) is supported", printable(*act)));
  for (const char* bias : {"attention_bias", "mlp_bias"})
    if (r.boolean(bias).value_or(false))
      r.unsupported(bias, "is true; projections with biases are not supported");
  if (const json* scaling = r.find("rope_scaling")) {
    std::string kind = describe_json(*scaling);
    if (scaling->is_object())
      for (const char* type_key : {"rope_type", "type"})
        if (const auto it = scaling->find(type_key); it != scaling->end() && it->is_string())
          kind = fmt::format("of type \"{}\"", printable(it->get_ref<const std::string&>()));
    r.unsupported("rope_scaling",
                  fmt::format("is {}; rotary scaling is not supported (only null)", kind));
  }
}

}  // namespace

nlohmann::json parse_hf_json(const std::string& text, const std::string& file) {
  // The keys seen so far in each object being parsed, innermost last. Keys only occur directly
  // in objects, so a key always belongs to the innermost open one.
  std::vector<std::unordered_set<std::string>> open_objects;
  const auto reject_duplicate_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second)
        throw FormatError(
            file, "(json)",
            fmt::format("the key \"{}\" appears twice in one object", printable(key)));
    }
    return true;  // keep every value
  };
  // nlohmann's messages read "[json.exception.parse_error.101] parse error at ...".
  const auto reason = [](const json::exception& e) {
    std::string_view what = e.what();
    if (const auto end = what.find("] "); what.starts_with("[json.exception.") && end != what.npos)
      what.remove_prefix(end + 2);
    return printable(what, 300);
  };
  try {
    return json::parse(text, reject_duplicate_keys);
  } catch (const json::parse_error& e) {
    throw FormatError(file, "(json)", reason(e), e.byte);
  } catch (const json::exception& e) {  // e.g. a number too large for a double
    throw FormatError(file, "(json)", reason(e));
  }
}

std::string describe_json(const json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_string())
    return fmt::format("the string \"{}\"", printable(value.get_ref<const std::string&>()));
  if (value.is_number()) return fmt::format("the number {}", value.dump());
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  return "an unexpected value";
}

HfConfig parse_hf_config(const std::string& json_text, const std::string& file) {
  const ConfigReader r(json_text, file);
  HfConfig hf;
  hf.architecture = architecture(r);
  const std::string* model_type = r.string("model_type");
  if (!model_type) r.fail("model_type", "is missing");
  if (*model_type != "llama" && *model_type != "mobilellm")
    r.unsupported("model_type", fmt::format("is \"{}\"; only \"llama\" and \"mobilellm\" are "
                                            "supported",
                                            printable(*model_type)));
  hf.model_type = *model_type;
  check_unsupported_features(r);

  ModelConfig& c = hf.config;
  c.embedding_length = r.required_size("hidden_size", kMaxHidden);
  c.feed_forward_length = r.required_size("intermediate_size", kMaxIntermediate);
  c.block_count = r.required_size("num_hidden_layers", kMaxLayers);
  c.head_count = r.required_size("num_attention_heads", kMaxHeads);
  c.vocab_size = r.required_size("vocab_size", kMaxVocab);
  c.context_length = r.optional_size("max_position_embeddings", kMaxContext).value_or(2048);

  // Grouped-query attention: the query heads split evenly over the key/value heads.
  c.head_count_kv = r.optional_size("num_key_value_heads", kMaxHeads).value_or(c.head_count);
  if (c.head_count % c.head_count_kv != 0)
    r.fail("num_key_value_heads", fmt::format("is {}, which does not divide num_attention_heads {}",
                                              c.head_count_kv, c.head_count));

  // The heads tile the hidden state exactly; head_dim, when given, must agree.
  const auto given_head_dim = r.optional_size("head_dim", kMaxHidden);
  if (given_head_dim) {
    if (std::uint64_t{*given_head_dim} * c.head_count != c.embedding_length)
      r.fail("head_dim",
             fmt::format("is {}, but num_attention_heads {} * head_dim {} != "
                         "hidden_size {}",
                         *given_head_dim, c.head_count, *given_head_dim, c.embedding_length));
    c.head_dim = *given_head_dim;
  } else {
    if (c.embedding_length % c.head_count != 0)
      r.fail("num_attention_heads", fmt::format("is {}, which does not divide hidden_size {}",
                                                c.head_count, c.embedding_length));
    c.head_dim = c.embedding_length / c.head_count;
  }
  if (c.head_dim % 2 != 0)
    r.fail("head_dim",
           fmt::format("is {}{}; rotary embeddings need an even head dimension", c.head_dim,
                       given_head_dim ? "" : " (hidden_size / num_attention_heads)"));

  c.rope_freq_base =
      r.positive_float("rope_theta", std::numeric_limits<float>::max()).value_or(10000.0f);
  c.rms_norm_eps = r.positive_float("rms_norm_eps", 1.0).value_or(1e-6f);  // LLaMA's default

  // Sharing is the converter's decision (it also looks at the tensors present): report what
  // the file says and leave the ModelConfig flags off.
  c.layer_sharing = false;
  c.embedding_sharing = false;
  hf.tie_word_embeddings = r.boolean("tie_word_embeddings");
  hf.share_embedding = r.boolean("share_embedding");
  hf.layer_sharing = r.boolean("layer_sharing");

  hf.bos_token_id = r.integer("bos_token_id", 0, c.vocab_size - 1);
  hf.eos_token_id = r.integer("eos_token_id", 0, c.vocab_size - 1);
  // transformers >= 4.56 writes "dtype" where older versions wrote "torch_dtype".
  const std::string* dtype = r.string("torch_dtype");
  if (!dtype) dtype = r.string("dtype");
  if (dtype) hf.torch_dtype = *dtype;
  return hf;
}

}  // namespace mobilellm
