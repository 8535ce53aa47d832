// core/cluster/redis_tls.cpp: the OpenSSL client context of rediss:// (see core/cluster/redis_tls.h).
#include "core/cluster/redis_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/cluster/redis_link.h"

namespace roomcast {

namespace {

bool is_ipv4(const std::string& host) {
  in_addr a{};
  return ::inet_pton(AF_INET, host.c_str(), &a) == 1;
}

}  // namespace

std::unique_ptr<RedisTls> RedisTls::make(const RedisOptions& opt, std::string* error) {
  auto fail = [&](const std::string& what) {
    if (error) *error = what + ": " + last_error();
    return nullptr;
  };
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return fail("TLS context");
  std::unique_ptr<RedisTls> tls(new RedisTls(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // write_out() hands SSL_write what is unsent; a retry may come with a moved buffer and
  // a partial write is reported rather than held (core/cluster/redis_connection.cpp).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!opt.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, opt.ca_file.c_str(), nullptr) != 1)
      return fail("--redis-ca-file " + opt.ca_file);
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return fail("the system's CA certificates");
  }
  if (!opt.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, opt.cert_file.c_str()) != 1)
      return fail("--redis-cert-file " + opt.cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, opt.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return fail("--redis-key-file " + opt.key_file);
    if (SSL_CTX_check_private_key(ctx) != 1) return fail("--redis-key-file does not match --redis-cert-file");
  }
  return tls;
}

RedisTls::~RedisTls() { SSL_CTX_free(ctx_); }

SSL* RedisTls::start(int fd, const std::string& host) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  bool ok = SSL_set_fd(ssl, fd) == 1;
  if (is_ipv4(host)) {
    // An address literal is checked against the certificate's IP entries (RFC 6125
    // leaves them out; OpenSSL's verify param does it) and is never sent as SNI.
    ok = ok && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  } else {
    ok = ok && SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
  }
  if (!ok) {
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_connect_state(ssl);
  return ssl;
}

std::string RedisTls::last_error(SSL* ssl) {
  std::string out;
  if (ssl) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) out = std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
  }
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    if (!out.empty() && ssl) continue;  // the verify result says it better
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no reason given (the peer closed the connection?)" : out;
}

}  // namespace roomcast
