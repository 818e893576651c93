// nn2fpga C-simulation arbitrary-precision types: ap_int / ap_uint / ap_fixed / ap_ufixed.
//
// Written for nn2fpga (Apache-2.0). Source compatible with the subset of the Xilinx
// ap_int.h / ap_fixed.h API that generated code uses, and bit-exact with the Xilinx
// reference headers on it (tests/test_ap_headers.py checks this differentially).
// Values are plain two's complement integers: int64_t up to 64 bits (63 for unsigned),
// __int128 above, so 16-bit arithmetic compiles to a few machine instructions.
// Limits: user types up to 64 bits; internal result types up to 128 bits; N (saturation
// bits) must be 0; AP_WRAP_SM is not supported. See docs/headers.md.
#ifndef NN2FPGA_AP_CORE_H
#define NN2FPGA_AP_CORE_H

#include <cstdint>
#include <cstring>
#include <type_traits>

enum ap_q_mode { AP_RND, AP_RND_ZERO, AP_RND_MIN_INF, AP_RND_INF, AP_RND_CONV, AP_TRN, AP_TRN_ZERO };
enum ap_o_mode { AP_SAT, AP_SAT_ZERO, AP_SAT_SYM, AP_WRAP, AP_WRAP_SM };

typedef long long ap_slong;
typedef unsigned long long ap_ulong;

template <int W, bool S> struct ap_int_base;
template <int W, int I, bool S, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP, int N = 0> struct ap_fixed_base;
template <int W> struct ap_int;
template <int W> struct ap_uint;
template <int W, int I, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP, int N = 0> struct ap_fixed;
template <int W, int I, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP, int N = 0> struct ap_ufixed;

#define NN2FPGA_AP_INL inline __attribute__((always_inline))

namespace nn2fpga_ap {

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

// ---- integer helpers (own traits: std ones reject __int128 under -std=c++17) ----
template <class T> constexpr int nbits = int(sizeof(T) * 8);
template <class T> constexpr bool is_sgn = T(-1) < T(0);
template <class T> struct uns_of { typedef unsigned long long type; };
template <> struct uns_of<i128> { typedef u128 type; };
template <> struct uns_of<u128> { typedef u128 type; };
template <class T> using uns = typename uns_of<T>::type;

// Storage for a W-bit value: int64_t while the value range fits, else 128 bits.
template <int W, bool S> struct rep_of {
  static_assert(W >= 1 && W <= 128, "nn2fpga ap types: width must be 1..128 (user types 1..64)");
  typedef typename std::conditional<(W + !S <= 64), int64_t,
                                    typename std::conditional<(W + !S <= 128), i128, u128>::type>::type type;
};
template <int W, bool S> using rep_t = typename rep_of<W, S>::type;

// Work type holding both operands of a conversion.
template <class A, class B> struct work_of {
  typedef typename std::conditional<
      std::is_same<A, u128>::value || std::is_same<B, u128>::value, u128,
      typename std::conditional<(sizeof(A) > 8 || sizeof(B) > 8), i128, int64_t>::type>::type type;
};

// Low W bits of x, sign- (S) or zero-extended into R.
template <int W, bool S, class R, class T> NN2FPGA_AP_INL R wrap(T x) {
  R r = R(x);
  constexpr int B = nbits<R>;
  if constexpr (W < B) {
    typedef uns<R> U;
    if constexpr (S)
      r = R(U(r) << (B - W)) >> (B - W);
    else
      r = R(U(r) & ((U(1) << W) - 1));
  }
  return r;
}

template <class T> NN2FPGA_AP_INL T shl(T x, int s) { return T(uns<T>(x) << s); }

template <ap_q_mode Q> NN2FPGA_AP_INL bool round_up(bool half, bool sticky, bool neg, bool lsb) {
  if constexpr (Q == AP_RND) return half;
  else if constexpr (Q == AP_RND_ZERO) return half && (neg || sticky);
  else if constexpr (Q == AP_RND_MIN_INF) return half && sticky;
  else if constexpr (Q == AP_RND_INF) return half && (!neg || sticky);
  else if constexpr (Q == AP_RND_CONV) return half && (lsb || sticky);
  else if constexpr (Q == AP_TRN_ZERO) return neg && (half || sticky);
  else return false;
}

constexpr double pow2(int e) {
  double r = 1.0;
  for (; e > 0; --e) r *= 2.0;
  for (; e < 0; ++e) r *= 0.5;
  return r;
}

// The core of every conversion. The source value is v * 2^-(F + d), where F = W - I is the
// target's fraction width: quantize to the target lsb with Q, then handle overflow with O.
// d is a compile-time constant for fixed -> fixed casts (everything folds) and a run-time
// value for double -> fixed. T must be at least as wide as the target storage.
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, class T>
NN2FPGA_AP_INL rep_t<W, S> convert(T v, int d) {
  typedef rep_t<W, S> R;
  typedef uns<T> U;
  constexpr int TB = nbits<T>;
  constexpr bool TS = is_sgn<T>;
  static_assert(TB >= nbits<R>, "work type too narrow");
  const bool neg = TS && v < T(0);
  T x = v;  // the value at target lsb scale (d > 0) or before the left shift (d < 0)
  int s = 0;  // pending left shift
  if (d > 0) {
    bool half, sticky;
    if (d < TB) {
      x = v >> d;
      const U rem = U(v) & ((U(1) << d) - 1);
      half = (rem >> (d - 1)) & 1;
      sticky = (rem & ((U(1) << (d - 1)) - 1)) != 0;
    } else {
      x = neg ? T(-1) : T(0);
      half = d == TB ? bool(U(v) >> (TB - 1)) : neg;
      sticky = d == TB ? (U(v) << 1) != 0 : v != T(0);
    }
    if constexpr (Q != AP_TRN) x += T(round_up<Q>(half, sticky, neg, x & 1));
  } else {
    s = -d;
  }
  if constexpr (O != AP_WRAP) {
    // In range iff lo <= x * 2^s <= hi, i.e. ceil(lo / 2^s) <= x <= floor(hi / 2^s).
    constexpr int VB = W - S;  // value bits of the target
    bool over = false, under = false;
    if (VB - s < TB - TS) over = x > (VB - s > 0 ? (T(1) << (VB - s)) - 1 : T(0));
    if constexpr (TS) {
      if constexpr (!S) {
        under = x < T(0);
      } else if constexpr (O == AP_SAT_SYM) {
        under = x < (VB - s > 0 ? -((T(1) << (VB - s)) - 1) : T(0));
      } else if (W - 1 - s < TB - 1) {
        under = x < (W - 1 - s >= 0 ? -(T(1) << (W - 1 - s)) : T(0));
      }
    }
    constexpr R max_raw = R((uns<R>(1) << VB) - 1);
    constexpr R min_raw = S ? R(-max_raw - 1) : R(0);
    if (over) return O == AP_SAT_ZERO ? R(0) : max_raw;
    // AP_SAT_SYM: the reference yields min|1 (= -max for W > 1, the minimum for W == 1).
    if (under) return O == AP_SAT_ZERO ? R(0) : (O == AP_SAT_SYM && S ? R(min_raw | 1) : min_raw);
  }
  if (s >= W) return R(0);
  return wrap<W, S, R>(s ? shl(x, s) : x);
}

// double -> fixed. Decomposes the IEEE bits as the reference does (sign, 53-bit mantissa
// with the implicit one always set, exponent), so denormals, infinities and NaNs map the same.
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O>
inline rep_t<W, S> from_double(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  if ((bits << 1) == 0) return 0;
  const int64_t man = int64_t((bits & ((1ull << 52) - 1)) | (1ull << 52));
  const int exp2 = int((bits >> 52) & 0x7ff) - 1075;  // value = +-man * 2^exp2
  typedef typename work_of<rep_t<W, S>, int64_t>::type T;
  return convert<W, I, S, Q, O, T>(T((bits >> 63) ? -man : man), -exp2 - (W - I));
}

// Exact three-way comparison of a * 2^-fa and b * 2^-fb.
template <class A, class B> NN2FPGA_AP_INL int cmp3(A a, int fa, B b, int fb) {
  typedef typename work_of<A, B>::type T;
  if constexpr (std::is_same<T, u128>::value && (is_sgn<A> || is_sgn<B>)) {
    const bool an = is_sgn<A> && a < A(0), bn = is_sgn<B> && b < B(0);
    if (an != bn) return an ? -1 : 1;
  }
  if (fa == fb) return T(a) < T(b) ? -1 : (T(a) > T(b) ? 1 : 0);
  // Make x the coarse operand and y the fine one (k more fraction bits); compare x with y / 2^k.
  const bool swap = fa > fb;
  const T x = swap ? T(b) : T(a), y = swap ? T(a) : T(b);
  const int k = swap ? fa - fb : fb - fa;
  constexpr int TB = nbits<T>;
  const bool yneg = is_sgn<T> && y < T(0);
  const T q = k < TB ? T(y >> k) : (yneg ? T(-1) : T(0));
  const bool rem = k < TB ? (uns<T>(y) & ((uns<T>(1) << k) - 1)) != 0 : y != T(0);
  int c = x < q ? -1 : (x > q ? 1 : (rem ? -1 : 0));
  return swap ? -c : c;
}

// Mixing with C integers: bool, char, int, long... behave as ap_int_base<bits, signed>.
template <class T> struct c_int {
  static constexpr bool ok = std::is_integral<T>::value;
  static constexpr int w = std::is_same<T, bool>::value ? 1 : nbits<T>;
  static constexpr bool s = std::is_signed<T>::value;
};

}  // namespace nn2fpga_ap

// ------------------------------------------------------------------ result-type factories
template <int W, bool S> struct ap_int_type {
  typedef typename std::conditional<(W > 64), ap_int_base<W, S>,
                                    typename std::conditional<S, ap_int<W>, ap_uint<W>>::type>::type type;
};
template <int W, int I, bool S> struct ap_fixed_type {
  typedef typename std::conditional<(W > 64), ap_fixed_base<W, I, S>,
                                    typename std::conditional<S, ap_fixed<W, I>, ap_ufixed<W, I>>::type>::type type;
};

// ------------------------------------------------------------------ bit and range proxies
namespace nn2fpga_ap {
template <class Obj> struct bit_ref {
  Obj& o;
  int i;
  NN2FPGA_AP_INL operator bool() const { return (o.V >> i) & 1; }
  NN2FPGA_AP_INL bit_ref& operator=(bool b) {
    typedef typename Obj::rep_type R;
    R m = shl(R(1), i);
    o.V = wrap<Obj::width, Obj::sign, R>(b ? R(o.V | m) : R(o.V & ~m));
    return *this;
  }
  NN2FPGA_AP_INL bit_ref& operator=(const bit_ref& b) { return *this = bool(b); }
};
template <class Obj> struct range_ref {
  Obj& o;
  int hi, lo;
  typedef ap_int_base<Obj::width, false> value_type;
  NN2FPGA_AP_INL value_type get() const { return static_cast<const Obj&>(o).range(hi, lo); }
  NN2FPGA_AP_INL operator value_type() const { return get(); }
  NN2FPGA_AP_INL ap_ulong to_uint64() const { return get().to_uint64(); }
  NN2FPGA_AP_INL ap_slong to_int64() const { return get().to_int64(); }
  NN2FPGA_AP_INL unsigned to_uint() const { return get().to_uint(); }
  NN2FPGA_AP_INL int to_int() const { return get().to_int(); }
  template <class V> NN2FPGA_AP_INL range_ref& operator=(const V& val) {
    typedef typename Obj::rep_type R;
    typedef uns<R> U;
    const int n = hi - lo + 1;
    const U mask = n >= nbits<U> ? ~U(0) : ((U(1) << n) - 1);
    const U bits = U(R(ap_int_base<Obj::width, false>(val).V)) & mask;
    o.V = wrap<Obj::width, Obj::sign, R>(R((U(o.V) & ~(mask << lo)) | (bits << lo)));
    return *this;
  }
  NN2FPGA_AP_INL range_ref& operator=(const range_ref& r) { return *this = r.get(); }
};
}  // namespace nn2fpga_ap

// ================================================================== ap_int_base
template <int W, bool S> struct ap_int_base {
  static_assert(W >= 1 && W <= 128, "nn2fpga ap_int: width must be 1..64 (up to 128 for internal results)");
  static constexpr int width = W;
  static constexpr bool sign = S;
  typedef nn2fpga_ap::rep_t<W, S> rep_type;
  typedef ap_int_base int_base;
  typedef typename std::conditional<S, ap_slong, ap_ulong>::type RetType;
  rep_type V = 0;

  ap_int_base() = default;
  template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
  NN2FPGA_AP_INL ap_int_base(T x) : V(nn2fpga_ap::wrap<W, S, rep_type>(x)) {}
  template <int W2, bool S2>
  NN2FPGA_AP_INL ap_int_base(const ap_int_base<W2, S2>& o) : V(nn2fpga_ap::wrap<W, S, rep_type>(o.V)) {}
  template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
  NN2FPGA_AP_INL ap_int_base(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& f)
      : V(nn2fpga_ap::wrap<W, S, rep_type>(f.to_ap_int_base().V)) {}
  // Like the reference: truncate the magnitude toward zero, wrap, then negate; a negative
  // value with |x| < 0.5 gives 1 (reference behaviour).
  inline ap_int_base(double x) {
    uint64_t bits;
    std::memcpy(&bits, &x, 8);
    if ((bits << 1) == 0) return;
    typedef typename nn2fpga_ap::uns<rep_type> U;
    const U man = U((bits & ((1ull << 52) - 1)) | (1ull << 52));
    const int sh = 1075 - int((bits >> 52) & 0x7ff);  // magnitude = man * 2^-sh
    const bool neg = bits >> 63;
    U m = sh >= 54 ? (neg ? ~U(0) : U(0)) : sh >= 0 ? (man >> sh) : (-sh < W ? U(man << -sh) : U(0));
    V = nn2fpga_ap::wrap<W, S, rep_type>(neg ? U(-m) : m);
  }
  NN2FPGA_AP_INL ap_int_base(float x) : ap_int_base(double(x)) {}
  template <class Obj> NN2FPGA_AP_INL ap_int_base(const nn2fpga_ap::range_ref<Obj>& r) : ap_int_base(r.get()) {}
  template <class Obj> NN2FPGA_AP_INL ap_int_base(const nn2fpga_ap::bit_ref<Obj>& b) : ap_int_base(bool(b)) {}

  NN2FPGA_AP_INL operator RetType() const { return RetType(V); }
  NN2FPGA_AP_INL bool to_bool() const { return V != 0; }
  NN2FPGA_AP_INL char to_char() const { return char(V); }
  NN2FPGA_AP_INL short to_short() const { return short(V); }
  NN2FPGA_AP_INL int to_int() const { return int(V); }
  NN2FPGA_AP_INL unsigned to_uint() const { return unsigned(V); }
  NN2FPGA_AP_INL long to_long() const { return long(V); }
  NN2FPGA_AP_INL unsigned long to_ulong() const { return (unsigned long)(V); }
  NN2FPGA_AP_INL ap_slong to_int64() const { return ap_slong(V); }
  NN2FPGA_AP_INL ap_ulong to_uint64() const { return ap_ulong(V); }
  NN2FPGA_AP_INL double to_double() const { return double(V); }
  NN2FPGA_AP_INL float to_float() const { return float(V); }
  NN2FPGA_AP_INL int length() const { return W; }

  // Bit and range select. A const object returns values; a mutable one returns proxies.
  NN2FPGA_AP_INL bool operator[](int i) const { return (V >> i) & 1; }
  NN2FPGA_AP_INL bool bit(int i) const { return (*this)[i]; }
  NN2FPGA_AP_INL nn2fpga_ap::bit_ref<ap_int_base> operator[](int i) { return {*this, i}; }
  NN2FPGA_AP_INL ap_int_base<W, false> range(int hi, int lo) const {
    ap_int_base<W, false> r;
    r.V = nn2fpga_ap::wrap<W, false, typename ap_int_base<W, false>::rep_type>(
        nn2fpga_ap::uns<rep_type>(V) >> lo);
    const int n = hi - lo + 1;
    if (n < W) r.V &= (typename ap_int_base<W, false>::rep_type(1) << n) - 1;
    return r;
  }
  NN2FPGA_AP_INL ap_int_base<W, false> range() const { return range(W - 1, 0); }
  NN2FPGA_AP_INL nn2fpga_ap::range_ref<ap_int_base> range(int hi, int lo) { return {*this, hi, lo}; }
  NN2FPGA_AP_INL nn2fpga_ap::range_ref<ap_int_base> operator()(int hi, int lo) { return {*this, hi, lo}; }
  NN2FPGA_AP_INL ap_int_base<W, false> operator()(int hi, int lo) const { return range(hi, lo); }

  NN2FPGA_AP_INL bool operator!() const { return V == 0; }
  NN2FPGA_AP_INL ap_int_base operator~() const {
    ap_int_base r;
    r.V = nn2fpga_ap::wrap<W, S, rep_type>(~V);
    return r;
  }
  NN2FPGA_AP_INL ap_int_base operator+() const { return *this; }
  // Result type as the reference: 0 (ap_uint<1>) minus this.
  NN2FPGA_AP_INL typename ap_int_type<(W > 1 + S ? W : 1 + S) + 1, true>::type operator-() const {
    typename ap_int_type<(W > 1 + S ? W : 1 + S) + 1, true>::type r;
    r.V = -decltype(r.V)(V);
    return r;
  }
  // Shifts keep the left operand's type; a negative signed amount shifts the other way.
  template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
  NN2FPGA_AP_INL ap_int_base operator<<(T sh) const {
    if constexpr (std::is_signed<T>::value)
      if (sh < 0) return shift_right(0u - unsigned(sh));
    return shift_left(unsigned(sh));
  }
  template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
  NN2FPGA_AP_INL ap_int_base operator>>(T sh) const {
    if constexpr (std::is_signed<T>::value)
      if (sh < 0) return shift_left(0u - unsigned(sh));
    return shift_right(unsigned(sh));
  }
  template <int W2, bool S2> NN2FPGA_AP_INL ap_int_base operator<<(const ap_int_base<W2, S2>& sh) const {
    return S2 ? *this << int(sh.V) : shift_left(unsigned(sh.V));
  }
  template <int W2, bool S2> NN2FPGA_AP_INL ap_int_base operator>>(const ap_int_base<W2, S2>& sh) const {
    return S2 ? *this >> int(sh.V) : shift_right(unsigned(sh.V));
  }
  NN2FPGA_AP_INL ap_int_base shift_left(unsigned sh) const {
    ap_int_base r;
    r.V = sh >= unsigned(W) ? 0 : nn2fpga_ap::wrap<W, S, rep_type>(nn2fpga_ap::shl(V, int(sh)));
    return r;
  }
  NN2FPGA_AP_INL ap_int_base shift_right(unsigned sh) const {
    ap_int_base r;
    r.V = sh >= unsigned(W) ? (V < 0 ? -1 : 0) : rep_type(V >> sh);
    return r;
  }
  template <class T> NN2FPGA_AP_INL ap_int_base& operator<<=(const T& sh) { return *this = *this << sh; }
  template <class T> NN2FPGA_AP_INL ap_int_base& operator>>=(const T& sh) { return *this = *this >> sh; }
  NN2FPGA_AP_INL ap_int_base& operator++() { return *this = *this + 1; }
  NN2FPGA_AP_INL ap_int_base& operator--() { return *this = *this - 1; }
  NN2FPGA_AP_INL ap_int_base operator++(int) { ap_int_base t = *this; ++*this; return t; }
  NN2FPGA_AP_INL ap_int_base operator--(int) { ap_int_base t = *this; --*this; return t; }
  template <class T> ap_int_base& operator+=(const T& b);
  template <class T> ap_int_base& operator-=(const T& b);
  template <class T> ap_int_base& operator*=(const T& b);
  template <class T> ap_int_base& operator/=(const T& b);
  template <class T> ap_int_base& operator%=(const T& b);
  template <class T> ap_int_base& operator&=(const T& b);
  template <class T> ap_int_base& operator|=(const T& b);
  template <class T> ap_int_base& operator^=(const T& b);
};

template <int W> struct ap_int : ap_int_base<W, true> {
  static_assert(W >= 1 && W <= 64, "nn2fpga ap_int<W>: W must be 1..64");
  typedef ap_int_base<W, true> Base;
  using Base::Base;
  ap_int() = default;
  NN2FPGA_AP_INL ap_int(const Base& b) : Base(b) {}
};
template <int W> struct ap_uint : ap_int_base<W, false> {
  static_assert(W >= 1 && W <= 64, "nn2fpga ap_uint<W>: W must be 1..64");
  typedef ap_int_base<W, false> Base;
  using Base::Base;
  ap_uint() = default;
  NN2FPGA_AP_INL ap_uint(const Base& b) : Base(b) {}
};

// ---- operand classification for the free operators
namespace nn2fpga_ap {
template <class T, class = void> struct is_int : std::false_type {};
template <class T> struct is_int<T, std::void_t<typename T::int_base>> : std::true_type {};
template <class T, class = void> struct is_fix : std::false_type {};
template <class T> struct is_fix<T, std::void_t<typename T::fixed_base>> : std::true_type {};

// Operand as an ap_int_base (C integers become ap_int_base<bits, signed>).
template <class T> NN2FPGA_AP_INL const typename T::int_base& as_int(const T& x) { return x; }
template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
NN2FPGA_AP_INL ap_int_base<c_int<T>::w, c_int<T>::s> as_int(T x) {
  return ap_int_base<c_int<T>::w, c_int<T>::s>(x);
}
template <class A, class B>
using int_op = typename std::enable_if<(is_int<A>::value && (is_int<B>::value || c_int<B>::ok)) ||
                                           (is_int<B>::value && c_int<A>::ok),
                                       int>::type;
}  // namespace nn2fpga_ap

// ---- ap_int arithmetic (Xilinx RType rules)
namespace nn2fpga_ap {
template <int W1, bool S1, int W2, bool S2> struct int_rtype {
  static constexpr int a = W1 + (S2 && !S1), b = W2 + (S1 && !S2);
  static constexpr int logic_w = a > b ? a : b;
  typedef typename ap_int_type<W1 + W2, S1 || S2>::type mult;
  typedef typename ap_int_type<logic_w + 1, S1 || S2>::type plus;
  typedef typename ap_int_type<logic_w + 1, true>::type minus;
  typedef typename ap_int_type<W1 + S2, S1 || S2>::type div;
  typedef typename ap_int_type<(W1 < W2 + (!S2 && S1) ? W1 : W2 + (!S2 && S1)), S1>::type mod;
  typedef typename ap_int_type<logic_w, S1 || S2>::type logic;
};
#define NN2FPGA_AP_INT_BINOP(OP, KIND, EXPR)                                                          \
  template <int W1, bool S1, int W2, bool S2>                                                         \
  NN2FPGA_AP_INL typename int_rtype<W1, S1, W2, S2>::KIND int_##KIND(const ap_int_base<W1, S1>& x,    \
                                                                     const ap_int_base<W2, S2>& y) {  \
    typedef typename int_rtype<W1, S1, W2, S2>::KIND R;                                               \
    typedef typename work_of<typename work_of<rep_t<W1, S1>, rep_t<W2, S2>>::type,                    \
                             typename R::rep_type>::type T;                                           \
    const T a = T(x.V), b = T(y.V);                                                                   \
    R r;                                                                                              \
    r.V = wrap<R::width, R::sign, typename R::rep_type>(T(EXPR));                                     \
    return r;                                                                                         \
  }
NN2FPGA_AP_INT_BINOP(+, plus, a + b)
NN2FPGA_AP_INT_BINOP(-, minus, a - b)
NN2FPGA_AP_INT_BINOP(*, mult, a * b)
NN2FPGA_AP_INT_BINOP(/, div, a / b)
NN2FPGA_AP_INT_BINOP(%, mod, a % b)
#undef NN2FPGA_AP_INT_BINOP
template <int W1, bool S1, int W2, bool S2, class F>
NN2FPGA_AP_INL typename int_rtype<W1, S1, W2, S2>::logic int_logic(const ap_int_base<W1, S1>& x,
                                                                   const ap_int_base<W2, S2>& y, F f) {
  typedef typename int_rtype<W1, S1, W2, S2>::logic R;
  typedef typename R::rep_type T;
  R r;
  r.V = wrap<R::width, R::sign, T>(f(T(x.V), T(y.V)));
  return r;
}
}  // namespace nn2fpga_ap

#define NN2FPGA_AP_INT_OP(OP, FN)                                                                      \
  template <class A, class B, nn2fpga_ap::int_op<A, B> = 0>                                        \
  NN2FPGA_AP_INL auto operator OP(const A& a, const B& b) {                                            \
    return nn2fpga_ap::FN(nn2fpga_ap::as_int(a), nn2fpga_ap::as_int(b));                               \
  }                                                                                                    \
  template <int W, bool S>                                                                             \
  template <class T>                                                                                   \
  inline ap_int_base<W, S>& ap_int_base<W, S>::operator OP##=(const T& b) {                            \
    return *this = ap_int_base(*this OP b);                                                            \
  }
NN2FPGA_AP_INT_OP(+, int_plus)
NN2FPGA_AP_INT_OP(-, int_minus)
NN2FPGA_AP_INT_OP(*, int_mult)
NN2FPGA_AP_INT_OP(/, int_div)
NN2FPGA_AP_INT_OP(%, int_mod)
#undef NN2FPGA_AP_INT_OP
#define NN2FPGA_AP_INT_LOGIC(OP)                                                                       \
  template <class A, class B, nn2fpga_ap::int_op<A, B> = 0>                                        \
  NN2FPGA_AP_INL auto operator OP(const A& a, const B& b) {                                            \
    return nn2fpga_ap::int_logic(nn2fpga_ap::as_int(a), nn2fpga_ap::as_int(b),                         \
                                 [](auto x, auto y) { return x OP y; });                               \
  }                                                                                                    \
  template <int W, bool S>                                                                             \
  template <class T>                                                                                   \
  inline ap_int_base<W, S>& ap_int_base<W, S>::operator OP##=(const T& b) {                            \
    return *this = ap_int_base(*this OP b);                                                            \
  }
NN2FPGA_AP_INT_LOGIC(&)
NN2FPGA_AP_INT_LOGIC(|)
NN2FPGA_AP_INT_LOGIC(^)
#undef NN2FPGA_AP_INT_LOGIC

// ================================================================== ap_fixed_base
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N> struct ap_fixed_base {
  static_assert(W >= 1 && W <= 128, "nn2fpga ap_fixed: width must be 1..64 (up to 128 for internal results)");
  static_assert(N == 0, "nn2fpga ap_fixed: saturation bits N != 0 are not supported");
  static_assert(O != AP_WRAP_SM, "nn2fpga ap_fixed: AP_WRAP_SM is not supported");
  static constexpr int width = W, iwidth = I, fwidth = W - I;
  static constexpr bool sign = S;
  static constexpr ap_q_mode qmode = Q;
  static constexpr ap_o_mode omode = O;
  typedef nn2fpga_ap::rep_t<W, S> rep_type;
  typedef ap_fixed_base fixed_base;
  rep_type V = 0;

  // Raw bits of a value with W2 bits, W2 - F2 integer bits, quantized and saturated into this type.
  template <int W2, int F2, class T2> static NN2FPGA_AP_INL rep_type cast_raw(T2 v) {
    typedef typename nn2fpga_ap::work_of<T2, rep_type>::type T;
    return nn2fpga_ap::convert<W, I, S, Q, O, T>(T(v), F2 - (W - I));
  }

  ap_fixed_base() = default;
  template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
  NN2FPGA_AP_INL ap_fixed_base(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) : V(cast_raw<W2, W2 - I2>(o.V)) {}
  template <int W2, bool S2>
  NN2FPGA_AP_INL ap_fixed_base(const ap_int_base<W2, S2>& o) : V(cast_raw<W2, 0>(o.V)) {}
  template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
  NN2FPGA_AP_INL ap_fixed_base(T x)
      : V(cast_raw<nn2fpga_ap::c_int<T>::w, 0>(ap_int_base<nn2fpga_ap::c_int<T>::w, nn2fpga_ap::c_int<T>::s>(x).V)) {}
  NN2FPGA_AP_INL ap_fixed_base(double d) : V(nn2fpga_ap::from_double<W, I, S, Q, O>(d)) {}
  NN2FPGA_AP_INL ap_fixed_base(float f) : V(nn2fpga_ap::from_double<W, I, S, Q, O>(double(f))) {}
  template <class Obj>
  NN2FPGA_AP_INL ap_fixed_base(const nn2fpga_ap::range_ref<Obj>& r) : ap_fixed_base(ap_int_base<Obj::width, false>(r)) {}
  template <class Obj> NN2FPGA_AP_INL ap_fixed_base(const nn2fpga_ap::bit_ref<Obj>& b) : ap_fixed_base(bool(b)) {}

  // Conversions out. Floating point: exact value rounded to nearest even (as the reference).
  NN2FPGA_AP_INL double to_double() const {
    constexpr double scale = nn2fpga_ap::pow2(I - W);
    return double(V) * scale;
  }
  NN2FPGA_AP_INL float to_float() const {
    constexpr float scale = float(nn2fpga_ap::pow2(I - W));
    return float(V) * scale;
  }
  NN2FPGA_AP_INL operator double() const { return to_double(); }
  // Integer part truncated toward zero, as the reference's to_ap_int_base(); for I <= 0 a
  // negative value gives -1 there (its 1-bit result wraps), reproduced here.
  NN2FPGA_AP_INL nn2fpga_ap::i128 int_part() const {
    using namespace nn2fpga_ap;
    if constexpr (I <= 0) {
      return S && V < 0 ? -1 : 0;
    } else if constexpr (I < W) {
      typedef uns<rep_type> U;
      rep_type q = V >> (W - I);
      if (S && V < 0 && (U(V) & ((U(1) << (W - I)) - 1)) != 0) ++q;
      return i128(q);
    } else if constexpr (I - W >= 128) {
      return 0;
    } else {
      return i128(u128(V) << (I - W));
    }
  }
  NN2FPGA_AP_INL ap_int_base<(I > 1 ? I : 1), S> to_ap_int_base() const {
    ap_int_base<(I > 1 ? I : 1), S> r;
    r.V = nn2fpga_ap::wrap<(I > 1 ? I : 1), S, typename decltype(r)::rep_type>(int_part());
    return r;
  }
  NN2FPGA_AP_INL char to_char() const { return char(int_part()); }
  NN2FPGA_AP_INL int to_int() const { return int(int_part()); }
  NN2FPGA_AP_INL unsigned to_uint() const { return unsigned(int_part()); }
  NN2FPGA_AP_INL long to_long() const { return long(int_part()); }
  NN2FPGA_AP_INL ap_slong to_int64() const { return ap_slong(int_part()); }
  NN2FPGA_AP_INL ap_ulong to_uint64() const { return ap_ulong(int_part()); }
  NN2FPGA_AP_INL int length() const { return W; }

  NN2FPGA_AP_INL bool operator[](int i) const { return (V >> i) & 1; }
  NN2FPGA_AP_INL bool bit(int i) const { return (*this)[i]; }
  NN2FPGA_AP_INL nn2fpga_ap::bit_ref<ap_fixed_base> operator[](int i) { return {*this, i}; }
  NN2FPGA_AP_INL ap_int_base<W, false> range(int hi, int lo) const {
    ap_int_base<W, S> t;
    t.V = V;
    return t.range(hi, lo);
  }
  NN2FPGA_AP_INL ap_int_base<W, false> range() const { return range(W - 1, 0); }
  NN2FPGA_AP_INL nn2fpga_ap::range_ref<ap_fixed_base> range(int hi, int lo) { return {*this, hi, lo}; }
  NN2FPGA_AP_INL nn2fpga_ap::range_ref<ap_fixed_base> operator()(int hi, int lo) { return {*this, hi, lo}; }
  NN2FPGA_AP_INL ap_int_base<W, false> operator()(int hi, int lo) const { return range(hi, lo); }

  NN2FPGA_AP_INL bool operator!() const { return V == 0; }
  NN2FPGA_AP_INL ap_fixed_base operator+() const { return *this; }
  NN2FPGA_AP_INL typename ap_fixed_type<W + 1, I + 1, true>::type operator-() const {
    typename ap_fixed_type<W + 1, I + 1, true>::type r;
    r.V = -decltype(r.V)(V);
    return r;
  }
  NN2FPGA_AP_INL typename ap_fixed_type<W, I, S>::type operator~() const {
    typename ap_fixed_type<W, I, S>::type r;
    r.V = nn2fpga_ap::wrap<W, S, rep_type>(~V);
    return r;
  }

  // Shifts keep this type (modes included) and neither round nor saturate, as the reference.
  NN2FPGA_AP_INL ap_fixed_base shift_left(unsigned sh) const {
    ap_fixed_base r;
    r.V = sh >= unsigned(W) ? 0 : nn2fpga_ap::wrap<W, S, rep_type>(nn2fpga_ap::shl(V, int(sh)));
    return r;
  }
  NN2FPGA_AP_INL ap_fixed_base shift_right(unsigned sh) const {
    ap_fixed_base r;
    r.V = sh >= unsigned(W) ? (V < 0 ? -1 : 0) : rep_type(V >> sh);
    return r;
  }
  template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
  NN2FPGA_AP_INL ap_fixed_base operator<<(T sh) const {
    if constexpr (std::is_signed<T>::value)
      if (sh < 0) return shift_right(0u - unsigned(int(sh)));
    return shift_left(unsigned(sh));
  }
  template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
  NN2FPGA_AP_INL ap_fixed_base operator>>(T sh) const {
    if constexpr (std::is_signed<T>::value)
      if (sh < 0) return shift_left(0u - unsigned(int(sh)));
    return shift_right(unsigned(sh));
  }
  template <int W2, bool S2> NN2FPGA_AP_INL ap_fixed_base operator<<(const ap_int_base<W2, S2>& sh) const {
    if constexpr (S2) return *this << int(sh.V);
    else return shift_left(unsigned(sh.V));
  }
  template <int W2, bool S2> NN2FPGA_AP_INL ap_fixed_base operator>>(const ap_int_base<W2, S2>& sh) const {
    if constexpr (S2) return *this >> int(sh.V);
    else return shift_right(unsigned(sh.V));
  }
  template <class T> NN2FPGA_AP_INL ap_fixed_base& operator<<=(const T& sh) { return *this = *this << sh; }
  template <class T> NN2FPGA_AP_INL ap_fixed_base& operator>>=(const T& sh) { return *this = *this >> sh; }

  // Compound assignment: exact result, then this type's rounding and overflow.
  template <class T> NN2FPGA_AP_INL ap_fixed_base& operator+=(const T& b) { return *this = ap_fixed_base(*this + b); }
  template <class T> NN2FPGA_AP_INL ap_fixed_base& operator-=(const T& b) { return *this = ap_fixed_base(*this - b); }
  template <class T> NN2FPGA_AP_INL ap_fixed_base& operator*=(const T& b) { return *this = ap_fixed_base(*this * b); }
  NN2FPGA_AP_INL ap_fixed_base& operator++() { return *this += 1; }
  NN2FPGA_AP_INL ap_fixed_base& operator--() { return *this -= 1; }
  NN2FPGA_AP_INL ap_fixed_base operator++(int) { ap_fixed_base t = *this; ++*this; return t; }
  NN2FPGA_AP_INL ap_fixed_base operator--(int) { ap_fixed_base t = *this; --*this; return t; }
};

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct ap_fixed : ap_fixed_base<W, I, true, Q, O, N> {
  static_assert(W >= 1 && W <= 64, "nn2fpga ap_fixed<W, I>: W must be 1..64");
  typedef ap_fixed_base<W, I, true, Q, O, N> Base;
  using Base::Base;
  ap_fixed() = default;
  NN2FPGA_AP_INL ap_fixed(const Base& b) : Base(b) {}
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct ap_ufixed : ap_fixed_base<W, I, false, Q, O, N> {
  static_assert(W >= 1 && W <= 64, "nn2fpga ap_ufixed<W, I>: W must be 1..64");
  typedef ap_fixed_base<W, I, false, Q, O, N> Base;
  using Base::Base;
  ap_ufixed() = default;
  NN2FPGA_AP_INL ap_ufixed(const Base& b) : Base(b) {}
};

// ---- ap_fixed arithmetic (Xilinx RType rules); ap_int<W> acts as ap_fixed<W, W>, C integers as ap_int.
namespace nn2fpga_ap {
template <class T> NN2FPGA_AP_INL const typename T::fixed_base& as_fix(const T& x) { return x; }
template <class T, class = typename T::int_base>
NN2FPGA_AP_INL ap_fixed_base<T::width, T::width, T::sign> as_fix(const T& x) {
  ap_fixed_base<T::width, T::width, T::sign> r;
  r.V = x.V;
  return r;
}
template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
NN2FPGA_AP_INL ap_fixed_base<c_int<T>::w, c_int<T>::w, c_int<T>::s> as_fix(T x) {
  ap_fixed_base<c_int<T>::w, c_int<T>::w, c_int<T>::s> r;
  r.V = typename decltype(r)::rep_type(x);
  return r;
}
template <class A, class B>
using fix_op = typename std::enable_if<(is_fix<A>::value && (is_fix<B>::value || is_int<B>::value || c_int<B>::ok)) ||
                                           (is_fix<B>::value && (is_int<A>::value || c_int<A>::ok)),
                                       int>::type;

template <bool Minus, class A, class B> NN2FPGA_AP_INL auto fix_add(const A& a, const B& b) {
  constexpr int ia = A::iwidth + (B::sign && !A::sign), ib = B::iwidth + (A::sign && !B::sign);
  constexpr int F = A::fwidth > B::fwidth ? A::fwidth : B::fwidth, I = (ia > ib ? ia : ib) + 1;
  typedef typename ap_fixed_type<I + F, I, Minus || A::sign || B::sign>::type R;
  typedef typename R::rep_type T;
  R r;
  const T x = shl(T(a.V), F - A::fwidth), y = shl(T(b.V), F - B::fwidth);
  r.V = Minus ? T(x - y) : T(x + y);
  return r;
}
template <class A, class B> NN2FPGA_AP_INL auto fix_mul(const A& a, const B& b) {
  typedef typename ap_fixed_type<A::width + B::width, A::iwidth + B::iwidth, A::sign || B::sign>::type R;
  typedef typename R::rep_type T;
  R r;
  r.V = T(a.V) * T(b.V);
  return r;
}
}  // namespace nn2fpga_ap

template <class A, class B, nn2fpga_ap::fix_op<A, B> = 0> NN2FPGA_AP_INL auto operator+(const A& a, const B& b) {
  return nn2fpga_ap::fix_add<false>(nn2fpga_ap::as_fix(a), nn2fpga_ap::as_fix(b));
}
template <class A, class B, nn2fpga_ap::fix_op<A, B> = 0> NN2FPGA_AP_INL auto operator-(const A& a, const B& b) {
  return nn2fpga_ap::fix_add<true>(nn2fpga_ap::as_fix(a), nn2fpga_ap::as_fix(b));
}
template <class A, class B, nn2fpga_ap::fix_op<A, B> = 0> NN2FPGA_AP_INL auto operator*(const A& a, const B& b) {
  return nn2fpga_ap::fix_mul(nn2fpga_ap::as_fix(a), nn2fpga_ap::as_fix(b));
}
// ---- comparisons (both families). The reference widens the coarser operand to the finer scale
// (with that operand's own modes: an AP_SAT_SYM minimum becomes -max there), then compares the raw
// integers like C integers of those widths: with mixed signs, a negative signed operand can
// compare as a large unsigned number. Reproduced here on top of an exact comparison.
namespace nn2fpga_ap {
template <class A, class B> struct cmp_shape {
  static constexpr int F1 = A::fwidth, F2 = B::fwidth;
  static constexpr int W1 = F1 >= F2 ? A::width : A::width + F2 - F1 + 1;
  static constexpr int W2 = F1 <= F2 ? B::width : B::width + F1 - F2;
  // == compares modulo 2^M; equal widths up to 64 bits compare as 64-bit integers.
  static constexpr int M = W1 == W2 && W1 <= 64 ? 64 : W1 > W2 ? (W1 > 32 ? W1 : 32) : (W2 > 32 ? W2 : 32);
  static constexpr bool mixed = A::sign != B::sign;
  static constexpr bool as_unsigned = mixed && !(W1 < 32 && W2 < 32) && (A::sign ? W2 >= W1 : W1 >= W2);
  static constexpr bool bump = F1 > F2 && B::sign && B::omode == AP_SAT_SYM;  // b widened with AP_SAT_SYM
};
// Is a (at its own scale) equal to b's widened minimum turned into -max, -2^(W2-1) + 1?
template <class A, class B> NN2FPGA_AP_INL bool eq_bumped(typename A::rep_type av) {
  constexpr int W2 = cmp_shape<A, B>::W2;
  if constexpr (!A::sign || W2 > 128) return false;
  else return i128(av) == i128(u128(0) - (u128(1) << (W2 - 1)) + 1);
}
template <class B> NN2FPGA_AP_INL bool is_min(const B& b) {
  return B::sign && b.V == typename B::rep_type(u128(0) - (u128(1) << (B::width - 1)));
}
template <class A, class B> NN2FPGA_AP_INL int fx_rel(const A& a, const B& b) {
  typedef cmp_shape<A, B> C;
  int c = cmp3(a.V, C::F1, b.V, C::F2);
  if constexpr (C::bump)
    if (is_min(b)) c = c <= 0 ? -1 : (eq_bumped<A, B>(a.V) ? 0 : 1);
  if constexpr (C::as_unsigned) {
    if (A::sign && a.V < 0) c = 1;
    if (B::sign && b.V < 0) c = -1;
  }
  return c;
}
template <class A, class B> NN2FPGA_AP_INL bool fx_eq(const A& a, const B& b) {
  typedef cmp_shape<A, B> C;
  const bool bumped = C::bump && is_min(b);
  bool e = bumped ? eq_bumped<A, B>(a.V) : cmp3(a.V, C::F1, b.V, C::F2) == 0;
  if constexpr (C::mixed) {
    // Equal modulo 2^M: a negative signed operand matches the unsigned one read as signed.
    if constexpr (A::sign) {
      if (C::W2 >= C::M && a.V < 0) e = cmp3(a.V, C::F1, wrap<B::width, true, i128>(b.V), C::F2) == 0;
    } else if constexpr (C::F1 >= C::F2) {
      const i128 as = wrap<A::width, true, i128>(a.V);
      if (C::W1 >= C::M && b.V < 0) e = bumped ? eq_bumped<ap_fixed_base<A::width, A::iwidth, true>, B>(as)
                                               : cmp3(as, C::F1, b.V, C::F2) == 0;
    }
  }
  return e;
}
template <class A, class B>
using cmp_op = typename std::enable_if<((is_fix<A>::value || is_int<A>::value) &&
                                        (is_fix<B>::value || is_int<B>::value || c_int<B>::ok)) ||
                                           ((is_fix<B>::value || is_int<B>::value) && c_int<A>::ok),
                                       int>::type;
template <class A, class D>
using cmp_fp = typename std::enable_if<(is_fix<A>::value || is_int<A>::value) && std::is_floating_point<D>::value,
                                       int>::type;
}  // namespace nn2fpga_ap

#define NN2FPGA_AP_CMP(OP, EXPR)                                                                    \
  template <class A, class B, nn2fpga_ap::cmp_op<A, B> = 0>                                         \
  NN2FPGA_AP_INL bool operator OP(const A& a, const B& b) {                                         \
    const auto& x = nn2fpga_ap::as_fix(a);                                                          \
    const auto& y = nn2fpga_ap::as_fix(b);                                                          \
    return EXPR;                                                                                    \
  }                                                                                                 \
  template <class A, class D, nn2fpga_ap::cmp_fp<A, D> = 0>                                         \
  NN2FPGA_AP_INL bool operator OP(const A& a, D d) { return a.to_double() OP double(d); }           \
  template <class D, class A, nn2fpga_ap::cmp_fp<A, D> = 0>                                         \
  NN2FPGA_AP_INL bool operator OP(D d, const A& a) { return double(d) OP a.to_double(); }
NN2FPGA_AP_CMP(==, nn2fpga_ap::fx_eq(x, y))
NN2FPGA_AP_CMP(!=, !nn2fpga_ap::fx_eq(x, y))
NN2FPGA_AP_CMP(<, nn2fpga_ap::fx_rel(x, y) < 0)
NN2FPGA_AP_CMP(<=, nn2fpga_ap::fx_rel(x, y) <= 0)
NN2FPGA_AP_CMP(>, nn2fpga_ap::fx_rel(x, y) > 0)
NN2FPGA_AP_CMP(>=, nn2fpga_ap::fx_rel(x, y) >= 0)
#undef NN2FPGA_AP_CMP

#endif  // NN2FPGA_AP_CORE_H
