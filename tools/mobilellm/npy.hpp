// Writes a float32 array as a NumPy .npy file (format version 1.0), atomically.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mobilellm::cli {

void write_npy_f32(const std::string& path, std::span<const float> data,
                   const std::vector<std::uint64_t>& shape);

}  // namespace mobilellm::cli
