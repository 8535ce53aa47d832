// tests/integration/edits_test.cpp: edit relay, seq stamping, ack, history replay with
// `since`, resync (docs/protocol.md 2 and 4: `edit`, `ack`, `resync`, `join.since`).
#include <map>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;

class EditsTest : public RoomcastTest {};

TEST_F(EditsTest, EditIsRelayedWithSessionSeqBuildingOpDataAndAckedOnlyToSender) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  Member c = Join("r", "uc");
  ASSERT_TRUE(c.ws);
  ExpectPresenceJoin({&a}, b);
  ExpectPresenceJoin({&a, &b}, c);

  const std::string data = R"({"height":12.5,"tags":["a","b"],"nested":{"k":null,"t":true}})";
  ASSERT_TRUE(a->send_text(edit_msg("bldg-7", "set_height", data, "m1")));
  IT_ASSERT_JSON(ack, a->recv_json());
  EXPECT_EQ(ack.type(), "ack") << ack.text;
  EXPECT_EQ(iget(*ack, "seq"), 1) << ack.text;
  EXPECT_EQ(sget(*ack, "id"), "m1") << ack.text;
  for (Member* o : {&b, &c}) {
    IT_ASSERT_JSON(e, o->ws->recv_json());
    EXPECT_EQ(e.type(), "edit") << e.text;
    EXPECT_EQ(sget(*e, "session"), a.session) << e.text;
    EXPECT_EQ(iget(*e, "seq"), 1) << e.text;
    EXPECT_EQ(sget(*e, "building"), "bldg-7") << e.text;
    EXPECT_EQ(sget(*e, "op"), "set_height") << e.text;
    ASSERT_TRUE(has(*e, "data")) << e.text;
    EXPECT_TRUE(json_equal((*e)["data"], parse(data))) << e.text;
  }
  EXPECT_TRUE(a->expect_no_message()) << "edit echoed to its sender (besides the ack)";
  EXPECT_TRUE(b->expect_no_message(milliseconds(100)));
}

TEST_F(EditsTest, AckEchoesClientIdWhenSentAndHasNoIdOtherwise) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_TRUE(a->send_text(edit_msg("b1", "op", "", "client-42")));
  IT_ASSERT_JSON(ack1, a->recv_json());
  EXPECT_EQ(ack1.type(), "ack") << ack1.text;
  EXPECT_EQ(sget(*ack1, "id"), "client-42") << ack1.text;
  EXPECT_EQ(iget(*ack1, "seq"), 1) << ack1.text;

  ASSERT_TRUE(a->send_text(edit_msg("b1", "op")));
  IT_ASSERT_JSON(ack2, a->recv_json());
  EXPECT_EQ(ack2.type(), "ack") << ack2.text;
  EXPECT_EQ(iget(*ack2, "seq"), 2) << ack2.text;
  EXPECT_TRUE(!has(*ack2, "id") || (*ack2)["id"].IsNull()) << "ack invented an id: " << ack2.text;
}

TEST_F(EditsTest, EditWithoutDataIsRelayedWithoutDataAndAnyJsonValueIsRelayedAsSent) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  ExpectPresenceJoin({&a}, b);

  ASSERT_TRUE(a->send_text(edit_msg("b1", "delete")));
  IT_ASSERT_JSON(e0, b->recv_json());
  EXPECT_EQ(e0.type(), "edit") << e0.text;
  EXPECT_EQ(sget(*e0, "op"), "delete") << e0.text;
  EXPECT_FALSE(has(*e0, "data")) << "data was not sent: " << e0.text;

  const std::vector<std::string> values = {R"("a string with \"quotes\" and \u00e9")", "42", "-0.125", "true",
                                           R"([1,[2,[3]],{"x":[]}])", R"({})", R"({"deep":{"a":{"b":{"c":[null]}}}})"};
  for (const auto& v : values) {
    ASSERT_TRUE(a->send_text(edit_msg("b1", "set", v)));
    IT_ASSERT_JSON(e, b->recv_json());
    ASSERT_TRUE(has(*e, "data")) << e.text;
    EXPECT_TRUE(json_equal((*e)["data"], parse(v))) << "sent " << v << ", got " << e.text;
  }
  for (size_t i = 0; i < values.size() + 1; ++i) {
    IT_ASSERT_JSON(ack, a->recv_json());
    EXPECT_EQ(ack.type(), "ack") << ack.text;
    EXPECT_EQ(iget(*ack, "seq"), static_cast<long long>(i + 1)) << ack.text;
  }
}

TEST_F(EditsTest, ThreeConcurrentSendersGetGapFreeRoomWideSeqInOneOrderForAll) {
  StartServer({"--rate-limit", "100000", "--rate-burst", "100000"});
  constexpr int kSenders = 3;
  constexpr int kPer = 60;
  std::vector<Member> s;
  for (int i = 0; i < kSenders; ++i) {
    s.push_back(Join("r", "sender" + std::to_string(i)));
    ASSERT_TRUE(s.back().ws);
  }
  Member obs = Join("r", "observer");
  ASSERT_TRUE(obs.ws);
  // Drain the presence joins.
  for (int i = 0; i < kSenders; ++i)
    for (int j = i + 1; j <= kSenders; ++j) {
      IT_ASSERT_JSON(p, s[i]->recv_json());
      ASSERT_EQ(sget(*p, "event"), "join") << p.text;
    }

  struct Result {
    std::vector<std::pair<std::string, long long>> acks;  // id, seq
    std::vector<std::pair<long long, std::string>> edits;  // seq, op (of other senders)
    std::string error;
  };
  std::vector<Result> results(kSenders);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSenders; ++i) {
    threads.emplace_back([&, i] {
      Result& r = results[i];
      for (int k = 0; k < kPer; ++k) {
        std::string id = "s" + std::to_string(i) + "-" + std::to_string(k);
        if (!s[i]->send_text(edit_msg("b", id, std::to_string(k), id))) {
          r.error = "send failed";
          return;
        }
      }
      // Expect kPer acks and (kSenders-1)*kPer edits from the others.
      for (int k = 0; k < kSenders * kPer; ++k) {
        JsonResult m = s[i]->recv_json(milliseconds(8000));
        if (!m.ok) {
          r.error = "after " + std::to_string(k) + " messages: " + m.error;
          return;
        }
        if (m.type() == "ack") r.acks.emplace_back(sget(*m, "id"), iget(*m, "seq"));
        else if (m.type() == "edit") r.edits.emplace_back(iget(*m, "seq"), sget(*m, "op"));
        else {
          r.error = "unexpected " + m.text;
          return;
        }
      }
    });
  }
  // The observer sees every edit once, seq 1..N without gaps, in seq order.
  std::vector<std::pair<long long, std::string>> seen;  // seq, op
  std::string obs_error;
  for (int k = 0; k < kSenders * kPer; ++k) {
    JsonResult m = obs->recv_json(milliseconds(8000));
    if (!m.ok) {
      obs_error = "after " + std::to_string(k) + " edits: " + m.error;
      break;
    }
    if (m.type() != "edit") {
      obs_error = "unexpected " + m.text;
      break;
    }
    seen.emplace_back(iget(*m, "seq"), sget(*m, "op"));
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(obs_error, "");
  ASSERT_EQ(seen.size(), size_t(kSenders * kPer));
  std::map<std::string, long long> seq_of_op;
  std::map<int, int> next_k;  // per-sender next expected counter
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].first, static_cast<long long>(i + 1)) << "seq gap or reorder at position " << i;
    seq_of_op[seen[i].second] = seen[i].first;
    // op is "s<i>-<k>": per-sender order must be preserved.
    const std::string& op = seen[i].second;
    int sender = op[1] - '0';
    int k = std::stoi(op.substr(3));
    EXPECT_EQ(k, next_k[sender]++) << "sender " << sender << " reordered: " << op;
  }
  for (int i = 0; i < kSenders; ++i) {
    const Result& r = results[i];
    ASSERT_EQ(r.error, "") << "sender " << i;
    ASSERT_EQ(r.acks.size(), size_t(kPer)) << "sender " << i;
    for (int k = 0; k < kPer; ++k) {
      std::string id = "s" + std::to_string(i) + "-" + std::to_string(k);
      EXPECT_EQ(r.acks[k].first, id) << "acks out of order for sender " << i;
      EXPECT_EQ(r.acks[k].second, seq_of_op[id]) << "ack seq differs from relayed seq for " << id;
    }
    ASSERT_EQ(r.edits.size(), size_t((kSenders - 1) * kPer)) << "sender " << i;
    long long prev = 0;
    for (auto& [seq, op] : r.edits) {
      EXPECT_GT(seq, prev) << "sender " << i << " saw seq out of order";
      prev = seq;
      EXPECT_NE(op.substr(0, 2), "s" + std::to_string(i)) << "sender " << i << " got its own edit echoed";
      EXPECT_EQ(seq_of_op[op], seq) << "different seq for " << op << " than the observer saw";
    }
  }
  // The next joiner's welcome carries the latest seq.
  JsonResult w;
  Member late = Join("r", "late", std::nullopt, &w);
  ASSERT_TRUE(late.ws);
  EXPECT_EQ(iget(*w, "seq"), kSenders * kPer) << w.text;
}

// Sends `n` edits from `m` (ops "e<seq>") and drains their acks.
void SendEdits(Member& m, int first_seq, int n) {
  for (int i = 0; i < n; ++i) {
    int seq = first_seq + i;
    ASSERT_TRUE(m->send_text(edit_msg("b" + std::to_string(seq), "e" + std::to_string(seq), std::to_string(seq))));
    IT_ASSERT_JSON(ack, m->recv_until_type("ack"));
    ASSERT_EQ(iget(*ack, "seq"), seq) << ack.text;
  }
}

TEST_F(EditsTest, JoinWithSinceGetsWelcomeThenMissedEditsInOrderThenLiveTraffic) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_NO_FATAL_FAILURE(SendEdits(a, 1, 6));

  auto c = Connect("r");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("ub", "B", "", 2)));
  IT_ASSERT_JSON(w, c->recv_json());
  ASSERT_EQ(w.type(), "welcome") << "welcome must come before the replay: " << w.text;
  EXPECT_EQ(iget(*w, "seq"), 6) << w.text;
  for (int seq = 3; seq <= 6; ++seq) {
    IT_ASSERT_JSON(e, c->recv_json());
    ASSERT_EQ(e.type(), "edit") << e.text;
    EXPECT_EQ(iget(*e, "seq"), seq) << e.text;
    EXPECT_EQ(sget(*e, "op"), "e" + std::to_string(seq)) << e.text;
    EXPECT_EQ(sget(*e, "building"), "b" + std::to_string(seq)) << e.text;
    EXPECT_EQ(sget(*e, "session"), a.session) << e.text;
    EXPECT_EQ(iget(*e, "data"), seq) << e.text;
  }
  // Then live traffic.
  IT_ASSERT_JSON(p, a->recv_json());
  EXPECT_EQ(sget(*p, "event"), "join") << p.text;
  ASSERT_TRUE(a->send_text(edit_msg("b7", "e7")));
  IT_ASSERT_JSON(e7, c->recv_json());
  EXPECT_EQ(e7.type(), "edit") << e7.text;
  EXPECT_EQ(iget(*e7, "seq"), 7) << e7.text;
  EXPECT_TRUE(c->expect_no_message());
}

TEST_F(EditsTest, JoinWithSinceZeroReplaysWholeHistory) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_NO_FATAL_FAILURE(SendEdits(a, 1, 4));
  JsonResult w;
  Member b = Join("r", "ub", 0, &w);
  ASSERT_TRUE(b.ws);
  EXPECT_EQ(iget(*w, "seq"), 4) << w.text;
  for (int seq = 1; seq <= 4; ++seq) {
    IT_ASSERT_JSON(e, b->recv_json());
    ASSERT_EQ(e.type(), "edit") << e.text;
    EXPECT_EQ(iget(*e, "seq"), seq) << e.text;
  }
  EXPECT_TRUE(b->expect_no_message());
}

TEST_F(EditsTest, JoinWithSinceEqualToRoomSeqReplaysNothing) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_NO_FATAL_FAILURE(SendEdits(a, 1, 3));
  JsonResult w;
  Member b = Join("r", "ub", 3, &w);
  ASSERT_TRUE(b.ws);
  EXPECT_EQ(iget(*w, "seq"), 3) << w.text;
  EXPECT_TRUE(b->expect_no_message());
}

TEST_F(EditsTest, JoinWithoutSinceReplaysNothingButWelcomeHasLatestSeq) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_NO_FATAL_FAILURE(SendEdits(a, 1, 3));
  JsonResult w;
  Member b = Join("r", "ub", std::nullopt, &w);
  ASSERT_TRUE(b.ws);
  EXPECT_EQ(iget(*w, "seq"), 3) << w.text;
  EXPECT_TRUE(b->expect_no_message());
}

TEST_F(EditsTest, JoinWithSinceOlderThanHistoryGetsResyncWithRoomSeq) {
  StartServer({"--history", "5"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_NO_FATAL_FAILURE(SendEdits(a, 1, 10));
  // History holds 6..10; since=2 would need 3..10.
  auto c = Connect("r");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("ub", "", "", 2)));
  IT_ASSERT_JSON(w, c->recv_json());
  ASSERT_EQ(w.type(), "welcome") << w.text;
  EXPECT_EQ(iget(*w, "seq"), 10) << w.text;
  IT_ASSERT_JSON(r, c->recv_json());
  EXPECT_EQ(r.type(), "resync") << r.text;
  EXPECT_EQ(iget(*r, "seq"), 10) << r.text;
}

TEST_F(EditsTest, JoinWithSinceJustInsideHistoryReplaysWithoutResync) {
  StartServer({"--history", "5"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_NO_FATAL_FAILURE(SendEdits(a, 1, 10));
  // History holds 6..10; since=5 needs exactly 6..10.
  JsonResult w;
  Member b = Join("r", "ub", 5, &w);
  ASSERT_TRUE(b.ws);
  for (int seq = 6; seq <= 10; ++seq) {
    IT_ASSERT_JSON(e, b->recv_json());
    ASSERT_EQ(e.type(), "edit") << "expected replay of seq " << seq << ": " << e.text;
    EXPECT_EQ(iget(*e, "seq"), seq) << e.text;
  }
  EXPECT_TRUE(b->expect_no_message());
  // since=4 is one too old: resync.
  auto c = Connect("r");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("uc", "", "", 4)));
  IT_ASSERT_JSON(w2, c->recv_json());
  ASSERT_EQ(w2.type(), "welcome") << w2.text;
  IT_ASSERT_JSON(r, c->recv_json());
  EXPECT_EQ(r.type(), "resync") << r.text;
  EXPECT_EQ(iget(*r, "seq"), 10) << r.text;
}

TEST_F(EditsTest, JoinWithSinceAheadOfRoomSeqGetsResyncWithRoomSeq) {
  StartServer();
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  ASSERT_NO_FATAL_FAILURE(SendEdits(a, 1, 3));
  auto c = Connect("r");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("ub", "", "", 50)));
  IT_ASSERT_JSON(w, c->recv_json());
  ASSERT_EQ(w.type(), "welcome") << w.text;
  EXPECT_EQ(iget(*w, "seq"), 3) << w.text;
  IT_ASSERT_JSON(r, c->recv_json());
  EXPECT_EQ(r.type(), "resync") << r.text;
  EXPECT_EQ(iget(*r, "seq"), 3) << r.text;
  EXPECT_TRUE(c->expect_no_message());
}

TEST_F(EditsTest, JoinWithSinceZeroInFreshRoomGetsWelcomeOnly) {
  StartServer();
  JsonResult w;
  Member a = Join("fresh", "ua", 0, &w);
  ASSERT_TRUE(a.ws);
  EXPECT_EQ(iget(*w, "seq"), 0) << w.text;
  EXPECT_TRUE(a->expect_no_message()) << "nothing to replay and nothing to resync";
}

TEST_F(EditsTest, JoinWithSinceInFreshRoomIsAheadAndGetsResyncZero) {
  StartServer();
  auto c = Connect("fresh");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_text(join_msg("ub", "", "", 7)));
  IT_ASSERT_JSON(w, c->recv_json());
  ASSERT_EQ(w.type(), "welcome") << w.text;
  EXPECT_EQ(iget(*w, "seq"), 0) << w.text;
  IT_ASSERT_JSON(r, c->recv_json());
  EXPECT_EQ(r.type(), "resync") << r.text;
  EXPECT_EQ(iget(*r, "seq"), 0) << r.text;
}

}  // namespace
}  // namespace it
