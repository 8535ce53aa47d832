#include "bench/load/report.h"

#include <cmath>

namespace load {
namespace {

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += char(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += char(ch);
    }
  }
  return out;
}

}  // namespace

void Report::add(const std::string& name, int64_t value) {
  fields_.push_back({name, std::to_string(value), false});
}

void Report::add(const std::string& name, double value, int decimals) {
  if (!std::isfinite(value)) {
    fields_.push_back({name, "null", false});
    return;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  fields_.push_back({name, buf, false});
}

void Report::add(const std::string& name, const std::string& value) {
  fields_.push_back({name, value, true});
}

void Report::print(FILE* out, bool json) const {
  std::fprintf(out, "== %s\n", title_.c_str());
  for (const Field& f : fields_) std::fprintf(out, "  %-28s %s\n", f.name.c_str(), f.text.c_str());
  for (const std::string& w : warnings_) std::fprintf(out, "WARNING: %s\n", w.c_str());
  if (json) {
    std::string line = "{";
    for (const Field& f : fields_) {
      line += "\"" + json_escape(f.name) + "\":";
      line += f.quoted ? "\"" + json_escape(f.text) + "\"" : f.text;
      line += ",";
    }
    line += "\"warnings\":[";
    for (size_t i = 0; i < warnings_.size(); ++i) {
      line += (i ? ",\"" : "\"") + json_escape(warnings_[i]) + "\"";
    }
    line += "]}";
    std::fprintf(out, "%s\n", line.c_str());
  }
  std::fflush(out);
}

}  // namespace load
