// A loaded MobileLLM model: the validated, memory-mapped file plus its tokenizer. Immutable after
// load, so one Model can be shared by any number of sessions on any threads.
#pragma once

#include <memory>
#include <string>

#include "mobilellm/config.hpp"
#include "mobilellm/model_file.hpp"

namespace mobilellm {

class Tokenizer;

class Model {
 public:
  // Maps and validates the file (ModelFile::open) and builds the tokenizer. Throws mobilellm::Error.
  static std::shared_ptr<const Model> load(const std::string& path);
  ~Model();

  const ModelFile& file() const { return *file_; }
  const ModelConfig& config() const { return file_->config(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  double load_seconds() const { return load_seconds_; }  // wall time of load()

 private:
  Model() = default;
  std::shared_ptr<const ModelFile> file_;
  std::unique_ptr<const Tokenizer> tokenizer_;
  double load_seconds_ = 0.0;
};

}  // namespace mobilellm
