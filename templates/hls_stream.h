// nn2fpga C-simulation hls::stream<T>: an unbounded FIFO on std::deque, source compatible with
// the Vitis HLS stream API that generated code uses (see docs/headers.md).
//
// C simulation runs the dataflow processes one after another, so a read from an empty stream can
// never be satisfied: it is a deadlock in hardware, and here it prints the stream's name and aborts.
// A depth (template argument or set_depth) only affects full(); writes never block. max_size()
// reports the high-water mark, the FIFO depth this run needed.
#ifndef NN2FPGA_HLS_STREAM_H
#define NN2FPGA_HLS_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {

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

}  // namespace hls

#endif  // NN2FPGA_HLS_STREAM_H
