// Unit tests for core/http/static_files.h: what `--static DIR` will and will not serve.
#include "core/http/static_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace roomcast {
namespace {

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/roomcast-static-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/site";
    ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir((root_ + "/js").c_str(), 0700), 0);
    ASSERT_EQ(mkdir((root_ + "/empty").c_str(), 0700), 0);
    write(root_ + "/index.html", "<h1>demo</h1>");
    write(root_ + "/js/app.js", "console.log(1)");
    write(root_ + "/js/index.html", "js index");
    write(base_ + "/secret.txt", "outside");
    ASSERT_EQ(symlink((base_ + "/secret.txt").c_str(), (root_ + "/escape.txt").c_str()), 0);
    ASSERT_EQ(symlink((root_ + "/js/app.js").c_str(), (root_ + "/inside.js").c_str()), 0);
    std::string error;
    ASSERT_TRUE(files_.open(root_, &error)) << error;
  }
  void TearDown() override { std::system(("rm -rf " + base_).c_str()); }
  static void write(const std::string& path, const std::string& body) { std::ofstream(path) << body; }
  StaticAnswer get(const std::string& path, const std::string& etag = "") { return files_.answer("GET", path, etag); }

  std::string base_, root_;
  std::string scratch_;
  StaticFiles files_;
};

TEST_F(StaticFilesTest, ServesFilesWithTheirContentTypeAndIndexForDirectories) {
  StaticAnswer index = get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_NE(index.response.find("Content-Type: text/html; charset=utf-8"), std::string::npos) << index.response;
  EXPECT_EQ(index.response.find("<h1>demo</h1>"), std::string::npos) << "the body is not held in the answer";
  std::vector<uint8_t> scratch;
  std::string_view chunk;
  ASSERT_TRUE(index.body.next_chunk(scratch, &chunk));
  EXPECT_NE(chunk.find("<h1>demo</h1>"), std::string::npos) << "it streams from the file";
  EXPECT_EQ(index.body.remaining(), 0u);
  EXPECT_NE(index.response.find("Content-Length: " + std::to_string(chunk.size()) + "\r\n"), std::string::npos);
  EXPECT_NE(index.response.find("X-Content-Type-Options: nosniff"), std::string::npos);
  StaticAnswer js = get("/js/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_NE(js.response.find("Content-Type: text/javascript"), std::string::npos) << js.response;
  EXPECT_EQ(get("/js/").status, 200);
  EXPECT_EQ(get("/inside.js").status, 200) << "a symlink that stays inside is fine";
}

TEST_F(StaticFilesTest, TraversalInAnyEncodingAndSymlinksOutAre404) {
  for (const char* path : {"/../secret.txt", "/js/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
                           "/js/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/escape.txt", "/js/..\\..\\secret.txt",
                           "/js/app.js%00.html", "//etc/passwd", "/%", "/%zz", "/./index.html"}) {
    EXPECT_EQ(get(path).status, 404) << path;
  }
}

TEST_F(StaticFilesTest, DirectoriesAreNeverListedAndMissingFilesAre404) {
  EXPECT_EQ(get("/empty/").status, 404);
  EXPECT_EQ(get("/empty").status, 404);
  EXPECT_EQ(get("/nope.js").status, 404);
}

TEST_F(StaticFilesTest, HeadHasTheHeadersWithoutTheBodyAndAnUnchangedFileIs304) {
  StaticAnswer head = files_.answer("HEAD", "/js/app.js", "");
  EXPECT_EQ(head.status, 200);
  EXPECT_NE(head.response.find("Content-Length: 14"), std::string::npos) << head.response;
  EXPECT_EQ(head.response.find("console.log"), std::string::npos);
  StaticAnswer full = get("/js/app.js");
  size_t at = full.response.find("ETag: ");
  ASSERT_NE(at, std::string::npos);
  std::string etag = full.response.substr(at + 6, full.response.find("\r\n", at) - at - 6);
  EXPECT_EQ(get("/js/app.js", etag).status, 304);
  EXPECT_EQ(get("/js/app.js", "\"other\"").status, 200);
}

TEST(StaticFilesTypes, KnownExtensionsGetTheirMimeType) {
  EXPECT_EQ(StaticFiles::content_type("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(StaticFiles::content_type("a.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(StaticFiles::content_type("a.wasm"), "application/wasm");
  EXPECT_EQ(StaticFiles::content_type("a.svg"), "image/svg+xml");
  EXPECT_EQ(StaticFiles::content_type("README"), "application/octet-stream");
}

TEST(StaticFilesOpen, AMissingDirectoryIsAnError) {
  StaticFiles files;
  std::string error;
  EXPECT_FALSE(files.open("/definitely/not/here", &error));
  EXPECT_NE(error.find("--static"), std::string::npos);
  EXPECT_TRUE(files.open("", &error));
  EXPECT_FALSE(files.enabled());
}

TEST_F(StaticFilesTest, DotFilesAndDotDirectoriesAre404ExceptWellKnown) {
  for (const char* path : {"/.env", "/%2Eenv", "/.git/config", "/js/.hidden", "/.well-known"})
    EXPECT_FALSE(StaticFiles::safe_relative_path(path, scratch_) && std::string_view(path) != "/.well-known") << path;
  std::string out;
  EXPECT_TRUE(StaticFiles::safe_relative_path("/.well-known/security.txt", out));
  EXPECT_EQ(out, ".well-known/security.txt");
  EXPECT_FALSE(StaticFiles::safe_relative_path("/.well-known/.secret", out));
}

}  // namespace
}  // namespace roomcast
