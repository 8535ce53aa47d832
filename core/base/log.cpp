#include "core/base/log.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace roomcast {
namespace {

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "info";
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(char(c));
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(char(c));
    }
  }
  out.push_back('"');
}

// Text values are quoted when they could be mistaken for structure.
void append_text_value(std::string& out, std::string_view s) {
  bool plain = !s.empty();
  for (unsigned char c : s)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) plain = false;
  if (plain)
    out.append(s);
  else
    append_json_string(out, s);
}

}  // namespace

void Logger::log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) const {
  if (!enabled(level)) return;
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char when[64];
  std::snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ts.tv_nsec / 1'000'000);
  std::string line;
  line.reserve(160);
  if (format_ == LogFormat::Json) {
    line += "{\"ts\":\"";
    line += when;
    line += "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"event\":";
    append_json_string(line, event);
    if (thread_ >= 0) line += ",\"thread\":" + std::to_string(thread_);
    for (const LogField& f : fields) {
      line.push_back(',');
      append_json_string(line, f.key);
      line.push_back(':');
      if (f.is_number)
        line += std::to_string(f.number);
      else
        append_json_string(line, f.text);
    }
    line += "}\n";
  } else {
    line += when;
    line.push_back(' ');
    line += level_name(level);
    line.push_back(' ');
    line.append(event);
    if (thread_ >= 0) line += " thread=" + std::to_string(thread_);
    for (const LogField& f : fields) {
      line.push_back(' ');
      line.append(f.key);
      line.push_back('=');
      if (f.is_number)
        line += std::to_string(f.number);
      else
        append_text_value(line, f.text);
    }
    line.push_back('\n');
  }
  // A log line that stderr cannot take is dropped: logging must never block or stop the loop.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace roomcast
