// bench/load/stats.h: what one tool thread counts, merged across threads at the end.
//
// Plain counters and histograms, written by exactly one thread while it runs and read by
// the main thread only after that thread has been joined.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/load/histogram.h"

namespace load {

// Deliveries between members on the same server instance, or on different ones (only
// counted with several servers, where the difference is what scale-out costs).
struct PathStats {
  Histogram latency;        // as StepStats::latency, for this path only
  uint64_t expected = 0;    // sends x members of the room on such servers
  uint64_t received = 0;

  void merge(const PathStats& o);
};

// Counts for one step's measured window (cursors whose send time falls in it).
struct StepStats {
  Histogram latency;   // receive time - send time, µs, one sample per delivery
  Histogram send_lag;  // actual send time - scheduled send time, µs, one per send
  uint64_t sends = 0;
  uint64_t expected = 0;    // sends x (room size - 1)
  uint64_t received = 0;    // deliveries, duplicates excluded
  uint64_t duplicates = 0;  // same sequence number from the same sender again
  uint64_t reordered = 0;   // lower sequence number than one already seen from that sender
  uint64_t late_sends = 0;  // sends more than 1 ms after their scheduled time
  uint64_t skipped = 0;     // scheduled sends of connections that were no longer open
  PathStats same_server;    // sender and receiver on one server (several servers only)
  PathStats cross_server;   // on different servers (several servers only)
  // --followers: deliveries of the leader's cursors to its followers.
  Histogram follow_latency;
  uint64_t follow_received = 0;
  // Bytes read from the server during the measured window (by receive time).
  uint64_t bytes_in = 0;

  void merge(const StepStats& o);
};

struct RunStats {
  std::vector<StepStats> steps;
  Histogram welcome_latency;  // µs from the start of connecting to the welcome
  uint64_t connect_errors = 0;
  uint64_t handshake_errors = 0;
  uint64_t server_close_frames = 0;  // close frames the server sent us
  uint64_t server_eofs = 0;          // EOF / reset without a close frame
  uint64_t error_messages = 0;       // protocol `error` messages received
  uint64_t presence_messages = 0;
  uint64_t other_messages = 0;
  uint64_t malformed = 0;            // frames or cursors the tool could not read
  uint64_t wrong_room = 0;           // cursors from a sender not in the receiver's room
  uint64_t pings_answered = 0;
  // --edit-every: over the whole run (edits are never dropped, so warm-up and drain count).
  uint64_t edits_sent = 0;
  uint64_t edits_expected = 0;   // edits sent x (room size - 1)
  uint64_t edits_received = 0;   // relayed edits
  uint64_t acks_received = 0;
  Histogram ack_latency;         // µs from an edit's send to its ack (with --data-dir: on disk)
  uint64_t edit_gaps = 0;        // seqs a member never got before a later one
  uint64_t edit_reordered = 0;   // a seq not above the last one the member got
  std::string first_problem;         // text of the first error/close seen, for the report

  void note_problem(const std::string& what) {
    if (first_problem.empty()) first_problem = what;
  }
  void merge(const RunStats& o);
};

}  // namespace load
