// What every libFuzzer harness in this folder shares (see README.md):
//   - `HARNESS --write-seeds=DIR` writes the harness's seed corpus into DIR and exits 0, before
//     any fuzzing. The seeds are valid inputs built with the test builders (the *_fuzz_seeds()
//     of tests/unit/hostile_cases.hpp, which the unit tests check are accepted), plus every
//     reproducer saved under tests/fuzz/regressions/<harness>/, so CI replays past findings first;
//   - inputs the reader must see as a file (it maps a path) go through a memfd, named by its
//     /proc/self/fd path: no disk traffic per input.
// A harness lets mobilellm::Error through silently (rejecting hostile input is the reader's job)
// and everything else crash: another exception, a sanitizer report, a leak, a timeout.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hostile_cases.hpp"

namespace mobilellm::fuzz {

using hostile::Seed;

inline void write_seed(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

// Handles `--write-seeds=DIR` (call from LLVMFuzzerInitialize): writes `seeds()` and the files
// of `regressions` (a folder; it may be absent) into DIR, then exits. Other arguments are
// libFuzzer's and are left alone.
inline void handle_write_seeds(int argc, char** argv, const char* regressions,
                               const std::function<std::vector<Seed>()>& seeds) {
  constexpr std::string_view kFlag = "--write-seeds=";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with(kFlag)) continue;
    const std::filesystem::path dir(arg.substr(kFlag.size()));
    std::filesystem::create_directories(dir);
    std::size_t n = 0;
    for (const auto& [name, bytes] : seeds()) {
      write_seed(dir / ("seed-" + name), bytes);
      ++n;
    }
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(regressions, ec)) {
      if (!entry.is_regular_file()) continue;
      std::filesystem::copy_file(entry.path(),
                                 dir / ("regression-" + entry.path().filename().string()),
                                 std::filesystem::copy_options::overwrite_existing);
      ++n;
    }
    std::printf("wrote %zu seeds to %s\n", n, dir.c_str());
    std::exit(0);
  }
}

// A memory-backed file that readers can open by path. Each put() replaces its contents.
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("mobilellm-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Nothing may still map the previous contents: shrinking a mapped file makes reads fault.
  const std::string& put(const std::uint8_t* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0 ||
        (size > 0 && ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))) {
      std::perror("memfd write");
      std::abort();
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace mobilellm::fuzz
