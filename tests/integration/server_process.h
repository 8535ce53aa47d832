// tests/integration/server_process.h: runs the real roomcast binary for one test.
//
// Owns one child process (fork/exec) and the read end of its stdout pipe. start() waits
// (bounded) for the one line "roomcast listening on 127.0.0.1:PORT"; afterwards a thread
// forwards any further stdout to the test's stderr. The child's stderr is the test's
// stderr (inherited), so server logs appear next to the failing test.
// Promises: the destructor never leaves the process behind (SIGTERM, then SIGKILL after a
// bounded wait); the child also gets SIGKILL if the test process dies (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace it {

// The binary under test: $IT_ROOMCAST_BINARY if set in the environment, else the
// compile-time ROOMCAST_BINARY.
std::string roomcast_binary();

struct ExitStatus {
  bool reaped = false;     // waitpid returned the child
  bool exited = false;     // WIFEXITED
  int code = -1;           // WEXITSTATUS
  int signal = 0;          // WTERMSIG when killed by a signal
  bool killed_after_timeout = false;  // we had to SIGKILL it
  std::string describe() const;
};

// How the child is set up besides its arguments.
struct ProcessOptions {
  // If > 0: RLIMIT_NOFILE (soft and hard) of the child, set between fork and exec.
  unsigned long nofile_limit = 0;
  // Not empty: the child's stderr goes to this file (created/truncated) instead of the
  // test's, so a test can read what the server logged.
  std::string stderr_path;
  // Extra NAME=VALUE entries of the child's environment (after the ROOMCAST_* scrub).
  std::vector<std::string> env;
};

class ServerProcess {
 public:
  // Starts `binary args...`. Returns nullptr with *error set if it could not start or did
  // not print the listening line within `ready_timeout`.
  static std::unique_ptr<ServerProcess> start(const std::vector<std::string>& args, std::string* error,
                                              std::chrono::milliseconds ready_timeout = std::chrono::seconds(10),
                                              const ProcessOptions& options = {});

  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& listening_line() const { return line_; }

  // True while the child has not exited (non-blocking check; reaps it if it has).
  bool running();
  // Sends `sig` (without waiting).
  void signal(int sig);
  // Sends `sig`, waits up to `timeout` for exit, then SIGKILLs and reaps. Idempotent: a
  // second call returns the first status.
  ExitStatus stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Waits up to `timeout` for the child to exit on its own (no signal). reaped=false on timeout.
  ExitStatus wait_exit(std::chrono::milliseconds timeout);

 private:
  ServerProcess() = default;
  void reap_blocking_with_kill(std::chrono::milliseconds timeout, int sig);
  void start_forwarder();

  pid_t pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
  std::string line_;
  std::string leftover_;
  ExitStatus status_;
  std::thread forwarder_;
  std::atomic<bool> stop_forwarder_{false};
};

}  // namespace it
