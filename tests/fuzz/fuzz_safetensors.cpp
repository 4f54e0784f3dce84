// libFuzzer harness: read_safetensors on a model.safetensors (through a memfd).
#include <cstdint>

#include "common/file.hpp"
#include "convert/safetensors.hpp"
#include "fuzz_harness.hpp"
#include "mobilellm/error.hpp"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS,
                                      mobilellm::hostile::safetensors_fuzz_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static mobilellm::fuzz::MemoryFile file;
  try {
    mobilellm::read_safetensors(mobilellm::MappedFile::open(file.put(data, size)));
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
