// tests/integration/lifecycle_test.cpp: the binary's process contract: the listening line,
// ephemeral ports, SIGTERM/SIGINT shutdown (close 1001 to every client, exit 0).
#include <signal.h>

#include <set>
#include <thread>

#include "test_util.h"

namespace it {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class LifecycleTest : public RoomcastTest {};

TEST_F(LifecycleTest, PrintsListeningLineWithEphemeralPortAndTwoServersGetDifferentPorts) {
  StartServer();
  EXPECT_NE(port(), 0);
  std::string err;
  auto second = ServerProcess::start({"--listen", "127.0.0.1:0", "--threads", "1"}, &err);
  ASSERT_TRUE(second) << err;
  EXPECT_NE(second->port(), port());
  HttpResponse r = http_get(second->port(), "/healthz");
  EXPECT_EQ(r.status, 200) << r.error;
  ExitStatus st = second->stop(SIGTERM);
  EXPECT_TRUE(st.exited && st.code == 0 && !st.killed_after_timeout) << st.describe();
}

void ShutdownClosesEveryClientWith1001AndExitsZero(RoomcastTest* t, std::unique_ptr<ServerProcess>& server,
                                                     std::vector<std::unique_ptr<WsClient>> clients, int sig) {
  (void)t;
  auto t0 = Clock::now();
  server->signal(sig);
  for (size_t i = 0; i < clients.size(); ++i) {
    CloseResult cr = clients[i]->wait_close(milliseconds(5000));
    EXPECT_TRUE(cr.got_close_frame) << "client " << i << ": " << cr.describe();
    EXPECT_EQ(cr.code, 1001) << "client " << i << ": " << cr.describe();
    // Behave like a proper client: answer the close, then hang up once the server has.
    clients[i]->send_close(1001);
    EXPECT_TRUE(clients[i]->wait_eof(milliseconds(5000))) << "client " << i;
    clients[i]->close_tcp();
  }
  ExitStatus st = server->wait_exit(milliseconds(5000));
  auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_TRUE(st.reaped) << "server still running " << ms << " ms after signal " << sig;
  EXPECT_TRUE(st.exited) << st.describe();
  EXPECT_EQ(st.code, 0) << st.describe();
}

TEST_F(LifecycleTest, SigtermSendsClose1001ToEveryClientInEveryRoomAndExitsZero) {
  StartServer({"--threads", "2"});
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 6; ++i) {
    Member m = Join("room" + std::to_string(i % 3), "u" + std::to_string(i));
    ASSERT_TRUE(m.ws);
    clients.push_back(std::move(m.ws));
  }
  // A connection that never joined is a WebSocket client too.
  auto unjoined = Connect("room0");
  ASSERT_TRUE(unjoined);
  clients.push_back(std::move(unjoined));
  ShutdownClosesEveryClientWith1001AndExitsZero(this, server_, std::move(clients), SIGTERM);
}

TEST_F(LifecycleTest, SigintSendsClose1001ToEveryClientAndExitsZero) {
  StartServer();
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 3; ++i) {
    Member m = Join("r", "u" + std::to_string(i));
    ASSERT_TRUE(m.ws);
    clients.push_back(std::move(m.ws));
  }
  ShutdownClosesEveryClientWith1001AndExitsZero(this, server_, std::move(clients), SIGINT);
}

TEST_F(LifecycleTest, SigtermWithNoClientsExitsZeroPromptly) {
  StartServer();
  auto t0 = Clock::now();
  ExitStatus st = server_->stop(SIGTERM, milliseconds(5000));
  auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_TRUE(st.exited && st.code == 0 && !st.killed_after_timeout) << st.describe();
  EXPECT_LT(ms, 3000);
}

TEST_F(LifecycleTest, SigtermDuringTrafficStillExitsZero) {
  StartServer({"--threads", "2", "--rate-limit", "100000", "--rate-burst", "100000"});
  Member a = Join("r", "ua");
  ASSERT_TRUE(a.ws);
  Member b = Join("r", "ub");
  ASSERT_TRUE(b.ws);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(a->send_text(cursor_msg(i, 0, 0, 0, 0, 0, i)));
  std::vector<std::unique_ptr<WsClient>> clients;
  clients.push_back(std::move(a.ws));
  clients.push_back(std::move(b.ws));
  ShutdownClosesEveryClientWith1001AndExitsZero(this, server_, std::move(clients), SIGTERM);
}

TEST_F(LifecycleTest, ManyConnectDisconnectCyclesLeaveServerHealthyAndNeverReuseSessionIds) {
  StartServer({"--threads", "2"});
  std::set<std::string> sessions;
  for (int i = 0; i < 50; ++i) {
    Member m = Join("churn" + std::to_string(i % 5), "u" + std::to_string(i));
    ASSERT_TRUE(m.ws) << "cycle " << i;
    EXPECT_TRUE(sessions.insert(m.session).second) << "session id reused: " << m.session;
    if (i % 3 == 0) m->reset_tcp();
    else if (i % 3 == 1) m->close_tcp();
    else {
      ASSERT_TRUE(m->send_text(R"({"type":"leave"})"));
      CloseResult cr = m->wait_close();
      EXPECT_EQ(cr.code, 1000) << cr.describe();
    }
  }
  HttpResponse r = http_get(port(), "/healthz");
  EXPECT_EQ(r.status, 200) << r.error;
  JsonResult w;
  Member last = Join("churn0", "final", std::nullopt, &w);
  ASSERT_TRUE(last.ws);
  EXPECT_TRUE(server_->running());
}

}  // namespace
}  // namespace it
