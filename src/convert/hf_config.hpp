// config.json of a Hugging Face LLaMA / MobileLLM checkpoint, in both forms:
// training form (`LlamaForCausalLM`, tie_word_embeddings) and release form
// (`MobileLLMForCausalLM`, share_embedding, layer_sharing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mobilellm/config.hpp"

namespace mobilellm {

struct HfConfig {
  std::string architecture;  // architectures[0]
  std::string model_type;
  ModelConfig config;         // layer_sharing / embedding_sharing left false; see below
  std::optional<bool> share_embedding;      // release form
  std::optional<bool> tie_word_embeddings;  // training form
  std::optional<bool> layer_sharing;        // release form
  std::optional<std::int64_t> bos_token_id, eos_token_id;
  std::string torch_dtype;
};

// Validates types and values: positive sizes, heads dividing the hidden size (or head_dim given
// and consistent), kv heads dividing heads, finite positive rope_theta and rms_norm_eps, no
// unsupported features (attention_bias, mlp_bias, rope_scaling, hidden_act other than silu).
// Throws FormatError naming `file`, the field and the value.
HfConfig parse_hf_config(const std::string& json_text, const std::string& file);

}  // namespace mobilellm
