// core/http/file_body.h: the body of a file answer, read as the socket drains it.
//
// Owns: one read-only descriptor of a file under --static and how much of it is still to
// send. Made by StaticFiles::answer, carried by the connection's HttpExchange while the
// answer streams, read by Output when the connection's queue runs empty.
// Why: an answer held whole costs its size for as long as the client takes to read it;
// a client that never reads (a zero TCP window) pinned 3 MB per request that way. Read
// in chunks, an answer costs one chunk at a time, and only once the previous chunk has
// reached the kernel (docs/protocol.md "What one address can hold").
// Promises: next_chunk() never reads past the size the answer's head announced (a file
// that grew is cut there; one that shrank is an error, and the connection is dropped:
// its Content-Length can no longer be kept); the descriptor is closed exactly once, when
// the FileBody goes.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace roomcast {

class FileBody {
 public:
  static constexpr size_t kChunkBytes = 64 * 1024;

  FileBody() = default;
  FileBody(int fd, uint64_t size) : fd_(fd), end_(size) {}
  FileBody(FileBody&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), offset_(std::exchange(o.offset_, 0)), end_(std::exchange(o.end_, 0)) {}
  FileBody& operator=(FileBody&& o) noexcept {
    std::swap(fd_, o.fd_);
    std::swap(offset_, o.offset_);
    std::swap(end_, o.end_);
    return *this;
  }
  FileBody(const FileBody&) = delete;
  FileBody& operator=(const FileBody&) = delete;
  // Read-only descriptor: close() has nothing to flush, so its result is moot.
  ~FileBody() {
    if (fd_ >= 0) ::close(fd_);
  }

  uint64_t remaining() const { return end_ - offset_; }

  // The next at most kChunkBytes of the file, read into `scratch` (reused by the caller).
  // False if the file cannot be read or ended early.
  bool next_chunk(std::vector<uint8_t>& scratch, std::string_view* out) {
    const size_t want = size_t(std::min<uint64_t>(remaining(), kChunkBytes));
    if (scratch.size() < want) scratch.resize(kChunkBytes);
    size_t got = 0;
    while (got < want) {
      const ssize_t n = ::pread(fd_, scratch.data() + got, want - got, off_t(offset_ + got));
      if (n <= 0) return false;
      got += size_t(n);
    }
    offset_ += got;
    *out = std::string_view(reinterpret_cast<const char*>(scratch.data()), got);
    return true;
  }

 private:
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint64_t end_ = 0;
};

}  // namespace roomcast
