// Portable float vector loops of the forward pass (xsimd, baseline ISA: no ISA flags here).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mobilellm::vec {

float dot(const float* a, const float* b, std::size_t n);
// y[i] += x[i]
void add(const float* x, float* y, std::size_t n);
// y[i] = x[i] * w[i] / sqrt(mean(x^2) + eps)
void rms_norm(const float* x, const float* w, float eps, float* y, std::size_t n);
// scores[p] = scale * dot(q, rows + p * d) for p < n: one query against n contiguous rows of d
// floats (attention's q · k over a KV head's cached keys).
void dot_rows(const float* q, const float* rows, std::size_t d, std::size_t n, float scale,
              float* scores);
// out[j] = scale * sum_p w[p] * rows[p * d + j] for j < d (attention's weighted sum of cached
// values).
void weighted_sum_rows(const float* w, const float* rows, std::size_t d, std::size_t n,
                       float scale, float* out);
// The largest of x[0 .. n) (n >= 1).
float max(const float* x, std::size_t n);
// x[i] = exp(x[i] - m) in place; returns their sum. With m = max(x, n): softmax(x) = x / sum.
float exp_sum(float* x, std::size_t n, float m);
// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)): SwiGLU's activation, in place.
void silu_mul(float* gate, const float* up, std::size_t n);
// Widening conversions of one row.
void f16_to_f32(const std::uint16_t* in, float* out, std::size_t n);
void bf16_to_f32(const std::uint16_t* in, float* out, std::size_t n);
void i8_to_f32(const std::int8_t* in, float scale, float* out, std::size_t n);

}  // namespace mobilellm::vec
