// The forward pass of MobileLLM, from token ids to logits, in float32.
//
// Follow one token: its embedding row becomes the residual stream x. Each stored block is applied
// once, or twice in a row with layer sharing (each application is its own attention layer with its
// own KV-cache slot). An application is
//     x += Wo · attention(rope(Wq · norm(x)), rope(Wk · norm(x)), Wv · norm(x))
//     x += Wdown · (silu(Wgate · norm(x)) * (Wup · norm(x)))
// with RMSNorm and grouped-query attention (query head h reads KV head h / (heads / kv_heads)).
// Finally logits = Wout · norm(x), where Wout is the embedding matrix when embeddings are shared.
#include "runtime/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "common/checked.hpp"
#include "mobilellm/error.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/vec.hpp"

namespace mobilellm {
namespace {

Matrix bind(const TensorView& w, const TensorView* scale) {
  Matrix m;
  m.type = w.type;
  m.data = w.data;
  m.rows = static_cast<std::uint32_t>(w.rows());
  m.cols = static_cast<std::uint32_t>(w.cols());
  if (w.type == TensorType::i8) {
    m.scales = reinterpret_cast<const float*>(scale->data);
    // The loader checked the shape: {rows} per row, {groups, rows} per group of kGroupSize.
    if (scale->dims.size() == 2) m.groups = static_cast<std::uint32_t>(scale->dims[0]);
  }
  return m;
}

// The kernels' sums are exact only up to kMaxK products per row (kernels.hpp). The loader allows
// longer rows, so an int8 matrix is checked here, before anything is packed.
void check_kernel_limits(const ModelFile& f, const TensorView& w) {
  if (w.type != TensorType::i8 || w.cols() <= kernels::kMaxK) return;
  throw UnsupportedError(f.path() + ": " + w.name + ": rows of " + std::to_string(w.cols()) +
                         " int8 elements; the W8A8 kernels accept at most " +
                         std::to_string(kernels::kMaxK));
}

const float* f32(const TensorView& t) { return reinterpret_cast<const float*>(t.data); }

// Row `r` of `m` as float32: a pointer into the file for F32, else converted into `buf`.
const float* row_f32(const Matrix& m, std::uint32_t r, float* buf) {
  const std::size_t off = std::size_t(r) * m.cols;
  switch (m.type) {
    case TensorType::f32: return reinterpret_cast<const float*>(m.data) + off;
    case TensorType::f16:
      vec::f16_to_f32(reinterpret_cast<const std::uint16_t*>(m.data) + off, buf, m.cols);
      return buf;
    case TensorType::bf16:
      vec::bf16_to_f32(reinterpret_cast<const std::uint16_t*>(m.data) + off, buf, m.cols);
      return buf;
    case TensorType::i8: {
      const auto* q = reinterpret_cast<const std::int8_t*>(m.data) + off;
      if (m.groups == 0) {
        vec::i8_to_f32(q, m.scales[r], buf, m.cols);
        return buf;
      }
      const float* scales = m.scales + std::size_t(r) * m.groups;
      for (std::uint32_t g = 0; g < m.groups; ++g) {
        const std::uint32_t begin = g * kernels::kGroupSize;
        vec::i8_to_f32(q + begin, scales[g], buf + begin,
                       std::min(kernels::kGroupSize, m.cols - begin));
      }
      return buf;
    }
  }
  return buf;
}

// Y[t][r] = dot(W[r], X[t]) for `count` input rows X (each m.cols wide). Each weight row is read
// (and converted) once for the whole batch. The rows are split evenly over the pool's threads;
// thread i converts into its own slice of `rowbuf` (threads × max columns floats).
void linear_float(ThreadPool& pool, const Matrix& m, const float* X, std::uint32_t count, float* Y,
                  float* rowbuf, std::size_t rowbuf_stride) {
  const unsigned chunks = std::min<unsigned>(pool.size(), m.rows);
  pool.parallel_for(chunks, [&](unsigned c) {
    const std::uint32_t r0 = std::uint32_t(std::uint64_t(m.rows) * c / chunks);
    const std::uint32_t r1 = std::uint32_t(std::uint64_t(m.rows) * (c + 1) / chunks);
    float* buf = rowbuf + c * rowbuf_stride;
    for (std::uint32_t r = r0; r < r1; ++r) {
      const float* w = row_f32(m, r, buf);
      for (std::uint32_t t = 0; t < count; ++t)
        Y[std::size_t(t) * m.rows + r] = vec::dot(w, X + std::size_t(t) * m.cols, m.cols);
    }
  });
}

// Rotary embedding in the Hugging Face LLaMA convention (rotate_half): dimension i of a head is
// paired with dimension i + D/2 and rotated by the angle pos * theta^(-2i/D).
void rope(float* head, std::uint32_t D, const float* cos, const float* sin) {
  const std::uint32_t half = D / 2;
  for (std::uint32_t i = 0; i < half; ++i) {
    const float a = head[i], b = head[i + half];
    head[i] = a * cos[i] - b * sin[i];
    head[i + half] = b * cos[i] + a * sin[i];
  }
}

template <typename T>
void grow(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

KvCache::KvCache(const ModelConfig& c, std::uint32_t capacity)
    : capacity_(capacity), kv_dim_(c.head_count_kv * c.head_dim) {
  auto n = checked_mul(c.applied_block_count(), capacity);
  if (n) n = checked_mul(*n, kv_dim_);
  if (n) n = checked_mul(*n, 2 * sizeof(float));
  if (!n || *n > (std::uint64_t(1) << 40))
    throw InvalidArgument("KV cache for a context of " + std::to_string(capacity) +
                          " tokens is too large");
  k_.assign(*n / (2 * sizeof(float)), 0.0f);
  v_.assign(k_.size(), 0.0f);
}

Transformer::Transformer(const ModelFile& f, const char* kernel_override) : config_(f.config()) {
  embedding_ = bind(f.token_embd(), f.token_embd_scale());
  output_ = bind(f.output(), f.output_scale());
  output_norm_ = f32(f.output_norm());
  blocks_.reserve(config_.block_count);
  for (std::uint32_t i = 0; i < config_.block_count; ++i) {
    const BlockTensors& b = f.block(i);
    blocks_.push_back(Block{f32(*b.attn_norm), f32(*b.ffn_norm),
                            bind(*b.attn_q, b.attn_q_scale), bind(*b.attn_k, b.attn_k_scale),
                            bind(*b.attn_v, b.attn_v_scale), bind(*b.attn_output, b.attn_output_scale),
                            bind(*b.ffn_gate, b.ffn_gate_scale), bind(*b.ffn_up, b.ffn_up_scale),
                            bind(*b.ffn_down, b.ffn_down_scale)});
  }
  if (embedding_.type != TensorType::i8) return;

  // W8A8: check every int8 matrix against the kernels' limit, pick the kernels once, then repack
  // every int8 matrix into their layout. The embedding is looked up row by row from the file's
  // canonical rows; it is packed only as the output head.
  check_kernel_limits(f, f.token_embd());
  check_kernel_limits(f, f.output());
  for (std::uint32_t i = 0; i < config_.block_count; ++i) {
    const BlockTensors& b = f.block(i);
    for (const TensorView* t : {b.attn_q, b.attn_k, b.attn_v, b.attn_output, b.ffn_gate, b.ffn_up,
                                b.ffn_down})
      check_kernel_limits(f, *t);
  }
  const bool grouped = embedding_.groups != 0;
  if (grouped) qgemm_g32_ = &kernels::select_qgemm_g32(kernel_override);
  else qgemm_ = &kernels::select_qgemm(kernel_override);
  quantize_ = &kernels::select_quantize(kernel_override);
  auto packed_size = [&](const Matrix& m) {
    return grouped ? qgemm_g32_->packed_size(m.rows, m.cols) : qgemm_->packed_size(m.rows, m.cols);
  };
  std::vector<Matrix*> mats{&output_};
  for (Block& b : blocks_)
    for (Matrix* m : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) mats.push_back(m);
  std::vector<std::uint64_t> offsets;
  for (Matrix* m : mats) {
    offsets.push_back(packed_size_);
    const auto bytes = checked_align_up(packed_size(*m), 64);
    if (!bytes || !checked_add(packed_size_, *bytes)) throw std::bad_alloc();
    packed_size_ += *bytes;
  }
  packed_ = static_cast<std::byte*>(std::aligned_alloc(64, std::max<std::uint64_t>(packed_size_, 64)));
  if (!packed_) throw std::bad_alloc();
  for (std::size_t i = 0; i < mats.size(); ++i) {
    Matrix& m = *mats[i];
    const auto* w = reinterpret_cast<const std::int8_t*>(m.data);
    if (grouped) qgemm_g32_->pack(m.rows, m.cols, w, m.scales, packed_ + offsets[i]);
    else qgemm_->pack(m.rows, m.cols, w, packed_ + offsets[i]);
    m.packed = packed_ + offsets[i];
  }
}

Transformer::~Transformer() { std::free(packed_); }

std::string Transformer::kernels_description() const {
  if (qgemm_g32_) {
    return std::string(qgemm_g32_->gemv_name) + " (decode), " + qgemm_g32_->name + " (prefill), " +
           quantize_->name + " per group of " + std::to_string(kernels::kGroupSize);
  }
  if (!qgemm_) {
    return std::string("float32 ") + tensor_type_name(embedding_.type) +
           " weights, xsimd loops (baseline ISA)";
  }
  return std::string(qgemm_->gemv_name) + " (decode), " + qgemm_->name + " (prefill), " +
         quantize_->name;
}

// One linear layer, Y = X · Wᵀ for `count` rows of X. Float weights use the float loops; int8
// weights quantize each row of X to int8 (its own scale) and run the selected W8A8 kernel, with
// the output columns split over the threads on the kernel's nr boundaries.
void Transformer::linear(ThreadPool& pool, const Matrix& m, const float* X, std::uint32_t count,
                         float* Y, Scratch& s, std::size_t row_stride) const {
  if (m.type != TensorType::i8) {
    linear_float(pool, m, X, count, Y, s.row.data(), row_stride);
    return;
  }
  if (m.groups != 0) {
    linear_grouped(pool, m, X, count, Y, s);
    return;
  }
  const kernels::QGemmVariant& kv = *qgemm_;
  const std::uint32_t kp = kernels::k_padded(m.cols, kv.kr);
  grow(s.qa, std::size_t(count) * kp);
  grow(s.qscale, count);
  quantize_->run(count, m.cols, kp, X, m.cols, s.qa.data(), kp, s.qscale.data());
  const std::uint32_t blocks = (m.rows + kv.nr - 1) / kv.nr;
  const unsigned chunks = std::min<unsigned>(pool.size(), blocks);
  pool.parallel_for(chunks, [&](unsigned c) {
    const std::uint32_t n0 = std::uint32_t(std::uint64_t(blocks) * c / chunks) * kv.nr;
    const std::uint32_t n1 =
        std::min(m.rows, std::uint32_t(std::uint64_t(blocks) * (c + 1) / chunks) * kv.nr);
    if (count == 1)
      kv.gemv_f32(n0, n1, m.cols, s.qa.data(), s.qscale[0], m.packed, m.scales, Y);
    else
      kv.gemm_f32(count, n0, n1, m.cols, s.qa.data(), kp, s.qscale.data(), m.packed, m.scales, Y,
                  m.rows);
  });
}

// The group-wise form: each row of X quantized per group of kGroupSize (its own scale per
// group), the grouped kernel, the output columns split over the threads on nr boundaries.
void Transformer::linear_grouped(ThreadPool& pool, const Matrix& m, const float* X,
                                 std::uint32_t count, float* Y, Scratch& s) const {
  const kernels::QGemmG32Variant& kv = *qgemm_g32_;
  const std::uint32_t kp = kernels::k_padded(m.cols, kernels::kGroupSize);
  grow(s.qa, std::size_t(count) * kp);
  grow(s.qscale, std::size_t(count) * m.groups);
  kernels::quantize_groups(*quantize_, count, m.cols, X, m.cols, s.qa.data(), kp, s.qscale.data());
  const std::uint32_t blocks = (m.rows + kv.nr - 1) / kv.nr;
  const unsigned chunks = std::min<unsigned>(pool.size(), blocks);
  pool.parallel_for(chunks, [&](unsigned c) {
    const std::uint32_t n0 = std::uint32_t(std::uint64_t(blocks) * c / chunks) * kv.nr;
    const std::uint32_t n1 =
        std::min(m.rows, std::uint32_t(std::uint64_t(blocks) * (c + 1) / chunks) * kv.nr);
    if (count == 1)
      kv.gemv_f32(n0, n1, m.cols, s.qa.data(), s.qscale.data(), m.packed, Y);
    else
      kv.gemm_f32(count, n0, n1, m.cols, s.qa.data(), kp, s.qscale.data(), m.packed, Y, m.rows);
  });
}

void Transformer::forward(const std::int32_t* tokens, std::uint32_t n, std::uint32_t pos0,
                          KvCache& cache, Scratch& s, ThreadPool& pool, float* logits,
                          bool all_logits) const {
  const ModelConfig& c = config_;
  const std::uint32_t E = c.embedding_length, F = c.feed_forward_length, D = c.head_dim;
  const std::uint32_t H = c.head_count, Hkv = c.head_count_kv, group = H / Hkv;
  const std::uint32_t Dq = H * D, Dkv = Hkv * D, V = c.vocab_size;
  if (n == 0) return;
  if (pos0 > cache.capacity() || n > cache.capacity() - pos0)
    throw InvalidArgument("forward: positions " + std::to_string(pos0) + ".." +
                          std::to_string(pos0 + n - 1) + " exceed the context of " +
                          std::to_string(cache.capacity()));
  for (std::uint32_t t = 0; t < n; ++t)
    if (tokens[t] < 0 || std::uint32_t(tokens[t]) >= V)
      throw InvalidArgument("token id " + std::to_string(tokens[t]) + " is outside the vocabulary [0, " +
                            std::to_string(V) + ")");

  grow(s.x, std::size_t(n) * E);
  grow(s.h, std::size_t(n) * E);
  grow(s.q, std::size_t(n) * Dq);
  grow(s.k, std::size_t(n) * Dkv);
  grow(s.v, std::size_t(n) * Dkv);
  grow(s.att, std::size_t(n) * Dq);
  grow(s.gate, std::size_t(n) * F);
  grow(s.up, std::size_t(n) * F);
  const std::size_t ctx_len = std::size_t(pos0) + n;
  grow(s.scores, std::size_t(H) * ctx_len);
  const std::size_t row_stride = std::max({E, F, Dq});
  grow(s.row, pool.size() * row_stride);
  grow(s.cos, std::size_t(n) * D / 2);
  grow(s.sin, std::size_t(n) * D / 2);
  float* x = s.x.data();
  float* h = s.h.data();

  // Token embeddings: the residual stream starts as each token's embedding row.
  for (std::uint32_t t = 0; t < n; ++t) {
    const float* e = row_f32(embedding_, std::uint32_t(tokens[t]), s.row.data());
    std::memcpy(x + std::size_t(t) * E, e, E * sizeof(float));
  }

  // Rotation angles of each position, shared by every layer.
  for (std::uint32_t t = 0; t < n; ++t)
    for (std::uint32_t i = 0; i < D / 2; ++i) {
      const double inv_freq = std::pow(double(c.rope_freq_base), -2.0 * i / double(D));
      const double angle = double(pos0 + t) * inv_freq;
      s.cos[std::size_t(t) * D / 2 + i] = float(std::cos(angle));
      s.sin[std::size_t(t) * D / 2 + i] = float(std::sin(angle));
    }

  const float attn_scale = 1.0f / std::sqrt(float(D));
  const std::uint32_t reps = c.layer_sharing ? 2 : 1;
  for (std::uint32_t b = 0; b < c.block_count; ++b) {
    const Block& blk = blocks_[b];
    for (std::uint32_t rep = 0; rep < reps; ++rep) {
      const std::uint32_t layer = b * reps + rep;  // each application has its own KV slot

      // --- attention ---
      for (std::uint32_t t = 0; t < n; ++t)
        vec::rms_norm(x + std::size_t(t) * E, blk.attn_norm, c.rms_norm_eps, h + std::size_t(t) * E, E);
      linear(pool, blk.q, h, n, s.q.data(), s, row_stride);
      linear(pool, blk.k, h, n, s.k.data(), s, row_stride);
      linear(pool, blk.v, h, n, s.v.data(), s, row_stride);
      for (std::uint32_t t = 0; t < n; ++t) {
        const float* cs = s.cos.data() + std::size_t(t) * D / 2;
        const float* sn = s.sin.data() + std::size_t(t) * D / 2;
        for (std::uint32_t hd = 0; hd < H; ++hd) rope(s.q.data() + std::size_t(t) * Dq + hd * D, D, cs, sn);
        for (std::uint32_t hd = 0; hd < Hkv; ++hd) rope(s.k.data() + std::size_t(t) * Dkv + hd * D, D, cs, sn);
        std::memcpy(cache.keys(layer, pos0 + t), s.k.data() + std::size_t(t) * Dkv, Dkv * sizeof(float));
        std::memcpy(cache.values(layer, pos0 + t), s.v.data() + std::size_t(t) * Dkv, Dkv * sizeof(float));
      }
      pool.parallel_for(H, [&](unsigned hd) {  // one task per query head
        const std::uint32_t kvh = hd / group;  // grouped-query attention
        float* sc = s.scores.data() + hd * ctx_len;
        for (std::uint32_t t = 0; t < n; ++t) {
          const std::uint32_t len = pos0 + t + 1;  // causal: positions 0..pos0+t
          const float* q = s.q.data() + std::size_t(t) * Dq + hd * D;
          for (std::uint32_t p = 0; p < len; ++p)
            sc[p] = vec::dot(q, cache.keys(layer, p) + kvh * D, D) * attn_scale;
          vec::softmax(sc, len);
          float* out = s.att.data() + std::size_t(t) * Dq + hd * D;
          std::fill(out, out + D, 0.0f);
          for (std::uint32_t p = 0; p < len; ++p) vec::axpy(sc[p], cache.values(layer, p) + kvh * D, out, D);
        }
      });
      linear(pool, blk.o, s.att.data(), n, h, s, row_stride);
      for (std::size_t i = 0; i < std::size_t(n) * E; ++i) x[i] += h[i];

      // --- SwiGLU feed-forward ---
      for (std::uint32_t t = 0; t < n; ++t)
        vec::rms_norm(x + std::size_t(t) * E, blk.ffn_norm, c.rms_norm_eps, h + std::size_t(t) * E, E);
      linear(pool, blk.gate, h, n, s.gate.data(), s, row_stride);
      linear(pool, blk.up, h, n, s.up.data(), s, row_stride);
      for (std::size_t i = 0; i < std::size_t(n) * F; ++i) {
        const float g = s.gate[i];
        s.gate[i] = g / (1.0f + std::exp(-g)) * s.up[i];  // silu(gate) * up
      }
      linear(pool, blk.down, s.gate.data(), n, h, s, row_stride);
      for (std::size_t i = 0; i < std::size_t(n) * E; ++i) x[i] += h[i];
    }
  }

  // Final norm and the output head, for every token or only the last.
  const std::uint32_t first = all_logits ? 0 : n - 1;
  const std::uint32_t count = n - first;
  for (std::uint32_t t = first; t < n; ++t)
    vec::rms_norm(x + std::size_t(t) * E, output_norm_, c.rms_norm_eps, h + std::size_t(t - first) * E, E);
  linear(pool, output_, h, count, logits, s, row_stride);
}

}  // namespace mobilellm
