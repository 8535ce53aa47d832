// Unit tests for core/http/proxy_front.h: whom roomcast believes about a client's address.
#include "core/http/proxy_front.h"

#include <gtest/gtest.h>

#include <string>

#include "proto/http_request.h"

namespace roomcast {
namespace {

PeerAddress addr(const char* text, uint16_t port = 0) {
  PeerAddress p;
  EXPECT_TRUE(parse_ip_address(text, p.bytes)) << text;
  p.port = port;
  return p;
}

Config trusting(std::initializer_list<const char*> ranges) {
  Config c;
  for (const char* r : ranges) {
    CidrRange range;
    EXPECT_TRUE(parse_cidr(r, range)) << r;
    c.trusted_proxies.push_back(range);
  }
  return c;
}

// The client a request head from `peer` is counted under.
std::string client_of(const Config& config, const char* peer, const std::string& headers) {
  ProxyFront front(config);
  std::string head = "GET /ws/room HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n";
  HttpRequest request;
  HttpParseResult parsed = parse_http_request(head, 8192, request);
  EXPECT_EQ(parsed.status, HttpParseStatus::Complete);
  std::optional<PeerAddress> client = front.forwarded_client(addr(peer, 5555), request);
  return client ? client->to_string() : "none";
}

TEST(ProxyFront, AnUntrustedPeerCannotChooseItsAddress) {
  const Config c = trusting({"10.0.0.0/8"});
  EXPECT_EQ(client_of(c, "192.0.2.9", "X-Forwarded-For: 203.0.113.1\r\n"), "none");
  EXPECT_EQ(client_of(c, "192.0.2.9", "X-Real-IP: 203.0.113.1\r\n"), "none");
  EXPECT_EQ(client_of(c, "192.0.2.9", "Forwarded: for=203.0.113.1\r\n"), "none");
  EXPECT_EQ(client_of(Config{}, "10.0.0.1", "X-Forwarded-For: 203.0.113.1\r\n"), "none");
}

TEST(ProxyFront, XForwardedForGivesTheRightmostAddressThatIsNotATrustedProxy) {
  const Config c = trusting({"10.0.0.0/8", "fd00::/8"});
  // The client prepended a lie; the first proxy appended the real client, a second
  // trusted proxy appended the first one.
  EXPECT_EQ(client_of(c, "10.0.0.1", "X-Forwarded-For: 1.1.1.1, 203.0.113.7, 10.0.0.2\r\n"), "203.0.113.7:0");
  EXPECT_EQ(client_of(c, "10.0.0.1", "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 203.0.113.7:4711, fd00::5\r\n"),
            "203.0.113.7:4711");
  EXPECT_EQ(client_of(c, "10.0.0.1", "X-Forwarded-For: 2001:db8::9\r\n"), "[2001:db8::9]:0");
  // Everybody trusted: the leftmost is the client (an office inside the same network).
  EXPECT_EQ(client_of(c, "10.0.0.1", "X-Forwarded-For: 10.1.1.1, 10.0.0.2\r\n"), "10.1.1.1:0");
}

TEST(ProxyFront, AGarbledXForwardedForFallsBackToXRealIpThenForwarded) {
  const Config c = trusting({"10.0.0.0/8"});
  EXPECT_EQ(client_of(c, "10.0.0.1", "X-Forwarded-For: 203.0.113.7, unknown\r\nX-Real-IP: 198.51.100.3\r\n"),
            "198.51.100.3:0");
  // Garbage left of the client does not matter: the walk stops at the client.
  EXPECT_EQ(client_of(c, "10.0.0.1", "X-Forwarded-For: nonsense, 203.0.113.7\r\nX-Real-IP: 198.51.100.3\r\n"),
            "203.0.113.7:0");
  EXPECT_EQ(client_of(c, "10.0.0.1", "X-Real-IP: 198.51.100.3\r\n"), "198.51.100.3:0");
  EXPECT_EQ(client_of(c, "10.0.0.1", "X-Real-IP: 198.51.100.3\r\nX-Real-IP: 198.51.100.4\r\n"), "none");
  EXPECT_EQ(client_of(c, "10.0.0.1", "Forwarded: for=198.51.100.3, for=10.0.0.9\r\n"), "198.51.100.3:0");
  EXPECT_EQ(client_of(c, "10.0.0.1", "Forwarded: for=\"[2001:db8::1]:4711\"\r\n"), "[2001:db8::1]:4711");
  EXPECT_EQ(client_of(c, "10.0.0.1", "Forwarded: for=unknown\r\n"), "none");
  EXPECT_EQ(client_of(c, "10.0.0.1", ""), "none");
}

TEST(ProxyFront, RolesFollowTheSettings) {
  Config c = trusting({"10.0.0.0/8"});
  EXPECT_EQ(ProxyFront(c).role_of(addr("10.0.0.1")), PeerRole::Proxy);
  EXPECT_EQ(ProxyFront(c).role_of(addr("192.0.2.1")), PeerRole::Client);
  c.proxy_protocol = true;
  EXPECT_EQ(ProxyFront(c).role_of(addr("10.0.0.1")), PeerRole::Proxy);
  EXPECT_EQ(ProxyFront(c).role_of(addr("192.0.2.1")), PeerRole::Refused);
  Config any;
  any.proxy_protocol = true;  // no ranges: whoever reaches the port is the proxy
  EXPECT_EQ(ProxyFront(any).role_of(addr("192.0.2.1")), PeerRole::Proxy);
  EXPECT_EQ(ProxyFront(Config{}).role_of(addr("10.0.0.1")), PeerRole::Client);
}

TEST(ProxyFront, TakeHeaderStripsTheHeaderAndNamesTheClient) {
  Config c;
  c.proxy_protocol = true;
  ProxyFront front(c);
  PeerAddress client = addr("10.0.0.1", 999);
  std::string head = "PROXY TCP4 203.0.113.7 10.0.0.2 4711 80\r";
  EXPECT_EQ(front.take_header(head, client), ProxyFront::Step::NeedMore);
  head += "\nGET /";
  EXPECT_EQ(front.take_header(head, client), ProxyFront::Step::Named);
  EXPECT_EQ(head, "GET /");
  EXPECT_EQ(client.to_string(), "203.0.113.7:4711");
  head = "PROXY UNKNOWN\r\nGET /";
  client = addr("10.0.0.1", 999);
  EXPECT_EQ(front.take_header(head, client), ProxyFront::Step::Unnamed);
  EXPECT_EQ(client.to_string(), "10.0.0.1:999");
  head = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(front.take_header(head, client), ProxyFront::Step::Bad);
}

}  // namespace
}  // namespace roomcast
