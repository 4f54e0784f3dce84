// A tensor as found in a Hugging Face checkpoint: its name, float type, PyTorch shape and a
// view of its little-endian, contiguous, row-major bytes inside a mapped file.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/file.hpp"

namespace mobilellm {

enum class SourceDType { f32, f16, bf16 };
const char* source_dtype_name(SourceDType t) noexcept;  // "F32", "F16", "BF16"
inline std::size_t source_dtype_size(SourceDType t) { return t == SourceDType::f32 ? 4 : 2; }

struct SourceTensor {
  std::string name;
  SourceDType dtype = SourceDType::f32;
  std::vector<std::uint64_t> shape;      // PyTorch order: shape[0] slowest
  std::span<const std::uint8_t> bytes;   // exactly numel * element size, inside `file`
  std::shared_ptr<const MappedFile> file;  // keeps the bytes alive
};

}  // namespace mobilellm
