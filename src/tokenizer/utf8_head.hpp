// Reading one UTF-8 character at the head of a byte string, for the tokenizer's symbol splitting
// (encode) and byte-piece joining (decode). Well-formedness is Unicode's (Table 3-7): no
// overlong forms, no surrogates, nothing above U+10FFFF -- the same rule as is_valid_utf8().
#pragma once

#include <cstddef>
#include <string_view>

namespace mobilellm::tokenizer_detail {

struct Utf8Head {
  enum Kind {
    complete,    // the string begins with a well-formed character of `length` bytes
    incomplete,  // the whole string is a proper prefix of some well-formed character
    invalid,     // the first byte begins no well-formed character, whatever follows
  };
  Kind kind;
  std::size_t length;  // bytes of the character when complete, else 0
};

// `s` must not be empty.
inline Utf8Head read_utf8_head(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {Utf8Head::complete, 1};

  // Length of the sequence and the range its second byte must lie in; later bytes are 80..BF.
  std::size_t length;
  unsigned char lo = 0x80, hi = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) lo = 0xa0;       // below: overlong
    else if (lead == 0xed) hi = 0x9f;  // above: surrogates D800..DFFF
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) lo = 0x90;       // below: overlong
    else if (lead == 0xf4) hi = 0x8f;  // above: beyond U+10FFFF
  } else {
    return {Utf8Head::invalid, 0};     // 80..C1 (continuation, overlong 2-byte), F5..FF
  }

  for (std::size_t i = 1; i < length; ++i) {
    if (i == s.size()) return {Utf8Head::incomplete, 0};
    const unsigned char c = byte(i);
    if (c < lo || c > hi) return {Utf8Head::invalid, 0};
    lo = 0x80;
    hi = 0xbf;
  }
  return {Utf8Head::complete, length};
}

}  // namespace mobilellm::tokenizer_detail
