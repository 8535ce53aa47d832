// tests/core/redis_link_test.cpp: RedisLink against a real redis-server (started per test
// by the integration tests' RedisProcess): replies to the right worker, scripts and the
// NOSCRIPT fallback, pub/sub, order, failures within the deadline, reconnects, leases.
#include "core/cluster/redis_link.h"
#include "core/cluster/redis_sentinel.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>

#include <chrono>
#include <deque>
#include <functional>
#include <thread>

#include "tests/integration/redis_process.h"

namespace roomcast {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Kind = RedisEvent::Kind;

TEST(RedisLinkUrlTest, ParsesHostPortAndDb) {
  RedisOptions o;
  std::string err;
  ASSERT_TRUE(RedisLink::parse_url("redis://127.0.0.1:6380/2", &o, &err)) << err;
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 2);
  ASSERT_TRUE(RedisLink::parse_url("redis://redis-1.internal", &o, &err)) << err;
  EXPECT_EQ(o.host, "redis-1.internal");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.db, 0);
  ASSERT_TRUE(RedisLink::parse_url("redis://localhost:1/15", &o, &err)) << err;
  EXPECT_EQ(o.port, 1);
  EXPECT_EQ(o.db, 15);
}

TEST(RedisLinkUrlTest, RejectsEverythingElseWithAReasonAndLeavesTheOptionsAlone) {
  for (const char* bad : {"", "http://h:1", "redis:/h", "redis://", "redis://:6379", "redis://user:pw@",
                          "redis://:pw@:1", "redis://h:0", "redis://h:65536", "redis://h:", "redis://h:12ab",
                          "redis://h/", "redis://h/16", "redis://h/x", "redis://h:1/2/3", "redis://[::1]:6379",
                          "redis://1.2.3.999", "redis://h?db=1", "redis://h h", "redis://u:@h", "redis://u:p%4@h",
                          "redis://u:p%zz@h", "redis://u:p%0a@h"}) {
    RedisOptions o;
    o.host = "unchanged";
    std::string err;
    EXPECT_FALSE(RedisLink::parse_url(bad, &o, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
    EXPECT_EQ(o.host, "unchanged") << bad;
  }
  std::string err;
  RedisOptions o;
  EXPECT_FALSE(RedisLink::parse_url("redis://u:s3cret@h:0", &o, &err));
  EXPECT_EQ(err.find("s3cret"), std::string::npos) << "a refused URL's error shows the password: " << err;
  EXPECT_NE(err.find("redis://u:***@h:0"), std::string::npos) << err;
}

TEST(RedisLinkUrlTest, CredentialsGiveAnAclUserOrAPasswordAlonePercentDecoded) {
  RedisOptions o;
  std::string err;
  ASSERT_TRUE(RedisLink::parse_url("redis://app:pw@10.0.0.5:6380/1", &o, &err)) << err;
  EXPECT_EQ(o.user, "app");
  EXPECT_EQ(o.password, "pw");
  EXPECT_EQ(o.host, "10.0.0.5");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 1);
  ASSERT_TRUE(RedisLink::parse_url("redis://:only@h", &o, &err)) << err;
  EXPECT_EQ(o.user, "");
  EXPECT_EQ(o.password, "only");
  // '@', ':' and '/' in a password, percent-encoded or not (the last '@' ends it).
  ASSERT_TRUE(RedisLink::parse_url("redis://u%40x:p%3A%2F%40w@h:1", &o, &err)) << err;
  EXPECT_EQ(o.user, "u@x");
  EXPECT_EQ(o.password, "p:/@w");
  ASSERT_TRUE(RedisLink::parse_url("redis://u:a@b/c@h:1/2", &o, &err)) << err;
  EXPECT_EQ(o.password, "a@b/c");
  EXPECT_EQ(o.host, "h");
  EXPECT_EQ(o.db, 2);
  ASSERT_TRUE(RedisLink::parse_url("redis://app@h", &o, &err)) << err;  // the password from a file
  EXPECT_EQ(o.user, "app");
  EXPECT_EQ(o.password, "");
}

TEST(RedisLinkUrlTest, RedissAsksForTlsAndRedisDoesNot) {
  RedisOptions o;
  std::string err;
  ASSERT_TRUE(RedisLink::parse_url("rediss://app:pw@redis.example.com:6380/0", &o, &err)) << err;
  EXPECT_TRUE(o.tls);
  EXPECT_EQ(o.host, "redis.example.com");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.user, "app");
  ASSERT_TRUE(RedisLink::parse_url("redis://h", &o, &err)) << err;
  EXPECT_FALSE(o.tls);
  EXPECT_FALSE(RedisLink::parse_url("redisss://h", &o, &err));
}

TEST(RedisLinkUrlTest, MaskUrlHidesThePasswordAndNothingElse) {
  EXPECT_EQ(RedisLink::mask_url("redis://app:pw@h:1/2"), "redis://app:***@h:1/2");
  EXPECT_EQ(RedisLink::mask_url("redis://:pw@h"), "redis://:***@h");
  EXPECT_EQ(RedisLink::mask_url("redis://u:a@b/c@h:1/2"), "redis://u:***@h:1/2");
  EXPECT_EQ(RedisLink::mask_url("rediss://u:p@h"), "rediss://u:***@h");
  EXPECT_EQ(RedisLink::mask_url("redis://app@h"), "redis://app@h");
  EXPECT_EQ(RedisLink::mask_url("redis://h:1"), "redis://h:1");
  EXPECT_EQ(RedisLink::mask_url("u:p@h"), "u:***@h");  // not even a URL
  EXPECT_EQ(RedisLink::mask_url("http:/u:p@h"), "http:***@h");
}

class RedisLinkTest : public ::testing::Test {
 protected:
  void TearDown() override {
    link_.reset();  // stop() before the eventfds go
    for (int fd : efds_) ::close(fd);
  }

  void StartRedis(bool appendonly = false) {
    std::string err;
    redis_ = it::RedisProcess::start(&err, appendonly);
    ASSERT_TRUE(redis_) << err;
  }
  void StartRedis(const it::RedisProcessOptions& options) {
    std::string err;
    redis_ = it::RedisProcess::start(&err, options);
    ASSERT_TRUE(redis_) << err;
  }

  RedisOptions Options(const std::string& path = "") {
    RedisOptions o;
    std::string err;
    EXPECT_TRUE(RedisLink::parse_url(redis_->url() + path, &o, &err)) << err;
    o.instance_id = "inst-a";
    o.call_timeout_ms = 500;
    o.renew_ms = 100;
    o.lease_ms = 1000;
    return o;
  }

  void StartLink(RedisOptions o, unsigned workers = 2, bool wait_up = true) {
    link_ = std::make_unique<RedisLink>(std::move(o), workers);
    backlog_.resize(workers);
    for (unsigned w = 0; w < workers; ++w) {
      int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      ASSERT_GE(fd, 0);
      efds_.push_back(fd);
      link_->attach(w, fd);
    }
    link_->start();
    if (wait_up) {
      ASSERT_TRUE(WaitUp(true, milliseconds(5000)));
    }
  }

  bool WaitUp(bool up, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (link_->up() != up) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return true;
  }

  // Takes whatever is queued for `w` into its backlog.
  void Drain(unsigned w) {
    std::vector<RedisEvent> got;
    link_->take(w, &got);
    for (auto& e : got) backlog_[w].push_back(std::move(e));
  }

  // The first event of `w` matching `pred` (removed from the backlog; the others stay),
  // waiting on w's eventfd at most `timeout`. False on timeout.
  bool Next(unsigned w, const std::function<bool(const RedisEvent&)>& pred, RedisEvent* out,
            milliseconds timeout = milliseconds(3000)) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      Drain(w);
      auto& q = backlog_[w];
      for (auto it = q.begin(); it != q.end(); ++it) {
        if (!pred(*it)) continue;
        if (out) *out = std::move(*it);
        q.erase(it);
        return true;
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd pf{efds_[w], POLLIN, 0};
      if (::poll(&pf, 1, static_cast<int>(left)) > 0) {
        uint64_t n;
        ssize_t r = ::read(efds_[w], &n, sizeof n);
        (void)r;
      }
    }
  }
  bool NextReply(unsigned w, uint64_t cookie, RedisEvent* out, milliseconds timeout = milliseconds(3000)) {
    return Next(w, [cookie](const RedisEvent& e) { return e.kind == Kind::Reply && e.cookie == cookie; }, out, timeout);
  }
  bool NextOf(unsigned w, Kind kind, const std::string& channel, RedisEvent* out,
              milliseconds timeout = milliseconds(3000)) {
    return Next(w, [&](const RedisEvent& e) { return e.kind == kind && e.channel == channel; }, out, timeout);
  }
  size_t Count(unsigned w, Kind kind) {
    Drain(w);
    size_t n = 0;
    for (auto& e : backlog_[w]) n += e.kind == kind;
    return n;
  }

  void Submit(unsigned w, uint64_t cookie, std::vector<std::string> argv, int script = -1, unsigned keys = 0) {
    std::vector<RedisCall> calls(1);
    calls[0].cookie = cookie;
    calls[0].script = script;
    calls[0].keys = keys;
    calls[0].argv = std::move(argv);
    link_->submit(w, calls);
    EXPECT_TRUE(calls.empty());
  }
  // Submits and waits for the reply; ok=true expected.
  RedisValue Call(unsigned w, std::vector<std::string> argv, int script = -1, unsigned keys = 0) {
    uint64_t cookie = ++cookie_;
    Submit(w, cookie, std::move(argv), script, keys);
    RedisEvent e;
    EXPECT_TRUE(NextReply(w, cookie, &e)) << "no reply for cookie " << cookie;
    EXPECT_TRUE(e.ok);
    return e.value;
  }

  std::unique_ptr<it::RedisProcess> redis_;
  std::unique_ptr<RedisLink> link_;
  std::vector<int> efds_;
  std::vector<std::deque<RedisEvent>> backlog_;
  uint64_t cookie_ = 1000;
};

TEST_F(RedisLinkTest, SetGetRoundTripRepliesGoToTheWorkerThatAskedWithRedisValues) {
  StartRedis();
  StartLink(Options());
  Submit(0, 1, {"SET", "k", std::string("v\0x", 3)});
  RedisEvent e;
  ASSERT_TRUE(NextReply(0, 1, &e));
  EXPECT_TRUE(e.ok);
  EXPECT_EQ(e.value.kind, RedisValue::Kind::Status);
  EXPECT_EQ(e.value.str, "OK");
  Submit(1, 2, {"GET", "k"});
  ASSERT_TRUE(NextReply(1, 2, &e));
  EXPECT_TRUE(e.ok);
  EXPECT_EQ(e.value.kind, RedisValue::Kind::String);
  EXPECT_EQ(e.value.str, std::string("v\0x", 3));
  // Nothing for worker 0 about cookie 2, nothing for worker 1 about cookie 1.
  EXPECT_FALSE(NextReply(0, 2, nullptr, milliseconds(100)));
  EXPECT_FALSE(NextReply(1, 1, nullptr, milliseconds(0)));

  RedisValue nil = Call(0, {"GET", "missing"});
  EXPECT_EQ(nil.kind, RedisValue::Kind::Nil);
  RedisValue n = Call(0, {"INCRBY", "n", "5"});
  EXPECT_EQ(n.kind, RedisValue::Kind::Integer);
  EXPECT_EQ(n.integer, 5);
  // An error reply is Redis's answer: ok=true, the value says error.
  RedisValue err = Call(1, {"INCR", "k"});
  EXPECT_TRUE(err.is_error());
  EXPECT_EQ(err.str.rfind("ERR", 0), 0u) << err.str;
  RedisValue arr = Call(1, {"MGET", "k", "missing"});
  ASSERT_EQ(arr.kind, RedisValue::Kind::Array);
  ASSERT_EQ(arr.elements.size(), 2u);
  EXPECT_EQ(arr.elements[1].kind, RedisValue::Kind::Nil);
  // A cookie-0 call gets no reply but still runs, in order.
  Submit(0, 0, {"SET", "quiet", "1"});
  EXPECT_EQ(Call(0, {"GET", "quiet"}).str, "1");
  EXPECT_EQ(link_->stats().errors_reply.load(), 1u);
  EXPECT_GE(link_->stats().calls.load(), 7u);
}

TEST_F(RedisLinkTest, InvalidCallsAreAnsweredWithAnErrorInTheirTurn) {
  StartRedis();
  RedisOptions o = Options();
  o.scripts = {"return 1"};
  StartLink(o);
  Submit(0, 1, {"SET", "a", "1"});
  Submit(0, 2, {});                      // empty command
  Submit(0, 3, {"k"}, /*script=*/5, 1);  // no such script
  Submit(0, 4, {"k"}, /*script=*/0, 2);  // more keys than arguments
  Submit(0, 5, {"GET", "a"});
  std::vector<uint64_t> order;
  for (int i = 0; i < 5; ++i) {
    RedisEvent e;
    ASSERT_TRUE(Next(0, [](const RedisEvent& x) { return x.kind == Kind::Reply; }, &e));
    EXPECT_TRUE(e.ok);
    if (e.cookie >= 2 && e.cookie <= 4) {
      EXPECT_TRUE(e.value.is_error()) << e.cookie;
    }
    order.push_back(e.cookie);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(link_->up());
}

TEST_F(RedisLinkTest, ScriptCallsUseTheLoadedShaAndFallBackToEvalAfterScriptFlush) {
  StartRedis();
  RedisOptions o = Options();
  o.renew_ms = 0;  // no lease rounds: the command stats below count only these calls
  o.scripts = {"return {KEYS[1], ARGV[1]}", "return redis.call('INCR', KEYS[1])"};
  StartLink(o);
  RedisValue v = Call(0, {"key", "arg"}, /*script=*/0, /*keys=*/1);
  ASSERT_EQ(v.kind, RedisValue::Kind::Array);
  ASSERT_EQ(v.elements.size(), 2u);
  EXPECT_EQ(v.elements[0].str, "key");
  EXPECT_EQ(v.elements[1].str, "arg");
  std::string stats = redis_->command({"INFO", "commandstats"});
  EXPECT_NE(stats.find("cmdstat_evalsha:calls=1,"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("cmdstat_eval:"), std::string::npos) << stats;

  ASSERT_EQ(redis_->command({"SCRIPT", "FLUSH"}), "OK");
  v = Call(1, {"counter"}, /*script=*/1, /*keys=*/1);
  EXPECT_EQ(v.kind, RedisValue::Kind::Integer);
  EXPECT_EQ(v.integer, 1);
  stats = redis_->command({"INFO", "commandstats"});
  EXPECT_NE(stats.find("cmdstat_eval:calls=1,"), std::string::npos) << stats;
  // EVAL put the script back in the cache: the next call is an EVALSHA again.
  EXPECT_EQ(Call(1, {"counter"}, 1, 1).integer, 2);
  stats = redis_->command({"INFO", "commandstats"});
  EXPECT_NE(stats.find("cmdstat_eval:calls=1,"), std::string::npos) << stats;
  EXPECT_EQ(link_->stats().errors_reply.load(), 0u);  // NOSCRIPT was not the answer
}

TEST_F(RedisLinkTest, SubscribeGivesSubscribedFirstThenEveryPublishedMessage) {
  StartRedis();
  StartLink(Options());
  link_->subscribe(0, "rc:{room}");
  RedisEvent e;
  ASSERT_TRUE(NextOf(0, Kind::Subscribed, "rc:{room}", &e));
  // Published through the command connection: one subscriber on this Redis.
  RedisValue receivers = Call(1, {"PUBLISH", "rc:{room}", "hello"});
  EXPECT_EQ(receivers.integer, 1);
  ASSERT_TRUE(NextOf(0, Kind::Message, "rc:{room}", &e));
  EXPECT_EQ(e.payload, "hello");
  // A second worker on the same channel: Subscribed at once (the subscription is active).
  link_->subscribe(1, "rc:{room}");
  ASSERT_TRUE(NextOf(1, Kind::Subscribed, "rc:{room}", &e));
  std::string binary("a\0b\r\n", 5);
  EXPECT_EQ(redis_->command({"PUBLISH", "rc:{room}", binary}), "1");
  ASSERT_TRUE(NextOf(0, Kind::Message, "rc:{room}", &e));
  EXPECT_EQ(e.payload, binary);
  ASSERT_TRUE(NextOf(1, Kind::Message, "rc:{room}", &e));
  EXPECT_EQ(e.payload, binary);
  // Worker 0 leaves: only worker 1 still hears the channel.
  link_->unsubscribe(0, "rc:{room}");
  link_->subscribe(0, "rc:other");
  ASSERT_TRUE(NextOf(0, Kind::Subscribed, "rc:other", &e));
  EXPECT_EQ(redis_->command({"PUBLISH", "rc:{room}", "second"}), "1");
  ASSERT_TRUE(NextOf(1, Kind::Message, "rc:{room}", &e));
  EXPECT_EQ(e.payload, "second");
  EXPECT_FALSE(NextOf(0, Kind::Message, "rc:{room}", &e, milliseconds(200)));
  // The last worker leaves: Redis drops the channel.
  link_->unsubscribe(1, "rc:{room}");
  auto deadline = Clock::now() + milliseconds(3000);
  while (redis_->command({"PUBSUB", "NUMSUB", "rc:{room}"}) != "rc:{room}\n0" && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(redis_->command({"PUBSUB", "NUMSUB", "rc:{room}"}), "rc:{room}\n0");
  EXPECT_GE(link_->stats().messages.load(), 3u);
}

TEST_F(RedisLinkTest, ThousandPipelinedIncrRepliesArriveInSubmissionOrderPerWorker) {
  StartRedis();
  StartLink(Options());
  for (int batch = 0; batch < 100; ++batch) {
    for (unsigned w = 0; w < 2; ++w) {
      std::vector<RedisCall> calls;
      for (int i = 0; i < 10; ++i) {
        RedisCall c;
        c.cookie = uint64_t(batch * 10 + i + 1);
        c.argv = {"INCR", "n" + std::to_string(w)};
        calls.push_back(std::move(c));
      }
      link_->submit(w, calls);
    }
  }
  for (unsigned w = 0; w < 2; ++w) {
    for (uint64_t i = 1; i <= 1000; ++i) {
      RedisEvent e;
      ASSERT_TRUE(Next(w, [](const RedisEvent& x) { return x.kind == Kind::Reply; }, &e)) << "worker " << w << " #" << i;
      ASSERT_EQ(e.cookie, i) << "worker " << w;
      ASSERT_TRUE(e.ok);
      ASSERT_EQ(e.value.integer, static_cast<long long>(i)) << "worker " << w;
    }
  }
}

TEST_F(RedisLinkTest, MoreThanMaxPendingCallsFailAtOnce) {
  StartRedis();
  RedisOptions o = Options();
  o.max_pending = 2;
  StartLink(o);
  std::vector<RedisCall> calls(5);
  for (size_t i = 0; i < calls.size(); ++i) {
    calls[i].cookie = i + 1;
    calls[i].argv = {"PING"};
  }
  link_->submit(0, calls);
  // The refused three were answered inside submit().
  Drain(0);
  std::vector<uint64_t> refused;
  for (auto& e : backlog_[0])
    if (e.kind == Kind::Reply && !e.ok) refused.push_back(e.cookie);
  EXPECT_EQ(refused, (std::vector<uint64_t>{3, 4, 5}));
  RedisEvent e;
  ASSERT_TRUE(NextReply(0, 1, &e));
  EXPECT_TRUE(e.ok);
  ASSERT_TRUE(NextReply(0, 2, &e));
  EXPECT_TRUE(e.ok);
  EXPECT_EQ(link_->stats().errors_unavailable.load(), 3u);
}

TEST_F(RedisLinkTest, RedisKilledFailsPendingCallsAndNewCallsFailAtOnceWhileDown) {
  StartRedis();
  RedisOptions o = Options();
  o.call_timeout_ms = 1000;
  StartLink(o);
  Submit(0, 1, {"BLPOP", "never", "5"});  // still pending when Redis dies
  Submit(0, 0, {"BLPOP", "never", "5"});
  std::this_thread::sleep_for(milliseconds(100));
  auto t0 = Clock::now();
  redis_->kill_hard();
  RedisEvent e;
  ASSERT_TRUE(NextReply(0, 1, &e, milliseconds(1500)));
  EXPECT_FALSE(e.ok);
  EXPECT_LT(Clock::now() - t0, milliseconds(o.call_timeout_ms + 300));
  ASSERT_TRUE(WaitUp(false, milliseconds(1000)));
  uint64_t unavailable = link_->stats().errors_unavailable.load();
  EXPECT_GE(unavailable, 2u);
  // Down: a new call is refused inside submit(), no waiting at all.
  Submit(1, 7, {"GET", "k"});
  ASSERT_TRUE(NextReply(1, 7, &e, milliseconds(0)));
  EXPECT_FALSE(e.ok);
  Submit(1, 0, {"GET", "k"});
  EXPECT_EQ(link_->stats().errors_unavailable.load(), unavailable + 2);
  EXPECT_EQ(link_->stats().errors_timeout.load(), 0u);
}

TEST_F(RedisLinkTest, CallPastItsDeadlineFailsEveryPendingCallAndTheLinkReconnects) {
  StartRedis();
  RedisOptions o = Options();
  o.call_timeout_ms = 300;
  StartLink(o);
  auto t0 = Clock::now();
  Submit(0, 1, {"BLPOP", "never", "3"});  // Redis answers only after 3 s
  Submit(1, 2, {"PING"});                 // behind it in the pipeline
  RedisEvent e;
  ASSERT_TRUE(NextReply(0, 1, &e, milliseconds(1000)));
  EXPECT_FALSE(e.ok);
  EXPECT_LT(Clock::now() - t0, milliseconds(o.call_timeout_ms + 300));
  ASSERT_TRUE(NextReply(1, 2, &e, milliseconds(1000)));
  EXPECT_FALSE(e.ok);
  EXPECT_GE(link_->stats().errors_timeout.load(), 1u);
  // Back after the backoff; the late BLPOP reply cannot be mistaken for a new call's.
  ASSERT_TRUE(WaitUp(true, milliseconds(3000)));
  EXPECT_EQ(Call(0, {"SET", "after", "1"}).str, "OK");
  EXPECT_EQ(Call(0, {"GET", "after"}).str, "1");
  EXPECT_EQ(link_->stats().reconnects.load(), 1u);
}

TEST_F(RedisLinkTest, RedisRestartedComesBackUpWithScriptsLoadedAndSubscribedAgain) {
  StartRedis();
  RedisOptions o = Options();
  o.scripts = {"return redis.call('INCR', KEYS[1])"};
  StartLink(o);
  link_->subscribe(0, "ch");
  RedisEvent e;
  ASSERT_TRUE(NextOf(0, Kind::Subscribed, "ch", &e));
  redis_->kill_hard();
  ASSERT_TRUE(WaitUp(false, milliseconds(2000)));
  std::string err;
  ASSERT_TRUE(redis_->restart(&err)) << err;
  ASSERT_TRUE(WaitUp(true, milliseconds(5000)));
  EXPECT_GE(link_->stats().reconnects.load(), 1u);
  ASSERT_TRUE(NextOf(0, Kind::Subscribed, "ch", &e, milliseconds(3000)));
  EXPECT_EQ(Call(0, {"c"}, 0, 1).integer, 1);
  // Loaded on reconnect: every script call (ours and the lease rounds) was an EVALSHA.
  std::string stats = redis_->command({"INFO", "commandstats"});
  EXPECT_EQ(stats.find("cmdstat_eval:"), std::string::npos) << stats;
  EXPECT_NE(stats.find("cmdstat_evalsha:"), std::string::npos) << stats;
  EXPECT_EQ(redis_->command({"PUBLISH", "ch", "back"}), "1");
  ASSERT_TRUE(NextOf(0, Kind::Message, "ch", &e));
  EXPECT_EQ(e.payload, "back");
}

TEST_F(RedisLinkTest, SubscriberKilledByClientKillIsResubscribedWithinOneSecond) {
  StartRedis();
  StartLink(Options());
  link_->subscribe(0, "a");
  link_->subscribe(1, "b");
  RedisEvent e;
  ASSERT_TRUE(NextOf(0, Kind::Subscribed, "a", &e));
  ASSERT_TRUE(NextOf(1, Kind::Subscribed, "b", &e));
  EXPECT_EQ(redis_->command({"CLIENT", "KILL", "TYPE", "pubsub"}), "1");
  ASSERT_TRUE(NextOf(0, Kind::Subscribed, "a", &e, milliseconds(1000)));
  ASSERT_TRUE(NextOf(1, Kind::Subscribed, "b", &e, milliseconds(1000)));
  EXPECT_EQ(redis_->command({"PUBLISH", "a", "m1"}), "1");
  ASSERT_TRUE(NextOf(0, Kind::Message, "a", &e));
  EXPECT_EQ(e.payload, "m1");
  // The command connection was never touched.
  EXPECT_TRUE(link_->up());
  EXPECT_EQ(link_->stats().reconnects.load(), 0u);
}

TEST_F(RedisLinkTest, LeaseRoundReportsThisInstanceAliveAndALapsedOneDead) {
  StartRedis();
  std::string t = redis_->command({"TIME"});
  long long now_ms = std::stoll(t.substr(0, t.find('\n'))) * 1000;
  ASSERT_EQ(redis_->command({"ZADD", "rc:instances", std::to_string(now_ms - 10000), "inst-gone"}), "1");
  StartLink(Options());
  RedisEvent e;
  for (unsigned w = 0; w < 2; ++w) {
    ASSERT_TRUE(Next(w, [](const RedisEvent& x) { return x.kind == Kind::Instances; }, &e)) << w;
    ASSERT_EQ(e.alive.size(), 1u);
    EXPECT_EQ(e.alive[0].id, "inst-a");
    EXPECT_LE(e.alive[0].last_renewal_ms, e.redis_now_ms);
    EXPECT_GT(e.alive[0].last_renewal_ms, e.redis_now_ms - 1000);
    ASSERT_EQ(e.dead.size(), 1u);
    EXPECT_EQ(e.dead[0].id, "inst-gone");
    EXPECT_EQ(e.dead[0].last_renewal_ms, now_ms - 10000);
  }
  // Renewed every renew_ms (100 ms here).
  ASSERT_TRUE(Next(0, [](const RedisEvent& x) { return x.kind == Kind::Instances; }, &e));
  ASSERT_TRUE(Next(0, [](const RedisEvent& x) { return x.kind == Kind::Instances; }, &e));
  EXPECT_NE(redis_->command({"ZSCORE", "rc:instances", "inst-a"}), "(nil)");
}

TEST_F(RedisLinkTest, StopWithdrawsTheLeaseAndFlushesWhatWasSubmitted) {
  StartRedis();
  StartLink(Options());
  RedisEvent e;
  ASSERT_TRUE(Next(0, [](const RedisEvent& x) { return x.kind == Kind::Instances; }, &e));
  std::vector<RedisCall> calls(100);
  for (auto& c : calls) c.argv = {"INCR", "flushed"};
  link_->submit(0, calls);
  link_->stop();
  EXPECT_FALSE(link_->up());
  EXPECT_EQ(redis_->command({"ZSCORE", "rc:instances", "inst-a"}), "(nil)");
  EXPECT_EQ(redis_->command({"GET", "flushed"}), "100");
  // Stopped: calls fail at once.
  Submit(0, 9, {"PING"});
  ASSERT_TRUE(NextReply(0, 9, &e, milliseconds(0)));
  EXPECT_FALSE(e.ok);
}

TEST_F(RedisLinkTest, NonZeroDbIsSelectedOnBothConnections) {
  StartRedis();
  StartLink(Options("/3"));
  EXPECT_EQ(Call(0, {"SET", "k", "in3"}).str, "OK");
  EXPECT_EQ(redis_->command({"GET", "k"}), "(nil)");  // db 0
  EXPECT_EQ(redis_->command({"EVAL", "redis.call('SELECT', 3) return redis.call('GET', KEYS[1])", "1", "k"}), "in3");
  link_->subscribe(0, "c3");
  RedisEvent e;
  ASSERT_TRUE(NextOf(0, Kind::Subscribed, "c3", &e));
  EXPECT_EQ(redis_->command({"PUBLISH", "c3", "x"}), "1");
  ASSERT_TRUE(NextOf(0, Kind::Message, "c3", &e));
}

TEST_F(RedisLinkTest, NoRedisMeansDownAndEveryCallFailsAtOnce) {
  StartRedis();
  RedisOptions o = Options();
  redis_->kill_hard();
  StartLink(o, 1, /*wait_up=*/false);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_FALSE(link_->up());
  Submit(0, 1, {"PING"});
  RedisEvent e;
  ASSERT_TRUE(NextReply(0, 1, &e, milliseconds(0)));
  EXPECT_FALSE(e.ok);
  // Redis appears later: the link finds it within the backoff (at most 2 s).
  std::string err;
  ASSERT_TRUE(redis_->restart(&err)) << err;
  ASSERT_TRUE(WaitUp(true, milliseconds(4000)));
  EXPECT_EQ(Call(0, {"PING"}).str, "PONG");
}

TEST_F(RedisLinkTest, MetricsRenderEveryFamilyWithHelpAndType) {
  StartRedis();
  StartLink(Options());
  Call(0, {"PING"});
  std::string out;
  link_->render_metrics(&out);
  for (const char* family : {"roomcast_redis_up", "roomcast_redis_reconnects_total", "roomcast_redis_errors_total",
                             "roomcast_redis_calls_total", "roomcast_redis_latency_seconds",
                             "roomcast_redis_messages_total"}) {
    EXPECT_NE(out.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    EXPECT_NE(out.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  EXPECT_NE(out.find("roomcast_redis_up 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("roomcast_redis_errors_total{kind=\"timeout\"} 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("roomcast_redis_latency_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("roomcast_redis_latency_seconds_count 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("roomcast_redis_latency_seconds_sum "), std::string::npos) << out;
}

}  // namespace
}  // namespace roomcast

namespace roomcast {
namespace {

// ---- credentials (issue 27) ----

it::RedisProcessOptions PasswordOnly(const std::string& pw) {
  it::RedisProcessOptions o;
  o.extra_args = {"--requirepass", pw};
  o.password = pw;
  return o;
}

TEST_F(RedisLinkTest, APasswordAloneIsSentAsAuthFirstOnBothConnections) {
  StartRedis(PasswordOnly("pw-1"));
  RedisOptions o = Options("/2");
  o.password = "pw-1";
  StartLink(o);
  EXPECT_EQ(Call(0, {"SET", "k", "v"}).str, "OK");
  EXPECT_EQ(redis_->command({"EVAL", "redis.call('SELECT', 2) return redis.call('GET', KEYS[1])", "1", "k"}), "v");
  link_->subscribe(0, "ch");
  RedisEvent e;
  ASSERT_TRUE(NextOf(0, Kind::Subscribed, "ch", &e));
  EXPECT_EQ(redis_->command({"PUBLISH", "ch", "x"}), "1");
  ASSERT_TRUE(NextOf(0, Kind::Message, "ch", &e));
  EXPECT_EQ(e.payload, "x");
}

TEST_F(RedisLinkTest, AnAclUserAuthenticatesWithUserAndPasswordAndItsScriptsRun) {
  it::RedisProcessOptions ro;
  ro.extra_args = {"--user", "default", "off", "--user", "app", "on", ">app-pw", "~*", "&*", "+@all"};
  ro.user = "app";
  ro.password = "app-pw";
  StartRedis(ro);
  RedisOptions o;
  std::string err;
  ASSERT_TRUE(RedisLink::parse_url("redis://app:app-pw@127.0.0.1:" + std::to_string(redis_->port()), &o, &err)) << err;
  o.instance_id = "inst-a";
  o.call_timeout_ms = 500;
  o.scripts = {"return redis.call('INCR', KEYS[1])"};
  StartLink(o);
  EXPECT_EQ(Call(0, {"n"}, 0, 1).integer, 1);
  EXPECT_EQ(redis_->command({"ACL", "WHOAMI"}), "app");
  link_->subscribe(1, "c");
  RedisEvent e;
  ASSERT_TRUE(NextOf(1, Kind::Subscribed, "c", &e));
}

TEST_F(RedisLinkTest, AWrongPasswordOrNoneAgainstAProtectedRedisKeepsTheLinkDownAndCallsFailAtOnce) {
  StartRedis(PasswordOnly("right"));
  for (const std::string& pw : {std::string("wrong"), std::string()}) {
    SCOPED_TRACE("password '" + pw + "'");
    RedisOptions o = Options();
    o.password = pw;
    StartLink(o, 1, /*wait_up=*/false);
    // Several backoff steps (100, 200, 400 ms...): never up.
    for (int i = 0; i < 10; ++i) {
      EXPECT_FALSE(link_->up());
      std::this_thread::sleep_for(milliseconds(100));
    }
    auto t0 = Clock::now();
    Submit(0, 7, {"PING"});
    RedisEvent e;
    ASSERT_TRUE(NextReply(0, 7, &e, milliseconds(1000)));
    EXPECT_FALSE(e.ok);
    EXPECT_LT(Clock::now() - t0, milliseconds(100)) << "a call waited on a link that cannot authenticate";
    std::string metrics;
    link_->render_metrics(&metrics);
    EXPECT_NE(metrics.find("roomcast_redis_up 0\n"), std::string::npos) << metrics;
    EXPECT_EQ(metrics.find("right"), std::string::npos);
    link_.reset();
    for (int fd : efds_) ::close(fd);
    efds_.clear();
    backlog_.clear();
  }
}

TEST_F(RedisLinkTest, TheRightPasswordAfterARefusedOneBringsTheLinkUpWithinTheBackoff) {
  StartRedis(PasswordOnly("old"));
  RedisOptions o = Options();
  o.password = "new";
  StartLink(o, 1, /*wait_up=*/false);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE(link_->up());
  // The operator rotates the password on Redis to the one the link has.
  EXPECT_EQ(redis_->command({"CONFIG", "SET", "requirepass", "new"}), "OK");
  ASSERT_TRUE(WaitUp(true, milliseconds(4000)));
  EXPECT_EQ(Call(0, {"PING"}).str, "PONG");
}

// ---- --redis-min-replicas (issue 27) ----

// A master that starts a replica's full sync at once (the default waits 5 s for more).
it::RedisProcessOptions FastSyncMaster() {
  it::RedisProcessOptions o;
  o.extra_args = {"--repl-diskless-sync-delay", "0"};
  return o;
}

// Starts a replica of redis_ and waits (bounded, 10 s) until the master lists it online.
std::unique_ptr<it::RedisProcess> StartReplica(it::RedisProcess& master) {
  it::RedisProcessOptions ro;
  ro.extra_args = {"--replicaof", "127.0.0.1", std::to_string(master.port())};
  std::string err;
  auto replica = it::RedisProcess::start(&err, ro);
  EXPECT_TRUE(replica) << err;
  if (!replica) return nullptr;
  // Online, and acknowledging: a fresh replica's first ACK takes up to a second, and
  // until then WAIT counts it out.
  auto deadline = Clock::now() + milliseconds(10000);
  // A write each round: the offset a replica acknowledges moves only with writes made
  // after it attached.
  auto acks = [](const std::string& info) {
    size_t at = info.find("state=online,offset=");
    return at != std::string::npos && info.compare(at + 20, 2, "0,") != 0;
  };
  while (master.command({"INCR", "probe"}).empty() || !acks(master.command({"INFO", "replication"}))) {
    if (Clock::now() >= deadline) {
      ADD_FAILURE() << "the replica never came online: " << master.command({"INFO", "replication"});
      return nullptr;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return replica;
}

TEST_F(RedisLinkTest, WithMinReplicasADurableCallIsAnsweredOnlyWhenAReplicaHoldsItElseUnavailable) {
  StartRedis(FastSyncMaster());
  auto replica = StartReplica(*redis_);
  ASSERT_TRUE(replica);
  RedisOptions o = Options();
  o.scripts = {"return redis.call('INCR', KEYS[1])", "return redis.call('GET', KEYS[1])"};
  o.min_replicas = 1;
  o.durable_scripts = {0};
  StartLink(o, 1);
  // Replica up: answered with Redis's reply, and the replica has the write.
  for (int i = 1; i <= 20; ++i) EXPECT_EQ(Call(0, {"n"}, 0, 1).integer, i);
  EXPECT_EQ(replica->command({"GET", "n"}), "20");
  // Replica gone: stored on the master, but unconfirmed: ok=false, within the deadline,
  // and the other calls still answered.
  replica->kill_hard();
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    Submit(0, 500 + i, {"n"}, 0, 1);
    RedisEvent e;
    ASSERT_TRUE(NextReply(0, 500 + i, &e, milliseconds(1500)));
    EXPECT_FALSE(e.ok) << "acknowledged without a replica";
    EXPECT_LT(Clock::now() - t0, milliseconds(450));
    EXPECT_EQ(Call(0, {"n"}, 1, 1).str, std::to_string(21 + i));  // not durable: no WAIT
  }
  EXPECT_TRUE(link_->up()) << "a missing replica must not take the link down";
  std::string metrics;
  link_->render_metrics(&metrics);
  EXPECT_NE(metrics.find("roomcast_redis_errors_total{kind=\"replicas\"} 5\n"), std::string::npos) << metrics;
}

TEST_F(RedisLinkTest, WithMinReplicasManyPipelinedDurableCallsShareWaitsAndKeepTheirOrder) {
  StartRedis(FastSyncMaster());
  auto replica = StartReplica(*redis_);
  ASSERT_TRUE(replica);
  RedisOptions o = Options();
  o.scripts = {"return redis.call('INCR', KEYS[1])"};
  o.min_replicas = 1;
  o.durable_scripts = {0};
  o.call_timeout_ms = 2000;
  StartLink(o, 1);
  std::vector<RedisCall> calls(500);
  for (size_t i = 0; i < calls.size(); ++i) calls[i] = RedisCall{2000 + i, 0, 1, {"m"}};
  auto t0 = Clock::now();
  link_->submit(0, calls);
  for (uint64_t i = 0; i < 500; ++i) {
    RedisEvent e;
    ASSERT_TRUE(NextReply(0, 2000 + i, &e)) << i;
    ASSERT_TRUE(e.ok) << i;
    EXPECT_EQ(e.value.integer, static_cast<long long>(i + 1));
  }
  std::fprintf(stderr, "[redis-link] 500 pipelined durable calls with WAIT 1: %.1f ms\n",
               std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  EXPECT_EQ(replica->command({"GET", "m"}), "500");
}

// WAIT asks for every replica ROLE lists, at least min_replicas: one that stalls delays
// each answer by the WAIT's timeout (it still counts while listed online), and the
// answer still comes, confirmed by the replica that holds it.
TEST_F(RedisLinkTest, WithMinReplicasWaitAsksForEveryOnlineReplicaSoAStalledOneDelaysButDoesNotRefuse) {
  StartRedis(FastSyncMaster());
  auto r1 = StartReplica(*redis_);
  auto r2 = StartReplica(*redis_);
  ASSERT_TRUE(r1 && r2);
  // StartReplica may have seen r1's line: wait until r2 holds a write too.
  EXPECT_EQ(redis_->command({"SET", "synced", "yes"}), "OK");
  auto synced = Clock::now() + milliseconds(10000);
  while (r2->command({"GET", "synced"}) != "yes" && Clock::now() < synced) std::this_thread::sleep_for(milliseconds(20));
  ASSERT_EQ(r2->command({"GET", "synced"}), "yes");
  RedisOptions o = Options();
  o.scripts = {"return redis.call('INCR', KEYS[1])"};
  o.min_replicas = 1;
  o.durable_scripts = {0};
  o.call_timeout_ms = 2000;  // WAIT blocks at most 200 ms
  StartLink(o, 1);
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(Call(0, {"n"}, 0, 1).integer, i);
    // Answered once both replicas acknowledged: each holds it, whichever is promoted.
    EXPECT_EQ(r1->command({"GET", "n"}), std::to_string(i));
    EXPECT_EQ(r2->command({"GET", "n"}), std::to_string(i));
  }
  ASSERT_EQ(::kill(r2->pid(), SIGSTOP), 0);
  auto t0 = Clock::now();
  EXPECT_EQ(Call(0, {"n"}, 0, 1).integer, 6) << "one replica of two still confirms it";
  EXPECT_GE(Clock::now() - t0, milliseconds(150)) << "WAIT asked for both replicas, not for 1";
  EXPECT_EQ(r1->command({"GET", "n"}), "6");
  ::kill(r2->pid(), SIGCONT);
}

// With min_replicas (or sentinels) ROLE follows each lease round: a master demoted while
// the link's connection stays open is left within about a lease round, without a write.
TEST_F(RedisLinkTest, AMasterDemotedUnderAnOpenConnectionIsLeftAtTheNextRoleRound) {
  StartRedis(FastSyncMaster());
  auto replica = StartReplica(*redis_);
  ASSERT_TRUE(replica);
  RedisOptions o = Options();
  o.min_replicas = 1;
  o.renew_ms = 200;
  StartLink(o, 1);
  auto deadline = Clock::now() + milliseconds(3000);
  while (!link_->up() && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_TRUE(link_->up());
  EXPECT_EQ(redis_->command({"REPLICAOF", "127.0.0.1", std::to_string(replica->port())}), "OK");
  deadline = Clock::now() + milliseconds(2000);
  while (link_->up() && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_FALSE(link_->up()) << "still using a replica";
}

TEST_F(RedisLinkTest, AReadonlyReplyFromADemotedMasterFailsThatCallAndDropsTheConnectionToAskAgain) {
  StartRedis(FastSyncMaster());
  auto replica = StartReplica(*redis_);
  ASSERT_TRUE(replica);
  RedisOptions o;
  std::string err;
  ASSERT_TRUE(RedisLink::parse_url(replica->url(), &o, &err)) << err;
  o.call_timeout_ms = 500;
  o.scripts = {"return redis.call('INCR', KEYS[1])"};
  StartLink(o, 1);
  uint64_t before = link_->stats().reconnects.load();
  RedisValue v = Call(0, {"n"}, 0, 1);
  EXPECT_TRUE(v.is_error());
  EXPECT_EQ(v.str.compare(0, 8, "READONLY"), 0) << v.str;
  // Dropped and dialed again (with sentinels: after asking them which Redis is the master).
  auto deadline = Clock::now() + milliseconds(3000);
  while (link_->stats().reconnects.load() == before && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_GT(link_->stats().reconnects.load(), before);
  EXPECT_EQ(Call(0, {"PING"}).str, "PONG");  // reads still work on it
}

TEST_F(RedisLinkTest, SentinelsNameTheMasterWithTheirPasswordAndSayWhyWhenTheyCannot) {
  StartRedis();
  it::RedisProcessOptions so;
  so.sentinel = true;
  so.conf = "sentinel monitor mm 127.0.0.1 " + std::to_string(redis_->port()) + " 1\nrequirepass s-pw\n";
  so.password = "s-pw";
  std::string err;
  auto sentinel = it::RedisProcess::start(&err, so);
  ASSERT_TRUE(sentinel) << err;
  RedisOptions o;
  // The first sentinel is not there: the next one answers.
  o.sentinels = {{"127.0.0.1", 1}, {"127.0.0.1", sentinel->port()}};
  o.master_name = "mm";
  o.sentinel_password = "s-pw";
  std::string host, why;
  uint16_t port = 0;
  auto t0 = Clock::now();
  ASSERT_TRUE(RedisSentinel::ask(o, &host, &port, &why)) << why;
  EXPECT_LT(Clock::now() - t0, milliseconds(RedisSentinel::kPerSentinelMs * 2));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, redis_->port());
  o.sentinel_password = "wrong-s-pw";
  EXPECT_FALSE(RedisSentinel::ask(o, &host, &port, &why));
  EXPECT_NE(why.find("127.0.0.1:1: connect refused"), std::string::npos) << why;
  EXPECT_NE(why.find("WRONGPASS"), std::string::npos) << why;
  EXPECT_EQ(why.find("wrong-s-pw"), std::string::npos) << why;
  o.sentinel_password = "s-pw";
  o.master_name = "nope";
  EXPECT_FALSE(RedisSentinel::ask(o, &host, &port, &why));
  EXPECT_NE(why.find("does not know master nope"), std::string::npos) << why;
}

TEST_F(RedisLinkTest, WithSentinelsTheLinkDialsTheMasterTheyNameNotTheUrlsHost) {
  StartRedis();
  it::RedisProcessOptions so;
  so.sentinel = true;
  so.conf = "sentinel monitor mm 127.0.0.1 " + std::to_string(redis_->port()) + " 1\n";
  std::string err;
  auto sentinel = it::RedisProcess::start(&err, so);
  ASSERT_TRUE(sentinel) << err;
  RedisOptions o;
  ASSERT_TRUE(RedisLink::parse_url("redis://127.0.0.1:1/4", &o, &err)) << err;  // nothing listens on port 1
  o.sentinels = {{"127.0.0.1", sentinel->port()}};
  o.master_name = "mm";
  o.call_timeout_ms = 500;
  StartLink(o, 1);
  EXPECT_EQ(Call(0, {"SET", "via", "sentinel"}).str, "OK");
  EXPECT_EQ(redis_->command({"EVAL", "redis.call('SELECT', 4) return redis.call('GET', KEYS[1])", "1", "via"}),
            "sentinel");
}

}  // namespace
}  // namespace roomcast
