// Converting a Hugging Face MobileLLM / LLaMA checkpoint folder into one mobilellm model file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mobilellm/config.hpp"

namespace mobilellm {

// source: keep each tensor's stored float type. w8a8: every weight matrix (and the embedding)
// as int8 rows with float32 scales (symmetric, round to nearest; one scale per row, or per group
// of ConvertOptions::w8a8_group_size elements of a row), norms in float32.
enum class OutputType { source, f32, f16, bf16, w8a8 };

struct ConvertOptions {
  std::string input_dir;   // folder with config.json, weights, tokenizer
  std::string output_path; // written atomically: temp file in the same folder, then rename
  OutputType type = OutputType::source;  // `source`: keep each tensor's stored float type
  // With OutputType::w8a8: 0 writes one scale per row (weight type W8A8); 32 writes one scale
  // per 32 consecutive elements of a row (W8A8G32: activations are then quantized per group of
  // 32 too). No other value is accepted.
  std::uint32_t w8a8_group_size = 0;
  std::optional<bool> layer_sharing;      // override what config.json says (or does not say)
  std::optional<bool> embedding_sharing;  // override; must agree with the tensors present
  std::string name;  // general.name; defaults to the folder's name
  // Called as tensors are written: (tensors done, tensors total, bytes done, bytes total, name).
  std::function<void(std::size_t, std::size_t, std::uint64_t, std::uint64_t, const std::string&)>
      progress;
};

struct ConvertReport {
  std::string output_path;
  std::uint64_t file_size = 0;
  std::size_t tensor_count = 0;
  std::uint64_t parameter_count = 0;
  ModelConfig config;
  std::string weights_source;    // "model.safetensors", "model.safetensors.index.json (N shards)", ...
  std::string tokenizer_source;  // "tokenizer.model" or "tokenizer.json"
  std::string weight_type;       // "F32", "F16", "BF16", "W8A8", "W8A8G32"
  std::vector<std::string> notes;  // decisions the converter made (e.g. how sharing was decided)
};

ConvertReport convert_checkpoint(const ConvertOptions& options);

}  // namespace mobilellm
