// bench/load/options.h: the load tool's command line, parsed once into plain values.
//
// Contract: parse_options() either returns a complete, validated Options or prints why
// not and exits (status 2); `--help` prints usage and exits 0. Every server address must
// be in 127.0.0.0/8: this tool never sends traffic anywhere else. There is always at least
// one server; with several (--url repeated or --urls), room_layout.h says who goes where.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace load {

enum class Mode {
  Cursors,    // join, then cursors at --rate for --duration (S1, S2)
  Step,       // cursors, the rate stepped through --step (S3)
  Idle,       // join and stay silent: server RSS per connection and idle CPU (S4)
  JoinBurst,  // open every connection at once: time until all are welcomed (S5)
};

// One server instance the connections are spread over.
struct ServerAddress {
  std::string host = "127.0.0.1";    // numeric IPv4 in 127.0.0.0/8
  uint16_t port = 8080;
  std::string path_prefix = "/ws/";  // rooms are <path_prefix><room_prefix><r>
};

// A process watched besides the servers (--extra-pid NAME:PID, --redis-pid PID): its CPU
// and RSS are reported as NAME_cpu_pct, NAME_rss_kib, NAME_cpu_wait_pct.
struct ExtraProcess {
  std::string name;
  int pid = 0;
};

struct Options {
  Mode mode = Mode::Cursors;
  std::vector<ServerAddress> servers{ServerAddress{}};  // never empty
  std::string room_prefix = "load-";
  std::string token;  // --token-file: sent as ?token= on every upgrade (authentication on)
  int connections = 100;
  int rooms = 1;
  double rate = 10.0;                // cursors per connection per second
  int edit_every = 0;                // every Nth message of a connection is an edit (0: none)
  double camera_rate = 0;            // protocol 1.2: every join carries camera_rate (0: none)
  int followers = 0;                 // per room, members 1..N follow member 0 (the leader)
  std::vector<double> steps;         // --step: rates for Mode::Step
  double duration_s = 10.0;          // measured interval (per step in Mode::Step; idle period)
  double warmup_s = 2.0;             // sending but not measured (per step)
  double drain_s = 2.0;              // after the last send: receive only
  double join_timeout_s = 30.0;      // all welcomes must arrive within this
  int join_in_flight = 0;            // at most this many connections between connect and welcome (0: all)
  int threads = 1;                   // tool threads
  std::vector<int> server_pids;      // empty: no server CPU/RSS numbers; several: per server and summed
  std::vector<ExtraProcess> extra_processes;
  bool json = false;                 // also print one machine-readable line
  std::string label;                 // copied into the report (e.g. "S1")
};

Options parse_options(int argc, char** argv);

}  // namespace load
