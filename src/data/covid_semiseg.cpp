// The COVID-SemiSeg training split as pulmo cases (pulmo dataset import covid-semiseg; docs/datasets.md).
#include <ATen/ATen.h>
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageIOFactory.h>

#include <filesystem>
#include <map>

#include "data/csv.h"
#include "pulmo/dataset.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/io.h"

namespace fs = std::filesystem;

namespace pulmo {

namespace {

constexpr double kPixelMm = 0.75, kSliceMm = 5.0;  // what the source assumes (its SOURCE.md)

// An 8-bit picture as [rows, columns] uint8. Palette PNGs keep their indices (labels), not colours.
at::Tensor read_grey_picture(const std::string& path, bool palette_indices) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ExitCode::NotFound, "'" + path + "' does not exist");
  itk::ImageIOBase::Pointer io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
  if (!io) throw Error(ExitCode::Unreadable, "'" + path + "' is not a picture pulmo can read (JPEG or PNG expected)");
  if (palette_indices) io->SetExpandRGBPalette(false);
  using Image = itk::Image<unsigned char, 2>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetImageIO(io);
  reader->SetFileName(path);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error(ExitCode::Unreadable, "'" + path + "' could not be read (truncated or corrupt?): " + e.GetDescription());
  }
  if (io->GetNumberOfComponents() != 1)
    throw Error(ExitCode::BadDimension, "'" + path + "' has " + std::to_string(io->GetNumberOfComponents()) +
                                            " components per pixel; a grey picture or a palette of labels is expected");
  const Image* image = reader->GetOutput();
  const auto size = image->GetLargestPossibleRegion().GetSize();
  const int64_t w = int64_t(size[0]), h = int64_t(size[1]);
  return at::from_blob(const_cast<unsigned char*>(image->GetBufferPointer()), {h, w}, at::kByte).clone();
}

// The source's pictures lie with the patient's anterior at the left edge and the patient's left at the top: picture
// (row r, column c) is voxel (x = rows - 1 - r, y = c) of an LPS slice (x right -> left, y anterior -> posterior).
Volume picture_to_slice(const at::Tensor& picture) {
  // picture [rows, columns] -> slice [z = 1, y, x] with y = c, x = rows - 1 - r: flip the rows, then transpose.
  Volume v;
  v.voxels = picture.flip({0}).t().unsqueeze(0).contiguous();
  v.geometry.size = {picture.size(0), picture.size(1), 1};
  v.geometry.spacing_mm = {kPixelMm, kPixelMm, kSliceMm};
  return v;
}

std::string column(const std::vector<std::string>& row, const std::map<std::string, size_t>& index, const std::string& name) {
  const auto it = index.find(name);
  return it == index.end() || it->second >= row.size() ? std::string() : row[it->second];
}

}  // namespace

Manifest import_covid_semiseg(const std::string& root, const std::string& out_folder, const ImportOptions& options,
                              const std::function<void(int, int)>& progress) {
  const fs::path base(root);
  const std::string source_manifest = (base / "manifest.csv").string();
  std::error_code ec;
  if (!fs::is_directory(base, ec)) throw Error(ExitCode::NotFound, "COVID-SemiSeg folder '" + root + "' does not exist");
  if (!fs::exists(source_manifest, ec))
    throw Error(ExitCode::NotFound, "'" + root + "' has no manifest.csv: not the COVID-SemiSeg folder of ../shared/data/ct/covid-semiseg");
  if (!options.only_set.empty() && options.only_set != "expert" && options.only_set != "pseudo")
    throw Error(ExitCode::Usage, "--set must be expert or pseudo (not '" + options.only_set + "')");
  const fs::path out(out_folder);
  if (fs::exists(out / "manifest.csv", ec) && !options.overwrite)
    throw Error(ExitCode::WriteFailed, "'" + out_folder + "' already holds an imported dataset (use --overwrite to redo it)");
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw Error(ExitCode::WriteFailed, "'" + out_folder + "' is a file, not a folder");

  std::vector<int> lines;
  const auto rows = data::parse_csv(read_text_file(source_manifest), &lines);
  if (rows.empty()) throw Error(ExitCode::BadConfig, "'" + source_manifest + "' is empty");
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < rows[0].size(); ++i) index[rows[0][i]] = i;
  for (const char* need : {"case_id", "patient_id", "set", "image", "infection", "classes"})
    if (!index.count(need))
      throw Error(ExitCode::BadConfig, "'" + source_manifest + "' has no '" + need + "' column: not the COVID-SemiSeg layout");

  Manifest m;
  m.path = (out / "manifest.csv").string();
  int total = 0;
  for (size_t r = 1; r < rows.size(); ++r) {
    const std::string set = column(rows[r], index, "set");
    if (options.only_set.empty() || set == options.only_set) ++total;
  }
  // The slices of one pseudo-labelled volume share their export's window: they are calibrated together (their
  // pixels pooled). Expert slices come from different exports: each is calibrated alone.
  std::map<size_t, at::Tensor> pictures;            // row -> grey picture (pseudo rows, read once)
  std::map<std::string, std::vector<at::Tensor>> pooled;  // volume -> its slices' pixels
  for (size_t r = 1; r < rows.size(); ++r) {
    const std::string id = column(rows[r], index, "case_id"), set = column(rows[r], index, "set");
    if (set != "pseudo" || (!options.only_set.empty() && set != options.only_set)) continue;
    try {
      pictures[r] = read_grey_picture((base / column(rows[r], index, "image")).string(), false);
    } catch (const Error& e) {
      throw e.with_context("case '" + id + "'");
    }
    const std::string volume = column(rows[r], index, "patient_id").empty() ? id : column(rows[r], index, "patient_id");
    pooled[volume].push_back(pictures[r].flatten());
  }
  std::map<std::string, GreyToHu> volume_mapping;
  for (const auto& [volume, parts] : pooled)
    volume_mapping[volume] = grey_to_hu_for(options.window, at::cat(parts), "pseudo-labelled volume '" + volume + "'");
  pooled.clear();

  int done = 0;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::string id = column(row, index, "case_id"), set = column(row, index, "set");
    if (!options.only_set.empty() && set != options.only_set) continue;
    const std::string where = "'" + source_manifest + "' line " + std::to_string(lines[r]);
    if (id.empty()) throw Error(ExitCode::BadConfig, where + ": no case_id");
    if (set != "expert" && set != "pseudo") throw Error(ExitCode::BadConfig, where + ": set '" + set + "' is neither expert nor pseudo");
    try {
      const std::string image_path = (base / column(row, index, "image")).string();
      const bool expert = set == "expert";
      const std::string label_path = (base / column(row, index, expert ? "classes" : "infection")).string();
      const at::Tensor grey = expert ? read_grey_picture(image_path, false) : pictures.at(r);
      at::Tensor label = read_grey_picture(label_path, expert);
      if (label.sizes() != grey.sizes())
        throw Error(ExitCode::Mismatch, "label '" + label_path + "' is " + std::to_string(label.size(1)) + " x " +
                                            std::to_string(label.size(0)) + ", its image " + std::to_string(grey.size(1)) +
                                            " x " + std::to_string(grey.size(0)));
      if (expert) {
        if (label.max().item<int>() > 2)
          throw Error(ExitCode::Mismatch, "label '" + label_path + "' holds the class " + std::to_string(label.max().item<int>()) +
                                              " (0 background, 1 ground-glass, 2 consolidation expected)");
      } else {
        label = label.ge(128).to(at::kByte);  // 255 = lesion (JPEG-free PNG, but be tolerant of 254)
      }
      const std::string volume = column(row, index, "patient_id").empty() ? id : column(row, index, "patient_id");
      const GreyToHu mapping = expert ? grey_to_hu_for(options.window, grey, "'" + image_path + "'") : volume_mapping.at(volume);
      Volume ct = picture_to_slice(apply_grey_to_hu(grey, mapping).round().to(at::kShort));
      Volume lesions = picture_to_slice(label);
      const std::string image_out = (out / "images" / (id + ".nii.gz")).string();
      const std::string lesions_out = (out / "lesions" / (id + ".nii.gz")).string();
      write_volume(ct, image_out);
      write_volume(lesions, lesions_out);
      if (expert) {  // the benchmark's own binary infection mask (GT/), beside the classes: what its Dice is taken on
        const std::string infection_path = (base / column(row, index, "infection")).string();
        const at::Tensor infection = read_grey_picture(infection_path, false);
        if (infection.sizes() != grey.sizes())
          throw Error(ExitCode::Mismatch, "infection mask '" + infection_path + "' is not the size of its image");
        write_volume(picture_to_slice(infection.ge(128).to(at::kByte)), (out / "infection" / (id + ".nii.gz")).string());
      }
      Case c;
      c.case_id = id;
      c.patient_id = expert ? id : volume;  // no patient ids in the expert set
      c.dataset = "covid-semiseg-" + set;
      c.image = image_out;
      c.lesions = lesions_out;
      c.convention = expert ? "medseg" : "binary";
      c.attributes["set"] = set;
      c.attributes["hu_calibration"] = mapping.method;
      m.cases.push_back(c);
    } catch (const Error& e) {
      throw e.with_context("case '" + id + "'");
    }
    if (progress) progress(++done, total);
  }
  if (m.cases.empty()) throw Error(ExitCode::NoData, "'" + source_manifest + "' lists no slice of set '" + options.only_set + "'");
  write_text_atomic(m.path, manifest_csv(m, out.string()));
  return m;
}

}  // namespace pulmo
