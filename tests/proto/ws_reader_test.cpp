#include "proto/ws_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace roomcast {
namespace {

// A client frame: masked unless told otherwise.
std::string client_frame(uint8_t opcode, std::string_view payload, bool fin = true, bool masked = true) {
  std::string f;
  f.push_back(char((fin ? 0x80 : 0) | opcode));
  uint8_t mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    f.push_back(char(mask_bit | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    f.push_back(char(mask_bit | 126));
    f.push_back(char(payload.size() >> 8));
    f.push_back(char(payload.size() & 0xFF));
  } else {
    f.push_back(char(mask_bit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(char((uint64_t(payload.size()) >> (8 * i)) & 0xFF));
  }
  const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) f.push_back(char(payload[i] ^ (masked ? mask[i % 4] : 0)));
  return f;
}

struct Recorder : WsReader::Handler {
  void on_text(std::string_view m) override { texts.emplace_back(m); }
  void on_control_bytes(std::string_view b) override { control.append(b); }
  std::vector<std::string> texts;
  std::string control;

  // The close code in the control bytes wslay produced, or -1.
  int close_code() const {
    if (control.size() < 4 || uint8_t(control[0]) != 0x88) return -1;
    return (uint8_t(control[2]) << 8) | uint8_t(control[3]);
  }
};

struct Fixture {
  explicit Fixture(size_t max_message = 1024) { EXPECT_TRUE(reader.init(max_message)); }
  WsReader::FeedResult feed(const std::string& bytes) {
    auto r = reader.feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), rec);
    reader.flush(rec);
    return r;
  }
  Recorder rec;
  WsReader reader;
};

TEST(WsReader, TextMessageSplitAtEveryByteArrivesOnceAndWhole) {
  std::string bytes = client_frame(0x1, "{\"type\":\"ping\"}") + client_frame(0x1, "second");
  for (size_t split = 1; split < bytes.size(); ++split) {
    Fixture f;
    f.feed(bytes.substr(0, split));
    f.feed(bytes.substr(split));
    ASSERT_EQ(f.rec.texts.size(), 2u) << "split at " << split;
    EXPECT_EQ(f.rec.texts[0], "{\"type\":\"ping\"}");
    EXPECT_EQ(f.rec.texts[1], "second");
  }
}

TEST(WsReader, FragmentedMessageIsReassembledAroundAControlFrame) {
  Fixture f;
  f.feed(client_frame(0x1, "hel", false) + client_frame(0x9, "p") + client_frame(0x0, "lo", true));
  ASSERT_EQ(f.rec.texts.size(), 1u);
  EXPECT_EQ(f.rec.texts[0], "hello");
  ASSERT_GE(f.rec.control.size(), 3u);
  EXPECT_EQ(uint8_t(f.rec.control[0]), 0x8A);  // pong
  EXPECT_EQ(f.rec.control.substr(2), "p");     // same payload
}

TEST(WsReader, LargeMessageAcrossManyChunks) {
  Fixture f(100000);
  std::string payload(70000, 'a');
  std::string bytes = client_frame(0x1, payload);
  for (size_t off = 0; off < bytes.size(); off += 4096) f.feed(bytes.substr(off, 4096));
  ASSERT_EQ(f.rec.texts.size(), 1u);
  EXPECT_EQ(f.rec.texts[0].size(), payload.size());
}

TEST(WsReader, InvalidUtf8ClosesWith1007) {
  Fixture f;
  f.feed(client_frame(0x1, "\xff\xfe"));
  EXPECT_TRUE(f.rec.texts.empty());
  EXPECT_EQ(f.rec.close_code(), 1007);
  EXPECT_TRUE(f.reader.close_sent());
}

TEST(WsReader, BinaryFrameClosesWith1003) {
  Fixture f;
  f.feed(client_frame(0x2, "bin"));
  EXPECT_TRUE(f.rec.texts.empty());
  EXPECT_EQ(f.rec.close_code(), 1003);
}

TEST(WsReader, MessageOverTheLimitClosesWith1009) {
  Fixture f(128);
  f.feed(client_frame(0x1, std::string(129, 'x')));
  EXPECT_TRUE(f.rec.texts.empty());
  EXPECT_EQ(f.rec.close_code(), 1009);
}

TEST(WsReader, UnmaskedClientFrameClosesWith1002) {
  Fixture f;
  f.feed(client_frame(0x1, "hi", true, false));
  EXPECT_TRUE(f.rec.texts.empty());
  EXPECT_EQ(f.rec.close_code(), 1002);
}

TEST(WsReader, OversizedControlFrameIsAProtocolError) {
  Fixture f;
  EXPECT_EQ(f.feed(client_frame(0x9, std::string(126, 'p'))), WsReader::FeedResult::ProtocolError);
}

TEST(WsReader, FragmentedControlFrameIsAProtocolError) {
  Fixture f;
  EXPECT_EQ(f.feed(client_frame(0x9, "p", false)), WsReader::FeedResult::ProtocolError);
}

TEST(WsReader, PeerCloseIsEchoedWithItsCode) {
  Fixture f;
  f.feed(client_frame(0x8, std::string("\x03\xe8", 2)));
  EXPECT_EQ(f.rec.close_code(), 1000);
  EXPECT_TRUE(f.reader.close_sent());
  EXPECT_FALSE(f.reader.reading());
}

TEST(WsReader, NothingIsReadAfterAClose) {
  Fixture f;
  f.feed(client_frame(0x2, "bin") + client_frame(0x1, "after"));
  EXPECT_TRUE(f.rec.texts.empty());
}

}  // namespace
}  // namespace roomcast

namespace roomcast {
namespace {

TEST(WsReader, ParksBetweenMessagesAndResumesOnTheNextByte) {
  Fixture f;
  f.feed(client_frame(0x1, "one"));
  EXPECT_TRUE(f.reader.park());
  EXPECT_TRUE(f.reader.parked());
  f.feed(client_frame(0x1, "two"));
  ASSERT_EQ(f.rec.texts.size(), 2u);
  EXPECT_EQ(f.rec.texts[1], "two");
}

TEST(WsReader, DoesNotParkInsideAFrame) {
  std::string frame = client_frame(0x1, "hello world");
  for (size_t cut : {size_t(1), size_t(2), size_t(5), frame.size() - 1}) {
    Fixture g;
    g.feed(frame.substr(0, cut));
    EXPECT_FALSE(g.reader.park()) << cut;
    g.feed(frame.substr(cut));
    ASSERT_EQ(g.rec.texts.size(), 1u) << cut;
    EXPECT_TRUE(g.reader.park());
  }
}

TEST(WsReader, DoesNotParkInsideAFragmentedMessage) {
  Fixture f;
  f.feed(client_frame(0x1, "hel", false));
  EXPECT_FALSE(f.reader.park());
  f.feed(client_frame(0x9, "p"));  // a ping between fragments
  EXPECT_FALSE(f.reader.park());
  f.feed(client_frame(0x0, "lo", true));
  ASSERT_EQ(f.rec.texts.size(), 1u);
  EXPECT_EQ(f.rec.texts[0], "hello");
  EXPECT_TRUE(f.reader.park());
}

TEST(WsReader, ParkedReaderCanStillClose) {
  Fixture f;
  f.feed(client_frame(0x1, "x"));
  ASSERT_TRUE(f.reader.park());
  f.reader.queue_close(1001, "bye");
  f.reader.flush(f.rec);
  EXPECT_EQ(f.rec.close_code(), 1001);
  EXPECT_TRUE(f.reader.close_sent());
  EXPECT_FALSE(f.reader.park());  // closing: the state must stay
}

TEST(WsReader, LongFrameHeadersAreTrackedAcrossChunks) {
  Fixture f(200000);
  std::string frame = client_frame(0x1, std::string(70000, 'z'));  // 64-bit length
  for (size_t off = 0; off < frame.size(); off += 3) {
    f.feed(frame.substr(off, 3));
    if (off + 3 < frame.size()) {
      EXPECT_FALSE(f.reader.park());
    }
  }
  ASSERT_EQ(f.rec.texts.size(), 1u);
  EXPECT_TRUE(f.reader.park());
}

}  // namespace
}  // namespace roomcast
