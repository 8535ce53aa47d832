// core/backend/webhook_delivery.cpp: the delivery thread's loop: inbox -> queue, results
// -> queue, queue -> hook client, sleep until the next retry or wake-up.
#include "core/backend/webhook_delivery.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <mutex>
#include <thread>
#include <vector>

namespace roomcast {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct WebhookDelivery::State {
  struct Command {
    bool forget = false;  // false: push `event`; true: forget `event.room`
    WebhookEvent event;
  };

  // Counts events out of the queue (held), then tells the owner's listener.
  struct Counting : WebhookQueueListener {
    Counting(State* s, WebhookQueueListener* n) : state(s), next(n) {}
    State* state;
    WebhookQueueListener* next;
    void delivered(const WebhookEvent& e) override {
      state->held.fetch_sub(1, std::memory_order_relaxed);
      if (next) next->delivered(e);
    }
    void dropped(const WebhookEvent& e, WebhookDropReason why, unsigned attempts) override {
      state->held.fetch_sub(1, std::memory_order_relaxed);
      if (next) next->dropped(e, why, attempts);
    }
  };

  State(WebhookDeliveryOptions o, HookClient& c, unsigned s, WebhookQueueListener* l)
      : options(std::move(o)), client(c), submitter(s), counting(this, l), queue(options.queue, &counting) {}

  const WebhookDeliveryOptions options;
  HookClient& client;
  const unsigned submitter;
  Counting counting;
  WebhookQueue queue;  // the delivery thread only (its stats: anyone)
  int wake_fd = -1;
  std::thread thread;

  std::mutex mutex;  // guards inbox, stopping
  std::vector<Command> inbox;
  bool stopping = false;
  // Pushed and not yet delivered, dropped or forgotten (inbox + queue): a store-backed
  // queue refuses at push() on this count, so the queue itself never has to.
  std::atomic<size_t> held{0};

  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof one);
  }

  void run() {
    std::vector<Command> commands;
    std::vector<HookResult> results;
    std::vector<WebhookSend> sends;
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (stopping) return;
        commands.swap(inbox);
      }
      int64_t now = wall_ms();
      for (Command& c : commands) {
        if (c.forget)
          held.fetch_sub(queue.forget_room(c.event.room), std::memory_order_relaxed);
        else
          queue.push(std::move(c.event), now);  // never Refused: push() counted it in `held`
      }
      commands.clear();
      client.take(submitter, &results);
      now = wall_ms();
      for (const HookResult& r : results) queue.on_result(r.cookie, r.ok(), now);
      results.clear();
      queue.poll(now, &sends);
      for (WebhookSend& s : sends) {
        const uint64_t ticket = s.ticket;
        if (!client.submit(submitter, HookRequest{ticket, HookKind::Webhook, options.url, std::move(s.event.id),
                                                  std::move(s.event.body)}))
          queue.on_result(ticket, false, now);  // the client is full: a failed attempt, retried later
      }
      sends.clear();
      const int64_t next = queue.next_wakeup_ms(wall_ms());
      const int64_t sleep = next == INT64_MAX ? 1000 : std::clamp<int64_t>(next - wall_ms(), 0, 1000);
      pollfd p{wake_fd, POLLIN, 0};
      if (::poll(&p, 1, int(sleep)) > 0) {
        uint64_t v;
        [[maybe_unused]] ssize_t n = ::read(wake_fd, &v, sizeof v);
      }
    }
  }
};

WebhookDelivery::WebhookDelivery(WebhookDeliveryOptions options, HookClient& client, unsigned submitter,
                                 WebhookQueueListener* listener)
    : state_(std::make_unique<State>(std::move(options), client, submitter, listener)) {
  state_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  client.attach(submitter, state_->wake_fd);
}

WebhookDelivery::~WebhookDelivery() {
  stop();
  state_->client.attach(state_->submitter, -1);  // results of attempts still in flight wake nobody
  if (state_->wake_fd >= 0) ::close(state_->wake_fd);
}

void WebhookDelivery::start() {
  if (state_->thread.joinable() || state_->wake_fd < 0) return;
  state_->thread = std::thread([s = state_.get()] { s->run(); });
}

void WebhookDelivery::stop() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  if (state_->wake_fd >= 0) state_->wake();
  if (state_->thread.joinable()) state_->thread.join();
}

bool WebhookDelivery::push(WebhookEvent event) {
  State& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopping) return false;
    if (!s.options.queue.drop_oldest_when_full &&
        s.held.load(std::memory_order_relaxed) >= s.options.queue.max_events)
      return false;
    s.held.fetch_add(1, std::memory_order_relaxed);
    s.inbox.push_back(State::Command{false, std::move(event)});
  }
  s.wake();
  return true;
}

void WebhookDelivery::forget_room(std::string room) {
  State& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    WebhookEvent e;
    e.room = std::move(room);
    s.inbox.push_back(State::Command{true, std::move(e)});
  }
  s.wake();
}

const WebhookQueueStats& WebhookDelivery::stats() const { return state_->queue.stats(); }

void WebhookDelivery::render_metrics(std::string* out) const { state_->queue.render_metrics(out, wall_ms()); }

}  // namespace roomcast
