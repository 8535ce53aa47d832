// roomcast: a real-time collaboration server (protocol-v1). See README.md.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/config.h"
#include "core/server.h"

int main(int argc, char** argv) {
  roomcast::Config config;
  std::string message;
  switch (roomcast::parse_config(argc, argv, config, message, environ)) {
    case roomcast::ConfigOutcome::Help:
      std::fputs(message.c_str(), stdout);
      return 0;
    case roomcast::ConfigOutcome::Error:
      std::fprintf(stderr, "roomcast: %s\n", message.c_str());
      return 2;
    case roomcast::ConfigOutcome::Run:
      break;
  }
  return roomcast::run_server(config);
}
