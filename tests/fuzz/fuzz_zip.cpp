// libFuzzer harness: read_zip over the archive bytes; archives it accepts are then read whole
// by read_torch_checkpoint (through a memfd): member layout, pickle, storages.
#include <cstdint>

#include "common/file.hpp"
#include "convert/torch_checkpoint.hpp"
#include "convert/zip.hpp"
#include "fuzz_harness.hpp"
#include "mobilellm/error.hpp"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS,
                                      mobilellm::hostile::zip_fuzz_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static mobilellm::fuzz::MemoryFile file;
  try {
    mobilellm::read_zip({data, size}, "fuzz.zip");
  } catch (const mobilellm::Error&) {
    return 0;
  }
  try {
    mobilellm::read_torch_checkpoint(mobilellm::MappedFile::open(file.put(data, size)));
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
