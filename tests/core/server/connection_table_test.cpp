// Unit tests for core/server/connection_table.h: the close state machine (Handshake, Open,
// Closing, Dead) behind the one verb end(c, Ending), freeing only once the kernel holds
// nothing, generations, the handshake budget and member admission. A real epoll loop
// and socketpairs: "freed" is checked as the client sees it (its socket reaches EOF).
#include "core/server/connection_table.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/core/server/io_core.h"

namespace roomcast {
namespace {

using testing_support::close_code_of;
using testing_support::IoCore;
using testing_support::read_peer;

class ConnectionTableTest : public ::testing::Test {
 protected:
  ConnectionTableTest() {
    config_.threads = 1;
    config_.max_handshakes_per_ip = 2;
  }
  IoCore& core(size_t max_connections = 1000, size_t max_per_address = 1000) {
    if (!core_) core_.emplace(config_, max_connections, max_per_address);
    return *core_;
  }
  ConnectionTable& table() { return *core().table; }
  bool peer_sees_eof(int peer) {
    bool eof = false;
    read_peer(peer, &eof);
    return eof;
  }
  Config config_;
  std::optional<IoCore> core_;
};

TEST_F(ConnectionTableTest, ADropCancelsAReceiveAndASendInFlightAndFreesTheSlotOnlyOnceBothReported) {
  int peer;
  Connection& c = core().open(&peer);
  core().arm_recv(c);
  core().stall_send(c);
  ASSERT_TRUE(c.recv_armed);
  const uint32_t slot = c.slot, generation = c.generation;
  table().end(c, Ending::drop("test"), core().now);
  EXPECT_EQ(c.state, ConnState::Dead);
  table().sweep();
  ASSERT_NE(table().lookup(slot, generation), nullptr) << "the kernel still holds a receive and a send: not freed";
  EXPECT_FALSE(peer_sees_eof(peer)) << "nor its descriptor closed";
  for (int i = 0; i < 5 && table().live() > 0; ++i) core().iterate();  // both cancels report
  EXPECT_EQ(table().live(), 0u) << "a send to a peer that never reads does not keep a dead connection";
  EXPECT_EQ(table().lookup(slot, generation), nullptr);
  EXPECT_TRUE(peer_sees_eof(peer));
}

TEST_F(ConnectionTableTest, ALookupNeverReturnsAConnectionWhoseSlotWasReused) {
  int peer1, peer2;
  Connection& first = core().open(&peer1);
  const uint32_t slot = first.slot, generation = first.generation;
  table().end(first, Ending::drop("gone"), core().now);
  table().sweep();
  Connection& second = core().open(&peer2);
  ASSERT_EQ(second.slot, slot) << "the slot is reused";
  EXPECT_EQ(table().lookup(slot, generation), nullptr) << "a late completion for the first finds nothing";
  EXPECT_EQ(table().lookup(second.slot, second.generation), &second);
}

TEST_F(ConnectionTableTest, ACloseQueuesOneCloseFrameAndLaterEndingsOtherThanDropAreIgnored) {
  int peer;
  Connection& c = core().open(&peer);
  table().end(c, Ending::close(kCloseGoingAway, "first"), core().now);
  table().end(c, Ending::close(kClosePolicyViolation, "second"), core().now);
  table().end(c, Ending::respond(400, "HTTP/1.1 400 Bad Request\r\n\r\n"), core().now);
  EXPECT_EQ(c.state, ConnState::Closing);
  EXPECT_EQ(c.close_code, kCloseGoingAway);
  core().iterate();
  std::string got = read_peer(peer);
  EXPECT_EQ(close_code_of(got), kCloseGoingAway);
  EXPECT_EQ(got.size(), 2u + 2u + std::string("first").size()) << "exactly one close frame";
  table().end(c, Ending::drop("linger over"), core().now);
  EXPECT_EQ(c.state, ConnState::Dead) << "a Drop ends the drain at once";
}

TEST_F(ConnectionTableTest, ACloseBeforeTheUpgradeIsIgnoredAndAnAnswerLingersAfterItsLastByte) {
  int peer;
  Connection& c = core().open(&peer, ConnState::Handshake);
  table().end(c, Ending::close(kCloseGoingAway, "not a websocket yet"), core().now);
  EXPECT_EQ(c.state, ConnState::Handshake);
  const std::string answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  table().end(c, Ending::respond(404, answer), core().now);
  EXPECT_EQ(c.state, ConnState::Closing);
  EXPECT_EQ(c.deadline.elapsed_ns(core().now), -ConnectionTable::kLingerNs) << "the client has a linger to send its FIN";
  EXPECT_EQ(core().metrics.refusals[size_t(Refusal::NotFound)].get(), 1u);
  core().iterate();
  bool eof = false;
  EXPECT_EQ(read_peer(peer, &eof), answer);
  EXPECT_TRUE(eof) << "half-closed after the answer";
}

TEST_F(ConnectionTableTest, AFullHandshakeBudgetEndsTheOldestConnectionOfThatAddressNeverTheNewcomer) {
  int p1, p2, p3, other;
  Connection& a = core().open(&p1, ConnState::Handshake, "10.0.0.1");
  table().admit_handshake(a, core().now);
  Connection& b = core().open(&p2, ConnState::Handshake, "10.0.0.1");
  table().admit_handshake(b, core().now);
  Connection& d = core().open(&other, ConnState::Handshake, "10.0.0.9");
  table().admit_handshake(d, core().now);
  Connection& newcomer = core().open(&p3, ConnState::Handshake, "10.0.0.1");
  table().admit_handshake(newcomer, core().now);
  EXPECT_EQ(a.state, ConnState::Dead) << "the oldest of the address made room";
  EXPECT_EQ(b.state, ConnState::Handshake);
  EXPECT_EQ(d.state, ConnState::Handshake) << "another address is not touched";
  EXPECT_EQ(newcomer.state, ConnState::Handshake);
  EXPECT_EQ(core().metrics.refusals[size_t(Refusal::Evicted)].get(), 1u);
  table().sweep();
  EXPECT_TRUE(peer_sees_eof(p1));
}

TEST_F(ConnectionTableTest, UnsentAnswerBytesOverTheAddressBudgetEndTheOldestAnswer) {
  config_.max_handshakes_per_ip = 100;
  const std::string big(ConnectionTable::kAnswerBytesPerAddress / 3 + 1024, 'x');
  int p1, p2, p3;
  Connection& first = core().open(&p1, ConnState::Handshake);
  table().admit_handshake(first, core().now);
  table().end(first, Ending::respond(200, big), core().now);
  Connection& second = core().open(&p2, ConnState::Handshake);
  table().admit_handshake(second, core().now);
  table().end(second, Ending::respond(200, big), core().now);
  EXPECT_EQ(first.state, ConnState::Closing) << "two answers that fit are both kept";
  Connection& third = core().open(&p3, ConnState::Handshake);
  table().admit_handshake(third, core().now);
  table().end(third, Ending::respond(200, big), core().now);
  EXPECT_EQ(first.state, ConnState::Dead) << "the oldest unsent answer of the address is dropped";
  EXPECT_EQ(second.state, ConnState::Closing);
  EXPECT_EQ(third.state, ConnState::Closing);
}

TEST_F(ConnectionTableTest, AJoiningMemberTakesAPlaceOrLearnsTheLimitAndAResumeAlwaysGetsOne) {
  int p1, p2, p3;
  core(/*max_connections=*/10, /*max_per_address=*/1);
  Connection& a = core().open(&p1);
  Connection& b = core().open(&p2);
  Connection& r = core().open(&p3);
  EXPECT_EQ(table().admit_member(a.member, false), Admission::Admitted);
  EXPECT_EQ(table().admit_member(a.member, false), Admission::Admitted) << "asking again takes no second place";
  EXPECT_EQ(core().limits.open(), 1u);
  EXPECT_EQ(table().admit_member(b.member, false), Admission::OverPerAddress);
  EXPECT_FALSE(b.admitted);
  EXPECT_EQ(table().admit_member(r.member, true), Admission::Admitted) << "a resume is never refused";
  EXPECT_EQ(core().limits.open(), 2u);
  table().end(a, Ending::drop("gone"), core().now);
  table().end(r, Ending::drop("gone"), core().now);
  table().sweep();
  EXPECT_EQ(core().limits.open(), 0u) << "a freed connection gives its place back";
}

TEST_F(ConnectionTableTest, TheRoomServiceClosingAMemberClosesItsConnection) {
  int peer;
  Connection& c = core().open(&peer);
  table().close_member(c.member, kCloseReplaced, "replaced");
  EXPECT_EQ(c.state, ConnState::Closing);
  core().iterate();
  EXPECT_EQ(close_code_of(read_peer(peer)), kCloseReplaced);
}

}  // namespace
}  // namespace roomcast
