// NEON per-row activation quantizer (contract in kernels/kernels.hpp), bit-identical to the scalar
// reference, because every step is the same IEEE operation: the maximum is exact in any order and
// fmaxnm ignores a NaN operand like std::fmax; the scale is the same scalar division; each element
// is an IEEE division (fdiv), rounded half away from zero by frinta (std::round's rule), clamped by
// fmaxnm/fminnm like the reference's fmax/fmin (so a NaN becomes -127 in both), then converted.
//
// Compiled for the aarch64 baseline (no -march), used by every ARM GEMM variant. Helpers live in an
// unnamed namespace and no standard-library template is used (see kernels/README.md, "ODR").
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neon {
namespace {

constexpr std::uint32_t kBlock = 16;  // floats per iteration: 4 vectors, one 16-byte store

// 16 consecutive floats of a row.
struct Floats16 {
  float32x4_t x[4];
};

Floats16 load16(const float* p) {
  return {{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}};
}

// The last 1..15 floats of a row, then zeros: nothing past the row is read, and the zeros change
// neither the maximum of absolute values nor the bytes kept.
Floats16 load_tail(const float* p, std::uint32_t count) {
  float tail[kBlock] = {};
  std::memcpy(tail, p, count * sizeof(float));
  return load16(tail);
}

float row_abs_max(const float* row, std::uint32_t k) {
  float32x4_t m0 = vdupq_n_f32(0.0f), m1 = m0, m2 = m0, m3 = m0;
  std::uint32_t j = 0;
  for (; j + kBlock <= k; j += kBlock) {
    const Floats16 v = load16(row + j);
    m0 = vmaxnmq_f32(m0, vabsq_f32(v.x[0]));
    m1 = vmaxnmq_f32(m1, vabsq_f32(v.x[1]));
    m2 = vmaxnmq_f32(m2, vabsq_f32(v.x[2]));
    m3 = vmaxnmq_f32(m3, vabsq_f32(v.x[3]));
  }
  if (j < k) {
    const Floats16 v = load_tail(row + j, k - j);
    m0 = vmaxnmq_f32(m0, vabsq_f32(v.x[0]));
    m1 = vmaxnmq_f32(m1, vabsq_f32(v.x[1]));
    m2 = vmaxnmq_f32(m2, vabsq_f32(v.x[2]));
    m3 = vmaxnmq_f32(m3, vabsq_f32(v.x[3]));
  }
  return vmaxnmvq_f32(vmaxnmq_f32(vmaxnmq_f32(m0, m1), vmaxnmq_f32(m2, m3)));
}

// round-half-away-from-zero(x / s) clamped to [-127, 127], as int32.
int32x4_t quantize4(float32x4_t x, float32x4_t s) {
  const float32x4_t r = vrndaq_f32(vdivq_f32(x, s));
  const float32x4_t clamped =
      vminnmq_f32(vmaxnmq_f32(r, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f));
  return vcvtq_s32_f32(clamped);
}

// 16 quantized values, in order. They lie in [-127, 127], so the narrowing moves are exact.
int8x16_t quantize16(const Floats16& v, float32x4_t s) {
  const int16x8_t lo = vmovn_high_s32(vmovn_s32(quantize4(v.x[0], s)), quantize4(v.x[1], s));
  const int16x8_t hi = vmovn_high_s32(vmovn_s32(quantize4(v.x[2], s)), quantize4(v.x[3], s));
  return vmovn_high_s16(vmovn_s16(lo), hi);
}

void quantize(std::uint32_t m, std::uint32_t k, std::uint32_t k_padded, const float* x,
              std::size_t x_stride, std::int8_t* q, std::size_t q_stride, float* scale) {
  for (std::uint32_t i = 0; i < m; ++i) {
    const float* row = x + i * x_stride;
    std::int8_t* out = q + i * q_stride;

    const float abs_max = row_abs_max(row, k);
    const float s = abs_max >= kQuantizeMinAbsMax ? abs_max / 127.0f : 1.0f;
    scale[i] = s;
    const float32x4_t vs = vdupq_n_f32(s);

    std::uint32_t j = 0;
    for (; j + kBlock <= k; j += kBlock) vst1q_s8(out + j, quantize16(load16(row + j), vs));
    if (j < k) {
      std::int8_t tail[kBlock];
      vst1q_s8(tail, quantize16(load_tail(row + j, k - j), vs));
      std::memcpy(out + j, tail, k - j);
    }
    std::memset(out + k, 0, k_padded - k);
  }
}

}  // namespace

extern constinit const QuantizeVariant quantize_qs8dx_f32 = {
    .name = "quantize_qs8dx_f32__neon",
    .isa = "neon",
    .supported = isa_neon_supported,
    .run = quantize,
};

}  // namespace mobilellm::kernels::neon
