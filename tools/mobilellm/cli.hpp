// Shared pieces of the mobilellm command-line tool: subcommand entry points and argument helpers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mobilellm/session.hpp"

namespace mobilellm::cli {

// A subcommand receives its own arguments (argv after the subcommand name) and returns the
// process exit code. Errors are thrown as mobilellm::Error (or UsageError) and printed by main.
using Args = std::vector<std::string>;
int run_convert(const Args& args);
int run_info(const Args& args);
int run_logits(const Args& args);
int run_generate(const Args& args);
int run_perplexity(const Args& args);
int run_tokenize(const Args& args);
int run_bench(const Args& args);

// Bad command-line usage: main prints the message and the subcommand's usage, exit code 2.
struct UsageError {
  std::string message;
};

// Walks argv: flags ("-x VALUE", "--long VALUE", "--long=VALUE", "--switch") and positionals.
class ArgCursor {
 public:
  explicit ArgCursor(const Args& args) : args_(args) {}
  bool done() const { return i_ >= args_.size(); }
  const std::string& peek() const { return args_[i_]; }
  // True (and advances) if the current argument is one of `names` (a switch without value).
  bool flag(std::initializer_list<std::string_view> names);
  // If the current argument is one of `names`, consumes it and its value and returns the value.
  std::optional<std::string> option(std::initializer_list<std::string_view> names);
  // Consumes the current argument as a positional; UsageError if it looks like an unknown flag.
  std::string positional();

 private:
  const Args& args_;
  std::size_t i_ = 0;
};

std::int64_t parse_int(const std::string& flag, const std::string& value, std::int64_t min,
                       std::int64_t max);
double parse_double(const std::string& flag, const std::string& value);
// A KV cache type name: "f32" or "f16" (UsageError naming the flag and the value otherwise).
KvType parse_cache_type(const std::string& flag, const std::string& value);

bool stderr_is_terminal();

}  // namespace mobilellm::cli
