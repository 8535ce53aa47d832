// proto/forwarded.cpp: see forwarded.h. Lists are split by hand (quoted strings in
// Forwarded may hold commas and semicolons), then each node goes through the strict
// address parser of proto/ip_address.h.
#include "proto/forwarded.h"

#include <string>

#include "proto/ascii.h"

namespace roomcast {
namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool parse_port(std::string_view s, uint16_t& out) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + unsigned(c - '0');
  }
  if (v > 65535) return false;
  out = uint16_t(v);
  return true;
}

// A node: "[v6]", "[v6]:port", "v4", "v4:port", and, unless `brackets_required` (RFC
// 7239 requires them), a bare "v6". RFC 7239 obfuscated ports ("_abc") count as no port.
ForwardedNode node_of(std::string_view text, bool brackets_required) {
  ForwardedNode node;
  std::string_view host = text, port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return {};
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return {};
      port = rest.substr(1);
    }
    if (host.find(':') == std::string_view::npos) return {};  // only IPv6 goes in brackets
  } else {
    size_t first = text.find(':');
    if (first != std::string_view::npos) {
      if (text.find(':', first + 1) == std::string_view::npos) {  // v4:port
        host = text.substr(0, first);
        port = text.substr(first + 1);
      } else if (brackets_required) {
        return {};
      }
    }
  }
  if (!parse_ip_address(host, node.address)) return {};
  if (!port.empty() && port.front() != '_' && !parse_port(port, node.port)) return {};
  node.known = true;
  return node;
}

}  // namespace

ForwardedNode parse_forwarded_node(std::string_view text) { return node_of(trim(text), false); }

void parse_x_forwarded_for(std::string_view value, std::vector<ForwardedNode>& out) {
  size_t start = 0;
  for (;;) {
    size_t comma = value.find(',', start);
    std::string_view element =
        trim(value.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!element.empty()) out.push_back(node_of(element, false));
    if (comma == std::string_view::npos) return;
    start = comma + 1;
  }
}

void parse_forwarded(std::string_view v, std::vector<ForwardedNode>& out) {
  const size_t n = v.size();
  size_t i = 0;
  std::string text;
  while (i <= n) {
    ForwardedNode node;
    bool has_for = false, broken = false, nonempty = false;
    for (;;) {  // the pairs of one element
      while (i < n && is_ows(v[i])) ++i;
      if (i >= n || v[i] == ',') break;
      if (v[i] == ';') {
        ++i;
        continue;
      }
      nonempty = true;
      const size_t name_start = i;
      while (i < n && is_tchar(static_cast<unsigned char>(v[i]))) ++i;
      std::string_view name = v.substr(name_start, i - name_start);
      if (name.empty() || i >= n || v[i] != '=') {
        broken = true;
        break;
      }
      ++i;
      text.clear();
      if (i < n && v[i] == '"') {
        bool closed = false;
        for (++i; i < n;) {
          char c = v[i++];
          if (c == '\\') {
            if (i < n) text.push_back(v[i++]);
            continue;
          }
          if (c == '"') {
            closed = true;
            break;
          }
          text.push_back(c);
        }
        if (!closed) broken = true;
      } else {
        while (i < n && is_tchar(static_cast<unsigned char>(v[i]))) text.push_back(v[i++]);
      }
      if (broken) break;
      if (equals_ignoring_case(name, "for")) {
        if (has_for) broken = true;  // two for= in one element: which one?
        has_for = true;
        node = node_of(text, true);
      }
      while (i < n && is_ows(v[i])) ++i;
      if (i < n && v[i] != ';' && v[i] != ',') {
        broken = true;
        break;
      }
    }
    if (broken) {  // the rest of this element is not read: skip to the next comma
      while (i < n && v[i] != ',') ++i;
      nonempty = true;
    }
    if (nonempty) out.push_back(has_for && !broken ? node : ForwardedNode{});
    if (i >= n) return;
    ++i;  // the comma
  }
}

}  // namespace roomcast
