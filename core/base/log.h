// core/base/log.h: one line per event on stderr, as text or JSON.
//
// Owns: its format and threshold. One Logger per loop thread (plus one for the main
// thread); no global logger. Each line is built in a local buffer and written with a
// single write(2), so lines from different threads never interleave.
// Promises: values are escaped (JSON) or quoted (text) so a hostile room name or reason
// cannot forge a line. Callers never pass tokens or message bodies.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace roomcast {

enum class LogLevel : uint8_t { Debug, Info, Warn, Error };
enum class LogFormat : uint8_t { Text, Json };

struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), text(v), is_number(false) {}
  LogField(std::string_view k, const std::string& v) : key(k), text(v), is_number(false) {}
  LogField(std::string_view k, const char* v) : key(k), text(v), is_number(false) {}
  LogField(std::string_view k, int64_t v) : key(k), number(v), is_number(true) {}
  LogField(std::string_view k, uint64_t v) : key(k), number(int64_t(v)), is_number(true) {}
  LogField(std::string_view k, int v) : key(k), number(v), is_number(true) {}
  LogField(std::string_view k, unsigned v) : key(k), number(v), is_number(true) {}

  std::string_view key;
  std::string_view text;
  int64_t number = 0;
  bool is_number;
};

class Logger {
 public:
  Logger(LogFormat format, LogLevel threshold, int thread = -1)
      : format_(format), threshold_(threshold), thread_(thread) {}

  bool enabled(LogLevel level) const { return level >= threshold_; }
  void log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) const;

 private:
  LogFormat format_;
  LogLevel threshold_;
  int thread_;
};

}  // namespace roomcast
