#include "net/uring_loop.h"

#include <cerrno>
#include <ctime>
#include <deque>

#include "net/ring.h"

namespace roomcast {
namespace {

constexpr uint16_t kBufferGroup = 1;
constexpr uint64_t kInternal = 0;        // completions of our own cancels: not reported

class UringLoop final : public EventLoop {
 public:
  // Small buffers, many of them: messages here are mostly a few hundred bytes, and a
  // join burst needs one buffer per socket with data in the same batch. A large message
  // simply arrives in several completions (wslay reassembles).
  int init(unsigned receive_buffers, std::string* description) {
    std::string flags;
    int rc = ring_.init(4096, &flags);
    if (rc != 0) return rc;
    // Multishot recv needs 6.0 and a provided-buffer ring; probe by registering one.
    rc = buffers_.init(ring_, kBufferGroup, receive_buffers, kReceiveBufferSize);
    if (rc != 0) return rc;
    if (description) *description = "io_uring (" + flags + ", " + std::to_string(receive_buffers) + "x" +
                                     std::to_string(kReceiveBufferSize) + " B provided buffers)";
    return 0;
  }

  const char* name() const override { return "io_uring"; }

  void accept(int listen_fd, uint64_t ud) override {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    io_uring_sqe_set_data64(sqe, ud);
  }

  void recv(int fd, uint64_t ud, bool multishot) override {
    io_uring_sqe* sqe = ring_.sqe();
    if (multishot)
      io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    else
      io_uring_prep_recv(sqe, fd, nullptr, 0, 0);
    // The kernel picks a buffer from this thread's ring when data arrives, so idle
    // connections hold no receive memory.
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffers_.group();
    io_uring_sqe_set_data64(sqe, ud);
  }

  void send(int fd, msghdr* message, uint64_t ud) override {
    io_uring_sqe* sqe = ring_.sqe();
    // No MSG_WAITALL: a short send completes and the caller resubmits the rest, so a
    // stalled reader never pins an operation (and its frames) in the kernel.
    // One frame (the common case without a batch window): a plain send spares the kernel
    // copying and checking a msghdr and an iovec array.
    if (message->msg_iovlen == 1)
      io_uring_prep_send(sqe, fd, message->msg_iov[0].iov_base, message->msg_iov[0].iov_len, MSG_NOSIGNAL);
    else
      io_uring_prep_sendmsg(sqe, fd, message, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud);
  }

  void read(int fd, void* buf, size_t len, uint64_t ud) override {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_read(sqe, fd, buf, unsigned(len), 0);
    io_uring_sqe_set_data64(sqe, ud);
  }

  void timeout_at(int64_t ns, uint64_t ud) override {
    // The kernel copies the timespec when the SQE is submitted; keep it until then.
    __kernel_timespec& ts = timespecs_.emplace_back();
    ts.tv_sec = ns / 1'000'000'000;
    ts.tv_nsec = ns % 1'000'000'000;
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_timeout(sqe, &ts, 0, IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(sqe, ud);
  }

  void cancel(int, uint64_t target) override {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, kInternal);
  }

  void forget(int) override {}

  void release_buffer(uint32_t buffer) override { buffers_.recycle(uint16_t(buffer)); }

  size_t spare_receive_buffers() const override { return buffers_.available(); }

  void release_idle_memory() override {
    // Without DEFER_TASKRUN the kernel may run a receive (and write into a buffer)
    // whenever this thread passes through the kernel; then the pages stay.
    if (ring_.defers_task_work()) buffers_.release_pages();
  }

  int run_once(CompletionSink& sink, int64_t deadline_ns) override {
    io_uring* ring = ring_.get();
    int rc;
    const int64_t left = deadline_ns > 0 ? deadline_ns - monotonic_ns() : 0;
    if (deadline_ns > 0 && left > 0) {
      __kernel_timespec ts{left / 1'000'000'000, left % 1'000'000'000};
      io_uring_cqe* first = nullptr;
      // Submit first: sends issued inline complete right here, and then there is nothing
      // to wait for.
      rc = io_uring_submit(ring);
      if (io_uring_cq_ready(ring) == 0) rc = io_uring_submit_and_wait_timeout(ring, &first, 1, &ts, nullptr);
      // With DEFER_TASKRUN, completions that arrived as the wait timed out may still be
      // queued as task work: run it so they are seen now, not at the next wakeup.
      if (rc == -ETIME && io_uring_cq_ready(ring) == 0) rc = io_uring_get_events(ring);
    } else if (deadline_ns > 0) {
      // The deadline has already passed: take what is ready, never block (a blocking
      // wait here would sleep until some unrelated completion, up to the 1 s tick).
      // get_events also runs DEFER_TASKRUN's queued task work (a plain submit does not).
      rc = io_uring_submit_and_get_events(ring);
    } else {
      rc = io_uring_submit_and_wait(ring, 1);
    }
    timespecs_.clear();
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) return rc;
    // Reap the whole batch, then mark it seen with one store.
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring, head, cqe) {
      ++seen;
      if (cqe->user_data == kInternal) continue;
      Completion c{cqe->user_data, cqe->res, (cqe->flags & IORING_CQE_F_MORE) != 0, nullptr, kNoBuffer};
      if (cqe->flags & IORING_CQE_F_BUFFER) {
        c.buffer = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        buffers_.taken();
        c.data = buffers_.buffer(uint16_t(c.buffer));
      }
      sink.on_completion(c);
    }
    io_uring_cq_advance(ring, seen);
    buffers_.publish();  // every buffer released during the batch, back in one store
    return 0;
  }

 private:
  Ring ring_;
  BufferRing buffers_;
  std::deque<__kernel_timespec> timespecs_;
};

}  // namespace

std::unique_ptr<EventLoop> make_uring_loop(unsigned receive_buffers, std::string* description, int* error) {
  auto loop = std::make_unique<UringLoop>();
  int rc = loop->init(receive_buffers, description);
  if (rc != 0) {
    if (error) *error = rc;
    return nullptr;
  }
  return loop;
}

}  // namespace roomcast
