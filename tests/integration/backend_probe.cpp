// When the suite is asked to run on io_uring (IT_ROOMCAST_ARGS="--backend io_uring") on a
// kernel or sandbox that refuses io_uring (kernel.io_uring_disabled, seccomp, a kernel
// older than 6.0), every test is skipped with the reason instead of failing: the same
// suite still runs on epoll. The probe starts the real server once, forced to io_uring.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "server_process.h"

namespace it {
namespace {

class IoUringProbe : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* args = std::getenv("IT_ROOMCAST_ARGS");
    if (!args || std::string(args).find("io_uring") == std::string::npos) return;
    std::string error;
    auto server = ServerProcess::start({"--listen", "127.0.0.1:0", "--threads", "1", "--backend", "io_uring"}, &error);
    if (!server) GTEST_SKIP() << "io_uring is not usable here, so the io_uring run is skipped: " << error;
  }
};

[[maybe_unused]] ::testing::Environment* const probe = ::testing::AddGlobalTestEnvironment(new IoUringProbe);

}  // namespace
}  // namespace it
