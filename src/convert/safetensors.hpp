// safetensors reader: an 8-byte little-endian header length, a JSON header, then the data.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/file.hpp"
#include "convert/source_tensor.hpp"

namespace mobilellm {

// Validates the file and returns its tensors in data order (by data offset):
//   - the header length is at most 100 MB and at most the bytes that follow it;
//   - the header is a JSON object without duplicate keys (at any depth); `__metadata__`, when
//     present, maps strings to strings and is otherwise ignored;
//   - every other key is a tensor name (non-empty, valid UTF-8, no NUL) whose value holds exactly
//     "dtype" (F32, F16 or BF16: other dtypes are rejected naming them), "shape" (non-negative
//     integers, at most 8 of them) and "data_offsets" ([begin, end], relative to the data area,
//     end - begin == numel × element size, overflow-checked);
//   - the tensors tile the data area exactly: no overlap, no gap, nothing after the last one.
// Throws FormatError naming the file, the tensor and the problem.
std::vector<SourceTensor> read_safetensors(std::shared_ptr<const MappedFile> file);

// Reads `model.safetensors.index.json` in `dir` ({"metadata": {...}, "weight_map": {tensor:
// shard}}, no other keys, no duplicate keys), opens each shard once and returns all tensors,
// shard by shard in name order. Shard names must be plain file names in `dir` (non-empty, no '/',
// no "..", no NUL). Every tensor of a shard must be mapped to that shard, and every weight_map
// entry must be found in its shard. Throws FormatError, or IoError when a shard cannot be opened.
std::vector<SourceTensor> read_sharded_safetensors(const std::string& dir);

}  // namespace mobilellm
