// libFuzzer harness: the model file. Every input goes through gguf::parse, the container reader;
// inputs it accepts are then opened with ModelFile::open (through a memfd), which validates the
// model schema on top: keys, vocabulary, tensor set, shapes and types.
#include <cstdint>

#include "format/gguf.hpp"
#include "fuzz_harness.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/model_file.hpp"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS,
                                      mobilellm::hostile::gguf_fuzz_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static mobilellm::fuzz::MemoryFile file;
  try {
    mobilellm::gguf::parse({data, size}, "fuzz.gguf");
  } catch (const mobilellm::Error&) {
    return 0;
  }
  try {
    mobilellm::ModelFile::open(file.put(data, size));
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
