#include "proto/ws_reader.h"

#include <algorithm>
#include <cstring>

#include "proto/frame.h"
#include "proto/utf8.h"

namespace roomcast {

WsReader::~WsReader() {
  if (ctx_) wslay_event_context_free(ctx_);
}

bool WsReader::init(size_t max_message) {
  max_message_ = static_cast<uint32_t>(std::min<size_t>(max_message, UINT32_MAX));
  ready_ = create();
  return ready_;
}

bool WsReader::create() {
  wslay_event_callbacks callbacks{};
  callbacks.recv_callback = &WsReader::recv_cb;
  callbacks.send_callback = &WsReader::send_cb;
  callbacks.on_msg_recv_callback = &WsReader::msg_cb;
  if (wslay_event_context_server_init(&ctx_, &callbacks, this) != 0) {
    ctx_ = nullptr;
    return false;
  }
  // wslay's default limit is 2^31-1; this makes it queue close 1009 for us.
  wslay_event_config_set_max_recv_msg_length(ctx_, max_message_);
  return true;
}

bool WsReader::park() {
  if (!ctx_ || header_len_ != 0 || payload_left_ != 0 || fragmented_) return false;
  if (wslay_event_want_write(ctx_) || !wslay_event_get_read_enabled(ctx_) || wslay_event_get_close_sent(ctx_) ||
      wslay_event_get_close_received(ctx_))
    return false;
  wslay_event_context_free(ctx_);
  ctx_ = nullptr;
  return true;
}

// Follows frame boundaries the way wslay's parser will see them; only the lengths and
// the FIN/opcode bits matter (wslay validates everything else and closes on garbage).
void WsReader::track(const uint8_t* data, size_t len) {
  size_t i = 0;
  while (i < len) {
    if (payload_left_ > 0) {
      uint64_t take = std::min<uint64_t>(payload_left_, len - i);
      payload_left_ -= take;
      i += size_t(take);
      continue;
    }
    header_[header_len_++] = data[i++];
    if (header_len_ < 2) continue;
    uint8_t len7 = header_[1] & 0x7F;
    size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
    if (header_len_ < need) continue;
    uint64_t payload = len7;
    if (len7 == 126) payload = (uint64_t(header_[2]) << 8) | header_[3];
    if (len7 == 127) {
      payload = 0;
      for (int k = 0; k < 8; ++k) payload = (payload << 8) | header_[2 + k];
    }
    uint8_t opcode = header_[0] & 0x0F;
    bool fin = (header_[0] & 0x80) != 0;
    if (opcode == 0x1 || opcode == 0x2) fragmented_ = !fin;
    else if (opcode == 0x0 && fin) fragmented_ = false;
    payload_left_ = payload;
    header_len_ = 0;
  }
}

WsReader::FeedResult WsReader::feed(const uint8_t* data, size_t len, Handler& handler) {
  if (!ctx_ && !create()) return FeedResult::ProtocolError;  // out of memory: drop the client
  track(data, len);
  Call call{&handler, data, len};
  call_ = &call;
  int rv = wslay_event_recv(ctx_);
  call_ = nullptr;
  // Our recv callback never fails, so a callback failure is wslay's frame layer
  // rejecting the bytes (WSLAY_ERR_PROTO), already with a code-less close queued.
  if (rv == WSLAY_ERR_CALLBACK_FAILURE || bad_close_length_) return FeedResult::ProtocolError;
  if (bad_close_reason_) return FeedResult::InvalidPayload;
  return FeedResult::Ok;
}

void WsReader::queue_close(uint16_t code, std::string_view reason) {
  if (!ctx_ && !create()) return;
  // wslay's public queue_close keeps reading; nothing after a close may be processed.
  wslay_event_shutdown_read(ctx_);
  wslay_event_queue_close(ctx_, code, reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
}

void WsReader::flush(Handler& handler) {
  if (!ctx_ || !wslay_event_want_write(ctx_)) return;
  Call call{&handler};
  call_ = &call;
  wslay_event_send(ctx_);
  call_ = nullptr;
}

void WsReader::shutdown_write() {
  if (!ctx_ && !create()) return;
  wslay_event_shutdown_write(ctx_);
}

bool WsReader::close_sent() const { return ctx_ && wslay_event_get_close_sent(ctx_); }

bool WsReader::close_received() const { return ctx_ && wslay_event_get_close_received(ctx_); }

uint16_t WsReader::close_code_sent() const { return ctx_ ? wslay_event_get_status_code_sent(ctx_) : 0; }

uint16_t WsReader::close_code_received() const {
  return ctx_ && wslay_event_get_close_received(ctx_) ? wslay_event_get_status_code_received(ctx_) : 0;
}

bool WsReader::reading() const { return !ctx_ || wslay_event_get_read_enabled(ctx_); }

ssize_t WsReader::recv_cb(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int, void* self) {
  Call* call = static_cast<WsReader*>(self)->call_;
  if (!call || call->in_len == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = len < call->in_len ? len : call->in_len;
  std::memcpy(buf, call->in, n);
  call->in += n;
  call->in_len -= n;
  return static_cast<ssize_t>(n);
}

ssize_t WsReader::send_cb(wslay_event_context_ptr, const uint8_t* data, size_t len, int, void* self) {
  // Always take everything: returning WOULDBLOCK mid-frame would let a broadcast frame
  // slip between a control frame's header and payload.
  // wslay sends only inside flush(), which set call_.
  static_cast<WsReader*>(self)->call_->handler->on_control_bytes(
      std::string_view(reinterpret_cast<const char*>(data), len));
  return static_cast<ssize_t>(len);
}

void WsReader::msg_cb(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg, void* self) {
  auto* r = static_cast<WsReader*>(self);
  if (arg->opcode == WSLAY_TEXT_FRAME) {
    // wslay delivers messages only inside feed(), which set call_.
    r->call_->handler->on_text(std::string_view(reinterpret_cast<const char*>(arg->msg), arg->msg_length));
  } else if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
    // RFC 6455 5.5.1: a close body is empty or starts with a 2-byte code; wslay takes a
    // 1-byte body as "no code" and would echo an empty close.
    if (arg->msg_length == 1) r->bad_close_length_ = true;
    if (arg->msg_length > 2 && !is_valid_utf8(std::string_view(reinterpret_cast<const char*>(arg->msg) + 2, arg->msg_length - 2))) r->bad_close_reason_ = true;
  } else if (arg->opcode == WSLAY_BINARY_FRAME) {
    r->queue_close(kCloseUnsupportedData, "binary frames are not supported");
  }
}

}  // namespace roomcast
