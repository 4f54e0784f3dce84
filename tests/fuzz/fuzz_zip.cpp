// libFuzzer harness: read_zip over the archive bytes; archives it accepts are then read whole
// by read_torch_checkpoint (through a memfd): member layout, pickle, storages.
#include <cstdint>

#include "common/file.hpp"
#include "convert/torch_checkpoint.hpp"
#include "convert/zip.hpp"
#include "fuzz_harness.hpp"
#include "hostile_cases.hpp"
#include "mobilellm/error.hpp"

namespace {

std::vector<mobilellm::fuzz::Seed> seeds() {
  namespace h = mobilellm::hostile;
  namespace cb = mobilellm::checkpoint_bytes;
  const auto& entries = h::torch_seed().entries;
  return {{"pytorch_model.bin", h::torch_seed().archive.bytes},
          {"zip64-extra.bin", cb::build_zip(entries, {.zip64_extra = true}).bytes},
          {"no-descriptor.bin",
           cb::build_zip(entries,
                         {.data_descriptor = false, .alignment = 0, .zip64_end_records = false})
               .bytes}};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS, seeds);
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
