// Journal: what a read gives back from preallocated, grown and recycled segments.
#include "core/disk/journal.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace roomcast::disk {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "roomcast-journal-XXXXXX").string();
    if (char* p = ::mkdtemp(tmpl.data())) path = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<std::string> rooms_read(const Journal& j) {
  std::vector<std::string> out;
  EXPECT_EQ(j.read([&](const JournalEntry& e) { out.emplace_back(e.room); }), 0);
  return out;
}

int append_entry(Journal& j, const std::string& room) {
  std::string bytes;
  j.encode_entry(bytes, room, "epoch", std::string(100, 'r'));
  return j.append(bytes);
}

TEST(Journal, APreallocatedSegmentReadsBackItsEntriesAndStopsAtItsZeros) {
  TempDir dir;
  std::string error;
  Journal j;
  ASSERT_EQ(j.open(dir.path, 4096, error), 0) << error;
  uint64_t n = 0;
  ASSERT_EQ(j.start_segment(n, true), 0);
  EXPECT_EQ(fs::file_size(dir.path + "/journal/j_0000000000000001.wal"), 4096u) << "written with zeros ahead";
  ASSERT_EQ(append_entry(j, "a"), 0);
  ASSERT_EQ(append_entry(j, "b"), 0);
  Journal again;
  ASSERT_EQ(again.open(dir.path, 4096, error), 0);
  EXPECT_EQ(rooms_read(again), (std::vector<std::string>{"a", "b"}));
}

TEST(Journal, ARecycledSegmentsOldEntriesAreNeverReadAsNewOnes) {
  TempDir dir;
  std::string error;
  Journal j;
  ASSERT_EQ(j.open(dir.path, 4096, error), 0) << error;
  uint64_t first = 0, second = 0, third = 0;
  ASSERT_EQ(j.start_segment(first, true), 0);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(append_entry(j, "old" + std::to_string(i)), 0);
  ASSERT_EQ(j.start_segment(second, false), 0);  // nothing prepared: a growing one
  ASSERT_EQ(j.retire_through(first), 0);         // full length: kept as the next segment
  EXPECT_FALSE(fs::exists(dir.path + "/journal/j_0000000000000001.wal"));
  ASSERT_EQ(j.start_segment(third, false), 0);   // the recycled file, renamed
  EXPECT_EQ(third, 3u);
  EXPECT_GE(fs::file_size(dir.path + "/journal/j_0000000000000003.wal"), 4096u) << "the old file, not a new one";
  ASSERT_EQ(append_entry(j, "new"), 0);
  EXPECT_EQ(j.segments(), 2u);
  Journal again;
  ASSERT_EQ(again.open(dir.path, 4096, error), 0);
  EXPECT_EQ(rooms_read(again), (std::vector<std::string>{"new"})) << "old entries past the new one are not read";
}

TEST(Journal, NumbersKeepRisingAcrossAReopenSoARecycledFileNeverPasses) {
  TempDir dir;
  std::string error;
  uint64_t n = 0;
  {
    Journal j;
    ASSERT_EQ(j.open(dir.path, 4096, error), 0) << error;
    ASSERT_EQ(j.start_segment(n, true), 0);
    ASSERT_EQ(append_entry(j, "a"), 0);
  }
  Journal j;
  ASSERT_EQ(j.open(dir.path, 4096, error), 0) << error;
  EXPECT_EQ(rooms_read(j), (std::vector<std::string>{"a"}));
  ASSERT_EQ(j.retire_through(UINT64_MAX), 0);  // the old segment becomes the next one
  uint64_t next = 0;
  ASSERT_EQ(j.start_segment(next, true), 0);
  EXPECT_GT(next, n);
  Journal again;
  ASSERT_EQ(again.open(dir.path, 4096, error), 0);
  EXPECT_TRUE(rooms_read(again).empty()) << "the recycled file's entry carries the old number";
}

}  // namespace
}  // namespace roomcast::disk
