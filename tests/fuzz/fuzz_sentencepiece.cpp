// libFuzzer harness: read_sentencepiece_model, the protobuf decoder of tokenizer.model.
#include <cstdint>

#include "convert/tokenizer_sources.hpp"
#include "fuzz_harness.hpp"
#include "mobilellm/error.hpp"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS,
                                      mobilellm::hostile::sentencepiece_fuzz_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    mobilellm::read_sentencepiece_model({data, size}, "fuzz.model");
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
