// tests/integration/proxy_process.h: runs a real nginx or HAProxy in front of roomcast for
// one test.
//
// Owns one child process (fork/exec of `nginx` or `haproxy`, found via PATH or /usr/sbin)
// running unprivileged-friendly in the foreground (nginx "daemon off; master_process
// off", haproxy -db) with a config written into a temporary directory that also holds its
// pid file, logs and nginx's temp paths: no system service, nothing outside that
// directory. It listens on a free 127.0.0.1 port picked like redis_process.h does.
// Promises: start() returns only once the port accepts connections (bounded, 10 s); the
// destructor never leaves the process behind (SIGKILL + reap) and removes the directory;
// the child also gets SIGKILL if the thread that started it dies (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace it {

enum class ProxyKind { Nginx, Haproxy };

class ProxyProcess {
 public:
  // The proxy's binary, or "" when it is not installed (the test then skips).
  static std::string binary(ProxyKind kind);

  // Writes `config(port, dir)` as the proxy's configuration and starts it; `port` is the
  // free port it must listen on, `dir` the temporary directory for its files. nullptr
  // with *error (and the proxy's log tail) otherwise.
  static std::unique_ptr<ProxyProcess> start(ProxyKind kind,
                                             const std::function<std::string(uint16_t port, const std::string& dir)>& config,
                                             std::string* error);

  ~ProxyProcess();
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string log_tail() const;

  // The nginx directives that keep every temp path inside `dir` (one per temp path this
  // nginx was built with, so an nginx without, say, uwsgi still starts).
  static std::string nginx_temp_paths(const std::string& dir);

 private:
  ProxyProcess() = default;
  bool launch(std::string* error);
  bool running();

  ProxyKind kind_ = ProxyKind::Nginx;
  pid_t pid_ = -1;
  bool reaped_ = true;
  uint16_t port_ = 0;
  std::string dir_;
  std::string config_path_;
};

}  // namespace it
