#include "core/base/heap.h"

#include <malloc.h>

#include <cstddef>

// Present only when jemalloc is linked (it defines mallctl); null under glibc malloc.
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen)
    __attribute__((weak));

namespace roomcast {

const char* heap_allocator_name() { return mallctl ? "jemalloc" : "glibc"; }

void release_free_heap_memory() {
  if (mallctl) {
    // This thread's cache of freed objects first (after a burst it holds ~200 KB that
    // would keep their pages), then "arena.<MALLCTL_ARENAS_ALL>.purge": every arena's
    // unused dirty pages, now. Advisory: if jemalloc refuses, its background decay purges.
    (void)mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
    (void)mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
  (void)malloc_trim(0);  // returns whether memory was released; either is fine
}

}  // namespace roomcast
