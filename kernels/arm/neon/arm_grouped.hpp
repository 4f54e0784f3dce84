// Pieces shared by the three ARM group-wise W8A8 variants (contract: kernels/kernels.hpp,
// "group-wise W8A8"): the packed layout and the driver that turns each group's int32 sums into
// the float result. Only Armv8.0 Advanced SIMD instructions, valid in every ARM translation unit.
// Everything is in an unnamed namespace on purpose (see arm_common.hpp and kernels/README.md,
// "ODR"): each ISA unit gets its own copies built with its own flags.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels::arm {
namespace {

// The grouped layout ("<nr>c<kr>", per group): columns in blocks of Nr (the last block zero-padded,
// scale 0), K zero-padded to a multiple of 32. A block is, for each group of 32 K, a header of the
// Nr columns' float scales followed by 32 / Kr steps of Nr * Kr bytes; a step holds, for columns
// 0..Nr-1 in order, that column's Kr consecutive int8 weights (as in BlockedLayout, restricted to
// one group). So a block is one contiguous stream and the scales of a group come just before its
// weights.
template <std::uint32_t Nr, std::uint32_t Kr>
struct GroupedLayout {
  static constexpr std::uint32_t kSteps = kGroupSize / Kr;
  static constexpr std::size_t kHeaderBytes = std::size_t{Nr} * sizeof(float);
  static constexpr std::size_t kStepBytes = std::size_t{Nr} * Kr;
  static constexpr std::size_t kGroupBytes = kHeaderBytes + kSteps * kStepBytes;

  static std::size_t block_bytes(std::uint32_t k) { return group_count(k) * kGroupBytes; }

  static std::size_t packed_size(std::uint32_t n, std::uint32_t k) {
    return static_cast<std::size_t>((n + Nr - 1) / Nr) * block_bytes(k);
  }

  static void pack(std::uint32_t n, std::uint32_t k, const std::int8_t* w, const float* w_scale,
                   void* packed) {
    auto* out = static_cast<std::uint8_t*>(packed);
    const std::uint32_t blocks = (n + Nr - 1) / Nr, groups = group_count(k);
    for (std::uint32_t b = 0; b < blocks; ++b) {
      for (std::uint32_t g = 0; g < groups; ++g) {
        for (std::uint32_t c = 0; c < Nr; ++c) {
          const std::uint32_t col = b * Nr + c;
          const float s = col < n ? w_scale[static_cast<std::size_t>(col) * groups + g] : 0.0f;
          std::memcpy(out, &s, sizeof s);
          out += sizeof s;
        }
        for (std::uint32_t s = 0; s < kSteps; ++s) {
          for (std::uint32_t c = 0; c < Nr; ++c) {
            const std::uint32_t col = b * Nr + c;
            for (std::uint32_t t = 0; t < Kr; ++t) {
              const std::uint32_t kk = g * kGroupSize + s * Kr + t;
              const std::int8_t v =
                  col < n && kk < k ? w[static_cast<std::size_t>(col) * k + kk] : 0;
              *out++ = static_cast<std::uint8_t>(v);
            }
          }
        }
      }
    }
  }

  // The block holding column `col` (a multiple of Nr).
  static const std::uint8_t* block(const void* packed, std::uint32_t col, std::uint32_t k) {
    return static_cast<const std::uint8_t*>(packed) + (col / Nr) * block_bytes(k);
  }
};

// One row's Nr column sums of one group (columns 4q..4q+3 in v[q]), and its float accumulators.
template <std::uint32_t Nr>
struct RowSums {
  int32x4_t v[Nr / 4];
};
template <std::uint32_t Nr>
struct RowAcc {
  float32x4_t v[Nr / 4];
};

template <std::uint32_t Nr>
RowAcc<Nr> zero_acc() {
  RowAcc<Nr> acc;
  for (std::uint32_t q = 0; q < Nr / 4; ++q) acc.v[q] = vdupq_n_f32(0.0f);
  return acc;
}

// acc = acc + (a_scale * w_scale) * float(sum), the contract's expression, lane by lane (built
// with -ffp-contract=off: no fused multiply-add; vcvtq_f32_s32 is exact here, |sum| < 2^24).
template <std::uint32_t Nr>
void rescale_add(RowAcc<Nr>& acc, float a_scale, const std::uint8_t* header,
                 const RowSums<Nr>& sums) {
  for (std::uint32_t q = 0; q < Nr / 4; ++q) {
    float32x4_t w_scale;
    std::memcpy(&w_scale, header + 16 * q, sizeof w_scale);
    const float32x4_t scale = vmulq_n_f32(w_scale, a_scale);
    acc.v[q] = vaddq_f32(acc.v[q], vmulq_f32(scale, vcvtq_f32_s32(sums.v[q])));
  }
}

// Columns [col, min(col + Nr, n_end)) of one row.
template <std::uint32_t Nr>
void store_f32(float* c, std::uint32_t col, std::uint32_t n_end, const RowAcc<Nr>& acc) {
  for (std::uint32_t q = 0; q < Nr / 4 && col + 4 * q < n_end; ++q) {
    const std::uint32_t left = n_end - col - 4 * q;
    if (left >= 4) {
      vst1q_f32(c + col + 4 * q, acc.v[q]);
    } else {
      float lanes[4];
      vst1q_f32(lanes, acc.v[q]);
      std::memcpy(c + col + 4 * q, lanes, left * sizeof(float));
    }
  }
}

// Group g's sums of columns [col, min(col + Nr, n_end)) of one row, to c[j * groups + g].
template <std::uint32_t Nr>
void store_s32(std::int32_t* c, std::uint32_t col, std::uint32_t n_end, std::uint32_t groups,
               std::uint32_t g, const RowSums<Nr>& sums) {
  std::int32_t lanes[Nr];
  for (std::uint32_t q = 0; q < Nr / 4; ++q) vst1q_s32(lanes + 4 * q, sums.v[q]);
  for (std::uint32_t j = 0; j < Nr && col + j < n_end; ++j) {
    c[static_cast<std::size_t>(col + j) * groups + g] = lanes[j];
  }
}

// The GEMM driver: column blocks outermost, then Mr-row tiles, then groups. `tile` computes one
// group of one tile: tile(rows at the group's first activation, the group's first step, sums);
// fewer than Mr remaining rows are passed as repeats of the last one (computed, not stored).
// `c32` (test path) receives the group sums; otherwise `c` the rescaled result.
template <std::uint32_t Mr, std::uint32_t Nr, std::uint32_t Kr, typename Tile>
void grouped_gemm(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                  const std::int8_t* a, std::size_t a_stride, const float* a_scale,
                  const void* packed, float* c, std::int32_t* c32, std::size_t c_stride,
                  Tile tile) {
  using Layout = GroupedLayout<Nr, Kr>;
  const std::uint32_t groups = group_count(k);
  for (std::uint32_t col = n_begin; col < n_end; col += Nr) {
    const std::uint8_t* block = Layout::block(packed, col, k);
    for (std::uint32_t row = 0; row < m; row += Mr) {
      const std::uint32_t rows = m - row < Mr ? m - row : Mr;
      RowAcc<Nr> acc[Mr];
      for (std::uint32_t r = 0; r < Mr; ++r) acc[r] = zero_acc<Nr>();
      const std::uint8_t* group = block;
      for (std::uint32_t g = 0; g < groups; ++g, group += Layout::kGroupBytes) {
        const std::int8_t* rows_a[Mr];
        for (std::uint32_t r = 0; r < Mr; ++r) {
          rows_a[r] = a + (row + (r < rows ? r : rows - 1)) * a_stride +
                      static_cast<std::size_t>(g) * kGroupSize;
        }
        RowSums<Nr> sums[Mr];
        tile(rows_a, reinterpret_cast<const std::int8_t*>(group + Layout::kHeaderBytes), sums);
        for (std::uint32_t r = 0; r < rows; ++r) {
          if (c32 != nullptr) {
            store_s32<Nr>(c32 + (row + r) * c_stride, col, n_end, groups, g, sums[r]);
          } else {
            rescale_add<Nr>(acc[r], a_scale[static_cast<std::size_t>(row + r) * groups + g], group,
                            sums[r]);
          }
        }
      }
      if (c32 != nullptr) continue;
      for (std::uint32_t r = 0; r < rows; ++r) {
        store_f32<Nr>(c + (row + r) * c_stride, col, n_end, acc[r]);
      }
    }
  }
}

// The GEMV driver: `tile1(a at the group, the group's first step, sums)` for one row.
template <std::uint32_t Nr, std::uint32_t Kr, typename Tile1>
void grouped_gemv(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                  const std::int8_t* a, const float* a_scale, const void* packed, float* c,
                  Tile1 tile1) {
  using Layout = GroupedLayout<Nr, Kr>;
  const std::uint32_t groups = group_count(k);
  for (std::uint32_t col = n_begin; col < n_end; col += Nr) {
    const std::uint8_t* group = Layout::block(packed, col, k);
    RowAcc<Nr> acc = zero_acc<Nr>();
    for (std::uint32_t g = 0; g < groups; ++g, group += Layout::kGroupBytes) {
      RowSums<Nr> sums;
      tile1(a + static_cast<std::size_t>(g) * kGroupSize,
            reinterpret_cast<const std::int8_t*>(group + Layout::kHeaderBytes), sums);
      rescale_add<Nr>(acc, a_scale[g], group, sums);
    }
    store_f32<Nr>(c, col, n_end, acc);
  }
}

}  // namespace
}  // namespace mobilellm::kernels::arm
