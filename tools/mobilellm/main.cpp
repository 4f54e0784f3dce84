// mobilellm: the command-line tool. Each subcommand lives in its own cmd_*.cpp file.
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "cli.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/version.hpp"

namespace {

struct Command {
  const char* name;
  int (*run)(const mobilellm::cli::Args&);
  const char* summary;
};

const Command kCommands[] = {
    {"generate", mobilellm::cli::run_generate, "generate text from a prompt"},
    {"convert", mobilellm::cli::run_convert, "convert a Hugging Face checkpoint folder to a model file"},
    {"info", mobilellm::cli::run_info, "print a model file's hyper-parameters, tokenizer and tensors"},
    {"perplexity", mobilellm::cli::run_perplexity, "perplexity of the model on a text file"},
    {"logits", mobilellm::cli::run_logits, "write the logits of a token sequence as a .npy array"},
    {"tokenize", mobilellm::cli::run_tokenize, "encode text into token ids, or decode ids into text"},
    {"bench", mobilellm::cli::run_bench, "measure speed, memory and energy (llama-bench style)"},
};

void print_usage(std::FILE* out) {
  fmt::print(out, "usage: mobilellm COMMAND [ARGS...]\n\ncommands:\n");
  for (const auto& c : kCommands) fmt::print(out, "  {:<12}{}\n", c.name, c.summary);
  fmt::print(out, "\n`mobilellm COMMAND --help` describes a command's arguments.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    print_usage(stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    fmt::print("mobilellm {}\n", mobilellm::version());
    return 0;
  }
  for (const auto& c : kCommands) {
    if (cmd != c.name) continue;
    mobilellm::cli::Args args(argv + 2, argv + argc);
    try {
      return c.run(args);
    } catch (const mobilellm::cli::UsageError& e) {
      fmt::print(stderr, "mobilellm {}: {}\n(see `mobilellm {} --help`)\n", c.name, e.message, c.name);
      return 2;
    } catch (const mobilellm::Error& e) {
      fmt::print(stderr, "mobilellm {}: error ({}): {}\n", c.name,
                 mobilellm::error_code_name(e.code()), e.what());
      return 1;
    } catch (const std::bad_alloc&) {
      fmt::print(stderr, "mobilellm {}: error: out of memory\n", c.name);
      return 1;
    } catch (const std::exception& e) {
      fmt::print(stderr, "mobilellm {}: internal error: {}\n", c.name, e.what());
      return 3;
    }
  }
  fmt::print(stderr, "mobilellm: unknown command '{}'\n\n", cmd);
  print_usage(stderr);
  return 2;
}
