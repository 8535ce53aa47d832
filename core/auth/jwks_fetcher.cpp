// core/auth/jwks_fetcher.cpp: libcurl on the fetcher's thread; proto/jwk.h parses what it gets.
#include "core/auth/jwks_fetcher.h"

#include <algorithm>

#include <curl/curl.h>

namespace roomcast {

namespace {

constexpr long kConnectTimeoutMs = 5000;
constexpr long kTotalTimeoutMs = 10000;
constexpr long kMaxRedirects = 3;
constexpr std::chrono::milliseconds kFirstRetry{1000};

struct Download {
  std::string* body;
  bool too_long = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* d = static_cast<Download*>(user);
  const size_t n = size * count;
  if (d->body->size() + n > kMaxJwkSetBytes) {
    d->too_long = true;
    return 0;  // CURLE_WRITE_ERROR
  }
  d->body->append(data, n);
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* slot = static_cast<const JwksSlot*>(user);
  return slot && slot->stopping() ? 1 : 0;  // non-zero aborts the transfer
}

}  // namespace

JwksFetcher::JwksFetcher(std::string url, std::chrono::seconds refresh, std::shared_ptr<JwksSlot> slot,
                         const Logger& log)
    : url_(std::move(url)), refresh_(refresh), slot_(std::move(slot)), log_(log) {
  // Before any thread of ours uses libcurl (curl_global_init is not thread-safe on every
  // libcurl version Debian has shipped).
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

JwksFetcher::~JwksFetcher() {
  stop();
  curl_global_cleanup();  // pairs with the constructor's init (reference-counted)
}

void JwksFetcher::start() { thread_ = std::thread([this] { run(); }); }

void JwksFetcher::stop() {
  slot_->stop();
  if (thread_.joinable()) thread_.join();
}

bool JwksFetcher::wait_first_fetch(std::chrono::milliseconds timeout) {
  std::unique_lock lock(first_mutex_);
  first_done_.wait_for(lock, timeout, [&] { return first_ended_; });
  return slot_->current() != nullptr;
}

bool JwksFetcher::fetch(const std::string& url, std::string& body, std::string& error, const JwksSlot* abort_on_stop) {
  body.clear();
  CURL* curl = curl_easy_init();
  if (!curl) {
    error = "libcurl could not start";
    return false;
  }
  Download download{&body};
  char curl_error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a threaded daemon
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, kTotalTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "roomcast");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &download);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, abort_on_stop);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);
  if (download.too_long) {
    error = "the key set is longer than " + std::to_string(kMaxJwkSetBytes) + " bytes";
    return false;
  }
  if (rc != CURLE_OK) {
    error = curl_error[0] ? curl_error : curl_easy_strerror(rc);
    return false;
  }
  if (status != 200) {
    error = "HTTP status " + std::to_string(status);
    return false;
  }
  return true;
}

bool JwksFetcher::fetch_and_publish() {
  std::string body, error;
  if (!fetch(url_, body, error, slot_.get())) {
    if (!slot_->stopping())
      log_.log(LogLevel::Warn, "jwks_fetch_failed", {{"url", url_}, {"reason", error}, {"kept", slot_->current() ? "last good set" : "no set yet"}});
    return false;
  }
  auto set = std::make_shared<JwkSet>();
  std::vector<std::string> skipped;
  if (!parse_jwk_set(body, *set, error, &skipped)) {
    log_.log(LogLevel::Warn, "jwks_fetch_failed", {{"url", url_}, {"reason", error}, {"kept", slot_->current() ? "last good set" : "no set yet"}});
    return false;
  }
  for (const std::string& s : skipped) log_.log(LogLevel::Info, "jwks_key_skipped", {{"url", url_}, {"key", s}});
  std::string kids;
  for (const PublicKey& k : set->keys) kids += (kids.empty() ? "" : ",") + (k.kid().empty() ? std::string("-") : k.kid());
  log_.log(LogLevel::Info, "jwks_fetched", {{"url", url_}, {"keys", uint64_t(set->keys.size())}, {"kids", kids}});
  slot_->publish(std::move(set));
  return true;
}

void JwksFetcher::run() {
  std::chrono::milliseconds retry = kFirstRetry;
  bool first = true;
  while (!slot_->stopping()) {
    const bool ok = fetch_and_publish();
    if (first) {
      first = false;
      {
        std::lock_guard lock(first_mutex_);
        first_ended_ = true;
      }
      first_done_.notify_all();
    }
    std::chrono::milliseconds wait = refresh_;
    if (ok) {
      retry = kFirstRetry;
    } else {
      wait = std::min<std::chrono::milliseconds>(retry, refresh_);
      retry = std::min<std::chrono::milliseconds>(retry * 2, refresh_);
    }
    slot_->wait_for_request(wait);
  }
}

}  // namespace roomcast
