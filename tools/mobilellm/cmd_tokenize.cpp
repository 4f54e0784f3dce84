// mobilellm tokenize -m MODEL [--no-bos] (TEXT | -f FILE)
// mobilellm tokenize -m MODEL --decode (IDS | -f FILE)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "cli.hpp"
#include "common/file.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/model_file.hpp"
#include "mobilellm/tokenizer.hpp"

namespace mobilellm::cli {
namespace {

constexpr const char* kUsage = R"(usage: mobilellm tokenize -m MODEL [--no-bos] (TEXT | -f FILE)
       mobilellm tokenize -m MODEL --decode (IDS | -f FILE)

Encodes TEXT, or each line of FILE, with the tokenizer stored in MODEL and prints the token ids
space-separated, one output line per input line. FILE is split on '\n' only: a '\r' before it
stays part of the line, and a final '\n' ends the last line (it does not start an empty one).
With --decode, the input is token ids separated by spaces or commas, and each line's text is
printed followed by '\n'.

options:
  -m, --model PATH   model file whose tokenizer to use (required)
  -f, --file PATH    read the lines from PATH instead of the command line
  --no-bos           do not put BOS first (by default it is, when the model asks for it)
  --decode           decode ids into text instead of encoding
  --                 the next argument is TEXT or IDS even if it begins with '-'
  -h, --help         print this help
)";

// Calls `fn(line, number)` for each line of `text`, split on '\n' (1-based numbers).
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    fn(text.substr(0, end), ++number);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

std::vector<std::int32_t> parse_ids(std::string_view line, const std::string& where) {
  std::vector<std::int32_t> ids;
  constexpr std::string_view kSeparators = " ,\t\r";
  for (std::size_t pos = line.find_first_not_of(kSeparators); pos != std::string_view::npos;) {
    const std::size_t end = std::min(line.find_first_of(kSeparators, pos), line.size());
    ids.push_back(static_cast<std::int32_t>(parse_int(
        where, std::string(line.substr(pos, end - pos)), INT32_MIN, INT32_MAX)));
    pos = line.find_first_not_of(kSeparators, end);
  }
  return ids;
}

void write_stdout(std::string_view s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size())
    throw IoError("writing to standard output failed");
}

}  // namespace

int run_tokenize(const Args& args) {
  std::string model_path, file_path, text;
  bool have_text = false, no_bos = false, decode = false;
  ArgCursor c(args);
  const auto set_text = [&](std::string value) {
    if (have_text) throw UsageError{"more than one TEXT given: '" + value + "'"};
    text = std::move(value);
    have_text = true;
  };
  while (!c.done()) {
    if (c.flag({"-h", "--help"})) {
      fmt::print("{}", kUsage);
      return 0;
    } else if (c.flag({"--no-bos"})) {
      no_bos = true;
    } else if (c.flag({"--decode"})) {
      decode = true;
    } else if (auto v = c.option({"-m", "--model"})) {
      model_path = *v;
    } else if (auto f = c.option({"-f", "--file"})) {
      file_path = *f;
    } else if (c.flag({"--"})) {
      if (c.done()) throw UsageError{"-- must be followed by TEXT"};
      std::string raw = c.peek();
      c.flag({raw});  // consume it verbatim, whatever it looks like
      set_text(std::move(raw));
    } else {
      set_text(c.positional());
    }
  }
  if (model_path.empty()) throw UsageError{"missing -m MODEL"};
  if (have_text == !file_path.empty()) throw UsageError{"give either TEXT or -f FILE"};
  if (decode && no_bos) throw UsageError{"--no-bos applies to encoding, not to --decode"};

  const auto model = ModelFile::open(model_path);
  const Tokenizer tokenizer(model->vocab());
  const bool bos = tokenizer.add_bos() && !no_bos;

  std::string out;
  const auto process = [&](std::string_view line, const std::string& where) {
    out.clear();
    if (decode) {
      out = tokenizer.decode(parse_ids(line, where));
    } else {
      for (const std::int32_t id : tokenizer.encode(line, bos)) {
        if (!out.empty()) out.push_back(' ');
        out.append(std::to_string(id));
      }
    }
    out.push_back('\n');
    write_stdout(out);
  };

  if (have_text) {
    process(text, "IDS");
  } else {
    const auto file = MappedFile::open(file_path);
    const std::string_view contents(reinterpret_cast<const char*>(file->data()), file->size());
    for_each_line(contents, [&](std::string_view line, std::size_t number) {
      process(line, file_path + " line " + std::to_string(number));
    });
  }
  if (std::fflush(stdout) != 0) throw IoError("writing to standard output failed");
  return 0;
}

}  // namespace mobilellm::cli
