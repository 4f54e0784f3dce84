// The MobileLLM transformer: weights bound from a ModelFile, a KV cache, and the forward pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "kernels/kernels.hpp"
#include "mobilellm/config.hpp"
#include "mobilellm/model_file.hpp"

namespace mobilellm {

// A weight matrix [rows = outputs][cols = inputs], used in place in the mapped file (F32, F16,
// BF16, or I8 with one float scale per row or per group of kernels::kGroupSize elements of a
// row): row r starts `stride` elements after row r - 1.
struct Matrix {
  TensorType type = TensorType::f32;
  const std::byte* data = nullptr;  // canonical rows in the mapped file
  const float* scales = nullptr;    // I8 only: one per row, or `groups` per row (row by row)
  std::uint32_t rows = 0, cols = 0;
  std::size_t stride = 0;           // elements from one row to the next
  std::uint32_t groups = 0;         // I8 with group scales: scales per row; 0: one per row
  const void* packed = nullptr;     // W8A8G32 only: the rows repacked for the grouped kernel

  const std::int8_t* i8() const { return reinterpret_cast<const std::int8_t*>(data); }
};

// Keys and values of every applied layer (a layer-shared block has two), as float32 or IEEE
// binary16 elements (kernels::KvType). Each (layer, KV head) owns `capacity` consecutive rows of
// head_dim elements, so attention reads the keys and values of one head as one contiguous stream.
// The memory is left uninitialized (a row is written before it is read), so creating a session
// touches none of it.
class KvCache {
 public:
  // Throws on overflow / bad_alloc.
  KvCache(const ModelConfig& config, std::uint32_t capacity, kernels::KvType type);
  // Rows [0, capacity) of one head (row p holds position p), elements of type().
  const void* keys(std::uint32_t layer, std::uint32_t head) const { return at(k_, layer, head, 0); }
  const void* values(std::uint32_t layer, std::uint32_t head) const {
    return at(v_, layer, head, 0);
  }
  // Writes position p of one head's keys and values from head_dim floats each. An f16 cache
  // rounds them to nearest even (common/half.hpp), once, on every machine the same, so every
  // attention kernel reads the same values.
  void store(std::uint32_t layer, std::uint32_t head, std::uint32_t p, const float* key,
             const float* value);
  kernels::KvType type() const { return type_; }
  std::uint32_t capacity() const { return capacity_; }
  std::uint64_t bytes() const { return 2 * std::uint64_t{elements_} * element_bytes(); }

 private:
  std::size_t element_bytes() const { return type_ == kernels::KvType::f16 ? 2 : sizeof(float); }
  std::byte* at(const std::unique_ptr<std::byte[]>& b, std::uint32_t layer, std::uint32_t head,
                std::uint32_t p) const {
    return b.get() + ((std::size_t(layer) * heads_ + head) * capacity_ + p) * head_dim_ *
                         element_bytes();
  }
  kernels::KvType type_ = kernels::KvType::f32;
  std::uint32_t capacity_ = 0, heads_ = 0, head_dim_ = 0;
  std::size_t elements_ = 0;  // in each of k_ and v_
  std::unique_ptr<std::byte[]> k_, v_;
};

class Transformer;

// Attention takes the cached positions in chunks of this many (kernels.hpp, "attention").
inline constexpr std::uint32_t kAttentionChunk = kernels::kAttentionChunk;

// A buffer aligned for the kernels (kernels::kPackedAlignment).
struct AlignedFree {
  void operator()(std::byte* p) const {
    ::operator delete[](p, std::align_val_t(kernels::kPackedAlignment));
  }
};
using AlignedBytes = std::unique_ptr<std::byte[], AlignedFree>;

// Working memory of one session's forward passes. What does not depend on the number of tokens
// (each thread's GEMM panel and attention workspaces and small buffers, the attention chunks of
// one token) is sized once, for the model, the thread count and the context; the per-token
// buffers are sized for one token at first and grow to the largest batch seen. So a decode step
// allocates nothing.
struct Scratch {
  Scratch(const Transformer& t, unsigned threads, std::uint32_t context);
  void reserve_tokens(std::uint32_t n);  // per-token buffers for batches of n tokens

  // Per token (rows of the batch).
  std::vector<float> x, h, q, k, v, att, gate, up;
  std::vector<std::int8_t> qa;  // activations quantized for the W8A8 kernels
  std::vector<float> qscale;    // their scales, one per row (W8A8G32: one per group of a row)
  std::vector<float> cos, sin;  // rotation of each token's position, head_dim / 2 each
  // One decoded token's attention: the partial results of every (head, chunk), head_dim + 2
  // floats each (AttentionVariant::chunk_partials).
  std::vector<float> partials;
  // Per thread.
  struct Thread {
    std::byte* workspace;  // qgemm_f32_canonical's packed panels (W8A8 only)
    void* attention;       // the attention kernel's workspace
    float* row;            // one weight row converted to float32 (F16, BF16)
  };
  std::vector<Thread> threads;

 private:
  const Transformer& t_;
  std::uint32_t tokens_ = 0;
  AlignedBytes workspaces_;
  std::vector<float> per_thread_;
};

class ThreadPool;

class Transformer {
 public:
  // Binds the file's tensors where they are mapped: for F32, F16, BF16 and W8A8 nothing is copied
  // or repacked. For a W8A8 or W8A8G32 file, selects the kernels (`kernels`: an ISA name such as
  // "avx2" or "scalar" to force one, or null for the best this CPU runs; MOBILELLM_KERNELS
  // overrides too); W8A8G32's kernels read a private layout, so its int8 matrices are repacked
  // once here. Throws UnsupportedError naming the file and tensor for an int8 matrix whose rows
  // are longer than kernels::kMaxK.
  Transformer(const ModelFile& file, const char* kernels);

  const ModelConfig& config() const { return config_; }
  // What computes the linear layers and attention (with a KV cache of type `kv`), e.g.
  // "qgemv_..__avx512vnni_16c4 (decode), ..., attention_f32_gqa__avx512f_48x2 (attention)".
  std::string kernels_description(kernels::KvType kv = kernels::KvType::f32) const;

  // Runs `count` tokens at positions pos0, pos0+1, ... through the model, appending their keys
  // and values to `cache`. Writes the logits of every token (count × vocab floats) when
  // `all_logits`, else only those of the last token (vocab floats). `s` was made for `pool`'s
  // thread count and `cache`'s capacity.
  void forward(const std::int32_t* tokens, std::uint32_t count, std::uint32_t pos0, KvCache& cache,
               Scratch& s, ThreadPool& pool, float* logits, bool all_logits) const;

 private:
  friend struct Scratch;

  struct Block {
    const float* attn_norm;
    const float* ffn_norm;
    Matrix q, k, v, o, gate, up, down;
  };
  // The input of linear layers: `count` rows of activations, as float32 rows (float weights) or
  // quantized to int8 with one scale per row (W8A8) or per group of a row (W8A8G32: `groups`
  // scales per row).
  struct Activations {
    std::uint32_t count;
    const float* x;
    std::size_t x_stride;
    const std::int8_t* q;
    std::size_t q_stride;
    const float* scale;
    std::uint32_t groups;
  };
  // One linear layer's output: y[t][r] for rows r of `m`, token rows `y_stride` floats apart.
  struct Output {
    const Matrix* m;
    float* y;
    std::size_t y_stride;
  };

  ModelConfig config_;
  Matrix embedding_;  // [vocab][embedding]
  Matrix output_;     // [vocab][embedding]; the embedding when shared
  const float* output_norm_ = nullptr;
  std::vector<Block> blocks_;
  std::vector<double> inv_freq_;  // RoPE: theta^(-2i/head_dim) for i < head_dim / 2
  std::uint32_t max_cols_ = 0;    // the largest K of any matrix
  const kernels::QGemmVariant* qgemm_ = nullptr;         // W8A8 only
  const kernels::QGemmG32Variant* qgemm_g32_ = nullptr;  // W8A8G32 only
  const kernels::QuantizeVariant* quantize_ = nullptr;   // W8A8 and W8A8G32
  const kernels::AttentionVariant* attention_ = nullptr;  // every model
  std::size_t workspace_bytes_ = 0;  // per thread, for qgemm_f32_canonical at max_cols_
  AlignedBytes packed_;              // W8A8G32: every int8 matrix in the grouped kernel's layout

  std::uint32_t row_block() const;
  Activations prepare(const float* X, std::uint32_t count, std::uint32_t cols, Scratch& s,
                      ThreadPool& pool) const;
  void rows(const Matrix& m, std::uint32_t r0, std::uint32_t r1, const Activations& a, float* y,
            std::size_t y_stride, const Scratch::Thread& ts) const;
  void linear(ThreadPool& pool, std::initializer_list<Output> outputs, const Activations& a,
              Scratch& s) const;
  void feed_forward(ThreadPool& pool, const Block& blk, const Activations& a, std::uint32_t n,
                    Scratch& s) const;
  void attention(ThreadPool& pool, std::uint32_t layer, std::uint32_t n, std::uint32_t pos0,
                 KvCache& cache, Scratch& s) const;
};

}  // namespace mobilellm
