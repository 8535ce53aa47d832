#include "bench/load/stats.h"

namespace load {

void PathStats::merge(const PathStats& o) {
  latency.merge(o.latency);
  expected += o.expected;
  received += o.received;
}

void StepStats::merge(const StepStats& o) {
  latency.merge(o.latency);
  send_lag.merge(o.send_lag);
  sends += o.sends;
  expected += o.expected;
  received += o.received;
  duplicates += o.duplicates;
  reordered += o.reordered;
  late_sends += o.late_sends;
  skipped += o.skipped;
  same_server.merge(o.same_server);
  cross_server.merge(o.cross_server);
  follow_latency.merge(o.follow_latency);
  follow_received += o.follow_received;
  bytes_in += o.bytes_in;
}

void RunStats::merge(const RunStats& o) {
  if (steps.size() < o.steps.size()) steps.resize(o.steps.size());
  for (size_t k = 0; k < o.steps.size(); ++k) steps[k].merge(o.steps[k]);
  welcome_latency.merge(o.welcome_latency);
  connect_errors += o.connect_errors;
  handshake_errors += o.handshake_errors;
  server_close_frames += o.server_close_frames;
  server_eofs += o.server_eofs;
  error_messages += o.error_messages;
  presence_messages += o.presence_messages;
  other_messages += o.other_messages;
  malformed += o.malformed;
  wrong_room += o.wrong_room;
  pings_answered += o.pings_answered;
  edits_sent += o.edits_sent;
  edits_expected += o.edits_expected;
  edits_received += o.edits_received;
  acks_received += o.acks_received;
  ack_latency.merge(o.ack_latency);
  edit_gaps += o.edit_gaps;
  edit_reordered += o.edit_reordered;
  note_problem(o.first_problem);
}

}  // namespace load
