// Validation of sampling parameters, shared by the stage factories and SamplingParams::validate so
// that both reject the same values with the same message: "sampling parameter NAME = VALUE is
// invalid: must be ...", as an InvalidArgument.
#pragma once

#include <cstdint>

namespace mobilellm::sampling {

void check_top_k(std::int32_t k);
// top_p and min_p: in [0, 1].
void check_unit_interval(const char* name, float p);
// temperature: finite and >= 0, or > 0 when `zero_allowed` is false (a temperature stage; a zero
// temperature is a greedy Selection, not a division).
void check_temperature(float t, bool zero_allowed);
void check_repeat_penalty(float penalty);
// presence_penalty, frequency_penalty: any finite value (negative ones encourage repetition).
void check_finite(const char* name, float value);
void check_penalty_last_n(std::int32_t last_n);

// The float nearest to `v`, where finite values beyond the float range saturate at +-FLT_MAX and
// only -inf (a masked candidate) maps to -inf. Stages compute rewritten logits in double and store
// them through this, so rewriting never produces +inf or turns a real candidate into a masked one.
float saturate_to_float(double v);

}  // namespace mobilellm::sampling
