// core/server/housekeeping.h: what a loop thread checks once a second, per connection.
//
// Owns: the shared empty ping frame every connection's keepalive pushes.
// Called by: the Worker on each timer tick; it re-arms the timer and acts on the report.
// Checks, per connection state:
//   - Handshake: past --handshake-timeout -> dropped (slowloris holds no slot forever);
//   - Open: silent for two --ping-interval periods -> close 1001 "idle timeout"; else a
//     ping every period; quiet for a second -> its framing state and send ring are given
//     back (parked) until the next byte; its token past `exp` -> close 4001 "token
//     expired"; waiting for an in-band token (or told 1013) past --handshake-timeout ->
//     close 4001 (or 1013);
//   - Closing: past the linger deadline -> dropped.
// Promises: touches each connection once, never blocks, and ends connections only
// through ConnectionTable::end.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/server/connection_table.h"

namespace roomcast {

struct TickReport {
  size_t parked = 0;  // quiet connections that gave back framing state or a send ring this tick
};

class Housekeeping {
 public:
  Housekeeping(const Config& config, ConnectionTable& table, Metrics& metrics, Logger& log);

  // `now_ns` is the loop's monotonic clock, `unix_s` the wall clock for token expiry.
  TickReport tick(int64_t now_ns, int64_t unix_s);

 private:
  const Config& config_;
  ConnectionTable& table_;
  Metrics& metrics_;
  Logger& log_;
  FrameRef ping_;  // one empty ping shared by every connection
};

}  // namespace roomcast
