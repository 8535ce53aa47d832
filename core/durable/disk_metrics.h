// core/durable/disk_metrics.h: the roomcast_store_* metric families of --data-dir, in
// Prometheus text format, from the disk engine's counters (core/disk/disk_store.h).
//
// Called by a /metrics scrape on any loop thread while the engine's writer thread counts:
// each value is one relaxed load, so one scrape's values may be a few records apart.
#pragma once

#include <string>

#include "core/disk/disk_store.h"

namespace roomcast {

// Appends the families to `out`.
void render_disk_metrics(const disk::DiskStats& stats, std::string* out);

}  // namespace roomcast
