#include "energy/sysfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <memory>
#include <system_error>

namespace mobilellm::energy {

namespace {

constexpr std::size_t kMaxAttributeBytes = 4096;

const char* errno_name(int error) {
  switch (error) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case ENODATA: return "ENODATA";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return nullptr;
  }
}

// Trailing whitespace (sysfs values end in a newline).
std::string trim_right(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.pop_back();
  return s;
}

[[noreturn]] void bad_value(const std::string& path, const std::string& text, const char* what) {
  if (text.empty()) throw SysfsError(ErrorCode::format, path, "is empty, expected " + std::string(what));
  throw SysfsError(ErrorCode::format, path, quote_value(text) + " is not " + what);
}

}  // namespace

std::string describe_errno(int error) {
  const char* name = errno_name(error);
  const std::string message = std::error_code(error, std::generic_category()).message();
  return (name ? std::string(name) : "errno " + std::to_string(error)) + " (" + message + ")";
}

std::string quote_value(const std::string& text) {
  constexpr std::size_t kMaxShown = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += '"';
  if (text.size() > kMaxShown) out += " (" + std::to_string(text.size()) + " bytes, truncated)";
  return out;
}

std::string read_attribute(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    throw SysfsError(ErrorCode::io, path, "cannot open: " + describe_errno(error), error);
  }
  std::string text(kMaxAttributeBytes + 1, '\0');
  std::size_t size = 0;
  while (size < text.size()) {
    const ssize_t n = ::read(fd, text.data() + size, text.size() - size);
    if (n == 0) break;
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      ::close(fd);
      throw SysfsError(ErrorCode::io, path, "cannot read: " + describe_errno(error), error);
    }
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (size > kMaxAttributeBytes)
    throw SysfsError(ErrorCode::format, path,
                     "is longer than " + std::to_string(kMaxAttributeBytes) +
                         " bytes: not a sysfs attribute");
  text.resize(size);
  return trim_right(std::move(text));
}

std::optional<std::string> read_optional_attribute(const std::string& path) {
  try {
    return read_attribute(path);
  } catch (const SysfsError& e) {
    if (e.os_error() == ENOENT) return std::nullopt;
    throw;
  }
}

std::uint64_t parse_unsigned(const std::string& path, const std::string& text) {
  const char* what = "a non-negative decimal integer";
  if (text.empty() || text[0] < '0' || text[0] > '9') bad_value(path, text, what);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range)
    throw SysfsError(ErrorCode::format, path,
                     quote_value(text) + " is out of range (more than 18446744073709551615)");
  if (ec != std::errc() || end != text.data() + text.size()) bad_value(path, text, what);
  return value;
}

std::int64_t parse_signed(const std::string& path, const std::string& text) {
  const char* what = "a decimal integer";
  const std::size_t digits = (!text.empty() && text[0] == '-') ? 1 : 0;
  if (text.size() <= digits || text[digits] < '0' || text[digits] > '9') bad_value(path, text, what);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range)
    throw SysfsError(ErrorCode::format, path, quote_value(text) + " is out of the 64-bit range");
  if (ec != std::errc() || end != text.data() + text.size()) bad_value(path, text, what);
  return value;
}

double parse_real(const std::string& path, const std::string& text) {
  const char* what = "a finite decimal number";
  double value = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    bad_value(path, text, what);
  return value;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> list_directory(const std::string& path) {
  const std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), ::closedir);
  if (!dir) {
    const int error = errno;
    throw SysfsError(ErrorCode::io, path, "cannot list: " + describe_errno(error), error);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(dir.get());
    if (!entry) break;
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  if (const int error = errno; error != 0)
    throw SysfsError(ErrorCode::io, path, "cannot list: " + describe_errno(error), error);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace mobilellm::energy
