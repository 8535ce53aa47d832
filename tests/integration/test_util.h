// tests/integration/test_util.h: the fixture and JSON helpers shared by the integration tests.
//
// RoomcastTest starts one server per test (ephemeral loopback port) and provides
// connect/join helpers. Messages are built as JSON text; received messages are checked
// field by field against docs/protocol.md.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include "rj.h"

#include "server_process.h"
#include "ws_client.h"

namespace it {

// "expr" must yield a JsonResult; fails the test (fatally) with its error when not ok.
#define IT_ASSERT_JSON(var, expr) \
  auto var = (expr);              \
  ASSERT_TRUE(var.ok) << #expr << ": " << var.error

// A joined session.
struct Member {
  std::unique_ptr<WsClient> ws;
  std::string session;
  std::string user_id;
  WsClient* operator->() { return ws.get(); }
};

// JSON text of a string (quoted, escaped).
std::string jstr(std::string_view s);
// {"type":"join","user":{"id":..,"name":..,"color":..}} with optional since.
std::string join_msg(const std::string& user_id, const std::string& name = "", const std::string& color = "",
                     std::optional<long long> since = std::nullopt);
// {"type":"cursor","position":[..],"target":[..],"fov":fov}
std::string cursor_msg(double px, double py, double pz, double tx, double ty, double tz,
                       std::optional<double> fov = std::nullopt, bool with_up = false);
// {"type":"edit","building":..,"op":..,"data":<data_json>,"id":..}; data/id omitted when empty.
std::string edit_msg(const std::string& building, const std::string& op, const std::string& data_json = "",
                     const std::string& id = "");

// Field access; a missing or wrong-typed field gives the fallback (and the tests check
// presence/type separately where it matters).
std::string sget(const rapidjson::Value& v, const char* key, const std::string& fallback = "<missing>");
double nget(const rapidjson::Value& v, const char* key, double fallback = -1e300);
long long iget(const rapidjson::Value& v, const char* key, long long fallback = -1);
bool has(const rapidjson::Value& v, const char* key);
// Parses a JSON literal for comparisons (e.g. expected user objects).
rapidjson::Document parse(const std::string& json);
// Numeric-aware deep equality (rapidjson's operator== compares numbers by value).
bool json_equal(const rapidjson::Value& a, const rapidjson::Value& b);

class RoomcastTest : public ::testing::Test {
 protected:
  void TearDown() override;

  // Starts the server with "--listen 127.0.0.1:0 --threads 1" plus `extra` (a --threads in
  // `extra` replaces the default) plus $IT_ROOMCAST_ARGS. Fatal failure if it does not
  // come up.
  void StartServer(const std::vector<std::string>& extra = {});
  uint16_t port() const { return server_->port(); }

  // Connect to /ws/<room>; EXPECT failure and nullptr on error.
  std::unique_ptr<WsClient> Connect(const std::string& room, int rcvbuf = 0);
  // Connect + join; the welcome is checked for the basic fields and stored in *welcome if
  // given. On failure `ws` is null (the failure is recorded).
  Member Join(const std::string& room, const std::string& user_id, std::optional<long long> since = std::nullopt,
              JsonResult* welcome = nullptr, int rcvbuf = 0);
  // Waits for presence join of `who` on each of `observers` (drains it).
  void ExpectPresenceJoin(std::vector<Member*> observers, const Member& who);

  std::unique_ptr<ServerProcess> server_;
  // Used by StartServer (e.g. a low RLIMIT_NOFILE for the child).
  ProcessOptions process_options_;
};

// A temporary file holding `content` (mode 0600), removed with the object. For secrets
// passed by file (--jwt-secret-file, --api-key-file): the harness scrubs ROOMCAST_* vars.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

// CPU time (user + system) the process has used so far, in seconds, from /proc/PID/stat;
// negative if it cannot be read.
double process_cpu_seconds(pid_t pid);

}  // namespace it
