// fuzz/fuzz_common.h: what every fuzz target shares.
//
// UBSan in the fuzz build is recoverable (CMakeLists.txt adds no -fno-sanitize-recover),
// so by default undefined behaviour only prints. These defaults make it stop the run like
// any crash, so libFuzzer keeps the input, and load fuzz/ubsan.supp (found next to this
// file, __FILE__ is absolute in CMake builds) to silence one known RapidJSON 1.1.0 report.
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace roomcast_fuzz {

// Built at compile time: the sanitizer runtime asks for its options before any static
// constructor has run, so nothing here may allocate or initialize lazily.
constexpr auto kUbsanOptions = [] {
  constexpr std::string_view prefix = "halt_on_error=1:print_stacktrace=1:suppressions=";
  constexpr std::string_view file = __FILE__;
  constexpr std::string_view dir = file.substr(0, file.find_last_of('/') + 1);
  constexpr std::string_view supp = "ubsan.supp";
  std::array<char, prefix.size() + dir.size() + supp.size() + 1> out{};
  size_t n = 0;
  for (char c : prefix) out[n++] = c;
  for (char c : dir) out[n++] = c;
  for (char c : supp) out[n++] = c;
  out[n] = '\0';
  return out;
}();

}  // namespace roomcast_fuzz

// Not in unit tests that replay fuzz inputs (ROOMCAST_FUZZ_NO_ENTRY): their binary keeps
// its own sanitizer settings.
#ifndef ROOMCAST_FUZZ_NO_ENTRY
extern "C" const char* __ubsan_default_options() { return roomcast_fuzz::kUbsanOptions.data(); }
#endif

namespace roomcast_fuzz {

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace roomcast_fuzz
