// bench/load/report.h: one measurement's numbers, printed for people and for scripts.
//
// A Report is an ordered list of named values plus warnings. print() writes an aligned
// human-readable block and every warning as a line starting with "WARNING:"; with json it
// also writes the whole report as one JSON object on one line starting with '{' (what
// bench/run.sh parses). Names carry their unit (`p99_us`, `server_cpu_pct`).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace load {

class Report {
 public:
  explicit Report(std::string title) : title_(std::move(title)) {}

  void add(const std::string& name, int64_t value);
  void add(const std::string& name, double value, int decimals = 2);
  void add(const std::string& name, const std::string& value);
  void warn(const std::string& text) { warnings_.push_back(text); }
  const std::vector<std::string>& warnings() const { return warnings_; }

  void print(FILE* out, bool json) const;

 private:
  struct Field {
    std::string name;
    std::string text;  // as printed
    bool quoted;       // JSON string
  };
  std::string title_;
  std::vector<Field> fields_;
  std::vector<std::string> warnings_;
};

}  // namespace load
