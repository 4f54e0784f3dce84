// The scalar reference of the per-row activation quantizer (contract in kernels/kernels.hpp).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels::scalar {
namespace {

void quantize(std::uint32_t m, std::uint32_t k, std::uint32_t k_padded, const float* x,
              std::size_t x_stride, std::int8_t* q, std::size_t q_stride, float* scale) {
  for (std::uint32_t i = 0; i < m; ++i) {
    const float* row = x + i * x_stride;
    std::int8_t* out = q + i * q_stride;

    // fmax ignores a NaN operand, so NaNs never become the maximum.
    float abs_max = 0.0f;
    for (std::uint32_t j = 0; j < k; ++j) abs_max = std::fmax(abs_max, std::fabs(row[j]));
    const float s = abs_max >= kQuantizeMinAbsMax ? abs_max / 127.0f : 1.0f;
    scale[i] = s;

    for (std::uint32_t j = 0; j < k; ++j) {
      // std::round rounds halfway cases away from zero. fmax/fmin map NaN to -127, so the
      // conversion below always sees an integer in [-127, 127].
      const float r = std::fmin(std::fmax(std::round(row[j] / s), -127.0f), 127.0f);
      out[j] = static_cast<std::int8_t>(r);
    }
    std::memset(out + k, 0, k_padded - k);
  }
}

}  // namespace

extern constinit const QuantizeVariant quantize_qs8dx_f32 = {
    .name = "quantize_qs8dx_f32__scalar",
    .isa = "scalar",
    .supported = isa_scalar_supported,
    .run = quantize,
};

}  // namespace mobilellm::kernels::scalar
