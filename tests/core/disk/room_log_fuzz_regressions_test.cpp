// tests/core/disk/room_log_fuzz_regressions_test.cpp: every input room_log_fuzz stopped on,
// and its seeds, replayed through the harness of fuzz/room_log_fuzz.cpp (included without
// its libFuzzer entry point). A broken invariant aborts with "invariant violated: ...".
// The proto-level targets are replayed by tests/proto/fuzz_regressions_test.cpp; this one
// lives here because the room log belongs to core/disk.
#define ROOMCAST_FUZZ_NO_ENTRY 1
#include "fuzz/room_log_fuzz.cpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace roomcast::disk {
namespace {

namespace fs = std::filesystem;

fs::path repo_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path(); }

TEST(RoomLogFuzzRegressions, EveryKeptInputAndSeedHoldsTheHarnessInvariants) {
  size_t n = 0;
  for (const char* kind : {"regressions", "corpus"}) {
    fs::path dir = repo_root() / "fuzz" / kind / "room_log_fuzz";
    ASSERT_TRUE(fs::is_directory(dir)) << dir;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& p : files) {
      SCOPED_TRACE(p.string());
      std::ifstream f(p, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      roomcast_fuzz::room_log::one_input(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++n;
    }
  }
  EXPECT_GE(n, 6u);
}

}  // namespace
}  // namespace roomcast::disk
