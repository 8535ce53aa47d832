// proto/jwt.cpp: strict compact-JWS parsing, HMAC-SHA256 and public-key checks (OpenSSL,
// through proto/jwk.h), claims (RapidJSON).
#include "proto/jwt.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidjson/document.h>

#include "proto/base64url.h"
#include "proto/json_reader.h"
#include "proto/json_util.h"

namespace roomcast {

namespace {

using rapidjson::Value;

// Header and claims are read strictly (proto/json_reader.h): claims end up in JSON frames
// and logs, so they must be valid UTF-8 with no surrogate escapes; duplicate names are
// refused (RFC 7515 4 allows only rejecting or last-wins, and RapidJSON keeps the first).
constexpr JsonLimits kTokenJson{.max_depth = 8, .max_key_bytes = 256};

constexpr size_t kHs256Bytes = 32;

bool fail(JwtError& err, JwtError e) {
  err = e;
  return false;
}

}  // namespace

namespace {

using json::member;
using json::view;

bool parse_object(const std::string& json, rapidjson::Document& doc) {
  return read_json(json, kTokenJson, doc).ok() && doc.IsObject();
}

// A NumericDate rounded up to an integer, clamped to int64. For integral `now`,
// (x <= now) == (ceil(x) <= now) and (x > now) == (ceil(x) > now), so comparisons on the
// rounded value are exact.
int64_t numeric_date_ceil(const Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsUint64()) return INT64_MAX;  // above INT64_MAX
  double d = v.GetDouble();
  // 2^63 is exactly representable; every double below it is integral from 2^53 up.
  if (d >= 9223372036854775808.0) return INT64_MAX;
  if (d <= -9223372036854775808.0) return INT64_MIN;
  return static_cast<int64_t>(std::ceil(d));
}

bool signature_ok(std::string_view signing_input, std::string_view secret, const std::string& sig) {
  if (secret.empty() || secret.size() > static_cast<size_t>(INT_MAX)) return false;
  if (sig.size() != kHs256Bytes) return false;
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac.data(),
           &mac_len) == nullptr ||
      mac_len != kHs256Bytes) {
    return false;
  }
  return CRYPTO_memcmp(mac.data(), sig.data(), kHs256Bytes) == 0;
}

}  // namespace

std::string_view to_string(JwtError error) {
  switch (error) {
    case JwtError::Malformed: return "malformed";
    case JwtError::UnsupportedAlgorithm: return "unsupported_algorithm";
    case JwtError::BadSignature: return "bad_signature";
    case JwtError::Expired: return "expired";
    case JwtError::MissingClaim: return "missing_claim";
    case JwtError::UnknownKey: return "unknown_key";
    case JwtError::WrongIssuer: return "wrong_issuer";
    case JwtError::WrongAudience: return "wrong_audience";
  }
  return "unknown";
}

namespace {

bool string_array(const Value* v) {
  if (!v) return true;
  if (!v->IsArray()) return false;
  for (const Value& e : v->GetArray())
    if (!e.IsString()) return false;
  return true;
}

void copy_strings(const Value* v, bool& has, std::vector<std::string>& out) {
  has = v != nullptr;
  out.clear();
  if (!v) return;
  out.reserve(v->Size());
  for (const Value& e : v->GetArray()) out.emplace_back(view(e));
}

int64_t saturating_add(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
  return a + b;
}

// Rule 2 and 3 for the public-key algorithms: candidates by kid, then the signature.
bool public_key_verdict(JwsAlg alg, std::string_view kid, bool has_kid, const JwtKeys& keys,
                        std::string_view signing_input, const std::string& signature, JwtError& err) {
  const PublicKey* candidates[kMaxKeysTried];
  size_t count = 0;
  bool kid_known = false;
  bool kidless_tried = false;
  // Two passes: keys named by the kid first, then kid-less keys (PEM) which answer any kid.
  for (int pass = 0; pass < 2; ++pass) {
    for (const JwkSet* set : keys.sets) {
      if (!set) continue;
      for (const PublicKey& key : set->keys) {
        const bool named = has_kid && !key.kid().empty() && key.kid() == kid;
        kid_known = kid_known || named;
        const bool candidate = pass == 0 ? (named || (!has_kid && !key.kid().empty())) : key.kid().empty();
        if (candidate && key.accepts(alg) && count < kMaxKeysTried) {
          candidates[count++] = &key;
          kidless_tried = kidless_tried || key.kid().empty();
        }
      }
    }
  }
  for (size_t i = 0; i < count; ++i)
    if (candidates[i]->verify(alg, signing_input, signature)) return true;
  // A kid-less key that answers any kid was tried: the signature is what failed.
  if (has_kid && !kid_known && !kidless_tried) return fail(err, JwtError::UnknownKey);
  return fail(err, count == 0 ? JwtError::UnsupportedAlgorithm : JwtError::BadSignature);
}

}  // namespace

bool verify_jwt(std::string_view token, std::string_view secret, int64_t now_unix, JwtClaims& out,
                JwtError& err) {
  static const JwtRules kDefaultRules;
  JwtKeys keys;
  keys.hs256_secret = secret;
  return verify_jwt(token, keys, kDefaultRules, now_unix, out, err);
}

bool verify_jwt(std::string_view token, const JwtKeys& keys, const JwtRules& rules, int64_t now_unix,
                JwtClaims& out, JwtError& err) {
  // 1. Shape and encoding.
  if (token.size() > kMaxJwtBytes) return fail(err, JwtError::Malformed);
  size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return fail(err, JwtError::Malformed);
  size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail(err, JwtError::Malformed);
  std::string header_json, payload_json, signature;
  if (!base64url_decode(token.substr(0, dot1), header_json) ||
      !base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), payload_json) ||
      !base64url_decode(token.substr(dot2 + 1), signature)) {
    return fail(err, JwtError::Malformed);
  }

  // Header.
  JwsAlg alg;
  std::string kid;
  bool has_kid = false;
  {
    rapidjson::Document header;
    if (!parse_object(header_json, header)) return fail(err, JwtError::Malformed);
    const Value* typ = member(header, "typ");
    if (typ && !typ->IsString()) return fail(err, JwtError::Malformed);
    const Value* kid_value = member(header, "kid");
    if (kid_value && !kid_value->IsString()) return fail(err, JwtError::Malformed);
    if (member(header, "crit")) return fail(err, JwtError::Malformed);
    // 2. Algorithm.
    const Value* alg_value = member(header, "alg");
    if (!alg_value || !alg_value->IsString()) return fail(err, JwtError::UnsupportedAlgorithm);
    std::optional<JwsAlg> parsed = parse_jws_alg(view(*alg_value));
    if (!parsed) return fail(err, JwtError::UnsupportedAlgorithm);
    alg = *parsed;
    has_kid = kid_value != nullptr;
    if (has_kid) kid.assign(view(*kid_value));
  }

  // 2 and 3. Key and signature, before the payload is parsed.
  const std::string_view signing_input = token.substr(0, dot2);
  if (alg == JwsAlg::HS256) {
    if (keys.hs256_secret.empty() && (keys.sets[0] || keys.sets[1]))
      return fail(err, JwtError::UnsupportedAlgorithm);  // public keys only: HS256 is not on
    if (!signature_ok(signing_input, keys.hs256_secret, signature)) return fail(err, JwtError::BadSignature);
  } else if (!public_key_verdict(alg, kid, has_kid, keys, signing_input, signature, err)) {
    return false;
  }

  // 4. Payload types.
  rapidjson::Document payload;
  if (!parse_object(payload_json, payload)) return fail(err, JwtError::Malformed);
  const Value* sub = member(payload, "sub");
  const Value* user = rules.user_claim == "sub" ? sub : member(payload, rules.user_claim);
  const Value* exp = member(payload, "exp");
  const Value* nbf = member(payload, "nbf");
  const Value* iat = member(payload, "iat");
  const Value* iss = member(payload, "iss");
  const Value* aud = member(payload, "aud");
  const Value* name = member(payload, rules.name_claim);
  const Value* preferred = member(payload, "preferred_username");
  const Value* rooms = member(payload, "rooms");
  const Value* edit = member(payload, "edit");
  if ((sub && !sub->IsString()) || (user && !user->IsString()) || (exp && !exp->IsNumber()) ||
      (nbf && !nbf->IsNumber()) || (iat && !iat->IsNumber()) || (iss && !iss->IsString()) ||
      (name && !name->IsString()) || !string_array(rooms) || !string_array(edit)) {
    return fail(err, JwtError::Malformed);
  }
  if (aud && !aud->IsString() && !string_array(aud)) return fail(err, JwtError::Malformed);
  if (!name && preferred && preferred->IsString()) name = preferred;

  // 5. Required claims.
  if (!user || user->GetStringLength() == 0 || !exp) return fail(err, JwtError::MissingClaim);

  // 6. Issuer and audience.
  if (!rules.issuer.empty() && (!iss || view(*iss) != rules.issuer)) return fail(err, JwtError::WrongIssuer);
  if (!rules.audience.empty()) {
    bool listed = false;
    if (aud && aud->IsString()) listed = view(*aud) == rules.audience;
    else if (aud)
      for (const Value& a : aud->GetArray()) listed = listed || view(a) == rules.audience;
    if (!listed) return fail(err, JwtError::WrongAudience);
  }

  // 7. Time, with the leeway on every side.
  const int64_t leeway = rules.leeway_s;
  const int64_t exp_at = numeric_date_ceil(*exp);
  const int64_t usable_until = saturating_add(exp_at, leeway);
  if (usable_until <= now_unix) return fail(err, JwtError::Expired);
  const int64_t latest_start = saturating_add(now_unix, leeway);
  if (nbf && numeric_date_ceil(*nbf) > latest_start) return fail(err, JwtError::Expired);
  if (iat && numeric_date_ceil(*iat) > latest_start) return fail(err, JwtError::Expired);

  out.sub.assign(view(*user));
  out.has_name = name != nullptr;
  if (name) out.name.assign(view(*name));
  else out.name.clear();
  out.exp = exp_at;
  out.usable_until = usable_until;
  copy_strings(rooms, out.has_rooms, out.rooms);
  copy_strings(edit, out.has_edit, out.edit);
  return true;
}

namespace {

bool matches_any(const std::vector<std::string>& patterns, std::string_view room) {
  for (const std::string& pattern : patterns) {
    std::string_view p = pattern;
    if (!p.empty() && p.back() == '*') {
      if (room.substr(0, p.size() - 1) == p.substr(0, p.size() - 1)) return true;
    } else if (room == p) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool jwt_allows_room(const JwtClaims& claims, std::string_view room) {
  return !claims.has_rooms || matches_any(claims.rooms, room);
}

bool jwt_allows_edit(const JwtClaims& claims, std::string_view room) {
  if (!jwt_allows_room(claims, room)) return false;
  return !claims.has_edit || matches_any(claims.edit, room);
}

}  // namespace roomcast
