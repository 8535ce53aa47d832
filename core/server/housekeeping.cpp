// core/server/housekeeping.cpp: one pass over the connection table.
#include "core/server/housekeeping.h"

#include "core/base/ws_frames.h"

namespace roomcast {

Housekeeping::Housekeeping(const Config& config, ConnectionTable& table, Metrics& metrics, Logger& log)
    : config_(config), table_(table), metrics_(metrics), log_(log), ping_(FrameRef::adopt(ws_frame(Opcode::Ping, {}))) {}

TickReport Housekeeping::tick(int64_t now_ns, int64_t unix_s) {
  TickReport report;
  const int64_t interval = int64_t(config_.ping_interval_s) * 1'000'000'000;
  table_.for_each([&](Connection& c) {
    switch (c.state) {
      case ConnState::Handshake:
        if (c.deadline.reached(now_ns)) {
          metrics_.refusals[size_t(Refusal::Timeout)].add();
          log_.log(LogLevel::Info, "handshake_timeout", {{"peer", c.peer.to_string()}});
          table_.end(c, Ending::drop("handshake timeout"), now_ns);
        }
        break;
      case ConnState::Open:
        if (c.member.awaiting_token && c.deadline.reached(now_ns)) {
          table_.end(c, Ending::close(kCloseUnauthorized, "unauthorized"), now_ns);
          break;
        }

        // A write the kernel has not taken a byte of for two ping periods: the peer stopped
        // reading (a zero window), whatever it still sends. Its close frame cannot leave
        // either, so the linger then drops it and cancels the write.
        if (c.send_in_flight() && now_ns - c.last_send_ns >= 2 * interval) {
          metrics_.slow_reader_closes.add();
          log_.log(LogLevel::Warn, "slow_reader", {{"peer", c.peer.to_string()}, {"room", c.member.room()}, {"why", "no progress"}});
          table_.end(c, Ending::close(kClosePolicyViolation, "slow reader: no progress"), now_ns);
          break;
        }
        if (c.member.identity && c.member.identity->exp > 0 && unix_s >= c.member.identity->exp) {
          metrics_.expiry_closes.add();
          log_.log(LogLevel::Info, "token_expired", {{"peer", c.peer.to_string()}, {"room", c.member.room()}});
          table_.end(c, Ending::close(kCloseUnauthorized, "token expired"), now_ns);
          break;
        }
        if (c.last_rx.elapsed_ns(now_ns) >= 2 * interval) {
          // Through wslay, so its reader stops too (nothing after our close is processed).
          c.note_close_reason("idle timeout", /*replace=*/true);
          c.ws.queue_close(kCloseGoingAway, "idle timeout");
          c.flush_control();
          if (c.ws.close_sent()) table_.end(c, Ending::close_queued(), now_ns);
        } else if (c.last_ping.elapsed_ns(now_ns) >= interval) {
          c.member.out.push(ping_.get());
          c.last_ping = ClockMs::of(now_ns);
        }
        // Quiet for a second: give back the framing state (~8.5 KiB; the worker usually
        // has already, after the last feed) and the send ring (unless a ping waits in it).
        // Counted when either was given back: many at once is what makes the worker
        // return free heap pages and the receive pool to the kernel.
        if (c.last_rx.elapsed_ns(now_ns) >= 1'000'000'000 && c.state == ConnState::Open) {
          const bool framing = c.ws.park();
          if (c.member.out.release_storage() || framing) ++report.parked;
        }
        break;
      case ConnState::Closing:
        if (c.deadline.reached(now_ns)) table_.end(c, Ending::drop("linger timeout"), now_ns);
        break;
      case ConnState::Dead:
        break;
    }
  });
  return report;
}

}  // namespace roomcast
