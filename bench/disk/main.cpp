// bench/disk/main.cpp: the disk store next to the disk's own floor and SQLite in WAL mode
// (docs/durability.md has the numbers and what they decided).
//
//   roomcast-disk-bench fsync   DIR [N]                  fdatasync p50/p99 of a 200-byte append
//   roomcast-disk-bench store   DIR RATE SECONDS ROOMS    paced edits through DiskStore
//                                                        (one journal fdatasync per group commit)
//   roomcast-disk-bench sqlite  DIR RATE SECONDS ROOMS    the same load, SQLite WAL, group commit
//   roomcast-disk-bench load    DIR ROOMS EDITS           writes ROOMS logs of EDITS edits, then
//                                                        times DiskStore::open (load-all)
// RATE 0 means as fast as possible with 256 edits in flight. Two producer threads stand for
// two loop threads; an edit's ack latency runs from its submission to the moment its
// producer drained the completion from its eventfd.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <mutex>
#include <poll.h>
#include <string>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "core/disk/disk_store.h"
#include "core/disk/durable_file.h"

#ifdef ROOMCAST_BENCH_SQLITE
#include <sqlite3.h>
#endif

namespace {

using namespace roomcast::disk;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

void print_percentiles(const char* what, std::vector<double>& v) {
  if (v.empty()) return std::printf("%s: no samples\n", what), void();
  std::sort(v.begin(), v.end());
  auto at = [&](double p) { return v[std::min(v.size() - 1, size_t(p * double(v.size())))]; };
  std::printf("%s: n=%zu p50=%.3f ms p99=%.3f ms max=%.3f ms\n", what, v.size(), at(0.5), at(0.99), v.back());
}

const std::string kFrame = [] {
  std::string f = R"({"type":"edit","seq":0,"op":"set","data":{"path":"/a/b","value":")";
  f.append(200 - f.size() - 3, 'x');
  return f + "\"}}";
}();

int bench_fsync(const std::string& dir, int n) {
  std::filesystem::create_directories(dir);
  std::string path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return std::perror("open"), 1;
  std::vector<double> lat;
  uint64_t off = 0;
  for (int i = 0; i < n; ++i) {
    auto t = Clock::now();
    if (pwrite_all(fd, kFrame, off) != 0 || ::fdatasync(fd) != 0) return std::perror("write"), 1;
    off += kFrame.size();
    lat.push_back(ms_since(t));
  }
  ::close(fd);
  ::unlink(path.c_str());
  print_percentiles("fdatasync (append 200 B)", lat);
  return 0;
}

// What both engines offer the producers: submit an edit, wake an eventfd on completion.
struct Engine {
  virtual ~Engine() = default;
  virtual uint64_t submit(int producer, int room, uint64_t seq) = 0;
  virtual int event_fd(int producer) = 0;
  virtual void drain(int producer, std::vector<uint64_t>& done) = 0;
  virtual std::string counters() = 0;
};

struct DiskEngine : Engine {
  std::unique_ptr<DiskStore> store;
  std::unique_ptr<DiskStore::Client> clients[2];
  explicit DiskEngine(const std::string& dir, int rooms) {
    std::vector<LoadedRoom> loaded;
    std::string error;
    DiskOptions o;
    o.dir = dir;
    o.history_limit = 1000;
    store = DiskStore::open(o, loaded, error);
    if (!store) std::fprintf(stderr, "%s\n", error.c_str()), std::exit(1);
    for (auto& c : clients) c = store->client();
    std::vector<uint64_t> t;
    for (int r = 0; r < rooms; ++r) {
      RoomState s;
      s.room = "room" + std::to_string(r);
      s.epoch = "bench";
      t.push_back(clients[0]->put_room(s));
    }
    size_t got = 0;
    while (got < t.size()) {
      pollfd p{clients[0]->event_fd(), POLLIN, 0};
      ::poll(&p, 1, 1000);
      clients[0]->drain([&](const DiskCompletion& d) {
        if (d.error != DiskError::None) std::fprintf(stderr, "put_room: %s\n", std::string(to_string(d.error)).c_str()), std::exit(1);
        ++got;
      });
    }
  }
  uint64_t submit(int p, int room, uint64_t seq) override {
    std::string key = "u" + std::to_string(p) + "\n" + std::to_string(seq);
    EditView e{seq, key, kFrame, 0};
    return clients[p]->append("room" + std::to_string(room), &e);
  }
  int event_fd(int p) override { return clients[p]->event_fd(); }
  void drain(int p, std::vector<uint64_t>& done) override {
    clients[p]->drain([&](const DiskCompletion& d) {
      if (d.error != DiskError::None) std::fprintf(stderr, "append: %s\n", std::string(to_string(d.error)).c_str()), std::exit(1);
      done.push_back(d.ticket);
    });
  }
  std::string counters() override {
    DiskStats s = store->stats();
    return "batches=" + std::to_string(s.batches) + " fdatasyncs=" + std::to_string(s.syncs) +
           " compactions=" + std::to_string(s.compactions);
  }
};

#ifdef ROOMCAST_BENCH_SQLITE
// SQLite in WAL mode with synchronous=FULL (a commit syncs the WAL), one writer thread
// committing everything queued in one transaction: the same group commit as DiskStore.
struct SqliteEngine : Engine {
  struct Op { int producer; uint64_t ticket; int room; uint64_t seq; std::string key; };
  sqlite3* db = nullptr;
  std::mutex mu;
  std::vector<Op> queue;
  bool stop = false;
  std::condition_variable cv;
  struct Inbox { int efd; std::mutex mu; std::vector<uint64_t> done; uint64_t next = 1; } inbox[2];
  std::thread writer;
  uint64_t commits = 0;
  SqliteEngine(const std::string& dir) {
    std::filesystem::create_directories(dir);
    if (sqlite3_open((dir + "/rooms.db").c_str(), &db) != SQLITE_OK) std::exit(1);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("CREATE TABLE IF NOT EXISTS edits(room TEXT, seq INTEGER, key TEXT, frame BLOB, ts INTEGER,"
         " PRIMARY KEY(room, seq)) WITHOUT ROWID");
    for (auto& i : inbox) i.efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    writer = std::thread([this] { run(); });
  }
  ~SqliteEngine() override {
    { std::lock_guard<std::mutex> l(mu); stop = true; }
    cv.notify_all();
    writer.join();
    sqlite3_close(db);
  }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) std::fprintf(stderr, "sqlite: %s\n", err), std::exit(1);
  }
  void run() {
    sqlite3_stmt* ins;
    sqlite3_prepare_v2(db, "INSERT INTO edits VALUES(?,?,?,?,?)", -1, &ins, nullptr);
    std::vector<Op> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return !queue.empty() || stop; });
        if (queue.empty()) break;
        batch.swap(queue);
      }
      exec("BEGIN");
      for (Op& op : batch) {
        std::string room = "room" + std::to_string(op.room);
        sqlite3_bind_text(ins, 1, room.c_str(), int(room.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 2, int64_t(op.seq) * 2 + op.producer);
        sqlite3_bind_text(ins, 3, op.key.c_str(), int(op.key.size()), SQLITE_TRANSIENT);
        sqlite3_bind_blob(ins, 4, kFrame.data(), int(kFrame.size()), SQLITE_STATIC);
        sqlite3_bind_int64(ins, 5, 0);
        if (sqlite3_step(ins) != SQLITE_DONE) std::fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db)), std::exit(1);
        sqlite3_reset(ins);
      }
      exec("COMMIT");
      ++commits;
      for (Op& op : batch) {
        std::lock_guard<std::mutex> l(inbox[op.producer].mu);
        inbox[op.producer].done.push_back(op.ticket);
      }
      uint64_t one = 1;
      for (auto& i : inbox) [[maybe_unused]] ssize_t w = ::write(i.efd, &one, 8);
      batch.clear();
    }
    sqlite3_finalize(ins);
  }
  uint64_t submit(int p, int room, uint64_t seq) override {
    Op op{p, inbox[p].next++, room, seq, "u" + std::to_string(p) + "\n" + std::to_string(seq)};
    uint64_t t = op.ticket;
    { std::lock_guard<std::mutex> l(mu); queue.push_back(std::move(op)); }
    cv.notify_one();
    return t;
  }
  int event_fd(int p) override { return inbox[p].efd; }
  void drain(int p, std::vector<uint64_t>& done) override {
    uint64_t n;
    [[maybe_unused]] ssize_t r = ::read(inbox[p].efd, &n, 8);
    std::lock_guard<std::mutex> l(inbox[p].mu);
    done.insert(done.end(), inbox[p].done.begin(), inbox[p].done.end());
    inbox[p].done.clear();
  }
  std::string counters() override { return "commits=" + std::to_string(commits); }
};
#endif

int bench_load_run(Engine& engine, double rate, double seconds, int rooms) {
  std::vector<double> lat[2];
  std::atomic<uint64_t> acked{0};
  auto start = Clock::now();
  auto producer = [&](int p) {
    std::map<uint64_t, Clock::time_point> inflight;
    std::vector<uint64_t> seq(size_t(rooms), 0);
    std::vector<uint64_t> done;
    double per_thread = rate / 2;
    uint64_t sent = 0;
    int next_room = p;
    while (ms_since(start) < seconds * 1000) {
      double due_ms = rate > 0 ? double(sent) * 1000.0 / per_thread : 0;
      bool may_send = rate > 0 ? ms_since(start) >= due_ms : inflight.size() < 128;
      // Producer p writes only its own rooms (p, p+2, ...), as a room lives on one loop.
      while (may_send) {
        int room = next_room;
        next_room = (next_room + 2) % rooms;
        if (rooms == 1) room = 0;
        uint64_t s = ++seq[size_t(room)];
        if (rooms == 1) s = s * 2 + uint64_t(p);  // one room: only the engines' own check
        inflight[engine.submit(p, room, s)] = Clock::now();
        ++sent;
        due_ms = rate > 0 ? double(sent) * 1000.0 / per_thread : 0;
        may_send = rate > 0 ? ms_since(start) >= due_ms : inflight.size() < 128;
      }
      // Sleep until the next send is due or a completion arrives (never spin: the
      // producers share the 2 cores with the writer thread).
      double wait = rate > 0 ? std::clamp(due_ms - ms_since(start), 0.05, 50.0) : 50.0;
      timespec ts{0, long(wait * 1e6)};
      pollfd pf{engine.event_fd(p), POLLIN, 0};
      ::ppoll(&pf, 1, &ts, nullptr);
      done.clear();
      engine.drain(p, done);
      for (uint64_t t : done) {
        auto it = inflight.find(t);
        lat[p].push_back(std::chrono::duration<double, std::milli>(Clock::now() - it->second).count());
        inflight.erase(it);
        ++acked;
      }
    }
    for (int i = 0; i < 200 && !inflight.empty(); ++i) {  // collect the last ones, bounded
      pollfd pf{engine.event_fd(p), POLLIN, 0};
      ::poll(&pf, 1, 10);
      done.clear();
      engine.drain(p, done);
      for (uint64_t t : done) inflight.erase(t), ++acked;
    }
  };
  std::thread a(producer, 0), b(producer, 1);
  a.join();
  b.join();
  double elapsed = ms_since(start) / 1000;
  std::vector<double> all = lat[0];
  all.insert(all.end(), lat[1].begin(), lat[1].end());
  std::printf("acked %llu edits in %.1f s: %.0f edits/s; %s\n", (unsigned long long)acked.load(), elapsed,
              double(acked.load()) / elapsed, engine.counters().c_str());
  print_percentiles("ack latency", all);
  return 0;
}

int bench_open(const std::string& dir, int rooms, int edits) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/rooms");
  for (int r = 0; r < rooms; ++r) {
    RoomState s;
    s.room = "room" + std::to_string(r);
    s.epoch = "bench";
    for (int e = 1; e <= edits; ++e) s.history.push_back({uint64_t(e), "u\n" + std::to_string(e), kFrame, 0});
    s.seq = uint64_t(edits);
    std::string bytes = encode_snapshot(s);
    FILE* f = std::fopen((dir + "/rooms/r_" + s.room + ".log").c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  ::sync();
  bool cold = false;
  if (FILE* f = std::fopen("/proc/sys/vm/drop_caches", "w")) {
    cold = std::fputs("3\n", f) >= 0;
    cold = (std::fclose(f) == 0) && cold;
  }
  for (int run = 0; run < 2; ++run) {
    std::vector<LoadedRoom> loaded;
    std::string error;
    DiskOptions o;
    o.dir = dir;
    o.history_limit = 1000;
    auto t = Clock::now();
    auto store = DiskStore::open(o, loaded, error);
    double ms = ms_since(t);
    if (!store) return std::fprintf(stderr, "%s\n", error.c_str()), 1;
    std::printf("open (load-all) of %zu rooms x %d edits, %s page cache: %.0f ms\n", loaded.size(), edits,
                run == 0 && cold ? "cold" : "warm", ms);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: see the comment at the top of bench/disk/main.cpp\n");
    return 2;
  }
  std::string mode = argv[1], dir = argv[2];
  auto arg = [&](int i, double def) { return argc > i ? std::atof(argv[i]) : def; };
  if (mode == "fsync") return bench_fsync(dir, int(arg(3, 2000)));
  if (mode == "load") return bench_open(dir, int(arg(3, 10000)), int(arg(4, 100)));
  if (mode == "store" || mode == "sqlite") {
    std::filesystem::remove_all(dir);
    std::unique_ptr<Engine> engine;
    int rooms = int(arg(5, 100));
    if (mode == "store") engine = std::make_unique<DiskEngine>(dir, rooms);
#ifdef ROOMCAST_BENCH_SQLITE
    else engine = std::make_unique<SqliteEngine>(dir);
#else
    else return std::fprintf(stderr, "built without SQLite (libsqlite3-dev)\n"), 2;
#endif
    int rc = bench_load_run(*engine, arg(3, 5000), arg(4, 10), rooms);
    engine.reset();
    std::filesystem::remove_all(dir);
    return rc;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
