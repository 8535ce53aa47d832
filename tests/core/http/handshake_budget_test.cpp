// Unit tests for core/http/handshake_budget.h: who makes room when pre-upgrade sockets pile up.
#include "core/http/handshake_budget.h"

#include <gtest/gtest.h>

namespace roomcast {
namespace {

PeerAddress addr(uint8_t last) {
  PeerAddress p;
  p.bytes[10] = p.bytes[11] = 0xFF;
  p.bytes[12] = 127;
  p.bytes[15] = last;
  return p;
}

// What the Worker does for every accepted socket.
void admit(HandshakeBudget& b, uint32_t slot, const PeerAddress& peer, std::vector<uint32_t>* evicted = nullptr) {
  for (uint32_t v; (v = b.victim_for(peer)) != HandshakeBudget::kNone;) {
    b.remove(v);
    if (evicted) evicted->push_back(v);
  }
  b.add(slot, peer);
}

TEST(HandshakeBudget, BelowBothLimitsNobodyIsEvicted) {
  HandshakeBudget b(10, 3);
  for (uint32_t s = 0; s < 3; ++s) {
    EXPECT_EQ(b.victim_for(addr(1)), HandshakeBudget::kNone);
    b.add(s, addr(1));
  }
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.count_for(addr(1)), 3u);
}

TEST(HandshakeBudget, AFullAddressEvictsItsOwnOldestNotTheNewcomerNorOtherAddresses) {
  HandshakeBudget b(100, 3);
  admit(b, 0, addr(1));
  admit(b, 1, addr(2));  // someone else, older than the attacker's later sockets
  admit(b, 2, addr(1));
  admit(b, 3, addr(1));
  std::vector<uint32_t> evicted;
  admit(b, 4, addr(1), &evicted);
  EXPECT_EQ(evicted, std::vector<uint32_t>{0});
  admit(b, 5, addr(1), &evicted);
  EXPECT_EQ(evicted, (std::vector<uint32_t>{0, 2}));
  EXPECT_TRUE(b.contains(1)) << "another address is never evicted for a full address";
  EXPECT_TRUE(b.contains(5));
  EXPECT_EQ(b.count_for(addr(1)), 3u);
}

TEST(HandshakeBudget, AFullThreadEvictsTheOldestOfAll) {
  HandshakeBudget b(3, 3);
  admit(b, 0, addr(1));
  admit(b, 1, addr(2));
  admit(b, 2, addr(3));
  std::vector<uint32_t> evicted;
  admit(b, 3, addr(4), &evicted);
  EXPECT_EQ(evicted, std::vector<uint32_t>{0});
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.count_for(addr(1)), 0u);
}

TEST(HandshakeBudget, UpgradedConnectionsLeaveAndFreeTheirPlace) {
  HandshakeBudget b(2, 2);
  admit(b, 0, addr(1));
  admit(b, 1, addr(1));
  b.remove(0);  // upgraded
  std::vector<uint32_t> evicted;
  admit(b, 2, addr(1), &evicted);
  EXPECT_TRUE(evicted.empty());
  b.remove(7);  // never added: ignored
  b.remove(0);  // already gone: ignored
  EXPECT_EQ(b.size(), 2u);
}

TEST(HandshakeBudget, AnAttackerRenewingIdleSocketsNeverEvictsARealClientThatArrivedLater) {
  // 1,000 attacker sockets from one address against a budget of 8: the real client,
  // once added, survives the next 7 attacker sockets, which is far more than arrive in
  // the round trip its request head needs.
  HandshakeBudget b(64, 8);
  uint32_t slot = 0;
  for (int i = 0; i < 1000; ++i) admit(b, slot++, addr(9));
  const uint32_t real = slot++;
  admit(b, real, addr(9));
  for (int i = 0; i < 7; ++i) admit(b, slot++, addr(9));
  EXPECT_TRUE(b.contains(real));
  EXPECT_EQ(b.count_for(addr(9)), 8u);
}

TEST(HandshakeBudget, SlotsAreReusedSafely) {
  HandshakeBudget b(4, 4);
  for (int round = 0; round < 100; ++round) {
    for (uint32_t s = 0; s < 4; ++s) admit(b, s, addr(uint8_t(round % 3)));
    for (uint32_t s = 0; s < 4; ++s) b.remove(s);
    ASSERT_EQ(b.size(), 0u);
  }
}

// What the ConnectionTable does before a connection holds `bytes` more of an answer.
void charge(HandshakeBudget& b, uint32_t slot, size_t bytes, std::vector<uint32_t>* evicted) {
  for (uint32_t v; (v = b.victim_for_bytes(slot, bytes)) != HandshakeBudget::kNone;) {
    b.remove(v);
    evicted->push_back(v);
  }
  b.charge(slot, bytes);
}

TEST(HandshakeBudget, UnsentAnswerBytesOverTheAddressBudgetEvictItsOwnOldestAnswerNeverTheOneCharged) {
  HandshakeBudget b(100, 100, 1000, 300);
  std::vector<uint32_t> evicted;
  admit(b, 0, addr(1));
  admit(b, 1, addr(2));
  admit(b, 2, addr(1));
  admit(b, 3, addr(1));
  charge(b, 0, 100, &evicted);
  charge(b, 1, 250, &evicted);
  charge(b, 2, 150, &evicted);
  EXPECT_TRUE(evicted.empty());
  EXPECT_EQ(b.bytes_for(addr(1)), 250u);
  charge(b, 3, 100, &evicted);  // 350 > 300: addr(1)'s oldest goes, not addr(2)'s
  EXPECT_EQ(evicted, std::vector<uint32_t>{0});
  EXPECT_EQ(b.bytes_for(addr(1)), 250u);
  EXPECT_EQ(b.bytes_for(addr(2)), 250u);
  evicted.clear();
  charge(b, 3, 400, &evicted);  // alone over the address budget: the others of its address go, never itself
  EXPECT_EQ(evicted, std::vector<uint32_t>{2});
  EXPECT_TRUE(b.contains(3));
}

TEST(HandshakeBudget, UnsentAnswerBytesOverTheTotalEvictTheOldestConnectionHoldingAny) {
  HandshakeBudget b(100, 100, 500, 1000);
  std::vector<uint32_t> evicted;
  admit(b, 0, addr(1));  // holds nothing: evicting it frees nothing
  admit(b, 1, addr(2));
  admit(b, 2, addr(3));
  charge(b, 1, 300, &evicted);
  charge(b, 2, 300, &evicted);
  EXPECT_EQ(evicted, std::vector<uint32_t>{1});
  EXPECT_EQ(b.bytes(), 300u);
  b.remove(2);
  EXPECT_EQ(b.bytes(), 0u) << "a connection that leaves gives its bytes back";
  EXPECT_EQ(b.bytes_for(addr(3)), 0u);
}

TEST(HandshakeBudget, AProxysConnectionsCountInTheTotalOnlyUntilTheirClientIsKnown) {
  HandshakeBudget b(100, 2);
  const PeerAddress proxy = addr(1);
  // 50 connections from one proxy: none evicts another, none counts under its address.
  for (uint32_t s = 0; s < 50; ++s) {
    EXPECT_EQ(b.victim_for(proxy, /*per_address=*/false), HandshakeBudget::kNone);
    b.add(s, proxy, /*per_address=*/false);
  }
  EXPECT_EQ(b.count_for(proxy), 0u);
  EXPECT_EQ(b.size(), 50u);
  // A direct client of the same address is held to its own budget, and never evicts
  // the proxy's connections to make room.
  std::vector<uint32_t> evicted;
  for (uint32_t s = 50; s < 53; ++s) admit(b, s, proxy, &evicted);
  EXPECT_EQ(evicted, std::vector<uint32_t>{50});
  // Re-keyed under its client (what ConnectionTable::client_known does).
  b.remove(7);
  admit(b, 7, addr(2));
  EXPECT_EQ(b.count_for(addr(2)), 1u);
  EXPECT_EQ(b.size(), 52u);
  // The total still bounds everyone: the oldest of all makes room.
  for (uint32_t s = 100; s < 148; ++s) b.add(s, proxy, false);
  EXPECT_EQ(b.victim_for(proxy, false), 0u);
}

}  // namespace
}  // namespace roomcast
