// Deterministic random numbers (internal): the one seed mixer of pulmo (SplitMix64) and what is built on it.
// Everything is a pure function of (seed, index), so results do not depend on thread count or on the standard
// library (std::shuffle / distributions are not specified bit for bit). Used by synth (phantoms), data (splits,
// the batch loader, augmentation seeds) and train (dropout and crop seeds).
#pragma once

#include <cmath>
#include <cstdint>

namespace pulmo {

// The SplitMix64 finaliser of x + golden ratio: a strong 64-bit mix.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The seed of child `index` of `seed` (element `index` of the SplitMix64 sequence started at `seed`): seeds
// derived from (seed, index) are independent. The loader draws batch s with mix_seed(seed, s); Compose gives
// child i mix_seed(seed, i).
inline uint64_t mix_seed(uint64_t seed, uint64_t index) { return mix64(seed + 0x9e3779b97f4a7c15ULL * index); }

// A hash of two values (phantom noise, the splits of a patient list).
inline uint64_t hash2(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b + 0x632be59bd9b4e019ULL)); }
// Uniform in [0, 1) from 53 bits.
inline double to_unit(uint64_t h) { return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0); }

// A sequential generator (SplitMix64).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(mix64(seed)) {}
  uint64_t next() { return mix64(state_ += 0x9e3779b97f4a7c15ULL); }
  double uniform() { return to_unit(next()); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int below(int n) { return static_cast<int>(uniform() * n); }  // 0..n-1
  double normal() {  // Box-Muller
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

// Standard normal deviate number `index` of the stream `seed` (stateless).
inline float normal_at(uint64_t seed, uint64_t index) {
  const uint64_t h = hash2(seed, index);
  const double u1 = 1.0 - to_unit(mix64(h)), u2 = to_unit(h);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace pulmo
