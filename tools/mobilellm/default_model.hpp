// The bundled model: what `generate` and `perplexity` use when no -m is given.
#pragma once

#include <string>
#include <vector>

namespace mobilellm::cli {

// The places the bundled model is looked for, in order: next to an installed executable
// (<exe dir>/../share/mobilellm/models/NAME), next to a build folder inside the source tree
// (<exe dir>/../models/NAME), and the source tree the executable was built from
// (MOBILELLM_SOURCE_MODELS_DIR/NAME). NAME is MOBILELLM_DEFAULT_MODEL_NAME (CMakeLists.txt).
std::vector<std::string> default_model_candidates();

// The first candidate that exists as a regular file; IoError listing every place looked at
// when there is none.
std::string default_model_path();

}  // namespace mobilellm::cli
