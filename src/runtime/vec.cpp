#include "runtime/vec.hpp"

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

void axpy(float a, const float* x, float* y, std::size_t n) {
  const batch av(a);
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    xsimd::fma(av, batch::load_unaligned(x + i), batch::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

void rms_norm(const float* x, const float* w, float eps, float* y, std::size_t n) {
  const float ms = dot(x, x, n) / float(n);
  const float r = 1.0f / std::sqrt(ms + eps);
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * r * w[i];
}

void softmax(float* x, std::size_t n) {
  float m = x[0];
  for (std::size_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  float s = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    s += x[i];
  }
  const float inv = 1.0f / s;
  for (std::size_t i = 0; i < n; ++i) x[i] *= inv;
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
