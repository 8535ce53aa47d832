// fuzz/ws_frame_fuzz.cpp: the inbound frame path exactly as core/server/worker.cpp drives it:
// WsReader::feed() per received chunk, flush() after each, stop on ProtocolError
// (shutdown_write, the caller sends its own 1002) or once a close was sent.
//
// Input: byte 0 picks max_message, byte 1 seeds the chunk sizes, the rest is the byte
// stream from the client. The same stream is also fed in one piece to a second reader.
// Invariants (proto/ws_reader.h):
//   - every on_text payload is valid UTF-8 and at most max_message bytes;
//   - the control bytes are whole, final, unmasked server frames (pong or close), with at
//     most one close, last, carrying either no payload or a valid code;
//   - fragmentation does not matter: both readers see the same texts, the same close
//     frame and the same protocol-error verdict, and answer pings alike.
// Known wslay 1.1.1 behaviours that are tolerated here (and reported, see
// fuzz/regressions/README.md), so the fuzzer keeps looking for new problems:
//   - pongs queued in the same flush as a close are dropped (the close goes first);
//   - the UTF-8 check of a peer's close reason skips the first two bytes of every piece
//     the payload arrives in, not only the status code, so the answer to a client's close
//     depends on its segmentation: an invalid-UTF-8 reason may be echoed, a valid one
//     may get 1007, a bad code with a bad reason may get 1002 or 1007.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_common.h"
#include "proto/ws_reader.h"

namespace roomcast_fuzz::ws_frame {

// RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
    else return false;
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

bool valid_close_code(unsigned code) {
  if (code >= 3000 && code <= 4999) return true;
  switch (code) {
    case 1000: case 1001: case 1002: case 1003: case 1007: case 1008: case 1009: case 1010: case 1011:
      return true;
    default:
      return false;
  }
}

struct ControlFrames {
  std::vector<std::string> pongs;  // payloads, in order
  bool has_close = false;
  std::string close;               // the close frame's payload
  bool close_reason_utf8 = true;
  unsigned close_code = 0;         // 0: no code
};

// Checks the server-frame shape of wslay's output and splits it into pongs and a close.
ControlFrames check_control_stream(std::string_view b) {
  ControlFrames out;
  size_t i = 0;
  while (i < b.size()) {
    check(!out.has_close, "nothing follows a close frame");
    check(b.size() - i >= 2, "control frame header complete");
    unsigned char b0 = static_cast<unsigned char>(b[i]), b1 = static_cast<unsigned char>(b[i + 1]);
    check(b0 == 0x88 || b0 == 0x8A, "control frame is a final close or pong");
    check((b1 & 0x80) == 0, "server frames are unmasked");
    size_t len = b1 & 0x7F;
    check(len <= 125, "control payload fits 125 bytes");
    check(b.size() - i - 2 >= len, "control payload complete");
    std::string_view payload = b.substr(i + 2, len);
    if (b0 == 0x88) {
      out.has_close = true;
      out.close.assign(payload);
      check(len != 1, "close payload is empty or has a code");
      if (len >= 2) {
        unsigned code = (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
        check(valid_close_code(code), "close code is valid on the wire");
        out.close_code = code;
        out.close_reason_utf8 = valid_utf8(payload.substr(2));
      }
    } else {
      out.pongs.emplace_back(payload);
    }
    i += 2 + len;
  }
  return out;
}

void dump(const char* what, std::string_view b) {
  std::fprintf(stderr, "%s (%zu):", what, b.size());
  for (unsigned char c : b) std::fprintf(stderr, " %02x", c);
  std::fprintf(stderr, "\n");
}

// True if the client stream reaches a close frame (a best-effort walk over frame headers).
bool client_sent_close(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (n - i >= 2) {
    uint8_t op = p[i] & 0x0F;
    uint64_t len = p[i + 1] & 0x7F;
    size_t at = i + 2;
    if (len == 126 || len == 127) {
      size_t ext = len == 126 ? 2 : 8;
      if (n - at < ext) return false;
      len = 0;
      for (size_t k = 0; k < ext; ++k) len = (len << 8) | p[at + k];
      at += ext;
    }
    if (p[i + 1] & 0x80) at += 4;
    if (op == 0x8) return true;
    if (at > n || len > n - at) return false;
    i = at + size_t(len);
  }
  return false;
}

// wslay's segmentation-dependent answer to a client's close (see the top): the runs may
// differ in their close (an echo, 1002, 1007, or none yet when the close frame is still
// incomplete) provided the client did send a close and one run shows the quirk.
bool known_close_quirk(bool peer_closed, const ControlFrames& a, const ControlFrames& b) {
  auto quirk_sign = [](const ControlFrames& c) {
    return c.has_close && (c.close_code == 1002 || c.close_code == 1007 || !c.close_reason_utf8);
  };
  return peer_closed && (quirk_sign(a) || quirk_sign(b));
}

// One list of pong payloads is a prefix of the other.
bool prefix_either_way(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  size_t n = std::min(a.size(), b.size());
  return std::equal(a.begin(), a.begin() + n, b.begin());
}

struct Recorder final : roomcast::WsReader::Handler {
  // Called from inside wslay: check() may abort, never throw.
  void on_text(std::string_view m) override {
    check(m.size() <= max_message, "text within max_message");
    check(valid_utf8(m), "text is valid UTF-8");
    texts.emplace_back(m);
  }
  void on_control_bytes(std::string_view b) override { control.append(b); }
  size_t max_message = 0;
  std::vector<std::string> texts;
  std::string control;
  bool protocol_error = false;
};

// One connection's life: returns when the worker would stop reading.
void drive(roomcast::WsReader& reader, Recorder& rec, const uint8_t* data, size_t size, uint32_t seed,
           bool split) {
  size_t pos = 0;
  while (pos < size) {
    size_t n = size - pos;
    if (split) {
      seed = seed * 1103515245u + 12345u;
      // Mostly small chunks (frame headers straddle them), sometimes large ones.
      size_t cap = (seed >> 28) < 12 ? 1 + ((seed >> 16) & 15) : 1 + ((seed >> 8) & 1023);
      if (n > cap) n = cap;
    }
    roomcast::WsReader::FeedResult result = reader.feed(data + pos, n, rec);
    if (result == roomcast::WsReader::FeedResult::ProtocolError) {
      rec.protocol_error = true;
      reader.shutdown_write();
      return;
    }
    if (result == roomcast::WsReader::FeedResult::InvalidPayload) {
      // The worker answers with its own close 1007 instead of wslay's echo.
      rec.control.append("\x88\x02\x03\xef", 4);
      reader.shutdown_write();
      return;
    }
    reader.flush(rec);
    if (reader.close_sent()) return;
    // The worker parks quiet connections; parking wherever it is allowed must not change
    // what the reader does with the rest of the stream.
    if (split && (seed & 0x100)) reader.park();
    pos += n;
  }
}

void one_input(const uint8_t* data, size_t size) {
  if (size < 2) return;
  static constexpr size_t kMaxMessages[] = {16, 125, 126, 1024, 65535, 65536, 1 << 20, 3};
  size_t max_message = kMaxMessages[data[0] & 7];
  uint32_t seed = data[1] | (uint32_t(size) << 8);
  data += 2;
  size -= 2;

  Recorder split_rec, whole_rec;
  split_rec.max_message = whole_rec.max_message = max_message;
  roomcast::WsReader split_reader, whole_reader;
  check(split_reader.init(max_message), "init");
  check(whole_reader.init(max_message), "init");
  drive(split_reader, split_rec, data, size, seed, true);
  drive(whole_reader, whole_rec, data, size, seed, false);

  ControlFrames split_ctl = check_control_stream(split_rec.control);
  ControlFrames whole_ctl = check_control_stream(whole_rec.control);
  check(split_rec.texts == whole_rec.texts, "same texts whatever the chunking");
  check(split_rec.protocol_error == whole_rec.protocol_error, "same protocol verdict whatever the chunking");
  if (!split_rec.protocol_error) {
    bool quirk = known_close_quirk(client_sent_close(data, size), split_ctl, whole_ctl);
    bool same;
    if (quirk) {
      same = prefix_either_way(split_ctl.pongs, whole_ctl.pongs);
    } else {
      // wslay 1.1.1 sends a close ahead of pongs queued before it in the same flush and
      // then drops them (nothing is written after a close). Flushing after every chunk
      // lets some of those pongs out first, so the chunked run may have more pongs, never
      // fewer or different ones; without a close both runs answer every ping.
      size_t n = whole_ctl.pongs.size();
      same = split_ctl.has_close == whole_ctl.has_close && split_ctl.close == whole_ctl.close &&
             n <= split_ctl.pongs.size() &&
             std::equal(whole_ctl.pongs.begin(), whole_ctl.pongs.end(), split_ctl.pongs.begin()) &&
             (split_ctl.has_close || n == split_ctl.pongs.size());
    }
    if (!same) {
      dump("control bytes, chunked", split_rec.control);
      dump("control bytes, whole", whole_rec.control);
      check(false, "same close and pongs whatever the chunking");
    }
  }
}

}  // namespace roomcast_fuzz::ws_frame

#ifndef ROOMCAST_FUZZ_NO_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roomcast_fuzz::ws_frame::one_input(data, size);
  return 0;
}
#endif
