// net/uring_compat.h: the one place for what Debian 12's liburing 2.3 lacks.
// Include this instead of <liburing.h>; never include <linux/io_uring.h> as well
// (liburing ships its own copy and the two collide).
#pragma once

#include <liburing.h>

#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
