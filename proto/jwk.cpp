// proto/jwk.cpp: JWK set and PEM parsing into EVP_PKEYs, and JWS signature checks
// (OpenSSL 3 EVP; RapidJSON through proto/json_reader.h).
#include "proto/jwk.h"

#include <array>
#include <climits>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <rapidjson/document.h>

#include "proto/base64url.h"
#include "proto/json_reader.h"
#include "proto/json_util.h"
#include "proto/jwt.h"

namespace roomcast {

// Builds keys; a friend of PublicKey so the fields stay read-only to everyone else.
struct PublicKeyBuilder {
  static PublicKey make(PublicKeyType type, std::string kid, std::optional<JwsAlg> alg, EVP_PKEY* pkey) {
    PublicKey k;
    k.type_ = type;
    k.kid_ = std::move(kid);
    k.alg_ = alg;
    k.bits_ = EVP_PKEY_get_bits(pkey);
    k.key_ = std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
    return k;
  }
};

namespace {

using rapidjson::Value;

// {"keys":[{"key_ops":["verify"]}]} is four levels; nothing in a JWK set goes deeper.
constexpr JsonLimits kJwkJson{.max_depth = 4, .max_key_bytes = 64};
constexpr int kMinRsaBits = 2048;  // RFC 7518 3.3 requires 2048; NIST SP 800-131A too
constexpr int kMaxRsaBits = 8192;  // bounds the cost of one verification
constexpr size_t kMaxRsaExponentBytes = 4;
constexpr size_t kCurveCoordinateBytes = 32;  // P-256 x, y and Ed25519's x
constexpr size_t kEs256SignatureBytes = 64;
constexpr size_t kEd25519SignatureBytes = 64;

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

// SHA-256 fetched once for the process instead of an implicit fetch per verification.
const EVP_MD* sha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

using json::member;
using json::view;

// A whole-set failure or a skipped entry: the reason, with OpenSSL's queue emptied.
bool fail(std::string& error, std::string reason) {
  ERR_clear_error();
  error = std::move(reason);
  return false;
}

// fromdata: the public half only, so a set that carries private members is never
// turned into a signing key by accident.
PkeyPtr key_from_params(const char* type_name, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* pkey = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) return nullptr;
  return PkeyPtr(pkey);
}

bool public_check(EVP_PKEY* pkey) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  return ctx && EVP_PKEY_public_check(ctx.get()) == 1;
}

// RSA limits shared by JWKs and PEM keys (the modulus size and the exponent).
bool rsa_acceptable(EVP_PKEY* pkey, std::string& why) {
  int bits = EVP_PKEY_get_bits(pkey);
  if (bits < kMinRsaBits) return fail(why, "RSA key of " + std::to_string(bits) + " bits (at least 2048)");
  if (bits > kMaxRsaBits) return fail(why, "RSA key of " + std::to_string(bits) + " bits (at most 8192)");
  BIGNUM* e_raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e_raw) != 1) return fail(why, "RSA key without exponent");
  BnPtr e(e_raw);
  if (!BN_is_odd(e.get()) || BN_is_one(e.get()) || BN_num_bytes(e.get()) > int(kMaxRsaExponentBytes))
    return fail(why, "RSA exponent not odd, 1, or wider than 32 bits");
  return true;
}

bool b64_member(const Value& jwk, std::string_view name, std::string& out, std::string& why) {
  const Value* v = member(jwk, name);
  if (!v) return fail(why, "no \"" + std::string(name) + "\"");
  if (!v->IsString() || !base64url_decode(view(*v), out))
    return fail(why, "\"" + std::string(name) + "\" is not base64url");
  return true;
}

PkeyPtr rsa_from_jwk(const Value& jwk, std::string& why) {
  std::string n, e;
  if (!b64_member(jwk, "n", n, why) || !b64_member(jwk, "e", e, why)) return nullptr;
  if (n.empty() || e.empty() || e.size() > kMaxRsaExponentBytes || n.size() > size_t(kMaxRsaBits / 8) + 1) {
    fail(why, "RSA modulus or exponent of an unusable size");
    return nullptr;
  }
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), int(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), int(e.size()), nullptr));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    fail(why, "out of memory");
    return nullptr;
  }
  PkeyPtr pkey = key_from_params("RSA", bld.get());
  if (!pkey) {
    fail(why, "not an RSA public key");
    return nullptr;
  }
  if (!rsa_acceptable(pkey.get(), why)) return nullptr;
  return pkey;
}

PkeyPtr p256_from_jwk(const Value& jwk, std::string& why) {
  std::string x, y;
  if (!b64_member(jwk, "x", x, why) || !b64_member(jwk, "y", y, why)) return nullptr;
  // RFC 7518 6.2.1.2: exactly the curve's coordinate size, leading zeros kept.
  if (x.size() != kCurveCoordinateBytes || y.size() != kCurveCoordinateBytes) {
    fail(why, "P-256 coordinates are not 32 bytes each");
    return nullptr;
  }
  std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    fail(why, "out of memory");
    return nullptr;
  }
  PkeyPtr pkey = key_from_params("EC", bld.get());
  if (!pkey || !public_check(pkey.get())) {
    fail(why, "not a point on P-256");
    return nullptr;
  }
  return pkey;
}

PkeyPtr ed25519_from_jwk(const Value& jwk, std::string& why) {
  std::string x;
  if (!b64_member(jwk, "x", x, why)) return nullptr;
  if (x.size() != kCurveCoordinateBytes) {
    fail(why, "Ed25519 key is not 32 bytes");
    return nullptr;
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, x.data(), x.size()) != 1) {
    fail(why, "out of memory");
    return nullptr;
  }
  PkeyPtr pkey = key_from_params("ED25519", bld.get());
  if (!pkey) fail(why, "not an Ed25519 public key");
  return pkey;
}

bool type_accepts(PublicKeyType type, JwsAlg alg) {
  switch (type) {
    case PublicKeyType::Rsa: return alg == JwsAlg::RS256 || alg == JwsAlg::PS256;
    case PublicKeyType::P256: return alg == JwsAlg::ES256;
    case PublicKeyType::Ed25519: return alg == JwsAlg::EdDSA;
  }
  return false;
}

// One entry of "keys": a key, or false with the reason it is left out.
bool key_from_jwk(const Value& jwk, PublicKey& out, std::string& why) {
  const Value* kty = member(jwk, "kty");
  if (!kty || !kty->IsString()) return fail(why, "no \"kty\"");
  std::string kid;
  if (const Value* v = member(jwk, "kid")) {
    if (!v->IsString()) return fail(why, "\"kid\" is not a string");
    kid.assign(view(*v));
  }
  if (const Value* use = member(jwk, "use")) {
    if (!use->IsString() || view(*use) != "sig") return fail(why, "not a signature key (\"use\")");
  }
  if (const Value* ops = member(jwk, "key_ops")) {
    bool verify = false;
    if (!ops->IsArray()) return fail(why, "\"key_ops\" is not an array");
    for (const Value& op : ops->GetArray()) verify = verify || (op.IsString() && view(op) == "verify");
    if (!verify) return fail(why, "not a verification key (\"key_ops\")");
  }
  if (member(jwk, "d")) return fail(why, "holds a private key (\"d\")");
  std::optional<JwsAlg> alg;
  if (const Value* a = member(jwk, "alg")) {
    if (!a->IsString() || !(alg = parse_jws_alg(view(*a))) || *alg == JwsAlg::HS256)
      return fail(why, "algorithm not accepted (\"alg\")");
  }
  PublicKeyType type;
  PkeyPtr pkey;
  const std::string_view kind = view(*kty);
  const Value* crv = member(jwk, "crv");
  const std::string_view curve = crv && crv->IsString() ? view(*crv) : std::string_view{};
  if (kind == "RSA") {
    type = PublicKeyType::Rsa;
    pkey = rsa_from_jwk(jwk, why);
  } else if (kind == "EC" && curve == "P-256") {
    type = PublicKeyType::P256;
    pkey = p256_from_jwk(jwk, why);
  } else if (kind == "OKP" && curve == "Ed25519") {
    type = PublicKeyType::Ed25519;
    pkey = ed25519_from_jwk(jwk, why);
  } else {
    return fail(why, "key type not accepted (\"kty\" " + std::string(kind) + (crv ? ", \"crv\" " + std::string(curve) : "") + ")");
  }
  if (!pkey) return false;
  if (alg && !type_accepts(type, *alg)) return fail(why, "\"alg\" does not match the key type");
  out = PublicKeyBuilder::make(type, std::move(kid), alg, pkey.release());
  return true;
}

// ES256 signatures are R||S (RFC 7518 3.4); OpenSSL verifies DER ECDSA-Sig-Value.
bool es256_to_der(std::string_view raw, std::string& der) {
  if (raw.size() != kEs256SignatureBytes) return false;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!sig) return false;
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* out = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &out);
  if (len <= 0) return false;
  der.assign(reinterpret_cast<char*>(out), size_t(len));
  OPENSSL_free(out);
  return true;
}

}  // namespace

std::optional<JwsAlg> parse_jws_alg(std::string_view name) {
  if (name == "HS256") return JwsAlg::HS256;
  if (name == "RS256") return JwsAlg::RS256;
  if (name == "PS256") return JwsAlg::PS256;
  if (name == "ES256") return JwsAlg::ES256;
  if (name == "EdDSA") return JwsAlg::EdDSA;
  return std::nullopt;
}

std::string_view to_string(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::HS256: return "HS256";
    case JwsAlg::RS256: return "RS256";
    case JwsAlg::PS256: return "PS256";
    case JwsAlg::ES256: return "ES256";
    case JwsAlg::EdDSA: return "EdDSA";
  }
  return "unknown";
}

std::string_view to_string(PublicKeyType type) {
  switch (type) {
    case PublicKeyType::Rsa: return "RSA";
    case PublicKeyType::P256: return "EC P-256";
    case PublicKeyType::Ed25519: return "Ed25519";
  }
  return "unknown";
}

bool PublicKey::accepts(JwsAlg alg) const { return type_accepts(type_, alg) && (!alg_ || *alg_ == alg); }

bool PublicKey::verify(JwsAlg alg, std::string_view signing_input, std::string_view signature) const {
  if (!key_ || !accepts(alg)) return false;
  std::string der;
  switch (alg) {
    case JwsAlg::RS256:
    case JwsAlg::PS256:
      // Exactly the modulus length (RFC 8017 8.1.2 / 8.2.2 step 1).
      if (signature.size() != size_t(EVP_PKEY_get_size(key_.get()))) return false;
      break;
    case JwsAlg::ES256:
      if (!es256_to_der(signature, der)) return false;
      signature = der;
      break;
    case JwsAlg::EdDSA:
      if (signature.size() != kEd25519SignatureBytes) return false;
      break;
    case JwsAlg::HS256:
      return false;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  // Ed25519 hashes inside the algorithm (PureEdDSA): no digest is named.
  const EVP_MD* md = alg == JwsAlg::EdDSA ? nullptr : sha256();
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key_.get()) == 1;
  if (ok && alg == JwsAlg::RS256) ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  if (ok && alg == JwsAlg::PS256) {
    // RFC 7518 3.5: MGF1 with SHA-256, salt as long as the hash.
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, sha256()) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                              reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

bool parse_jwk_set(std::string_view json, JwkSet& out, std::string& error, std::vector<std::string>* skipped) {
  if (json.size() > kMaxJwkSetBytes) return fail(error, "longer than " + std::to_string(kMaxJwkSetBytes) + " bytes");
  rapidjson::Document doc;
  JsonReadResult read = read_json(json, kJwkJson, doc);
  if (!read.ok()) return fail(error, "not a strict JSON text: " + describe(read, kJwkJson));
  if (!doc.IsObject()) return fail(error, "not a JSON object");
  const Value* keys = member(doc, "keys");
  if (!keys || !keys->IsArray()) return fail(error, "no \"keys\" array");
  if (keys->Size() > kMaxJwks) return fail(error, "more than " + std::to_string(kMaxJwks) + " keys");
  std::vector<PublicKey> usable;
  size_t index = 0;
  for (const Value& jwk : keys->GetArray()) {
    if (!jwk.IsObject()) return fail(error, "key " + std::to_string(index) + " is not an object");
    PublicKey key;
    std::string why;
    if (key_from_jwk(jwk, key, why)) {
      usable.push_back(std::move(key));
    } else if (skipped) {
      const Value* kid = member(jwk, "kid");
      std::string name = kid && kid->IsString() ? "kid \"" + std::string(view(*kid)) + "\""
                                                : "key " + std::to_string(index);
      skipped->push_back(name + ": " + why);
    }
    ++index;
  }
  if (usable.empty()) return fail(error, "no usable signature key");
  for (PublicKey& k : usable) out.keys.push_back(std::move(k));
  return true;
}

bool parse_public_key_pem(std::string_view pem, JwkSet& out, std::string& error) {
  if (pem.size() > kMaxJwkSetBytes || pem.size() > size_t(INT_MAX)) return fail(error, "too long");
  BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  if (!bio) return fail(error, "out of memory");
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return fail(error, "no PEM \"PUBLIC KEY\" block");
  PublicKeyType type;
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    type = PublicKeyType::Rsa;
    if (!rsa_acceptable(pkey.get(), error)) return false;
  } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    std::array<char, 64> group{};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &len) != 1 ||
        std::string_view(group.data(), len) != "prime256v1")
      return fail(error, "EC key not on P-256");
    if (!public_check(pkey.get())) return fail(error, "not a point on P-256");
    type = PublicKeyType::P256;
  } else if (EVP_PKEY_is_a(pkey.get(), "ED25519")) {
    type = PublicKeyType::Ed25519;
  } else {
    return fail(error, "key type not accepted (RSA, EC P-256 or Ed25519)");
  }
  out.keys.push_back(PublicKeyBuilder::make(type, {}, std::nullopt, pkey.release()));
  return true;
}

}  // namespace roomcast
