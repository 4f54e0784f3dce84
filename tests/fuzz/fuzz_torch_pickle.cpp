// libFuzzer harness: parse_state_dict_pickle, the restricted unpickler of data.pkl.
#include <cstdint>

#include "convert/torch_checkpoint.hpp"
#include "fuzz_harness.hpp"
#include "mobilellm/error.hpp"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS,
                                      mobilellm::hostile::pickle_fuzz_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    mobilellm::parse_state_dict_pickle({data, size}, "fuzz/data.pkl");
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
