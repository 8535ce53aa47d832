// tests/integration/proxy_process.cpp: see proxy_process.h.
#include "proxy_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace it {

using Clock = std::chrono::steady_clock;

namespace {

uint16_t pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

bool accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

const char* name_of(ProxyKind kind) { return kind == ProxyKind::Nginx ? "nginx" : "haproxy"; }

}  // namespace

std::string ProxyProcess::binary(ProxyKind kind) {
  const std::string name = name_of(kind);
  std::vector<std::string> dirs;
  if (const char* path = ::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string d; std::getline(ss, d, ':');) dirs.push_back(d);
  }
  dirs.push_back("/usr/sbin");
  dirs.push_back("/usr/local/sbin");
  for (const std::string& d : dirs) {
    std::string candidate = d + "/" + name;
    if (!d.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string ProxyProcess::nginx_temp_paths(const std::string& dir) {
  std::string out = "client_body_temp_path " + dir + "/body;\n";
  // `nginx -V` lists the temp paths compiled in, e.g. --http-proxy-temp-path=...
  std::string built;
  std::string cmd = binary(ProxyKind::Nginx) + " -V 2>&1";
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) built.append(buf, n);
    ::pclose(p);
  }
  for (const char* module : {"proxy", "fastcgi", "uwsgi", "scgi"}) {
    if (built.find(std::string("--http-") + module + "-temp-path") != std::string::npos ||
        std::string(module) == "proxy")
      out += std::string(module) + "_temp_path " + dir + "/" + module + ";\n";
  }
  return out;
}

std::unique_ptr<ProxyProcess> ProxyProcess::start(
    ProxyKind kind, const std::function<std::string(uint16_t port, const std::string& dir)>& config, std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  if (binary(kind).empty()) {
    *error = std::string(name_of(kind)) + " is not installed";
    return nullptr;
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "roomcast-proxy-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    *error = "mkdtemp: " + std::string(std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<ProxyProcess> p(new ProxyProcess());
  p->kind_ = kind;
  p->dir_ = tmpl;
  p->config_path_ = tmpl + (kind == ProxyKind::Nginx ? "/nginx.conf" : "/haproxy.cfg");
  std::string last;
  for (int attempt = 0; attempt < 5; ++attempt) {  // another process may take the port first
    p->port_ = pick_free_port();
    if (p->port_ == 0) break;
    std::ofstream(p->config_path_, std::ios::trunc) << config(p->port_, p->dir_);
    if (p->launch(&last)) return p;
  }
  *error = last;
  return nullptr;
}

bool ProxyProcess::launch(std::string* error) {
  const std::string bin = binary(kind_);
  std::vector<std::string> argv_s;
  if (kind_ == ProxyKind::Nginx)
    argv_s = {bin, "-p", dir_ + "/", "-c", config_path_, "-e", dir_ + "/error.log"};
  else
    argv_s = {bin, "-db", "-f", config_path_};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string log = dir_ + "/proxy.log";
  int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0) {
    *error = "open " + log + ": " + std::strerror(errno);
    return false;
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    ::close(logfd);
    return false;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(logfd, STDOUT_FILENO);
    ::dup2(logfd, STDERR_FILENO);
    ::close_range(3, ~0U, 0);
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(logfd);
  pid_ = pid;
  reaped_ = false;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    if (!running()) {
      *error = std::string(name_of(kind_)) + " exited at start; log:\n" + log_tail();
      return false;
    }
    if (accepts(port_)) return true;
    ::usleep(20000);
  }
  *error = std::string(name_of(kind_)) + " did not listen within 10 s; log:\n" + log_tail();
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  reaped_ = true;
  return false;
}

bool ProxyProcess::running() {
  if (pid_ <= 0 || reaped_) return false;
  int ws = 0;
  pid_t r = ::waitpid(pid_, &ws, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    return false;
  }
  return true;
}

std::string ProxyProcess::log_tail() const {
  std::string s;
  for (const char* file : {"/proxy.log", "/error.log"}) {
    std::ifstream f(dir_ + file);
    std::stringstream ss;
    ss << f.rdbuf();
    s += ss.str();
  }
  if (s.size() > 2000) s = "..." + s.substr(s.size() - 2000);
  return s;
}

ProxyProcess::~ProxyProcess() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    for (;;) {
      pid_t r = ::waitpid(pid_, nullptr, 0);
      if (r == pid_ || (r < 0 && errno != EINTR)) break;
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

}  // namespace it
