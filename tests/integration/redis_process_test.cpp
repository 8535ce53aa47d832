// tests/integration/redis_process_test.cpp: the RedisProcess test utility itself: a real
// redis-server on a free port, commands over RESP, kill/stop/restart with and without AOF.
#include "redis_process.h"

#include <signal.h>

#include <gtest/gtest.h>

namespace it {
namespace {

TEST(RedisProcessTest, StartsOnAFreeLoopbackPortAndAnswersCommandsAsText) {
  std::string err;
  auto redis = RedisProcess::start(&err);
  ASSERT_TRUE(redis) << err;
  EXPECT_NE(redis->port(), 0);
  EXPECT_EQ(redis->url(), "redis://127.0.0.1:" + std::to_string(redis->port()));
  EXPECT_TRUE(redis->running());
  bool ok = false;
  EXPECT_EQ(redis->command({"SET", "k", "v 1\r\n"}, &ok), "OK");
  EXPECT_TRUE(ok);
  EXPECT_EQ(redis->command({"GET", "k"}), "v 1\r\n");
  EXPECT_EQ(redis->command({"GET", "missing"}), "(nil)");
  EXPECT_EQ(redis->command({"INCRBY", "n", "-7"}), "-7");
  EXPECT_EQ(redis->command({"RPUSH", "l", "a", "b", "c"}), "3");
  EXPECT_EQ(redis->command({"LRANGE", "l", "0", "-1"}), "a\nb\nc");
  EXPECT_EQ(redis->command({"LRANGE", "empty", "0", "-1"}), "");
  // Nested arrays are flattened.
  EXPECT_EQ(redis->command({"EVAL", "return {1, {'x', 'y'}, 'z'}", "0"}), "1\nx\ny\nz");
  std::string e = redis->command({"NOSUCHCOMMAND"}, &ok);
  EXPECT_TRUE(ok);
  EXPECT_EQ(e.rfind("ERR:ERR", 0), 0u) << e;
  // No snapshots configured.
  EXPECT_EQ(redis->command({"CONFIG", "GET", "save"}), "save\n");
}

TEST(RedisProcessTest, TwoInstancesGetDifferentPorts) {
  std::string err;
  auto a = RedisProcess::start(&err);
  ASSERT_TRUE(a) << err;
  auto b = RedisProcess::start(&err);
  ASSERT_TRUE(b) << err;
  EXPECT_NE(a->port(), b->port());
  a->command({"SET", "k", "a"});
  EXPECT_EQ(b->command({"GET", "k"}), "(nil)");
}

TEST(RedisProcessTest, KillHardMakesItUnreachableAndRestartWithoutAofLosesTheData) {
  std::string err;
  auto redis = RedisProcess::start(&err, /*appendonly=*/false);
  ASSERT_TRUE(redis) << err;
  uint16_t port = redis->port();
  pid_t first = redis->pid();
  ASSERT_EQ(redis->command({"SET", "k", "v"}), "OK");
  redis->kill_hard();
  EXPECT_FALSE(redis->running());
  bool ok = true;
  EXPECT_EQ(redis->command({"PING"}, &ok), "");
  EXPECT_FALSE(ok);
  ASSERT_TRUE(redis->restart(&err)) << err;
  EXPECT_TRUE(redis->running());
  EXPECT_EQ(redis->port(), port);
  EXPECT_NE(redis->pid(), first);
  EXPECT_EQ(redis->command({"GET", "k"}, &ok), "(nil)");
  EXPECT_TRUE(ok);
}

TEST(RedisProcessTest, WithAppendonlyTheDataSurvivesKillHardAndStop) {
  std::string err;
  auto redis = RedisProcess::start(&err, /*appendonly=*/true);
  ASSERT_TRUE(redis) << err;
  ASSERT_EQ(redis->command({"SET", "k", "v"}), "OK");
  // The AOF is written before the reply leaves, so even SIGKILL keeps it (page cache).
  redis->kill_hard();
  ASSERT_TRUE(redis->restart(&err)) << err;
  EXPECT_EQ(redis->command({"GET", "k"}), "v");
  ASSERT_EQ(redis->command({"SET", "k2", "w"}), "OK");
  redis->stop();
  EXPECT_FALSE(redis->running());
  ASSERT_TRUE(redis->restart(&err)) << err;
  EXPECT_EQ(redis->command({"GET", "k"}), "v");
  EXPECT_EQ(redis->command({"GET", "k2"}), "w");
}

TEST(RedisProcessTest, DestructorKillsTheChild) {
  std::string err;
  pid_t pid = -1;
  {
    auto redis = RedisProcess::start(&err);
    ASSERT_TRUE(redis) << err;
    pid = redis->pid();
    ASSERT_EQ(::kill(pid, 0), 0);
  }
  // Reaped by the destructor: the pid no longer names our child.
  EXPECT_NE(::kill(pid, 0), 0);
}

}  // namespace
}  // namespace it
