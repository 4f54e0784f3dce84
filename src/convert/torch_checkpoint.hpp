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
  std::vector<std::uint64_t> stride;     // same length as shape
};

// Runs the pickle on a small stack machine that builds inert values only. Accepted:
//   - opcodes: PROTO 2 (first, once), MARK, STOP, EMPTY_DICT, EMPTY_TUPLE, TUPLE, TUPLE1-3, NONE,
//     NEWTRUE, NEWFALSE, BININT, BININT1, BININT2, LONG1 (up to 8 bytes), BINUNICODE (valid
//     UTF-8), BINPUT, LONG_BINPUT, BINGET, LONG_BINGET, SETITEM, SETITEMS, GLOBAL, REDUCE, BUILD,
//     BINPERSID. Every other opcode (STACK_GLOBAL, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4,
//     protocol 3-5 opcodes, unknown bytes...) is rejected naming it and its offset.
//   - globals: collections.OrderedDict (called with no arguments), torch._utils._rebuild_tensor_v2
//     (storage, offset, size, stride, requires_grad, empty backward-hooks OrderedDict),
//     torch._utils._rebuild_parameter (tensor, requires_grad, empty hooks), and the storage
//     classes torch.FloatStorage / HalfStorage / BFloat16Storage, usable only inside a persistent
//     id ('storage', class, key, location, numel). Other torch.*Storage classes are rejected as
//     unsupported dtypes; any other global (os.system, builtins.eval, subprocess.Popen...) is
//     rejected naming it.
//   - BUILD only on an OrderedDict with a dict state: the `_metadata` torch attaches to a state
//     dict, which is ignored.
// The result must be one dict or OrderedDict of unique, non-empty string keys to tensors. STOP
// must close the pickle: no open MARK, exactly that one value on the stack, and no byte after it.
// Bounded: stack depth, MARK nesting, memo size (indices may only append or overwrite), dict
// entries, GLOBAL line length, string lengths (against the bytes left), tensor rank.
// Error offsets are relative to the start of the pickle, as `pickletools.dis` prints them.
std::vector<PickledTensor> parse_state_dict_pickle(std::span<const std::uint8_t> pickle,
                                                   const std::string& file);

// Reads the whole archive (with read_zip, CRC-32 checked): every member must sit in one top-level
// folder "<prefix>/" (torch uses "archive" or the file's stem) and be one of data.pkl, data/<key>,
// version, byteorder (which must say "little"), .data/version or .data/serialization_id. Parses
// data.pkl (at most 64 MiB) and resolves each tensor to its storage member, checking that
//   - the member exists and holds exactly numel × element size bytes of the declared storage;
//   - tensors sharing a storage (views) agree on its dtype and numel;
//   - each tensor is contiguous (row-major strides, ignoring dimensions of size 1, as torch does)
//     and storage_offset + numel lies within the storage;
//   - every data/<key> member is used by some tensor.
// Returns the tensors in state-dict order. Throws FormatError.
std::vector<SourceTensor> read_torch_checkpoint(std::shared_ptr<const MappedFile> file);

}  // namespace mobilellm
