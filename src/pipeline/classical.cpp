// Classical lung segmentation (threshold, outside air and airways removed, left/right split, holes filled)
// and the lung post-processing the cascade shares with it.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "image/morphology.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/labels.h"
#include "pulmo/pipeline.h"

namespace pulmo {
namespace {

// The index axis (0 = x, 1 = y, 2 = z) that runs most nearly along LPS `lps_axis`.
int axis_along(const Geometry& g, int lps_axis) {
  int best = 0;
  for (int a = 1; a < 3; ++a)
    if (std::fabs(g.direction[lps_axis * 3 + a]) > std::fabs(g.direction[lps_axis * 3 + best])) best = a;
  return best;
}

// Physical LPS x of the centroid of each label 1..n of `labels` (int32).
std::vector<double> centroid_x_mm(const at::Tensor& labels, int64_t n, const Geometry& g) {
  std::vector<double> out;
  for (int64_t l = 1; l <= n; ++l) {
    const at::Tensor idx = at::nonzero(labels.eq(l)).to(at::kDouble);  // [N, 3] (z, y, x)
    if (idx.size(0) == 0) {
      out.push_back(0);
      continue;
    }
    const at::Tensor m = idx.mean(0);
    const Vec3 p = g.index_to_physical({m[2].item<double>(), m[1].item<double>(), m[0].item<double>()});
    out.push_back(p[0]);
  }
  return out;
}

// Two labels (1, 2) assigned to right / left by the physical x of their centroids (LPS: right at smaller x).
at::Tensor sides_from_two(const at::Tensor& two, const Geometry& g) {
  const std::vector<double> cx = centroid_x_mm(two, 2, g);
  const bool first_is_right = cx[0] <= cx[1];
  at::Tensor out = at::zeros(two.sizes(), at::kByte);
  out.masked_fill_(two.eq(1), first_is_right ? labels::kRightLung : labels::kLeftLung);
  out.masked_fill_(two.eq(2), first_is_right ? labels::kLeftLung : labels::kRightLung);
  return out;
}

// One connected lung region split in two: erode in-plane until two large parts appear, then grow them back
// inside the mask. Falls back to the emptiest sagittal plane when erosion never separates them.
at::Tensor split_touching(const at::Tensor& mask, const Geometry& g, double min_fraction) {
  at::Tensor er = mask.to(at::kBool);
  const int64_t max_steps = std::max<int64_t>(3, static_cast<int64_t>(std::lround(15.0 / g.spacing_mm[0])));
  for (int64_t s = 0; s < max_steps; ++s) {
    er = image::erode(er, {0, 1, 1});
    const image::Components c = image::connected_components(er);
    if (c.sizes.empty()) break;
    if (c.sizes.size() >= 2 && c.sizes[1] >= min_fraction * c.sizes[0]) {
      const at::Tensor seeds = at::where(c.labels.le(2), c.labels, at::zeros({}, at::kInt)).to(at::kByte);
      at::Tensor grown = image::grow_labels(seeds, mask);
      // Voxels the growth never reached (cut off by the erosion's ends) take the nearer side by plane.
      if (grown.eq(0).logical_and(mask.to(at::kBool)).any().item<bool>()) {
        const Volume plane = split_lungs_left_right(Volume{mask.to(at::kByte), g});
        const at::Tensor sides = sides_from_two(grown.to(at::kInt), g);
        return at::where(sides.eq(0).logical_and(mask.to(at::kBool)), plane.voxels, sides);
      }
      return sides_from_two(grown.to(at::kInt), g);
    }
  }
  return split_lungs_left_right(Volume{mask.to(at::kByte), g}).voxels;
}

// In-plane half-width in voxels (z, y, x) of a box of about `mm` across (0 = no smoothing).
std::array<int64_t, 3> smoothing_radius(double mm, const Geometry& g) {
  std::array<int64_t, 3> r{0, 0, 0};
  if (mm <= 0) return r;
  r[1] = std::max<int64_t>(1, std::lround(0.5 * mm / g.spacing_mm[1]));
  r[2] = std::max<int64_t>(1, std::lround(0.5 * mm / g.spacing_mm[0]));
  return r;
}

// `hu` (float [z, y, x]) averaged over an in-plane box of about `mm` (the image's border replicated).
at::Tensor smoothed_in_plane(const at::Tensor& hu, double mm, const Geometry& g) {
  const std::array<int64_t, 3> r = smoothing_radius(mm, g);
  if (r[1] == 0 && r[2] == 0) return hu;
  const at::Tensor padded = at::replication_pad2d(hu.unsqueeze(1), {r[2], r[2], r[1], r[1]});
  return at::avg_pool2d(padded, {2 * r[1] + 1, 2 * r[2] + 1}, {1, 1}).squeeze(1);
}

// Airways removed: the trachea found as a small air region near the midline in the upper slices, then followed
// down through the carina and the main bronchi while each cross-section stays small. Axial volumes only.
at::Tensor remove_airways(const at::Tensor& candidate, const at::Tensor& hu, const Geometry& g, const ClassicalLungOptions& o,
                          int64_t* removed_voxels) {
  *removed_voxels = 0;
  if (axis_along(g, 2) != 2 || g.size[2] < 3) return candidate;
  // Airway lumens are air (below airway_threshold_hu); their walls and partial-volume bridges to a lung are not.
  // Thresholded on an in-plane smoothed copy: on a sharp kernel (B70f-type) a third of the noisy parenchyma falls
  // below the threshold and its specks, near a bronchus, would be followed as airway; averaged over about
  // airway_smooth_mm they stay above it while a lumen (about -1000 HU) does not.
  const at::Tensor lumen = candidate.logical_and(smoothed_in_plane(hu, o.airway_smooth_mm, g).lt(o.airway_threshold_hu));
  const image::Components sl = image::connected_components(lumen, /*in_plane_only=*/true);
  if (sl.sizes.empty()) return candidate;
  const int64_t n = static_cast<int64_t>(sl.sizes.size());
  const double pixel_mm2 = g.spacing_mm[0] * g.spacing_mm[1];
  // Per 2-D component: slice, centroid x (index), area.
  const at::Tensor lab = sl.labels.to(at::kLong).flatten();
  const at::Tensor pos = at::nonzero(sl.labels.flatten()).squeeze(1);
  const at::Tensor ids = lab.index({pos});
  const int64_t plane = g.size[0] * g.size[1];
  at::Tensor zsum = at::zeros({n + 1}, at::kDouble), xsum = at::zeros({n + 1}, at::kDouble),
             ysum = at::zeros({n + 1}, at::kDouble);
  zsum.index_add_(0, ids, pos.div(plane, "floor").to(at::kDouble));
  xsum.index_add_(0, ids, pos.remainder(g.size[0]).to(at::kDouble));
  ysum.index_add_(0, ids, pos.remainder(plane).div(g.size[0], "floor").to(at::kDouble));
  // Midline: middle of the candidate's x extent.
  const at::Tensor xs = at::nonzero(candidate.any(0).any(0)).squeeze(1);
  const double mid_x = 0.5 * (xs.min().item<double>() + xs.max().item<double>());
  const double max_offset_vox = o.trachea_max_offset_mm / g.spacing_mm[0];
  std::vector<int64_t> slice_of(n + 1), area(n + 1);
  std::vector<double> cx(n + 1), cy(n + 1);
  const double* zs_ = zsum.data_ptr<double>();
  const double* xs_ = xsum.data_ptr<double>();
  const double* ys_ = ysum.data_ptr<double>();
  for (int64_t l = 1; l <= n; ++l) {
    area[l] = sl.sizes[l - 1];
    slice_of[l] = static_cast<int64_t>(std::llround(zs_[l] / area[l]));
    cx[l] = xs_[l] / area[l];
    cy[l] = ys_[l] / area[l];
  }
  const bool up_is_increasing = g.direction[8] > 0;  // z axis towards superior
  const int64_t nz = g.size[2];
  auto slice_at = [&](int64_t step) { return up_is_increasing ? nz - 1 - step : step; };
  // Start: the highest slice (within the upper third of the candidate) with a small region near the midline.
  const at::Tensor zs = at::nonzero(candidate.any(2).any(1)).squeeze(1);
  const int64_t zlo = zs.min().item<int64_t>(), zhi = zs.max().item<int64_t>();
  const int64_t top_step = up_is_increasing ? nz - 1 - zhi : zlo;
  const int64_t search_steps = std::max<int64_t>(1, (zhi - zlo + 1) / 3);
  std::vector<std::vector<int64_t>> by_slice(nz);
  for (int64_t l = 1; l <= n; ++l) by_slice[slice_of[l]].push_back(l);
  const double max_area_vox = o.trachea_max_area_mm2 / pixel_mm2;
  std::vector<char> airway(n + 1, 0);
  std::vector<int64_t> current;  // airway regions of the slice above
  int64_t start = -1;
  for (int64_t s = top_step; s < top_step + search_steps && start < 0; ++s)
    for (int64_t l : by_slice[slice_at(s)])
      if (area[l] <= max_area_vox && std::fabs(cx[l] - mid_x) <= max_offset_vox) {
        airway[l] = 1;
        current.push_back(l);
        start = s;
      }
  if (start < 0) return candidate;
  // Follow down: a small region whose centre lies within trachea_follow_mm of an airway region of the slice above
  // stays airway (centres, not overlap: the airways run obliquely through thick slices). It stops where the
  // bronchi enter the lungs (their cross-section joins a lung's and is no longer small).
  // The following also stops where the airway cross-section jumps (more regions than bronchi, or a total area
  // above both trachea_max_area_mm2 and airway_max_area_jump times the largest so far): that is parenchyma, not a
  // lumen, and that slice is not removed.
  const double follow_mm = o.trachea_follow_mm;
  int64_t largest_area = 0;
  for (int64_t l : current) largest_area += area[l];
  for (int64_t s = start + 1; s < nz && !current.empty(); ++s) {
    std::vector<int64_t> next;
    int64_t total = 0;
    for (int64_t l : by_slice[slice_at(s)]) {
      if (area[l] > max_area_vox) continue;
      for (int64_t a : current) {
        const double dx = (cx[l] - cx[a]) * g.spacing_mm[0], dy = (cy[l] - cy[a]) * g.spacing_mm[1];
        if (dx * dx + dy * dy <= follow_mm * follow_mm) {
          next.push_back(l);
          total += area[l];
          break;
        }
      }
    }
    if (static_cast<int64_t>(next.size()) > o.airway_max_regions ||
        static_cast<double>(total) > std::max(o.airway_max_area_jump * static_cast<double>(largest_area), max_area_vox))
      break;
    for (int64_t l : next) airway[l] = 1;
    largest_area = std::max(largest_area, total);
    current = next;
  }
  at::Tensor is_airway = at::zeros({n + 1}, at::kBool);
  for (int64_t l = 1; l <= n; ++l)
    if (airway[l]) is_airway[l] = true;
  // The lumen's rim that the smoothing took off (one kernel radius, in-plane) comes back where it is air.
  const std::array<int64_t, 3> r = smoothing_radius(o.airway_smooth_mm, g);
  const at::Tensor airway_mask = image::dilate(is_airway.index({sl.labels.to(at::kLong)}), {0, r[1], r[2]})
                                     .logical_and(candidate)
                                     .logical_and(hu.lt(o.airway_threshold_hu));
  *removed_voxels = airway_mask.sum().item<int64_t>();
  return candidate.logical_and(airway_mask.logical_not());
}

}  // namespace

Volume postprocess_lungs(const Volume& lungs, const LungPostprocessOptions& o) {
  const Geometry& g = lungs.geometry;
  const at::Tensor mask = lungs.voxels.ne(0);
  const image::Components c = image::connected_components(mask);
  if (c.sizes.empty()) return lungs.with_voxels(at::zeros(mask.sizes(), at::kByte));
  at::Tensor sides;
  if (c.sizes.size() >= 2 && c.sizes[1] >= o.min_component_fraction * c.sizes[0]) {
    sides = sides_from_two(at::where(c.labels.le(2), c.labels, at::zeros({}, at::kInt)), g);
  } else {
    sides = split_touching(c.labels.eq(1), g, o.min_component_fraction);
  }
  if (o.fill_holes) {
    at::Tensor filled = at::zeros_like(sides);
    for (uint8_t side : {labels::kRightLung, labels::kLeftLung}) {
      at::Tensor m = sides.eq(side);
      if (o.close_radius_mm > 0) {  // in-plane, as the hole filling
        std::array<int64_t, 3> r = image::radius_voxels(o.close_radius_mm, g.spacing_mm);
        r[0] = 0;
        m = image::close(m, r);
      }
      const int64_t max_hole = o.max_hole_mm2 > 0
                                   ? static_cast<int64_t>(o.max_hole_mm2 / (g.spacing_mm[0] * g.spacing_mm[1]))
                                   : 0;
      m = image::fill_holes(m, /*per_slice=*/true, max_hole);
      filled.masked_fill_(m.logical_and(filled.eq(0)), side);
    }
    sides = filled;
  }
  return lungs.with_voxels(sides.contiguous());
}

at::Tensor air_outside_the_body(const at::Tensor& hu_in, const ClassicalLungOptions& o, bool four_sides_rule,
                                at::Tensor* lung_candidates) {
  const at::Tensor hu = hu_in.to(at::kFloat);
  const at::Tensor air = hu.lt(o.air_threshold_hu);
  const image::Components c = image::connected_components(air);
  const int64_t n = static_cast<int64_t>(c.sizes.size());
  const at::Tensor lab = c.labels.to(at::kLong);
  at::Tensor sum = at::zeros({n + 1}, at::kDouble);
  sum.index_add_(0, lab.flatten(), hu.flatten().to(at::kDouble));
  // In-plane image sides (anterior, posterior, right, left edges) each region touches.
  at::Tensor sides = at::zeros({n + 1}, at::kInt);
  for (const at::Tensor& face : {lab.select(1, 0), lab.select(1, lab.size(1) - 1), lab.select(2, 0), lab.select(2, lab.size(2) - 1)}) {
    at::Tensor touches = at::zeros({n + 1}, at::kBool);
    touches.index_put_({face.flatten()}, at::ones({}, at::kBool));
    sides.add_(touches.to(at::kInt));
  }
  at::Tensor outside = at::zeros({n + 1}, at::kBool), keep = at::zeros({n + 1}, at::kBool);
  const double* sums = sum.data_ptr<double>();
  const int* touched_sides = sides.data_ptr<int>();
  for (int64_t l = 1; l <= n; ++l) {
    const double mean = sums[l] / c.sizes[l - 1];
    // Outside air touches the in-plane border: as pure air, or on all four sides (it surrounds the body), or on three
    // sides with a mean near air. A lung cut off by a small field of view reaches up to three sides, but its mean
    // (partial-volume voxels and vessels included) stays far above air: -760..-770 HU in the TotalSegmentator crops.
    const int touched = touched_sides[l];
    const bool out = touched > 0 && (mean < o.outside_air_max_mean_hu || (four_sides_rule && touched == 4) ||
                                     (touched == 3 && mean < o.outside_air_max_mean_hu + 70));
    outside[l] = out;
    const bool gas = mean < o.lung_min_mean_hu;  // trachea above the lungs, bowel gas: pure air
    keep[l] = !out && !gas;
  }
  if (lung_candidates) *lung_candidates = keep.index({lab});
  return outside.index({lab});
}

Volume segment_lungs_classical(const Volume& ct, const ClassicalLungOptions& o, std::vector<std::string>* warnings) {
  ct.check();
  const Geometry& g = ct.geometry;
  const at::Tensor hu = ct.voxels.to(at::kFloat);
  if (!hu.lt(o.air_threshold_hu).any().item<bool>())
    throw Error(ExitCode::NoLungs, "no lungs found: no voxel below " + std::to_string(static_cast<int>(o.air_threshold_hu)) + " HU");
  at::Tensor candidate;
  (void)air_outside_the_body(hu, o, /*four_sides_rule=*/true, &candidate);
  // Regions under min_lung_ml are noise.
  {
    const image::Components c = image::connected_components(candidate);
    const int64_t min_voxels = static_cast<int64_t>(std::ceil(o.min_lung_ml / g.voxel_volume_ml()));
    int64_t keep_labels = 0;
    while (keep_labels < static_cast<int64_t>(c.sizes.size()) && c.sizes[keep_labels] >= min_voxels) ++keep_labels;
    candidate = c.labels.gt(0).logical_and(c.labels.le(keep_labels));
  }
  int64_t airway_voxels = 0;
  if (o.remove_airways) candidate = remove_airways(candidate, hu, g, o, &airway_voxels);
  if (!candidate.any().item<bool>())
    throw Error(ExitCode::NoLungs, "no lungs found: no air-filled region inside the body (not a chest CT, or the lungs are outside the field of view)");
  // The lungs: the two largest remaining regions (the second only when it is a real lung, not a fragment).
  const image::Components lungs = image::connected_components(candidate);
  at::Tensor kept = lungs.labels.eq(1);
  if (lungs.sizes.size() >= 2 && lungs.sizes[1] >= o.post.min_component_fraction * lungs.sizes[0])
    kept.logical_or_(lungs.labels.eq(2));
  Volume result = postprocess_lungs(ct.with_voxels(kept.to(at::kByte)), o.post);
  if (warnings) {
    const double total_ml = result.voxels.ne(0).sum().item<double>() * g.voxel_volume_ml();
    if (total_ml < 200 && g.size[2] * g.spacing_mm[2] >= 100) {
      std::ostringstream s;
      s.precision(0);
      s << std::fixed << "classical lungs: only " << total_ml << " mL of lung found (the field of view may cut the lungs)";
      warnings->push_back(s.str());
    }
  }
  return result;
}

at::Tensor combine_lungs_hybrid(const Volume& ct, const at::Tensor& classical, const at::Tensor& network,
                                const HybridLungOptions& o, HybridLungStats* stats) {
  HybridLungStats st;
  const Geometry& g = ct.geometry;
  const at::Tensor hu = ct.voxels.to(at::kFloat);
  at::Tensor base = classical.to(at::kByte).clone();
  // Sides from the network: each region of each classical lung takes the side the network gives most of its voxels
  // (or goes, below min_network_share of them).
  // With a wholly consolidated lung, the classical "two lungs" can be one lung split in two, one half labelled with
  // the lost side (seen on a real CT with the right lung consolidated: the hybrid's right lung had a Dice of 0).
  {
    at::Tensor relabelled = base.clone();
    const bool network_has_lungs = network.ne(0).any().item<bool>();
    for (uint8_t from : {labels::kRightLung, labels::kLeftLung}) {
      const image::Components c = image::connected_components(base.eq(from));
      const int64_t n = static_cast<int64_t>(c.sizes.size());
      if (n == 0) continue;
      const at::Tensor lab = c.labels.to(at::kLong).flatten();
      const at::Tensor r = at::zeros({n + 1}, at::kLong).index_add_(0, lab, network.eq(1).flatten().to(at::kLong));
      const at::Tensor l = at::zeros({n + 1}, at::kLong).index_add_(0, lab, network.eq(2).flatten().to(at::kLong));
      const uint8_t other = from == labels::kRightLung ? labels::kLeftLung : labels::kRightLung;
      at::Tensor flip = (from == labels::kRightLung ? l.gt(r) : r.gt(l));
      flip[0] = false;  // background
      const at::Tensor moved = flip.index({lab}).view(base.sizes());
      relabelled.masked_fill_(moved, other);
      st.relabelled_voxels += moved.sum().item<int64_t>();
      // A region the network hardly calls lung is not lung (gas in the stomach or the bowel under a lung base,
      // which the classical segmentation's "two largest air regions" can take for a lung), when the network found
      // lungs at all.
      if (network_has_lungs) {
        const at::Tensor sizes = at::zeros({n + 1}, at::kLong).index_add_(0, lab, at::ones({lab.size(0)}, at::kLong));
        at::Tensor drop = (r + l).to(at::kDouble).lt(sizes.to(at::kDouble) * o.min_network_share);
        drop[0] = false;
        const at::Tensor gone = drop.index({lab}).view(base.sizes());
        relabelled.masked_fill_(gone, 0);
        st.dropped_voxels += gone.sum().item<int64_t>();
      }
    }
    base = relabelled;
  }
  // A side the classical segmentation lost (a wholly consolidated lung) comes from the network.
  for (uint8_t side : {labels::kRightLung, labels::kLeftLung}) {
    const double c = base.eq(side).sum().item<double>(), n = network.eq(side).sum().item<double>();
    if (n > 0 && c < o.side_min_share * n) {
      base.masked_fill_(base.eq(side), 0);
      base.masked_fill_(network.eq(side).logical_and(base.eq(0)), side);
      st.sides_from_network.push_back(side);
    }
  }
  const at::Tensor lung = base.ne(0);
  at::Tensor dense = network.ne(0).logical_and(lung.logical_not()).logical_and(hu.ge(o.dense_min_hu)).logical_and(hu.le(o.dense_max_hu));
  // Opened in-plane: the band of a few voxels where the two boundaries disagree along the pleura goes.
  std::array<int64_t, 3> r = image::radius_voxels(o.rim_mm, g.spacing_mm);
  r[0] = 0;
  r[1] = std::max<int64_t>(r[1], 1);
  r[2] = std::max<int64_t>(r[2], 1);
  dense = image::dilate(image::erode(dense, r), r).logical_and(dense);
  at::Tensor keep = at::zeros_like(dense);
  if (dense.any().item<bool>()) {
    const image::Components c = image::connected_components(dense);
    const int64_t n = static_cast<int64_t>(c.sizes.size());
    const at::Tensor lab = c.labels.to(at::kLong).flatten();
    // Per region: HU sum, surface voxels (a face neighbour outside the region) and those facing the lung.
    const at::Tensor surface = dense.logical_and(image::erode(dense, {1, 1, 1}).logical_not()).flatten();
    const at::Tensor facing = surface.logical_and(image::dilate(lung, {1, 1, 1}).flatten());
    at::Tensor hu_sum = at::zeros({n + 1}, at::kDouble), surf = at::zeros({n + 1}, at::kDouble),
               touch = at::zeros({n + 1}, at::kDouble);
    hu_sum.index_add_(0, lab, hu.flatten().to(at::kDouble));
    surf.index_add_(0, lab, surface.to(at::kDouble));
    touch.index_add_(0, lab, facing.to(at::kDouble));
    at::Tensor take = at::zeros({n + 1}, at::kBool);
    const double* hs = hu_sum.data_ptr<double>();
    const double* ss = surf.data_ptr<double>();
    const double* ts = touch.data_ptr<double>();
    for (int64_t l = 1; l <= n; ++l) {
      const int64_t size = c.sizes[l - 1];
      const bool ok = ts[l] > 0 && hs[l] / size <= o.leak_max_mean_hu && ts[l] >= o.min_contact_share * ss[l];
      take[l] = ok;
      (ok ? st.added_voxels : st.rejected_voxels) += size;
      ++(ok ? st.added_regions : st.rejected_regions);
    }
    keep = take.index({c.labels.to(at::kLong)});
  }
  if (stats) *stats = st;
  if (!keep.any().item<bool>()) return base;
  // The added regions take the side of the lung they touch (grown voxel by voxel); 2-D holes up to the classical
  // limit filled again (air bronchograms inside a consolidation; a diaphragm dome stays out).
  at::Tensor grown = image::grow_labels(base, lung.logical_or(keep));
  const ClassicalLungOptions defaults;
  const int64_t max_hole = static_cast<int64_t>(defaults.post.max_hole_mm2 / (g.spacing_mm[0] * g.spacing_mm[1]));
  for (uint8_t side : {labels::kRightLung, labels::kLeftLung}) {
    const at::Tensor filled = image::fill_holes(grown.eq(side), /*per_slice=*/true, max_hole);
    grown.masked_fill_(filled.logical_and(grown.eq(0)), side);
  }
  return grown;
}

}  // namespace pulmo
