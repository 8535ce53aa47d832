// tests/integration/receive_pool_test.cpp: more sockets with data at once than the io_uring
// receive pool has buffers (README "Flags": --recv-buffers). Every message still arrives,
// and a connection that found the pool empty waits for buffers instead of being re-armed
// into the same failure over and over (roomcast_receive_buffers_exhausted_total).
// On the epoll backend there is no pool: the same traffic must pass and the counter stays 0.
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace it {
namespace {

constexpr int kRooms = 4;
constexpr int kPerRoom = 50;
constexpr int kConnections = kRooms * kPerRoom;

// Value of an unlabelled counter in /metrics; -1 when it is missing.
double CounterValue(uint16_t port, const std::string& name) {
  HttpResponse r = http_get(port, "/metrics");
  if (!r.ok || r.status != 200) return -1;
  const std::string key = "\n" + name + " ";
  size_t at = r.body.find(key);
  if (at == std::string::npos) return -1;
  return std::strtod(r.body.c_str() + at + key.size(), nullptr);
}

class ReceivePoolTest : public RoomcastTest {};

TEST_F(ReceivePoolTest, BurstLargerThanThePoolIsServedInFullAndEachStarvedReceiveWaitsOnce) {
  // 16 buffers for 200 sockets that all send in the same instant. The batch window
  // (default 5 ms) makes the server take each burst in one batch.
  StartServer({"--recv-buffers", "16", "--rate-limit", "1000", "--rate-burst", "1000"});
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    auto c = Connect("pool-" + std::to_string(i % kRooms));
    ASSERT_TRUE(c) << "connection " << i;
    clients.push_back(std::move(c));
  }

  // Wave 1: every client sends its join back to back.
  for (int i = 0; i < kConnections; ++i)
    ASSERT_TRUE(clients[i]->send_text(join_msg("u" + std::to_string(i)))) << "join " << i;
  for (int i = 0; i < kConnections; ++i) {
    JsonResult w = clients[i]->recv_until_type("welcome", std::chrono::milliseconds(10000));
    ASSERT_TRUE(w.ok) << "client " << i << " got no welcome: " << w.error;
  }
  // Presence of the later joiners reaches the earlier ones; drain it so wave 2 reads cursors.
  // Member k of a room saw (kPerRoom - 1 - k) later joins: read until the room is complete.
  for (int i = 0; i < kConnections; ++i) {
    const int later = kPerRoom - 1 - i / kRooms;
    for (int k = 0; k < later; ++k) {
      JsonResult p = clients[i]->recv_until_type("presence", std::chrono::milliseconds(10000));
      ASSERT_TRUE(p.ok) << "client " << i << " presence " << k << " of " << later << ": " << p.error;
    }
  }

  // Wave 2: every client sends one cursor back to back; each reaches its 49 room mates.
  for (int i = 0; i < kConnections; ++i)
    ASSERT_TRUE(clients[i]->send_text(cursor_msg(i, 0, 0, 0, 0, 0))) << "cursor " << i;
  for (int r = 0; r < kRooms; ++r) {
    WsClient& first = *clients[r];  // client r is the first member of room r
    std::set<std::string> senders;
    for (int k = 0; k < kPerRoom - 1; ++k) {
      JsonResult c = first.recv_until_type("cursor", std::chrono::milliseconds(10000));
      ASSERT_TRUE(c.ok) << "room " << r << " cursor " << k << ": " << c.error;
      senders.insert(sget(*c, "session", ""));
    }
    EXPECT_EQ(senders.size(), size_t(kPerRoom - 1)) << "room " << r << " cursors from distinct senders";
  }

  // Each wave can leave a socket without a buffer at most about once; re-arming a
  // starved receive straight away instead fails ~N^2/(2*pool) times per wave (~1,200).
  const double exhausted = CounterValue(port(), "roomcast_receive_buffers_exhausted_total");
  ASSERT_GE(exhausted, 0) << "counter missing from /metrics";
  EXPECT_LE(exhausted, 3.0 * kConnections) << "starved receives re-armed into the same failure";
  const char* args = std::getenv("IT_ROOMCAST_ARGS");
  if (args && std::string(args).find("epoll") != std::string::npos) {
    EXPECT_EQ(exhausted, 0) << "epoll has no shared receive pool";
  }
}

}  // namespace
}  // namespace it
