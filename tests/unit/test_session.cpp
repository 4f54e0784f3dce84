// Sessions and generation on small random models built by model_builder.hpp: the KV cache (with
// layer sharing), consistency of incremental and batched evaluation, generate()'s finish reasons,
// stop strings, prompt limits, and detection of a session used from two threads.
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "mobilellm/error.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/session.hpp"
#include "mobilellm/tokenizer.hpp"
#include "model_builder.hpp"

namespace mobilellm {
namespace {

using test::ModelBuilder;
using test::ModelSpec;

std::shared_ptr<const Model> build(const ModelSpec& spec, const std::string& file) {
  const std::string path = test::tmp_path(file);
  ModelBuilder(spec).write(path);
  return Model::load(path);
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

struct Layout {
  bool layer_sharing;
  const char* weight_type;
};

class SessionConsistency : public ::testing::TestWithParam<Layout> {};

// Feeding a sequence token by token through the KV cache, in uneven chunks, or all at once gives
// the same logits. With layer sharing this holds only if each application of a shared block keeps
// its own keys and values.
TEST_P(SessionConsistency, IncrementalEqualsBatched) {
  ModelSpec spec;
  spec.layer_sharing = GetParam().layer_sharing;
  spec.weight_type = GetParam().weight_type;
  spec.block_count = 3;
  auto model = build(spec, std::string("consistency_") + (spec.layer_sharing ? "ls_" : "") +
                               spec.weight_type + ".gguf");
  std::vector<std::int32_t> tokens;
  for (int i = 0; i < 21; ++i) tokens.push_back(1 + (i * 7) % 60);

  Session whole(model);
  std::vector<float> batched;
  whole.evaluate(tokens, batched);
  EXPECT_EQ(whole.position(), tokens.size());

  for (std::size_t chunk : {std::size_t(1), std::size_t(4), std::size_t(7)}) {
    Session s(model);
    std::vector<float> incremental, part;
    for (std::size_t i = 0; i < tokens.size(); i += chunk) {
      const std::size_t n = std::min(chunk, tokens.size() - i);
      s.evaluate(std::span<const std::int32_t>(tokens).subspan(i, n), part);
      incremental.insert(incremental.end(), part.begin(), part.end());
    }
    ASSERT_EQ(incremental.size(), batched.size());
    EXPECT_LT(rel_l2(incremental, batched), 1e-5) << "chunk " << chunk;
  }

  // prefill + decode_step return the last position's logits.
  Session s(model);
  s.prefill(std::span<const std::int32_t>(tokens).first(tokens.size() - 1));
  auto last = s.decode_step(tokens.back());
  const std::size_t V = model->config().vocab_size;
  std::vector<float> expect(batched.end() - std::ptrdiff_t(V), batched.end());
  EXPECT_LT(rel_l2(std::vector<float>(last.begin(), last.end()), expect), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Layouts, SessionConsistency,
                         ::testing::Values(Layout{false, "F32"}, Layout{true, "F32"},
                                           Layout{true, "F16"}, Layout{false, "BF16"},
                                           Layout{true, "W8A8"}));

TEST(Session, LayerSharingChangesTheResult) {
  // The same weights applied once or twice per block must give different logits: the second
  // application is real, not skipped.
  ModelSpec spec;
  spec.block_count = 2;
  ModelBuilder plain(spec);
  plain.write(test::tmp_path("ls_off.gguf"));
  plain.set("mobilellm.layer_sharing", gguf::Value::boolean(true));
  plain.write(test::tmp_path("ls_on.gguf"));
  std::vector<std::int32_t> tokens{1, 5, 9, 13};
  std::vector<float> a, b;
  Session(Model::load(test::tmp_path("ls_off.gguf"))).evaluate(tokens, a);
  Session(Model::load(test::tmp_path("ls_on.gguf"))).evaluate(tokens, b);
  EXPECT_GT(rel_l2(a, b), 1e-3);
}

TEST(Session, KvCacheBytesAndLimits) {
  ModelSpec spec;
  spec.layer_sharing = true;
  auto model = build(spec, "kv.gguf");
  Session s(model, SessionOptions{16});
  // 2 stored blocks applied twice = 4 KV slots, K and V, kv_heads * head_dim floats each.
  EXPECT_EQ(s.kv_cache_bytes(), 4ull * 2 * 16 * spec.head_count_kv * spec.head_dim * sizeof(float));
  EXPECT_EQ(s.context_length(), 16u);
  std::vector<std::int32_t> too_many(17, 5);
  EXPECT_THROW(s.prefill(too_many), InvalidArgument);
  EXPECT_EQ(s.position(), 0u);
  EXPECT_THROW(s.decode_step(spec.vocab_size), InvalidArgument);
  EXPECT_THROW(s.decode_step(-1), InvalidArgument);
  EXPECT_EQ(s.position(), 0u);
  EXPECT_THROW(Session(model, SessionOptions{spec.context_length + 1}), InvalidArgument);
}

GenerationConfig greedy(std::uint32_t n) {
  GenerationConfig g;
  g.max_new_tokens = n;
  g.sampling.temperature = 0.0f;
  return g;
}

TEST(Generation, FinishReasonsAndStats) {
  auto model = build(ModelSpec{}, "gen.gguf");
  {
    Session s(model);
    GenerationConfig g = greedy(5);
    g.stop_at_eos = false;
    GenerationResult r = s.generate("ab", g);
    EXPECT_EQ(r.finish_reason, FinishReason::length);
    EXPECT_EQ(r.tokens.size(), 5u);
    EXPECT_EQ(r.stats.generated_tokens, 5u);
    EXPECT_EQ(r.stats.prompt_tokens, model->tokenizer().encode("ab", true).size());
    EXPECT_EQ(r.stats.kv_cache_bytes, s.kv_cache_bytes());
    // The streamed text continues the prompt's text exactly.
    std::vector<std::int32_t> all = model->tokenizer().encode("ab", true);
    const std::string prompt_text = model->tokenizer().decode(all);
    all.insert(all.end(), r.tokens.begin(), r.tokens.end());
    EXPECT_EQ(prompt_text + r.text, model->tokenizer().decode(all));
    // The session now holds BOS + prompt + the generated tokens fed back (all but the last).
    EXPECT_EQ(s.position(), r.stats.prompt_tokens + 4);
  }
  {
    Session s(model, SessionOptions{8});
    GenerationConfig g = greedy(100);
    g.stop_at_eos = false;
    GenerationResult r = s.generate("a", g);
    EXPECT_EQ(r.finish_reason, FinishReason::context_full);
    EXPECT_EQ(s.position(), 8u);
  }
  {
    Session s(model);
    GenerationConfig g = greedy(50);
    g.stop_at_eos = false;
    int calls = 0;
    GenerationResult r = s.generate("a", g, [&](std::string_view) { return ++calls < 2; });
    EXPECT_EQ(r.finish_reason, FinishReason::cancelled);
    EXPECT_EQ(calls, 2);
  }
}

TEST(Generation, StopStringIsNotEmitted) {
  auto model = build(ModelSpec{}, "stop.gguf");
  GenerationConfig g = greedy(12);
  g.stop_at_eos = false;
  GenerationResult full = Session(model).generate("ab", g);
  ASSERT_GE(full.text.size(), 4u);
  const std::string stop = full.text.substr(full.text.size() / 2, 2);
  const std::string expect = full.text.substr(0, full.text.find(stop));
  g.stop = {stop};
  std::string streamed;
  GenerationResult r = Session(model).generate("ab", g, [&](std::string_view t) {
    streamed += t;
    return true;
  });
  EXPECT_EQ(r.finish_reason, FinishReason::stop);
  EXPECT_EQ(r.text, expect);
  EXPECT_EQ(streamed, expect);
}

TEST(Generation, EndOfSequence) {
  // All-zero final norm weights make every logit 0; the greedy tie goes to the lowest id, which
  // this model declares as EOS.
  ModelBuilder b;
  auto* norm = b.tensor("output_norm.weight");
  std::fill(norm->data.begin(), norm->data.end(), std::byte{0});
  b.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(0));
  b.write(test::tmp_path("eos.gguf"));
  auto model = Model::load(test::tmp_path("eos.gguf"));
  GenerationResult r = Session(model).generate("a", greedy(10));
  EXPECT_EQ(r.finish_reason, FinishReason::eos);
  EXPECT_TRUE(r.tokens.empty());
  EXPECT_TRUE(r.text.empty());
}

TEST(Generation, PromptLongerThanContext) {
  auto model = build(ModelSpec{}, "long.gguf");
  const std::string prompt(40, 'a');
  const std::size_t n = model->tokenizer().encode(prompt, true).size();
  ASSERT_GT(n, 16u);
  Session s(model, SessionOptions{16});
  try {
    s.generate(prompt, greedy(4));
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(n)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("16"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.position(), 0u);
  GenerationConfig g = greedy(4);
  g.prompt_overflow = PromptOverflow::truncate_left;
  GenerationResult r = s.generate(prompt, g);
  EXPECT_EQ(r.stats.prompt_tokens, 16u);
  EXPECT_EQ(s.tokens().front(), model->tokenizer().bos());
  EXPECT_EQ(r.finish_reason, FinishReason::context_full);
}

TEST(Generation, InvalidSamplingParametersChangeNothing) {
  auto model = build(ModelSpec{}, "params.gguf");
  Session s(model);
  GenerationConfig g;
  g.sampling.temperature = std::nanf("");
  EXPECT_THROW(s.generate("a", g), InvalidArgument);
  g = GenerationConfig{};
  g.sampling.top_p = 1.5f;
  EXPECT_THROW(s.generate("a", g), InvalidArgument);
  EXPECT_EQ(s.position(), 0u);
}

TEST(Generation, SameSeedSameText) {
  auto model = build(ModelSpec{}, "seed.gguf");
  GenerationConfig g;
  g.max_new_tokens = 20;
  g.stop_at_eos = false;
  g.sampling.temperature = 1.5f;
  g.sampling.top_k = 0;
  g.sampling.top_p = 1.0f;
  g.sampling.min_p = 0.0f;
  g.sampling.seed = 1234;
  auto a = Session(model).generate("ab", g).tokens;
  auto b = Session(model).generate("ab", g).tokens;
  EXPECT_EQ(a, b);
  g.sampling.seed = 4321;
  EXPECT_NE(a, Session(model).generate("ab", g).tokens);
}

// A second thread calling into a session while the first is inside generate() gets a "busy"
// error; the first call completes normally. The callback blocks the first thread so that the
// overlap is certain, not a matter of timing.
TEST(SessionThreads, ConcurrentUseIsReported) {
  auto model = build(ModelSpec{}, "threads.gguf");
  Session s(model);
  std::mutex m;
  std::condition_variable cv;
  bool inside = false, release = false;
  GenerationConfig g = greedy(3);
  g.stop_at_eos = false;
  std::thread first([&] {
    GenerationResult r = s.generate("ab", g, [&](std::string_view) {
      std::unique_lock lock(m);
      inside = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
      return true;
    });
    EXPECT_EQ(r.tokens.size(), 3u);
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return inside; });
  }
  try {
    s.decode_step(5);
    ADD_FAILURE() << "expected a busy error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::busy);
  }
  EXPECT_THROW(s.reset(), Error);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  first.join();
  // Free again: the session works after the other thread left.
  EXPECT_NO_THROW(s.decode_step(5));
}

// Separate sessions of one shared model run concurrently and agree with a sequential run.
TEST(SessionThreads, SharedModelIndependentSessions) {
  auto model = build(ModelSpec{.layer_sharing = true}, "shared.gguf");
  std::vector<std::int32_t> tokens{1, 4, 8, 15, 16, 23, 42};
  std::vector<float> expect;
  Session(model).evaluate(tokens, expect);
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (auto& out : got)
    threads.emplace_back([&model, &tokens, &out] { Session(model).evaluate(tokens, out); });
  for (auto& t : threads) t.join();
  for (const auto& out : got) EXPECT_EQ(out, expect);
}

// The forward pass splits its work over the session's threads (rows of the linear layers, heads
// or tokens of attention, rows of quantization), and every split computes each output exactly as
// one thread does: the logits are identical, bit for bit, for any thread count, in batches and
// token by token. The shapes are large enough for the W8A8 kernels' 64-row tiles to be split, with
// tails (FFN 200, vocabulary 300).
TEST(SessionThreads, ThreadCountDoesNotChangeTheLogits) {
  for (const char* weight_type : {"F32", "BF16", "W8A8"}) {
    ModelSpec spec;
    spec.weight_type = weight_type;
    spec.layer_sharing = true;
    spec.vocab_size = 300;
    spec.embedding_length = 64;
    spec.head_dim = 16;
    spec.feed_forward_length = 200;
    auto model = build(spec, std::string("threads_") + weight_type + ".gguf");
    std::vector<std::int32_t> tokens;
    for (int i = 0; i < 23; ++i) tokens.push_back(1 + (i * 37) % 299);

    auto run = [&](unsigned threads, std::vector<float>& batched, std::vector<float>& stepwise) {
      Session whole(model, {0, threads});
      whole.evaluate(tokens, batched);
      Session steps(model, {0, threads});
      stepwise.clear();
      for (std::int32_t t : tokens) {
        auto logits = steps.decode_step(t);
        stepwise.insert(stepwise.end(), logits.begin(), logits.end());
      }
    };
    std::vector<float> batched1, stepwise1;
    run(1, batched1, stepwise1);
    for (unsigned threads : {2u, 3u}) {  // 3: an odd split, and more threads than CI has cores
      std::vector<float> batched, stepwise;
      run(threads, batched, stepwise);
      EXPECT_EQ(batched, batched1) << weight_type << ", " << threads << " threads, batched";
      EXPECT_EQ(stepwise, stepwise1)
          << weight_type << ", " << threads << " threads, token by token";
    }
  }
}

}  // namespace
}  // namespace mobilellm
