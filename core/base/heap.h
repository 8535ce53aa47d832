// core/base/heap.h: giving freed heap memory back to the kernel, whichever allocator is linked.
//
// Owns: nothing; it asks the allocator. Called by: the loop thread after many quiet
// connections dropped their framing state at once (Worker), and once at start for the log.
// Promises: heap_allocator_name() says "jemalloc" when the daemon runs on jemalloc (the
// Release build links it: its size-class slabs keep 10k idle connections from pinning
// half-empty pages, see docs/profiling.md) and "glibc" otherwise (Debug/ASan builds,
// tests). release_free_heap_memory() returns free pages now instead of when the
// allocator's own policy would: jemalloc flushes the calling thread's cache and purges
// every arena, glibc trims its heaps. Call it on the thread whose cache should go (a
// loop thread after a burst).
#pragma once

namespace roomcast {

const char* heap_allocator_name();
void release_free_heap_memory();

}  // namespace roomcast
