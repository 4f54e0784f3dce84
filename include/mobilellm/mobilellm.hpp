// Umbrella header of the mobilellm C++ API.
#pragma once

#include "mobilellm/config.hpp"
#include "mobilellm/convert.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/model.hpp"
#include "mobilellm/model_file.hpp"
#include "mobilellm/sampler.hpp"
#include "mobilellm/session.hpp"
#include "mobilellm/stats.hpp"
#include "mobilellm/tokenizer.hpp"
#include "mobilellm/version.hpp"
#include "mobilellm/vocabulary.hpp"
