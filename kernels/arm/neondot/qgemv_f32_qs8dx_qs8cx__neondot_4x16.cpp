// NEON dot-product (FEAT_DotProd, sdot) W8A8 decode GEMV on the model file's canonical rows (no
// packing: kernels.hpp, "Layouts"): c[j] = (a_scale * w_scale[j]) * float(sum_k a[k] * w[j][k]).
//
// 4 rows per step, K in steps of 16 bytes ("4x16"): each 16-byte activation load serves one
// 16-byte load of each of the 4 rows, and sdot adds the 16 products of a row into the 4 lanes of
// that row's accumulator (kernels/arm/neondot/sdot_gemv.hpp: even and odd steps in separate
// accumulators, 8 independent chains). The rows are reduced once, at the end of K, into one int32x4
// holding 4 consecutive outputs, which the float epilogue rescales as a vector. A K tail that is
// not a multiple of 16 is copied, for a and for each row, into a zeroed local step, so no load
// reads past the k bytes of a row; a pass of fewer than 4 rows repeats its last row (computed, not
// stored). Memory: the 4 rows of a pass are 4 interleaved sequential streams through consecutive
// rows of the file, and each step prefetches one 64-byte line of the next pass's rows in address
// order, as the x86 GEMVs do (kernels/arm/neon/arm_common.hpp, gemv_rows4). Its speed on real
// cores is not measured (qemu only; kernels/README.md).
//
// Built with -march=armv8.2-a+dotprod; called only on CPUs that have it. Helpers live in an
// unnamed namespace and no standard-library template is used (see kernels/README.md, "ODR").
#include <cstddef>
#include <cstdint>

#include "kernels/arm/neon/arm_common.hpp"
#include "kernels/arm/neondot/sdot_gemv.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neondot {

// Referenced by the variant's descriptor (qgemm_f32_qs8dx_qs8cx__neondot_4x16c4.cpp).

void qgemv_s32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                                std::int32_t* c) {
  arm::gemv_rows4(n_begin, n_end, k, a, w, w_stride, arm::sdot_rows4x16, arm::StoreS32{c, 0});
}

void qgemv_f32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, float a_scale, const std::int8_t* w,
                                std::size_t w_stride, const float* w_scale, float* c) {
  arm::gemv_rows4(n_begin, n_end, k, a, w, w_stride, arm::sdot_rows4x16,
                  arm::StoreF32{&a_scale, w_scale, c, 0});
}

}  // namespace mobilellm::kernels::neondot
