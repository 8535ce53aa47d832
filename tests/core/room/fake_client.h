// tests/core/room/fake_client.h: a room-service member without a socket, for unit tests.
//
// Owns a SendQueue and the Member the service knows it as; reads back what the service
// queued as a socket would get it (WebSocket text frames, in order) and records the
// closes the service asked for. Used by room_service_test.cpp and cluster_store_test.cpp.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "core/room/member.h"
#include "core/room/room_service.h"
#include "net/send_queue.h"

namespace roomcast::testing_support {

struct FakeClient : MemberLink {
  // `service`, if given, paces a `since` replay into the queue as take() drains it.
  FakeClient(DirtyList* dirty, uint32_t slot, std::string room, RoomService* service_ = nullptr)
      : service(service_), member(dirty, slot, this) {
    member.set_room(std::move(room));
    member.rate = RateLimiter(1e9, 1e9, 0);  // no limit unless a test sets one
  }

  std::vector<std::string> take() {
    std::vector<std::string> payloads;
    member.out.drop_superseded();
    // A replay in progress is queued as the socket drains, as the output step does.
    auto pump = [&] { return service && member.replaying ? service->replay_pump(member) : SIZE_MAX; };
    while ((void)pump(), !member.out.empty()) {
      iovec iov[64];
      size_t n = member.out.gather(iov, 64, 1 << 20, pump());
      std::string bytes;
      for (size_t i = 0; i < n; ++i) bytes.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      const size_t frames_before = member.out.frames();
      member.out.complete(bytes.size());
      if (service && member.replaying) service->replay_sent(member, frames_before - member.out.frames(), bytes.size());
      size_t at = 0;
      while (at + 2 <= bytes.size()) {
        const auto b = reinterpret_cast<const uint8_t*>(bytes.data()) + at;
        size_t len = b[1] & 0x7F, head = 2;
        if (len == 126) {
          len = (size_t(b[2]) << 8) | b[3];
          head = 4;
        } else if (len == 127) {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
          head = 10;
        }
        EXPECT_EQ(b[0], 0x81) << "the service sends only final text frames";
        payloads.emplace_back(bytes.data() + at + head, len);
        at += head + len;
      }
    }
    return payloads;
  }
  // Everything queued, as raw payloads (pending ones first).
  std::vector<std::string> all() {
    std::vector<std::string> got = std::move(pending_);
    pending_.clear();
    for (std::string& p : take()) got.push_back(std::move(p));
    return got;
  }
  rapidjson::Document next() {
    if (pending_.empty()) pending_ = take();
    rapidjson::Document d;
    if (pending_.empty()) {
      ADD_FAILURE() << "nothing queued";
      d.SetObject();
      return d;
    }
    d.Parse(pending_.front().c_str(), pending_.front().size());
    pending_.erase(pending_.begin());
    EXPECT_FALSE(d.HasParseError());
    return d;
  }
  bool nothing_queued() {
    if (!pending_.empty()) return false;
    pending_ = take();
    return pending_.empty();
  }
  void drain() { all(); }

  void close_member(Member&, uint16_t code, std::string_view reason) override {
    closed_with = code;
    close_reason = reason;
  }
  // The limits a test sets (Admitted unless told otherwise); counts the calls.
  Admission admit_member(Member&, bool resume) override {
    ++admissions;
    return resume ? Admission::Admitted : admission;
  }
  Admission admission = Admission::Admitted;
  int admissions = 0;

  RoomService* service;  // may be null
  Member member;
  std::vector<std::string> pending_;
  uint16_t closed_with = 0;
  std::string close_reason;
};

}  // namespace roomcast::testing_support
