// Unit tests for the backend port (core/room/backend_port.h) as the room domain uses it: a
// FakeBackend that answers later, members without sockets (FakeClient). What a member
// would notice: its edit waits for the decision and its later messages wait behind it,
// the others' traffic does not; a veto applies nothing and consumes no seq; a rewrite
// reaches everyone, the sender included; the backend hears of joins, leaves and edits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/room/backend_port.h"
#include "core/room/room_service.h"
#include "tests/core/room/fake_client.h"

namespace roomcast {
namespace {

using testing_support::FakeClient;

struct FakeBackend final : BackendPort {
  bool later = true;  // answer every edit Later (the test decides), or Accept now
  std::vector<uint64_t> asked;
  std::vector<std::string> events;
  Answer check_edit(const EditCheck& edit, uint64_t ticket, EditDecision& decision) override {
    asked.push_back(ticket);
    events.push_back("check " + std::string(edit.session) + " " + std::string(edit.op));
    if (later) return Answer::Later;
    decision.kind = EditDecision::Kind::Accept;
    return Answer::Now;
  }
  void edit_applied(const Room&, const AppliedEdit& e) override {
    events.push_back("edit " + std::to_string(e.seq) + " " + std::string(e.session) + " " + std::string(e.frame));
  }
  void joined(const Room&, const Session& s) override { events.push_back("join " + s.user.id); }
  void left(const Room&, const Session& s) override { events.push_back("leave " + s.user.id); }
};

class RoomBackend : public ::testing::Test {
 protected:
  RoomBackend() { service_.attach_backend(backend_); }
  FakeClient& client() {
    clients_.push_back(std::make_unique<FakeClient>(&dirty_, uint32_t(clients_.size()), "r", &service_));
    return *clients_.back();
  }
  FakeClient& joined(const std::string& user) {
    FakeClient& c = client();
    send(c, R"({"type":"join","user":{"id":")" + user + R"("}})");
    return c;
  }
  Verdict send(FakeClient& c, const std::string& json) { return service_.receive(c.member, json, now_ns_); }
  static std::string type_of(const rapidjson::Document& d) { return d.HasMember("type") ? d["type"].GetString() : ""; }

  Config config_;
  Metrics metrics_;
  FakeBackend backend_;
  RoomService service_{config_, 0, metrics_};
  DirtyList dirty_;
  std::vector<std::unique_ptr<FakeClient>> clients_;
  int64_t now_ns_ = 1'000'000'000;
};

TEST_F(RoomBackend, AnEditWaitsForTheDecisionAndTheSendersLaterMessagesWaitBehindIt) {
  FakeClient& a = joined("alice");
  FakeClient& b = joined("bob");
  a.drain();
  b.drain();
  send(a, R"({"type":"edit","id":"e1","building":"b","op":"move","data":{"x":1}})");
  send(a, R"({"type":"ping"})");
  send(a, R"({"type":"select","ids":["w1"]})");
  ASSERT_EQ(backend_.asked.size(), 1u);
  EXPECT_TRUE(a.nothing_queued()) << "no ack and no pong before the decision";
  EXPECT_TRUE(b.nothing_queued()) << "nothing applied before the decision";
  // Another member's traffic does not wait for it.
  send(b, R"({"type":"select","ids":["w2"]})");
  EXPECT_EQ(type_of(a.next()), "select");

  service_.edit_decided(backend_.asked[0], EditDecision{}, now_ns_);  // Accept
  rapidjson::Document ack = a.next();
  EXPECT_EQ(type_of(ack), "ack");
  EXPECT_EQ(ack["seq"].GetUint64(), 1u);
  EXPECT_STREQ(ack["id"].GetString(), "e1");
  EXPECT_EQ(type_of(a.next()), "pong") << "the waiting ping follows the ack, in order";
  rapidjson::Document edit = b.next();
  EXPECT_EQ(type_of(edit), "edit");
  EXPECT_EQ(edit["data"]["x"].GetInt(), 1) << "the edit's data was kept while it waited";
  EXPECT_EQ(type_of(b.next()), "select");
}

TEST_F(RoomBackend, AVetoAppliesNothingConsumesNoSeqAndTellsTheSenderTheReason) {
  FakeClient& a = joined("alice");
  FakeClient& b = joined("bob");
  a.drain();
  b.drain();
  send(a, R"({"type":"edit","id":"e1","building":"b","op":"delete"})");
  EditDecision no;
  no.kind = EditDecision::Kind::Reject;
  no.reason = "element is locked";
  service_.edit_decided(backend_.asked[0], no, now_ns_);
  rapidjson::Document err = a.next();
  EXPECT_STREQ(err["code"].GetString(), "rejected");
  EXPECT_STREQ(err["id"].GetString(), "e1");
  EXPECT_STREQ(err["reason"].GetString(), "element is locked");
  EXPECT_TRUE(b.nothing_queued());

  // A retry with the same id asks again (nothing was remembered), and the next applied
  // edit gets seq 1.
  send(a, R"({"type":"edit","id":"e1","building":"b","op":"delete"})");
  ASSERT_EQ(backend_.asked.size(), 2u);
  service_.edit_decided(backend_.asked[1], EditDecision{}, now_ns_);
  EXPECT_EQ(a.next()["seq"].GetUint64(), 1u);
}

TEST_F(RoomBackend, AnUnansweredBackendCostsTheEditUnavailableAndNothingElse) {
  FakeClient& a = joined("alice");
  a.drain();
  send(a, R"({"type":"edit","building":"b","op":"move"})");
  send(a, R"({"type":"ping"})");
  EditDecision down;
  down.kind = EditDecision::Kind::Unavailable;
  service_.edit_decided(backend_.asked[0], down, now_ns_);
  EXPECT_STREQ(a.next()["code"].GetString(), "unavailable");
  EXPECT_EQ(type_of(a.next()), "pong");
  EXPECT_EQ(service_.find_room("r")->seq(), 0u);
}

TEST_F(RoomBackend, ARewrittenEditIsStoredAsRewrittenAndReachesTheSenderToo) {
  FakeClient& a = joined("alice");
  FakeClient& b = joined("bob");
  a.drain();
  b.drain();
  send(a, R"({"type":"edit","id":"e1","building":"b","op":"move","data":{"x":1}})");
  EditDecision fix;
  fix.kind = EditDecision::Kind::Rewrite;
  fix.has_data = true;
  fix.data_json = R"({"x":2,"snapped":true})";
  service_.edit_decided(backend_.asked[0], fix, now_ns_);
  rapidjson::Document mine = a.next();
  EXPECT_EQ(type_of(mine), "edit") << "the sender gets the stored version";
  EXPECT_EQ(mine["data"]["x"].GetInt(), 2);
  EXPECT_EQ(type_of(a.next()), "ack");
  EXPECT_EQ(b.next()["data"]["x"].GetInt(), 2);
}

TEST_F(RoomBackend, ADuplicateIsAnsweredWithoutAskingTheBackend) {
  backend_.later = false;
  FakeClient& a = joined("alice");
  a.drain();
  send(a, R"({"type":"edit","id":"e1","building":"b","op":"move"})");
  send(a, R"({"type":"edit","id":"e1","building":"b","op":"move"})");
  EXPECT_EQ(backend_.asked.size(), 1u);
  a.next();
  rapidjson::Document dup = a.next();
  EXPECT_TRUE(dup["duplicate"].GetBool());
}

TEST_F(RoomBackend, ADecisionForASenderThatLeftIsDroppedAndLosesNothingForOthers) {
  FakeClient& a = joined("alice");
  FakeClient& b = joined("bob");
  b.drain();
  send(a, R"({"type":"edit","building":"b","op":"move"})");
  service_.leave(a.member, now_ns_, Departure::Final);
  service_.edit_decided(backend_.asked[0], EditDecision{}, now_ns_);
  EXPECT_EQ(service_.find_room("r")->seq(), 0u);
  EXPECT_EQ(type_of(b.next()), "presence");
  EXPECT_TRUE(b.nothing_queued());
}

TEST_F(RoomBackend, TheBackendHearsOfJoinsEditsAndLeavesButNotOfResumes) {
  backend_.later = false;
  config_.resume_grace_s = 10;
  FakeClient& a = joined("alice");
  rapidjson::Document welcome = a.next();
  const std::string token = welcome["resume"].GetString();
  send(a, R"({"type":"edit","building":"b","op":"move"})");
  service_.leave(a.member, now_ns_, Departure::Dropped);  // held: nobody is told
  FakeClient& again = client();
  send(again, R"({"type":"join","user":{"id":"alice"},"resume":")" + token + R"("})");
  service_.leave(again.member, now_ns_, Departure::Final);
  std::vector<std::string> kinds;
  for (const std::string& e : backend_.events) kinds.push_back(e.substr(0, e.find(' ')));
  EXPECT_EQ(kinds, (std::vector<std::string>{"join", "check", "edit", "leave"}));
}

}  // namespace
}  // namespace roomcast
