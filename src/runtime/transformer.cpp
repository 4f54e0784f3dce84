// The forward pass of MobileLLM, from token ids to logits, in float32.
//
// Follow one token: its embedding row becomes the residual stream x. Each stored block is applied
// once, or twice in a row with layer sharing (each application is its own attention layer with its
// own KV-cache slot). An application is
//     x += Wo · attention(rope(Wq · norm(x)), rope(Wk · norm(x)), Wv · norm(x))
//     x += Wdown · (silu(Wgate · norm(x)) * (Wup · norm(x)))
// with RMSNorm and grouped-query attention (query head h reads KV head h / (heads / kv_heads)).
// Finally logits = Wout · norm(x), where Wout is the embedding matrix when embeddings are shared.
//
// How it runs. The weights are read where the model file is mapped (W8A8 decode: the GEMV reads
// the int8 rows; prefill: the GEMM repacks panels of them into a per-thread workspace). A linear
// layer's input is prepared once (W8A8: quantized to int8, one scale per token) and shared by the
// layers that read it: q, k and v run in one parallel region, split over their rows taken
// together, and so do gate and up, each thread applying silu(gate) * up to the rows it computed.
// A decode step applies a block in five parallel regions (q/k/v, attention, o, gate/up, down);
// the norms, quantization, RoPE and residual adds between them are short and run on the calling
// thread (a batch quantizes its rows in parallel). Splits are static (thread t always takes part
// t), so the second application of a shared block finds its part of the weights in the caches of
// the same core. Attention reads each KV head's cache rows as one contiguous stream, in chunks
// (see attention()). The logits are computed for the last token only unless all are asked for.
#include "runtime/transformer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "common/checked.hpp"
#include "common/half.hpp"
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
  m.stride = m.cols;  // the file stores whole rows back to back
  if (w.type == TensorType::i8) {
    m.scales = reinterpret_cast<const float*>(scale->data);
    // The loader checked the shape: {rows} per row, {groups, rows} per group of kGroupSize.
    if (scale->dims.size() == 2) m.groups = static_cast<std::uint32_t>(scale->dims[0]);
  }
  return m;
}

// The kernels' sums are exact only up to kMaxK products per row (kernels.hpp). The loader allows
// longer rows, so an int8 matrix is checked here, before the kernels see it.
void check_kernel_limits(const ModelFile& f, const TensorView& w) {
  if (w.type != TensorType::i8 || w.cols() <= kernels::kMaxK) return;
  throw UnsupportedError(f.path() + ": " + w.name + ": rows of " + std::to_string(w.cols()) +
                         " int8 elements; the W8A8 kernels accept at most " +
                         std::to_string(kernels::kMaxK));
}

const float* f32(const TensorView& t) { return reinterpret_cast<const float*>(t.data); }

// Row `r` of `m` as float32: a pointer into the file for F32, else converted into `buf`.
const float* row_f32(const Matrix& m, std::uint32_t r, float* buf) {
  const std::size_t off = std::size_t(r) * m.stride;
  switch (m.type) {
    case TensorType::f32: return reinterpret_cast<const float*>(m.data) + off;
    case TensorType::f16:
      vec::f16_to_f32(reinterpret_cast<const std::uint16_t*>(m.data) + off, buf, m.cols);
      return buf;
    case TensorType::bf16:
      vec::bf16_to_f32(reinterpret_cast<const std::uint16_t*>(m.data) + off, buf, m.cols);
      return buf;
    case TensorType::i8: {
      if (m.groups == 0) {
        vec::i8_to_f32(m.i8() + off, m.scales[r], buf, m.cols);
        return buf;
      }
      const float* scales = m.scales + std::size_t(r) * m.groups;
      for (std::uint32_t g = 0; g < m.groups; ++g) {
        const std::uint32_t begin = g * kernels::kGroupSize;
        vec::i8_to_f32(m.i8() + off + begin, scales[g], buf + begin,
                       std::min(kernels::kGroupSize, m.cols - begin));
      }
      return buf;
    }
  }
  return buf;
}

// Part `t` of `parts` of the rows [0, rows): contiguous, in order, cut on multiples of `block`
// (the kernels' tile width), as even as whole blocks allow.
struct Range {
  std::uint32_t begin, end;
};
Range split(std::uint32_t rows, std::uint32_t block, unsigned t, unsigned parts) {
  const std::uint64_t blocks = (std::uint64_t(rows) + block - 1) / block;
  const std::uint64_t b0 = blocks * t / parts, b1 = blocks * (t + 1) / parts;
  return {std::uint32_t(std::min<std::uint64_t>(rows, b0 * block)),
          std::uint32_t(std::min<std::uint64_t>(rows, b1 * block))};
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

std::size_t round_up(std::size_t n, std::size_t align) { return (n + align - 1) / align * align; }

}  // namespace

KvCache::KvCache(const ModelConfig& c, std::uint32_t capacity, kernels::KvType type)
    : type_(type), capacity_(capacity), heads_(c.head_count_kv), head_dim_(c.head_dim) {
  auto n = checked_mul(c.applied_block_count(), capacity);
  if (n) n = checked_mul(*n, std::uint64_t(heads_) * head_dim_);
  if (n) n = checked_mul(*n, 2 * element_bytes());
  if (!n || *n > (std::uint64_t(1) << 40))
    throw InvalidArgument("KV cache for a context of " + std::to_string(capacity) +
                          " tokens is too large");
  elements_ = *n / (2 * element_bytes());
  // operator new[] aligns for any fundamental type (float included); left uninitialized.
  k_.reset(new std::byte[elements_ * element_bytes()]);
  v_.reset(new std::byte[elements_ * element_bytes()]);
}

void KvCache::store(std::uint32_t layer, std::uint32_t head, std::uint32_t p, const float* key,
                    const float* value) {
  std::byte* k = at(k_, layer, head, p);
  std::byte* v = at(v_, layer, head, p);
  if (type_ == kernels::KvType::f32) {
    std::memcpy(k, key, head_dim_ * sizeof(float));
    std::memcpy(v, value, head_dim_ * sizeof(float));
    return;
  }
  for (std::uint32_t d = 0; d < head_dim_; ++d) {
    const std::uint16_t hk = f32_to_f16(key[d]), hv = f32_to_f16(value[d]);
    std::memcpy(k + 2 * std::size_t(d), &hk, 2);
    std::memcpy(v + 2 * std::size_t(d), &hv, 2);
  }
}

Scratch::Scratch(const Transformer& t, unsigned thread_count, std::uint32_t context) : t_(t) {
  const ModelConfig& c = t.config_;
  // Each thread's aligned block: the GEMM workspace, then the attention kernel's.
  const std::size_t ws = round_up(t.workspace_bytes_, kernels::kPackedAlignment);
  const std::size_t att =
      round_up(t.attention_->workspace_size(c.head_dim), kernels::kPackedAlignment);
  workspaces_.reset(new (std::align_val_t(kernels::kPackedAlignment))
                        std::byte[(ws + att) * thread_count]);
  per_thread_.resize(std::size_t(thread_count) * t.max_cols_);
  for (unsigned i = 0; i < thread_count; ++i) {
    std::byte* block = workspaces_.get() + i * (ws + att);
    threads.push_back({ws > 0 ? block : nullptr, block + ws, per_thread_.data() + i * t.max_cols_});
  }
  const std::size_t chunks = (std::size_t(context) + kAttentionChunk - 1) / kAttentionChunk;
  partials.resize(std::size_t(c.head_count) * chunks * (c.head_dim + 2));
  reserve_tokens(1);
}

void Scratch::reserve_tokens(std::uint32_t n) {
  if (n <= tokens_) return;
  const ModelConfig& c = t_.config_;
  const std::size_t E = c.embedding_length, F = c.feed_forward_length;
  const std::size_t Dq = std::size_t(c.head_count) * c.head_dim;
  const std::size_t Dkv = std::size_t(c.head_count_kv) * c.head_dim;
  x.resize(n * E);
  h.resize(n * E);
  q.resize(n * Dq);
  k.resize(n * Dkv);
  v.resize(n * Dkv);
  att.resize(n * Dq);
  gate.resize(n * F);
  up.resize(n * F);
  cos.resize(n * std::size_t(c.head_dim / 2));
  sin.resize(n * std::size_t(c.head_dim / 2));
  if (t_.qgemm_) {
    qa.resize(n * std::size_t(kernels::k_padded(t_.max_cols_, t_.qgemm_->kr)));
    qscale.resize(n);
  } else if (t_.qgemm_g32_) {
    qa.resize(n * std::size_t(kernels::k_padded(t_.max_cols_, kernels::kGroupSize)));
    qscale.resize(n * std::size_t(kernels::group_count(t_.max_cols_)));
  }
  tokens_ = n;
}

Transformer::Transformer(const ModelFile& f, const char* kernel_override) : config_(f.config()) {
  const ModelConfig& c = config_;
  embedding_ = bind(f.token_embd(), f.token_embd_scale());
  output_ = bind(f.output(), f.output_scale());
  output_norm_ = f32(f.output_norm());
  blocks_.reserve(c.block_count);
  for (std::uint32_t i = 0; i < c.block_count; ++i) {
    const BlockTensors& b = f.block(i);
    blocks_.push_back(Block{f32(*b.attn_norm), f32(*b.ffn_norm),
                            bind(*b.attn_q, b.attn_q_scale), bind(*b.attn_k, b.attn_k_scale),
                            bind(*b.attn_v, b.attn_v_scale), bind(*b.attn_output, b.attn_output_scale),
                            bind(*b.ffn_gate, b.ffn_gate_scale), bind(*b.ffn_up, b.ffn_up_scale),
                            bind(*b.ffn_down, b.ffn_down_scale)});
  }
  const std::uint32_t Dq = c.head_count * c.head_dim;  // bounded by the file's tensor sizes
  max_cols_ = std::max({c.embedding_length, c.feed_forward_length, Dq});
  // RoPE's inverse frequencies, once per model (the angles depend on the position only).
  for (std::uint32_t i = 0; i < c.head_dim / 2; ++i)
    inv_freq_.push_back(std::pow(double(c.rope_freq_base), -2.0 * i / double(c.head_dim)));
  // Attention of a batch, for every weight type. The override names the W8A8 kernels' ISA, and
  // float models ignore it (LoadOptions::kernels): they take MOBILELLM_KERNELS or the best.
  attention_ =
      &kernels::select_attention(embedding_.type == TensorType::i8 ? kernel_override : nullptr);
  if (embedding_.type != TensorType::i8) return;

  // Every int8 matrix against the kernels' limit, before anything runs.
  check_kernel_limits(f, f.token_embd());
  check_kernel_limits(f, f.output());
  for (std::uint32_t i = 0; i < c.block_count; ++i) {
    const BlockTensors& b = f.block(i);
    for (const TensorView* t : {b.attn_q, b.attn_k, b.attn_v, b.attn_output, b.ffn_gate, b.ffn_up,
                                b.ffn_down})
      check_kernel_limits(f, *t);
  }
  quantize_ = &kernels::select_quantize(kernel_override);
  if (embedding_.groups == 0) {
    // W8A8: pick the kernels once. The weights stay as the file's rows: the decode GEMV reads
    // them directly, and the prefill GEMM repacks panels of them into a per-thread workspace as
    // it goes. The matrices' K: embedding_length (q, k, v, gate, up, output), heads * head_dim
    // (o), and feed_forward_length (down).
    qgemm_ = &kernels::select_qgemm(kernel_override);
    for (std::uint32_t k : {c.embedding_length, c.feed_forward_length, Dq})
      workspace_bytes_ = std::max(workspace_bytes_, kernels::qgemm_workspace_size(*qgemm_, k));
    return;
  }
  // W8A8G32: the grouped kernels read their own layout (weights and group scales interleaved),
  // so every int8 matrix is repacked once, into one aligned arena. The embedding is looked up row
  // by row from the file's rows; it is packed only as the output head.
  qgemm_g32_ = &kernels::select_qgemm_g32(kernel_override);
  std::vector<Matrix*> mats{&output_};
  for (Block& b : blocks_)
    for (Matrix* m : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) mats.push_back(m);
  std::vector<std::uint64_t> offsets;
  std::uint64_t total = 0;
  for (const Matrix* m : mats) {
    offsets.push_back(total);
    const auto bytes =
        checked_align_up(qgemm_g32_->packed_size(m->rows, m->cols), kernels::kPackedAlignment);
    if (!bytes || !checked_add(total, *bytes)) throw std::bad_alloc();
    total += *bytes;
  }
  packed_.reset(new (std::align_val_t(kernels::kPackedAlignment))
                    std::byte[std::max<std::uint64_t>(total, kernels::kPackedAlignment)]);
  for (std::size_t i = 0; i < mats.size(); ++i) {
    Matrix& m = *mats[i];
    qgemm_g32_->pack(m.rows, m.cols, m.i8(), m.scales, packed_.get() + offsets[i]);
    m.packed = packed_.get() + offsets[i];
  }
}

std::string Transformer::kernels_description(kernels::KvType kv) const {
  const std::string attention = std::string(", ") + attention_->name_for(kv) + " (attention)";
  if (qgemm_g32_) {
    return std::string(qgemm_g32_->gemv_name) + " (decode), " + qgemm_g32_->name + " (prefill), " +
           quantize_->name + " per group of " + std::to_string(kernels::kGroupSize) + attention;
  }
  if (!qgemm_) {
    return std::string("float32 ") + tensor_type_name(embedding_.type) +
           " weights, xsimd loops (baseline ISA)" + attention;
  }
  return std::string(qgemm_->gemv_name) + " (decode), " + qgemm_->name + " (prefill), " +
         quantize_->name + attention;
}

// Threads split a matrix's rows in multiples of this: the W8A8 kernel's tile width (kernels.hpp),
// or 16 rows for the float loops.
std::uint32_t Transformer::row_block() const {
  return qgemm_ ? qgemm_->nr : qgemm_g32_ ? qgemm_g32_->nr : 16;
}

// The input of the linear layers that read X (`count` rows of `cols` floats). W8A8 quantizes it
// once here (a batch in parallel, one row per token; W8A8G32 one scale per group of a row), for
// all of them.
Transformer::Activations Transformer::prepare(const float* X, std::uint32_t count,
                                              std::uint32_t cols, Scratch& s,
                                              ThreadPool& pool) const {
  Activations a{count, X, cols, nullptr, 0, nullptr, 0};
  if (!quantize_) return a;
  const bool grouped = qgemm_g32_ != nullptr;
  const std::uint32_t kp = kernels::k_padded(cols, grouped ? kernels::kGroupSize : qgemm_->kr);
  a.q = s.qa.data();
  a.q_stride = kp;
  a.scale = s.qscale.data();
  a.groups = grouped ? kernels::group_count(cols) : 0;
  auto quantize = [&](std::uint32_t t0, std::uint32_t t1) {
    if (t0 >= t1) return;
    const float* x = X + std::size_t(t0) * cols;
    std::int8_t* q = s.qa.data() + std::size_t(t0) * kp;
    if (grouped)
      kernels::quantize_groups(*quantize_, t1 - t0, cols, x, cols, q, kp,
                               s.qscale.data() + std::size_t(t0) * a.groups);
    else
      quantize_->run(t1 - t0, cols, kp, x, cols, q, kp, s.qscale.data() + t0);
  };
  if (count == 1) {
    quantize(0, 1);
  } else {
    pool.run([&](unsigned t) {
      const Range r = split(count, 1, t, pool.size());
      quantize(r.begin, r.end);
    });
  }
  return a;
}

// Rows [r0, r1) of `m` applied to every row of `a`: y[t][r] for r in [r0, r1). One thread's part
// of a linear layer (r0 on a row_block() boundary).
void Transformer::rows(const Matrix& m, std::uint32_t r0, std::uint32_t r1, const Activations& a,
                       float* y, std::size_t y_stride, const Scratch::Thread& ts) const {
  if (r0 >= r1) return;
  if (m.type == TensorType::i8 && m.groups != 0) {
    if (a.count == 1)
      qgemm_g32_->gemv_f32(r0, r1, m.cols, a.q, a.scale, m.packed, y);
    else
      qgemm_g32_->gemm_f32(a.count, r0, r1, m.cols, a.q, a.q_stride, a.scale, m.packed, y,
                           y_stride);
    return;
  }
  if (m.type == TensorType::i8) {
    if (a.count == 1)
      qgemm_->gemv_f32(r0, r1, m.cols, a.q, a.scale[0], m.i8(), m.stride, m.scales, y);
    else
      kernels::qgemm_f32_canonical(*qgemm_, a.count, r0, r1, m.cols, a.q, a.q_stride, a.scale,
                                   m.i8(), m.stride, m.scales, ts.workspace, y, y_stride);
    return;
  }
  // Float weights: each row is read (and converted) once for the whole batch.
  for (std::uint32_t r = r0; r < r1; ++r) {
    const float* w = row_f32(m, r, ts.row);
    for (std::uint32_t t = 0; t < a.count; ++t)
      y[t * y_stride + r] = vec::dot(w, a.x + t * a.x_stride, m.cols);
  }
}

// Linear layers reading the same input, in one parallel region: their output rows, taken
// together, are cut into blocks of row_block() rows, and each thread computes an even, contiguous
// share of the blocks.
void Transformer::linear(ThreadPool& pool, std::initializer_list<Output> outputs,
                         const Activations& a, Scratch& s) const {
  const std::uint32_t nb = row_block();
  std::uint32_t blocks = 0;
  for (const Output& o : outputs) blocks += (o.m->rows + nb - 1) / nb;
  pool.run([&](unsigned t) {
    const Range mine = split(blocks, 1, t, pool.size());
    std::uint32_t first = 0;  // the first block of output o
    for (const Output& o : outputs) {
      const std::uint32_t count = (o.m->rows + nb - 1) / nb;
      const std::uint32_t b0 = std::max(mine.begin, first), b1 = std::min(mine.end, first + count);
      if (b0 < b1)
        rows(*o.m, (b0 - first) * nb, std::min(o.m->rows, (b1 - first) * nb), a, o.y, o.y_stride,
             s.threads[t]);
      first += count;
    }
  });
}

// s.gate = silu(Wgate · a) * (Wup · a): each thread computes the same rows of gate and up, then
// combines them while they are in its cache.
void Transformer::feed_forward(ThreadPool& pool, const Block& blk, const Activations& a,
                               std::uint32_t n, Scratch& s) const {
  const std::uint32_t F = config_.feed_forward_length;
  pool.run([&](unsigned t) {
    const Range r = split(F, row_block(), t, pool.size());
    if (r.begin == r.end) return;
    rows(blk.gate, r.begin, r.end, a, s.gate.data(), F, s.threads[t]);
    rows(blk.up, r.begin, r.end, a, s.up.data(), F, s.threads[t]);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::size_t row = std::size_t(i) * F + r.begin;
      vec::silu_mul(s.gate.data() + row, s.up.data() + row, r.end - r.begin);
    }
  });
}

// s.att = softmax(q · Kᵀ / sqrt(D)) · V for every query head of the n new tokens, whose keys and
// values are already in the cache; token t attends to positions 0 .. pos0 + t. The attention
// kernel (kernels.hpp, "attention") works on the query rows (token, head) that share a KV head, in
// chunks of kAttentionChunk cached positions, and computes every row the same way however the
// work is split, so the result does not depend on the thread count, nor on whether the tokens
// came in a batch or one by one.
//
// A batch (n >= 2): tiles of the kernel's tile_rows rows, each reading every chunk of keys and
// values once for all its rows. A tile's cost grows with its last token's position, so the
// (KV head, tile) pairs are handed out most expensive first, one at a time (an atomic counter),
// which evens out the threads' shares however the cores are loaded.
// One token (decoding): its rows are only a group's heads, so the threads split the (KV head,
// chunk) pairs instead, any number of threads getting an even share however few heads there
// are; each pair leaves its partial results, which the calling thread folds afterwards.
void Transformer::attention(ThreadPool& pool, std::uint32_t layer, std::uint32_t n,
                            std::uint32_t pos0, KvCache& cache, Scratch& s) const {
  const ModelConfig& c = config_;
  const std::uint32_t D = c.head_dim, Hkv = c.head_count_kv, group = c.head_count / Hkv;
  const std::size_t Dq = std::size_t(c.head_count) * D;
  // The rows of KV head g: its group's query heads of every token.
  auto args = [&](std::uint32_t g) {
    return kernels::AttentionArgs{.head_dim = D,
                                  .group = group,
                                  .pos0 = pos0,
                                  .scale = 1.0f / std::sqrt(float(D)),
                                  .q = s.q.data() + std::size_t(g) * group * D,
                                  .q_stride = Dq,
                                  .k = cache.keys(layer, g),
                                  .v = cache.values(layer, g),
                                  .kv_type = cache.type(),
                                  .out = s.att.data() + std::size_t(g) * group * D,
                                  .out_stride = Dq};
  };

  if (n == 1) {
    const std::uint32_t K = pos0 / kAttentionChunk + 1;   // chunks of positions 0 .. pos0
    const std::size_t part = std::size_t(group) * (D + 2);  // one (KV head, chunk)'s partials
    pool.run([&](unsigned t) {
      const Range units = split(Hkv * K, 1, t, pool.size());  // unit u: KV head u / K, chunk u % K
      for (std::uint32_t u = units.begin; u < units.end; ++u)
        attention_->chunk_partials(args(u / K), 0, group, u % K, s.partials.data() + u * part,
                                   s.threads[t].attention);
    });
    for (std::uint32_t g = 0; g < Hkv; ++g)
      attention_->fold_partials(args(g), 0, group, K, s.partials.data() + g * K * part);
    return;
  }
  const std::uint32_t rows = n * group, tile = attention_->tile_rows;
  const std::uint32_t tiles = (rows + tile - 1) / tile;
  std::atomic<std::uint32_t> next{0};
  pool.run([&](unsigned t) {
    for (std::uint32_t u; (u = next.fetch_add(1, std::memory_order_relaxed)) < tiles * Hkv;) {
      const std::uint32_t g = u % Hkv, first = (tiles - 1 - u / Hkv) * tile;
      attention_->run(args(g), first, std::min(rows, first + tile), s.threads[t].attention);
    }
  });
}

void Transformer::forward(const std::int32_t* tokens, std::uint32_t n, std::uint32_t pos0,
                          KvCache& cache, Scratch& s, ThreadPool& pool, float* logits,
                          bool all_logits) const {
  const ModelConfig& c = config_;
  const std::uint32_t E = c.embedding_length, F = c.feed_forward_length, D = c.head_dim;
  const std::uint32_t H = c.head_count, Hkv = c.head_count_kv;
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

  s.reserve_tokens(n);
  float* x = s.x.data();
  float* h = s.h.data();

  // Token embeddings: the residual stream starts as each token's embedding row.
  for (std::uint32_t t = 0; t < n; ++t) {
    float* xt = x + std::size_t(t) * E;
    const float* e = row_f32(embedding_, std::uint32_t(tokens[t]), xt);
    if (e != xt) std::memcpy(xt, e, E * sizeof(float));
  }

  // Rotation angles of each position, shared by every layer.
  for (std::uint32_t t = 0; t < n; ++t)
    for (std::uint32_t i = 0; i < D / 2; ++i) {
      const double angle = double(pos0 + t) * inv_freq_[i];
      s.cos[std::size_t(t) * D / 2 + i] = float(std::cos(angle));
      s.sin[std::size_t(t) * D / 2 + i] = float(std::sin(angle));
    }

  const std::uint32_t reps = c.layer_sharing ? 2 : 1;
  for (std::uint32_t b = 0; b < c.block_count; ++b) {
    const Block& blk = blocks_[b];
    for (std::uint32_t rep = 0; rep < reps; ++rep) {
      const std::uint32_t layer = b * reps + rep;  // each application has its own KV slot

      // --- attention ---
      for (std::uint32_t t = 0; t < n; ++t)
        vec::rms_norm(x + std::size_t(t) * E, blk.attn_norm, c.rms_norm_eps, h + std::size_t(t) * E, E);
      const Activations normed = prepare(h, n, E, s, pool);
      linear(pool, {{&blk.q, s.q.data(), Dq}, {&blk.k, s.k.data(), Dkv}, {&blk.v, s.v.data(), Dkv}},
             normed, s);
      for (std::uint32_t t = 0; t < n; ++t) {
        const float* cs = s.cos.data() + std::size_t(t) * D / 2;
        const float* sn = s.sin.data() + std::size_t(t) * D / 2;
        float* q = s.q.data() + std::size_t(t) * Dq;
        float* k = s.k.data() + std::size_t(t) * Dkv;
        const float* v = s.v.data() + std::size_t(t) * Dkv;
        for (std::uint32_t hd = 0; hd < H; ++hd) rope(q + hd * D, D, cs, sn);
        for (std::uint32_t g = 0; g < Hkv; ++g) {
          rope(k + g * D, D, cs, sn);
          cache.store(layer, g, pos0 + t, k + g * D, v + g * D);
        }
      }
      attention(pool, layer, n, pos0, cache, s);
      linear(pool, {{&blk.o, h, E}}, prepare(s.att.data(), n, Dq, s, pool), s);
      vec::add(h, x, std::size_t(n) * E);

      // --- SwiGLU feed-forward ---
      for (std::uint32_t t = 0; t < n; ++t)
        vec::rms_norm(x + std::size_t(t) * E, blk.ffn_norm, c.rms_norm_eps, h + std::size_t(t) * E, E);
      feed_forward(pool, blk, prepare(h, n, E, s, pool), n, s);
      linear(pool, {{&blk.down, h, E}}, prepare(s.gate.data(), n, F, s, pool), s);
      vec::add(h, x, std::size_t(n) * E);
    }
  }

  // Final norm and the output head, for every token or only the last.
  const std::uint32_t first = all_logits ? 0 : n - 1;
  const std::uint32_t count = n - first;
  for (std::uint32_t t = first; t < n; ++t)
    vec::rms_norm(x + std::size_t(t) * E, output_norm_, c.rms_norm_eps, h + std::size_t(t - first) * E, E);
  linear(pool, {{&output_, logits, V}}, prepare(h, count, E, s, pool), s);
}

}  // namespace mobilellm
