// roomcast: a real-time collaboration server (docs/protocol.md). See README.md.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/base/config.h"
#include "core/server/server.h"

// jemalloc's settings, read by jemalloc itself at start (inert under glibc malloc):
// freed pages go back to the kernel about a second after they become free, from jemalloc's
// own background thread, so a quiet server's RSS falls without any call of ours;
// the worker still asks for an immediate purge after mass parking (core/base/heap.h).
extern "C" const char* malloc_conf;
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";

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
