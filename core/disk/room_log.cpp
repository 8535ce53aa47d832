#include "core/disk/room_log.h"

#include "core/disk/record.h"

namespace roomcast::disk {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kHasEdit = 1;

// Applies one decoded record to `s`; false with `why` when the record is well framed but
// breaks the log's rules (a seq or event number that skips, a second header...).
bool apply(RoomState& s, bool& have_header, std::string_view payload, size_t history_limit, std::string& why) {
  RecordReader r(payload);
  auto kind = RecordKind(r.u8());
  if (!have_header) {
    if (kind != RecordKind::Header) return why = "first record is not a header", false;
    uint8_t version = r.u8();
    std::string_view room = r.str(), epoch = r.str();
    uint64_t seq_base = r.u64(), event_base = r.u64(), acked = r.u64();
    if (r.failed() || !r.at_end()) return why = "malformed header", false;
    if (version != kFormatVersion) return why = "unknown format version", false;
    // Events up to event_base are not in the log (compaction dropped them), so they must
    // all be acknowledged: a header that says otherwise would leave an outbox gap.
    if (acked > event_base) return why = "header acknowledges events it does not have", false;
    if (acked < event_base) return why = "header drops events not yet acknowledged", false;
    s.room.assign(room);
    s.epoch.assign(epoch);
    s.seq = seq_base;
    s.last_event = event_base;
    s.acked_through = acked;
    have_header = true;
    return true;
  }
  switch (kind) {
    case RecordKind::Append: {
      uint8_t flags = r.u8();
      if (flags & ~kHasEdit) return why = "unknown append flags", false;
      StoredEdit e;
      bool has_edit = flags & kHasEdit;
      if (has_edit) {
        e.seq = r.u64();
        e.ts_ms = r.i64();
        e.key.assign(r.str());
        e.frame.assign(r.str());
      }
      uint32_t n = r.u32();
      if (r.failed()) return why = "malformed append", false;
      if (has_edit && e.seq != s.seq + 1) return why = "edit seq skips", false;
      uint64_t next_event = s.last_event + 1;
      std::deque<StoredEvent> events;
      for (uint32_t i = 0; i < n && !r.failed(); ++i) {
        StoredEvent ev;
        ev.number = r.u64();
        ev.id.assign(r.str());
        ev.body.assign(r.str());
        if (!r.failed() && ev.number != next_event++) return why = "event number skips", false;
        events.push_back(std::move(ev));
      }
      if (r.failed() || !r.at_end()) return why = "malformed append", false;
      if (has_edit) {
        s.seq = e.seq;
        if (history_limit > 0) {
          s.history.push_back(std::move(e));
          while (s.history.size() > history_limit) s.history.pop_front();
        }
      }
      for (StoredEvent& ev : events) {
        s.last_event = ev.number;
        s.outbox.push_back(std::move(ev));
      }
      return true;
    }
    case RecordKind::Ack: {
      uint64_t through = r.u64();
      if (r.failed() || !r.at_end()) return why = "malformed ack", false;
      if (through > s.last_event) return why = "ack past the last event", false;
      if (through > s.acked_through) s.acked_through = through;
      while (!s.outbox.empty() && s.outbox.front().number <= s.acked_through) s.outbox.pop_front();
      return true;
    }
    case RecordKind::Header:
      return why = "second header", false;
    case RecordKind::Journal:
      return why = "journal entry in a room log", false;
  }
  return why = "unknown record kind", false;
}

// Whether a valid frame starts anywhere in `rest`: if one does, the bad bytes before it
// are damage in the middle of the log, not a torn tail. A false positive needs a 32-bit
// checksum match on garbage.
bool valid_frame_after(std::string_view rest) {
  for (size_t off = 1; off + kFrameHeaderBytes <= rest.size(); ++off) {
    if (read_frame(rest.substr(off)).status == FrameStatus::Ok) return true;
  }
  return false;
}

}  // namespace

void encode_header(std::string& out, std::string_view room, std::string_view epoch, uint64_t seq_base,
                   uint64_t event_base, uint64_t acked_through) {
  RecordWriter w(RecordKind::Header);
  w.u8(kFormatVersion).str(room).str(epoch).u64(seq_base).u64(event_base).u64(acked_through);
  append_frame(out, w.payload());
}

void encode_append(std::string& out, const EditView* edit, std::span<const EventView> events) {
  RecordWriter w(RecordKind::Append);
  w.u8(edit ? kHasEdit : 0);
  if (edit) w.u64(edit->seq).i64(edit->ts_ms).str(edit->key).str(edit->frame);
  w.u32(uint32_t(events.size()));
  for (const EventView& ev : events) w.u64(ev.number).str(ev.id).str(ev.body);
  append_frame(out, w.payload());
}

void encode_ack(std::string& out, uint64_t through) {
  RecordWriter w(RecordKind::Ack);
  w.u64(through);
  append_frame(out, w.payload());
}

std::string encode_snapshot(const RoomState& s) {
  std::string out;
  uint64_t seq_base = s.seq - s.history.size();
  uint64_t event_base = s.last_event - s.outbox.size();
  encode_header(out, s.room, s.epoch, seq_base, event_base, std::min(s.acked_through, event_base));
  for (const StoredEdit& e : s.history) {
    EditView v{e.seq, e.key, e.frame, e.ts_ms};
    encode_append(out, &v, {});
  }
  for (const StoredEvent& e : s.outbox) {
    EventView v{e.number, e.id, e.body};
    encode_append(out, nullptr, std::span<const EventView>(&v, 1));
  }
  return out;
}

size_t scan_events(std::string_view bytes, uint64_t from, size_t max, std::vector<StoredEvent>& out) {
  size_t pos = 0;
  while (pos < bytes.size() && out.size() < max) {
    Frame f = read_frame(bytes.substr(pos));
    if (f.status != FrameStatus::Ok) break;
    RecordReader r(f.payload);
    if (RecordKind(r.u8()) == RecordKind::Append) {
      uint8_t flags = r.u8();
      if (flags & kHasEdit) {
        r.u64();
        r.i64();
        r.str();
        r.str();
      }
      uint32_t n = r.u32();
      for (uint32_t i = 0; i < n && !r.failed(); ++i) {
        StoredEvent ev;
        ev.number = r.u64();
        ev.id.assign(r.str());
        ev.body.assign(r.str());
        if (!r.failed() && ev.number >= from) out.push_back(std::move(ev));
      }
    }
    pos += f.size;
  }
  return pos;
}

Replay replay_records(RoomState& state, std::string_view records, size_t history_limit, std::string& applied) {
  Replay out;
  bool have_header = true;
  size_t pos = 0;
  while (pos < records.size()) {
    Frame f = read_frame(records.substr(pos));
    if (f.status != FrameStatus::Ok) {
      out.outcome = Replay::Outcome::Malformed;
      out.detail = "bad record at offset " + std::to_string(pos) + " of a journal entry";
      return out;
    }
    // Already in the room log? An append is there whole or not at all (the same record
    // was written to both), so its edit's seq, or its first event's number, tells.
    RecordReader r(f.payload);
    auto kind = RecordKind(r.u8());
    bool present = false, continues = false;
    if (kind == RecordKind::Append) {
      uint8_t flags = r.u8();
      if (flags & kHasEdit) {
        uint64_t seq = r.u64();
        present = seq <= state.seq;
        continues = seq == state.seq + 1;
      } else {
        uint32_t n = r.u32();
        uint64_t first = n > 0 ? r.u64() : 0;
        present = n > 0 && first <= state.last_event;
        continues = n > 0 && first == state.last_event + 1;
      }
    } else if (kind == RecordKind::Ack) {
      uint64_t through = r.u64();
      present = through <= state.acked_through;
      continues = through <= state.last_event;
    }
    if (r.failed()) present = continues = false;
    if (!present) {
      std::string why;
      if (!continues && !r.failed() && (kind == RecordKind::Append || kind == RecordKind::Ack)) {
        out.outcome = Replay::Outcome::Gap;
        out.detail = "a journal record does not continue the room log (seq " + std::to_string(state.seq) +
                     ", event " + std::to_string(state.last_event) + ")";
        return out;
      }
      if (!apply(state, have_header, f.payload, history_limit, why)) {
        out.outcome = Replay::Outcome::Malformed;
        out.detail = why + " in a journal entry";
        return out;
      }
      applied.append(records.substr(pos, f.size));
      ++out.applied;
      if (kind == RecordKind::Append) ++out.appends;
    }
    pos += f.size;
  }
  return out;
}

std::string_view to_string(LogOutcome o) {
  switch (o) {
    case LogOutcome::Clean: return "clean";
    case LogOutcome::TailCut: return "tail_cut";
    case LogOutcome::Damaged: return "damaged";
  }
  return "?";
}

LogRecovery read_room_log(std::string_view bytes, size_t history_limit) {
  LogRecovery out;
  bool have_header = false;
  size_t pos = 0;
  while (pos < bytes.size()) {
    std::string_view rest = bytes.substr(pos);
    Frame f = read_frame(rest);
    if (f.status != FrameStatus::Ok) {
      if (!have_header) {
        out.outcome = LogOutcome::Damaged;
        out.detail = "no valid header";
      } else if (valid_frame_after(rest)) {
        // A length field hit in the middle also looks torn: a whole record after it tells.
        out.outcome = LogOutcome::Damaged;
        out.detail = "bad record at offset " + std::to_string(pos) + " with valid records after it";
      } else {
        out.outcome = LogOutcome::TailCut;
        out.detail = std::string(f.status == FrameStatus::Torn ? "torn" : "garbage") + " tail of " +
                     std::to_string(rest.size()) + " bytes at offset " + std::to_string(pos);
      }
      break;
    }
    std::string why;
    if (!apply(out.state, have_header, f.payload, history_limit, why)) {
      // A whole, checksummed record that breaks the rules was written that way: not a
      // torn write, so never silently cut.
      out.outcome = LogOutcome::Damaged;
      out.detail = why + " at offset " + std::to_string(pos);
      break;
    }
    pos += f.size;
    ++out.records;
  }
  if (pos == bytes.size() && !have_header) {
    out.outcome = LogOutcome::Damaged;
    out.detail = "empty log";
  }
  out.good_bytes = pos;
  return out;
}

}  // namespace roomcast::disk
