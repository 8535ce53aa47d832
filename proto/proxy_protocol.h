// proto/proxy_protocol.h: the PROXY protocol header (HAProxy's, versions 1 and 2) that a
// load balancer sends before the client's first byte, naming the client's address.
//
// Owns nothing. Called by the core's ProxyFront (core/proxy_front.h) with every byte of a
// connection received so far, until the header is Complete or Bad; the bytes after it
// are the client's HTTP request. The format is docs/protocol.md "Behind a proxy", after
// the HAProxy specification "The PROXY protocol, versions 1 & 2".
// Promises: pure, never allocates, never reads past `len`, and answers every input with
// exactly one of Incomplete / Complete / Bad:
//   - Incomplete only while the bytes so far are a strict prefix of a header that could
//     still be valid and shorter than the bounds below (so a peer cannot make it wait
//     for more than kMaxV1Bytes or kMaxV2Bytes bytes);
//   - Complete with `consumed` = the header's length, and an address only for a
//     PROXY TCP4/TCP6 (v1) or PROXY INET/INET6 STREAM (v2) header; UNKNOWN (v1), LOCAL
//     (v2) and PROXY UNSPEC (v2) carry none: the connection keeps its socket's address;
//   - Bad for everything else (another protocol, a missing CRLF within 107 bytes, an
//     address of the wrong family, a port above 65535 or with a leading zero, a v2
//     version other than 2, a v2 length beyond the bound or too short for its family,
//     TLVs that overrun the header, UNIX or DGRAM transports).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace roomcast {

enum class ProxyHeaderStatus : uint8_t { Incomplete, Complete, Bad };

struct ProxyHeader {
  ProxyHeaderStatus status = ProxyHeaderStatus::Incomplete;
  uint8_t version = 0;        // 1 or 2 (Complete)
  size_t consumed = 0;        // header bytes, CRLF or TLVs included (Complete)
  bool has_source = false;    // Complete: the header names the client
  std::array<uint8_t, 16> source{};  // the client's address, IPv4 as ::ffff:a.b.c.d
  uint16_t source_port = 0;
};

// v1: "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n" is the longest.
constexpr size_t kMaxV1Bytes = 107;
// v2: the 16-byte fixed part plus at most this many bytes of addresses and TLVs. The
// specification allows 65535; real senders (HAProxy with SSL TLVs, AWS NLB's VPC endpoint
// TLV, GCP, Azure) stay within a few hundred bytes.
constexpr size_t kMaxV2Body = 2048;
constexpr size_t kMaxV2Bytes = 16 + kMaxV2Body;

ProxyHeader parse_proxy_header(const uint8_t* data, size_t len);

}  // namespace roomcast
