#include "core/config.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>
#include <thread>

namespace roomcast {
namespace {

template <typename T>
bool parse_unsigned(std::string_view s, T min, T max, T& out) {
  unsigned long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return false;
  if (v < min || v > max) return false;
  out = static_cast<T>(v);
  return true;
}

bool parse_positive_double(std::string_view s, double& out) {
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (tmp.empty() || *end != '\0' || !std::isfinite(v) || v <= 0) return false;
  out = v;
  return true;
}

}  // namespace

std::string usage_text() {
  return
      "usage: roomcast [flags]\n"
      "\n"
      "  --listen HOST:PORT         address to serve WebSocket and HTTP on (default 127.0.0.1:8080)\n"
      "  --threads N                loop threads; a room lives on one (default: number of cores)\n"
      "  --history N                edits kept per room for `since` replay (default 1000)\n"
      "  --ping-interval SECONDS    server ping period; a connection silent for two periods\n"
      "                             is closed (default 25)\n"
      "  --max-message BYTES        largest inbound message; larger closes with 1009 (default 65536)\n"
      "  --rate-limit N             messages per second per connection, sustained (default 60)\n"
      "  --rate-burst N             messages a connection may send at once (default 60)\n"
      "  --max-pending BYTES        output a slow reader may have queued before it is closed\n"
      "                             with 1008 (default 8388608)\n"
      "  --handshake-timeout SECONDS  a connection must finish its upgrade within this (default 5)\n"
      "  --max-header BYTES         largest HTTP request head; larger gets 431 (default 8192)\n"
      "  --room-ttl SECONDS         how long an empty room keeps its edit history (default 600)\n"
      "  --max-batch-delay MS       a recipient's frames may wait this long so frames from many\n"
      "                             senders leave in one write; 0 sends at once (default 5)\n"
      "  --help                     this text\n";
}

ConfigOutcome parse_config(int argc, const char* const* argv, Config& c, std::string& message) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      message = usage_text();
      return ConfigOutcome::Help;
    }
    if (arg.substr(0, 2) != "--") {
      message = "unexpected argument '" + std::string(arg) + "' (see --help)";
      return ConfigOutcome::Error;
    }
    std::string_view name = arg, value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    } else if (i + 1 < argc) {
      value = argv[i + 1];
      has_value = true;
      ++i;
    }
    auto bad = [&](const char* what) {
      message = std::string(name) + ": " + (has_value ? "'" + std::string(value) + "' is not " : "needs ") + what;
      return ConfigOutcome::Error;
    };
    if (!has_value) return bad("a value");
    if (name == "--listen") {
      if (!parse_listen_address(value, c.listen)) return bad("HOST:PORT with a numeric address");
    } else if (name == "--threads") {
      if (!parse_unsigned(value, 1u, 1024u, c.threads)) return bad("an integer in 1..1024");
    } else if (name == "--history") {
      if (!parse_unsigned(value, size_t(0), size_t(10'000'000), c.history)) return bad("an integer in 0..10000000");
    } else if (name == "--ping-interval") {
      if (!parse_unsigned(value, 1u, 3600u, c.ping_interval_s)) return bad("seconds in 1..3600");
    } else if (name == "--max-message") {
      if (!parse_unsigned(value, size_t(128), size_t(64) << 20, c.max_message)) return bad("bytes in 128..67108864");
    } else if (name == "--rate-limit") {
      if (!parse_positive_double(value, c.rate_limit)) return bad("a positive number");
    } else if (name == "--rate-burst") {
      if (!parse_positive_double(value, c.rate_burst) || c.rate_burst < 1) return bad("a number >= 1");
    } else if (name == "--max-pending") {
      if (!parse_unsigned(value, size_t(4096), size_t(1) << 34, c.max_pending)) return bad("bytes >= 4096");
    } else if (name == "--handshake-timeout") {
      if (!parse_unsigned(value, 1u, 3600u, c.handshake_timeout_s)) return bad("seconds in 1..3600");
    } else if (name == "--max-header") {
      if (!parse_unsigned(value, size_t(512), size_t(1) << 20, c.max_header)) return bad("bytes in 512..1048576");
    } else if (name == "--room-ttl") {
      if (!parse_unsigned(value, 0u, 86400u * 30, c.room_ttl_s)) return bad("seconds in 0..2592000");
    } else if (name == "--max-batch-delay") {
      if (!parse_unsigned(value, 0u, 1000u, c.max_batch_delay_ms)) return bad("milliseconds in 0..1000");
    } else {
      message = "unknown flag '" + std::string(name) + "' (see --help)";
      return ConfigOutcome::Error;
    }
  }
  if (c.threads == 0) {
    unsigned n = std::thread::hardware_concurrency();
    c.threads = n ? n : 1;
  }
  return ConfigOutcome::Run;
}

}  // namespace roomcast
