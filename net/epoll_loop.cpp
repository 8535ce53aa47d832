#include "net/epoll_loop.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace roomcast {
namespace {

constexpr size_t kReadBytes = 64 * 1024;
constexpr int kMaxEvents = 256;
constexpr int kAcceptsPerWakeup = 64;  // bounded, so one busy listener cannot starve the loop

// What the caller asked for on one fd.
struct Interest {
  uint64_t accept_ud = 0, recv_ud = 0, read_ud = 0, send_ud = 0;
  void* read_buf = nullptr;
  size_t read_len = 0;
  msghdr* send_msg = nullptr;
  bool accepting = false, receiving = false, multishot = false, reading = false, sending = false;
  uint32_t registered = 0;  // events currently in the epoll set; 0: not added
};

class EpollLoop final : public EventLoop {
 public:
  ~EpollLoop() override {
    if (epfd_ >= 0) close(epfd_);  // teardown: the descriptor is gone whatever close() says
  }

  int init() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    return epfd_ < 0 ? -errno : 0;
  }

  const char* name() const override { return "epoll"; }

  void accept(int fd, uint64_t ud) override {
    Interest& in = at(fd);
    in.accepting = true;
    in.accept_ud = ud;
    update(fd);
  }

  void recv(int fd, uint64_t ud, bool multishot) override {
    Interest& in = at(fd);
    in.receiving = true;
    in.multishot = multishot;
    in.recv_ud = ud;
    update(fd);
  }

  void send(int fd, msghdr* message, uint64_t ud) override {
    // Try now: most sends fit in the socket buffer and need no wakeup at all.
    ssize_t n = ::sendmsg(fd, message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      ready_.push_back(Completion{ud, n >= 0 ? int32_t(n) : -errno, false, nullptr, kNoBuffer});
      return;
    }
    Interest& in = at(fd);
    in.sending = true;
    in.send_ud = ud;
    in.send_msg = message;
    update(fd);
  }

  void read(int fd, void* buf, size_t len, uint64_t ud) override {
    Interest& in = at(fd);
    in.reading = true;
    in.read_ud = ud;
    in.read_buf = buf;
    in.read_len = len;
    update(fd);
  }

  void timeout_at(int64_t ns, uint64_t ud) override { timers_.push_back(Timer{ns, ud}); }

  void cancel(int fd, uint64_t target) override {
    if (fd < 0 || size_t(fd) >= fds_.size()) return;
    Interest& in = fds_[fd];
    if (in.receiving && in.recv_ud == target) {
      in.receiving = false;
      ready_.push_back(Completion{target, -ECANCELED, false, nullptr, kNoBuffer});
    } else if (in.accepting && in.accept_ud == target) {
      in.accepting = false;
      ready_.push_back(Completion{target, -ECANCELED, false, nullptr, kNoBuffer});
    } else if (in.sending && in.send_ud == target) {
      // A send waiting for EPOLLOUT (a peer that stopped reading) is abandoned.
      in.sending = false;
      in.send_msg = nullptr;
      ready_.push_back(Completion{target, -ECANCELED, false, nullptr, kNoBuffer});
    }
    update(fd);
  }

  void forget(int fd) override {
    if (fd < 0 || size_t(fd) >= fds_.size()) return;
    // Fails only if the fd left the set already (closed); either way it is out of it.
    if (fds_[fd].registered) (void)epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    fds_[fd] = Interest{};
  }

  void release_buffer(uint32_t) override {}
  size_t spare_receive_buffers() const override { return SIZE_MAX; }
  void release_idle_memory() override {}  // one read buffer per loop, always in use

  int run_once(CompletionSink& sink, int64_t deadline_ns) override {
    timespec wait{}, *wait_ptr = &wait;  // zero: take what is ready, never block
    if (ready_.empty()) {
      int64_t until = deadline_ns;  // 0: none
      for (const Timer& t : timers_)
        if (until == 0 || t.at < until) until = t.at;
      if (until == 0) {
        wait_ptr = nullptr;
      } else {
        const int64_t left = std::max<int64_t>(0, until - monotonic_ns());
        wait.tv_sec = left / 1'000'000'000;
        wait.tv_nsec = left % 1'000'000'000;
      }
    }
    epoll_event events[kMaxEvents];
    int n = epoll_pwait2(epfd_, events, kMaxEvents, wait_ptr, nullptr);
    if (n < 0) {
      if (errno != EINTR) return -errno;
      n = 0;
    }
    delivering_.swap(ready_);
    for (const Completion& c : delivering_) sink.on_completion(c);
    delivering_.clear();
    for (int i = 0; i < n; ++i) dispatch(events[i].data.fd, events[i].events, sink);
    fire_timers(sink);
    return 0;
  }

 private:
  struct Timer {
    int64_t at;
    uint64_t ud;
  };

  Interest& at(int fd) {
    if (size_t(fd) >= fds_.size()) fds_.resize(std::max<size_t>(size_t(fd) + 1, fds_.size() * 2));
    return fds_[fd];
  }

  void update(int fd) {
    Interest& in = fds_[fd];
    uint32_t want = ((in.accepting || in.receiving || in.reading) ? uint32_t(EPOLLIN) : 0u) |
                    (in.sending ? uint32_t(EPOLLOUT) : 0u);
    if (want == in.registered) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = fd;
    if (want == 0) {
      // Only fails if the fd is already out of the set (closed): nothing left to undo.
      (void)epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
      in.registered = 0;
      return;
    }
    if (epoll_ctl(epfd_, in.registered == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) {
      // ENOMEM/ENOSPC (max_user_watches): no readiness will ever come, so every operation
      // armed on this fd completes now with the error instead of waiting forever.
      fail_all(fd, -errno);
      return;
    }
    in.registered = want;
  }

  void fail_all(int fd, int error) {
    Interest& in = fds_[fd];
    if (in.accepting) ready_.push_back(Completion{in.accept_ud, error, false, nullptr, kNoBuffer});
    if (in.receiving) ready_.push_back(Completion{in.recv_ud, error, false, nullptr, kNoBuffer});
    if (in.reading) ready_.push_back(Completion{in.read_ud, error, false, nullptr, kNoBuffer});
    if (in.sending) ready_.push_back(Completion{in.send_ud, error, false, nullptr, kNoBuffer});
    const uint32_t registered = in.registered;
    in = Interest{};
    if (registered) (void)epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);  // as above
  }

  // Handlers may arm, cancel or forget any fd (and grow fds_), so state is re-read by
  // index after every call into the sink.
  void dispatch(int fd, uint32_t events, CompletionSink& sink) {
    if (size_t(fd) >= fds_.size()) return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      if (fds_[fd].accepting) {
        for (int i = 0; i < kAcceptsPerWakeup && fds_[fd].accepting; ++i) {
          int nfd = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (nfd >= 0) {
            sink.on_completion(Completion{fds_[fd].accept_ud, nfd, true, nullptr, kNoBuffer});
            continue;
          }
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          if (errno == ECONNABORTED || errno == EINTR || errno == EPROTO) continue;
          // EMFILE/ENFILE/ENOBUFS/ENOMEM: stop accepting until the caller re-arms, or the
          // level-triggered listener would spin the loop.
          int err = errno;
          fds_[fd].accepting = false;
          update(fd);
          sink.on_completion(Completion{fds_[fd].accept_ud, -err, false, nullptr, kNoBuffer});
          break;
        }
      } else if (fds_[fd].reading) {
        Interest& in = fds_[fd];
        ssize_t r = ::read(fd, in.read_buf, in.read_len);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        in.reading = false;
        uint64_t ud = in.read_ud;
        update(fd);
        sink.on_completion(Completion{ud, r >= 0 ? int32_t(r) : -errno, false, nullptr, kNoBuffer});
      } else if (fds_[fd].receiving) {
        ssize_t r = ::recv(fd, buffer_, kReadBytes, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        Interest& in = fds_[fd];
        bool more = in.multishot && r > 0;
        if (!more) in.receiving = false;
        uint64_t ud = in.recv_ud;
        update(fd);
        sink.on_completion(Completion{ud, r >= 0 ? int32_t(r) : -errno, more, buffer_, kNoBuffer});
      }
    }
    if (size_t(fd) < fds_.size() && fds_[fd].sending && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      Interest& in = fds_[fd];
      ssize_t r = ::sendmsg(fd, in.send_msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      in.sending = false;
      uint64_t ud = in.send_ud;
      update(fd);
      sink.on_completion(Completion{ud, r >= 0 ? int32_t(r) : -errno, false, nullptr, kNoBuffer});
    }
  }

  void fire_timers(CompletionSink& sink) {
    if (timers_.empty()) return;
    int64_t now = monotonic_ns();
    due_.clear();
    for (size_t i = 0; i < timers_.size();) {
      if (timers_[i].at <= now) {
        due_.push_back(timers_[i].ud);
        timers_[i] = timers_.back();
        timers_.pop_back();
      } else {
        ++i;
      }
    }
    for (uint64_t ud : due_) sink.on_completion(Completion{ud, -ETIME, false, nullptr, kNoBuffer});
  }

  int epfd_ = -1;
  std::vector<Interest> fds_;
  std::vector<Completion> ready_, delivering_;
  std::vector<Timer> timers_;
  std::vector<uint64_t> due_;
  uint8_t buffer_[kReadBytes];
};

}  // namespace

std::unique_ptr<EventLoop> make_epoll_loop(std::string* description, int* error) {
  auto loop = std::make_unique<EpollLoop>();
  int rc = loop->init();
  if (rc != 0) {
    if (error) *error = rc;
    return nullptr;
  }
  if (description) *description = "epoll";
  return loop;
}

}  // namespace roomcast
