#include "core/base/config.h"

#include <gtest/gtest.h>

#include <vector>

namespace roomcast {
namespace {

ConfigOutcome parse(std::vector<const char*> args, Config& c, std::string& message) {
  args.insert(args.begin(), "roomcast");
  return parse_config(int(args.size()), args.data(), c, message);
}

TEST(Config, DefaultsMatchTheSpec) {
  Config c;
  std::string m;
  ASSERT_EQ(parse({}, c, m), ConfigOutcome::Run);
  EXPECT_EQ(c.listen.host, "127.0.0.1");
  EXPECT_EQ(c.listen.port, 8080);
  EXPECT_EQ(c.history, 1000u);
  EXPECT_EQ(c.ping_interval_s, 25u);
  EXPECT_EQ(c.max_message, 65536u);
  EXPECT_EQ(c.rate_limit, 60);
  EXPECT_EQ(c.max_pending, 8u * 1024 * 1024);
  EXPECT_EQ(c.max_connections_per_ip, 4096u);  // a whole office behind one NAT (README "Limits")
  EXPECT_EQ(c.max_handshakes_per_ip, 1024u);
  EXPECT_TRUE(c.trusted_proxies.empty());
  EXPECT_FALSE(c.proxy_protocol);
  EXPECT_GE(c.threads, 1u);
}

TEST(Config, AcceptsBothFlagForms) {
  Config c;
  std::string m;
  ASSERT_EQ(parse({"--listen", "0.0.0.0:9000", "--threads=3", "--history", "5"}, c, m), ConfigOutcome::Run);
  EXPECT_EQ(c.listen.host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 9000);
  EXPECT_EQ(c.threads, 3u);
  EXPECT_EQ(c.history, 5u);
}

TEST(Config, BadValueIsRejectedNamingTheFlag) {
  Config c;
  std::string m;
  EXPECT_EQ(parse({"--threads", "zero"}, c, m), ConfigOutcome::Error);
  EXPECT_NE(m.find("--threads"), std::string::npos);
  EXPECT_EQ(parse({"--listen", "localhost:80"}, c, m), ConfigOutcome::Error);
  EXPECT_NE(m.find("--listen"), std::string::npos);
  EXPECT_EQ(parse({"--max-message"}, c, m), ConfigOutcome::Error);
  EXPECT_NE(m.find("--max-message"), std::string::npos);
}

TEST(Config, UnknownFlagIsRejected) {
  Config c;
  std::string m;
  EXPECT_EQ(parse({"--frobnicate", "1"}, c, m), ConfigOutcome::Error);
  EXPECT_NE(m.find("--frobnicate"), std::string::npos);
}

TEST(Config, HelpListsEveryFlag) {
  Config c;
  std::string m;
  ASSERT_EQ(parse({"--help"}, c, m), ConfigOutcome::Help);
  for (const char* flag : {"--listen", "--threads", "--history", "--ping-interval", "--max-message", "--rate-limit",
                           "--rate-burst", "--max-pending", "--handshake-timeout", "--max-header", "--room-ttl",
                           "--max-batch-delay", "--backend"})
    EXPECT_NE(m.find(flag), std::string::npos) << flag;
}

TEST(Config, EnvironmentSetsFlagsAndTheCommandLineWins) {
  Config c;
  std::string m;
  const char* env[] = {"ROOMCAST_HISTORY=7", "ROOMCAST_MAX_MESSAGE=4096", "PATH=/bin", nullptr};
  std::vector<const char*> args = {"roomcast", "--history", "9"};
  ASSERT_EQ(parse_config(int(args.size()), args.data(), c, m, env), ConfigOutcome::Run) << m;
  EXPECT_EQ(c.history, 9u);
  EXPECT_EQ(c.max_message, 4096u);
}

TEST(Config, BadEnvironmentValueNamesTheVariable) {
  Config c;
  std::string m;
  const char* env[] = {"ROOMCAST_BACKEND=kqueue", nullptr};
  std::vector<const char*> args = {"roomcast"};
  EXPECT_EQ(parse_config(int(args.size()), args.data(), c, m, env), ConfigOutcome::Error);
  EXPECT_NE(m.find("ROOMCAST_BACKEND"), std::string::npos);
}

TEST(Config, TrustedProxyIsRepeatableFromFlagsAndEnvironment) {
  Config c;
  std::string m;
  const char* env[] = {"ROOMCAST_TRUSTED_PROXY=10.0.0.0/8,fd00::/8", nullptr};
  std::vector<const char*> args = {"roomcast", "--trusted-proxy", "192.0.2.7", "--trusted-proxy=127.0.0.0/8"};
  ASSERT_EQ(parse_config(int(args.size()), args.data(), c, m, env), ConfigOutcome::Run) << m;
  ASSERT_EQ(c.trusted_proxies.size(), 4u);
  EXPECT_EQ(c.trusted_proxies[0].prefix_bits, 96 + 8);
  EXPECT_EQ(c.trusted_proxies[1].prefix_bits, 8);
  EXPECT_EQ(c.trusted_proxies[2].prefix_bits, 128);
  EXPECT_EQ(parse({"--trusted-proxy", "10.1.0.0/8"}, c, m), ConfigOutcome::Error);
  EXPECT_NE(m.find("--trusted-proxy"), std::string::npos);
}

TEST(Config, ProxyProtocolIsASwitch) {
  Config c;
  std::string m;
  ASSERT_EQ(parse({"--proxy-protocol", "--history", "5"}, c, m), ConfigOutcome::Run) << m;
  EXPECT_TRUE(c.proxy_protocol);
  EXPECT_EQ(c.history, 5u);
  Config d;
  ASSERT_EQ(parse({"--proxy-protocol=false"}, d, m), ConfigOutcome::Run) << m;
  EXPECT_FALSE(d.proxy_protocol);
  const char* env[] = {"ROOMCAST_PROXY_PROTOCOL=1", nullptr};
  std::vector<const char*> args = {"roomcast"};
  Config e;
  ASSERT_EQ(parse_config(int(args.size()), args.data(), e, m, env), ConfigOutcome::Run) << m;
  EXPECT_TRUE(e.proxy_protocol);
}

TEST(Config, ListenAcceptsBracketedIpv6) {
  ListenAddress a;
  ASSERT_TRUE(parse_listen_address("[::1]:8080", a));
  EXPECT_EQ(a.host, "::1");
  EXPECT_FALSE(parse_listen_address("127.0.0.1:99999", a));
  EXPECT_FALSE(parse_listen_address("127.0.0.1", a));
}

// ---- Redis as operators run it (issue 27) ----

TEST(Config, ARefusedRedisUrlIsQuotedWithItsPasswordMaskedFromFlagsAndEnvironment) {
  Config c;
  std::string m;
  EXPECT_EQ(parse({"--redis", "redis://app:hunter2@h:0"}, c, m), ConfigOutcome::Error);
  EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  EXPECT_NE(m.find("redis://app:***@h:0"), std::string::npos) << m;
  Config e;
  const char* env[] = {"ROOMCAST_REDIS=redis://:hunter2@h/99", nullptr};
  std::vector<const char*> args = {"roomcast"};
  EXPECT_EQ(parse_config(int(args.size()), args.data(), e, m, env), ConfigOutcome::Error);
  EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  EXPECT_NE(m.find("ROOMCAST_REDIS"), std::string::npos) << m;
}

TEST(Config, HelpListsTheRedisFlagsAndNoSecret) {
  std::string help = usage_text();
  for (const char* flag : {"--redis-password-file", "--redis-ca-file", "--redis-cert-file", "--redis-key-file",
                           "--redis-min-replicas", "--redis-sentinel ", "--redis-master", "--redis-sentinel-password-file"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
}

TEST(Config, RedisFlagsThatCannotWorkTogetherStopTheStartWithAReason) {
  struct Case {
    std::vector<const char*> args;
    const char* says;
  } cases[] = {
      {{"--redis", "redis://u@h"}, "without a password"},
      {{"--redis", "redis://h", "--redis-ca-file", "/etc/hostname"}, "rediss://"},
      {{"--redis", "rediss://h", "--redis-cert-file", "/etc/hostname"}, "go together"},
      {{"--redis", "rediss://h", "--redis-ca-file", "/nonexistent"}, "--redis-ca-file /nonexistent"},
      {{"--redis", "redis://h", "--redis-sentinel", "127.0.0.1:26379"}, "--redis-master"},
      {{"--redis-sentinel", "127.0.0.1:26379", "--redis-master", "mm"}, "--redis URL"},
      {{"--redis", "redis://h", "--redis-min-replicas", "17"}, "--redis-min-replicas"},
  };
  for (const Case& k : cases) {
    Config c;
    std::string m;
    EXPECT_EQ(parse(k.args, c, m), ConfigOutcome::Error) << k.args[1];
    EXPECT_NE(m.find(k.says), std::string::npos) << m;
  }
  Config ok;
  std::string m;
  ASSERT_EQ(parse({"--redis", "redis://app@10.0.0.5:6380/2", "--redis-password-file", "/etc/hostname",
                   "--redis-sentinel", "127.0.0.1:26379,s2.internal:26380", "--redis-master", "mm",
                   "--redis-min-replicas", "1"},
                  ok, m),
            ConfigOutcome::Run)
      << m;
  EXPECT_EQ(ok.redis_sentinels.size(), 2u);
  EXPECT_EQ(ok.redis_master, "mm");
  EXPECT_EQ(ok.redis_min_replicas, 1u);
  EXPECT_FALSE(ok.redis_password.empty());
}

}  // namespace
}  // namespace roomcast

namespace roomcast {
namespace {

ConfigOutcome parse_env(std::vector<const char*> args, std::vector<const char*> env, Config& c, std::string& m) {
  args.insert(args.begin(), "roomcast");
  env.push_back(nullptr);
  return parse_config(int(args.size()), args.data(), c, m, env.data());
}

TEST(Config, HookFlagsHaveTheContractsDefaults) {
  Config c;
  std::string m;
  ASSERT_EQ(parse_env({}, {}, c, m), ConfigOutcome::Run);
  EXPECT_TRUE(c.auth_hook_url.empty() && c.edit_hook_url.empty() && c.webhook_url.empty());
  EXPECT_TRUE(c.hook_key.empty());
  EXPECT_EQ(c.hook_timeout_ms, 2000u);
  EXPECT_EQ(c.webhook_concurrency, 16u);
  EXPECT_EQ(c.webhook_max_age_ms, 24LL * 3600 * 1000);
  EXPECT_EQ(c.webhook_queue, 100000u);
}

TEST(Config, HookFlagsTakeUrlsDurationsAndTheSecretFromTheEnvironment) {
  Config c;
  std::string m;
  ASSERT_EQ(parse_env({"--auth-hook", "https://b.example/auth", "--edit-hook", "http://127.0.0.1:9/edit", "--webhook",
                       "http://127.0.0.1:9/events", "--hook-timeout", "500ms", "--webhook-max-age", "2h",
                       "--webhook-concurrency", "4", "--webhook-queue", "10"},
                      // "whsec_" + base64 of the 32 bytes 0x00..0x1f
                      {"ROOMCAST_HOOK_SECRET=whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}, c, m),
            ConfigOutcome::Run)
      << m;
  EXPECT_EQ(c.auth_hook_url, "https://b.example/auth");
  EXPECT_EQ(c.hook_timeout_ms, 500u);
  EXPECT_EQ(c.webhook_max_age_ms, 2LL * 3600 * 1000);
  EXPECT_EQ(c.webhook_concurrency, 4u);
  EXPECT_EQ(c.webhook_queue, 10u);
  ASSERT_EQ(c.hook_key.size(), 32u);  // the decoded key, not the secret's text
  EXPECT_EQ(c.hook_key[31], char(31));
}

TEST(Config, BadHookValuesStopTheStartWithoutShowingTheSecret) {
  Config c;
  std::string m;
  EXPECT_EQ(parse_env({"--webhook", "ftp://x/"}, {}, c, m), ConfigOutcome::Error);
  EXPECT_NE(m.find("--webhook"), std::string::npos);
  EXPECT_EQ(parse_env({"--hook-timeout", "0"}, {}, c, m), ConfigOutcome::Error);
  EXPECT_EQ(parse_env({"--hook-timeout", "2 s"}, {}, c, m), ConfigOutcome::Error);
  Config d;
  EXPECT_EQ(parse_env({}, {"ROOMCAST_HOOK_SECRET=whsec_c2hvcnQ="}, d, m), ConfigOutcome::Error);  // 5-byte key
  EXPECT_NE(m.find("ROOMCAST_HOOK_SECRET"), std::string::npos);
  EXPECT_EQ(m.find("c2hvcnQ"), std::string::npos) << m;
}

}  // namespace
}  // namespace roomcast
