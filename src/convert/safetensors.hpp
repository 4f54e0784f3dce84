// safetensors reader: an 8-byte little-endian header length, a JSON header, then the data.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/file.hpp"
#include "convert/source_tensor.hpp"

namespace mobilellm {

// Validates the header (length within the file and below 100 MB, JSON object, each entry's dtype
// F32/F16/BF16 — other dtypes are rejected naming them —, shape, data_offsets consistent with
// shape and dtype, within the data area, non-overlapping, no duplicate names), and returns the
// tensors. `__metadata__` is accepted (string→string) and ignored. Throws FormatError.
std::vector<SourceTensor> read_safetensors(std::shared_ptr<const MappedFile> file);

// Reads `model.safetensors.index.json` in `dir`: maps every tensor to a shard file (names must
// be plain file names inside `dir`, no '/' or '..'), opens each shard once, and returns all
// tensors. Each tensor must be in the shard the index names; no tensor may appear twice.
std::vector<SourceTensor> read_sharded_safetensors(const std::string& dir);

}  // namespace mobilellm
