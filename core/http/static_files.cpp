// core/http/static_files.cpp: decode, check, resolve, read, answer.
#include "core/http/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "proto/handshake.h"

namespace roomcast {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

StaticAnswer not_found() { return {404, http_response(404, "not found\n"), {}}; }

}  // namespace

bool StaticFiles::open(const std::string& dir, std::string* error) {
  root_.clear();
  if (dir.empty()) return true;
  char resolved[PATH_MAX];
  if (!realpath(dir.c_str(), resolved)) {
    *error = "--static " + dir + ": no such directory";
    return false;
  }
  struct stat st {};
  if (stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "--static " + dir + ": not a directory";
    return false;
  }
  root_ = resolved;
  if (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  return true;
}

std::string_view StaticFiles::content_type(std::string_view name) {
  struct Type {
    std::string_view ext, type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},             {".map", "application/json"},
      {".svg", "image/svg+xml"},                 {".png", "image/png"},
      {".jpg", "image/jpeg"},                    {".jpeg", "image/jpeg"},
      {".ico", "image/x-icon"},                  {".webp", "image/webp"},
      {".wasm", "application/wasm"},             {".txt", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},                  {".glb", "model/gltf-binary"},
      {".gltf", "model/gltf+json"},
  };
  for (const Type& t : kTypes)
    if (ends_with(name, t.ext)) return t.type;
  return "application/octet-stream";
}

bool StaticFiles::safe_relative_path(std::string_view target, std::string& out) {
  out.clear();
  if (target.empty() || target.front() != '/') return false;
  for (size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size()) return false;  // a truncated escape
      int hi = hex_value(target[i + 1]), lo = hex_value(target[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || c == '\\') return false;
    out.push_back(c);
  }
  // Segments after decoding: no empty (//), `.` or `..`; a trailing slash means the index.
  std::string_view rest = std::string_view(out).substr(1);
  for (;;) {
    const size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    // Dot-files and dot-directories (.env, .git/) are never served; `.well-known` (RFC
    // 8615) is the one exception.
    if (!segment.empty() && segment.front() == '.' && segment != ".well-known") return false;
    if (slash == std::string_view::npos) break;  // the last segment may be empty: `dir/`
    if (segment.empty()) return false;           // `//` inside the path
    rest.remove_prefix(slash + 1);
  }
  out.erase(0, 1);
  if (out.empty() || out.back() == '/') out += "index.html";
  return true;
}

StaticAnswer StaticFiles::answer(std::string_view method, std::string_view target_path,
                                 std::string_view if_none_match) const {
  std::string relative;
  if (!enabled() || !safe_relative_path(target_path, relative)) return not_found();
  const std::string candidate = root_ + "/" + relative;
  char resolved[PATH_MAX];
  if (!realpath(candidate.c_str(), resolved)) return not_found();
  std::string_view real(resolved);
  // Inside the directory, after every symlink is followed.
  if (real.size() <= root_.size() + 1 || real.substr(0, root_.size()) != root_ || real[root_.size()] != '/')
    return not_found();
  int fd = ::open(resolved, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return not_found();
  struct stat st {};
  // Read-only descriptors below: close() has nothing to flush, so its result is moot.
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return not_found();  // a directory is never listed
  }
  const std::string etag = "\"" + std::to_string(st.st_size) + "-" + std::to_string(st.st_mtim.tv_sec) + "." +
                           std::to_string(st.st_mtim.tv_nsec) + "\"";
  std::string headers = "ETag: " + etag + "\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n";
  if (!if_none_match.empty() && if_none_match == etag) {
    close(fd);
    std::string response = "HTTP/1.1 304 Not Modified\r\n" + headers + "Connection: close\r\n\r\n";
    return {304, std::move(response), {}};
  }
  // The head announces the size; the body follows in chunks as the socket drains
  // (core/http/file_body.h), so no answer is ever held whole.
  std::string response = http_response_head(200, content_type(relative), uint64_t(st.st_size), headers);
  if (method == "HEAD") {
    close(fd);
    return {200, std::move(response), {}};
  }
  return {200, std::move(response), FileBody(fd, uint64_t(st.st_size))};
}

}  // namespace roomcast
