#include "cli.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace mobilellm::cli {

bool ArgCursor::flag(std::initializer_list<std::string_view> names) {
  if (done()) return false;
  for (auto n : names)
    if (args_[i_] == n) {
      ++i_;
      return true;
    }
  return false;
}

std::optional<std::string> ArgCursor::option(std::initializer_list<std::string_view> names) {
  if (done()) return std::nullopt;
  const std::string& a = args_[i_];
  for (auto n : names) {
    if (a == n) {
      if (i_ + 1 >= args_.size()) throw UsageError{"option " + a + " needs a value"};
      i_ += 2;
      return args_[i_ - 1];
    }
    if (n.starts_with("--") && a.size() > n.size() && a.compare(0, n.size(), n) == 0 &&
        a[n.size()] == '=') {
      ++i_;
      return a.substr(n.size() + 1);
    }
  }
  return std::nullopt;
}

std::string ArgCursor::positional() {
  const std::string& a = args_[i_];
  if (a.size() > 1 && a[0] == '-') throw UsageError{"unknown option " + a};
  ++i_;
  return a;
}

std::int64_t parse_int(const std::string& flag, const std::string& value, std::int64_t min,
                       std::int64_t max) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno == ERANGE || v < min || v > max)
    throw UsageError{flag + " expects an integer in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "], got '" + value + "'"};
  return v;
}

double parse_double(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !std::isfinite(v))
    throw UsageError{flag + " expects a finite number, got '" + value + "'"};
  return v;
}

KvType parse_cache_type(const std::string& flag, const std::string& value) {
  for (KvType t : {KvType::f32, KvType::f16})
    if (value == kv_type_name(t)) return t;
  throw UsageError{flag + " expects a KV cache type (f32 or f16), got '" + value + "'"};
}

bool stderr_is_terminal() { return ::isatty(2) == 1; }

}  // namespace mobilellm::cli
