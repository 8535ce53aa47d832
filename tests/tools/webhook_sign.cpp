// tests/tools/webhook_sign.cpp: `webhook_sign SECRET ID TIMESTAMP < BODY` prints the
// webhook-signature roomcast's signer (proto/webhook_signature.h) gives that body, so the
// example backend's test checks its verifier against the C++ signer itself.
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "proto/webhook_signature.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: webhook_sign SECRET ID TIMESTAMP < BODY\n";
    return 2;
  }
  std::string key, error;
  if (!roomcast::parse_webhook_secret(argv[1], key, error)) {
    std::cerr << error << "\n";
    return 1;
  }
  const std::string body{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  std::cout << roomcast::webhook_signature(key, argv[2], std::atoll(argv[3]), body) << "\n";
  return 0;
}
