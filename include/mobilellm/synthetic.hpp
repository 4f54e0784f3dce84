// Synthetic models: random weights in the exact shape of an official MobileLLM configuration,
// written directly as a mobilellm model file without any checkpoint. They exist to measure speed
// and memory (`mobilellm bench --shape`) for every size on any machine; their text is gibberish.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "mobilellm/config.hpp"
#include "mobilellm/convert.hpp"

namespace mobilellm {

struct SyntheticShape {
  const char* name;       // "125M", "350M", "600M", "1B", "1.5B", or "tiny" (tests only)
  ModelConfig config;     // layer_sharing false, embedding_sharing true
  float initializer_std;  // std of the random weights (the configs' initializer_range)
  bool official;          // false for "tiny"
};

// The five official shapes (facebookresearch/MobileLLM configs/{125M,...,1.5B}/config.json,
// embedded so they exist without the configs), then "tiny": 2 blocks of width 64 and a
// 512-token vocabulary, small enough for tests.
std::span<const SyntheticShape> synthetic_shapes();

// The shape called `name` (exact match), or nullptr.
const SyntheticShape* find_synthetic_shape(std::string_view name);

struct SyntheticOptions {
  std::string shape;                  // a name from synthetic_shapes()
  bool layer_sharing = false;         // the "LS" variant: each stored block applied twice
  OutputType type = OutputType::f32;  // f32, f16, bf16 or w8a8 (source means f32)
  std::uint64_t seed = 0;             // same seed, shape and type: byte-identical file
  std::string output_path;  // written atomically: temp file in the same folder, then rename
  // Called as tensors are written: (tensors done, tensors total, bytes done, bytes total, name).
  std::function<void(std::size_t, std::size_t, std::uint64_t, std::uint64_t, const std::string&)>
      progress;
};

// Bumped whenever the bytes write_synthetic_model produces for given options change, so caches
// keyed by it never serve a stale file.
inline constexpr std::uint32_t kSyntheticGeneratorVersion = 1;

// Writes the model file: the shape's hyper-parameters, a synthetic vocabulary (<unk>, <s>, </s>,
// the 256 byte tokens, then generated pieces) and weights drawn uniformly with the shape's std
// from a seeded generator (w8a8: uniform int8 rows in [-127, 127] with one scale per row; norm
// weights 1). Streams tensor by tensor, so memory stays at the largest tensor. Throws
// InvalidArgument for an unknown shape or type, IoError when the file cannot be written.
ConvertReport write_synthetic_model(const SyntheticOptions& options);

}  // namespace mobilellm
