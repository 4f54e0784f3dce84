// NEON int8 matrix-multiply variant's W8A8 decode GEMV on the model file's canonical rows (no
// packing: kernels.hpp, "Layouts"): c[j] = (a_scale * w_scale[j]) * float(sum_k a[k] * w[j][k]).
//
// It runs sdot, not smmla, with the same loop as the neondot GEMV (kernels/arm/neondot/
// sdot_gemv.hpp: 4 rows per step sharing each 16-byte activation load, K in steps of 16 bytes,
// even and odd steps in separate accumulators, one reduction per row at the end, the K tail
// through zeroed local steps, one prefetched line of the next pass per step). smmla multiplies a
// 2x8 by an 8x2 int8 matrix, i.e. 4 dot products of 8 from 2 + 2 vectors; a GEMV has one
// activation vector, so whichever way a step is laid out (2 rows of W against a in both operand
// rows, or 2 K segments of a against 2 segments of a row), at most 2 of the 4 results are wanted:
// 16 useful multiply-adds per instruction, the same as sdot, plus the operand shuffles. So smmla
// gains nothing on one activation row and sdot is used: every FEAT_I8MM core also has
// FEAT_DotProd, and isa_neoni8mm_supported requires both. (The GEMM, with 4 activation rows, is
// where smmla pays off.)
//
// Built with -march=armv8.2-a+dotprod+i8mm; called only on CPUs that have both. Helpers live in an
// unnamed namespace and no standard-library template is used (see kernels/README.md, "ODR").
#include <cstddef>
#include <cstdint>

#include "kernels/arm/neon/arm_common.hpp"
#include "kernels/arm/neondot/sdot_gemv.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neoni8mm {

// Referenced by the variant's descriptor (qgemm_f32_qs8dx_qs8cx__neoni8mm_4x16c8.cpp).

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

}  // namespace mobilellm::kernels::neoni8mm
