// The scalar reference of the float32 attention kernels: the contract of kernels/kernels.hpp
// ("attention"), one row at a time, operation by operation. The tests' oracle for the bits of the
// other variants (whose own correctness is checked against a float64 attention in the tests).
// A float16 cache's rows are widened one at a time with the runtime's exact conversion
// (common/half.hpp), then read as float32 rows.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/half.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::scalar {
namespace {

// E(x) of the contract. std::fma is the IEEE fused multiply-add, rounded once, as the vector
// instructions are.
float contract_exp(float x) {
  if (!(x >= kAttentionExpMin)) return 0.0f;
  if (x > 0.0f) x = 0.0f;
  const float round = 12582912.0f;  // 1.5 * 2^23
  const float n = (x * 1.44269504088896341f + round) - round;
  float r = std::fma(n, -0.693359375f, x);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  const float y = std::fma(p, r * r, r) + 1.0f;
  const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
  float pow2;
  std::memcpy(&pow2, &bits, sizeof pow2);
  return y * pow2;
}

// One chunk's weighted sum of values, and one key row and one value row widened from float16.
std::size_t workspace_size(std::uint32_t head_dim) {
  return 3 * std::size_t{head_dim} * sizeof(float);
}

// Row p (D elements) of a KV head's keys or values as float32: in place for a float32 cache,
// else widened into `buf`.
const float* cache_row(const void* base, KvType kv, std::uint64_t p, std::uint32_t D, float* buf) {
  if (kv == KvType::f32) return static_cast<const float*>(base) + p * D;
  const std::uint16_t* h = static_cast<const std::uint16_t*>(base) + p * D;
  for (std::uint32_t d = 0; d < D; ++d) buf[d] = f16_to_f32(h[d]);
  return buf;
}

// The contract's quantities of chunk c of one row (of len positions): oc[0..D), m_c, l_c. A chunk
// past the row's positions gives oc = 0, m_c = -inf, l_c = 0. `rows` holds 2 D floats (the
// widened rows of a float16 cache).
void chunk_of_row(const AttentionArgs& a, const float* q, std::uint64_t len, std::uint32_t c,
                  float* oc, float& m_c, float& l_c, float* rows) {
  const std::uint32_t D = a.head_dim;
  const std::uint64_t p0 = std::uint64_t{c} * kAttentionChunk;
  const std::uint32_t count = p0 >= len ? 0
                              : len - p0 < kAttentionChunk
                                  ? static_cast<std::uint32_t>(len - p0)
                                  : kAttentionChunk;
  float s[kAttentionChunk];
  m_c = -std::numeric_limits<float>::infinity();
  for (std::uint32_t i = 0; i < count; ++i) {
    const float* k = cache_row(a.k, a.kv_type, p0 + i, D, rows);
    float chain[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (std::uint32_t d = 0; d < D; ++d)
      chain[d % 4] = std::fma(q[d] * a.scale, k[d], chain[d % 4]);
    s[i] = (chain[0] + chain[1]) + (chain[2] + chain[3]);
    m_c = std::fmax(m_c, s[i]);
  }
  l_c = 0.0f;
  for (std::uint32_t j = 0; j < D; ++j) oc[j] = 0.0f;
  for (std::uint32_t i = 0; i < count; ++i) {
    const float e = contract_exp(s[i] - m_c);
    l_c = l_c + e;
    const float* v = cache_row(a.v, a.kv_type, p0 + i, D, rows + D);
    for (std::uint32_t j = 0; j < D; ++j) oc[j] = std::fma(e, v[j], oc[j]);
  }
}

// Folds one chunk into a row's running maximum M, sum L and output o.
void fold(std::uint32_t D, const float* oc, float m_c, float l_c, float& M, float& L, float* o) {
  const float m = std::fmax(M, m_c);
  const float fa = contract_exp(M - m), fb = contract_exp(m_c - m);
  L = std::fma(l_c, fb, L * fa);
  for (std::uint32_t j = 0; j < D; ++j) o[j] = std::fma(oc[j], fb, o[j] * fa);
  M = m;
}

const float* query(const AttentionArgs& a, std::uint32_t row) {
  return a.q + row / a.group * a.q_stride + std::size_t{row % a.group} * a.head_dim;
}
float* output(const AttentionArgs& a, std::uint32_t row) {
  return a.out + row / a.group * a.out_stride + std::size_t{row % a.group} * a.head_dim;
}
std::uint64_t length(const AttentionArgs& a, std::uint32_t row) {
  return std::uint64_t{a.pos0} + row / a.group + 1;
}

void attention(const AttentionArgs& a, std::uint32_t row_begin, std::uint32_t row_end,
               void* workspace) {
  const std::uint32_t D = a.head_dim;
  float* oc = static_cast<float*>(workspace);  // one chunk's weighted sum of values
  float* rows = oc + D;                          // widened key and value rows
  for (std::uint32_t row = row_begin; row < row_end; ++row) {
    float* o = output(a, row);
    const std::uint64_t len = length(a, row);
    float M = -std::numeric_limits<float>::infinity(), L = 0.0f;
    for (std::uint32_t j = 0; j < D; ++j) o[j] = 0.0f;
    for (std::uint32_t c = 0; std::uint64_t{c} * kAttentionChunk < len; ++c) {
      float m_c, l_c;
      chunk_of_row(a, query(a, row), len, c, oc, m_c, l_c, rows);
      fold(D, oc, m_c, l_c, M, L, o);
    }
    for (std::uint32_t j = 0; j < D; ++j) o[j] = o[j] / L;
  }
}

void chunk_partials(const AttentionArgs& a, std::uint32_t row_begin, std::uint32_t row_end,
                    std::uint32_t chunk, float* partials, void* workspace) {
  const std::uint32_t D = a.head_dim;
  float* rows = static_cast<float*>(workspace);
  for (std::uint32_t row = row_begin; row < row_end; ++row) {
    float* part = partials + std::size_t{row - row_begin} * (D + 2);
    chunk_of_row(a, query(a, row), length(a, row), chunk, part, part[D], part[D + 1], rows);
  }
}

void fold_partials(const AttentionArgs& a, std::uint32_t row_begin, std::uint32_t row_end,
                   std::uint32_t chunks, const float* partials) {
  const std::uint32_t D = a.head_dim, n = row_end - row_begin;
  for (std::uint32_t row = row_begin; row < row_end; ++row) {
    float* o = output(a, row);
    float M = -std::numeric_limits<float>::infinity(), L = 0.0f;
    for (std::uint32_t j = 0; j < D; ++j) o[j] = 0.0f;
    for (std::uint32_t c = 0; c < chunks; ++c) {
      const float* part = partials + (std::size_t{c} * n + row - row_begin) * (D + 2);
      fold(D, part, part[D], part[D + 1], M, L, o);
    }
    for (std::uint32_t j = 0; j < D; ++j) o[j] = o[j] / L;
  }
}

}  // namespace

extern constinit const AttentionVariant attention_f32_gqa_1x1 = {
    .name = "attention_f32_gqa__scalar_1x1",
    .kvf16_name = "attention_f32_gqa_kvf16__scalar_1x1",
    .isa = "scalar",
    .supported = isa_scalar_supported,
    .tile_rows = 1,
    .workspace_size = workspace_size,
    .run = attention,
    .chunk_partials = chunk_partials,
    .fold_partials = fold_partials,
};

}  // namespace mobilellm::kernels::scalar
