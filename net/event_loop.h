// net/event_loop.h: the completion interface a loop thread runs on, whatever the kernel offers.
//
// Owns: the backend's kernel objects (an io_uring with its receive buffer ring, or an
// epoll set) and, for epoll, the interest state of each fd it was asked about.
// Called by: the loop thread that created it: core/worker.cpp (the loop, accepts, receives),
// core/connection_table.cpp (cancel, forget) and core/output.cpp (sends).
// Promises, for both backends:
//   - every operation reports through Completion with the caller's user_data, exactly
//     once, or repeatedly with `more` set while a multishot accept/recv stays armed;
//   - a recv completion's bytes stay valid until the caller passes its `buffer` to
//     release_buffer() (or the handler returns, for epoll);
//   - at most one send per fd is in flight (the caller's contract) and a send completes
//     with the bytes the kernel took, possibly fewer than offered;
//   - cancel() makes the targeted operation complete with -ECANCELED (or its normal
//     result, if it already finished) and never touches the fd afterwards;
//   - run_once() submits everything queued with one system call where the backend can,
//     waits for at least one completion (or until the caller's deadline), and hands
//     each to the sink.
// create() tries io_uring first (unless told otherwise) and falls back to epoll when the
// kernel refuses it (io_uring_disabled, seccomp, old kernel), saying why.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace roomcast {

struct Completion {
  uint64_t user_data;
  int32_t result;            // bytes, a new fd, 0 for EOF, or -errno
  bool more;                 // the multishot operation is still armed
  const uint8_t* data;       // recv only: the bytes received
  uint32_t buffer;           // recv only: pass to release_buffer(); kNoBuffer if none
};
inline constexpr uint32_t kNoBuffer = ~0u;

class CompletionSink {
 public:
  virtual void on_completion(const Completion& c) = 0;

 protected:
  ~CompletionSink() = default;
};

enum class BackendChoice { Auto, IoUring, Epoll };

class EventLoop {
 public:
  virtual ~EventLoop() = default;

  // Creates the backend on the calling thread. Null on failure, with `error` set.
  // `receive_buffers` (a power of two) sizes io_uring's shared receive pool.
  // `description` names the backend and its options (or why io_uring was refused).
  static std::unique_ptr<EventLoop> create(BackendChoice choice, unsigned receive_buffers, std::string* description,
                                           int* error);

  virtual const char* name() const = 0;

  virtual void accept(int listen_fd, uint64_t user_data) = 0;  // multishot
  virtual void recv(int fd, uint64_t user_data, bool multishot) = 0;
  virtual void send(int fd, msghdr* message, uint64_t user_data) = 0;  // `message` lives until completion
  virtual void read(int fd, void* buf, size_t len, uint64_t user_data) = 0;
  virtual void timeout_at(int64_t monotonic_ns, uint64_t user_data) = 0;
  virtual void cancel(int fd, uint64_t target_user_data) = 0;
  // The fd is leaving this loop (closed, or handed to another thread): forget it.
  virtual void forget(int fd) = 0;
  virtual void release_buffer(uint32_t buffer) = 0;
  // Receive buffers the kernel can still fill before a recv fails with -ENOBUFS
  // (io_uring's provided-buffer ring); SIZE_MAX where receives bring their own memory.
  virtual size_t spare_receive_buffers() const = 0;
  // Called between run_once() calls while the caller holds no received bytes (every
  // buffer released): returns the receive pool's pages to the kernel where the backend
  // can do so safely. After a join burst the pool stays resident otherwise.
  virtual void release_idle_memory() = 0;

  // Submits what is queued, waits for the first completion or until `deadline_ns`
  // (CLOCK_MONOTONIC; 0: no deadline), and hands every completion ready to the sink. A
  // deadline already past never blocks: it takes what is ready and returns.
  // Returns 0, or -errno if the loop cannot continue.
  virtual int run_once(CompletionSink& sink, int64_t deadline_ns = 0) = 0;
};

int64_t monotonic_ns();

}  // namespace roomcast
