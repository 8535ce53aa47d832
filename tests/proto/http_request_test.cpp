// Unit tests for proto/http_request.h: the request-head parser.
#include "proto/http_request.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace roomcast {
namespace {

using namespace std::string_literals;

constexpr size_t kLimit = 8192;

const std::string kUpgrade =
    "GET /ws/room-1?token=abc.def&x=1 HTTP/1.1\r\n"
    "Host: example.com:8080\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "X-Empty:\r\n"
    "X-Spaced: \t padded value \t\r\n"
    "\r\n";

HttpParseStatus status_of(const std::string& data, size_t limit = kLimit) {
  HttpRequest req;
  return parse_http_request(data, limit, req).status;
}

TEST(ParseHttpRequest, ParsesRequestLineAndHeaders) {
  HttpRequest req;
  HttpParseResult r = parse_http_request(kUpgrade, kLimit, req);
  ASSERT_EQ(r.status, HttpParseStatus::Complete);
  EXPECT_EQ(r.consumed, kUpgrade.size());
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/ws/room-1?token=abc.def&x=1");
  EXPECT_EQ(req.path, "/ws/room-1");
  EXPECT_EQ(req.query, "token=abc.def&x=1");
  EXPECT_EQ(req.version_minor, 1);
  ASSERT_EQ(req.headers.size(), 7u);
  EXPECT_EQ(req.headers[0].first, "Host");
  EXPECT_EQ(req.headers[0].second, "example.com:8080");
}

TEST(ParseHttpRequest, ViewsPointIntoTheCallersBytes) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request(kUpgrade, kLimit, req).status, HttpParseStatus::Complete);
  EXPECT_EQ(req.method.data(), kUpgrade.data());
  EXPECT_GE(req.headers.back().second.data(), kUpgrade.data());
  EXPECT_LT(req.headers.back().second.data(), kUpgrade.data() + kUpgrade.size());
}

TEST(ParseHttpRequest, TrimsOptionalWhitespaceAroundHeaderValues) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request(kUpgrade, kLimit, req).status, HttpParseStatus::Complete);
  EXPECT_EQ(req.header("X-Spaced"), "padded value");
  EXPECT_EQ(req.header("X-Empty"), "");
  EXPECT_TRUE(req.has_header("X-Empty"));
}

TEST(ParseHttpRequest, PathWithoutQueryHasEmptyQuery) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request("GET /healthz HTTP/1.1\r\n\r\n", kLimit, req).status,
            HttpParseStatus::Complete);
  EXPECT_EQ(req.path, "/healthz");
  EXPECT_EQ(req.query, "");
  EXPECT_TRUE(req.headers.empty());
}

TEST(ParseHttpRequest, RecordsHttp10AsVersionMinorZero) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request("GET / HTTP/1.0\r\n\r\n", kLimit, req).status,
            HttpParseStatus::Complete);
  EXPECT_EQ(req.version_minor, 0);
}

TEST(ParseHttpRequest, ConsumedStopsAtTheEndOfTheHeadAndIgnoresFollowingBytes) {
  std::string data = "GET / HTTP/1.1\r\nA: b\r\n\r\n";
  size_t head = data.size();
  data += "\x81\x85garbage after the head";
  HttpRequest req;
  HttpParseResult r = parse_http_request(data, kLimit, req);
  ASSERT_EQ(r.status, HttpParseStatus::Complete);
  EXPECT_EQ(r.consumed, head);
}

TEST(ParseHttpRequest, AcceptsObsTextInHeaderValues) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request("GET / HTTP/1.1\r\nX-Name: Zo\xc3\xab\r\n\r\n", kLimit, req).status,
            HttpParseStatus::Complete);
  EXPECT_EQ(req.header("x-name"), "Zo\xc3\xab");
}

TEST(ParseHttpRequest, EveryPrefixOfAValidRequestIsIncompleteUntilTheLastByte) {
  for (size_t len = 0; len < kUpgrade.size(); ++len) {
    EXPECT_EQ(status_of(kUpgrade.substr(0, len)), HttpParseStatus::Incomplete) << "prefix " << len;
  }
  EXPECT_EQ(status_of(kUpgrade), HttpParseStatus::Complete);
}

TEST(ParseHttpRequest, RequestFedInTwoChunksAtEverySplitPointParsesTheSame) {
  for (size_t split = 1; split < kUpgrade.size(); ++split) {
    std::string buffer = kUpgrade.substr(0, split);
    HttpRequest req;
    ASSERT_EQ(parse_http_request(buffer, kLimit, req).status, HttpParseStatus::Incomplete)
        << "split " << split;
    buffer += kUpgrade.substr(split);
    HttpParseResult r = parse_http_request(buffer, kLimit, req);
    ASSERT_EQ(r.status, HttpParseStatus::Complete) << "split " << split;
    EXPECT_EQ(r.consumed, kUpgrade.size());
    EXPECT_EQ(req.path, "/ws/room-1");
    EXPECT_EQ(req.header("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
    EXPECT_EQ(req.headers.size(), 7u);
  }
}

TEST(ParseHttpRequest, ReparsingTheSameBufferIsStable) {
  HttpRequest req;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(parse_http_request(kUpgrade, kLimit, req).status, HttpParseStatus::Complete);
    EXPECT_EQ(req.headers.size(), 7u);
  }
}

TEST(ParseHttpRequest, HeadExactlyAtTheLimitIsComplete) {
  EXPECT_EQ(status_of(kUpgrade, kUpgrade.size()), HttpParseStatus::Complete);
}

TEST(ParseHttpRequest, HeadOneByteOverTheLimitIsTooLarge) {
  EXPECT_EQ(status_of(kUpgrade, kUpgrade.size() - 1), HttpParseStatus::TooLarge);
}

TEST(ParseHttpRequest, UnterminatedHeadReachingTheLimitIsTooLarge) {
  std::string data = "GET / HTTP/1.1\r\nX-Long: " + std::string(10000, 'a');
  EXPECT_EQ(status_of(data, 4096), HttpParseStatus::TooLarge);
  EXPECT_EQ(status_of(data.substr(0, 4095), 4096), HttpParseStatus::Incomplete);
  EXPECT_EQ(status_of(data.substr(0, 4096), 4096), HttpParseStatus::TooLarge);
}

TEST(ParseHttpRequest, ManySmallHeadersPastTheLimitAreTooLarge) {
  std::string data = "GET / HTTP/1.1\r\n";
  while (data.size() < 20000) data += "A: b\r\n";
  EXPECT_EQ(status_of(data, 16384), HttpParseStatus::TooLarge);
}

TEST(ParseHttpRequest, BareLfEndingTheRequestLineIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\nHost: a\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, BareLfEndingAHeaderLineIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, BareLfAsTheFinalEmptyLineIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\n\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, BareCrInsideAHeaderValueIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, MissingVersionIsBad) {
  EXPECT_EQ(status_of("GET /\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / \r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, VersionOtherThanHttp1xIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / http/1.1\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.x\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.11\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, NulAnywhereIsBad) {
  EXPECT_EQ(status_of("G\0ET / HTTP/1.1\r\n\r\n"s), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET /a\0b HTTP/1.1\r\n\r\n"s), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n"s), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHo\0st: ab\r\n\r\n"s), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("\0"s), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, HeaderNameWithSpaceOrSeparatorIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nNa(me: x\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nNa\xc3\xa9: x\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, EmptyHeaderNameIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n: x\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, HeaderLineWithoutColonIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, ObsFoldContinuationLineIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX-A: one\r\n\ttwo\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, ControlCharacterOrDelInHeaderValueIsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, TargetNotStartingWithSlashIsBad) {
  EXPECT_EQ(status_of("GET http://h/ws/a HTTP/1.1\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("OPTIONS * HTTP/1.1\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, MalformedRequestLineIsBad) {
  EXPECT_EQ(status_of(" GET / HTTP/1.1\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET  / HTTP/1.1\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET /  HTTP/1.1\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET / HTTP/1.1 \r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GET /\xff HTTP/1.1\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("\r\nGET / HTTP/1.1\r\n\r\n"), HttpParseStatus::Bad);
  EXPECT_EQ(status_of("GE{T / HTTP/1.1\r\n\r\n"), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, EmptyInputIsIncompleteAndEmptyLimitIsTooLarge) {
  EXPECT_EQ(status_of(""), HttpParseStatus::Incomplete);
  EXPECT_EQ(status_of("", 0), HttpParseStatus::TooLarge);
}

TEST(ParseHttpRequest, BadBytesBeforeTheLimitAreReportedAsBad) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\nXXXXXXXXXXXXXXXXXXXX", 20), HttpParseStatus::Bad);
}

TEST(ParseHttpRequest, SurvivesRandomBytesAndRandomMutationsOfAValidRequest) {
  std::mt19937 rng(12345);
  HttpRequest req;
  auto check = [&](const std::string& data, size_t limit) {
    HttpParseResult r = parse_http_request(data, limit, req);
    if (r.status == HttpParseStatus::Complete) {
      ASSERT_LE(r.consumed, data.size());
      ASSERT_LE(r.consumed, limit);
      ASSERT_GE(r.consumed, 4u);
      ASSERT_EQ(data.substr(r.consumed - 4, 4), "\r\n\r\n");
    } else {
      ASSERT_EQ(r.consumed, 0u);
    }
  };
  const std::string alphabet = "GET /wsHTP1.0:\r\n \t\0\x7f\x80\xff-a?=&"s;
  for (int round = 0; round < 20000; ++round) {
    std::string data;
    if (round % 2 == 0) {
      size_t len = rng() % 200;
      for (size_t i = 0; i < len; ++i) {
        data.push_back(round % 4 == 0 ? static_cast<char>(rng() & 0xFF)
                                      : alphabet[rng() % alphabet.size()]);
      }
    } else {
      data = kUpgrade;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        size_t at = rng() % data.size();
        switch (rng() % 3) {
          case 0: data[at] = alphabet[rng() % alphabet.size()]; break;
          case 1: data.erase(at, 1); break;
          default: data.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        }
        if (data.empty()) break;
      }
      data.resize(rng() % (data.size() + 1));
    }
    check(data, 1 + rng() % 400);
  }
}

TEST(HttpRequestHeader, LookupIsCaseInsensitiveAndReturnsTheFirstMatch) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request("GET / HTTP/1.1\r\nX-A: one\r\nx-a: two\r\n\r\n", kLimit, req).status,
            HttpParseStatus::Complete);
  EXPECT_EQ(req.header("X-A"), "one");
  EXPECT_EQ(req.header("x-A"), "one");
  EXPECT_TRUE(req.has_header("X-a"));
  EXPECT_FALSE(req.has_header("X-B"));
  EXPECT_EQ(req.header("X-B"), "");
}

TEST(HttpRequestHeader, HasTokenMatchesWholeCommaSeparatedTokensIgnoringCase) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request(kUpgrade, kLimit, req).status, HttpParseStatus::Complete);
  EXPECT_TRUE(req.header_has_token("Connection", "upgrade"));
  EXPECT_TRUE(req.header_has_token("connection", "KEEP-ALIVE"));
  EXPECT_TRUE(req.header_has_token("Upgrade", "WebSocket"));
  EXPECT_FALSE(req.header_has_token("Connection", "upgr"));
  EXPECT_FALSE(req.header_has_token("Connection", "keep-alive, Upgrade"));
  EXPECT_FALSE(req.header_has_token("Missing", "upgrade"));
}

TEST(HttpRequestHeader, HasTokenLooksAtEveryLineOfARepeatedHeader) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request("GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n\r\n",
                               kLimit, req)
                .status,
            HttpParseStatus::Complete);
  EXPECT_TRUE(req.header_has_token("Connection", "upgrade"));
}

TEST(HttpRequestHeader, HasTokenDoesNotMatchASubstring) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request("GET / HTTP/1.1\r\nUpgrade: websocketx, notwebsocket\r\n\r\n",
                               kLimit, req)
                .status,
            HttpParseStatus::Complete);
  EXPECT_FALSE(req.header_has_token("Upgrade", "websocket"));
}

TEST(HttpRequestQuery, ReturnsTheRawValueOfTheNamedParameter) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request("GET /ws/r?a=1&token=x%2Ey&flag&empty= HTTP/1.1\r\n\r\n", kLimit, req)
                .status,
            HttpParseStatus::Complete);
  EXPECT_EQ(req.query_param("a"), "1");
  EXPECT_EQ(req.query_param("token"), "x%2Ey");
  EXPECT_EQ(req.query_param("flag"), "");
  EXPECT_EQ(req.query_param("empty"), "");
  EXPECT_EQ(req.query_param("tok"), "");
  EXPECT_EQ(req.query_param("missing"), "");
}

TEST(HttpRequestQuery, EmptyQueryHasNoParameters) {
  HttpRequest req;
  ASSERT_EQ(parse_http_request("GET /ws/r? HTTP/1.1\r\n\r\n", kLimit, req).status,
            HttpParseStatus::Complete);
  EXPECT_EQ(req.path, "/ws/r");
  EXPECT_EQ(req.query, "");
  EXPECT_EQ(req.query_param("token"), "");
}

}  // namespace
}  // namespace roomcast
