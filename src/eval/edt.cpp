// Exact squared Euclidean distance transform with anisotropic spacing (Felzenszwalb & Huttenlocher 2012,
// "Distance transforms of sampled functions"): one 1-D pass per axis. The first pass (along the last,
// contiguous axis) works on the binary seeds with two scans; the others take the lower envelope of parabolas.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "eval/surfels.h"

namespace pulmo::eval_detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// 1-D: f[0..n) squared distances (or +inf) on sample positions q * step; writes the transform to d.
// v (n ints) and z (n+1 doubles) are scratch.
void envelope_1d(const double* f, int64_t n, double step, double* d, int64_t* v, double* z) {
  int64_t k = -1;
  for (int64_t q = 0; q < n; ++q) {
    if (f[q] == kInf) continue;
    const double fq = f[q] + (q * step) * (q * step);
    while (k >= 0) {
      const int64_t p = v[k];
      const double s = (fq - (f[p] + (p * step) * (p * step))) / (2.0 * step * (q - p));
      if (s <= z[k]) {
        --k;
      } else {
        ++k;
        v[k] = q;
        z[k] = s;
        z[k + 1] = kInf;
        break;
      }
    }
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -kInf;
      z[1] = kInf;
    }
  }
  if (k < 0) {  // no finite sample on this line
    std::fill(d, d + n, kInf);
    return;
  }
  int64_t j = 0;
  for (int64_t q = 0; q < n; ++q) {
    while (z[j + 1] < q * step) ++j;
    const double t = (q - v[j]) * step;
    d[q] = t * t + f[v[j]];
  }
}

// Pass along axis 2 (contiguous): distance to the nearest seed on the same line.
void first_pass(const uint8_t* seed, const std::array<int64_t, 3>& shape, double step, double* out) {
  const int64_t n = shape[2], lines = shape[0] * shape[1];
  at::parallel_for(0, lines, 64, [&](int64_t begin, int64_t end) {
    for (int64_t line = begin; line < end; ++line) {
      const uint8_t* s = seed + line * n;
      double* d = out + line * n;
      int64_t last = -1;
      for (int64_t q = 0; q < n; ++q) {
        if (s[q]) last = q;
        d[q] = last < 0 ? kInf : double(q - last);
      }
      last = -1;
      for (int64_t q = n - 1; q >= 0; --q) {
        if (s[q]) last = q;
        if (last >= 0) d[q] = std::min(d[q], double(last - q));
        d[q] = d[q] == kInf ? kInf : (d[q] * step) * (d[q] * step);
      }
    }
  });
}

// Pass along `axis` (0 or 1) of a [n0, n1, n2] array, in place.
void envelope_pass(double* data, const std::array<int64_t, 3>& shape, int axis, double step) {
  const int64_t n = shape[axis];
  if (n <= 1) return;
  const int64_t stride = axis == 0 ? shape[1] * shape[2] : shape[2];
  const int64_t outer = axis == 0 ? 1 : shape[0];
  const int64_t inner = axis == 0 ? shape[1] * shape[2] : shape[2];
  const int64_t outer_stride = axis == 0 ? 0 : shape[1] * shape[2];
  // Lines are processed in blocks of kBlock neighbouring lines, so that gathers read whole cache lines.
  constexpr int64_t kBlock = 8;
  const int64_t blocks_per_outer = (inner + kBlock - 1) / kBlock;
  at::parallel_for(0, outer * blocks_per_outer, 16, [&](int64_t begin, int64_t end) {
    std::vector<double> f(n * kBlock), d(n);
    std::vector<int64_t> v(n);
    std::vector<double> z(n + 1);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t o = b / blocks_per_outer, i0 = (b % blocks_per_outer) * kBlock;
      const int64_t width = std::min(kBlock, inner - i0);
      double* base = data + o * outer_stride + i0;
      for (int64_t q = 0; q < n; ++q)
        for (int64_t w = 0; w < width; ++w) f[w * n + q] = base[q * stride + w];
      for (int64_t w = 0; w < width; ++w) {
        envelope_1d(&f[w * n], n, step, d.data(), v.data(), z.data());
        for (int64_t q = 0; q < n; ++q) base[q * stride + w] = d[q];
      }
    }
  });
}

}  // namespace

void squared_distance_transform(const uint8_t* seed, const std::array<int64_t, 3>& shape,
                                const std::array<double, 3>& spacing_mm, std::vector<double>& sqdist) {
  sqdist.resize(static_cast<size_t>(shape[0] * shape[1] * shape[2]));
  first_pass(seed, shape, spacing_mm[2], sqdist.data());
  envelope_pass(sqdist.data(), shape, 1, spacing_mm[1]);
  envelope_pass(sqdist.data(), shape, 0, spacing_mm[0]);
}

}  // namespace pulmo::eval_detail
