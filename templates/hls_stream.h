// nn2fpga C-simulation hls::stream<T>: an unbounded FIFO on std::deque, source compatible with
// the Vitis HLS stream API that generated code uses (see docs/headers.md).
//
// C simulation runs the dataflow processes one after another, so a read from an empty stream can
// never be satisfied: it is a deadlock in hardware, and here it prints the stream's name and aborts.
// A depth (template argument or set_depth) only affects full(); writes never block. max_size()
// reports the high-water mark, the FIFO depth this run needed.
//
// Built with -DN2F_BOUNDED_STREAMS (nn2fpga simulate, C simulation only), a stream instead holds at
// most its depth (2, the Vitis default, unless set_depth says otherwise), write() blocks while it is
// full and read() while it is empty; generated top functions then run each dataflow process on a
// thread of its own (hls::sim::dataflow), and when every live process is blocked the run stops with
// a report naming each blocked process, its stream, the stream's depth and fill.
#ifndef NN2FPGA_HLS_STREAM_H
#define NN2FPGA_HLS_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#if defined(N2F_BOUNDED_STREAMS) && !defined(__SYNTHESIS__)
#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>
#endif

namespace hls {

#if defined(N2F_BOUNDED_STREAMS) && !defined(__SYNTHESIS__)
namespace sim {

// Thrown in every process of a deadlocked run, so that each one unwinds and its thread ends.
struct deadlock {};

// A process blocked on a stream: its name, whether it may go on (it may have been woken, and not yet
// run), what it waits for (described when a deadlock is reported) and the condition variable that wakes it.
struct waiter {
  std::string process;
  const std::string* stream;
  std::function<bool()> ready;
  std::function<std::string()> wants;
  std::condition_variable* cv;
};

// The state of a bounded run: one lock for every stream, the live and blocked processes, the streams'
// high-water marks (kept past the streams' lifetimes, in order of first construction) and the report.
struct monitor {
  std::mutex mu;
  int live = 0;  // processes not finished and not waiting for a dataflow region of their own
  std::vector<waiter*> blocked;
  bool dead = false;
  std::string report;
  std::map<std::string, std::size_t> depths;  // set_depth overridden by stream name (n2f_set_depth); kept by reset()
  std::vector<std::string> names;
  std::map<std::string, std::pair<std::size_t, std::size_t>> marks;  // name -> (depth, high-water mark)
};

inline monitor& state() {
  static monitor m;
  return m;
}
inline std::string& process_name() {
  thread_local std::string name = "main";
  return name;
}
inline bool& registered() {
  thread_local bool on = false;
  return on;
}

// With the lock held: when every live process is blocked, record the report and wake them all to unwind.
inline void check(monitor& m) {
  if (m.dead || m.live <= 0 || int(m.blocked.size()) < m.live) return;
  for (waiter* w : m.blocked) {
    if (w->ready()) return;  // woken, about to run
  }
  m.dead = true;
  auto order = [&m](const waiter* w) { return std::find(m.names.begin(), m.names.end(), *w->stream); };
  std::sort(m.blocked.begin(), m.blocked.end(), [&](waiter* a, waiter* b) { return order(a) < order(b); });
  m.report = "deadlock: every process is blocked\n";
  for (waiter* w : m.blocked) m.report += "  " + w->process + ": " + w->wants() + "\n";
  for (waiter* w : m.blocked) w->cv->notify_all();
}

// With the lock held: wait on cv until ready(), as a blocked process; throws deadlock when the run is dead.
template <class Ready, class Wants>
void block(std::unique_lock<std::mutex>& lock, const std::string& stream, std::condition_variable& cv, Ready ready,
           Wants wants) {
  monitor& m = state();
  if (!m.dead && ready()) return;
  waiter w{process_name(), &stream, ready, wants, &cv};
  m.blocked.push_back(&w);
  check(m);
  cv.wait(lock, [&] { return m.dead || ready(); });
  m.blocked.erase(std::find(m.blocked.begin(), m.blocked.end(), &w));
  if (m.dead) throw deadlock();
}

// The calling thread as a live process named `name` for its scope (the kernel, called from the bridge).
struct process {
  explicit process(const std::string& name) {
    std::lock_guard<std::mutex> lock(state().mu);
    state().live++;
    process_name() = name;
    registered() = true;
  }
  ~process() {
    std::lock_guard<std::mutex> lock(state().mu);
    state().live--;
    registered() = false;
    check(state());
  }
  process(const process&) = delete;
  process& operator=(const process&) = delete;
};

// The processes of one DATAFLOW region: add() each (N2F_PROCESS in n2f/stream.h), then run() them on one
// thread each; the caller waits for all of them and rethrows a deadlock. Regions nest (a process may run a
// region of its own): a waiting caller is not live, and the last process of its region hands its place back
// to it, so that the caller's siblings, blocked until it goes on, are never seen as a deadlock.
class dataflow {
 public:
  void add(const char* name, std::function<void()> body) { procs_.emplace_back(name, std::move(body)); }
  void run() {
    monitor& m = state();
    if (procs_.empty()) return;
    {
      std::lock_guard<std::mutex> lock(m.mu);
      if (m.dead) throw deadlock();
      caller_ = registered();
      left_ = int(procs_.size());
      m.live += left_ - (caller_ ? 1 : 0);  // the caller does not run while it waits
    }
    std::vector<std::thread> threads;
    for (auto& p : procs_) threads.emplace_back([this, &p] { run_one(p.first, p.second); });
    for (auto& t : threads) t.join();
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.dead) throw deadlock();
  }

 private:
  void run_one(const std::string& name, const std::function<void()>& body) {
    process_name() = name;
    registered() = true;
    try {
      body();
    } catch (const deadlock&) {
    }
    std::lock_guard<std::mutex> lock(state().mu);
    if (--left_ > 0 || !caller_) state().live--;  // else the caller goes on in this one's place
    check(state());
  }
  std::vector<std::pair<std::string, std::function<void()>>> procs_;
  bool caller_ = false;
  int left_ = 0;
};

// Forget the last run (its report, marks and deadlock); only while no process runs.
inline void reset() {
  monitor& m = state();
  std::lock_guard<std::mutex> lock(m.mu);
  m.live = 0;
  m.blocked.clear();
  m.dead = false;
  m.report.clear();
  m.names.clear();
  m.marks.clear();
}

}  // namespace sim

template <typename T, int DEPTH = 0> class stream {
 public:
  stream() : stream("hls::stream") {}
  explicit stream(const char* name) : stream(std::string(name ? name : "hls::stream")) {}
  explicit stream(const std::string& name) : name_(name) {
    sim::monitor& m = sim::state();
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.marks.emplace(name_, std::make_pair(depth_, std::size_t(0))).second) m.names.push_back(name_);
  }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() {
    sim::monitor& m = sim::state();
    std::lock_guard<std::mutex> lock(m.mu);
    auto& mark = m.marks[name_];
    mark = {depth_, std::max(mark.second, high_water_)};
  }

  bool empty() const { return size() == 0; }
  bool full() const { return size() >= depth_; }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(sim::state().mu);
    return fifo_.size();
  }
  std::size_t max_size() const { return high_water_; }
  std::size_t high_water() const { return high_water_; }
  std::size_t depth() const { return depth_; }
  void set_depth(std::size_t depth) {
    const auto& over = sim::state().depths;  // changed only between runs
    const auto it = over.find(name_);
    depth_ = it != over.end() ? it->second : (depth > 0 ? depth : 1);
  }
  const char* name() const { return name_.c_str(); }

  void write(const T& value) {
    std::unique_lock<std::mutex> lock(sim::state().mu);
    sim::block(lock, name_, cv_, [&] { return fifo_.size() < depth_; }, [this] { return fill("writing", "full"); });
    push(value);
  }
  T read() {
    std::unique_lock<std::mutex> lock(sim::state().mu);
    sim::block(lock, name_, cv_, [&] { return !fifo_.empty(); }, [this] { return fill("reading", "empty"); });
    return pop();
  }
  void read(T& value) { value = read(); }
  bool read_nb(T& value) {
    std::lock_guard<std::mutex> lock(sim::state().mu);
    if (fifo_.empty()) return false;
    value = pop();
    return true;
  }
  bool write_nb(const T& value) {
    std::lock_guard<std::mutex> lock(sim::state().mu);
    if (fifo_.size() >= depth_) return false;
    push(value);
    return true;
  }
  void operator>>(T& value) { read(value); }
  void operator<<(const T& value) { write(value); }
  // Block until a write would not block / a read would not, without doing it: a pipeline stage that
  // writes (reads) several streams in one cycle stalls until all of them can proceed.
  void wait_room() {
    std::unique_lock<std::mutex> lock(sim::state().mu);
    sim::block(lock, name_, cv_, [&] { return fifo_.size() < depth_; }, [this] { return fill("writing", "full"); });
  }
  void wait_data() {
    std::unique_lock<std::mutex> lock(sim::state().mu);
    sim::block(lock, name_, cv_, [&] { return !fifo_.empty(); }, [this] { return fill("reading", "empty"); });
  }

 private:
  std::string fill(const char* op, const char* state) const {
    return std::string("blocked ") + op + " '" + name_ + "' (" + state + ": " + std::to_string(fifo_.size()) +
           " of depth " + std::to_string(depth_) + ")";
  }
  void push(const T& value) {
    fifo_.push_back(value);
    if (fifo_.size() > high_water_) high_water_ = fifo_.size();
    cv_.notify_all();
  }
  T pop() {
    T value = fifo_.front();
    fifo_.pop_front();
    cv_.notify_all();
    return value;
  }

  std::string name_;
  std::deque<T> fifo_;
  std::size_t depth_ = DEPTH > 0 ? std::size_t(DEPTH) : 2;  // the Vitis default depth
  std::size_t high_water_ = 0;
  std::condition_variable cv_;
};

#else
template <typename T, int DEPTH = 0> class stream {
 public:
  stream() : name_("hls::stream") {}
  explicit stream(const char* name) : name_(name ? name : "hls::stream") {}
  explicit stream(const std::string& name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  bool empty() const { return fifo_.empty(); }
  bool full() const { return depth_ > 0 && fifo_.size() >= depth_; }
  std::size_t size() const { return fifo_.size(); }
  std::size_t max_size() const { return high_water_; }  // most elements ever held at once
  std::size_t high_water() const { return high_water_; }
  std::size_t depth() const { return depth_; }
  void set_depth(std::size_t depth) { depth_ = depth; }
  const char* name() const { return name_.c_str(); }

  void write(const T& value) {
    fifo_.push_back(value);
    if (fifo_.size() > high_water_) high_water_ = fifo_.size();
  }
  T read() {
    if (fifo_.empty()) {
      std::fprintf(stderr, "ERROR: hls::stream '%s' read while empty (deadlock in C simulation)\n", name_.c_str());
      std::abort();
    }
    T value = fifo_.front();
    fifo_.pop_front();
    return value;
  }
  void read(T& value) { value = read(); }
  bool read_nb(T& value) {
    if (fifo_.empty()) return false;
    value = read();
    return true;
  }
  bool write_nb(const T& value) {
    if (full()) return false;
    write(value);
    return true;
  }
  void operator>>(T& value) { read(value); }
  void operator<<(const T& value) { write(value); }

 private:
  std::string name_;
  std::deque<T> fifo_;
  std::size_t depth_ = DEPTH > 0 ? std::size_t(DEPTH) : 0;
  std::size_t high_water_ = 0;
};

#endif  // N2F_BOUNDED_STREAMS

}  // namespace hls

#endif  // NN2FPGA_HLS_STREAM_H
