// tests/integration/redis_process.h: runs a real redis-server for one test.
//
// Owns one child process (fork/exec of `redis-server` found via PATH) listening on a free
// 127.0.0.1 port, and a temporary directory that is its --dir (AOF files, redis.log).
// The child runs with no RDB snapshots (--save ""), --protected-mode no and, if asked,
// --appendonly yes. Its stdout/stderr and log go to <dir>/redis.log; a failed start puts
// that log's tail into *error.
// Talks RESP over a plain socket (integration tests link no hiredis): command() opens a
// fresh connection per call, so a test can use it while Redis is being killed/restarted.
// Promises: the destructor never leaves the process behind (SIGKILL + reap) and removes
// the directory; the child also gets SIGKILL if the thread that started it dies
// (PR_SET_PDEATHSIG: start/restart from the test's main thread, as the tests do).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace it {

// How the server is started besides its port and dir.
struct RedisProcessOptions {
  bool appendonly = false;
  // Appended to the command line, e.g. {"--requirepass", "pw"}, {"--user", "app on >pw ~* &* +@all"},
  // {"--replicaof", "127.0.0.1", "6379"}. "{port}" in an argument is replaced by the port.
  std::vector<std::string> extra_args;
  // command() (and the readiness PING) authenticate first with these when password is
  // not empty: AUTH [user] password on the same connection.
  std::string user, password;
  // The server listens with TLS only (extra_args carry --port 0 --tls-port {port} and the
  // certificate files): ready once its log says so, since PING needs TLS; command()
  // cannot reach it.
  bool tls_only = false;
  // Not empty: written to <dir>/redis.conf and given as the config file (first argument),
  // e.g. the `sentinel monitor` lines of a sentinel; `sentinel` adds --sentinel.
  std::string conf;
  bool sentinel = false;
};

class RedisProcess {
 public:
  // Starts redis-server on a free 127.0.0.1 port and waits (bounded, 10 s) until it
  // answers PING (a NOAUTH error counts as an answer). nullptr with *error set otherwise.
  // The free port is found by binding port 0 and closing it; if another process takes it
  // first, start retries another.
  static std::unique_ptr<RedisProcess> start(std::string* error, bool appendonly = false);
  static std::unique_ptr<RedisProcess> start(std::string* error, const RedisProcessOptions& options);

  ~RedisProcess();  // SIGKILL + reap if still running, remove the temp dir
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const;  // "redis://127.0.0.1:PORT"
  const std::string& dir() const { return dir_; }

  // One command over a fresh connection with a 5 s deadline (after AUTH when the options
  // name a password; AUTH's own reply is not returned). The reply as text: simple
  // string/bulk as is, integer as decimal, nil as "(nil)", error as "ERR:<message>",
  // array elements joined by '\n' (nested arrays flattened). "" and *ok = false when the
  // server cannot be reached or the reply is not complete RESP within the deadline.
  std::string command(const std::vector<std::string>& argv, bool* ok = nullptr);

  void kill_hard();  // SIGKILL and reap (no-op when not running)
  void stop();       // SIGTERM (Redis writes its AOF if on), wait up to 10 s, then SIGKILL; reap
  // Starts again on the same port and dir (with appendonly the data survives); waits for
  // PING like start(). Stops a still running child gracefully first.
  bool restart(std::string* error);
  // True while the child has not exited (non-blocking; reaps it if it has).
  bool running();
  pid_t pid() const { return pid_; }

 private:
  RedisProcess() = default;
  // fork/exec on port_ and dir_, then wait for PING; false with *error (the child reaped).
  bool launch(std::string* error);
  void reap_blocking();
  std::string log_tail() const;

  pid_t pid_ = -1;
  bool reaped_ = true;
  uint16_t port_ = 0;
  RedisProcessOptions options_;
  std::string dir_;
};

}  // namespace it
