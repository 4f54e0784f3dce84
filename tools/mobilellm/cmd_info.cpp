// `mobilellm info MODEL`: what a model file holds, after full validation.
#include <algorithm>
#include <cstdio>
#include <string>

#include <fmt/core.h>

#include "cli.hpp"
#include "common/utf8.hpp"
#include "mobilellm/model_file.hpp"

namespace mobilellm::cli {

namespace {

constexpr const char* kUsage =
    "usage: mobilellm info MODEL [--metadata]\n"
    "\n"
    "Validates MODEL (a mobilellm .gguf file) and prints its container, weight type,\n"
    "hyper-parameters, parameter count, tokenizer and tensor table.\n"
    "\n"
    "options:\n"
    "  --metadata   also print every metadata key with its value (arrays abbreviated)\n"
    "  -h, --help   print this help\n";

// 1234567 -> "1,234,567"
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// 124600000 -> "124.6 M"
std::string abbreviated(std::uint64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.1f} M", n / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f} K", n / 1e3);
  return std::to_string(n);
}

std::string dims_string(const std::vector<std::uint64_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

std::string token(const Vocabulary& v, std::int32_t id) {
  if (id < 0) return "none";
  return fmt::format("{} \"{}\"", id, printable(v.pieces[static_cast<std::size_t>(id)], 40));
}

const char* yes_no(bool b) { return b ? "yes" : "no"; }

void print_model(const ModelFile& m) {
  const ModelConfig& c = m.config();
  const Vocabulary& v = m.vocab();

  fmt::print("file          {}\n", m.path());
  fmt::print("size          {} bytes ({:.2f} MiB)\n", grouped(m.file_size()),
             m.file_size() / (1024.0 * 1024.0));
  fmt::print("container     GGUF v{}, alignment {}, {} tensors\n", m.gguf_version(), m.alignment(),
             m.tensors().size());
  fmt::print("name          {}\n", m.name().empty() ? "(none)" : printable(m.name(), 80));
  fmt::print("weight type   {}\n", m.weight_type());
  fmt::print("parameters    {} ({})\n", grouped(m.parameter_count()),
             abbreviated(m.parameter_count()));

  fmt::print("\nhyper-parameters\n");
  fmt::print("  vocab_size           {}\n", c.vocab_size);
  fmt::print("  embedding_length     {}\n", c.embedding_length);
  fmt::print("  feed_forward_length  {}\n", c.feed_forward_length);
  fmt::print("  blocks               {} stored, {} applied{}\n", c.block_count,
             c.applied_block_count(), c.layer_sharing ? " (layer sharing: each block twice)" : "");
  fmt::print("  heads                {} query, {} key/value, head_dim {}\n", c.head_count,
             c.head_count_kv, c.head_dim);
  fmt::print("  context_length       {}\n", c.context_length);
  fmt::print("  rope_freq_base       {}\n", c.rope_freq_base);
  fmt::print("  rms_norm_eps         {}\n", c.rms_norm_eps);
  fmt::print("  embedding_sharing    {}\n", yes_no(c.embedding_sharing));

  fmt::print("\ntokenizer\n");
  fmt::print("  model                {}, {} pieces, {} merges{}\n", v.model, v.size(),
             v.merges.size(), v.merges.empty() ? " (merge order from scores)" : "");
  fmt::print("  bos                  {}\n", token(v, v.bos_id));
  fmt::print("  eos                  {}\n", token(v, v.eos_id));
  fmt::print("  unk                  {}\n", token(v, v.unk_id));
  fmt::print("  pad                  {}\n", token(v, v.pad_id));
  fmt::print("  add_bos              {}\n", yes_no(v.add_bos));
  fmt::print("  add_eos              {}\n", yes_no(v.add_eos));
  fmt::print("  add_space_prefix     {}\n", yes_no(v.add_space_prefix));
  // A handful of pieces spread over the vocabulary.
  constexpr std::size_t kExamples = 8;
  const std::size_t shown = std::min(kExamples, v.size());
  fmt::print("  example pieces       ");
  for (std::size_t i = 0; i < shown; ++i)
    fmt::print("{}{}", i ? ", " : "", token(v, static_cast<std::int32_t>(i * v.size() / shown)));
  fmt::print("\n");

  std::size_t width = 4;
  for (const auto& t : m.tensors()) width = std::max(width, t.name.size());
  fmt::print("\ntensors\n  {:<{}}  {:<4}  {:<16}  {:>12}  {:>12}\n", "name", width, "type", "dims",
             "offset", "bytes");
  for (const auto& t : m.tensors())
    fmt::print("  {:<{}}  {:<4}  {:<16}  {:>12}  {:>12}\n", t.name, width,
               tensor_type_name(t.type), dims_string(t.dims), t.file_offset, t.nbytes);
}

}  // namespace

int run_info(const Args& args) {
  ArgCursor cur(args);
  std::string path;
  bool metadata = false;
  while (!cur.done()) {
    if (cur.flag({"-h", "--help"})) {
      fmt::print("{}", kUsage);
      return 0;
    }
    if (cur.flag({"--metadata"})) {
      metadata = true;
      continue;
    }
    std::string p = cur.positional();
    if (!path.empty()) throw UsageError{"more than one MODEL given: " + p};
    path = std::move(p);
  }
  if (path.empty()) throw UsageError{"no MODEL given"};

  auto model = ModelFile::open(path);
  print_model(*model);
  if (metadata) {
    fmt::print("\nmetadata\n");
    for (const auto& [key, value] : model->metadata_summary())
      fmt::print("  {} = {}\n", printable(key, 200), value);
  }
  return 0;
}

}  // namespace mobilellm::cli
