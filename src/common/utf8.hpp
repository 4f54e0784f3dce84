// UTF-8 validation for names and strings read from untrusted files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mobilellm {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
inline bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return false;
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// True when `s` is valid UTF-8 and holds no NUL byte (the rule for tensor names and keys).
inline bool is_valid_name(std::string_view s) {
  return s.find('\0') == std::string_view::npos && is_valid_utf8(s);
}

// A printable rendering of untrusted text for error messages: at most `max` bytes, with control
// characters, invalid bytes and quotes escaped as \xNN.
std::string printable(std::string_view s, std::size_t max = 64);

}  // namespace mobilellm
