// Timing of one generation (ExecuTorch-style Stats record).
#pragma once

#include <cstdint>
#include <string>

namespace mobilellm {

struct Stats {
  double load_seconds = 0.0;           // Model::load of the model used
  double time_to_first_token = 0.0;    // seconds from generate() start to the first sampled token
  double prefill_seconds = 0.0;        // forward pass over the prompt
  double decode_seconds = 0.0;         // forward passes of generated tokens
  std::uint32_t prompt_tokens = 0;
  std::uint32_t generated_tokens = 0;
  std::uint32_t decode_steps = 0;      // forward passes of one generated token each
  std::uint64_t kv_cache_bytes = 0;
  std::string kernels;                 // which compute kernels ran

  double prefill_tokens_per_second() const {
    return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0.0;
  }
  double decode_tokens_per_second() const {
    return decode_seconds > 0 ? decode_steps / decode_seconds : 0.0;
  }
};

}  // namespace mobilellm
