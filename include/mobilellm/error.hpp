// Typed errors of the mobilellm C++ API.
//
// Every failure the library reports is a mobilellm::Error (a std::runtime_error), carrying an
// ErrorCode. Malformed input files raise FormatError, which also carries the file, the field, and
// (when known) the byte offset, so a user can see exactly what is wrong where. The library never
// calls exit/abort on bad input; only the CLI decides how to print an error and which exit code to use.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace mobilellm {

enum class ErrorCode : int {
  io = 1,                // a file could not be opened, read, mapped or written
  format = 2,            // an input file is malformed, truncated, inconsistent or hostile
  invalid_argument = 3,  // a caller passed an invalid value (options, parameters)
  unsupported = 4,       // well-formed input using a feature this runtime does not implement
  out_of_memory = 5,     // an allocation the input asked for was refused or exceeds a limit
  internal = 6,          // a bug: an invariant of the library itself does not hold
  busy = 7,              // an object was used concurrently from two threads
};

const char* error_code_name(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

class IoError : public Error {
 public:
  explicit IoError(const std::string& message) : Error(ErrorCode::io, message) {}
};

class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& message)
      : Error(ErrorCode::invalid_argument, message) {}
};

class UnsupportedError : public Error {
 public:
  explicit UnsupportedError(const std::string& message) : Error(ErrorCode::unsupported, message) {}
};

// A malformed input file. what() reads "FILE: FIELD: DETAIL (at offset N)".
class FormatError : public Error {
 public:
  FormatError(std::string file, std::string field, std::string detail,
              std::optional<std::uint64_t> offset = std::nullopt)
      : Error(ErrorCode::format, compose(file, field, detail, offset)),
        file_(std::move(file)),
        field_(std::move(field)),
        detail_(std::move(detail)),
        offset_(offset) {}

  const std::string& file() const noexcept { return file_; }
  const std::string& field() const noexcept { return field_; }
  const std::string& detail() const noexcept { return detail_; }
  std::optional<std::uint64_t> offset() const noexcept { return offset_; }

 private:
  static std::string compose(const std::string& file, const std::string& field,
                             const std::string& detail, std::optional<std::uint64_t> offset) {
    std::string s = file + ": " + field + ": " + detail;
    if (offset) s += " (at offset " + std::to_string(*offset) + ")";
    return s;
  }
  std::string file_, field_, detail_;
  std::optional<std::uint64_t> offset_;
};

}  // namespace mobilellm
