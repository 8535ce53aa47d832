// tests/integration/static_test.cpp: `--static DIR` over real sockets: the demo's files at
// `/`, the server's own paths untouched, traversal refused.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "test_util.h"

namespace it {
namespace {

class StaticTest : public RoomcastTest {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/roomcast-it-static-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(mkdir((dir_ + "/www").c_str(), 0700), 0);
    std::ofstream(dir_ + "/www/index.html") << "<!doctype html><title>demo</title>";
    std::ofstream(dir_ + "/www/app.js") << "export const x = 1;";
    std::ofstream(dir_ + "/private.txt") << "secret";
  }
  void TearDown() override {
    RoomcastTest::TearDown();
    std::system(("rm -rf " + dir_).c_str());
  }
  std::string dir_;
};

TEST_F(StaticTest, ServesTheDirectoryAtRootAndKeepsTheServersOwnPaths) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--static", dir_ + "/www"}));
  HttpResponse index = http_get(port(), "/");
  EXPECT_EQ(index.status, 200) << index.raw;
  EXPECT_EQ(index.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<title>demo</title>"), std::string::npos);
  HttpResponse js = http_get(port(), "/app.js");
  EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_EQ(http_get(port(), "/healthz").body, "ok");
  EXPECT_EQ(http_get(port(), "/api/rooms/r/presence").status, 200);
  Member m = Join("r", "u");
  EXPECT_TRUE(m.ws) << "WebSockets still upgrade next to the files";
  HttpResponse head = http_raw(port(), "HEAD /app.js HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  HttpResponse post = http_raw(port(), "POST /app.js HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.status, 405);
}

TEST_F(StaticTest, TraversalAttemptsAnd404s) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--static", dir_ + "/www"}));
  for (const char* path : {"/../private.txt", "/%2e%2e/private.txt", "/%2e%2e%2fprivate.txt", "/nope.html"}) {
    HttpResponse r = http_get(port(), path);
    EXPECT_EQ(r.status, 404) << path << ": " << r.raw;
    EXPECT_EQ(r.body.find("secret"), std::string::npos);
  }
}

TEST_F(StaticTest, WithoutStaticUnknownPathsStay404AndABadDirectoryStopsTheServer) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_EQ(http_get(port(), "/").status, 404);
  std::string error;
  auto bad = ServerProcess::start({roomcast_binary(), "--listen", "127.0.0.1:0", "--static", dir_ + "/missing"}, &error,
                                  std::chrono::seconds(3));
  EXPECT_FALSE(bad) << "a missing --static directory must stop the server at start";
}

}  // namespace
}  // namespace it
