// tests/integration/server_process.cpp: see server_process.h.
#include "server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#ifndef ROOMCAST_BINARY
#define ROOMCAST_BINARY "roomcast"
#endif

namespace it {

using Clock = std::chrono::steady_clock;

std::string roomcast_binary() {
  const char* env = std::getenv("IT_ROOMCAST_BINARY");
  if (env && *env) return env;
  return ROOMCAST_BINARY;
}

std::string ExitStatus::describe() const {
  if (!reaped) return "not reaped (still running?)";
  std::string s;
  if (exited) s = "exited with code " + std::to_string(code);
  else s = "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  if (killed_after_timeout) s += " [SIGKILLed after timeout]";
  return s;
}

namespace {

void fill_status(int wstatus, ExitStatus* st) {
  st->reaped = true;
  if (WIFEXITED(wstatus)) {
    st->exited = true;
    st->code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    st->exited = false;
    st->signal = WTERMSIG(wstatus);
  }
}

}  // namespace

std::unique_ptr<ServerProcess> ServerProcess::start(const std::vector<std::string>& args, std::string* error,
                                                    std::chrono::milliseconds ready_timeout,
                                                    const ProcessOptions& options) {
  // SIGPIPE in the test process would kill it when a server hangs up; sockets use
  // MSG_NOSIGNAL, this guards the pipe as well.
  ::signal(SIGPIPE, SIG_IGN);

  std::string bin = roomcast_binary();
  if (::access(bin.c_str(), X_OK) != 0) {
    if (error) *error = "server binary not executable: " + bin + " (" + std::strerror(errno) + ")";
    return nullptr;
  }
  // Everything the child needs is prepared before fork (only async-signal-safe calls after).
  std::vector<std::string> argv_s;
  argv_s.push_back(bin);
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  // The server reads ROOMCAST_<FLAG> variables as flags: scrub them so the tests' explicit
  // arguments and the documented defaults are what the server runs with.
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "ROOMCAST_", 9) != 0) envp.push_back(*e);
  std::vector<std::string> extra_env = options.env;
  for (std::string& e : extra_env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int errfd = -1;
  if (!options.stderr_path.empty()) {
    errfd = ::open(options.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (errfd < 0) {
      if (error) *error = "open " + options.stderr_path + ": " + std::strerror(errno);
      return nullptr;
    }
  }

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    if (error) *error = std::string("pipe2: ") + std::strerror(errno);
    if (errfd >= 0) ::close(errfd);
    return nullptr;
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    if (error) *error = std::string("fork: ") + std::strerror(errno);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    if (errfd >= 0) ::close(errfd);
    return nullptr;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(pipefd[1], STDOUT_FILENO);  // dup2 clears CLOEXEC on the new descriptor
    if (errfd >= 0) ::dup2(errfd, STDERR_FILENO);
    // Restore default dispositions the test runner may have changed.
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.nofile_limit > 0) {
      rlimit rl{static_cast<rlim_t>(options.nofile_limit), static_cast<rlim_t>(options.nofile_limit)};
      if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        const char msg[] = "integration test: setrlimit(RLIMIT_NOFILE) failed\n";
        ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        ::_exit(127);
      }
    }
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "integration test: execv failed\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::close(pipefd[1]);
  if (errfd >= 0) ::close(errfd);

  std::unique_ptr<ServerProcess> p(new ServerProcess());
  p->pid_ = pid;
  p->out_fd_ = pipefd[0];

  // Read until the first newline, bounded by ready_timeout.
  auto deadline = Clock::now() + ready_timeout;
  std::string acc;
  bool got_line = false;
  while (!got_line) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd pf{p->out_fd_, POLLIN, 0};
    int pr = ::poll(&pf, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    char buf[4096];
    ssize_t n = ::read(p->out_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the server exited (or closed stdout) before listening
    acc.append(buf, static_cast<size_t>(n));
    size_t nl = acc.find('\n');
    if (nl != std::string::npos) {
      p->line_ = acc.substr(0, nl);
      p->leftover_ = acc.substr(nl + 1);
      got_line = true;
    }
  }
  if (!got_line) {
    ExitStatus st = p->stop(SIGKILL, std::chrono::seconds(2));
    if (error)
      *error = "server did not print its listening line within " + std::to_string(ready_timeout.count()) +
               " ms; stdout so far: \"" + acc + "\"; " + st.describe();
    return nullptr;
  }
  // Exactly "roomcast listening on 127.0.0.1:PORT" (a trailing CR tolerated).
  static const std::string kPrefix = "roomcast listening on 127.0.0.1:";
  std::string line = p->line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::string digits = line.compare(0, kPrefix.size(), kPrefix) == 0 ? line.substr(kPrefix.size()) : "";
  bool all_digits = !digits.empty() && digits.size() <= 5 &&
                    digits.find_first_not_of("0123456789") == std::string::npos;
  if (!all_digits) {
    if (error) *error = "unexpected first stdout line: \"" + p->line_ + "\"";
    p->stop(SIGKILL, std::chrono::seconds(2));
    return nullptr;
  }
  int port = std::stoi(digits);
  if (port <= 0 || port > 65535) {
    if (error) *error = "bad port in: " + p->line_;
    p->stop(SIGKILL, std::chrono::seconds(2));
    return nullptr;
  }
  p->port_ = static_cast<uint16_t>(port);
  p->start_forwarder();
  return p;
}

void ServerProcess::start_forwarder() {
  if (!leftover_.empty()) {
    std::string s = "[roomcast stdout] " + leftover_;
    ssize_t ignored = ::write(STDERR_FILENO, s.data(), s.size());
    (void)ignored;
  }
  int fd = out_fd_;
  forwarder_ = std::thread([this, fd] {
    char buf[4096];
    while (!stop_forwarder_.load()) {
      pollfd pf{fd, POLLIN, 0};
      int pr = ::poll(&pf, 1, 100);
      if (pr <= 0) continue;
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      std::string s = "[roomcast stdout] " + std::string(buf, static_cast<size_t>(n));
      ssize_t ignored = ::write(STDERR_FILENO, s.data(), s.size());
      (void)ignored;
    }
  });
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !status_.reaped) stop(SIGTERM, std::chrono::seconds(5));
  stop_forwarder_ = true;
  if (forwarder_.joinable()) forwarder_.join();
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool ServerProcess::running() {
  if (pid_ <= 0 || status_.reaped) return false;
  int ws = 0;
  pid_t r = ::waitpid(pid_, &ws, WNOHANG);
  if (r == pid_) {
    fill_status(ws, &status_);
    return false;
  }
  return true;
}

void ServerProcess::signal(int sig) {
  if (pid_ > 0 && !status_.reaped) ::kill(pid_, sig);
}

ExitStatus ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!status_.reaped) {
    if (!running()) break;
    if (Clock::now() >= deadline) break;
    ::usleep(10000);
  }
  return status_;
}

void ServerProcess::reap_blocking_with_kill(std::chrono::milliseconds timeout, int sig) {
  if (pid_ <= 0 || status_.reaped) return;
  ::kill(pid_, sig);
  wait_exit(timeout);
  if (!status_.reaped) {
    ::kill(pid_, SIGKILL);
    int ws = 0;
    // SIGKILL cannot be ignored; the blocking wait ends.
    for (int i = 0; i < 100; ++i) {
      pid_t r = ::waitpid(pid_, &ws, 0);
      if (r == pid_) {
        fill_status(ws, &status_);
        break;
      }
      if (r < 0 && errno != EINTR) break;
    }
    status_.killed_after_timeout = true;
  }
}

ExitStatus ServerProcess::stop(int sig, std::chrono::milliseconds timeout) {
  reap_blocking_with_kill(timeout, sig);
  return status_;
}

}  // namespace it
