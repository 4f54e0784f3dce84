#include "runtime/vec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <xsimd/xsimd.hpp>

#include "common/half.hpp"

namespace mobilellm::vec {

using batch = xsimd::batch<float>;
constexpr std::size_t W = batch::size;

float dot(const float* a, const float* b, std::size_t n) {
  batch s0(0.0f), s1(0.0f);
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    s0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), s0);
    s1 = xsimd::fma(batch::load_unaligned(a + i + W), batch::load_unaligned(b + i + W), s1);
  }
  for (; i + W <= n; i += W) s0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), s0);
  float s = xsimd::hadd(s0 + s1);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

namespace {

// kRows rows at a time, one accumulator each: at least 8 rows, so that enough independent add
// chains hide the latency on narrow vectors.
constexpr std::size_t kRows = W >= 8 ? W : 8;

// dots[r] = sum over j < d_vec of q[j] * block[r * d + j], for r < kRows (d_vec: whole vectors).
// Kept out of line: alone, the compiler holds every accumulator in a register (no spill inside
// the loop, which would serialize it).
[[gnu::noinline]] void dot_block(const float* q, const float* block, std::size_t d,
                                 std::size_t d_vec, float* dots) {
  batch acc[kRows];
  for (auto& a : acc) a = batch(0.0f);
  for (std::size_t j = 0; j < d_vec; j += W) {
    const batch qv = batch::load_unaligned(q + j);
#pragma GCC unroll 32
    for (std::size_t r = 0; r < kRows; ++r)
      acc[r] = xsimd::fma(qv, batch::load_unaligned(block + r * d + j), acc[r]);
  }
  for (std::size_t g = 0; g < kRows; g += W) xsimd::haddp(acc + g).store_unaligned(dots + g);
}

}  // namespace

void dot_rows(const float* q, const float* rows, std::size_t d, std::size_t n, float scale,
              float* scores) {
  const std::size_t d_vec = d / W * W;
  std::size_t p = 0;
  for (; p + kRows <= n; p += kRows) {
    const float* block = rows + p * d;
    dot_block(q, block, d, d_vec, scores + p);
    for (std::size_t r = 0; r < kRows; ++r) {
      float s = scores[p + r];
      for (std::size_t j = d_vec; j < d; ++j) s += q[j] * block[r * d + j];  // head_dim % W
      scores[p + r] = s * scale;
    }
  }
  for (; p < n; ++p) scores[p] = dot(q, rows + p * d, d) * scale;
}

namespace {
// out[j .. j + C*W) = scale * sum_p w[p] * rows[p][j .. j + C*W), the C vectors in registers.
template <std::size_t C>
void weighted_sum_columns(const float* w, const float* rows, std::size_t d, std::size_t n,
                          float scale, std::size_t j, float* out) {
  batch acc[C];
  for (auto& a : acc) a = batch(0.0f);
  for (std::size_t p = 0; p < n; ++p) {
    const batch wp(w[p]);
    const float* row = rows + p * d + j;
#pragma GCC unroll 8  // keeps acc[] in registers
    for (std::size_t i = 0; i < C; ++i)
      acc[i] = xsimd::fma(wp, batch::load_unaligned(row + i * W), acc[i]);
  }
  for (std::size_t i = 0; i < C; ++i) (acc[i] * batch(scale)).store_unaligned(out + j + i * W);
}
}  // namespace

void weighted_sum_rows(const float* w, const float* rows, std::size_t d, std::size_t n,
                       float scale, float* out) {
  // Columns in chunks of 8 vectors (one vector at the end), each chunk accumulated over all rows.
  constexpr std::size_t kChunk = 8;
  std::size_t j = 0;
  for (; j + kChunk * W <= d; j += kChunk * W)
    weighted_sum_columns<kChunk>(w, rows, d, n, scale, j, out);
  for (; j + W <= d; j += W) weighted_sum_columns<1>(w, rows, d, n, scale, j, out);
  for (; j < d; ++j) {
    float t = 0.0f;
    for (std::size_t p = 0; p < n; ++p) t += w[p] * rows[p * d + j];
    out[j] = t * scale;
  }
}

void add(const float* x, float* y, std::size_t n) {
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    (batch::load_unaligned(x + i) + batch::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += x[i];
}

void rms_norm(const float* x, const float* w, float eps, float* y, std::size_t n) {
  const float ms = dot(x, x, n) / float(n);
  const float r = 1.0f / std::sqrt(ms + eps);
  const batch rv(r);
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    (batch::load_unaligned(x + i) * rv * batch::load_unaligned(w + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = x[i] * r * w[i];
}

float max(const float* x, std::size_t n) {
  batch mv(x[0]);
  std::size_t i = 0;
  for (; i + W <= n; i += W) mv = xsimd::max(mv, batch::load_unaligned(x + i));
  alignas(64) float lanes[W];
  mv.store_aligned(lanes);
  float m = *std::max_element(lanes, lanes + W);
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

float exp_sum(float* x, std::size_t n, float m) {
  const batch mb(m);
  batch sv(0.0f);
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    const batch e = xsimd::exp(batch::load_unaligned(x + i) - mb);
    e.store_unaligned(x + i);
    sv += e;
  }
  float s = xsimd::hadd(sv);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    s += x[i];
  }
  return s;
}

void silu_mul(float* gate, const float* up, std::size_t n) {
  const batch one(1.0f);
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    const batch g = batch::load_unaligned(gate + i);
    (g / (one + xsimd::exp(-g)) * batch::load_unaligned(up + i)).store_unaligned(gate + i);
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void f16_to_f32(const std::uint16_t* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = mobilellm::f16_to_f32(in[i]);
}

void bf16_to_f32(const std::uint16_t* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = mobilellm::bf16_to_f32(in[i]);
}

void i8_to_f32(const std::int8_t* in, float scale, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = float(in[i]) * scale;
}

}  // namespace mobilellm::vec
