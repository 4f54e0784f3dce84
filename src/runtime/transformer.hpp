// The MobileLLM transformer: weights bound from a ModelFile, a KV cache, and the forward pass.
#pragma once

#include <cstdint>
#include <vector>

#include "mobilellm/config.hpp"
#include "mobilellm/model_file.hpp"

namespace mobilellm {

// A weight matrix [rows = outputs][cols = inputs] in the mapped file (F32, F16, BF16, or I8 with
// one float scale per row).
struct Matrix {
  TensorType type = TensorType::f32;
  const std::byte* data = nullptr;
  const float* scales = nullptr;  // I8 only
  std::uint32_t rows = 0, cols = 0;
};

// Keys and values of every applied layer (a layer-shared block has two), float32.
class KvCache {
 public:
  KvCache(const ModelConfig& config, std::uint32_t capacity);  // throws on overflow / bad_alloc
  float* keys(std::uint32_t layer, std::uint32_t pos) { return at(k_, layer, pos); }
  float* values(std::uint32_t layer, std::uint32_t pos) { return at(v_, layer, pos); }
  std::uint32_t capacity() const { return capacity_; }
  std::uint64_t bytes() const { return 2ull * k_.size() * sizeof(float); }

 private:
  float* at(std::vector<float>& b, std::uint32_t layer, std::uint32_t pos) {
    return b.data() + (std::size_t(layer) * capacity_ + pos) * kv_dim_;
  }
  std::uint32_t capacity_ = 0, kv_dim_ = 0;
  std::vector<float> k_, v_;
};

// Per-session working memory of the forward pass, grown on demand.
struct Scratch {
  std::vector<float> x, h, q, k, v, att, gate, up, scores, row, cos, sin;
};

class ThreadPool;

class Transformer {
 public:
  explicit Transformer(const ModelFile& file);

  const ModelConfig& config() const { return config_; }

  // Runs `count` tokens at positions pos0, pos0+1, ... through the model, appending their keys
  // and values to `cache`. Writes the logits of every token (count × vocab floats) when
  // `all_logits`, else only those of the last token (vocab floats).
  void forward(const std::int32_t* tokens, std::uint32_t count, std::uint32_t pos0, KvCache& cache,
               Scratch& s, ThreadPool& pool, float* logits, bool all_logits) const;

 private:
  struct Block {
    const float* attn_norm;
    const float* ffn_norm;
    Matrix q, k, v, o, gate, up, down;
  };
  ModelConfig config_;
  Matrix embedding_;  // [vocab][embedding]
  Matrix output_;     // [vocab][embedding]; the embedding when shared
  const float* output_norm_ = nullptr;
  std::vector<Block> blocks_;
};

}  // namespace mobilellm
