// core/durable/disk_metrics.cpp: render_disk_metrics (its contract is in core/durable/disk_metrics.h).
#include "core/durable/disk_metrics.h"

#include <cstdio>

namespace roomcast {

void render_disk_metrics(const disk::DiskStats& s, std::string* out) {
  char buf[256];
  auto line = [&](const char* name, const char* labels, uint64_t v) {
    std::snprintf(buf, sizeof buf, "%s%s %llu\n", name, labels, static_cast<unsigned long long>(v));
    *out += buf;
  };
  auto header = [&](const char* name, const char* type, const char* help) {
    *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  header("roomcast_store_appends_total", "counter", "Records written and fdatasynced in --data-dir (edits and publishes).");
  line("roomcast_store_appends_total", "", s.appends_ok);
  header("roomcast_store_fsyncs_total", "counter",
         "Journal fdatasync calls: one per group commit, however many rooms it touched.");
  line("roomcast_store_fsyncs_total", "", s.syncs);
  header("roomcast_store_batches_total", "counter", "Group commits (one write and sync round for everything queued).");
  line("roomcast_store_batches_total", "", s.batches);
  header("roomcast_store_bytes_written_total", "counter", "Bytes appended to the journal.");
  line("roomcast_store_bytes_written_total", "", s.bytes_written);
  header("roomcast_store_errors_total", "counter",
         "Records not stored, by kind (no_space: ENOSPC/EDQUOT; io: any other write or sync error; rejected: a "
         "record refused before writing, e.g. behind a failed one of the same room).");
  line("roomcast_store_errors_total", "{kind=\"no_space\"}", s.errors_no_space);
  line("roomcast_store_errors_total", "{kind=\"io\"}", s.errors_io);
  line("roomcast_store_errors_total", "{kind=\"rejected\"}", s.errors_rejected);
  header("roomcast_store_compactions_total", "counter", "Room logs rewritten to their last --history edits.");
  line("roomcast_store_compactions_total", "", s.compactions);
  header("roomcast_store_compaction_errors_total", "counter", "Compactions that failed (the old log is kept).");
  line("roomcast_store_compaction_errors_total", "", s.compaction_errors);
  header("roomcast_store_rooms_loaded", "gauge", "Rooms read from --data-dir at start.");
  line("roomcast_store_rooms_loaded", "", s.rooms_loaded);
  header("roomcast_store_tails_cut", "gauge", "Room logs whose torn or garbage tail was cut at start.");
  line("roomcast_store_tails_cut", "", s.tails_cut);
  header("roomcast_store_rooms_damaged", "gauge", "Room logs damaged before their end at start (new epoch: clients resync).");
  line("roomcast_store_rooms_damaged", "", s.rooms_damaged);
  header("roomcast_store_open_files", "gauge", "Room logs the writer keeps open.");
  line("roomcast_store_open_files", "", s.open_files);
  header("roomcast_store_checkpoints_total", "counter",
         "Journal segments retired after the room logs written meanwhile were fdatasynced.");
  line("roomcast_store_checkpoints_total", "", s.checkpoints);
  header("roomcast_store_checkpoint_fsyncs_total", "counter", "Room log fdatasyncs by the checkpointer (off the ack path).");
  line("roomcast_store_checkpoint_fsyncs_total", "", s.checkpoint_syncs);
  header("roomcast_store_checkpoint_errors_total", "counter", "Checkpoints that failed (the journal segment is kept).");
  line("roomcast_store_checkpoint_errors_total", "", s.checkpoint_errors);
  header("roomcast_store_journal_segments", "gauge", "Journal segments on disk.");
  line("roomcast_store_journal_segments", "", s.journal_segments);
  header("roomcast_store_room_log_write_errors_total", "counter",
         "Room log writes that failed after the journal's sync (the journal keeps the records; written again later).");
  line("roomcast_store_room_log_write_errors_total", "", s.rooms_behind);
  header("roomcast_store_replayed_records", "gauge", "Records the room logs lacked at start, applied from the journal.");
  line("roomcast_store_replayed_records", "", s.replayed_records);
}

}  // namespace roomcast
