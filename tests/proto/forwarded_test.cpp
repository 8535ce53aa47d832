// Unit tests for proto/forwarded.h and proto/ip_address.h: the lists a proxy writes, read
// element by element (RFC 7239 section 4 and 7.1 examples for Forwarded).
#include "proto/forwarded.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/ip_address.h"

namespace roomcast {
namespace {

IpBytes ip(const char* text) {
  IpBytes out{};
  EXPECT_TRUE(parse_ip_address(text, out)) << text;
  return out;
}

std::vector<ForwardedNode> xff(std::string_view v) {
  std::vector<ForwardedNode> out;
  parse_x_forwarded_for(v, out);
  return out;
}

std::vector<ForwardedNode> fwd(std::string_view v) {
  std::vector<ForwardedNode> out;
  parse_forwarded(v, out);
  return out;
}

TEST(IpAddress, ParsesBothFamiliesIntoSixteenBytesStrictly) {
  EXPECT_TRUE(is_ipv4_mapped(ip("192.0.2.1")));
  EXPECT_EQ(ip("192.0.2.1"), ip("::ffff:192.0.2.1"));
  EXPECT_FALSE(is_ipv4_mapped(ip("2001:db8::1")));
  IpBytes out{};
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.256", "[::1]", "fe80::1%eth0", "::g", " 1.2.3.4",
                          "1.2.3.4 "})
    EXPECT_FALSE(parse_ip_address(bad, out)) << bad;
}

TEST(IpAddress, CidrRangesMatchTheirPrefixInBothFamilies) {
  CidrRange r;
  ASSERT_TRUE(parse_cidr("10.0.0.0/8", r));
  EXPECT_TRUE(r.contains(ip("10.255.1.2")));
  EXPECT_FALSE(r.contains(ip("11.0.0.1")));
  EXPECT_FALSE(r.contains(ip("::a00:1")));  // IPv4-compatible, not mapped: another address
  ASSERT_TRUE(parse_cidr("127.0.0.1", r));  // one host
  EXPECT_TRUE(r.contains(ip("127.0.0.1")));
  EXPECT_FALSE(r.contains(ip("127.0.0.2")));
  ASSERT_TRUE(parse_cidr("2001:db8::/33", r));
  EXPECT_TRUE(r.contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(r.contains(ip("2001:db8:8000::1")));
  ASSERT_TRUE(parse_cidr("0.0.0.0/0", r));
  EXPECT_TRUE(r.contains(ip("203.0.113.9")));
  EXPECT_FALSE(r.contains(ip("2001:db8::1")));
  ASSERT_TRUE(parse_cidr("::/0", r));
  EXPECT_TRUE(r.contains(ip("2001:db8::1")));
  for (const char* bad : {"10.1.0.0/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/x", "/8", "x"})
    EXPECT_FALSE(parse_cidr(bad, r)) << bad;
}

TEST(XForwardedFor, ListsEveryElementInOrderWithPortsAndBrackets) {
  auto nodes = xff(" 203.0.113.9 ,198.51.100.7:4711, 2001:db8::1,[2001:db8::2]:80 ,, [2001:db8::3]");
  ASSERT_EQ(nodes.size(), 5u);
  EXPECT_EQ(nodes[0].address, ip("203.0.113.9"));
  EXPECT_EQ(nodes[1].address, ip("198.51.100.7"));
  EXPECT_EQ(nodes[1].port, 4711);
  EXPECT_EQ(nodes[2].address, ip("2001:db8::1"));
  EXPECT_EQ(nodes[3].address, ip("2001:db8::2"));
  EXPECT_EQ(nodes[3].port, 80);
  EXPECT_EQ(nodes[4].address, ip("2001:db8::3"));
  for (const auto& n : nodes) EXPECT_TRUE(n.known);
}

TEST(XForwardedFor, AnElementThatIsNotAnAddressIsUnknownNotDropped) {
  auto nodes = xff("unknown, 1.2.3.4 5.6.7.8, 1.2.3.4:99999, [1.2.3.4], 192.0.2.1");
  ASSERT_EQ(nodes.size(), 5u);
  for (size_t i = 0; i < 4; ++i) EXPECT_FALSE(nodes[i].known) << i;
  EXPECT_TRUE(nodes[4].known);
}

TEST(XRealIp, OneAddressWithOptionalPort) {
  EXPECT_EQ(parse_forwarded_node(" 192.0.2.1 ").address, ip("192.0.2.1"));
  EXPECT_TRUE(parse_forwarded_node("[2001:db8::1]:4711").known);
  EXPECT_FALSE(parse_forwarded_node("192.0.2.1, 192.0.2.2").known);
}

TEST(Forwarded, Rfc7239ExamplesYieldTheirForNodes) {
  auto nodes = fwd("for=\"_gazonk\"");
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_FALSE(nodes[0].known);

  nodes = fwd("For=\"[2001:db8:cafe::17]:4711\"");
  ASSERT_EQ(nodes.size(), 1u);
  ASSERT_TRUE(nodes[0].known);
  EXPECT_EQ(nodes[0].address, ip("2001:db8:cafe::17"));
  EXPECT_EQ(nodes[0].port, 4711);

  nodes = fwd("for=192.0.2.60;proto=http;by=203.0.113.43");
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].address, ip("192.0.2.60"));

  nodes = fwd("for=192.0.2.43, for=198.51.100.17");
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].address, ip("192.0.2.43"));
  EXPECT_EQ(nodes[1].address, ip("198.51.100.17"));

  nodes = fwd("for=192.0.2.43,for=\"[2001:db8:cafe::17]\",for=unknown");
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_TRUE(nodes[0].known);
  EXPECT_TRUE(nodes[1].known);
  EXPECT_FALSE(nodes[2].known);
}

TEST(Forwarded, QuotedCommasStayInsideTheirElement) {
  auto nodes = fwd("for=192.0.2.1;host=\"a,b;c\", for=198.51.100.2");
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].address, ip("192.0.2.1"));
  EXPECT_EQ(nodes[1].address, ip("198.51.100.2"));
}

TEST(Forwarded, MalformedElementsAreUnknown) {
  // No for=; IPv6 without brackets; two for=; an unterminated quote eats the rest.
  auto nodes = fwd("proto=https, for=\"2001:db8::1\", for=1.2.3.4;for=5.6.7.8, for=\"192.0.2.1, for=192.0.2.2");
  ASSERT_EQ(nodes.size(), 4u);
  for (const auto& n : nodes) EXPECT_FALSE(n.known);
  nodes = fwd("for = 192.0.2.1");  // no spaces around '=' in RFC 7239
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_FALSE(nodes[0].known);
}

}  // namespace
}  // namespace roomcast
