// Unit tests for proto/proxy_protocol.h, with the examples of the HAProxy specification
// "The PROXY protocol, versions 1 & 2" (sections 2.1 and 2.2).
#include "proto/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/ip_address.h"

namespace roomcast {
namespace {

ProxyHeader parse(const std::string& bytes) {
  return parse_proxy_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

IpBytes ip(const char* text) {
  IpBytes out{};
  EXPECT_TRUE(parse_ip_address(text, out)) << text;
  return out;
}

const std::string kV2Signature("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);

// A v2 header: signature, version/command, family/transport, length, then `body`.
std::string v2(uint8_t ver_cmd, uint8_t family, const std::string& body) {
  std::string out = kV2Signature;
  out.push_back(char(ver_cmd));
  out.push_back(char(family));
  out.push_back(char(body.size() >> 8));
  out.push_back(char(body.size() & 0xFF));
  return out + body;
}

std::string inet_body(const std::string& tlvs = "") {
  // 192.0.2.1:4711 -> 198.51.100.2:443
  return std::string("\xC0\x00\x02\x01\xC6\x33\x64\x02\x12\x67\x01\xBB", 12) + tlvs;
}

TEST(ProxyProtocol, V1Tcp4ExampleNamesTheSource) {
  const std::string line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  ProxyHeader h = parse(line + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.consumed, line.size());
  EXPECT_TRUE(h.has_source);
  EXPECT_EQ(h.source, ip("192.168.0.1"));
  EXPECT_EQ(h.source_port, 56324);
}

TEST(ProxyProtocol, V1Tcp6WorstCaseIsExactly104BytesAndAccepted) {
  const std::string line =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  EXPECT_EQ(line.size(), 104u);
  ProxyHeader h = parse(line);
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_EQ(h.source, ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_EQ(h.source_port, 65535);
}

TEST(ProxyProtocol, V1UnknownKeepsTheSocketAddressAndIgnoresTheRestOfTheLine) {
  ProxyHeader h = parse("PROXY UNKNOWN\r\n");
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_FALSE(h.has_source);
  EXPECT_EQ(h.consumed, 15u);
  // The specification's 107-byte worst case.
  const std::string longest =
      "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  EXPECT_EQ(longest.size(), 107u);
  h = parse(longest);
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_FALSE(h.has_source);
  EXPECT_EQ(h.consumed, 107u);
}

TEST(ProxyProtocol, V1EveryStrictPrefixIsIncomplete) {
  const std::string line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  for (size_t n = 0; n < line.size(); ++n)
    EXPECT_EQ(parse(line.substr(0, n)).status, ProxyHeaderStatus::Incomplete) << n;
}

TEST(ProxyProtocol, V1WithoutCrlfWithin107BytesIsBad) {
  std::string line = "PROXY UNKNOWN " + std::string(100, 'a');
  EXPECT_EQ(parse(line.substr(0, 106)).status, ProxyHeaderStatus::Incomplete);
  EXPECT_EQ(parse(line).status, ProxyHeaderStatus::Bad);
  // A CR as the 107th byte leaves no room for the LF.
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(92, 'a') + "\r\n").status, ProxyHeaderStatus::Bad);
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(91, 'a') + "\r\n").status, ProxyHeaderStatus::Complete);
}

TEST(ProxyProtocol, V1MalformedLinesAreBad) {
  for (const char* bad : {
           "GET / HTTP/1.1\r\n\r\n",                                     // not a PROXY header at all
           "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",                         // case matters
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",                           // bare LF
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",                          // CR without LF
           "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",                         // unknown protocol
           "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",                        // two spaces
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",                        // trailing space
           "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",                           // a field missing
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",                       // a field too many
           "PROXY TCP4 ::1 ::1 1 2\r\n",                                 // IPv6 in TCP4
           "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",                         // IPv4 in TCP6
           "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",                       // not an address
           "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",                        // leading zero
           "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",                     // port too large
           "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",                       // port with a leading zero
           "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",                        // signed port
       })
    EXPECT_EQ(parse(bad).status, ProxyHeaderStatus::Bad) << bad;
  EXPECT_EQ(parse(std::string("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 32)).status, ProxyHeaderStatus::Bad);
}

TEST(ProxyProtocol, V2ProxyInetNamesTheSource) {
  const std::string header = v2(0x21, 0x11, inet_body());
  ProxyHeader h = parse(header + "GET /");
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.consumed, 28u);
  EXPECT_TRUE(h.has_source);
  EXPECT_EQ(h.source, ip("192.0.2.1"));
  EXPECT_EQ(h.source_port, 4711);
}

TEST(ProxyProtocol, V2ProxyInet6NamesTheSource) {
  IpBytes src = ip("2001:db8::1"), dst = ip("2001:db8::2");
  std::string body(src.begin(), src.end());
  body.append(dst.begin(), dst.end());
  body += std::string("\x12\x67\x01\xBB", 4);
  ProxyHeader h = parse(v2(0x21, 0x21, body));
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_EQ(h.consumed, 52u);
  EXPECT_EQ(h.source, src);
  EXPECT_EQ(h.source_port, 4711);
}

TEST(ProxyProtocol, V2LocalKeepsTheSocketAddressWhateverTheFamily) {
  ProxyHeader h = parse(v2(0x20, 0x00, ""));
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_FALSE(h.has_source);
  EXPECT_EQ(h.consumed, 16u);
  h = parse(v2(0x20, 0x11, inet_body()));  // HAProxy health checks may carry addresses
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_FALSE(h.has_source);
}

TEST(ProxyProtocol, V2ProxyUnspecKeepsTheSocketAddress) {
  ProxyHeader h = parse(v2(0x21, 0x00, ""));
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_FALSE(h.has_source);
}

TEST(ProxyProtocol, V2WellFormedTlvsAreSkipped) {
  // PP2_TYPE_AWS (0xEA) with a VPC endpoint id, then a NOOP with an empty value.
  const std::string tlvs = std::string("\xEA\x00\x0D\x01vpce-0abc123", 16) + std::string("\x04\x00\x00", 3);
  ProxyHeader h = parse(v2(0x21, 0x11, inet_body(tlvs)));
  ASSERT_EQ(h.status, ProxyHeaderStatus::Complete);
  EXPECT_EQ(h.consumed, 16u + 12 + tlvs.size());
  EXPECT_EQ(h.source, ip("192.0.2.1"));
}

TEST(ProxyProtocol, V2EveryStrictPrefixIsIncomplete) {
  const std::string header = v2(0x21, 0x11, inet_body());
  for (size_t n = 0; n < header.size(); ++n)
    EXPECT_EQ(parse(header.substr(0, n)).status, ProxyHeaderStatus::Incomplete) << n;
}

TEST(ProxyProtocol, V2MalformedHeadersAreBad) {
  EXPECT_EQ(parse(v2(0x11, 0x11, inet_body())).status, ProxyHeaderStatus::Bad);  // version 1 in binary
  EXPECT_EQ(parse(v2(0x22, 0x11, inet_body())).status, ProxyHeaderStatus::Bad);  // command 2
  EXPECT_EQ(parse(v2(0x21, 0x12, inet_body())).status, ProxyHeaderStatus::Bad);  // DGRAM
  EXPECT_EQ(parse(v2(0x21, 0x31, std::string(216, 'x'))).status, ProxyHeaderStatus::Bad);  // UNIX
  EXPECT_EQ(parse(v2(0x21, 0x11, inet_body().substr(0, 11))).status, ProxyHeaderStatus::Bad);  // short INET
  EXPECT_EQ(parse(v2(0x21, 0x21, std::string(35, '\0'))).status, ProxyHeaderStatus::Bad);  // short INET6
  EXPECT_EQ(parse(v2(0x21, 0x11, inet_body("\x04\x00"))).status, ProxyHeaderStatus::Bad);  // torn TLV
  EXPECT_EQ(parse(v2(0x21, 0x11, inet_body(std::string("\x04\x00\x05xx", 5)))).status,
            ProxyHeaderStatus::Bad);  // TLV longer than the header
  std::string corrupt = v2(0x21, 0x11, inet_body());
  corrupt[7] = 'X';  // signature
  EXPECT_EQ(parse(corrupt).status, ProxyHeaderStatus::Bad);
  EXPECT_EQ(parse(corrupt.substr(0, 8)).status, ProxyHeaderStatus::Bad);  // known as soon as it differs
}

TEST(ProxyProtocol, V2LengthBeyondTheBoundIsBadBeforeTheBodyArrives) {
  std::string head = kV2Signature + std::string("\x21\x11", 2);
  head.push_back(char((kMaxV2Body + 1) >> 8));
  head.push_back(char((kMaxV2Body + 1) & 0xFF));
  EXPECT_EQ(parse(head).status, ProxyHeaderStatus::Bad);
  EXPECT_EQ(parse(v2(0x21, 0x11, inet_body(std::string("\x04", 1) + char((kMaxV2Body - 15) >> 8) +
                                            char((kMaxV2Body - 15) & 0xFF) + std::string(kMaxV2Body - 15, 'x'))))
                .status,
            ProxyHeaderStatus::Complete);
}

}  // namespace
}  // namespace roomcast
