// tests/integration/ws_client.h: a small blocking WebSocket (RFC 6455) client for the
// integration tests, plus a raw HTTP request helper.
//
// Owns one TCP socket to 127.0.0.1:port and a receive buffer. Every call that can wait
// takes a timeout and waits with poll(); nothing blocks forever. Sends use MSG_NOSIGNAL,
// so a server that hangs up never raises SIGPIPE in the test process.
// Frames from the server are reported one by one (opcode, FIN, payload, close code); the
// JSON helpers skip WebSocket ping/pong control frames (answering pings when auto_pong).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include "rj.h"

namespace it {

using Millis = std::chrono::milliseconds;
inline constexpr Millis kDefaultTimeout{3000};

enum Op : uint8_t {
  kOpContinuation = 0x0,
  kOpText = 0x1,
  kOpBinary = 0x2,
  kOpClose = 0x8,
  kOpPing = 0x9,
  kOpPong = 0xA,
};

struct Frame {
  uint8_t opcode = 0;
  bool fin = true;
  bool masked = false;  // servers must never mask
  std::string payload;
  int close_code = -1;  // for close frames: the code, or 1005 (no status) if the payload is empty
  std::string close_reason;
};

enum class RecvStatus {
  Ok,       // a frame was received
  Timeout,  // nothing complete arrived in time
  Closed,   // the peer closed the TCP connection (EOF) before a complete frame
  Reset,    // ECONNRESET or another socket error
  Bad,      // the server sent something that is not a valid frame
};
const char* to_string(RecvStatus s);

struct RecvResult {
  RecvStatus status = RecvStatus::Timeout;
  Frame frame;
  std::string error;
  bool ok() const { return status == RecvStatus::Ok; }
};

// The result of recv_json: on success `doc` holds the parsed object and `text` the raw text.
struct JsonResult {
  bool ok = false;
  std::string error;  // why not ok (timeout, close frame with code, bad JSON, ...)
  std::string text;
  int close_code = -1;  // when a close frame arrived instead
  RecvStatus status = RecvStatus::Timeout;
  std::unique_ptr<rapidjson::Document> doc;

  const rapidjson::Document& operator*() const { return *doc; }
  const rapidjson::Document* operator->() const { return doc.get(); }
  // The "type" string, or "" if absent.
  std::string type() const;
};

// How a connection ended, as seen by wait_close().
struct CloseResult {
  bool got_close_frame = false;
  int code = -1;  // close frame code (1005 for an empty close payload)
  std::string reason;
  RecvStatus status = RecvStatus::Timeout;  // Ok when a close frame was seen; Closed/Reset when the socket ended without one
  int data_frames_skipped = 0;
  std::string describe() const;
};

struct ConnectOptions {
  std::string path = "/ws/room";
  int rcvbuf = 0;  // if > 0: SO_RCVBUF set before connect (small receive window for slow-reader tests)
  Millis timeout = kDefaultTimeout;
  std::vector<std::pair<std::string, std::string>> extra_headers;
  std::string bind_ip;  // if set: the client socket is bound to this local address (e.g. 127.0.0.2) before connect
};

class WsClient {
 public:
  // Connects and performs the upgrade handshake, verifying status 101, Upgrade, Connection
  // and Sec-WebSocket-Accept. Returns nullptr (with *error set) on failure.
  static std::unique_ptr<WsClient> connect(uint16_t port, const ConnectOptions& opts, std::string* error);
  static std::unique_ptr<WsClient> connect(uint16_t port, const std::string& path, std::string* error);

  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  int fd() const { return fd_; }

  // When true, recv_json/recv_until_type/expect_no_message/wait_close answer server pings
  // with a pong carrying the same payload. Default false (a "silent" client).
  bool auto_pong = false;
  int pings_seen = 0;  // server ping frames seen by the skipping helpers

  // --- sending (false on socket error or if the whole frame could not be written in time)
  bool send_frame(uint8_t opcode, std::string_view payload, bool fin = true, bool mask = true,
                  Millis timeout = Millis{5000});
  bool send_text(std::string_view text, bool mask = true) { return send_frame(kOpText, text, true, mask); }
  bool send_binary(std::string_view data) { return send_frame(kOpBinary, data); }
  bool send_ping(std::string_view payload) { return send_frame(kOpPing, payload); }
  bool send_pong(std::string_view payload) { return send_frame(kOpPong, payload); }
  bool send_close(int code = 1000, std::string_view reason = {});
  bool send_raw(std::string_view bytes, Millis timeout = Millis{5000});
  // Serializes a JSON value and sends it as one text frame.
  bool send_json(const rapidjson::Value& v);

  // --- receiving
  // The next complete frame, whatever its opcode.
  RecvResult recv_frame(Millis timeout = kDefaultTimeout);
  // The next text message parsed as JSON (ping/pong frames skipped). Fails on a close
  // frame (close_code set), binary or fragmented frame, timeout or invalid JSON.
  JsonResult recv_json(Millis timeout = kDefaultTimeout);
  // Reads JSON messages until one whose "type" equals `type` (others skipped, at most
  // max_skip of them), within `timeout` overall.
  JsonResult recv_until_type(std::string_view type, Millis timeout = kDefaultTimeout, int max_skip = 100000);
  // Success if no data frame (text/binary/close) arrives for `duration`; ping/pong skipped.
  ::testing::AssertionResult expect_no_message(Millis duration = Millis{300});
  // Reads (skipping data frames, at most max_skip) until a close frame or the end of the
  // connection, within `timeout`.
  CloseResult wait_close(Millis timeout = kDefaultTimeout, int max_skip = 1000000);
  // True if the server closed the TCP connection (EOF or reset) within `timeout`; any
  // frames still arriving are discarded.
  bool wait_eof(Millis timeout = kDefaultTimeout);

  // --- ending the connection without the WebSocket closing handshake
  void close_tcp();    // plain close(): FIN, no close frame
  void reset_tcp();    // SO_LINGER {1, 0} then close(): RST
  void shutdown_write();  // half-close

 private:
  explicit WsClient(int fd) : fd_(fd) {}
  // Reads whatever is available within the deadline into buf_. Returns Ok if bytes
  // were added, else Timeout/Closed/Reset.
  RecvStatus fill(std::chrono::steady_clock::time_point deadline, std::string* error);
  // Tries to parse one frame from buf_. Returns 1 if a frame was parsed, 0 if more bytes
  // are needed, -1 if the bytes are not a valid server frame.
  int parse_frame(Frame* out, std::string* error);

  int fd_ = -1;
  std::string buf_;
};

// Connect + handshake, or fail the current test (use with ASSERT_NO_FATAL_FAILURE or check
// the returned pointer).
std::unique_ptr<WsClient> connect_or_fail(uint16_t port, const std::string& path);

// ---- HTTP

struct HttpResponse {
  bool ok = false;  // a status line was parsed
  std::string error;
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // keys lowercased
  std::string body;
  std::string raw;
  bool connection_closed = false;  // the server closed the connection after answering
};

// Sends `request` verbatim on a fresh connection, then reads the response until the
// server closes the connection or Content-Length bytes of body arrived (then waits up to
// `close_wait` more for the close). Never blocks past `timeout`.
HttpResponse http_raw(uint16_t port, std::string_view request, Millis timeout = kDefaultTimeout,
                      Millis close_wait = Millis{1000});
// Like http_raw, but writes the request in `chunks`, one send per chunk with `gap` between
// them (a body arriving in several TCP segments).
HttpResponse http_raw_chunks(uint16_t port, const std::vector<std::string>& chunks, Millis gap,
                             Millis timeout = kDefaultTimeout, Millis close_wait = Millis{1000});
// A simple "GET path HTTP/1.1" with Host and the given extra header lines.
HttpResponse http_get(uint16_t port, std::string_view path, std::string_view extra_headers = {},
                      Millis timeout = kDefaultTimeout);

// ---- helpers

// base64(SHA-1(key + GUID)), RFC 6455 section 4.2.2.
std::string websocket_accept_for(std::string_view key);
std::string base64(const uint8_t* data, size_t len);
std::string to_json(const rapidjson::Value& v);
// A connected TCP socket to 127.0.0.1:port (with optional SO_RCVBUF), or -1.
int tcp_connect(uint16_t port, Millis timeout, int rcvbuf, std::string* error);
// The same, with the local end bound to `bind_ip` first (empty: no bind).
int tcp_connect_from(const std::string& bind_ip, uint16_t port, Millis timeout, int rcvbuf, std::string* error);

}  // namespace it
