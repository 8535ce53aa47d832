// core/backend/hook_client.cpp: libcurl's multi interface on the hook thread; loop
// threads only touch the submission queue and their completion queues.
#include "core/backend/hook_client.h"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <curl/curl.h>

#include "proto/webhook_signature.h"

namespace roomcast {

namespace {

using Clock = std::chrono::steady_clock;

// Indexes of hook_result_label.
enum ResultLabel : size_t {
  k2xx, k4xx, k5xx, kOtherStatus, kTimeout, kUnreachable, kTransport, kTooLarge, kStopped, kQueueFull,
};
constexpr std::string_view kResultLabels[kHookResultLabels] = {
    "2xx", "4xx", "5xx", "other_status", "timeout", "unreachable", "transport_error", "too_large", "stopped",
    "queue_full"};

size_t label_of(const HookResult& r) {
  switch (r.outcome) {
    case HookOutcome::Answered:
      if (r.status >= 200 && r.status < 300) return k2xx;
      if (r.status >= 400 && r.status < 500) return k4xx;
      if (r.status >= 500 && r.status < 600) return k5xx;
      return kOtherStatus;
    case HookOutcome::Timeout: return kTimeout;
    case HookOutcome::Unreachable: return kUnreachable;
    case HookOutcome::Transport: return kTransport;
    case HookOutcome::TooLarge: return kTooLarge;
    case HookOutcome::Stopped: return kStopped;
  }
  return kTransport;
}

// A header value we put on the wire: printable ASCII only, so an id can never end the
// header early or add one.
bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

std::string_view hook_kind_label(HookKind kind) {
  switch (kind) {
    case HookKind::Auth: return "auth";
    case HookKind::Edit: return "edit";
    case HookKind::Webhook: return "webhook";
  }
  return "webhook";
}

std::string_view hook_result_label(size_t index) { return index < kHookResultLabels ? kResultLabels[index] : ""; }

struct HookClient::State {
  struct Pending {
    HookRequest request;
    unsigned submitter = 0;
    Clock::time_point submitted;
  };
  struct Transfer {
    State* client = nullptr;
    Pending pending;
    std::string answer;
    bool too_long = false;
    curl_slist* headers = nullptr;
    char error[CURL_ERROR_SIZE] = {};
    size_t max_bytes() const { return client->options.max_response_bytes; }
  };
  struct Completions {
    std::mutex mutex;
    std::vector<HookResult> results;
    std::atomic<int> fd{-1};  // re-attachable while running (a submitter going away detaches)
  };

  State(HookClientOptions o, unsigned submitters, HookStats& s) : options(std::move(o)), stats(s) {
    for (unsigned i = 0; i < submitters; ++i) completions.push_back(std::make_unique<Completions>());
  }

  const HookClientOptions options;
  HookStats& stats;
  std::vector<std::unique_ptr<Completions>> completions;

  std::mutex mutex;            // guards queue, stopping
  std::deque<Pending> queue;   // submitted, not started
  bool stopping = false;
  std::atomic<size_t> total{0};  // queued + in flight

  CURLM* multi = nullptr;
  std::thread thread;
  // Hook thread only.
  std::vector<CURL*> idle;  // easy handles kept for reuse
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> running;

  static size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t n = size * count;
    if (t->answer.size() + n > t->max_bytes()) {
      t->too_long = true;
      return 0;  // CURLE_WRITE_ERROR ends the transfer
    }
    t->answer.append(data, n);
    return n;
  }

  void complete(Pending& p, HookResult r) {
    r.cookie = p.request.cookie;
    r.kind = p.request.kind;
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - p.submitted);
    const size_t kind = static_cast<size_t>(r.kind);
    stats.requests[kind][label_of(r)].fetch_add(1, std::memory_order_relaxed);
    if (r.outcome != HookOutcome::Stopped) {
      const double seconds = double(r.latency.count()) / 1e6;
      for (size_t b = 0; b < HookStats::kBuckets; ++b)
        if (seconds <= HookStats::kBucketsSeconds[b]) stats.latency_bucket[kind][b].fetch_add(1, std::memory_order_relaxed);
      stats.latency_count[kind].fetch_add(1, std::memory_order_relaxed);
      stats.latency_us_sum[kind].fetch_add(uint64_t(r.latency.count()), std::memory_order_relaxed);
    }
    total.fetch_sub(1, std::memory_order_relaxed);
    stats.queued.store(total.load(std::memory_order_relaxed), std::memory_order_relaxed);
    Completions& c = *completions[p.submitter];
    {
      std::lock_guard lock(c.mutex);
      c.results.push_back(std::move(r));
    }
    if (const int fd = c.fd.load(std::memory_order_acquire); fd >= 0) {
      const uint64_t one = 1;
      // A full eventfd counter (never in practice) still leaves it readable: the loop wakes.
      [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
    }
  }

  void fail(Pending& p, HookOutcome outcome, std::string error) {
    HookResult r;
    r.outcome = outcome;
    r.error = std::move(error);
    complete(p, std::move(r));
  }

  CURL* easy_handle() {
    if (!idle.empty()) {
      CURL* e = idle.back();
      idle.pop_back();
      curl_easy_reset(e);
      return e;
    }
    return curl_easy_init();
  }

  void start(Pending p) {
    const auto now = Clock::now();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(p.submitted + options.timeout - now);
    if (left.count() <= 0) return fail(p, HookOutcome::Timeout, "no slot before the hook timeout");
    CURL* e = easy_handle();
    if (!e) return fail(p, HookOutcome::Transport, "libcurl could not start a transfer");
    auto t = std::make_unique<Transfer>();
    t->pending = std::move(p);
    t->client = this;
    const HookRequest& req = t->pending.request;
    const int64_t unix_now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
    t->headers = curl_slist_append(t->headers, "Expect:");  // no 100-continue round trip for larger bodies
    t->headers = curl_slist_append(t->headers, ("webhook-id: " + req.webhook_id).c_str());
    t->headers = curl_slist_append(t->headers, ("webhook-timestamp: " + std::to_string(unix_now)).c_str());
    if (!options.key.empty())
      t->headers = curl_slist_append(
          t->headers, ("webhook-signature: " + webhook_signature(options.key, req.webhook_id, unix_now, req.body)).c_str());
    curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(req.body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a threaded daemon
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, long(left.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, long(left.count()));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
      curl_slist_free_all(t->headers);
      idle.push_back(e);
      return fail(t->pending, HookOutcome::Transport, "libcurl refused the transfer");
    }
    running.emplace(e, std::move(t));
  }

  void finish(CURL* e, CURLcode rc) {
    auto it = running.find(e);
    if (it == running.end()) return;
    std::unique_ptr<Transfer> t = std::move(it->second);
    running.erase(it);
    curl_multi_remove_handle(multi, e);
    HookResult r;
    long status = 0, connects = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    if (connects > 0) stats.connections_made.fetch_add(uint64_t(connects), std::memory_order_relaxed);
    if (t->too_long) {
      r.outcome = HookOutcome::TooLarge;
      r.error = "the answer is longer than " + std::to_string(options.max_response_bytes) + " bytes";
    } else if (rc == CURLE_OK) {
      r.outcome = HookOutcome::Answered;
      r.status = status;
      r.body = std::move(t->answer);
      r.reused_connection = connects == 0;
    } else {
      switch (rc) {
        case CURLE_OPERATION_TIMEDOUT: r.outcome = HookOutcome::Timeout; break;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY: r.outcome = HookOutcome::Unreachable; break;
        default: r.outcome = HookOutcome::Transport; break;
      }
      r.error = t->error[0] ? t->error : curl_easy_strerror(rc);
    }
    curl_slist_free_all(t->headers);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, nullptr);
    idle.push_back(e);
    complete(t->pending, std::move(r));
  }

  // Starts what may start, ends queued requests whose time ran out; returns how long the
  // next poll may sleep before a queued request's deadline.
  std::chrono::milliseconds start_queued() {
    std::deque<Pending> ready, expired;
    std::chrono::milliseconds sleep{1000};
    {
      std::lock_guard lock(mutex);
      const auto now = Clock::now();
      while (!queue.empty() && running.size() + ready.size() < options.max_in_flight) {
        ready.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      // The rest wait in submission order; the oldest's deadline bounds the sleep.
      while (!queue.empty() && queue.front().submitted + options.timeout <= now) {
        expired.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      if (!queue.empty())
        sleep = std::min(sleep, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    queue.front().submitted + options.timeout - now) + std::chrono::milliseconds(1));
    }
    for (Pending& p : expired) fail(p, HookOutcome::Timeout, "no slot before the hook timeout");
    for (Pending& p : ready) start(std::move(p));
    return sleep;
  }

  void run() {
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (stopping) break;
      }
      const std::chrono::milliseconds sleep = start_queued();
      int still = 0;
      curl_multi_perform(multi, &still);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi, &left))
        if (m->msg == CURLMSG_DONE) finish(m->easy_handle, m->data.result);
      curl_multi_poll(multi, nullptr, 0, int(sleep.count()), nullptr);
    }
    // Stopping: everything not finished ends Stopped, so every accepted submit has its result.
    while (!running.empty()) {
      auto it = running.begin();
      CURL* e = it->first;
      std::unique_ptr<Transfer> t = std::move(it->second);
      running.erase(it);
      curl_multi_remove_handle(multi, e);
      curl_slist_free_all(t->headers);
      curl_easy_cleanup(e);
      fail(t->pending, HookOutcome::Stopped, "the hook client stopped");
    }
    std::deque<Pending> rest;
    {
      std::lock_guard lock(mutex);
      rest.swap(queue);
    }
    for (Pending& p : rest) fail(p, HookOutcome::Stopped, "the hook client stopped");
  }
};

HookClient::HookClient(HookClientOptions options, unsigned submitters)
    : state_(std::make_unique<State>(std::move(options), submitters, stats_)) {
  // Before any thread of ours uses libcurl (curl_global_init is not thread-safe on every
  // libcurl version Debian has shipped); reference-counted with the destructor's cleanup.
  curl_global_init(CURL_GLOBAL_DEFAULT);
  state_->multi = curl_multi_init();
  curl_multi_setopt(state_->multi, CURLMOPT_MAXCONNECTS, long(state_->options.max_connections));
}

HookClient::~HookClient() {
  stop();
  for (CURL* e : state_->idle) curl_easy_cleanup(e);
  if (state_->multi) curl_multi_cleanup(state_->multi);
  curl_global_cleanup();
}

void HookClient::attach(unsigned submitter, int notify_fd) {
  state_->completions.at(submitter)->fd.store(notify_fd, std::memory_order_release);
}

void HookClient::start() {
  if (!state_->multi || state_->thread.joinable()) return;
  state_->thread = std::thread([s = state_.get()] { s->run(); });
}

void HookClient::stop() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  if (state_->multi) curl_multi_wakeup(state_->multi);
  if (state_->thread.joinable()) {
    state_->thread.join();
  } else {
    // Never started: what was accepted still gets its Stopped result.
    std::deque<State::Pending> rest;
    {
      std::lock_guard lock(state_->mutex);
      rest.swap(state_->queue);
    }
    for (State::Pending& p : rest) state_->fail(p, HookOutcome::Stopped, "the hook client stopped");
  }
}

bool HookClient::submit(unsigned submitter, HookRequest request) {
  State& s = *state_;
  if (submitter >= s.completions.size() || !printable(request.webhook_id) || !printable(request.url)) return false;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopping || !s.multi || s.total.load(std::memory_order_relaxed) >= s.options.max_queued) {
      stats_.requests[static_cast<size_t>(request.kind)][kQueueFull].fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    s.total.fetch_add(1, std::memory_order_relaxed);
    stats_.queued.store(s.total.load(std::memory_order_relaxed), std::memory_order_relaxed);
    s.queue.push_back(State::Pending{std::move(request), submitter, Clock::now()});
  }
  curl_multi_wakeup(s.multi);
  return true;
}

void HookClient::take(unsigned submitter, std::vector<HookResult>* out) {
  State::Completions& c = *state_->completions.at(submitter);
  std::lock_guard lock(c.mutex);
  if (out->empty()) {
    out->swap(c.results);
  } else {
    for (HookResult& r : c.results) out->push_back(std::move(r));
    c.results.clear();
  }
}

void HookClient::render_metrics(std::string* out) const {
  char line[256];
  out->append("# HELP roomcast_hook_requests_total Requests to the app's backend by hook and result.\n"
              "# TYPE roomcast_hook_requests_total counter\n");
  for (size_t k = 0; k < kHookKinds; ++k) {
    const std::string_view kind = hook_kind_label(static_cast<HookKind>(k));
    for (size_t r = 0; r < kHookResultLabels; ++r) {
      const uint64_t n = stats_.requests[k][r].load(std::memory_order_relaxed);
      if (n == 0 && r != k2xx) continue;
      snprintf(line, sizeof line, "roomcast_hook_requests_total{hook=\"%.*s\",result=\"%.*s\"} %" PRIu64 "\n",
               int(kind.size()), kind.data(), int(kResultLabels[r].size()), kResultLabels[r].data(), n);
      out->append(line);
    }
  }
  out->append("# HELP roomcast_hook_latency_seconds Submit to result of requests to the app's backend.\n"
              "# TYPE roomcast_hook_latency_seconds histogram\n");
  for (size_t k = 0; k < kHookKinds; ++k) {
    const std::string_view kind = hook_kind_label(static_cast<HookKind>(k));
    for (size_t b = 0; b < HookStats::kBuckets; ++b) {
      snprintf(line, sizeof line, "roomcast_hook_latency_seconds_bucket{hook=\"%.*s\",le=\"%g\"} %" PRIu64 "\n",
               int(kind.size()), kind.data(), HookStats::kBucketsSeconds[b],
               stats_.latency_bucket[k][b].load(std::memory_order_relaxed));
      out->append(line);
    }
    const uint64_t count = stats_.latency_count[k].load(std::memory_order_relaxed);
    snprintf(line, sizeof line,
             "roomcast_hook_latency_seconds_bucket{hook=\"%.*s\",le=\"+Inf\"} %" PRIu64 "\n"
             "roomcast_hook_latency_seconds_sum{hook=\"%.*s\"} %.6f\n"
             "roomcast_hook_latency_seconds_count{hook=\"%.*s\"} %" PRIu64 "\n",
             int(kind.size()), kind.data(), count, int(kind.size()), kind.data(),
             double(stats_.latency_us_sum[k].load(std::memory_order_relaxed)) / 1e6, int(kind.size()), kind.data(), count);
    out->append(line);
  }
}

}  // namespace roomcast
