// The one table of kernel variants, and the run-time choice among them.
//
// Adding a variant: write its translation units under the directory of its ISA
// (kernels/CMakeLists.txt gives every file there that ISA's compiler flags), define its descriptor
// there as an `extern constinit const` object (every entry point filled: pack and the GEMMs, the
// GEMV on canonical rows and its exact gemv_s32, which may live in a unit of their own), then
// declare the object below and add one row to the table of its architecture. Tests and
// benchmarks iterate over the tables and need no change.
//
// Compiled for the baseline ISA. The descriptors are constant-initialized data (no code of another
// ISA runs to build the tables), and `supported` is always one of the baseline isa_*_supported
// predicates of cpu_features.cpp, so the selection never executes an unsupported instruction.
#include <cstdlib>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include "common/utf8.hpp"
#include "kernels/kernels.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::kernels {

namespace scalar {
extern const AttentionVariant attention_f32_gqa_1x1;
extern const QGemmVariant qgemm_f32_qs8dx_qs8cx_1x1c1;
extern const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_1x1c1;
extern const QuantizeVariant quantize_qs8dx_f32;
}  // namespace scalar

#if MOBILELLM_KERNELS_X86_64
namespace avx2 {
extern const AttentionVariant attention_f32_gqa_24x1;
extern const QGemmVariant qgemm_f32_qs8dx_qs8cx_2x8c8;
extern const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_2x16c2;
extern const QuantizeVariant quantize_qs8dx_f32;
}  // namespace avx2
namespace avx512f {
extern const AttentionVariant attention_f32_gqa_48x2;
}  // namespace avx512f
namespace avx512vnni {
extern const QGemmVariant qgemm_f32_qs8dx_qs8cx_4x64c4;
extern const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_4x32c4;
}  // namespace avx512vnni
#endif

#if MOBILELLM_KERNELS_AARCH64
namespace neon {
extern const AttentionVariant attention_f32_gqa_8x2;
extern const QGemmVariant qgemm_f32_qs8dx_qs8cx_2x4c16;
extern const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_2x4c16;
extern const QuantizeVariant quantize_qs8dx_f32;
}  // namespace neon
namespace neondot {
extern const QGemmVariant qgemm_f32_qs8dx_qs8cx_4x16c4;
extern const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_4x16c4;
}  // namespace neondot
namespace neoni8mm {
extern const QGemmVariant qgemm_f32_qs8dx_qs8cx_4x16c8;
extern const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_4x16c8;
}  // namespace neoni8mm
#endif

std::span<const QGemmVariant> qgemm_variants() {
  // The scalar reference first, then in increasing order of preference. One GEMM per ISA: the
  // order of this table also ranks the ISAs for select_quantize().
  static const QGemmVariant table[] = {
    scalar::qgemm_f32_qs8dx_qs8cx_1x1c1,
#if MOBILELLM_KERNELS_X86_64
    avx2::qgemm_f32_qs8dx_qs8cx_2x8c8,
    avx512vnni::qgemm_f32_qs8dx_qs8cx_4x64c4,
#endif
#if MOBILELLM_KERNELS_AARCH64
    neon::qgemm_f32_qs8dx_qs8cx_2x4c16,
    neondot::qgemm_f32_qs8dx_qs8cx_4x16c4,
    neoni8mm::qgemm_f32_qs8dx_qs8cx_4x16c8,
#endif
  };
  return table;
}

std::span<const QGemmG32Variant> qgemm_g32_variants() {
  // The scalar reference first, then in increasing order of preference; at most one per ISA, and
  // an ISA may have none (the selection then falls back to the best one below it).
  static const QGemmG32Variant table[] = {
    scalar::qgemm_f32_qs8dg32_qs8cg32_1x1c1,
#if MOBILELLM_KERNELS_X86_64
    avx2::qgemm_f32_qs8dg32_qs8cg32_2x16c2,
    avx512vnni::qgemm_f32_qs8dg32_qs8cg32_4x32c4,
#endif
#if MOBILELLM_KERNELS_AARCH64
    neon::qgemm_f32_qs8dg32_qs8cg32_2x4c16,
    neondot::qgemm_f32_qs8dg32_qs8cg32_4x16c4,
    neoni8mm::qgemm_f32_qs8dg32_qs8cg32_4x16c8,
#endif
  };
  return table;
}

std::span<const QuantizeVariant> quantize_variants() {
  // Scalar first, then in increasing order of preference. An ISA needs no quantizer of its own:
  // it uses the best one at or below it (AVX-512 VNNI uses AVX2's).
  static const QuantizeVariant table[] = {
    scalar::quantize_qs8dx_f32,
#if MOBILELLM_KERNELS_X86_64
    avx2::quantize_qs8dx_f32,
#endif
#if MOBILELLM_KERNELS_AARCH64
    neon::quantize_qs8dx_f32,
#endif
  };
  return table;
}

std::span<const AttentionVariant> attention_variants() {
  // The scalar reference first, then in increasing order of preference.
  static const AttentionVariant table[] = {
    scalar::attention_f32_gqa_1x1,
#if MOBILELLM_KERNELS_X86_64
    avx2::attention_f32_gqa_24x1,
    avx512f::attention_f32_gqa_48x2,
#endif
#if MOBILELLM_KERNELS_AARCH64
    neon::attention_f32_gqa_8x2,
#endif
  };
  return table;
}

// The attention kernels need AVX-512 F only (the int8 ones need VNNI too); AVX-512 F has its own
// half -> single conversion.
bool isa_avx512f_supported(const CpuFeatures& cpu) { return cpu.avx512f; }
// The AVX2 attention unit also widens float16 KV caches, with F16C.
bool isa_avx2_f16c_supported(const CpuFeatures& cpu) {
  return isa_avx2_supported(cpu) && cpu.f16c;
}

namespace {

constexpr std::string_view kAuto = "auto";

// Position of an ISA in qgemm_variants(), or -1 for a name no variant has.
int isa_rank(std::string_view isa) {
  const auto variants = qgemm_variants();
  for (std::size_t i = 0; i < variants.size(); ++i) {
    if (isa == variants[i].isa) return static_cast<int>(i);
  }
  return -1;
}

std::string isa_list(const CpuFeatures& cpu, bool supported_only) {
  std::string list(kAuto);
  for (const QGemmVariant& v : qgemm_variants()) {
    if (!supported_only || v.supported(cpu)) list += std::string(", ") + v.isa;
  }
  return list;
}

// `origin` names where the name came from (an environment variable), or "" for an argument.
const QGemmVariant& resolve(std::string_view isa, const CpuFeatures& cpu, std::string_view origin) {
  const auto variants = qgemm_variants();
  if (isa.empty() || isa == kAuto) {
    for (std::size_t i = variants.size(); i-- > 0;) {
      if (variants[i].supported(cpu)) return variants[i];
    }
    return variants[0];  // unreachable: the scalar reference is always supported
  }
  const int rank = isa_rank(isa);
  const std::string prefix = origin.empty() ? "" : std::string(origin) + ": ";
  if (rank < 0) {
    throw InvalidArgument(prefix + "unknown kernel ISA \"" + printable(isa) +
                          "\"; valid names: " + isa_list(cpu, false));
  }
  const QGemmVariant& v = variants[static_cast<std::size_t>(rank)];
  if (!v.supported(cpu)) {
    throw InvalidArgument(prefix + "kernel ISA \"" + std::string(v.isa) +
                          "\" is not supported by this CPU" +
                          (cpu.model.empty() ? "" : " (" + cpu.model + ")") +
                          "; supported here: " + isa_list(cpu, true));
  }
  return v;
}

const QuantizeVariant& quantizer_for(const QGemmVariant& gemm, const CpuFeatures& cpu) {
  const int ceiling = isa_rank(gemm.isa);
  const auto quantizers = quantize_variants();
  const QuantizeVariant* best = &quantizers[0];  // the scalar reference
  int best_rank = 0;
  for (const QuantizeVariant& q : quantizers) {
    const int rank = isa_rank(q.isa);
    if (rank > best_rank && rank <= ceiling && q.supported(cpu)) {
      best = &q;
      best_rank = rank;
    }
  }
  return *best;
}

// The grouped GEMM paired with a per-row GEMM: the most preferred supported one whose ISA ranks
// at or below the per-row GEMM's.
const QGemmG32Variant& grouped_for(const QGemmVariant& gemm, const CpuFeatures& cpu) {
  const int ceiling = isa_rank(gemm.isa);
  const auto grouped = qgemm_g32_variants();
  const QGemmG32Variant* best = &grouped[0];  // the scalar reference
  int best_rank = 0;
  for (const QGemmG32Variant& g : grouped) {
    const int rank = isa_rank(g.isa);
    if (rank > best_rank && rank <= ceiling && g.supported(cpu)) {
      best = &g;
      best_rank = rank;
    }
  }
  return *best;
}

// The process-wide choice when no override is passed: MOBILELLM_KERNELS, else the best.
const QGemmVariant& default_qgemm() {
  static const QGemmVariant& chosen = []() -> const QGemmVariant& {
    const char* env = std::getenv("MOBILELLM_KERNELS");
    return resolve(env != nullptr ? env : "", cpu_features(), "MOBILELLM_KERNELS");
  }();
  return chosen;
}

// Every ISA name of every kernel family, in increasing order on each architecture: the GEMM
// table's, with avx512f (attention only) between avx2 and avx512vnni.
int isa_level(std::string_view isa) {
  constexpr std::string_view ladder[] = {"scalar", "avx2",    "avx512f", "avx512vnni",
                                         "neon",   "neondot", "neoni8mm"};
  for (std::size_t i = 0; i < std::size(ladder); ++i) {
    if (isa == ladder[i]) return static_cast<int>(i);
  }
  return -1;
}

// The attention kernel for a (validated) name: "" or "auto", the best this CPU supports; else the
// best supported one at or below the GEMM variant that name selected.
const AttentionVariant& attention_for(std::string_view name, const QGemmVariant& gemm,
                                      const CpuFeatures& cpu) {
  const bool best = name.empty() || name == kAuto;
  const int ceiling = isa_level(gemm.isa);
  const auto variants = attention_variants();
  for (std::size_t i = variants.size(); i-- > 0;) {
    if (variants[i].supported(cpu) && (best || isa_level(variants[i].isa) <= ceiling))
      return variants[i];
  }
  return variants[0];  // unreachable: the scalar reference is always supported
}

}  // namespace

const AttentionVariant& resolve_attention(std::string_view isa, const CpuFeatures& cpu) {
  return attention_for(isa, resolve(isa, cpu, ""), cpu);
}

const AttentionVariant& select_attention(const char* override_isa) {
  if (override_isa != nullptr) return resolve_attention(override_isa, cpu_features());
  static const AttentionVariant& chosen = []() -> const AttentionVariant& {
    const char* env = std::getenv("MOBILELLM_KERNELS");
    return attention_for(env != nullptr ? env : "", default_qgemm(), cpu_features());
  }();
  return chosen;
}

const QGemmVariant& resolve_qgemm(std::string_view isa, const CpuFeatures& cpu) {
  return resolve(isa, cpu, "");
}

const QuantizeVariant& resolve_quantize(std::string_view isa, const CpuFeatures& cpu) {
  return quantizer_for(resolve(isa, cpu, ""), cpu);
}

const QGemmVariant& select_qgemm(const char* override_isa) {
  if (override_isa != nullptr) return resolve(override_isa, cpu_features(), "");
  return default_qgemm();
}

const QuantizeVariant& select_quantize(const char* override_isa) {
  return quantizer_for(select_qgemm(override_isa), cpu_features());
}

const QGemmG32Variant& resolve_qgemm_g32(std::string_view isa, const CpuFeatures& cpu) {
  return grouped_for(resolve(isa, cpu, ""), cpu);
}

const QGemmG32Variant& select_qgemm_g32(const char* override_isa) {
  return grouped_for(select_qgemm(override_isa), cpu_features());
}

}  // namespace mobilellm::kernels
