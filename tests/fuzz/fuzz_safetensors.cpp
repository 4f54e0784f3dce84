// libFuzzer harness: read_safetensors on a model.safetensors (through a memfd).
#include <cstdint>

#include "common/file.hpp"
#include "convert/safetensors.hpp"
#include "fuzz_harness.hpp"
#include "hostile_cases.hpp"
#include "mobilellm/error.hpp"

namespace {

std::vector<mobilellm::fuzz::Seed> seeds() {
  namespace h = mobilellm::hostile;
  namespace cb = mobilellm::checkpoint_bytes;
  const auto shards = h::shard_seeds();
  // Every dtype, an empty tensor, a 0-d tensor and metadata.
  const auto mixed = cb::build_safetensors({{"a", "F16", {2, 3}, cb::pattern(12, 1)},
                                            {"b", "BF16", {4}, cb::pattern(8, 2)},
                                            {"empty", "F32", {0, 5}, {}},
                                            {"scalar", "F32", {}, cb::pattern(4, 3)}},
                                           {{"format", "pt"}});
  return {{"tiny.safetensors", h::safetensors_seed().bytes},
          {"shard-1.safetensors", shards[0]},
          {"shard-2.safetensors", shards[1]},
          {"mixed.safetensors", mixed.bytes}};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS, seeds);
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
