// proto/ws_reader.h: inbound WebSocket framing for one connection, on wslay's event API.
//
// Owns: the connection's wslay context (frame parser state, message reassembly, UTF-8
// state, the control frames wslay wants to send).
// Called by: the connection's loop thread: feed() with every received chunk (frames may
// straddle chunks at any byte), queue_close() to start a close, flush() to turn wslay's
// queued control frames (pong, close) into bytes for the connection's SendQueue. Both
// feed() and flush() take the Handler for that call: the reader keeps no pointer to its
// owner (every idle connection carries a reader: it is 48 bytes).
// Promises (RFC 6455 + docs/protocol.md 5):
//   - a complete text message reaches Handler::on_text once, whatever the fragmentation;
//   - ping is answered with pong; a close from the peer is echoed;
//   - invalid UTF-8 -> close 1007, message over the limit -> 1009, binary -> 1003,
//     unmasked frame / bad opcode / bad close code -> 1002, all queued by wslay;
//   - a frame-level violation wslay reports only as a failure (fragmented or oversized
//     control frame, bad length encoding) or lets through (a close frame with a 1-byte
//     body) makes feed() return ProtocolError, and the caller sends 1002 itself (wslay
//     would send a close without a code).
// Outbound data frames never go through wslay: they are SharedFrames.
// Memory: a wslay context is ~8.5 KiB (two 4 KiB buffers). park() frees it while the
// connection sits between frames with nothing in flight (the worker calls it after every
// feed), and feed() makes a fresh one on the next byte, so a connection holds wslay memory
// only while a frame is partly received. A small frame-boundary
// tracker (header bytes, payload left, fragmented message open) tells when that is safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <wslay/wslay.h>

namespace roomcast {

class WsReader {
 public:
  struct Handler {
    virtual void on_text(std::string_view message) = 0;
    // Bytes of a control frame wslay produced; must be queued in order, all of them.
    virtual void on_control_bytes(std::string_view bytes) = 0;

   protected:
    ~Handler() = default;
  };

  // InvalidPayload: a close frame whose reason is not UTF-8 (wslay checks close reasons
  // per received chunk, so it misses some; we check the whole reason): send 1007.
  enum class FeedResult { Ok, ProtocolError, InvalidPayload };

  WsReader() = default;
  WsReader(const WsReader&) = delete;
  WsReader& operator=(const WsReader&) = delete;
  ~WsReader();

  // Returns false if wslay could not allocate its context.
  bool init(size_t max_message);
  bool ready() const { return ready_; }

  // Complete text messages go to handler.on_text; control frames wslay queues meanwhile
  // wait for flush().
  FeedResult feed(const uint8_t* data, size_t len, Handler& handler);
  // Queues a close frame (first close wins). Reading stops.
  void queue_close(uint16_t code, std::string_view reason);
  // Hands wslay's pending control frames to handler.on_control_bytes.
  void flush(Handler& handler);
  // Stops wslay from writing anything more (the caller sends its own close).
  void shutdown_write();

  // Frees the wslay context if no frame or message is partly received and nothing is
  // waiting to be sent; returns whether it did. Safe to call at any time.
  bool park();
  bool parked() const { return ready_ && ctx_ == nullptr; }

  bool close_sent() const;
  bool close_received() const;
  // The code of the close frame wslay sent (1005 when it had none).
  uint16_t close_code_sent() const;
  // The code of the peer's close frame: 1005 when it had none, 0 when none arrived.
  uint16_t close_code_received() const;
  bool reading() const;

 private:
  static ssize_t recv_cb(wslay_event_context_ptr, uint8_t* buf, size_t len, int flags, void* self);
  static ssize_t send_cb(wslay_event_context_ptr, const uint8_t* data, size_t len, int flags, void* self);
  static void msg_cb(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg, void* self);

  bool create();
  void track(const uint8_t* data, size_t len);

  // The feed() or flush() running now: wslay's callbacks get only `this`.
  struct Call {
    Handler* handler;
    const uint8_t* in = nullptr;  // the chunk feed() is parsing (what is left of it)
    size_t in_len = 0;
  };

  wslay_event_context_ptr ctx_ = nullptr;
  Call* call_ = nullptr;  // non-null only inside feed() and flush()
  // Frame-boundary tracker, fed the same bytes as wslay.
  uint64_t payload_left_ = 0;
  uint32_t max_message_ = 0;  // --max-message is at most 64 MiB
  uint8_t header_[14];
  uint8_t header_len_ = 0;
  bool fragmented_ = false;  // a data message's first frame arrived without FIN
  bool ready_ = false;
  bool bad_close_reason_ = false;
  bool bad_close_length_ = false;  // a close frame with a 1-byte body
};

}  // namespace roomcast
