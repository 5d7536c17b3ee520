// Internal pieces of the surface-distance computation (tested in tests/unit/test_surface.cpp).
//
// Neighbour codes follow DeepMind's surface-distance: a corner of the voxel grid sees the 2x2x2 (2x2) voxels
// around it; the voxel at offset (i, j, k) in {0,1}^3 from the block's low corner sets bit 7 - (4i + 2j + k)
// (2-D: bit 3 - (2i + j)). Offsets and spacings are in array-axis order.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace pulmo::eval_detail {

// Surfel area (mm^2) of each of the 256 3-D neighbour codes: the area of the marching-cubes triangles of
// that code, with the triangle corners scaled by `spacing_mm` (array order). 0 for codes 0 and 255.
std::array<double, 256> surfel_area_table_3d(const std::array<double, 3>& spacing_mm);

// Contour length (mm) of each of the 16 2-D neighbour codes (marching squares). 0 for codes 0 and 15.
std::array<double, 16> surfel_length_table_2d(const std::array<double, 2>& spacing_mm);

// Exact squared Euclidean distance transform on a [n0, n1, n2] grid with anisotropic spacing (array order):
// on return, sqdist[i] is the squared distance (mm^2) from point i to the nearest point with seed[i] != 0,
// or +infinity when there is no seed. Runs in parallel over lines (LibTorch's intra-op threads).
void squared_distance_transform(const uint8_t* seed, const std::array<int64_t, 3>& shape,
                                const std::array<double, 3>& spacing_mm, std::vector<double>& sqdist);

// Exact distance (mm) from each query point (a linear index into the grid) to the nearest border point of a
// neighbour-code grid (code neither 0 nor `full`: 255 in 3-D, 15 in 2-D); +infinity when there is none.
// Searches the neighbourhood first (fast when the surfaces are close); falls back to brute force or
// squared_distance_transform for far points.
std::vector<double> nearest_border_distances(const uint8_t* codes, uint8_t full, const std::array<int64_t, 3>& shape,
                                             const std::array<double, 3>& spacing_mm, const std::vector<int64_t>& queries);

}  // namespace pulmo::eval_detail
