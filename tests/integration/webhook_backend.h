// tests/integration/webhook_backend.h: a test backend for webhooks: answers `down_status`
// (a 5xx) while `down`, else 200, and records per room the webhook-ids it answered 200,
// in the order it answered them, with their bodies. Header-only; shared by the webhook
// integration tests (with --data-dir and with --redis).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "../core/backend/test_http_server.h"  // header-only, no server code
#include "rj.h"

namespace it {

class WebhookBackend {
 public:
  using Request = roomcast::test::TestHttpServer::Request;
  using Response = roomcast::test::TestHttpServer::Response;

  explicit WebhookBackend(int down_status = 503)
      : down_status_(down_status), server_([this](const Request& r) {
          const auto id = r.headers.find("webhook-id");
          if (id == r.headers.end()) return Response{400, ""};
          if (down.load()) {
            refused.fetch_add(1);
            return Response{down_status_, "{}"};
          }
          std::lock_guard lock(mutex_);
          rapidjson::Document body;
          body.Parse(r.body.c_str(), r.body.size());
          const std::string room = body.IsObject() && body.HasMember("room") && body["room"].IsString()
                                       ? body["room"].GetString()
                                       : "?";
          accepted_[room].push_back(id->second);
          bodies_[id->second] = r.body;
          return Response{200, ""};
        }) {}

  std::string url() const { return server_.url("/events"); }
  std::vector<std::string> accepted(const std::string& room) {
    std::lock_guard lock(mutex_);
    return accepted_[room];
  }
  std::string body(const std::string& id) {
    std::lock_guard lock(mutex_);
    return bodies_[id];
  }
  size_t total() {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (auto& [room, ids] : accepted_) n += ids.size();
    return n;
  }

  std::atomic<bool> down{false};
  std::atomic<int> refused{0};

 private:
  const int down_status_;
  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> accepted_;
  std::map<std::string, std::string> bodies_;
  roomcast::test::TestHttpServer server_;  // last: its thread stops before the maps go
};

}  // namespace it
