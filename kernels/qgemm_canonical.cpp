// The prefill GEMM on canonical rows (kernels/kernels.hpp, qgemm_f32_canonical): columns are
// packed panel by panel into a per-thread workspace and multiplied there by every row of A, so
// that the model's weights are used straight from the mapped file and each weight byte is
// repacked once per call.
//
// Compiled for the baseline ISA: it only calls the variant's own pack() and gemm_f32(), which
// run after the registry has checked the CPU. Bit-exact with gemm_f32 on the whole matrix packed
// at once because a packed layout is a sequence of independent blocks of nr columns (the
// contract): a panel that starts on a multiple of nr packs to exactly the blocks the whole
// matrix has there, and the micro-kernel computes each column from its own block alone.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels {
namespace {

// Columns per panel (rounded to a multiple of nr, at least one block). The micro-kernels read a
// panel one block of nr columns at a time, with all M rows of A, right after pack() wrote it, so
// the smaller the panel, the closer to L1 the freshly packed bytes are; the cost of a small panel
// is only one call of pack() and gemm_f32() per panel. Measured on the Zen 4 test machine with
// benchmarks/bench_kernels.cpp (qgemm_canonical/...), rebuilding with each value: 32 to 256
// columns are within noise of each other (MobileLLM-125M and -1B shapes, M = 8, 64, 512), while
// 512 and 1024 lose up to 8% and 27% on the 1B shapes at M = 64 (kernels/README.md).
constexpr std::uint32_t kPanelColumns = 64;

std::size_t align_up(std::size_t x, std::size_t a) { return (x + a - 1) / a * a; }

}  // namespace

std::uint32_t qgemm_panel_columns(const QGemmVariant& v) {
  return v.nr >= kPanelColumns ? v.nr : kPanelColumns / v.nr * v.nr;
}

// The packed panel, then (when W's rows are not contiguous) room for one block of nr canonical
// rows copied together, since pack() reads rows exactly k bytes apart.
std::size_t qgemm_workspace_size(const QGemmVariant& v, std::uint32_t k) {
  return align_up(v.packed_size(qgemm_panel_columns(v), k), kPackedAlignment) +
         static_cast<std::size_t>(v.nr) * k;
}

void qgemm_f32_canonical(const QGemmVariant& v, std::uint32_t m, std::uint32_t n_begin,
                         std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
                         std::size_t a_stride, const float* a_scale, const std::int8_t* w,
                         std::size_t w_stride, const float* w_scale, void* workspace, float* c,
                         std::size_t c_stride) {
  const std::uint32_t panel = qgemm_panel_columns(v);
  auto* packed = static_cast<std::uint8_t*>(workspace);
  auto* staging =
      reinterpret_cast<std::int8_t*>(packed + align_up(v.packed_size(panel, k), kPackedAlignment));
  const std::size_t block_bytes = v.packed_size(v.nr, k);

  for (std::uint32_t p0 = n_begin; p0 < n_end; p0 += panel) {
    const std::uint32_t columns = n_end - p0 < panel ? n_end - p0 : panel;
    const std::int8_t* rows = w + p0 * w_stride;
    if (w_stride == k) {
      v.pack(columns, k, rows, packed);
    } else {
      // One block at a time through the staging rows: blocks are independent (the contract).
      for (std::uint32_t b = 0; b < columns; b += v.nr) {
        const std::uint32_t count = columns - b < v.nr ? columns - b : v.nr;
        for (std::uint32_t j = 0; j < count; ++j) {
          std::memcpy(staging + static_cast<std::size_t>(j) * k, rows + (b + j) * w_stride, k);
        }
        v.pack(count, k, staging, packed + (b / v.nr) * block_bytes);
      }
    }
    // The panel as a matrix of its own: columns [0, columns), scales and outputs offset to p0.
    v.gemm_f32(m, 0, columns, k, a, a_stride, a_scale, packed, w_scale + p0, c + p0, c_stride);
  }
}

}  // namespace mobilellm::kernels
