#include "convert/source_tensor.hpp"

namespace mobilellm {

const char* source_dtype_name(SourceDType t) noexcept {
  switch (t) {
    case SourceDType::f32: return "F32";
    case SourceDType::f16: return "F16";
    case SourceDType::bf16: return "BF16";
  }
  return "?";
}

}  // namespace mobilellm
