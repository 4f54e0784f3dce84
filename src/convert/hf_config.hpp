// config.json of a Hugging Face LLaMA / MobileLLM checkpoint, in both forms:
// training form (`LlamaForCausalLM`, tie_word_embeddings) and release form
// (`MobileLLMForCausalLM`, share_embedding, layer_sharing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "mobilellm/config.hpp"

namespace mobilellm {

struct HfConfig {
  std::string architecture;  // architectures[0]
  std::string model_type;
  ModelConfig config;                       // layer_sharing / embedding_sharing left false: the
                                            // converter decides them from the fields below
  std::optional<bool> share_embedding;      // release form
  std::optional<bool> tie_word_embeddings;  // training form
  std::optional<bool> layer_sharing;        // release form
  std::optional<std::int64_t> bos_token_id, eos_token_id;
  std::string torch_dtype;  // "torch_dtype" (or newer "dtype"); empty when absent
};

// Validates types and values: sizes are JSON integers within limits (hidden_size <= 65536,
// intermediate_size <= 2^18, num_hidden_layers <= 1024, heads <= 1024, vocab_size <= 2^22,
// max_position_embeddings <= 2^20); kv heads divide heads; heads divide hidden_size (head_dim,
// when given, must equal hidden_size / heads) and head_dim is even; rope_theta and rms_norm_eps
// are positive floats; bos/eos ids lie in the vocabulary. Defaults as in transformers'
// LlamaConfig: num_key_value_heads = heads, max_position_embeddings 2048, rope_theta 10000,
// rms_norm_eps 1e-6. Throws FormatError naming `file`, the field and the value, and
// UnsupportedError for unsupported features: architectures[0] other than LlamaForCausalLM /
// MobileLLMForCausalLM, model_type other than llama / mobilellm, attention_bias or mlp_bias
// true, rope_scaling not null, hidden_act other than silu.
HfConfig parse_hf_config(const std::string& json_text, const std::string& file);

// Parses one of a checkpoint's JSON files (config.json, tokenizer.json, ...), shared by the
// readers here. Syntax errors, numbers beyond a double and duplicate keys in an object (which
// JSON leaves undefined, and nlohmann would silently resolve) throw FormatError naming `file`.
nlohmann::json parse_hf_json(const std::string& text, const std::string& file);

// "null", "true", "the string \"x\"", "the number 2.5", "an object", "an array": a JSON value
// as error messages describe it.
std::string describe_json(const nlohmann::json& value);

}  // namespace mobilellm
