// bench/frame_bench.cpp: inbound framing (wslay) and outbound frame construction.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "core/base/ws_frames.h"
#include "net/shared_frame.h"
#include "proto/ws_reader.h"

namespace {

using namespace roomcast;

constexpr std::string_view kCursorJson =
    R"({"type":"cursor","position":[1523.25,-87.5,312.125],"target":[1490.0,-80.0,0.0],"up":[0,0,1],"fov":45})";

std::string masked_text_frame(std::string_view payload) {
  std::string f;
  f.push_back(char(0x81));
  if (payload.size() < 126) {
    f.push_back(char(0x80 | payload.size()));
  } else {
    f.push_back(char(0x80 | 126));
    f.push_back(char(payload.size() >> 8));
    f.push_back(char(payload.size() & 0xFF));
  }
  const unsigned char mask[4] = {0x9a, 0x3c, 0x51, 0xe7};
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) f.push_back(char(payload[i] ^ mask[i % 4]));
  return f;
}

struct CountingHandler final : WsReader::Handler {
  void on_text(std::string_view m) override { bytes += m.size(); ++texts; }
  void on_control_bytes(std::string_view) override {}
  size_t bytes = 0;
  size_t texts = 0;
};

// One received chunk holding one masked cursor frame: unmask, UTF-8 check, reassembly
// buffer, message callback.
void BM_WsReaderFeedCursorFrame(benchmark::State& state) {
  std::string frame = masked_text_frame(kCursorJson);
  CountingHandler handler;
  WsReader reader;
  if (!reader.init(65536)) {
    state.SkipWithError("wslay init failed");
    return;
  }
  for (auto _ : state) {
    reader.feed(reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), handler);
  }
  if (handler.texts != size_t(state.iterations())) state.SkipWithError("a frame was not delivered");
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(frame.size()));
}
BENCHMARK(BM_WsReaderFeedCursorFrame);

// The once-per-broadcast cost: one allocation, header + ~150-byte payload copy, release.
void BM_SharedFrameMake150(benchmark::State& state) {
  std::string payload =
      R"({"type":"cursor","session":"s-1f3a","position":[1523.25,-87.5,312.125],"target":[1490.0,-80.0,0.0],"up":[0,0,1],"fov":45.0,"t":1})";
  payload.resize(150, ' ');
  for (auto _ : state) {
    SharedFrame* f = ws_frame(Opcode::Text, payload, DropPolicy::WhenSuperseded);
    benchmark::DoNotOptimize(f->data());
    f->release();
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_SharedFrameMake150);

}  // namespace
