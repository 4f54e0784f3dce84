// libFuzzer harness: parse_state_dict_pickle, the restricted unpickler of data.pkl.
#include <cstdint>

#include "convert/torch_checkpoint.hpp"
#include "fuzz_harness.hpp"
#include "hostile_cases.hpp"
#include "mobilellm/error.hpp"

namespace {

std::vector<mobilellm::fuzz::Seed> seeds() {
  namespace h = mobilellm::hostile;
  namespace cb = mobilellm::checkpoint_bytes;
  // Views sharing a storage, a parameter (keep_vars=True), every storage class, a 0-d tensor.
  const std::vector<cb::PickleTensor> varied = {
      {.name = "w", .key = "0", .storage_numel = 24, .shape = {4, 6}},
      {.name = "view", .key = "0", .storage_numel = 24, .storage_offset = 12, .shape = {2, 6}},
      {.name = "p",
       .storage_class = "HalfStorage",
       .key = "1",
       .storage_numel = 6,
       .shape = {6},
       .parameter = true},
      {.name = "b",
       .storage_class = "BFloat16Storage",
       .key = "2",
       .storage_numel = 1,
       .shape = {}},
  };
  return {{"state-dict.pkl", h::torch_seed().pickle.bytes},
          {"varied.pkl", cb::build_state_dict_pickle(varied).bytes},
          {"plain-dict.pkl", cb::build_state_dict_pickle(varied, {.ordered = false}).bytes}};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS, seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    mobilellm::parse_state_dict_pickle({data, size}, "fuzz/data.pkl");
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
