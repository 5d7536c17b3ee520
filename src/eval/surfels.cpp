// Surfel areas per neighbour code, derived from the marching-cubes (marching-squares) surface of the code.
//
// For a code, the "inside" corners are the set voxels when at most half are set, else the unset ones (the
// complement gives the same surface: classic marching cubes). The surface crosses every cube edge whose two
// corners differ, at the edge midpoint. On each cube face, every run of consecutive inside corners is cut off by
// one segment joining the two crossings that bracket the run (face-diagonal inside corners stay separated, as in
// the classic tables). The segments close into loops; each loop is triangulated as a fan from its crossing of
// lowest edge number (edges numbered by corner, then axis) and the triangle areas, after scaling every
// coordinate by its spacing, are summed. In 2-D the contour segments' scaled lengths are summed.
#include <cmath>
#include <vector>

#include "eval/surfels.h"

namespace pulmo::eval_detail {

namespace {

using P3 = std::array<double, 3>;

int corner_id(int i, int j, int k) { return 4 * i + 2 * j + k; }
bool corner_inside(int code, int id) { return (code >> (7 - id)) & 1; }
int popcount8(int code) {
  int n = 0;
  for (int b = 0; b < 8; ++b) n += (code >> b) & 1;
  return n;
}

struct Edge {
  int a, b;  // corner ids, a < b
};

// The 12 cube edges, ordered by lower corner then axis.
std::vector<Edge> cube_edges() {
  std::vector<Edge> edges;
  for (int c = 0; c < 8; ++c)
    for (int bit : {4, 2, 1})
      if (!(c & bit)) edges.push_back({c, c | bit});
  return edges;
}

int edge_index(const std::vector<Edge>& edges, int a, int b) {
  if (a > b) std::swap(a, b);
  for (size_t e = 0; e < edges.size(); ++e)
    if (edges[e].a == a && edges[e].b == b) return static_cast<int>(e);
  return -1;
}

P3 corner_position(int id) { return {double((id >> 2) & 1), double((id >> 1) & 1), double(id & 1)}; }

// Adjacency of crossing edges: on every face, each run of inside corners joins its two bracketing edges.
std::vector<std::vector<int>> crossing_graph(int inside, const std::vector<Edge>& edges) {
  std::vector<std::vector<int>> adj(edges.size());
  for (int axis = 0; axis < 3; ++axis)
    for (int v = 0; v < 2; ++v) {
      int ring[4];
      const int uv[4][2] = {{0, 0}, {0, 1}, {1, 1}, {1, 0}};
      for (int r = 0; r < 4; ++r) {
        int c[3];
        c[axis] = v;
        c[(axis + 1) % 3] = uv[r][0];
        c[(axis + 2) % 3] = uv[r][1];
        ring[r] = corner_id(c[0], c[1], c[2]);
      }
      for (int r = 0; r < 4; ++r) {
        const int prev = (r + 3) % 4;
        if (!corner_inside(inside, ring[r]) || corner_inside(inside, ring[prev])) continue;  // r starts a run
        int last = r;
        while (corner_inside(inside, ring[(last + 1) % 4])) last = (last + 1) % 4;
        const int e1 = edge_index(edges, ring[prev], ring[r]);
        const int e2 = edge_index(edges, ring[last], ring[(last + 1) % 4]);
        adj[e1].push_back(e2);
        adj[e2].push_back(e1);
      }
    }
  return adj;
}

double triangle_area(const P3& a, const P3& b, const P3& c) {
  const P3 u{b[0] - a[0], b[1] - a[1], b[2] - a[2]}, w{c[0] - a[0], c[1] - a[1], c[2] - a[2]};
  const P3 n{u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
  return 0.5 * std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
}

P3 edge_midpoint(const std::vector<Edge>& edges, int e, const std::array<double, 3>& spacing) {
  const P3 a = corner_position(edges[e].a), b = corner_position(edges[e].b);
  return P3{0.5 * (a[0] + b[0]) * spacing[0], 0.5 * (a[1] + b[1]) * spacing[1], 0.5 * (a[2] + b[2]) * spacing[2]};
}

using Triangles = std::vector<std::array<int, 3>>;

// Every triangulation of the polygon loop[first..last] (indices into loop), by the apex over edge (first, last).
std::vector<Triangles> triangulations(int first, int last) {
  if (last - first < 2) return {Triangles{}};
  std::vector<Triangles> all;
  for (int apex = first + 1; apex < last; ++apex)
    for (const Triangles& left : triangulations(first, apex))
      for (const Triangles& right : triangulations(apex, last)) {
        Triangles t = left;
        t.insert(t.end(), right.begin(), right.end());
        t.push_back({first, apex, last});
        all.push_back(t);
      }
  return all;
}

double triangles_area(const Triangles& tris, const std::vector<P3>& points) {
  double area = 0.0;
  for (const auto& t : tris) area += triangle_area(points[t[0]], points[t[1]], points[t[2]]);
  return area;
}

// A loop of crossings is triangulated the way the classic marching-cubes tables do it: of all triangulations
// of the (possibly non-planar) polygon, the one of largest area on the unit grid (for the pentagon of three
// corners on a face: the flat triangle under the three corners plus a planar quad; the same choice for
// mirror-image codes). That triangulation is then measured with the spacing applied.
double loop_area(const std::vector<int>& loop, const std::array<double, 3>& spacing, const std::vector<Edge>& edges) {
  std::vector<P3> unit, scaled;
  for (int e : loop) {
    unit.push_back(edge_midpoint(edges, e, {1.0, 1.0, 1.0}));
    scaled.push_back(edge_midpoint(edges, e, spacing));
  }
  const int m = static_cast<int>(loop.size());
  double best_unit = -1.0, best_scaled = 0.0;
  for (const Triangles& t : triangulations(0, m - 1)) {
    const double a = triangles_area(t, unit);
    if (a > best_unit + 1e-9) {
      best_unit = a;
      best_scaled = triangles_area(t, scaled);
    }
  }
  return best_scaled;
}

double code_area(int code, const std::array<double, 3>& spacing, const std::vector<Edge>& edges) {
  if (code == 0 || code == 255) return 0.0;
  const int inside = popcount8(code) <= 4 ? code : (~code & 255);
  const std::vector<std::vector<int>> adj = crossing_graph(inside, edges);
  std::vector<bool> used(edges.size(), false);
  double area = 0.0;
  for (size_t start = 0; start < edges.size(); ++start) {
    if (adj[start].empty() || used[start]) continue;
    std::vector<int> loop{static_cast<int>(start)};
    used[start] = true;
    int prev = -1, cur = static_cast<int>(start);
    for (;;) {
      const int next = adj[cur][0] != prev ? adj[cur][0] : adj[cur][1];
      if (used[next]) break;
      used[next] = true;
      loop.push_back(next);
      prev = cur;
      cur = next;
    }
    area += loop_area(loop, spacing, edges);
  }
  return area;
}

}  // namespace

std::array<double, 256> surfel_area_table_3d(const std::array<double, 3>& spacing_mm) {
  const std::vector<Edge> edges = cube_edges();
  std::array<double, 256> table{};
  for (int code = 0; code < 256; ++code) table[code] = code_area(code, spacing_mm, edges);
  return table;
}

std::array<double, 16> surfel_length_table_2d(const std::array<double, 2>& spacing_mm) {
  // Square corners in ring order (0,0), (0,1), (1,1), (1,0); voxel (i, j) sets bit 3 - (2i + j).
  const int ring[4][2] = {{0, 0}, {0, 1}, {1, 1}, {1, 0}};
  std::array<double, 16> table{};
  for (int code = 1; code < 15; ++code) {
    int n = 0;
    for (int b = 0; b < 4; ++b) n += (code >> b) & 1;
    const int inside = n <= 2 ? code : (~code & 15);
    auto in = [&](int r) { return (inside >> (3 - (2 * ring[r][0] + ring[r][1]))) & 1; };
    auto mid = [&](int r) {  // midpoint of the edge from ring[r] to ring[r+1], in mm
      const int* a = ring[r];
      const int* b = ring[(r + 1) % 4];
      return std::array<double, 2>{0.5 * (a[0] + b[0]) * spacing_mm[0], 0.5 * (a[1] + b[1]) * spacing_mm[1]};
    };
    double length = 0.0;
    for (int r = 0; r < 4; ++r) {
      if (!in(r) || in((r + 3) % 4)) continue;  // r starts a run of inside corners
      int last = r;
      while (in((last + 1) % 4)) last = (last + 1) % 4;
      const auto p = mid((r + 3) % 4), q = mid(last);
      length += std::hypot(p[0] - q[0], p[1] - q[1]);
    }
    table[code] = length;
  }
  return table;
}

}  // namespace pulmo::eval_detail
