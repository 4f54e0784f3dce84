// The forward pass (src/runtime/transformer.cpp) against a float64 reference written here from
// the model file's tensors, on sequences long enough for attention to take several chunks of
// cached positions (kAttentionChunk), with layer sharing on and off, batched and token by token,
// on one and several threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "mobilellm/error.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/session.hpp"
#include "model_builder.hpp"
#include "runtime/transformer.hpp"

namespace mobilellm {
namespace {

using Vec = std::vector<double>;

// A float32 matrix of the file as doubles: rows of `cols`.
struct RefMatrix {
  std::size_t rows = 0, cols = 0;
  Vec w;
  explicit RefMatrix(const TensorView& t) : rows(t.rows()), cols(t.cols()), w(rows * cols) {
    for (std::size_t i = 0; i < w.size(); ++i) {
      float f;
      std::memcpy(&f, t.data + 4 * i, 4);
      w[i] = f;
    }
  }
  Vec apply(const Vec& x) const {
    Vec y(rows, 0.0);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) y[r] += w[r * cols + c] * x[c];
    return y;
  }
};

Vec rms_norm(const Vec& x, const RefMatrix& w, double eps) {
  double ms = 0;
  for (double v : x) ms += v * v;
  const double r = 1 / std::sqrt(ms / double(x.size()) + eps);
  Vec y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * w.w[i];
  return y;
}

// Rotates each head of `v` (rotate_half convention) for position `pos`.
void rope(Vec& v, std::size_t D, std::size_t pos, double base) {
  for (std::size_t h = 0; h < v.size() / D; ++h)
    for (std::size_t i = 0; i < D / 2; ++i) {
      const double angle = double(pos) * std::pow(base, -2.0 * double(i) / double(D));
      const double a = v[h * D + i], b = v[h * D + i + D / 2];
      v[h * D + i] = a * std::cos(angle) - b * std::sin(angle);
      v[h * D + i + D / 2] = b * std::cos(angle) + a * std::sin(angle);
    }
}

// Logits of every position of `tokens`, in float64. With `window` > 0, attention sees only the
// last `window` positions: a deliberately wrong model, to show the comparison would catch it.
std::vector<Vec> reference_logits(const ModelFile& f, const std::vector<std::int32_t>& tokens,
                                  std::size_t window = 0) {
  const ModelConfig& c = f.config();
  const std::size_t D = c.head_dim, H = c.head_count, group = c.head_count / c.head_count_kv;
  const RefMatrix embedding(f.token_embd()), out_norm(f.output_norm()), output(f.output());
  struct Block {
    RefMatrix attn_norm, q, k, v, o, ffn_norm, gate, up, down;
  };
  std::vector<Block> blocks;
  for (std::uint32_t i = 0; i < c.block_count; ++i) {
    const BlockTensors& b = f.block(i);
    blocks.push_back({RefMatrix(*b.attn_norm), RefMatrix(*b.attn_q), RefMatrix(*b.attn_k),
                      RefMatrix(*b.attn_v), RefMatrix(*b.attn_output), RefMatrix(*b.ffn_norm),
                      RefMatrix(*b.ffn_gate), RefMatrix(*b.ffn_up), RefMatrix(*b.ffn_down)});
  }
  const std::size_t reps = c.layer_sharing ? 2 : 1, layers = c.block_count * reps;
  std::vector<std::vector<Vec>> keys(layers), values(layers);  // [layer][position]
  std::vector<Vec> logits;
  for (std::size_t pos = 0; pos < tokens.size(); ++pos) {
    Vec x(embedding.w.begin() + std::ptrdiff_t(tokens[pos] * embedding.cols),
          embedding.w.begin() + std::ptrdiff_t((tokens[pos] + 1) * embedding.cols));
    for (std::size_t layer = 0; layer < layers; ++layer) {
      const Block& b = blocks[layer / reps];
      Vec h = rms_norm(x, b.attn_norm, c.rms_norm_eps);
      Vec q = b.q.apply(h), k = b.k.apply(h);
      rope(q, D, pos, c.rope_freq_base);
      rope(k, D, pos, c.rope_freq_base);
      keys[layer].push_back(k);
      values[layer].push_back(b.v.apply(h));
      const std::size_t first = window > 0 && pos + 1 > window ? pos + 1 - window : 0;
      Vec att(H * D, 0.0);
      for (std::size_t hd = 0; hd < H; ++hd) {
        const std::size_t g = hd / group;
        Vec score;
        double m = -INFINITY, sum = 0;
        for (std::size_t p = first; p <= pos; ++p) {
          double s = 0;
          for (std::size_t i = 0; i < D; ++i) s += q[hd * D + i] * keys[layer][p][g * D + i];
          score.push_back(s / std::sqrt(double(D)));
          m = std::max(m, score.back());
        }
        for (double& s : score) sum += s = std::exp(s - m);
        for (std::size_t p = first; p <= pos; ++p)
          for (std::size_t i = 0; i < D; ++i)
            att[hd * D + i] += score[p - first] / sum * values[layer][p][g * D + i];
      }
      const Vec o = b.o.apply(att);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += o[i];
      h = rms_norm(x, b.ffn_norm, c.rms_norm_eps);
      Vec gate = b.gate.apply(h);
      const Vec up = b.up.apply(h);
      for (std::size_t i = 0; i < gate.size(); ++i)
        gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      const Vec down = b.down.apply(gate);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += down[i];
    }
    logits.push_back(output.apply(rms_norm(x, out_norm, c.rms_norm_eps)));
  }
  return logits;
}

double rel_l2(const float* got, const Vec& want) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

double rel_l2(const Vec& a, const Vec& b) {
  std::vector<float> fa(a.begin(), a.end());
  return rel_l2(fa.data(), b);
}

constexpr double kTolerance = 1e-5;

TEST(Transformer, MatchesFloat64ReferenceOverSeveralAttentionChunks) {
  for (bool layer_sharing : {false, true}) {
    test::ModelSpec spec;
    spec.layer_sharing = layer_sharing;
    spec.vocab_size = 300;
    spec.embedding_length = 64;
    spec.head_dim = 16;
    spec.feed_forward_length = 200;
    spec.context_length = 512;
    spec.seed = layer_sharing ? 7 : 8;
    test::ModelBuilder builder(spec);
    // Sharper attention (larger q · k) than the builder's scale, so that every chunk matters.
    for (std::uint32_t b = 0; b < spec.block_count; ++b) {
      auto& data = builder.tensor("blk." + std::to_string(b) + ".attn_q.weight")->data;
      for (std::size_t i = 0; i < data.size(); i += 4) {
        float v;
        std::memcpy(&v, &data[i], 4);
        v *= 6.0f;
        std::memcpy(&data[i], &v, 4);
      }
    }
    const std::string path =
        test::tmp_path(std::string("transformer_chunks") + (layer_sharing ? "_ls" : "") + ".gguf");
    builder.write(path);
    auto model = Model::load(path);

    const std::size_t n = 2 * kAttentionChunk + 45;  // three chunks, the last one partial
    std::vector<std::int32_t> tokens;
    for (std::size_t i = 0; i < n; ++i) tokens.push_back(std::int32_t(1 + (i * 131 + i / 7) % 299));
    const std::vector<Vec> want = reference_logits(model->file(), tokens);
    const std::size_t V = spec.vocab_size;

    // The comparison can tell: attention that skipped the first chunks is far from the reference.
    const std::vector<Vec> windowed = reference_logits(model->file(), tokens, kAttentionChunk);
    EXPECT_GT(rel_l2(windowed[n - 1], want[n - 1]), 1000 * kTolerance);

    for (unsigned threads : {1u, 3u}) {
      const std::string at = std::string(layer_sharing ? "layer sharing, " : "") +
                             std::to_string(threads) + " threads";
      Session batched(model, {0, threads});
      std::vector<float> logits;
      batched.evaluate(tokens, logits);
      for (std::size_t p = 0; p < n; ++p)
        ASSERT_LE(rel_l2(logits.data() + p * V, want[p]), kTolerance)
            << at << ", batched, position " << p;

      // Token by token (the decode path) after a prefill ending inside the second chunk.
      Session steps(model, {0, threads});
      const std::size_t prefix = kAttentionChunk + 20;
      steps.prefill(std::span<const std::int32_t>(tokens).first(prefix));
      for (std::size_t p = prefix; p < n; ++p) {
        auto step = steps.decode_step(tokens[p]);
        ASSERT_LE(rel_l2(step.data(), want[p]), kTolerance)
            << at << ", token by token, position " << p;
      }
    }
  }
}

}  // namespace
}  // namespace mobilellm
