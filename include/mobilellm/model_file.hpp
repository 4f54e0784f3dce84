// A validated, memory-mapped mobilellm model file (GGUF v3; see models/README.md).
//
// ModelFile::open maps the file read-only and validates everything before returning: container
// structure, every key the runtime reads, every tensor's type, shape and extent, and the vocabulary.
// Tensor data is never copied: TensorView::data points into the mapping, 64-byte aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mobilellm/config.hpp"
#include "mobilellm/vocabulary.hpp"

namespace mobilellm {

// GGML type ids, as GGUF numbers them. Only these four are accepted.
enum class TensorType : std::uint32_t {
  f32 = 0,
  f16 = 1,
  i8 = 24,
  bf16 = 30,
};

const char* tensor_type_name(TensorType t) noexcept;      // "F32", "F16", "I8", "BF16"
std::size_t tensor_type_size(TensorType t) noexcept;      // bytes per element

struct TensorView {
  std::string name;
  TensorType type = TensorType::f32;
  // GGUF order: dims[0] is the fastest-varying (row length). A PyTorch [out, in] weight is {in, out}.
  std::vector<std::uint64_t> dims;
  const std::byte* data = nullptr;  // into the mapping; 64-byte aligned
  std::uint64_t nbytes = 0;
  std::uint64_t file_offset = 0;    // absolute offset of the data in the file

  std::uint64_t element_count() const;
  std::uint64_t rows() const { return dims.size() < 2 ? 1 : element_count() / dims[0]; }
  std::uint64_t cols() const { return dims.empty() ? 1 : dims[0]; }
};

// The tensors of one stored transformer block. `*_scale` are set only for I8 weights.
struct BlockTensors {
  const TensorView* attn_norm = nullptr;
  const TensorView* attn_q = nullptr;
  const TensorView* attn_k = nullptr;
  const TensorView* attn_v = nullptr;
  const TensorView* attn_output = nullptr;
  const TensorView* ffn_norm = nullptr;
  const TensorView* ffn_gate = nullptr;
  const TensorView* ffn_up = nullptr;
  const TensorView* ffn_down = nullptr;
  const TensorView* attn_q_scale = nullptr;
  const TensorView* attn_k_scale = nullptr;
  const TensorView* attn_v_scale = nullptr;
  const TensorView* attn_output_scale = nullptr;
  const TensorView* ffn_gate_scale = nullptr;
  const TensorView* ffn_up_scale = nullptr;
  const TensorView* ffn_down_scale = nullptr;
};

struct ModelFileOptions {
  // Move the mapped file onto transparent huge pages in the background (LoadOptions::huge_pages).
  bool huge_pages = false;
};

class ModelFile {
 public:
  // Maps and validates `path`. Throws IoError or FormatError naming file, field, value and offset.
  static std::shared_ptr<const ModelFile> open(const std::string& path,
                                               const ModelFileOptions& options = {});

  ~ModelFile();
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  const std::string& path() const { return path_; }
  std::uint64_t file_size() const { return file_size_; }
  std::uint32_t gguf_version() const { return gguf_version_; }
  std::uint64_t alignment() const { return alignment_; }
  const std::string& name() const { return name_; }  // general.name, may be empty
  // "F32", "F16", "BF16", "W8A8" or "W8A8G32": the type of the linear weights
  // (mobilellm.weight_type).
  const std::string& weight_type() const { return weight_type_; }
  const ModelConfig& config() const { return config_; }
  const Vocabulary& vocab() const { return vocab_; }

  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;  // nullptr when absent
  const TensorView& get(const std::string& name) const;   // throws FormatError when absent

  const TensorView& token_embd() const { return *token_embd_; }
  const TensorView* token_embd_scale() const { return token_embd_scale_; }
  const TensorView& output_norm() const { return *output_norm_; }
  // The output head: token_embd when embeddings are shared, else `output.weight`.
  const TensorView& output() const { return *output_; }
  const TensorView* output_scale() const { return output_scale_; }
  const BlockTensors& block(std::uint32_t i) const { return blocks_.at(i); }

  std::uint64_t parameter_count() const;  // elements of all weight tensors (scales excluded)
  // Bytes of the file moved onto memory advised for transparent huge pages so far
  // (ModelFileOptions::huge_pages), and whether that has finished (or never started).
  std::uint64_t huge_page_bytes() const;
  bool huge_pages_settled() const;
  // Starts that move (Model::load calls it once the model is ready; nothing happens unless the
  // file was opened with huge_pages and is eligible).
  void start_huge_pages() const;

  // Metadata keys as (key, printable value) pairs, in file order; long arrays summarised.
  std::vector<std::pair<std::string, std::string>> metadata_summary() const;

 private:
  ModelFile() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  std::uint64_t file_size_ = 0;
  std::uint32_t gguf_version_ = 0;
  std::uint64_t alignment_ = 0;
  std::string name_;
  std::string weight_type_;
  ModelConfig config_;
  Vocabulary vocab_;
  std::vector<TensorView> tensors_;
  const TensorView* token_embd_ = nullptr;
  const TensorView* token_embd_scale_ = nullptr;
  const TensorView* output_norm_ = nullptr;
  const TensorView* output_ = nullptr;
  const TensorView* output_scale_ = nullptr;
  std::vector<BlockTensors> blocks_;
  friend struct ModelFileLoader;
};

}  // namespace mobilellm
