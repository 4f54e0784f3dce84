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
};

class Model {
 public:
  // Maps and validates the file (ModelFile::open), builds the tokenizer and, for a W8A8 file,
  // selects the kernels. The weights are used where they are mapped: nothing is copied or
  // repacked at load. Throws mobilellm::Error.
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
