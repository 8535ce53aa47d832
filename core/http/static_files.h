// core/http/static_files.h: the files of one directory, served at `/` (`--static DIR`).
//
// Owns: the directory's canonical path, resolved once at start.
// Called by: the HTTP front for GET/HEAD requests whose path is not one of the server's
// own (/healthz, /metrics, /api/..., /ws/...), on any loop thread (read-only, no state).
// Promises:
//   - only regular files inside DIR are ever read: the path is percent-decoded once, and
//     a NUL, a backslash, an empty, `.` or `..` segment (in any encoding) is 404; what
//     remains is resolved with realpath, so a symlink that leads out of DIR is 404 too;
//   - a directory is never listed: `/` and `/dir/` answer their index.html, or 404;
//   - Content-Type from the extension (unknown: application/octet-stream), with
//     `X-Content-Type-Options: nosniff`; `Cache-Control: no-cache` plus an ETag (size and
//     mtime) so a browser revalidates cheaply (304 on If-None-Match);
//   - HEAD answers the same headers as GET, without the body.
//   - a segment that starts with `.` (.env, .git/) is 404, except `.well-known`;
//   - a file's bytes are never held whole: the answer carries an open descriptor
//     (FileBody) that the connection reads 64 KiB at a time as the socket drains.
// Files are read synchronously on the loop thread (small demo assets from the page
// cache): this is a demo server beside the real-time path, not a CDN.
#pragma once

#include <string>
#include <string_view>

#include "core/http/file_body.h"

namespace roomcast {

struct StaticAnswer {
  int status = 404;
  std::string response;  // the HTTP response bytes: all of them, or the head of a file answer
  FileBody body;         // a GET of a file: its bytes, to stream after `response`
};

class StaticFiles {
 public:
  // `dir` empty: disabled. Otherwise it must be a readable directory; `error` says why not.
  bool open(const std::string& dir, std::string* error);
  bool enabled() const { return !root_.empty(); }

  // `method` is GET or HEAD; `target_path` the request path without the query.
  // `if_none_match` the request's If-None-Match header (may be empty).
  StaticAnswer answer(std::string_view method, std::string_view target_path, std::string_view if_none_match) const;

  // "text/html; charset=utf-8" for "index.html", and so on.
  static std::string_view content_type(std::string_view file_name);
  // Percent-decodes and checks a request path; false for anything that is not a plain
  // relative path inside the directory ("a/b.js" for "/a/b.js").
  static bool safe_relative_path(std::string_view target_path, std::string& out);

 private:
  std::string root_;  // canonical, no trailing slash
};

}  // namespace roomcast
