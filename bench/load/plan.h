// bench/load/plan.h: when cursors are sent and which of them are measured.
//
// Written once by the main thread after every connection is welcomed, then published to
// the tool threads (release/acquire on an atomic flag) and never changed. All times are
// µs since tool start (clock.h). Steps are back to back: step k+1 starts sending when step
// k stops. A cursor belongs to the step whose measured window contains its *send time*
// (the time carried in the cursor), both for counting sends and for counting deliveries,
// so a late delivery is still counted for the step it was sent in.
#pragma once

#include <cstdint>
#include <vector>

namespace load {

struct Step {
  double rate = 0;               // cursors per connection per second
  int64_t send_start_us = 0;     // first scheduled send
  int64_t measure_start_us = 0;  // = send_start + warmup
  int64_t measure_end_us = 0;    // = send_end
  int64_t send_end_us = 0;       // no scheduled send at or after this
};

struct Plan {
  std::vector<Step> steps;
  int64_t drain_end_us = 0;  // receiving stops here

  // Index of the step whose measured window holds `sent_us`, or -1.
  int measured_step(int64_t sent_us) const {
    for (size_t k = 0; k < steps.size(); ++k) {
      if (sent_us < steps[k].measure_start_us) return -1;
      if (sent_us < steps[k].measure_end_us) return int(k);
    }
    return -1;
  }
};

}  // namespace load
