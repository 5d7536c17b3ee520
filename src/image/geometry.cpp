#include "pulmo/geometry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace pulmo {

namespace {
// Inverse of a 3x3 row-major matrix (direction * diag(spacing)); throws nothing,
// a singular matrix gives NaNs, which physical_to_index then returns.
Mat3 inverse3(const Mat3& m) {
  const double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], i = m[8];
  const double A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const double det = a * A + b * B + c * C;
  const double s = 1.0 / det;
  return {A * s, -(b * i - c * h) * s, (b * f - c * e) * s,
          B * s, (a * i - c * g) * s,  -(a * f - c * d) * s,
          C * s, -(a * h - b * g) * s, (a * e - b * d) * s};
}
}  // namespace

Vec3 Geometry::index_to_physical(const Vec3& index) const {
  Vec3 p = origin_mm;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) p[r] += direction[3 * r + c] * spacing_mm[c] * index[c];
  return p;
}

Vec3 Geometry::physical_to_index(const Vec3& point_mm) const {
  Mat3 m;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m[3 * r + c] = direction[3 * r + c] * spacing_mm[c];
  const Mat3 inv = inverse3(m);
  const Vec3 d{point_mm[0] - origin_mm[0], point_mm[1] - origin_mm[1], point_mm[2] - origin_mm[2]};
  Vec3 idx{0, 0, 0};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) idx[r] += inv[3 * r + c] * d[c];
  return idx;
}

std::string Geometry::orientation_code() const {
  // LPS axes: +x = L, -x = R; +y = P, -y = A; +z = S, -z = I.
  static const char pos[3] = {'L', 'P', 'S'};
  static const char neg[3] = {'R', 'A', 'I'};
  std::string code(3, '?');
  for (int axis = 0; axis < 3; ++axis) {
    const Vec3 v = axis_direction(axis);
    int best = 0;
    for (int k = 1; k < 3; ++k)
      if (std::fabs(v[k]) > std::fabs(v[best])) best = k;
    code[axis] = v[best] >= 0 ? pos[best] : neg[best];
  }
  return code;
}

bool Geometry::same_grid_as(const Geometry& o, double tol_mm) const {
  if (size != o.size) return false;
  // Affine maps agree at the origin and along each axis over the whole extent.
  const Vec3 a0 = index_to_physical({0, 0, 0}), b0 = o.index_to_physical({0, 0, 0});
  for (int k = 0; k < 3; ++k)
    if (std::fabs(a0[k] - b0[k]) > tol_mm) return false;
  for (int axis = 0; axis < 3; ++axis) {
    Vec3 far{0, 0, 0};
    far[axis] = static_cast<double>(std::max<int64_t>(size[axis] - 1, 1));
    const Vec3 a = index_to_physical(far), b = o.index_to_physical(far);
    for (int k = 0; k < 3; ++k)
      if (std::fabs(a[k] - b[k]) > tol_mm) return false;
  }
  return true;
}

bool Geometry::same_physical_box_as(const Geometry& o, double tol_mm) const {
  auto corners = [](const Geometry& g) {
    std::vector<Vec3> c;
    for (int z = 0; z < 2; ++z)
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 2; ++x)
          c.push_back(g.index_to_physical({double(x * (g.size[0] - 1)), double(y * (g.size[1] - 1)),
                                           double(z * (g.size[2] - 1))}));
    return c;
  };
  const auto a = corners(*this), b = corners(o);
  for (const Vec3& p : a) {
    bool found = false;
    for (const Vec3& q : b)
      if (std::fabs(p[0] - q[0]) <= tol_mm && std::fabs(p[1] - q[1]) <= tol_mm && std::fabs(p[2] - q[2]) <= tol_mm)
        found = true;
    if (!found) return false;
  }
  return true;
}

bool Geometry::direction_is_orthonormal(double tol) const {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const Vec3 a = axis_direction(i), b = axis_direction(j);
      const double dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
      if (std::fabs(dot - (i == j ? 1.0 : 0.0)) > tol) return false;
    }
  return true;
}

std::string Geometry::describe() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%lldx%lldx%lld voxels, %.4gx%.4gx%.4g mm, %s, origin (%.2f, %.2f, %.2f) mm",
                static_cast<long long>(size[0]), static_cast<long long>(size[1]), static_cast<long long>(size[2]),
                spacing_mm[0], spacing_mm[1], spacing_mm[2], orientation_code().c_str(), origin_mm[0], origin_mm[1],
                origin_mm[2]);
  return buf;
}

}  // namespace pulmo
