#include "mobilellm/model.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "mobilellm/tokenizer.hpp"
#include "runtime/transformer.hpp"

namespace mobilellm {

std::shared_ptr<const Model> Model::load(const std::string& path, const LoadOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<Model> m(new Model());
  ModelFileOptions file_options{options.huge_pages};
  if (const char* env = std::getenv("MOBILELLM_HUGE_PAGES"); env && *env)
    file_options.huge_pages = std::strcmp(env, "0") != 0;
  m->file_ = ModelFile::open(path, file_options);
  m->tokenizer_ = std::make_unique<const Tokenizer>(m->file_->vocab());
  m->transformer_ = std::make_unique<const Transformer>(
      *m->file_, options.kernels.empty() ? nullptr : options.kernels.c_str());
  m->load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Only now: the move's mremaps would otherwise hold up the page faults of validation.
  m->file_->start_huge_pages();
  return m;
}

Model::~Model() = default;

std::string Model::kernels() const { return transformer_->kernels_description(); }

}  // namespace mobilellm
