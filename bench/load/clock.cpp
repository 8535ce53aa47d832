#include "bench/load/clock.h"

namespace load {
namespace {
int64_t g_origin = 0;
}

void start_clock() { g_origin = monotonic_us(); }
int64_t clock_origin_us() { return g_origin; }
int64_t now_us() { return monotonic_us() - g_origin; }

}  // namespace load
