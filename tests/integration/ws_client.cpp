// tests/integration/ws_client.cpp: see ws_client.h.
#include "ws_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace it {

using Clock = std::chrono::steady_clock;

namespace {

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  if (left < 0) return 0;
  if (left > 60000) return 60000;
  return static_cast<int>(left);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

// Writes all of `data` to fd within the deadline. False on error or timeout.
bool write_all(int fd, std::string_view data, Clock::time_point deadline, std::string* error) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int ms = remaining_ms(deadline);
      if (ms == 0) {
        if (error) *error = "send timed out";
        return false;
      }
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, ms);
      continue;
    }
    if (error) *error = std::string("send failed: ") + std::strerror(errno);
    return false;
  }
  return true;
}

// Parses "HTTP/1.1 101 Switching Protocols\r\nA: b\r\n..." (head without the final CRLFCRLF).
void parse_head(std::string_view head, HttpResponse* r) {
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.substr(0, 5) != "HTTP/") {
    r->error = "no HTTP status line: " + std::string(status_line.substr(0, 80));
    return;
  }
  size_t sp = status_line.find(' ');
  if (sp == std::string_view::npos || sp + 4 > status_line.size()) {
    r->error = "bad status line: " + std::string(status_line);
    return;
  }
  r->status = std::atoi(std::string(status_line.substr(sp + 1, 3)).c_str());
  if (sp + 5 <= status_line.size()) r->reason = std::string(status_line.substr(sp + 5));
  r->ok = r->status >= 100 && r->status <= 599;
  if (!r->ok) r->error = "bad status code in: " + std::string(status_line);
  size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    std::string_view line = head.substr(pos, e - pos);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      r->headers[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    pos = e + 2;
  }
}

bool header_has_token(const std::string& value, std::string_view token) {
  std::string v = lower(value);
  std::string t = lower(std::string(token));
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t comma = v.find(',', pos);
    if (comma == std::string::npos) comma = v.size();
    if (trim(std::string_view(v).substr(pos, comma - pos)) == t) return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

const char* to_string(RecvStatus s) {
  switch (s) {
    case RecvStatus::Ok: return "ok";
    case RecvStatus::Timeout: return "timeout";
    case RecvStatus::Closed: return "connection closed (EOF)";
    case RecvStatus::Reset: return "connection reset/error";
    case RecvStatus::Bad: return "invalid frame from server";
  }
  return "?";
}

std::string JsonResult::type() const {
  if (!doc || !doc->IsObject()) return "";
  auto it = doc->FindMember("type");
  if (it == doc->MemberEnd() || !it->value.IsString()) return "";
  return it->value.GetString();
}

std::string CloseResult::describe() const {
  if (got_close_frame) return "close frame " + std::to_string(code) + " \"" + reason + "\"";
  return std::string("no close frame: ") + to_string(status);
}

std::string base64(const uint8_t* data, size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string websocket_accept_for(std::string_view key) {
  std::string s(key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_Digest(s.data(), s.size(), md, &mdlen, EVP_sha1(), nullptr);
  return base64(md, mdlen);
}

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

int tcp_connect(uint16_t port, Millis timeout, int rcvbuf, std::string* error) {
  return tcp_connect_from("", port, timeout, rcvbuf, error);
}

int tcp_connect_from(const std::string& bind_ip, uint16_t port, Millis timeout, int rcvbuf, std::string* error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (!bind_ip.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = 0;
    if (::inet_pton(AF_INET, bind_ip.c_str(), &local.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      if (error) *error = "bind " + bind_ip + ": " + std::strerror(errno);
      ::close(fd);
      return -1;
    }
  }
  if (rcvbuf > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc < 0 && errno != EINPROGRESS) {
    if (error) *error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (rc < 0) {
    pollfd p{fd, POLLOUT, 0};
    int pr = ::poll(&p, 1, static_cast<int>(timeout.count()));
    int soerr = 0;
    socklen_t len = sizeof soerr;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (pr <= 0 || soerr != 0) {
      if (error) *error = pr <= 0 ? "connect timed out" : std::string("connect: ") + std::strerror(soerr);
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

// ---------------------------------------------------------------- WsClient

std::unique_ptr<WsClient> WsClient::connect(uint16_t port, const std::string& path, std::string* error) {
  ConnectOptions o;
  o.path = path;
  return connect(port, o, error);
}

std::unique_ptr<WsClient> WsClient::connect(uint16_t port, const ConnectOptions& opts, std::string* error) {
  auto deadline = Clock::now() + opts.timeout;
  int fd = tcp_connect_from(opts.bind_ip, port, opts.timeout, opts.rcvbuf, error);
  if (fd < 0) return nullptr;
  std::unique_ptr<WsClient> c(new WsClient(fd));

  uint8_t raw_key[16];
  if (RAND_bytes(raw_key, sizeof raw_key) != 1) {
    std::random_device rd;
    for (auto& b : raw_key) b = static_cast<uint8_t>(rd());
  }
  std::string key = base64(raw_key, sizeof raw_key);
  std::string req = "GET " + opts.path + " HTTP/1.1\r\n" + "Host: 127.0.0.1:" + std::to_string(port) +
                    "\r\n" + "Upgrade: websocket\r\n" + "Connection: Upgrade\r\n" + "Sec-WebSocket-Key: " + key +
                    "\r\n" + "Sec-WebSocket-Version: 13\r\n";
  for (auto& [k, v] : opts.extra_headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  if (!write_all(fd, req, deadline, error)) return nullptr;

  // Read the response head; anything after it already belongs to the frame stream.
  size_t end;
  while ((end = c->buf_.find("\r\n\r\n")) == std::string::npos) {
    if (c->buf_.size() > 65536) {
      if (error) *error = "handshake response head too large";
      return nullptr;
    }
    std::string e;
    RecvStatus s = c->fill(deadline, &e);
    if (s != RecvStatus::Ok) {
      if (error) *error = "handshake: " + std::string(to_string(s)) + (e.empty() ? "" : ": " + e) +
                          (c->buf_.empty() ? "" : "; got: " + c->buf_.substr(0, 200));
      return nullptr;
    }
  }
  HttpResponse r;
  parse_head(std::string_view(c->buf_).substr(0, end), &r);
  c->buf_.erase(0, end + 4);
  if (!r.ok || r.status != 101) {
    if (error) *error = "handshake: expected 101, got " + std::to_string(r.status) + " " + r.reason + r.error;
    return nullptr;
  }
  if (!header_has_token(r.headers["upgrade"], "websocket")) {
    if (error) *error = "handshake: Upgrade header is \"" + r.headers["upgrade"] + "\"";
    return nullptr;
  }
  if (!header_has_token(r.headers["connection"], "upgrade")) {
    if (error) *error = "handshake: Connection header is \"" + r.headers["connection"] + "\"";
    return nullptr;
  }
  std::string want = websocket_accept_for(key);
  if (r.headers["sec-websocket-accept"] != want) {
    if (error)
      *error = "handshake: Sec-WebSocket-Accept is \"" + r.headers["sec-websocket-accept"] + "\", want \"" + want + "\"";
    return nullptr;
  }
  return c;
}

WsClient::~WsClient() {
  if (fd_ >= 0) ::close(fd_);
}

void WsClient::close_tcp() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void WsClient::reset_tcp() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd_);
  fd_ = -1;
}

void WsClient::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool WsClient::send_raw(std::string_view bytes, Millis timeout) {
  if (fd_ < 0) return false;
  std::string err;
  return write_all(fd_, bytes, Clock::now() + timeout, &err);
}

bool WsClient::send_frame(uint8_t opcode, std::string_view payload, bool fin, bool mask, Millis timeout) {
  std::string f;
  f.reserve(payload.size() + 14);
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | (opcode & 0x0F)));
  uint8_t mbit = mask ? 0x80 : 0;
  size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(mbit | n));
  } else if (n <= 0xFFFF) {
    f.push_back(static_cast<char>(mbit | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(mbit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((uint64_t(n) >> (8 * i)) & 0xFF));
  }
  if (mask) {
    uint8_t key[4];
    static thread_local std::mt19937 rng(std::random_device{}());
    uint32_t k = rng();
    std::memcpy(key, &k, 4);
    f.append(reinterpret_cast<char*>(key), 4);
    size_t base = f.size();
    f.append(payload);
    for (size_t i = 0; i < n; ++i) f[base + i] = static_cast<char>(f[base + i] ^ key[i & 3]);
  } else {
    f.append(payload);
  }
  return send_raw(f, timeout);
}

bool WsClient::send_close(int code, std::string_view reason) {
  std::string p;
  if (code >= 0) {
    p.push_back(static_cast<char>((code >> 8) & 0xFF));
    p.push_back(static_cast<char>(code & 0xFF));
    p.append(reason);
  }
  return send_frame(kOpClose, p);
}

bool WsClient::send_json(const rapidjson::Value& v) { return send_text(to_json(v)); }

RecvStatus WsClient::fill(Clock::time_point deadline, std::string* error) {
  if (fd_ < 0) {
    if (error) *error = "socket already closed by the test";
    return RecvStatus::Closed;
  }
  char tmp[65536];
  for (;;) {
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return RecvStatus::Ok;
    }
    if (n == 0) return RecvStatus::Closed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      if (error) *error = std::strerror(errno);
      return RecvStatus::Reset;
    }
    int ms = remaining_ms(deadline);
    if (ms == 0) return RecvStatus::Timeout;
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, ms);
  }
}

namespace {
// RFC 3629 UTF-8 (no surrogates, no overlong forms, nothing above U+10FFFF): what every
// browser's WebSocket requires of a text frame, failing the connection otherwise. Written
// here rather than linked from the server, so the check is independent of the code under test.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return false;
    for (size_t k = 2; k <= n; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xBF) return false;
    }
    i += n + 1;
  }
  return true;
}
}  // namespace

int WsClient::parse_frame(Frame* out, std::string* error) {
  const auto* b = reinterpret_cast<const uint8_t*>(buf_.data());
  size_t have = buf_.size();
  if (have < 2) return 0;
  bool fin = b[0] & 0x80;
  uint8_t rsv = b[0] & 0x70;
  uint8_t op = b[0] & 0x0F;
  bool masked = b[1] & 0x80;
  uint64_t len = b[1] & 0x7F;
  size_t hdr = 2;
  if (len == 126) {
    if (have < 4) return 0;
    len = (uint64_t(b[2]) << 8) | b[3];
    hdr = 4;
  } else if (len == 127) {
    if (have < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
    hdr = 10;
  }
  if (masked) hdr += 4;
  if (rsv != 0) {
    if (error) *error = "server frame has RSV bits set";
    return -1;
  }
  if (len > (uint64_t(1) << 32)) {
    if (error) *error = "server frame length absurd: " + std::to_string(len);
    return -1;
  }
  if (have < hdr + len) return 0;
  out->opcode = op;
  out->fin = fin;
  out->masked = masked;
  out->payload.assign(buf_.data() + hdr, static_cast<size_t>(len));
  if (masked) {
    const uint8_t* key = b + hdr - 4;
    for (size_t i = 0; i < out->payload.size(); ++i) out->payload[i] = static_cast<char>(out->payload[i] ^ key[i & 3]);
  }
  out->close_code = -1;
  out->close_reason.clear();
  // Like a browser: a text frame (the server never fragments) or a close reason that is
  // not UTF-8 fails the connection.
  if ((op == kOpText && fin && !valid_utf8(out->payload)) ||
      (op == kOpClose && out->payload.size() > 2 && !valid_utf8(std::string_view(out->payload).substr(2)))) {
    if (error) *error = "server sent invalid UTF-8 in a " + std::string(op == kOpText ? "text frame" : "close reason");
    return -1;
  }
  if (op == kOpClose) {
    if (out->payload.size() >= 2) {
      out->close_code = (uint8_t(out->payload[0]) << 8) | uint8_t(out->payload[1]);
      out->close_reason = out->payload.substr(2);
    } else {
      out->close_code = 1005;
    }
  }
  buf_.erase(0, hdr + static_cast<size_t>(len));
  return 1;
}

RecvResult WsClient::recv_frame(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  RecvResult r;
  for (;;) {
    int p = parse_frame(&r.frame, &r.error);
    if (p == 1) {
      r.status = RecvStatus::Ok;
      return r;
    }
    if (p < 0) {
      r.status = RecvStatus::Bad;
      return r;
    }
    RecvStatus s = fill(deadline, &r.error);
    if (s != RecvStatus::Ok) {
      r.status = s;
      return r;
    }
  }
}

JsonResult WsClient::recv_json(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  JsonResult j;
  for (int guard = 0; guard < 1000000; ++guard) {
    RecvResult r = recv_frame(std::chrono::duration_cast<Millis>(deadline - Clock::now()));
    j.status = r.status;
    if (!r.ok()) {
      j.error = std::string("no message: ") + to_string(r.status) + (r.error.empty() ? "" : ": " + r.error);
      return j;
    }
    const Frame& f = r.frame;
    if (f.opcode == kOpPing) {
      ++pings_seen;
      if (auto_pong) send_pong(f.payload);
      continue;
    }
    if (f.opcode == kOpPong) continue;
    if (f.opcode == kOpClose) {
      j.close_code = f.close_code;
      j.error = "got close frame " + std::to_string(f.close_code) + " \"" + f.close_reason + "\"";
      return j;
    }
    if (f.masked) {
      j.error = "server sent a masked frame";
      return j;
    }
    if (!f.fin || f.opcode != kOpText) {
      j.error = "expected one final text frame, got opcode " + std::to_string(f.opcode) + (f.fin ? "" : " without FIN");
      return j;
    }
    j.text = f.payload;
    j.doc = std::make_unique<rapidjson::Document>();
    j.doc->Parse(j.text.c_str(), j.text.size());
    if (j.doc->HasParseError()) {
      j.error = std::string("server sent invalid JSON (") + rapidjson::GetParseError_En(j.doc->GetParseError()) +
                "): " + j.text.substr(0, 300);
      j.doc.reset();
      return j;
    }
    if (!j.doc->IsObject()) {
      j.error = "server sent JSON that is not an object: " + j.text.substr(0, 300);
      return j;
    }
    j.ok = true;
    return j;
  }
  j.error = "too many control frames";
  return j;
}

JsonResult WsClient::recv_until_type(std::string_view type, Millis timeout, int max_skip) {
  auto deadline = Clock::now() + timeout;
  std::string skipped;
  for (int i = 0; i <= max_skip; ++i) {
    JsonResult j = recv_json(std::chrono::duration_cast<Millis>(deadline - Clock::now()));
    if (!j.ok) {
      j.error += " (waiting for type \"" + std::string(type) + "\"; skipped " + std::to_string(i) + " messages" +
                 (skipped.empty() ? "" : ", last: " + skipped) + ")";
      return j;
    }
    if (j.type() == type) return j;
    skipped = j.text.substr(0, 200);
  }
  JsonResult j;
  j.error = "skipped more than " + std::to_string(max_skip) + " messages waiting for \"" + std::string(type) + "\"";
  return j;
}

::testing::AssertionResult WsClient::expect_no_message(Millis duration) {
  auto deadline = Clock::now() + duration;
  for (int guard = 0; guard < 100000; ++guard) {
    RecvResult r = recv_frame(std::chrono::duration_cast<Millis>(deadline - Clock::now()));
    if (r.status == RecvStatus::Timeout) return ::testing::AssertionSuccess();
    if (!r.ok()) return ::testing::AssertionFailure() << "connection ended: " << to_string(r.status) << " " << r.error;
    if (r.frame.opcode == kOpPing) {
      ++pings_seen;
      if (auto_pong) send_pong(r.frame.payload);
      continue;
    }
    if (r.frame.opcode == kOpPong) continue;
    if (r.frame.opcode == kOpClose)
      return ::testing::AssertionFailure() << "unexpected close frame " << r.frame.close_code << " \""
                                           << r.frame.close_reason << "\"";
    return ::testing::AssertionFailure() << "unexpected message (opcode " << int(r.frame.opcode)
                                         << "): " << r.frame.payload.substr(0, 300);
  }
  return ::testing::AssertionFailure() << "too many control frames";
}

CloseResult WsClient::wait_close(Millis timeout, int max_skip) {
  auto deadline = Clock::now() + timeout;
  CloseResult c;
  for (int i = 0; i <= max_skip + 100000; ++i) {
    RecvResult r = recv_frame(std::chrono::duration_cast<Millis>(deadline - Clock::now()));
    if (!r.ok()) {
      c.status = r.status;
      return c;
    }
    if (r.frame.opcode == kOpClose) {
      c.status = RecvStatus::Ok;
      c.got_close_frame = true;
      c.code = r.frame.close_code;
      c.reason = r.frame.close_reason;
      return c;
    }
    if (r.frame.opcode == kOpPing) {
      ++pings_seen;
      if (auto_pong) send_pong(r.frame.payload);
      continue;
    }
    if (r.frame.opcode == kOpPong) continue;
    if (++c.data_frames_skipped > max_skip) return c;
  }
  return c;
}

bool WsClient::wait_eof(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  for (int guard = 0; guard < 1000000; ++guard) {
    buf_.clear();
    RecvStatus s = fill(deadline, nullptr);
    if (s == RecvStatus::Closed || s == RecvStatus::Reset) return true;
    if (s == RecvStatus::Timeout) return false;
  }
  return false;
}

std::unique_ptr<WsClient> connect_or_fail(uint16_t port, const std::string& path) {
  std::string err;
  auto c = WsClient::connect(port, path, &err);
  EXPECT_TRUE(c) << "WebSocket connect to " << path << " failed: " << err;
  return c;
}

// ---------------------------------------------------------------- HTTP

namespace {
// Reads one HTTP response from fd (see http_raw), then closes fd.
HttpResponse read_response(int fd, Clock::time_point deadline, Millis close_wait);
}  // namespace

HttpResponse http_raw(uint16_t port, std::string_view request, Millis timeout, Millis close_wait) {
  return http_raw_chunks(port, {std::string(request)}, Millis{0}, timeout, close_wait);
}

HttpResponse http_raw_chunks(uint16_t port, const std::vector<std::string>& chunks, Millis gap, Millis timeout,
                             Millis close_wait) {
  HttpResponse r;
  auto deadline = Clock::now() + timeout;
  int fd = tcp_connect(port, timeout, 0, &r.error);
  if (fd < 0) return r;
  std::string send_err;
  // The server may answer and close before reading everything (e.g. an oversized head):
  // a failed send is not fatal, the response may already be there.
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0 && gap.count() > 0) {
      pollfd p{fd, 0, 0};
      ::poll(&p, 1, static_cast<int>(gap.count()));  // a bounded pause (no events requested)
    }
    if (!write_all(fd, chunks[i], deadline, &send_err)) break;
  }
  return read_response(fd, deadline, close_wait);
}

namespace {
HttpResponse read_response(int fd, Clock::time_point deadline, Millis close_wait) {
  HttpResponse r;
  std::string data;
  char tmp[16384];
  size_t head_end = std::string::npos;
  long content_length = -1;
  Clock::time_point body_done_deadline{};
  bool body_done = false;
  for (int guard = 0; guard < 1000000; ++guard) {
    auto dl = body_done ? std::min(deadline, body_done_deadline) : deadline;
    int ms = remaining_ms(dl);
    pollfd p{fd, POLLIN, 0};
    int pr = ms > 0 ? ::poll(&p, 1, ms) : 0;
    if (pr <= 0) break;
    ssize_t n = ::recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n == 0) {
      r.connection_closed = true;
      break;
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      // ECONNRESET after the response still counts as closed.
      r.connection_closed = true;
      if (data.empty()) r.error = std::string("recv: ") + std::strerror(errno);
      break;
    }
    data.append(tmp, static_cast<size_t>(n));
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        HttpResponse tmpr;
        parse_head(std::string_view(data).substr(0, head_end), &tmpr);
        auto it = tmpr.headers.find("content-length");
        if (it != tmpr.headers.end()) content_length = std::atol(it->second.c_str());
        if (tmpr.status == 101) break;  // upgraded: no body, the connection stays open
      }
    }
    if (!body_done && head_end != std::string::npos && content_length >= 0 &&
        data.size() >= head_end + 4 + static_cast<size_t>(content_length)) {
      body_done = true;
      body_done_deadline = Clock::now() + close_wait;
    }
  }
  ::close(fd);
  r.raw = data;
  if (head_end == std::string::npos) {
    if (r.error.empty()) r.error = "no complete response head; got " + std::to_string(data.size()) + " bytes: " + data.substr(0, 200);
    return r;
  }
  parse_head(std::string_view(data).substr(0, head_end), &r);
  r.body = data.substr(head_end + 4);
  if (content_length >= 0 && r.body.size() > static_cast<size_t>(content_length)) r.body.resize(content_length);
  return r;
}
}  // namespace

HttpResponse http_get(uint16_t port, std::string_view path, std::string_view extra_headers, Millis timeout) {
  std::string req = "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  req += extra_headers;
  req += "\r\n";
  return http_raw(port, req, timeout);
}

}  // namespace it
