// tests/integration/session_ids_test.cpp: session ids never repeat across restarts
// (docs/protocol.md): a client holding an id from before a restart (a `follow` it re-sends)
// must not name someone else with it.
#include <set>

#include "test_util.h"

namespace it {
namespace {

class SessionIdsTest : public RoomcastTest {};

TEST_F(SessionIdsTest, TheFirstJoinersAfterARestartGetIdsNeverSeenBefore) {
  std::set<std::string> seen;
  for (int run = 0; run < 3; ++run) {
    ASSERT_NO_FATAL_FAILURE(StartServer({"--threads", "2"}));
    std::vector<Member> members;
    for (int i = 0; i < 4; ++i) {
      // Two rooms, so both threads make ids.
      members.push_back(Join(i % 2 ? "r1" : "r2", "u" + std::to_string(i)));
      ASSERT_TRUE(members.back().ws);
      EXPECT_TRUE(seen.insert(members.back().session).second)
          << "run " << run << ": " << members.back().session << " was given before";
    }
    members.clear();
    ExitStatus st = server_->stop(SIGTERM);
    EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
    server_.reset();
  }
  EXPECT_EQ(seen.size(), 12u);
}

}  // namespace
}  // namespace it
