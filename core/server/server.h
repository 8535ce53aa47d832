// core/server/server.h: the daemon: listeners, loop threads, signals.
//
// Owns: one Worker (and its thread and listening socket) per --threads.
// Called by main(). run() starts every worker, prints the one line tests and scripts
// wait for ("roomcast listening on HOST:PORT"), then blocks until SIGINT or SIGTERM,
// asks every worker to close its clients with 1001, joins them and returns the exit code.
#pragma once

#include "core/base/config.h"

namespace roomcast {

int run_server(const Config& config);

}  // namespace roomcast
