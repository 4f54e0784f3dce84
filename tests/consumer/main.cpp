// Opens a model file with the installed library and prints what it is.
#include <cstdio>

#include <mobilellm/mobilellm.hpp>

int main(int argc, char** argv) {
  std::printf("mobilellm %s\n", mobilellm::version());
  if (argc < 2) return 0;
  try {
    auto model = mobilellm::ModelFile::open(argv[1]);
    const auto& c = model->config();
    std::printf("%s: %u blocks, embedding %u, vocab %zu, %zu tensors\n", argv[1], c.block_count,
                c.embedding_length, model->vocab().size(), model->tensors().size());
    return 0;
  } catch (const mobilellm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
