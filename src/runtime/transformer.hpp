// The MobileLLM transformer: weights bound from a ModelFile, a KV cache, and the forward pass.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernels.hpp"
#include "mobilellm/config.hpp"
#include "mobilellm/model_file.hpp"

namespace mobilellm {

// A weight matrix [rows = outputs][cols = inputs] in the mapped file (F32, F16, BF16, or I8 with
// one float scale per row, or per group of kernels::kGroupSize elements of a row).
struct Matrix {
  TensorType type = TensorType::f32;
  const std::byte* data = nullptr;  // canonical rows in the mapped file
  const float* scales = nullptr;    // I8 only: rows floats, or rows x groups floats
  const void* packed = nullptr;     // I8 only: the rows repacked for the selected kernel
  std::uint32_t rows = 0, cols = 0;
  std::uint32_t groups = 0;         // I8 with group scales: scales per row; 0: one per row
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
  std::vector<float> x, h, q, k, v, att, gate, up, scores, row, cos, sin, qscale;
  std::vector<std::int8_t> qa;  // activations quantized for the W8A8 kernels
};

class ThreadPool;

class Transformer {
 public:
  // Binds the file's tensors. For a W8A8 or W8A8G32 file, selects the kernels (`kernels`: an ISA
  // name such as "avx2" or "scalar" to force one, or null for the best this CPU runs;
  // MOBILELLM_KERNELS overrides too) and repacks every int8 matrix once into the kernel's layout.
  // Throws UnsupportedError naming the file and tensor for an int8 matrix whose rows are longer
  // than kernels::kMaxK.
  Transformer(const ModelFile& file, const char* kernels);
  ~Transformer();

  const ModelConfig& config() const { return config_; }
  // What computes the linear layers, e.g. "qgemv_..__avx512vnni_16c4 + qgemm_..__avx512vnni_4x64c4".
  std::string kernels_description() const;
  std::uint64_t packed_bytes() const { return packed_size_; }

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
  const kernels::QGemmVariant* qgemm_ = nullptr;          // W8A8 only
  const kernels::QGemmG32Variant* qgemm_g32_ = nullptr;   // W8A8G32 only
  const kernels::QuantizeVariant* quantize_ = nullptr;     // W8A8 and W8A8G32
  std::byte* packed_ = nullptr;  // one 64-byte-aligned arena for every packed matrix
  std::uint64_t packed_size_ = 0;

  void linear(ThreadPool& pool, const Matrix& m, const float* X, std::uint32_t count, float* Y,
              Scratch& s, std::size_t row_stride) const;
  void linear_grouped(ThreadPool& pool, const Matrix& m, const float* X, std::uint32_t count,
                      float* Y, Scratch& s) const;
};

}  // namespace mobilellm
