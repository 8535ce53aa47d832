#include "core/base/metrics.h"

#include <cstdio>

namespace roomcast {

Refusal refusal_for_status(int status) {
  switch (status) {
    case 401: return Refusal::Unauthorized;
    case 403: return Refusal::Forbidden;
    case 404: return Refusal::NotFound;
    case 405: return Refusal::MethodNotAllowed;
    case 411: return Refusal::LengthRequired;
    case 413: return Refusal::TooLarge;
    case 426: return Refusal::UpgradeRequired;
    case 429: return Refusal::PerIpLimit;
    case 431: return Refusal::HeaderTooLarge;
    case 503: return Refusal::OverCapacity;
    default: return Refusal::BadRequest;
  }
}

void Metrics::observe_fanout(int64_t ns) {
  double seconds = double(ns) / 1e9;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      latency_buckets[i].add();
      break;
    }
  }
  latency_count.add();
  latency_sum_ns.add(uint64_t(ns > 0 ? ns : 0));
}

namespace {

template <typename F>
uint64_t sum(std::span<const Metrics* const> threads, F field) {
  uint64_t total = 0;
  for (const Metrics* m : threads) total += field(*m).get();
  return total;
}

void line(std::string& out, const char* name, const char* labels, uint64_t value) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%s%s %llu\n", name, labels, static_cast<unsigned long long>(value));
  out += buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string render_metrics(std::span<const Metrics* const> t) {
  std::string out;
  out.reserve(8192);
  char labels[96];
  auto simple = [&](const char* name, const char* type, const char* help, auto field) {
    header(out, name, type, help);
    line(out, name, "", sum(t, field));
  };
  simple("roomcast_connections_open", "gauge", "Connections currently open.",
         [](const Metrics& m) -> const Counter& { return m.connections_open; });
  simple("roomcast_connections_accepted_total", "counter", "Connections accepted.",
         [](const Metrics& m) -> const Counter& { return m.connections_accepted; });
  header(out, "roomcast_accept_errors_total", "counter",
         "Failed accepts on the listener, by reason (out_of_descriptors: the process or system fd table is full).");
  for (size_t i = 0; i < size_t(AcceptError::Count); ++i) {
    std::snprintf(labels, sizeof(labels), "{reason=\"%s\"}", kAcceptErrors[i]);
    line(out, "roomcast_accept_errors_total", labels,
         sum(t, [i](const Metrics& m) -> const Counter& { return m.accept_errors[i]; }));
  }
  simple("roomcast_connections_shed_total", "counter",
         "Connections answered 503 and closed at once because no file descriptor was free.",
         [](const Metrics& m) -> const Counter& { return m.connections_shed; });
  header(out, "roomcast_handshake_failures_total", "counter",
         "HTTP requests answered with an error or dropped before completing, by reason.");
  for (size_t i = 0; i < size_t(Refusal::Count); ++i) {
    std::snprintf(labels, sizeof(labels), "{reason=\"%s\"}", kRefusals[i]);
    line(out, "roomcast_handshake_failures_total", labels,
         sum(t, [i](const Metrics& m) -> const Counter& { return m.refusals[i]; }));
  }
  simple("roomcast_rooms", "gauge", "Rooms held in memory (including empty rooms keeping history).",
         [](const Metrics& m) -> const Counter& { return m.rooms; });
  simple("roomcast_sessions", "gauge", "Joined sessions.", [](const Metrics& m) -> const Counter& { return m.sessions; });
  header(out, "roomcast_messages_in_total", "counter", "Well-formed client messages, by type.");
  for (size_t i = 0; i < kInTypeCount; ++i) {
    std::snprintf(labels, sizeof(labels), "{type=\"%s\"}", kInTypes[i]);
    line(out, "roomcast_messages_in_total", labels,
         sum(t, [i](const Metrics& m) -> const Counter& { return m.messages_in[i]; }));
  }
  header(out, "roomcast_messages_out_total", "counter", "Server messages queued to a recipient, by type.");
  for (size_t i = 0; i < size_t(OutType::Count); ++i) {
    std::snprintf(labels, sizeof(labels), "{type=\"%s\"}", kOutTypes[i]);
    line(out, "roomcast_messages_out_total", labels,
         sum(t, [i](const Metrics& m) -> const Counter& { return m.messages_out[i]; }));
  }
  simple("roomcast_bytes_in_total", "counter", "Bytes received from clients.",
         [](const Metrics& m) -> const Counter& { return m.bytes_in; });
  simple("roomcast_bytes_out_total", "counter", "Bytes the kernel accepted for clients.",
         [](const Metrics& m) -> const Counter& { return m.bytes_out; });
  simple("roomcast_cursors_coalesced_total", "counter",
         "Cursor deliveries skipped because a newer camera of the same sender was waiting.",
         [](const Metrics& m) -> const Counter& { return m.cursors_coalesced; });
  simple("roomcast_messages_rate_limited_total", "counter", "Messages refused or dropped by the rate limit.",
         [](const Metrics& m) -> const Counter& { return m.rate_limited; });
  simple("roomcast_slow_reader_closes_total", "counter", "Connections closed with 1008 for exceeding --max-pending.",
         [](const Metrics& m) -> const Counter& { return m.slow_reader_closes; });
  simple("roomcast_receive_buffers_exhausted_total", "counter",
         "Receives that found the io_uring receive pool empty and waited for buffers (raise --recv-buffers if "
         "this grows outside join bursts).",
         [](const Metrics& m) -> const Counter& { return m.receive_buffers_exhausted; });
  header(out, "roomcast_close_codes_sent_total", "counter", "WebSocket close frames sent, by code.");
  for (size_t i = 0; i < kCloseCodeCount; ++i) {
    std::snprintf(labels, sizeof(labels), "{code=\"%d\"}", kCloseCodes[i]);
    line(out, "roomcast_close_codes_sent_total", labels,
         sum(t, [i](const Metrics& m) -> const Counter& { return m.close_codes[i]; }));
  }
  simple("roomcast_history_replays_total", "counter", "Joins with `since` answered from history.",
         [](const Metrics& m) -> const Counter& { return m.history_replays; });
  simple("roomcast_resyncs_total", "counter", "Joins with `since` answered with resync.",
         [](const Metrics& m) -> const Counter& { return m.resyncs; });
  simple("roomcast_publishes_total", "counter", "Edits published through POST /api/rooms/{room}/publish.",
         [](const Metrics& m) -> const Counter& { return m.publishes; });
  simple("roomcast_held_sessions", "gauge",
         "Sessions whose connection ended without leave, held for --resume-grace seconds.",
         [](const Metrics& m) -> const Counter& { return m.held_sessions; });
  header(out, "roomcast_resumes_total", "counter",
         "Joins carrying `resume`: ok (a held session taken over), replaced (taken from a connection still "
         "attached, closed 4008), expired (token unknown or expired: a fresh session).");
  for (size_t i = 0; i < size_t(ResumeResult::Count); ++i) {
    std::snprintf(labels, sizeof(labels), "{result=\"%s\"}", kResumeResults[i]);
    line(out, "roomcast_resumes_total", labels, sum(t, [i](const Metrics& m) -> const Counter& { return m.resumes[i]; }));
  }
  simple("roomcast_holds_expired_total", "counter", "Held sessions whose grace ended without a resume (presence leave sent).",
         [](const Metrics& m) -> const Counter& { return m.holds_expired; });
  simple("roomcast_cluster_room_loads_total", "counter", "Rooms loaded from Redis (first join on this instance, reconnects, lost data).",
         [](const Metrics& m) -> const Counter& { return m.room_loads; });
  simple("roomcast_cluster_relayed_in_total", "counter", "Records applied from other instances (cursors, selections, follows, presence, holds, resumes; edits are counted as messages out).",
         [](const Metrics& m) -> const Counter& { return m.relayed_in; });
  simple("roomcast_cluster_gap_fills_total", "counter", "Reads of a room's history that filled a gap in the edits received from the channel.",
         [](const Metrics& m) -> const Counter& { return m.gap_fills; });
  simple("roomcast_cluster_sessions_reaped_total", "counter", "Sessions of dead instances ended by this instance after the grace (one leave each).",
         [](const Metrics& m) -> const Counter& { return m.sessions_reaped; });
  simple("roomcast_cluster_edits_unavailable_total", "counter", "Edits answered unavailable: Redis did not confirm them in time.",
         [](const Metrics& m) -> const Counter& { return m.edits_unavailable; });
  simple("roomcast_store_edits_unavailable_total", "counter",
         "Edits and publishes answered unavailable: the disk (--data-dir) could not store them (full or failing).",
         [](const Metrics& m) -> const Counter& { return m.store_edits_unavailable; });
  simple("roomcast_edits_rejected_total", "counter", "Edits the app's backend vetoed (docs/integration.md).",
         [](const Metrics& m) -> const Counter& { return m.edits_rejected; });
  simple("roomcast_forbidden_total", "counter", "Edits and presents refused because the session is a viewer (docs/protocol.md 7.1-7.2).",
         [](const Metrics& m) -> const Counter& { return m.edits_forbidden; });
  simple("roomcast_hook_edits_unavailable_total", "counter", "Edits answered unavailable: the backend did not decide in time.",
         [](const Metrics& m) -> const Counter& { return m.hook_edits_unavailable; });
  simple("roomcast_duplicate_edits_total", "counter",
         "Edits repeated with an id already applied: answered with the original seq, not applied again.",
         [](const Metrics& m) -> const Counter& { return m.duplicate_edits; });
  simple("roomcast_refreshes_total", "counter", "Tokens replaced by a `refresh` message.",
         [](const Metrics& m) -> const Counter& { return m.refreshes; });
  simple("roomcast_refreshes_refused_total", "counter", "`refresh` messages answered bad_token or forbidden.",
         [](const Metrics& m) -> const Counter& { return m.refreshes_refused; });
  simple("roomcast_token_expiry_closes_total", "counter", "Connections closed 4001 because their token expired.",
         [](const Metrics& m) -> const Counter& { return m.expiry_closes; });

  const char* h = "roomcast_fanout_latency_seconds";
  header(out, h, "histogram",
         "From a message's arrival to its frame being handed to the kernel for the last recipient.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    cumulative += sum(t, [i](const Metrics& m) -> const Counter& { return m.latency_buckets[i]; });
    std::snprintf(labels, sizeof(labels), "{le=\"%g\"}", kLatencyBuckets[i]);
    line(out, "roomcast_fanout_latency_seconds_bucket", labels, cumulative);
  }
  uint64_t count = sum(t, [](const Metrics& m) -> const Counter& { return m.latency_count; });
  line(out, "roomcast_fanout_latency_seconds_bucket", "{le=\"+Inf\"}", count);
  char buf[128];
  std::snprintf(buf, sizeof(buf), "roomcast_fanout_latency_seconds_sum %.9f\n",
                double(sum(t, [](const Metrics& m) -> const Counter& { return m.latency_sum_ns; })) / 1e9);
  out += buf;
  line(out, "roomcast_fanout_latency_seconds_count", "", count);
  return out;
}

}  // namespace roomcast
