// core/server/worker.h: one loop thread: its event loop, and the hand-off between threads.
//
// Owns outright: the EventLoop (io_uring or epoll) and, built on it, this thread's
// ConnectionTable, RoomService (the rooms that hash to this thread), HttpFront, Output
// and Housekeeping, plus its Metrics. Nothing is shared with another thread except the
// hand-off inbox (a mutex-guarded list plus an eventfd, used once per connection, never
// per message), the server-wide ConnectionLimits (touched at upgrade and free), and
// Metrics, read by a scrape.
// Called by: core/server/server.cpp, which creates one Worker per --threads, calls init() and
// run() on its own thread, hands it connections whose room it owns (adopt) and asks it to
// stop.
// The hot path, one hop per line:
//   on_completion(Recv)      net: bytes of one socket
//   on_bytes -> ws.feed      proto: frames, reassembly, UTF-8 (WsReader)
//   on_message               proto: decode once (MessageDecoder) -> ClientMessage
//   RoomService::handle      core: semantics; encode once -> SharedFrame -> Room::broadcast
//   SendQueue::push          net: pointer + refcount per recipient
//   Output::flush            net: one sendmsg per socket per window
// Promises: one send in flight per socket; one kernel entry per loop iteration for all
// sockets (io_uring); no blocking call on the loop; stop closes every client with 1001
// and returns once queues flushed or --drain-timeout passed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/admission.h"
#include "core/base/config.h"
#include "core/base/log.h"
#include "core/base/metrics.h"
#include "core/cluster/cluster_port.h"
#include "core/cluster/cluster_store.h"
#include "core/cluster/redis_link.h"
#include "core/disk/disk_store.h"
#include "core/durable/durable_store.h"
#include "core/http/api_rate_limit.h"
#include "core/http/http_front.h"
#include "core/hooks/hook_backend.h"
#include "core/hooks/webhook_outbox.h"
#include "core/server/redis_webhooks.h"
#include "core/server/store_webhooks.h"
#include "core/room/room_service.h"
#include "core/server/connection_table.h"
#include "core/server/housekeeping.h"
#include "core/server/loop_load.h"
#include "core/server/output.h"
#include "net/descriptor_reserve.h"
#include "net/event_loop.h"
#include "proto/message.h"

namespace roomcast {

// The app's backend (docs/integration.md), shared by every worker; null: not configured.
struct HookWiring {
  HookClient* client = nullptr;               // any of --auth-hook, --edit-hook, --webhook
  WebhookOutbox* outbox = nullptr;            // --webhook without a store: where events go
  WebhookDelivery* delivery = nullptr;        // --webhook: its metrics (and, with acks, where kept events go)
  // --webhook with --data-dir: the store keeps the events (core/server/store_webhooks.h);
  // each worker's acknowledgements arrive here.
  WebhookAcks* acks = nullptr;
};

// A request whose room lives on another thread, with its socket.
struct Handoff {
  int fd = -1;
  PeerAddress peer;
  HttpDecision request;  // kind Route
};

class Worker final : private CompletionSink,
                     private FanoutObserver,
                     private ConnectionEvents,
                     private ClusterPort,
                     private DurablePort {
 public:
  // `files` (shared, read-only) answers paths that are not the server's own (`--static`).
  // `redis` (may be null: one process alone) is the instance's link, `instance_id` its name.
  // `api_rate` (shared) limits HTTP API requests per address.
  // `hooks`: the hook client and webhook outbox, if any (this worker is the client's
  // submitter `index`).
  Worker(const Config& config, unsigned index, int listen_fd, ConnectionLimits* limits, ApiRateLimit* api_rate,
         const StaticFiles* files, RedisLink* redis = nullptr, std::string instance_id = {}, HookWiring hooks = {});
  // The eventfd the RedisLink writes when it has events for this worker.
  int redis_notify_fd() const { return redis_fd_; }
  // The eventfd the HookClient writes when it has results for this worker (-1: no hooks).
  int hook_notify_fd() const { return hook_fd_; }
  // The eventfd WebhookAcks writes when deliveries of this worker's rooms' kept events
  // were acknowledged (-1: the store keeps no events).
  int webhook_notify_fd() const { return webhook_fd_; }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  // Sets up the event loop on the calling thread (which must then call run()).
  // 0 or -errno; `description` names the backend.
  int init(std::string* description);
  void run();

  // The workers rooms are spread over; set once before any run().
  void set_peers(std::vector<Worker*> peers) { peers_ = std::move(peers); }
  // Which of `workers` loop threads owns `room` (every room lives on one).
  static size_t index_of(std::string_view room, size_t workers);
  // --data-dir: this thread's rooms are kept by `store` (shared, read for metrics) through
  // `client` (this thread's); `rooms` are the ones it owns as loaded at start. Before init().
  void keep_on_disk(const disk::DiskStore* store, std::unique_ptr<disk::DiskStore::Client> client,
                    std::vector<disk::LoadedRoom> rooms);

  // Thread-safe.
  void adopt(Handoff handoff);
  void request_stop();
  const Metrics& metrics() const { return metrics_; }

 private:
  Worker* owner_of(std::string_view room) const;

  // Completions.
  void on_completion(const Completion& done) override;
  void fanout_done(int64_t born_ns) override;
  void on_accept(const Completion& done);
  void on_accept_error(int error);
  void on_recv(Connection& c, const Completion& done);
  void rearm_starved();
  void on_wake();
  void on_tick();

  // Bytes in: request head, or frames.
  void on_bytes(Connection& c, const uint8_t* data, size_t len);
  void apply(Connection& c, HttpDecision&& decision);
  void hand_to_owner(Connection& c, HttpDecision&& route);
  void serve_here(Connection& c, HttpDecision&& route);
  void open_websocket(Connection& c, HttpDecision&& upgrade);
  void feed(Connection& c, const uint8_t* data, size_t len);
  void on_message(Connection& c, std::string_view text) override;
  void close_connection(Connection& c, uint16_t code, std::string_view reason) override;

  // Scale-out (ClusterPort, over the RedisLink).
  void submit(std::vector<RedisCall>& calls) override;
  void subscribe(const std::string& channel) override;
  void unsubscribe(const std::string& channel) override;
  void room_ready(std::string_view room, bool ok) override;
  void published(uint64_t ticket, bool ok, uint64_t seq) override;
  void on_redis();
  void arm_redis();
  // --data-dir: the disk client's completions (DurableStore::drain).
  void on_disk();
  void arm_disk();
  // --data-dir with --webhook: acknowledged events (DurableStore::events_done).
  void on_webhook();
  void arm_webhook();

  // The app's backend: the hook client's results for this thread (auth and edit hooks).
  void on_hook();
  void arm_hook();
  // The auth hook's answer about the upgrade of connection (slot, generation).
  void auth_answered(const HookResult& result);

  void begin_stop();
  void arm_accept();
  void arm_recv(Connection& c);
  void arm_wake();
  void arm_timer();

  const Config& config_;
  const unsigned index_;
  int listen_fd_;
  ConnectionLimits* limits_;
  ApiRateLimit* api_rate_;
  const StaticFiles* files_;
  std::vector<Worker*> peers_;
  Logger log_;
  Metrics metrics_;
  int64_t now_ns_ = 0;
  bool now_fresh_ = false;  // now_ns_ was read after the last wait

  HookWiring hooks_;
  int hook_fd_ = -1;
  uint64_t hook_value_ = 0;
  std::vector<HookResult> hook_results_;
  std::optional<HookBackend> backend_;  // with --edit-hook or --webhook: the rooms' backend port
  // --data-dir with --webhook: HookBackend's outbox and the store's KeptEvents.
  std::optional<StoreWebhooks> store_webhooks_;
  // --redis with --webhook: HookBackend's outbox and the cluster store's HookSink.
  std::optional<RedisWebhooks> redis_webhooks_;
  int webhook_fd_ = -1;
  uint64_t webhook_value_ = 0;
  std::vector<std::pair<std::string, uint64_t>> acks_taken_;

  // Built by init() on the loop thread, in this order (and destroyed in reverse).
  std::unique_ptr<EventLoop> loop_;
  std::optional<RoomService> rooms_;
  std::optional<ClusterStore> cluster_;  // with --redis: the rooms' store
  std::optional<DurableStore> durable_;  // with --data-dir: the rooms' store
  // Publish API bodies (HttpFront::publish). Client messages are decoded by the room
  // service's own decoder (RoomService::receive).
  MessageDecoder body_decoder_;
  ClientMessage body_message_;
  std::optional<ConnectionTable> table_;
  std::optional<Output> output_;
  LoopLoad load_;
  std::optional<Housekeeping> housekeeping_;
  std::optional<HttpFront> http_;

  DescriptorReserve reserve_;  // answers 503 when accept runs out of descriptors

  // Connections whose receive ended with -ENOBUFS, oldest first, waiting for buffers.
  struct SlotRef {
    uint32_t slot;
    uint32_t generation;
  };
  std::vector<SlotRef> starved_;
  bool trim_pending_ = false;  // many connections parked: give memory back after the batch
  bool grace_armed_ = false;   // the ~100 ms timer that ends held sessions is armed

  RedisLink* redis_;
  std::string instance_id_;
  int redis_fd_ = -1;
  uint64_t redis_value_ = 0;
  std::vector<RedisEvent> redis_events_;
  const disk::DiskStore* disk_ = nullptr;  // --data-dir (shared by every worker)
  std::unique_ptr<disk::DiskStore::Client> disk_client_;  // until init() hands it to durable_
  std::vector<disk::LoadedRoom> disk_rooms_;               // until init() restores them
  uint64_t disk_value_ = 0;
  // API requests waiting for Redis (presence by room) or the store (publish by ticket).
  struct PresenceWait {
    SlotRef ref;
    std::string after;  // the page asked for
  };
  std::unordered_map<std::string, std::vector<PresenceWait>> presence_waiting_;
  std::unordered_map<uint64_t, SlotRef> publish_waiting_;
  uint64_t next_ticket_ = 1;

  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;
  std::mutex inbox_mutex_;
  std::vector<Handoff> inbox_;
  std::vector<Handoff> inbox_taken_;
  std::atomic<bool> stop_requested_{false};
  bool stopping_ = false;
  bool accept_armed_ = false;
  int64_t stop_deadline_ns_ = 0;
};

}  // namespace roomcast
