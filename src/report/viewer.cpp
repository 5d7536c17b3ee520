// report.html's interactive viewer: the CT and both label maps as base64 .nii.gz in the page, shown by NiiVue
// (built into pulmo from the npm package, report/niivue_bundle.cpp) in three planes with opacity sliders. A page
// opened from disk (file://) cannot fetch() files beside it in Chromium, so everything is inline.
#include "report/viewer.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "core/tempfile.h"
#include "pulmo/error.h"
#include "pulmo/io.h"
#include "pulmo/labels.h"
#include "pulmo/transforms.h"
#include "report/html_parts.h"
#include "report/render.h"

namespace pulmo::report_detail {
namespace {

// NiiVue's licence asks binary redistributions to reproduce it: the page carries it above the bundle.
const char* const kNiivueNotice =
    "/* NiiVue https://github.com/niivue/niivue (npm @niivue/niivue), BSD 2-Clause License.\n"
    "Copyright (c) 2021, Niivue. All rights reserved.\n"
    "Redistribution and use in source and binary forms, with or without modification, are permitted provided that "
    "the following conditions are met: 1. Redistributions of source code must retain the above copyright notice, "
    "this list of conditions and the following disclaimer. 2. Redistributions in binary form must reproduce the "
    "above copyright notice, this list of conditions and the following disclaimer in the documentation and/or other "
    "materials provided with the distribution.\n"
    "THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS \"AS IS\" AND ANY EXPRESS OR IMPLIED "
    "WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A "
    "PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY "
    "DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, "
    "PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER "
    "CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR "
    "OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH "
    "DAMAGE. */\n";

// The page's script: reads the configuration and the volumes from the page, starts NiiVue, wires the sliders.
// Sets <body data-viewer="ready"> when drawn, "failed" (with a console error and a line on the page) otherwise.
const char* const kViewerScript = R"JS(
(function () {
  'use strict';
  var status = document.getElementById('pulmo-viewer-status');
  function fail(message) {
    status.textContent = 'The interactive viewer could not start: ' + message + '. The pictures below do not need it.';
    document.body.setAttribute('data-viewer', 'failed');
    console.error('pulmo viewer: ' + message);
  }
  function load(id, name, options) {
    options.base64 = document.getElementById(id).textContent.replace(/\s+/g, '');
    options.name = name;
    return niivue.NVImage.loadFromBase64(options);
  }
  // The tiles: axial on the left at full height, coronal over sagittal on the right, each tile's shape that of its
  // plane in millimetres, so the three planes share one scale and no tile is left empty (no 3-D render tile).
  // The canvas's height follows from its width (at most 85 % of the window's height).
  function layout(nv, holder, e) {
    var axial = e[0] / e[1], column = 1 / (e[2] / e[0] + e[2] / e[1]), total = axial + column;
    var height = Math.max(240, Math.min(holder.clientWidth / total, 0.85 * window.innerHeight));
    holder.style.height = Math.round(height) + 'px';
    if (!nv) return;
    nv.resizeListener();
    var a = axial / total, top = column * e[2] / e[0];
    nv.setCustomLayout([
      { sliceType: niivue.SLICE_TYPE.AXIAL, position: [0, 0, a, 1] },
      { sliceType: niivue.SLICE_TYPE.CORONAL, position: [a, 0, 1 - a, top] },
      { sliceType: niivue.SLICE_TYPE.SAGITTAL, position: [a, top, 1 - a, 1 - top] }
    ]);
  }
  async function start() {
    if (typeof niivue === 'undefined') return fail('NiiVue is missing from this page');
    if (!document.createElement('canvas').getContext('webgl2')) return fail('this browser has no WebGL 2');
    var cfg = JSON.parse(document.getElementById('pulmo-viewer-config').textContent);
    var outlines = document.getElementById('pulmo-viewer-outlines');
    var nv = new niivue.Niivue({
      backColor: [0, 0, 0, 1], isRadiologicalConvention: true, show3Dcrosshair: false,
      multiplanarShowRender: niivue.SHOW_RENDER.NEVER, isOrientationTextVisible: true,
      showAllOrientationMarkers: true, sagittalNoseLeft: true, isColorbar: false, dragAndDropEnabled: false,
      crosshairColor: [1, 1, 1, 0.5], logLevel: 'error', atlasOutline: outlines.checked ? 1 : 0,
      fontColor: [1, 1, 1, 1], fontMinPx: 18,  // the orientation letters white, as in the pictures
      isForceMouseClickToVoxelCenters: true  // planes through CT voxel centres
    });
    var holder = document.getElementById('pulmo-viewer-holder');
    layout(null, holder, cfg.extent_mm);
    await nv.attachToCanvas(document.getElementById('pulmo-viewer-canvas'));
    var ct = await load('pulmo-viewer-ct', 'ct.nii.gz', { colormap: 'gray', cal_min: cfg.window[0], cal_max: cfg.window[1] });
    ct.cal_min = cfg.window[0];
    ct.cal_max = cfg.window[1];
    nv.addVolume(ct);
    var layers = [];
    for (var i = 0; i < cfg.labels.length; ++i) {
      var l = cfg.labels[i];
      var v = await load(l.element, l.name + '.nii.gz', { colormap: 'gray' });
      v.setColormapLabel(l.colormap);
      // NiiVue outlines label volumes of intent NIFTI_INTENT_LABEL (1002) when atlasOutline > 0: the lungs only,
      // as in the pictures (lesions stay filled).
      if (l.outline) v.hdr.intent_code = 1002;
      nv.addVolume(v);
      layers.push({ index: nv.volumes.length - 1, slider: document.getElementById(l.slider) });
    }
    nv.setSliceType(nv.sliceTypeMultiplanar);
    layout(nv, holder, cfg.extent_mm);
    window.addEventListener('resize', function () { layout(nv, holder, cfg.extent_mm); });
    layers.forEach(function (l) {
      l.slider.addEventListener('input', function () { nv.setOpacity(l.index, l.slider.value / 100); });
      nv.setOpacity(l.index, l.slider.value / 100);
    });
    outlines.addEventListener('change', function () { nv.setAtlasOutline(outlines.checked ? 1 : 0); });
    // Slice sliders: 0..1000 over the extent along R-L (sagittal), P-A (coronal), I-S (axial).
    var planes = [['pulmo-viewer-sagittal', 0], ['pulmo-viewer-coronal', 1], ['pulmo-viewer-axial', 2]];
    function showPosition() {
      planes.forEach(function (p) { document.getElementById(p[0]).value = Math.round(nv.scene.crosshairPos[p[1]] * 1000); });
    }
    planes.forEach(function (p) {
      document.getElementById(p[0]).addEventListener('input', function (e) {
        var pos = nv.scene.crosshairPos.slice();
        pos[p[1]] = e.target.value / 1000;
        var vox = nv.frac2vox(pos).map(Math.round);  // through a CT voxel's centre
        nv.scene.crosshairPos = nv.vox2frac(vox);
        nv.drawScene();
        nv.createOnLocationChange();
      });
    });
    nv.onLocationChange = function (data) {
      showPosition();
      var parts = [];
      if (data.mm) parts.push('RAS ' + [0, 1, 2].map(function (a) { return data.mm[a].toFixed(1); }).join(', ') + ' mm');
      (data.values || []).forEach(function (v, i) {
        if (typeof v.value !== 'number') return;
        if (i === 0) return parts.push('CT ' + ctText(v.value));
        var l = cfg.labels[i - 1], k = Math.round(v.value);
        if (l) parts.push(l.name + ': ' + (k > 0 ? l.colormap.labels[k] || k : 'none'));
      });
      document.getElementById('pulmo-viewer-location').textContent = parts.join(' \u00b7 ');
    };
    // The CT as the page stores it (cfg.ct_range: the HU it holds; values beyond were clamped to its ends).
    function ctText(hu) {
      var r = cfg.ct_range, step = cfg.ct_step_hu;
      if (hu <= r[0] + step / 2) return '\u2264 ' + r[0] + ' HU';
      if (hu >= r[1] - step / 2) return '\u2265 ' + r[1] + ' HU';
      return Math.round(hu) + ' HU' + (step > 1 ? ' (\u00b1' + Math.ceil(step / 2) + ')' : '');
    }
    nv.scene.crosshairPos = nv.vox2frac(nv.frac2vox(nv.mm2frac(cfg.start_ras_mm, 0)).map(Math.round));
    nv.updateGLVolume();
    nv.createOnLocationChange();
    showPosition();
    status.textContent = '';
    document.body.setAttribute('data-viewer', 'ready');
  }
  start().catch(function (e) { fail(String((e && e.message) || e)); });
})();
)JS";

// Every axis at most kViewerMaxVoxels voxels (0 keeps an axis).
Vec3 viewer_spacing(const Geometry& g) {
  Vec3 s{0, 0, 0};
  for (int a = 0; a < 3; ++a)
    if (g.size[a] > kViewerMaxVoxels) s[a] = double(g.size[a]) * g.spacing_mm[a] / double(kViewerMaxVoxels);
  return s;
}

// The volume as .nii.gz bytes (written by the project's writer through a temporary file beside `scratch`).
std::string nifti_bytes(const Volume& v, const std::string& scratch) {
  const std::string tmp = temporary_path_for(scratch, ".nii.gz");
  try {
    write_volume(v, tmp);
    std::string bytes = read_text_file(tmp);
    discard_temporary(tmp);
    return bytes;
  } catch (...) {
    discard_temporary(tmp);
    throw;
  }
}

// The CT as the page stores it: 8 bits over kCtRange HU (clamped), with the NIfTI intensity scale (scl_slope,
// scl_inter) that gives NiiVue HU back - windowing, the location line and a window the user drags stay in HU, to
// half a step. About half the bytes of int16 HU after gzip (docs/report.md has the sizes).
constexpr int kCtRange[2] = {-1024, 476};
constexpr double kCtStep = double(kCtRange[1] - kCtRange[0]) / 255.0;

std::string gzip(const std::string& raw) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error(ExitCode::WriteFailed, "report: zlib could not start");
  std::string out(deflateBound(&z, uLong(raw.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = uInt(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw Error(ExitCode::WriteFailed, "report: zlib could not compress the viewer's CT");
  return out;
}

std::string ct_nifti_bytes(const Volume& ct16, const std::string& scratch) {
  const at::Tensor v8 = ct16.voxels.to(at::kFloat)
                            .clamp(kCtRange[0], kCtRange[1])
                            .sub(kCtRange[0])
                            .div(kCtStep)
                            .round()
                            .to(at::kByte)
                            .contiguous();
  const std::string tmp = temporary_path_for(scratch, ".nii");
  std::string bytes;
  try {
    write_volume(ct16.with_voxels(v8), tmp);
    bytes = read_text_file(tmp);
    discard_temporary(tmp);
  } catch (...) {
    discard_temporary(tmp);
    throw;
  }
  int32_t sizeof_hdr = 0;
  if (bytes.size() >= 348) std::memcpy(&sizeof_hdr, bytes.data(), 4);
  if (sizeof_hdr != 348) throw Error(ExitCode::WriteFailed, "report: the viewer's CT was not written as NIfTI-1");
  const float slope = float(kCtStep), inter = float(kCtRange[0]);
  std::memcpy(bytes.data() + 112, &slope, 4);  // scl_slope
  std::memcpy(bytes.data() + 116, &inter, 4);  // scl_inter
  return gzip(bytes);
}

// Where the crosshair starts (x, y, z index): in the axial slice with the most voxels of `labels`, the labelled
// voxel closest to their centroid in that slice.
std::array<int64_t, 3> start_voxel(const Volume& labels) {
  const Geometry& g = labels.geometry;
  const int axis = slice_axis(g, Plane::Axial);
  const std::vector<int64_t> counts = label_counts_along(labels, axis);
  const auto best = std::max_element(counts.begin(), counts.end());
  std::array<int64_t, 3> v{g.size[0] / 2, g.size[1] / 2, g.size[2] / 2};
  if (best == counts.end() || *best == 0) return v;
  const at::Tensor idx = labels.voxels.ne(0).nonzero();  // [n, 3] as (z, y, x)
  const at::Tensor rows = idx.select(1, 2 - axis).eq(best - counts.begin()).nonzero().view(-1);
  const at::Tensor in_slice = idx.index_select(0, rows).to(at::kDouble);
  const at::Tensor centre = in_slice.mean(0, true);
  const int64_t k = (in_slice - centre).pow(2).sum(1).argmin().item<int64_t>();
  for (int a = 0; a < 3; ++a) v[a] = static_cast<int64_t>(in_slice[k][2 - a].item<double>());
  return v;
}

nlohmann::json label_colormap(const std::vector<std::pair<draw::Rgb, std::string>>& entries) {
  nlohmann::json cm = nlohmann::json::object();
  for (const char* key : {"R", "G", "B", "A", "I"}) cm[key] = nlohmann::json::array({0});
  cm["labels"] = nlohmann::json::array({""});
  for (size_t i = 0; i < entries.size(); ++i) {
    const draw::Rgb c = entries[i].first;
    cm["R"].push_back(c.r), cm["G"].push_back(c.g), cm["B"].push_back(c.b), cm["A"].push_back(255);
    cm["I"].push_back(i + 1), cm["labels"].push_back(entries[i].second);
  }
  return cm;
}

std::string slider(const char* id, const char* label, int value, int max) {
  return std::string("<label>") + label + " <input type=\"range\" id=\"" + id + "\" min=\"0\" max=\"" +
         std::to_string(max) + "\" value=\"" + std::to_string(value) + "\"></label>\n";
}

std::string data_element(const char* id, const std::string& bytes) {
  return std::string("<script type=\"text/plain\" id=\"") + id + "\">" + base64(bytes) + "</script>\n";
}

}  // namespace

std::string viewer_section(const std::string& scratch, const Volume& ct, const Volume& lungs, const Volume& lesions,
                           bool lesion_types_known) {
  const std::string_view bundle = niivue_bundle();
  if (bundle.empty())
    return "<p class=\"note\">This pulmo was built without NiiVue, so the report has no interactive viewer "
           "(scripts/fetch-niivue.sh, then rebuild).</p>\n";
  const Vec3 spacing = viewer_spacing(ct.geometry);
  const at::Tensor lung_mask = lungs.voxels.ne(0);
  const Volume ct16 = resample_to_spacing(
      ct.with_voxels(ct.voxels.to(at::kFloat).round().clamp(-1024, 3071).to(at::kShort).contiguous()), spacing, false);
  const Volume lungs8 = resample_to_spacing(lungs.with_voxels(lungs.voxels.to(at::kByte).contiguous()), spacing, true);
  Volume lesions8;
  if (lesions.voxels.defined())
    lesions8 = resample_to_spacing(
        lesions.with_voxels((lesions.voxels.to(at::kByte) * lung_mask.to(at::kByte)).contiguous()), spacing, true);

  nlohmann::json cfg;
  cfg["window"] = nlohmann::json::array({-1350, 150});  // W1500 / L-600, the pictures' lung window
  cfg["ct_range"] = nlohmann::json::array({kCtRange[0], kCtRange[1]});
  cfg["ct_step_hu"] = kCtStep;
  // The extent along R-L, A-P and S-I (mm): the tiles' shapes.
  cfg["extent_mm"] = nlohmann::json::array();
  for (Plane p : {Plane::Sagittal, Plane::Coronal, Plane::Axial}) {
    const int a = slice_axis(ct16.geometry, p);
    cfg["extent_mm"].push_back(double(ct16.geometry.size[a]) * ct16.geometry.spacing_mm[a]);
  }
  const bool any_lesion = lesions8.voxels.defined() && lesions8.voxels.ne(0).any().item<bool>();
  const Volume& start_labels = any_lesion ? lesions8 : lungs8;
  const std::array<int64_t, 3> start = start_voxel(start_labels);
  // NiiVue works in RAS millimetres (its voxel indices are those of the volume reordered to RAS).
  const Vec3 lps = start_labels.geometry.index_to_physical({double(start[0]), double(start[1]), double(start[2])});
  cfg["start_ras_mm"] = nlohmann::json::array({-lps[0], -lps[1], lps[2]});
  cfg["labels"].push_back({{"element", "pulmo-viewer-lungs"}, {"name", "lungs"}, {"slider", "pulmo-viewer-lungs-opacity"},
                           {"outline", true}, {"colormap", label_colormap({{kRightLungColour, "right lung"}, {kLeftLungColour, "left lung"}})}});
  std::string sliders = "<label><input type=\"checkbox\" id=\"pulmo-viewer-outlines\" checked> Lung outlines</label>\n" +
                        slider("pulmo-viewer-lungs-opacity", "Lung fill", 0, 100);
  std::string data = data_element("pulmo-viewer-ct", ct_nifti_bytes(ct16, scratch)) +
                     data_element("pulmo-viewer-lungs", nifti_bytes(lungs8, scratch));
  if (lesions8.voxels.defined()) {
    const auto lesion_colours =
        lesion_types_known
            ? std::vector<std::pair<draw::Rgb, std::string>>{{kGroundGlassColour, "ground-glass"},
                                                             {kConsolidationColour, "consolidation"}}
            : std::vector<std::pair<draw::Rgb, std::string>>{{kLesionColour, "lesion"}, {kLesionColour, "lesion"}};
    cfg["labels"].push_back({{"element", "pulmo-viewer-lesions"}, {"name", "lesions"},
                             {"slider", "pulmo-viewer-lesions-opacity"}, {"outline", false},
                             {"colormap", label_colormap(lesion_colours)}});
    sliders += slider("pulmo-viewer-lesions-opacity", "Lesions", 50, 100);
    data += data_element("pulmo-viewer-lesions", nifti_bytes(lesions8, scratch));
  }
  const Geometry& vg = ct16.geometry;
  const std::string grid = std::to_string(vg.size[0]) + " &times; " + std::to_string(vg.size[1]) + " &times; " +
                           std::to_string(vg.size[2]) + " voxels of " + fixed(vg.spacing_mm[0], 2) + " &times; " +
                           fixed(vg.spacing_mm[1], 2) + " &times; " + fixed(vg.spacing_mm[2], 2) + " mm";
  std::string s = "<div id=\"pulmo-viewer\">\n<div class=\"viewer-controls\">" +
                  slider("pulmo-viewer-axial", "Axial", 500, 1000) + slider("pulmo-viewer-coronal", "Coronal", 500, 1000) +
                  slider("pulmo-viewer-sagittal", "Sagittal", 500, 1000) + "<span class=\"viewer-opacity\">Opacity: " +
                  sliders + "</span></div>\n<div class=\"viewer-canvas\" id=\"pulmo-viewer-holder\"><canvas id=\"pulmo-viewer-canvas\"></canvas></div>\n"
                  "<p id=\"pulmo-viewer-location\" class=\"note\"></p><p id=\"pulmo-viewer-status\">Loading the viewer "
                  "(JavaScript and WebGL 2 needed)&hellip;</p>\n"
                  "<p class=\"note\">The mouse wheel scrolls through the plane under the pointer, a click moves the "
                  "crosshair (the other two planes follow), a right-button drag changes the window, the sliders move the "
                  "planes and set the overlays' opacity; colours as in the pictures (lungs outlined, lesions filled), "
                  "CT in the same lung window. The viewer shows a reduced copy: volumes resampled to " + grid +
                  ", the CT stored in 8 bits from &minus;1024 to 476 HU (steps of " + fixed(kCtStep, 1) +
                  " HU, values beyond shown as the bound); every number of this report comes from the full-resolution "
                  "CT in HU. NiiVue " + niivue_version() + " (BSD 2-Clause) is built into the page.</p>\n"
                  "<script type=\"application/json\" id=\"pulmo-viewer-config\">" + cfg.dump() + "</script>\n" + data +
                  "<script>\n" + kNiivueNotice;
  s.append(bundle.data(), bundle.size());
  return s + "\n</script>\n<script>" + kViewerScript + "</script>\n</div>\n";
}

}  // namespace pulmo::report_detail
