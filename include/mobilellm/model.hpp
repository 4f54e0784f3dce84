// A loaded MobileLLM model: the validated, memory-mapped file plus its tokenizer. Immutable after
// load, so one Model can be shared by any number of sessions on any threads.
#pragma once

#include <memory>
#include <string>

#include "mobilellm/config.hpp"
#include "mobilellm/model_file.hpp"

namespace mobilellm {

class Tokenizer;
class Transformer;

struct LoadOptions {
  // Which W8A8 kernels to use: an ISA name ("scalar", "avx2", "avx512vnni", "neon", "neondot",
  // "neoni8mm"), or empty for the best this CPU supports. The MOBILELLM_KERNELS environment
  // variable overrides the default choice as well. Ignored for float models.
  std::string kernels;
  // Linux with transparent huge pages: once load() is done, a background thread moves the
  // weights onto huge pages in place, 2 MiB at a time (same addresses, same bytes; sessions run
  // meanwhile). Decoding streams every weight once per token, and on 4 KiB pages that stream
  // stalls at every page (TLB misses, prefetchers stop at page boundaries); in an A/B on the
  // shared Zen 4 test machine, 125M decoded 93 -> 169 tokens/s on one thread with the move done.
  // Costs one background copy of the file and, until the kernel reclaims it, the page cache's
  // copy beside ours; the process's resident size does not grow. Files smaller than
  // 4 huge pages are left alone. The MOBILELLM_HUGE_PAGES environment variable set to 0 turns it
  // off, to 1 on.
  bool huge_pages = true;
};

class Model {
 public:
  // Maps and validates the file (ModelFile::open), builds the tokenizer and, for a W8A8 file,
  // selects the kernels. The weights are used where they are mapped: nothing is copied or
  // repacked at load (except W8A8G32, whose kernels read a private layout; and see
  // LoadOptions::huge_pages for the move that starts afterwards). Throws mobilellm::Error.
  static std::shared_ptr<const Model> load(const std::string& path, const LoadOptions& options = {});
  ~Model();

  const ModelFile& file() const { return *file_; }
  const ModelConfig& config() const { return file_->config(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  double load_seconds() const { return load_seconds_; }  // wall time of load()
  // The kernels computing the linear layers, for stats and logs.
  std::string kernels() const;
  const Transformer& transformer() const { return *transformer_; }  // internal

 private:
  Model() = default;
  std::shared_ptr<const ModelFile> file_;
  std::unique_ptr<const Tokenizer> tokenizer_;
  std::unique_ptr<const Transformer> transformer_;
  double load_seconds_ = 0.0;
};

}  // namespace mobilellm
