// Hyper-parameters of a MobileLLM model, as stored in the model file under `mobilellm.*`.
#pragma once

#include <cstdint>
#include <string>

namespace mobilellm {

struct ModelConfig {
  std::uint32_t vocab_size = 0;        // rows of the embedding matrix
  std::uint32_t embedding_length = 0;  // hidden size (d_model)
  std::uint32_t feed_forward_length = 0;  // SwiGLU inner size
  std::uint32_t block_count = 0;       // stored transformer blocks
  std::uint32_t head_count = 0;        // query heads
  std::uint32_t head_count_kv = 0;     // key/value heads (grouped-query attention)
  std::uint32_t head_dim = 0;          // embedding_length / head_count
  std::uint32_t context_length = 0;    // trained maximum positions
  float rope_freq_base = 10000.0f;     // rotary theta
  float rms_norm_eps = 1e-5f;
  bool layer_sharing = false;      // each stored block is applied twice in a row
  bool embedding_sharing = true;   // output head is the token embedding matrix

  // Blocks applied per token: block_count, doubled with layer sharing.
  std::uint32_t applied_block_count() const { return layer_sharing ? 2 * block_count : block_count; }
};

}  // namespace mobilellm
