// Reading sysfs attributes (small text files) for the energy meters. Every failure names the file
// and the OS error or the offending value, because that text becomes a meter's reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mobilellm/error.hpp"

namespace mobilellm::energy {

// A failure to read or parse one file. os_error() is the errno of a failed system call, 0 when the
// content was bad.
class SysfsError : public Error {
 public:
  SysfsError(ErrorCode code, std::string path, const std::string& detail, int os_error = 0)
      : Error(code, path + ": " + detail), path_(std::move(path)), os_error_(os_error) {}
  const std::string& path() const noexcept { return path_; }
  int os_error() const noexcept { return os_error_; }

 private:
  std::string path_;
  int os_error_;
};

// "EACCES (Permission denied)"; "errno 1234 (...)" for names not in the table.
std::string describe_errno(int error);

// `text` quoted for a message: at most 64 characters, control and non-ASCII bytes as \xNN.
std::string quote_value(const std::string& text);

// The file's text without trailing whitespace. Throws SysfsError (io, with the errno) when it
// cannot be opened or read, or is longer than 4096 bytes (a sysfs attribute is at most a page).
std::string read_attribute(const std::string& path);
// As read_attribute, but nullopt when the file does not exist (ENOENT).
std::optional<std::string> read_optional_attribute(const std::string& path);

// Strict parsers: the whole text must be the number. Throw SysfsError (format) naming `path`.
std::uint64_t parse_unsigned(const std::string& path, const std::string& text);
std::int64_t parse_signed(const std::string& path, const std::string& text);
double parse_real(const std::string& path, const std::string& text);  // finite only

inline std::uint64_t read_unsigned(const std::string& path) {
  return parse_unsigned(path, read_attribute(path));
}
inline std::int64_t read_signed(const std::string& path) {
  return parse_signed(path, read_attribute(path));
}

bool path_exists(const std::string& path);
// The entries of a directory, sorted, without "." and "..". Throws SysfsError (io, with errno).
std::vector<std::string> list_directory(const std::string& path);

}  // namespace mobilellm::energy
