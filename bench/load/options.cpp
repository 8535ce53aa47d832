#include "bench/load/options.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string_view>

namespace load {
namespace {

constexpr const char* kUsage =
    "usage: roomcast-load [options]\n"
    "  --url ws://HOST:PORT[/ws/]  server (HOST numeric, in 127.0.0.0/8); given again: one more\n"
    "                              server instance (member m of each room goes to server m % N)\n"
    "  --urls URL1,URL2,...        several server instances at once (the same as --url each)\n"
    "  --host HOST --port PORT     one server, separately (default 127.0.0.1:8080)\n"
    "  --connections N             WebSocket connections (default 100)\n"
    "  --rooms R                   rooms; connection i joins room i % R (default 1)\n"
    "  --rate F                    cursors per connection per second (default 10)\n"
    "  --camera-rate R             protocol 1.2: every join carries camera_rate R (0.5 to 10)\n"
    "  --followers N               per room, members 1..N follow member 0 (follower_* figures)\n"
    "  --edit-every N              every Nth message of a connection is an edit instead of a\n"
    "                              cursor: every member must get every edit, in seq order\n"
    "  --duration S                measured seconds (per step with --step; idle period with --idle)\n"
    "  --warmup S                  seconds of sending before measuring (default 2)\n"
    "  --drain S                   seconds to wait for deliveries after the last send (default 2)\n"
    "  --join-timeout S            all welcomes within this (default 30)\n"
    "  --threads T                 tool threads (default 1)\n"
    "  --server-pid PID[,PID...]   report server CPU (utime+stime) and RSS (VmRSS) from /proc;\n"
    "                              several: per server (in the order of the URLs) and summed\n"
    "  --extra-pid NAME:PID        also report CPU and RSS of another process (NAME_cpu_pct, ...)\n"
    "  --redis-pid PID             the same as --extra-pid redis:PID\n"
    "  --idle                      join, stay silent: server RSS per connection and idle CPU\n"
    "  --join-burst                open all connections at once: time until all are welcomed\n"
    "  --join-in-flight N          at most N connections between connect and welcome at a time\n"
    "                              (split over the tool threads; default 0: no limit)\n"
    "  --step R1,R2,...            step the per-connection rate, each step --warmup + --duration\n"
    "  --label NAME                scenario name copied into the report\n"
    "  --room-prefix P             room names are P<r> (default load-)\n"
    "  --token-file PATH           a JWT sent as ?token= on every upgrade (a server with authentication on)\n"
    "  --json                      also print one JSON result line per measurement\n";

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "roomcast-load: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

double parse_double(std::string_view flag, std::string_view v, double lo, double hi) {
  double d = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || end != v.data() + v.size() || !(d >= lo && d <= hi)) {
    fail(std::string(flag) + ": expected a number in [" + std::to_string(lo) + ", " +
         std::to_string(hi) + "], got '" + std::string(v) + "'");
  }
  return d;
}

long parse_int(std::string_view flag, std::string_view v, long lo, long hi) {
  long n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi) {
    fail(std::string(flag) + ": expected an integer in [" + std::to_string(lo) + ", " +
         std::to_string(hi) + "], got '" + std::string(v) + "'");
  }
  return n;
}

void parse_url(ServerAddress& s, std::string_view url) {
  if (!url.starts_with("ws://")) fail("--url must start with ws://");
  url.remove_prefix(5);
  const size_t slash = url.find('/');
  std::string_view hostport = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string path(url.substr(slash));
    if (path.back() != '/') path += '/';
    s.path_prefix = path;
  }
  const size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) fail("--url needs an explicit port");
  s.host = std::string(hostport.substr(0, colon));
  s.port = uint16_t(parse_int("--url port", hostport.substr(colon + 1), 1, 65535));
}

// Calls `each` with every piece of a comma-separated list (empty pieces included, so the
// caller's parser rejects "1,,2").
template <typename F>
void for_each_item(std::string_view list, F&& each) {
  while (true) {
    const size_t comma = list.find(',');
    each(list.substr(0, comma));
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// Extra process names become JSON field prefixes: keep them plain and apart from the
// tool's own fields.
bool valid_process_name(std::string_view name) {
  if (name.empty() || name.size() > 32 || name.starts_with("server") || name.starts_with("tool") ||
      name.starts_with("same_") || name.starts_with("cross_")) {
    return false;
  }
  for (char ch : name) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  }
  return true;
}

void check_loopback(const std::string& host) {
  in_addr addr{};
  if (inet_pton(AF_INET, host.c_str(), &addr) != 1) fail("host must be a numeric IPv4 address");
  if ((ntohl(addr.s_addr) >> 24) != 127) fail("host must be in 127.0.0.0/8 (loopback only)");
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  bool idle = false, burst = false;
  bool urls_given = false;       // the first URL replaces the default server, later ones add
  bool host_or_port = false;     // --host/--port: only with exactly one server
  auto add_url = [&](std::string_view url) {
    if (!urls_given) o.servers.clear();
    urls_given = true;
    if (o.servers.size() >= 64) fail("at most 64 servers");
    o.servers.emplace_back();
    parse_url(o.servers.back(), url);
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    std::string_view value;
    bool has_inline = false;
    if (const size_t eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    auto need = [&]() -> std::string_view {
      if (has_inline) return value;
      if (i + 1 >= argc) fail(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--url") {
      add_url(need());
    } else if (a == "--urls") {
      for_each_item(need(), add_url);
    } else if (a == "--host") {
      host_or_port = true;
      o.servers.front().host = std::string(need());
    } else if (a == "--port") {
      host_or_port = true;
      o.servers.front().port = uint16_t(parse_int(a, need(), 1, 65535));
    } else if (a == "--connections") {
      o.connections = int(parse_int(a, need(), 1, 1000000));
    } else if (a == "--camera-rate") {
      o.camera_rate = parse_double(a, need(), 0.5, 10);
    } else if (a == "--followers") {
      o.followers = int(parse_int(a, need(), 0, 1000000));
    } else if (a == "--rooms") {
      o.rooms = int(parse_int(a, need(), 1, 1000000));
    } else if (a == "--edit-every") {
      o.edit_every = int(parse_int(a, need(), 1, 1000000));
    } else if (a == "--rate") {
      o.rate = parse_double(a, need(), 0.001, 1000);
    } else if (a == "--duration") {
      o.duration_s = parse_double(a, need(), 0.1, 3600);
    } else if (a == "--warmup") {
      o.warmup_s = parse_double(a, need(), 0, 600);
    } else if (a == "--drain") {
      o.drain_s = parse_double(a, need(), 0, 600);
    } else if (a == "--join-timeout") {
      o.join_timeout_s = parse_double(a, need(), 0.1, 600);
    } else if (a == "--threads") {
      o.threads = int(parse_int(a, need(), 1, 256));
    } else if (a == "--server-pid") {
      for_each_item(need(), [&](std::string_view pid) {
        o.server_pids.push_back(int(parse_int(a, pid, 1, 1 << 30)));
      });
    } else if (a == "--extra-pid" || a == "--redis-pid") {
      std::string_view v = need();
      ExtraProcess p{"redis", 0};
      if (a == "--extra-pid") {
        const size_t colon = v.find(':');
        if (colon == std::string_view::npos) fail("--extra-pid needs NAME:PID");
        p.name = std::string(v.substr(0, colon));
        v.remove_prefix(colon + 1);
        if (!valid_process_name(p.name)) {
          fail("--extra-pid NAME: lowercase letters, digits and _, not starting with server, tool, same_ "
               "or cross_; got '" + p.name + "'");
        }
      }
      p.pid = int(parse_int(a, v, 1, 1 << 30));
      for (const ExtraProcess& q : o.extra_processes) {
        if (q.name == p.name) fail("two extra processes named " + p.name);
      }
      o.extra_processes.push_back(std::move(p));
    } else if (a == "--idle") {
      idle = true;
    } else if (a == "--join-in-flight") {
      o.join_in_flight = int(parse_double(a, need(), 1, 1e6));
    } else if (a == "--join-burst") {
      burst = true;
    } else if (a == "--step") {
      std::string_view list = need();
      while (!list.empty()) {
        const size_t comma = list.find(',');
        o.steps.push_back(parse_double(a, list.substr(0, comma), 0.001, 1000));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
      if (o.steps.empty() || o.steps.size() > 64) fail("--step needs 1..64 rates");
    } else if (a == "--label") {
      o.label = std::string(need());
    } else if (a == "--room-prefix") {
      o.room_prefix = std::string(need());
    } else if (a == "--token-file") {
      const std::string path(need());
      std::ifstream in(path);
      if (!in || !std::getline(in, o.token) || o.token.empty()) fail("--token-file: cannot read a token from " + path);
    } else if (a == "--json") {
      o.json = true;
    } else {
      fail("unknown argument " + std::string(a));
    }
  }
  if (int(idle) + int(burst) + int(!o.steps.empty()) > 1) {
    fail("--idle, --join-burst and --step are exclusive");
  }
  o.mode = idle ? Mode::Idle : burst ? Mode::JoinBurst : !o.steps.empty() ? Mode::Step : Mode::Cursors;
  if (host_or_port && o.servers.size() > 1) fail("--host/--port name one server; give each of several with --url");
  for (const ServerAddress& s : o.servers) check_loopback(s.host);
  if (!o.server_pids.empty() && o.server_pids.size() != o.servers.size()) {
    fail("--server-pid: give one pid per server (" + std::to_string(o.servers.size()) + "), in the order of the URLs");
  }
  if (o.rooms > o.connections) fail("--rooms must not exceed --connections");
  return o;
}

}  // namespace load
