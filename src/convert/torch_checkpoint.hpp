// `pytorch_model.bin`: a torch.save zip archive holding a pickled state dict. Read with our own
// restricted unpickler, which executes nothing: it accepts only the opcodes and globals that
// torch.save writes for a state dict and rejects everything else by name.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/file.hpp"
#include "convert/source_tensor.hpp"

namespace mobilellm {

// One tensor entry of the pickled state dict.
struct PickledTensor {
  std::string name;          // state-dict key
  std::string storage_key;   // persistent id key: the member "<archive>/data/<key>"
  SourceDType dtype = SourceDType::f32;  // from torch.FloatStorage / HalfStorage / BFloat16Storage
  std::uint64_t storage_offset = 0;      // in elements
  std::uint64_t storage_numel = 0;       // as declared in the persistent id
  std::vector<std::uint64_t> shape;
  std::vector<std::uint64_t> stride;
};

// Allowed globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.FloatStorage,
// torch.HalfStorage, torch.BFloat16Storage (and torch._utils._rebuild_parameter when it wraps one
// of these). Allowed opcodes: those of protocol 2 that build dicts, tuples, lists, ints, strings,
// booleans, None, memo, persistent ids and REDUCE/BUILD on the allowed globals. Anything else —
// other globals (os.system, builtins.eval, subprocess.*), STACK_GLOBAL, INST/OBJ, EXT*, unknown
// opcodes, memo indices out of range, stack underflow, oversize lengths — throws FormatError.
std::vector<PickledTensor> parse_state_dict_pickle(std::span<const std::uint8_t> pickle,
                                                   const std::string& file);

// Reads the whole archive: finds "<prefix>/data.pkl", parses it, resolves every tensor to its
// storage member "<prefix>/data/<key>", and checks that tensors are contiguous and inside their
// storage. Members other than data.pkl, data/*, version, .data/version, byteorder,
// .data/serialization_id and data/... are rejected. Throws FormatError.
std::vector<SourceTensor> read_torch_checkpoint(std::shared_ptr<const MappedFile> file);

}  // namespace mobilellm
