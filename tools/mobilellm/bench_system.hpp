// What `mobilellm bench` reads about the machine and the process: CPU model and features, the
// date, and the peak resident set size (per test when the kernel lets us reset it).
#pragma once

#include <cstdint>
#include <string>

namespace mobilellm::cli::bench {

// "AMD EPYC (family 25, model 17, 2 logical CPUs)": /proc/cpuinfo's model name (or, on ARM
// Linux, the implementer and part numbers), sysctl's brand string on Apple, cpuid's otherwise.
std::string cpu_info();
// The SIMD features kernel selection looks at, present ones only: "avx2 fma avx512f ...".
std::string cpu_feature_list();
// Logical CPUs the process may run on.
unsigned logical_cpus();

// Now as ISO 8601 UTC with seconds: "2025-04-24T11:57:09Z".
std::string iso8601_now();

// CPU time used by every thread of this process so far, in nanoseconds.
std::uint64_t process_cpu_ns();

// Returns free heap memory to the OS where the C library can (glibc's malloc_trim), so that
// memory freed by one test does not count in the next test's resident set.
void release_free_memory();

// Peak resident set size of this process.
struct PeakRss {
  // Resets the high-water mark to the current RSS (Linux: "5" into /proc/self/clear_refs).
  // Returns false, with `reason`, where that is impossible; the peak then covers the whole process.
  bool reset(std::string& reason);
  // Bytes: VmHWM from /proc/self/status, else getrusage's ru_maxrss. 0 if neither is readable.
  std::uint64_t read() const;
};

}  // namespace mobilellm::cli::bench
