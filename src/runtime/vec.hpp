// Portable float vector loops of the forward pass (xsimd, baseline ISA: no ISA flags here).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mobilellm::vec {

float dot(const float* a, const float* b, std::size_t n);
// y[i] += a * x[i]
void axpy(float a, const float* x, float* y, std::size_t n);
// y[i] = x[i] * w[i] / sqrt(mean(x^2) + eps)
void rms_norm(const float* x, const float* w, float eps, float* y, std::size_t n);
// In-place numerically stable softmax.
void softmax(float* x, std::size_t n);
// Widening conversions of one row.
void f16_to_f32(const std::uint16_t* in, float* out, std::size_t n);
void bf16_to_f32(const std::uint16_t* in, float* out, std::size_t n);
void i8_to_f32(const std::int8_t* in, float scale, float* out, std::size_t n);

}  // namespace mobilellm::vec
