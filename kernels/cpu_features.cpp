// CPU feature detection for kernel selection. Compiled for the baseline ISA: nothing here may
// execute an instruction the CPU might lack. Each platform block is compile-guarded; on anything
// else every feature reads false and the scalar reference runs.
#include <cstddef>
#include <string>

#include "kernels/kernels.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define MOBILELLM_CPU_X86 1
#include <cpuid.h>

#include <cstdint>
#include <cstring>
#elif defined(__aarch64__) && defined(__APPLE__)
#define MOBILELLM_CPU_APPLE_ARM64 1
#include <sys/sysctl.h>
#include <sys/types.h>
#elif defined(__aarch64__) && defined(__linux__)  // Linux and Android
#define MOBILELLM_CPU_LINUX_ARM64 1
#include <sys/auxv.h>
#endif

namespace mobilellm::kernels {
namespace {

#if defined(MOBILELLM_CPU_X86)

struct Cpuid {
  std::uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Cpuid cpuid(std::uint32_t leaf, std::uint32_t subleaf = 0) {
  Cpuid r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

bool bit(std::uint32_t word, int n) { return ((word >> n) & 1u) != 0; }

// XCR0: which register states the OS saves on a context switch. Only valid when CPUID says
// OSXSAVE; the instruction is encoded by hand so this file needs no -mxsave.
std::uint64_t read_xcr0() {
  std::uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<std::uint64_t>(edx) << 32) | eax;
}

std::string brand_string() {
  if (cpuid(0x80000000u).eax < 0x80000004u) return "";
  char text[49] = {};
  for (std::uint32_t i = 0; i < 3; ++i) {
    const Cpuid r = cpuid(0x80000002u + i);
    const std::uint32_t words[4] = {r.eax, r.ebx, r.ecx, r.edx};
    std::memcpy(text + 16 * i, words, sizeof words);
  }
  std::string s(text);
  const auto first = s.find_first_not_of(' ');
  const auto last = s.find_last_not_of(' ');
  return first == std::string::npos ? "" : s.substr(first, last - first + 1);
}

CpuFeatures detect() {
  CpuFeatures f;
  f.model = brand_string();
  const std::uint32_t max_leaf = cpuid(0).eax;
  if (max_leaf < 1) return f;
  const Cpuid l1 = cpuid(1);
  // AVX needs the OS to save YMM state (XCR0 bits 1 and 2); AVX-512 also the opmask and both
  // halves of the ZMM file (bits 5, 6, 7). A CPU can have the instructions and an OS (or a VM)
  // that does not enable them. (macOS enables AVX-512 state lazily and may report it missing
  // here: the AVX2 variant then runs, which is safe.)
  const bool osxsave = bit(l1.ecx, 27);
  const std::uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;
  if (!os_ymm || !bit(l1.ecx, 28)) return f;  // no usable AVX: nothing below is usable either
  f.fma = bit(l1.ecx, 12);
  f.f16c = bit(l1.ecx, 29);
  if (max_leaf < 7) return f;
  const Cpuid l7 = cpuid(7, 0);
  f.avx2 = bit(l7.ebx, 5);
  if (os_zmm) {
    f.avx512f = bit(l7.ebx, 16);
    f.avx512bw = bit(l7.ebx, 30);
    f.avx512vl = bit(l7.ebx, 31);
    f.avx512vnni = bit(l7.ecx, 11);
  }
  return f;
}

#elif defined(MOBILELLM_CPU_APPLE_ARM64)

bool sysctl_flag(const char* name) {
  int value = 0;
  std::size_t size = sizeof value;
  return sysctlbyname(name, &value, &size, nullptr, 0) == 0 && value != 0;
}

CpuFeatures detect() {
  CpuFeatures f;
  f.neon = true;  // Advanced SIMD is mandatory on arm64
  f.dotprod = sysctl_flag("hw.optional.arm.FEAT_DotProd");
  f.i8mm = sysctl_flag("hw.optional.arm.FEAT_I8MM");
  char brand[128] = {};
  std::size_t size = sizeof brand - 1;
  if (sysctlbyname("machdep.cpu.brand_string", brand, &size, nullptr, 0) == 0) f.model = brand;
  return f;
}

#elif defined(MOBILELLM_CPU_LINUX_ARM64)

// Bit values from the Linux UAPI (arch/arm64/include/uapi/asm/hwcap.h), for C libraries whose
// headers predate them.
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif

CpuFeatures detect() {
  CpuFeatures f;
  const unsigned long hwcap = getauxval(AT_HWCAP);
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);
  f.neon = (hwcap & HWCAP_ASIMD) != 0;
  f.dotprod = (hwcap & HWCAP_ASIMDDP) != 0;
  f.i8mm = (hwcap2 & HWCAP2_I8MM) != 0;
  return f;
}

#else

CpuFeatures detect() { return {}; }

#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

bool isa_scalar_supported(const CpuFeatures&) { return true; }
bool isa_avx2_supported(const CpuFeatures& cpu) { return cpu.avx2 && cpu.fma; }
bool isa_avx512vnni_supported(const CpuFeatures& cpu) {
  return cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512vnni;
}
bool isa_neon_supported(const CpuFeatures& cpu) { return cpu.neon; }
bool isa_neondot_supported(const CpuFeatures& cpu) { return cpu.neon && cpu.dotprod; }
// Every CPU with FEAT_I8MM (mandatory from Armv8.6) also has FEAT_DotProd (Armv8.4), so an i8mm
// variant may use sdot as well.
bool isa_neoni8mm_supported(const CpuFeatures& cpu) { return cpu.neon && cpu.dotprod && cpu.i8mm; }

}  // namespace mobilellm::kernels
