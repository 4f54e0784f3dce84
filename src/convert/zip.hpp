// A strict reader for the zip archives `torch.save` writes: stored (uncompressed) members only.
//
// What torch.save (through miniz) writes, and therefore what this reader is built around:
//   - every member stored (method 0), general-purpose flags 0x0808 (bit 3: sizes and CRC-32 are
//     deferred to a data descriptor "PK\7\8" after the data, so the local header holds zeros;
//     bit 11: UTF-8 names), a "FB" extra field padding each member's data to a 64-byte boundary;
//   - a zip64 end-of-central-directory record and locator before the classic end record, and
//     zip64 extra fields (0x0001) once sizes or offsets reach 4 GiB.
// Anything outside that shape that a zip reader could otherwise guess about (compression,
// encryption, multi-disk archives, unknown flags, a lying or overlapping layout) is rejected.
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

// Parses the end-of-central-directory record (and the zip64 ones when a zip64 locator precedes
// it), the central directory and every local header, and validates them:
//   - the end record is the last one whose comment runs exactly to the end of the file; a single
//     disk; the classic and zip64 records agree; the central directory ends where they begin and
//     holds exactly the declared entries;
//   - method 0 (stored) only; no flag other than bits 3 and 11 (so no encryption); compressed
//     size == uncompressed size; zip64 extra fields present whenever a field holds 0xffffffff;
//   - names non-empty, valid UTF-8 without NUL, unique, and the same in the local header;
//   - the local header agrees with the central directory (method, flags 0 and 3; CRC-32 and sizes
//     either equal or, with bit 3, zero); with bit 3 the data descriptor must be present, carry
//     its signature, and agree with the central directory (8-byte sizes when the local header
//     has a zip64 extra field, 4-byte ones otherwise);
//   - every member (header, data, descriptor) lies before the central directory and no two
//     members overlap; gaps between members are allowed;
//   - when `verify_crc` is true, each member's CRC-32 matches its data.
// Members are returned in central-directory order. Throws FormatError naming `file`, the member
// and the offset.
std::vector<ZipMember> read_zip(std::span<const std::uint8_t> bytes, const std::string& file,
                                bool verify_crc = true);

// CRC-32 as zip uses it (reflected polynomial 0xedb88320, initial value and final xor 0xffffffff).
std::uint32_t crc32(std::span<const std::uint8_t> bytes);

}  // namespace mobilellm
