// core/cluster/redis_tls.h: the TLS settings of this instance's Redis connections (rediss://).
//
// Owns: one OpenSSL client context (SSL_CTX): TLS 1.2 or later, peer verification on,
// trusting --redis-ca-file (or the system's CA store when none is given), with the
// client certificate and key of --redis-cert-file / --redis-key-file when given.
// Called by: the configuration check (make() once at start, so a bad file stops the
// server with a reason) and the Redis link, which makes its own at construction and hands
// it to both of its connections (core/cluster/redis_connection.h); each connection makes its
// SSL object from it with start(). The context is read-only after make(): OpenSSL lets
// several threads make SSL objects from one context, though only the link's thread does.
// Promises:
//   - start() returns an SSL that checks the server's certificate chain against the CA
//     and its name against `host` (a DNS name in the certificate's subjectAltName, or an
//     IP address entry when host is an IPv4 literal) and sends host as SNI when it is a
//     name: a certificate that does not verify fails the handshake, and the connection is
//     dropped, never continued in plain text (nothing in this code path can send plain
//     text once tls is set);
//   - no error text carries key material; they name the file and OpenSSL's reason.
#pragma once

#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;  // OpenSSL; only .cpp files of the link see more
typedef struct ssl_st SSL;

namespace roomcast {

struct RedisOptions;

class RedisTls {
 public:
  // The context for `opt` (opt.tls must be set). nullptr with *error set when a file
  // cannot be read or the key does not match the certificate.
  static std::unique_ptr<RedisTls> make(const RedisOptions& opt, std::string* error);
  ~RedisTls();
  RedisTls(const RedisTls&) = delete;
  RedisTls& operator=(const RedisTls&) = delete;

  // A client SSL for `fd`, verifying `host` as above; nullptr when OpenSSL cannot
  // allocate one (the caller treats it as a failed connect).
  SSL* start(int fd, const std::string& host) const;

  // OpenSSL's reason for the last failure on this thread (the error queue, emptied), or
  // the certificate verification result of `ssl` when that is what failed.
  static std::string last_error(SSL* ssl = nullptr);

 private:
  explicit RedisTls(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

}  // namespace roomcast
