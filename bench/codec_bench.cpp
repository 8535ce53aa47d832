// bench/codec_bench.cpp: the JSON codec on the hottest message, the camera.
#include <benchmark/benchmark.h>

#include <memory>
#include <string_view>

#include <rapidjson/stringbuffer.h>

#include "proto/message.h"

namespace {

using namespace roomcast;

constexpr std::string_view kCursorJson =
    R"({"type":"cursor","position":[1523.25,-87.5,312.125],"target":[1490.0,-80.0,0.0],"up":[0,0,1],"fov":45})";

void BM_DecodeCursor(benchmark::State& state) {
  auto decoder = std::make_unique<MessageDecoder>();  // one per loop thread, reused
  ClientMessage msg;
  DecodeError err;
  for (auto _ : state) {
    if (!decoder->decode(kCursorJson, msg, err)) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(msg.camera);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kCursorJson.size()));
}
BENCHMARK(BM_DecodeCursor);

void BM_EncodeCursor(benchmark::State& state) {
  Camera cam;
  cam.position[0] = 1523.25;
  cam.position[1] = -87.5;
  cam.position[2] = 312.125;
  cam.target[0] = 1490.0;
  cam.target[1] = -80.0;
  cam.target[2] = 0.0;
  cam.up[2] = 1;
  cam.has_up = true;
  cam.fov = 45;
  cam.has_fov = true;
  rapidjson::StringBuffer buf;  // reused, as the room reuses its buffer
  for (auto _ : state) {
    encode_cursor(buf, "s-1f3a", cam);
    benchmark::DoNotOptimize(buf.GetString());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(buf.GetSize()));
}
BENCHMARK(BM_EncodeCursor);

}  // namespace
