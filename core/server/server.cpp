#include "core/server/server.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "core/auth/jwks_fetcher.h"
#include "core/auth/token_verifier.h"
#include "core/auth/tokens.h"
#include "core/base/admission.h"
#include "core/base/heap.h"
#include "core/base/log.h"
#include "core/cluster/cluster_wire.h"
#include "core/cluster/redis_link.h"
#include "core/hooks/webhook_outbox.h"
#include "core/disk/disk_store.h"
#include "core/server/worker.h"
#include "net/listener.h"
#include "proto/handshake.h"

namespace roomcast {

int run_server(const Config& config) {
  // Signals are taken synchronously by this thread (sigwait); loop threads never see them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // Both fail only for invalid arguments, which these are not.
  (void)pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  (void)signal(SIGPIPE, SIG_IGN);

  // libcrypto fetches its provider and pages in ~2 MB of its code at the first digest.
  // Doing that here, on RFC 6455's own example, stops a broken install at start instead of
  // failing every upgrade, and keeps that one-time cost out of the first client's
  // handshake (and out of any per-connection memory figure).
  if (websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
    std::fprintf(stderr, "roomcast: libcrypto's SHA-1 gives a wrong WebSocket accept key\n");
    return 1;
  }

  // --data-dir: locked (one process per directory) and every room read before anything
  // listens, so a refused start binds nothing; the engine's writer thread logs through
  // its own Logger (it outlives the workers).
  Logger disk_log(config.log_format, config.log_level);
  std::unique_ptr<disk::DiskStore> disk;
  std::vector<std::vector<disk::LoadedRoom>> disk_rooms(config.threads);
  if (!config.data_dir.empty()) {
    disk::DiskOptions options;
    options.dir = config.data_dir;
    options.history_limit = config.history;
    options.log = [&disk_log](std::string_view line) { disk_log.log(LogLevel::Warn, "data_dir", {{"note", line}}); };
    std::vector<disk::LoadedRoom> loaded;
    std::string error;
    const auto t0 = std::chrono::steady_clock::now();
    disk = disk::DiskStore::open(std::move(options), loaded, error);
    if (!disk) {
      std::fprintf(stderr, "roomcast: --data-dir: %s\n", error.c_str());
      return 1;
    }
    const auto load_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    const disk::DiskStats stats = disk->stats();
    disk_log.log(LogLevel::Info, "data_dir",
                 {{"dir", config.data_dir}, {"rooms", uint64_t(loaded.size())}, {"tails_cut", stats.tails_cut},
                  {"damaged", stats.rooms_damaged}, {"load_ms", int64_t(load_ms.count())}});
    // Each room to the thread that owns its name (as a join's hand-off finds it).
    for (disk::LoadedRoom& room : loaded)
      disk_rooms[Worker::index_of(room.state.room, config.threads)].push_back(std::move(room));
  }

  // Every thread listens on the same address (SO_REUSEPORT); port 0 is resolved by the
  // first bind and reused by the others.
  ListenAddress address = config.listen;
  std::vector<int> listeners;
  for (unsigned i = 0; i < config.threads; ++i) {
    int fd = open_listener(address, 65535);  // the kernel caps it at net.core.somaxconn
    if (fd < 0) {
      std::fprintf(stderr, "roomcast: cannot listen on %s:%u: %s\n", address.host.c_str(), address.port,
                   std::strerror(-fd));
      for (int l : listeners) close(l);  // exiting with an error anyway
      return 1;
    }
    if (address.port == 0) address.port = static_cast<uint16_t>(bound_port(fd));
    listeners.push_back(fd);
  }

  Logger log(config.log_format, config.log_level);
  ConnectionLimits limits(config.max_connections, config.max_connections_per_ip);
  ApiRateLimit api_rate(config.api_rate_limit);
  StaticFiles files;
  std::string files_error;
  if (!files.open(config.static_dir, &files_error)) {
    std::fprintf(stderr, "roomcast: %s\n", files_error.c_str());
    for (int l : listeners) close(l);  // exiting with an error anyway
    return 1;
  }
  // --jwt-jwks-url: its own thread fetches the key set; the first fetch (bounded by its
  // timeouts) is waited for, so tokens verify from the first connection when the
  // identity provider answers, and the server still starts when it does not.
  std::unique_ptr<JwksFetcher> jwks;
  if (!config.jwt_jwks_url.empty()) {
    jwks = std::make_unique<JwksFetcher>(config.jwt_jwks_url, std::chrono::seconds(config.jwt_jwks_refresh_s),
                                         config.jwt_jwks, log);
    jwks->start();
    jwks->wait_first_fetch(std::chrono::seconds(12));
  }
  for (const std::string& note : config.jwt_key_notes) log.log(LogLevel::Info, "jwt_key_skipped", {{"key", note}});

  // Scale-out: one RedisLink (its own thread) for the instance; every worker talks to it.
  std::unique_ptr<RedisLink> redis;
  std::string instance_id;
  if (!config.redis_url.empty()) {
    RedisOptions options = RedisLink::options_from(config);  // --redis and the --redis-* flags
    // --redis-min-replicas: edits (from clients and the publish API), and the loads and
    // polls whose seqs and entries an instance applies: their writes (PEXPIRE) come after
    // every edit they read, so the WAIT that confirms them confirms those edits too.
    options.durable_scripts = {wire::kEdit, wire::kSync, wire::kPoll};
    instance_id = random_base64url(6);  // 48 bits: a prefix of every session id
    options.instance_id = instance_id;
    options.lease_ms = 3000;
    options.renew_ms = 1000;
    options.scripts = wire::scripts();
    redis = std::make_unique<RedisLink>(std::move(options), config.threads);
  }
  // The app's backend (docs/integration.md): one HookClient (its own thread; every loop
  // thread is a submitter, the webhook delivery one more) and, with --webhook, one
  // delivery thread fed by every loop thread through the outbox. Without a store the
  // outbox is the delivery's bounded memory queue (the README says what a restart loses).
  std::unique_ptr<HookClient> hook_client;
  std::unique_ptr<WebhookDropLog> drop_log;
  std::unique_ptr<WebhookDelivery> delivery;
  std::unique_ptr<DeliveryOutbox> outbox;
  std::unique_ptr<WebhookAcks> acks;  // --data-dir: the store keeps the events
  HookWiring hooks;
  if (!config.auth_hook_url.empty() || !config.edit_hook_url.empty() || !config.webhook_url.empty()) {
    HookClientOptions options;
    options.timeout = std::chrono::milliseconds(config.hook_timeout_ms);
    options.key = config.hook_key;
    options.user_agent = "roomcast/1.2";  // the protocol version this server speaks
    hook_client = std::make_unique<HookClient>(std::move(options), config.threads + 1);
    hooks.client = hook_client.get();
    if (!config.webhook_url.empty()) {
      WebhookDeliveryOptions delivery_options;
      delivery_options.url = config.webhook_url;
      delivery_options.queue.concurrency = config.webhook_concurrency;
      delivery_options.queue.max_age_ms = config.webhook_max_age_ms;
      delivery_options.queue.max_events = config.webhook_queue;
      if (disk || redis) {
        // The events are on disk with their edits (docs/durability.md "The webhook
        // outbox") or in Redis, in each room's outbox (written by the edit script): the
        // delivery holds at most --webhook-queue of them and refuses more (the store
        // offers them again), its acknowledgements go back to the store.
        delivery_options.queue.drop_oldest_when_full = false;
        acks = std::make_unique<WebhookAcks>(config.threads, log);
        delivery = std::make_unique<WebhookDelivery>(std::move(delivery_options), *hook_client, config.threads, acks.get());
        hooks.acks = acks.get();
      } else {
        drop_log = std::make_unique<WebhookDropLog>(log);
        delivery =
            std::make_unique<WebhookDelivery>(std::move(delivery_options), *hook_client, config.threads, drop_log.get());
        outbox = std::make_unique<DeliveryOutbox>(*delivery);
        hooks.outbox = outbox.get();
      }
      hooks.delivery = delivery.get();
    }
    log.log(LogLevel::Info, "hooks",
            {{"auth_hook", config.auth_hook_url.empty() ? "off" : config.auth_hook_url},
             {"edit_hook", config.edit_hook_url.empty() ? "off" : config.edit_hook_url},
             {"webhook", config.webhook_url.empty() ? "off" : config.webhook_url},
             {"signed", config.hook_key.empty() ? "no" : "yes"}, {"timeout_ms", config.hook_timeout_ms},
             {"webhook_queue", config.webhook_url.empty() ? "off" : (disk ? "data-dir" : redis ? "redis" : "memory")}});
    if (config.hook_key.empty())
      log.log(LogLevel::Warn, "hooks_unsigned",
              {{"note", "no --hook-secret-file: the backend cannot tell roomcast's requests from anyone's"}});
  }
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<Worker*> peers;
  for (unsigned i = 0; i < config.threads; ++i) {
    workers.push_back(std::make_unique<Worker>(config, i, listeners[i], &limits, &api_rate, &files, redis.get(), instance_id,
                                               hooks));
    peers.push_back(workers.back().get());
    if (redis) {
      Worker* w = workers.back().get();
      redis->attach(i, w->redis_notify_fd());
    }
    if (hook_client) hook_client->attach(i, workers.back()->hook_notify_fd());
    if (acks) acks->attach(i, workers.back()->webhook_notify_fd());
    if (disk) workers.back()->keep_on_disk(disk.get(), disk->client(), std::move(disk_rooms[i]));
  }
  for (auto& w : workers) w->set_peers(peers);
  if (hook_client) {
    hook_client->start();
    if (delivery) delivery->start();
  }
  if (redis) {
    redis->start();
    log.log(LogLevel::Info, "redis", {{"url", RedisLink::mask_url(config.redis_url)}, {"instance", instance_id}});
  }

  // Each ring is created on its own thread (SINGLE_ISSUER binds it to its creator).
  std::vector<std::thread> threads;
  std::vector<std::promise<int>> ready(config.threads);
  std::vector<std::string> descriptions(config.threads);
  for (unsigned i = 0; i < config.threads; ++i) {
    threads.emplace_back([&, i] {
      int rc = workers[i]->init(&descriptions[i]);
      ready[i].set_value(rc);
      if (rc == 0) workers[i]->run();
    });
  }
  int failed = 0;
  for (unsigned i = 0; i < config.threads; ++i) {
    int rc = ready[i].get_future().get();
    if (rc != 0) {
      std::fprintf(stderr, "roomcast: event loop setup failed on thread %u: %s\n", i, std::strerror(-rc));
      failed = rc;
    }
  }
  if (failed) {
    for (auto& w : workers) w->request_stop();
    for (auto& t : threads) t.join();
    if (redis) redis->stop();
    if (delivery) delivery->stop();
    if (hook_client) hook_client->stop();
    return 1;
  }
  log.log(LogLevel::Info, "start",
          {{"threads", config.threads}, {"backend", descriptions[0]}, {"history", uint64_t(config.history)},
           {"ping_interval_s", config.ping_interval_s}, {"max_message", uint64_t(config.max_message)},
           {"max_batch_delay_ms", config.max_batch_delay_ms}, {"allocator", heap_allocator_name()}});
  if (!authentication_on(config)) {
    log.log(LogLevel::Warn, "auth_off", {{"note", "no JWT secret or keys: every client is accepted and user.id is as sent"}});
  } else {
    log.log(LogLevel::Info, "auth_on",
            {{"hs256", config.jwt_secret.empty() ? "off" : "on"},
             {"keys", uint64_t(config.jwt_keys ? config.jwt_keys->keys.size() : 0)},
             {"jwks_url", config.jwt_jwks_url.empty() ? "none" : config.jwt_jwks_url},
             {"issuer", config.jwt_rules.issuer}, {"audience", config.jwt_rules.audience},
             {"leeway_s", config.jwt_rules.leeway_s}});
  }
  std::printf("roomcast listening on %s:%u\n", address.host.c_str(), address.port);
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
    // EINVAL is impossible for this set; retry anything else rather than stop serving.
  }
  log.log(LogLevel::Info, "stopping",
          {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}, {"drain_timeout_s", config.drain_timeout_s}});
  for (auto& w : workers) w->request_stop();
  for (auto& t : threads) t.join();
  // After the workers: their last holds and records are submitted; the link flushes them
  // (bounded) and withdraws the lease, so the others count the grace from now.
  if (redis) redis->stop();
  // The delivery before the client it submits to (core/backend/webhook_delivery.h); what
  // was not delivered is lost without a store (README).
  if (delivery) delivery->stop();
  if (hook_client) hook_client->stop();
  if (jwks) jwks->stop();
  log.log(LogLevel::Info, "stopped", {});
  return 0;
}

}  // namespace roomcast
