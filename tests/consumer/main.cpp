// An application using the installed library: load a model, generate greedily, print.
#include <cstdio>
#include <string_view>

#include <mobilellm/mobilellm.hpp>

int main(int argc, char** argv) {
  std::printf("mobilellm %s\n", mobilellm::version());
  if (argc < 2) return 0;
  try {
    auto model = mobilellm::Model::load(argv[1]);
    const auto& c = model->config();
    std::printf("%s: %u blocks, embedding %u, vocab %zu, %zu tensors\n", argv[1], c.block_count,
                c.embedding_length, model->file().vocab().size(), model->file().tensors().size());
    mobilellm::Session session(model);
    mobilellm::GenerationConfig config;
    config.max_new_tokens = 12;
    config.sampling.temperature = 0.0f;
    auto result = session.generate("", config, [](std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      return true;
    });
    std::printf("\n[%s]\n", mobilellm::finish_reason_name(result.finish_reason));
    return 0;
  } catch (const mobilellm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
