#include "mobilellm/model.hpp"

#include <chrono>

#include "mobilellm/tokenizer.hpp"
#include "runtime/transformer.hpp"

namespace mobilellm {

std::shared_ptr<const Model> Model::load(const std::string& path, const LoadOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<Model> m(new Model());
  m->file_ = ModelFile::open(path);
  m->tokenizer_ = std::make_unique<const Tokenizer>(m->file_->vocab());
  m->transformer_ = std::make_unique<const Transformer>(
      *m->file_, options.kernels.empty() ? nullptr : options.kernels.c_str());
  m->load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

Model::~Model() = default;

std::string Model::kernels() const { return transformer_->kernels_description(); }

}  // namespace mobilellm
