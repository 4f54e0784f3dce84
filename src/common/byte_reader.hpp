// A bounded little-endian cursor over untrusted bytes. Every read is checked against the end;
// a failed read throws FormatError naming the file, the field being read and the offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "mobilellm/error.hpp"

namespace mobilellm {

class ByteReader {
 public:
  ByteReader(std::span<const std::uint8_t> bytes, std::string file, std::uint64_t base_offset = 0)
      : bytes_(bytes), file_(std::move(file)), base_(base_offset) {}

  std::uint64_t offset() const { return base_ + pos_; }  // absolute, for messages
  std::uint64_t pos() const { return pos_; }              // relative to the span
  std::uint64_t remaining() const { return bytes_.size() - pos_; }
  const std::string& file() const { return file_; }
  bool at_end() const { return pos_ == bytes_.size(); }

  void seek(std::uint64_t pos, std::string_view field) {
    if (pos > bytes_.size()) fail(field, "position " + std::to_string(pos) + " is past the end (" +
                                             std::to_string(bytes_.size()) + " bytes)");
    pos_ = pos;
  }

  std::span<const std::uint8_t> bytes(std::uint64_t n, std::string_view field) {
    need(n, field);
    auto s = bytes_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  void skip(std::uint64_t n, std::string_view field) { bytes(n, field); }

  template <typename T>
  T read(std::string_view field) {  // little-endian integral or floating-point scalar
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;  // the targets we support are little-endian
  }
  std::uint8_t u8(std::string_view f) { return read<std::uint8_t>(f); }
  std::uint16_t u16(std::string_view f) { return read<std::uint16_t>(f); }
  std::uint32_t u32(std::string_view f) { return read<std::uint32_t>(f); }
  std::uint64_t u64(std::string_view f) { return read<std::uint64_t>(f); }

  [[noreturn]] void fail(std::string_view field, const std::string& detail) const {
    throw FormatError(file_, std::string(field), detail, offset());
  }

 private:
  void need(std::uint64_t n, std::string_view field) const {
    if (n > remaining())
      fail(field, "needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining()) +
                      " remain (truncated)");
  }
  std::span<const std::uint8_t> bytes_;
  std::string file_;
  std::uint64_t base_ = 0;
  std::uint64_t pos_ = 0;
};

}  // namespace mobilellm
