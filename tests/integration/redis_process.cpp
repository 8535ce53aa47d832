// tests/integration/redis_process.cpp: see redis_process.h.
#include "redis_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace it {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kReadyTimeout{10000};
constexpr milliseconds kCommandTimeout{5000};
constexpr milliseconds kStopTimeout{10000};

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// A port nobody listens on right now (bind port 0, read it back, close). Racy by nature;
// start() retries when redis-server then fails to bind it.
uint16_t pick_free_port(std::string* error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return 0;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  } else {
    *error = std::string("bind/getsockname: ") + std::strerror(errno);
  }
  ::close(fd);
  return port;
}

std::string resp_encode(const std::vector<std::string>& argv) {
  std::string out = "*" + std::to_string(argv.size()) + "\r\n";
  for (const auto& a : argv) {
    out += "$" + std::to_string(a.size()) + "\r\n";
    out += a;
    out += "\r\n";
  }
  return out;
}

enum class Parse { Done, Incomplete, Bad };

// Finds the CRLF-terminated line at *pos; Incomplete if the CRLF is not there yet.
Parse read_line(const std::string& buf, size_t* pos, std::string* line) {
  size_t end = buf.find("\r\n", *pos);
  if (end == std::string::npos) return Parse::Incomplete;
  *line = buf.substr(*pos, end - *pos);
  *pos = end + 2;
  return Parse::Done;
}

bool to_ll(const std::string& s, long long* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long r = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *v = r;
  return true;
}

// One RESP2 value at *pos into *parts (arrays add their flattened elements, everything
// else adds one text). *pos only advances on Done.
Parse parse_value(const std::string& buf, size_t* pos, std::vector<std::string>* parts, int depth = 0) {
  if (depth > 32) return Parse::Bad;
  size_t p = *pos;
  if (p >= buf.size()) return Parse::Incomplete;
  char type = buf[p++];
  std::string line;
  Parse r = read_line(buf, &p, &line);
  if (r != Parse::Done) return r;
  long long n = 0;
  switch (type) {
    case '+':
      parts->push_back(line);
      break;
    case '-':
      parts->push_back("ERR:" + line);
      break;
    case ':':
      if (!to_ll(line, &n)) return Parse::Bad;
      parts->push_back(std::to_string(n));
      break;
    case '$':
      if (!to_ll(line, &n) || n < -1) return Parse::Bad;
      if (n == -1) {
        parts->push_back("(nil)");
        break;
      }
      if (buf.size() < p + static_cast<size_t>(n) + 2) return Parse::Incomplete;
      if (buf.compare(p + static_cast<size_t>(n), 2, "\r\n") != 0) return Parse::Bad;
      parts->push_back(buf.substr(p, static_cast<size_t>(n)));
      p += static_cast<size_t>(n) + 2;
      break;
    case '*': {
      if (!to_ll(line, &n) || n < -1) return Parse::Bad;
      if (n == -1) {
        parts->push_back("(nil)");
        break;
      }
      size_t mark = parts->size();
      for (long long i = 0; i < n; ++i) {
        Parse e = parse_value(buf, &p, parts, depth + 1);
        if (e != Parse::Done) {
          parts->resize(mark);
          return e;
        }
      }
      break;
    }
    default:
      return Parse::Bad;
  }
  *pos = p;
  return Parse::Done;
}

// Sends argv (after AUTH `auth` when not empty) to 127.0.0.1:port on a fresh connection
// and reads its reply, all within `timeout`. False when unreachable, timed out or not RESP.
bool roundtrip(uint16_t port, const std::vector<std::string>& argv, milliseconds timeout, std::string* reply,
               const std::vector<std::string>& auth = {}) {
  auto deadline = Clock::now() + timeout;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (errno != EINPROGRESS) return false;
    pollfd pf{fd, POLLOUT, 0};
    if (::poll(&pf, 1, ms_left(deadline)) <= 0) return false;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return false;
  }
  std::string out = (auth.empty() ? std::string() : resp_encode(auth)) + resp_encode(argv);
  size_t skip = auth.empty() ? 0 : 1;  // replies to drop before argv's
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pf{fd, POLLOUT, 0};
      if (::poll(&pf, 1, ms_left(deadline)) <= 0) return false;
      continue;
    }
    return false;
  }
  std::string in;
  for (;;) {
    size_t pos = 0;
    std::vector<std::string> parts;
    Parse r = parse_value(in, &pos, &parts);
    if (r == Parse::Bad) return false;
    if (r == Parse::Done && skip > 0) {
      --skip;
      in.erase(0, pos);
      continue;
    }
    if (r == Parse::Done) {
      std::string joined;
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i) joined += '\n';
        joined += parts[i];
      }
      *reply = std::move(joined);
      return true;
    }
    pollfd pf{fd, POLLIN, 0};
    int left = ms_left(deadline);
    if (left == 0) return false;
    int pr = ::poll(&pf, 1, left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return false;
    char buf[16384];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

std::string RedisProcess::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

std::unique_ptr<RedisProcess> RedisProcess::start(std::string* error, bool appendonly) {
  RedisProcessOptions options;
  options.appendonly = appendonly;
  return start(error, options);
}

std::unique_ptr<RedisProcess> RedisProcess::start(std::string* error, const RedisProcessOptions& options) {
  // A dead Redis must not kill the test with SIGPIPE (sends use MSG_NOSIGNAL; belt and braces).
  ::signal(SIGPIPE, SIG_IGN);
  std::string ignored;
  if (!error) error = &ignored;
  std::string tmpl = (std::filesystem::temp_directory_path() / "roomcast-redis-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    *error = "mkdtemp " + tmpl + ": " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<RedisProcess> p(new RedisProcess());
  p->dir_ = tmpl;
  p->options_ = options;
  // Another process may grab the picked port between our close and Redis's bind.
  std::string last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    p->port_ = pick_free_port(&last);
    if (p->port_ == 0) break;
    if (p->launch(&last)) return p;
  }
  *error = last;
  return nullptr;  // the destructor removes the directory
}

bool RedisProcess::launch(std::string* error) {
  std::string port = std::to_string(port_);
  std::string log = dir_ + "/redis.log";
  // Everything the child needs is prepared before fork (only async-signal-safe calls after).
  std::vector<std::string> argv_s = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", options_.appendonly ? "yes" : "no",
                                     "--dir", dir_, "--protected-mode", "no", "--daemonize", "no",
                                     "--logfile", log};
  if (!options_.conf.empty()) {
    std::string conf = dir_ + "/redis.conf";
    if (!std::filesystem::exists(conf)) std::ofstream(conf) << options_.conf;  // a sentinel rewrites it
    argv_s.insert(argv_s.begin() + 1, conf);
    if (options_.sentinel) argv_s.insert(argv_s.begin() + 2, "--sentinel");
  }
  for (std::string a : options_.extra_args) {
    if (size_t at = a.find("{port}"); at != std::string::npos) a.replace(at, 6, port);
    argv_s.push_back(std::move(a));
  }
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0) {
    *error = "open " + log + ": " + std::strerror(errno);
    return false;
  }
  int nullfd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    ::close(logfd);
    if (nullfd >= 0) ::close(nullfd);
    return false;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (nullfd >= 0) ::dup2(nullfd, STDIN_FILENO);
    ::dup2(logfd, STDOUT_FILENO);
    ::dup2(logfd, STDERR_FILENO);
    // Sockets of the test (e.g. a client under test) must not stay open in Redis.
    ::close_range(3, ~0U, 0);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp(argv[0], argv.data());
    const char msg[] = "redis_process: execvp redis-server failed\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::close(logfd);
  if (nullfd >= 0) ::close(nullfd);
  pid_ = pid;
  reaped_ = false;

  auto deadline = Clock::now() + kReadyTimeout;
  for (;;) {
    std::string reply;
    if (options_.tls_only) {
      if (log_tail().find("Ready to accept connections") != std::string::npos) return true;
    } else if (roundtrip(port_, {"PING"}, milliseconds(500), &reply) &&
               (reply == "PONG" || reply.starts_with("ERR:NOAUTH"))) {
      return true;
    }
    if (!running()) {
      *error = "redis-server (port " + std::to_string(port_) + ") exited before answering PING; log:\n" + log_tail();
      return false;
    }
    if (Clock::now() >= deadline) break;
    ::usleep(20000);
  }
  kill_hard();
  *error = "redis-server (port " + std::to_string(port_) + ") did not answer PING within 10 s; log:\n" + log_tail();
  return false;
}


std::string RedisProcess::log_tail() const {
  std::ifstream f(dir_ + "/redis.log");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.size() > 2000) s = "..." + s.substr(s.size() - 2000);
  return s;
}

RedisProcess::~RedisProcess() {
  kill_hard();
  if (!dir_.empty()) {
    std::error_code ec;  // best effort: a leftover temp dir is not a test failure
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string RedisProcess::command(const std::vector<std::string>& argv, bool* ok) {
  std::string reply;
  std::vector<std::string> auth;
  if (!options_.password.empty()) {
    auth = {"AUTH"};
    if (!options_.user.empty()) auth.push_back(options_.user);
    auth.push_back(options_.password);
  }
  bool good = port_ != 0 && roundtrip(port_, argv, kCommandTimeout, &reply, auth);
  if (ok) *ok = good;
  return good ? reply : std::string();
}

bool RedisProcess::running() {
  if (pid_ <= 0 || reaped_) return false;
  int ws = 0;
  pid_t r = ::waitpid(pid_, &ws, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    return false;
  }
  return true;
}

void RedisProcess::reap_blocking() {
  // Called after SIGKILL, which cannot be ignored: the blocking wait ends.
  for (;;) {
    int ws = 0;
    pid_t r = ::waitpid(pid_, &ws, 0);
    if (r == pid_ || (r < 0 && errno != EINTR)) break;
  }
  reaped_ = true;
}

void RedisProcess::kill_hard() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  reap_blocking();
}

void RedisProcess::stop() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  auto deadline = Clock::now() + kStopTimeout;
  while (running()) {
    if (Clock::now() >= deadline) {
      kill_hard();
      return;
    }
    ::usleep(10000);
  }
}

bool RedisProcess::restart(std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  stop();
  return launch(error);
}

}  // namespace it
