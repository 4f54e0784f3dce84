// A strict reader for the zip archives `torch.save` writes: stored (uncompressed) members only.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mobilellm {

struct ZipMember {
  std::string name;
  std::span<const std::uint8_t> data;  // inside the archive bytes
  std::uint64_t local_header_offset = 0;
};

// Parses the end-of-central-directory record (and the zip64 one when present), the central
// directory and every local header, and validates them: method 0 (stored) only, no encryption
// (flag bit 0), no data descriptors that contradict the central directory, sizes consistent
// between local and central headers, names valid UTF-8 without NUL, no duplicate names, member
// extents inside the file and not overlapping each other or the directory. Optionally checks CRC-32.
// Throws FormatError naming `file`, the member and the offset.
std::vector<ZipMember> read_zip(std::span<const std::uint8_t> bytes, const std::string& file,
                                bool verify_crc = true);

std::uint32_t crc32(std::span<const std::uint8_t> bytes);

}  // namespace mobilellm
