// Training configuration: JSON or YAML -> TrainConfig, strictly, and back; every key declared once
// (train_config_schema()), which also renders the key table of docs/training.md.
#include <cmath>
#include <filesystem>

#include "core/config_text.h"
#include "data/schemas.h"
#include "nn/schemas.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "pulmo/runtime.h"
#include "pulmo/train_config.h"
#include "train/schemas.h"

using nlohmann::json;

namespace pulmo {

const NameTable<OptimizerType>& optimizer_type_names() {
  static const NameTable<OptimizerType> names = {
      {OptimizerType::Adam, "adam"}, {OptimizerType::AdamW, "adamw"}, {OptimizerType::Sgd, "sgd"}};
  return names;
}

const NameTable<ScheduleType>& schedule_type_names() {
  static const NameTable<ScheduleType> names = {{ScheduleType::Constant, "constant"},
                                                {ScheduleType::Poly, "poly"},
                                                {ScheduleType::Cosine, "cosine"},
                                                {ScheduleType::Plateau, "plateau"}};
  return names;
}

const NameTable<SplitKind>& split_kind_names() {
  static const NameTable<SplitKind> names = {
      {SplitKind::Holdout, "holdout"}, {SplitKind::KFold, "kfold"}, {SplitKind::LeaveOnePatientOut, "loo"}};
  return names;
}

const Schema<OptimizerOptions>& optimizer_schema() {
  using O = OptimizerOptions;
  static const Schema<O> schema =
      Schema<O>()
          .enum_field("type", &O::type, optimizer_type_names(), "the optimiser")
          .field("lr", &O::lr, "initial (peak) learning rate", Bounds().above(0).finite())
          .field("weight_decay", &O::weight_decay, "L2 (adam, sgd) or decoupled (adamw)", Bounds().finite())
          .field("beta1", &O::beta1, "adam, adamw", Bounds().finite())
          .field("beta2", &O::beta2, "adam, adamw", Bounds().finite())
          .field("momentum", &O::momentum, "sgd", Bounds().finite())
          .field("nesterov", &O::nesterov, "sgd");
  return schema;
}

namespace {

const Schema<DataOptions>& data_schema() {
  using D = DataOptions;
  static const Schema<D> schema =
      Schema<D>()
          .field("manifest", &D::manifest, "CSV or JSON manifest of the cases (docs/datasets.md); relative to the "
                                           "configuration file's folder")
          .field("task", &D::task,
                 "lungs (labels 1 right, 2 left), lesions (1 ground-glass, 2 consolidation), lung_box (network.type "
                 "boxnet) or cxr_lungs (chest X-rays, 2-D: the manifest's image and lungs mask PNG, docs/cxr.md)",
                 Choices{"lungs", "lesions", "lung_box", "cxr_lungs"})
          .enum_field("split", &D::split, split_kind_names(),
                      "holdout, kfold or loo (leave one patient out); always by patient")
          .field("folds", &D::folds, "kfold: number of folds (at least 2)")
          .field("fold", &D::fold, "kfold / loo: train only this fold (-1 = every fold, one sub-folder each)",
                 Bounds().min(-1))
          .field("validation_fraction", &D::validation_fraction, "share of the training patients used for validation",
                 Bounds().min(0).below(1))
          .field("test_fraction", &D::test_fraction,
                 "holdout: share of the patients kept out for testing; below 1 - validation_fraction",
                 Bounds().min(0).below(1))
          .field("split_seed", &D::split_seed, "shuffles the patients")
          .field("spacing_mm", &D::spacing_mm, "resample every case to this (x, y, z); <= 0 keeps that axis",
                 Bounds().finite())
          .embed(&D::intensity, intensity_schema());
  return schema;
}

const Schema<AugmentOptions>& augment_schema() {
  using A = AugmentOptions;
  static const Schema<A> schema =
      Schema<A>()
          .field("enabled", &A::enabled, "augment the training patches")
          .field("flip_probability", member(&A::flip, &FlipOptions::probability),
                 "per axis x, y, z; an x (left-right) flip swaps the right and left lung labels", Bounds::probability())
          .field("rotate_scale_probability", member(&A::spatial, &SpatialOptions::probability),
                 "chance of a rotation and scaling", Bounds::probability())
          .field("rotate_degrees", member(&A::spatial, &SpatialOptions::rotate_degrees),
                 "uniform in +- value about x, y, z", Bounds().finite())
          .field("scale_min", member(&A::spatial, &SpatialOptions::scale_min), "isotropic zoom, uniform in [min, max]",
                 Bounds().above(0).finite())
          .field("scale_max", member(&A::spatial, &SpatialOptions::scale_max), "see scale_min", Bounds().above(0).finite())
          .field("elastic_probability", member(&A::spatial, &SpatialOptions::elastic_probability),
                 "chance of an elastic deformation", Bounds::probability())
          .field("elastic_mm", member(&A::spatial, &SpatialOptions::elastic_mm), "largest control-point displacement",
                 Bounds().finite())
          .field("elastic_grid", member(&A::spatial, &SpatialOptions::elastic_grid), "control points per axis")
          .field("shift_probability", member(&A::intensity, &IntensityAugmentOptions::shift_probability),
                 "intensity + U(-shift, shift)", Bounds::probability())
          .field("shift", member(&A::intensity, &IntensityAugmentOptions::shift), "see shift_probability", Bounds().finite())
          .field("scale_probability", member(&A::intensity, &IntensityAugmentOptions::scale_probability),
                 "intensity * U(1 - scale, 1 + scale)", Bounds::probability())
          .field("scale", member(&A::intensity, &IntensityAugmentOptions::scale), "see scale_probability", Bounds().finite())
          .field("gamma_probability", member(&A::intensity, &IntensityAugmentOptions::gamma_probability),
                 "gamma U(gamma_min, gamma_max) on the [min, max]-rescaled patch", Bounds::probability())
          .field("gamma_min", member(&A::intensity, &IntensityAugmentOptions::gamma_min), "see gamma_probability",
                 Bounds().finite())
          .field("gamma_max", member(&A::intensity, &IntensityAugmentOptions::gamma_max), "see gamma_probability",
                 Bounds().finite())
          .field("noise_probability", member(&A::intensity, &IntensityAugmentOptions::noise_probability),
                 "Gaussian noise, standard deviation U(0, noise_std)", Bounds::probability())
          .field("noise_std", member(&A::intensity, &IntensityAugmentOptions::noise_std), "see noise_probability",
                 Bounds().finite())
          .field("blur_probability", member(&A::intensity, &IntensityAugmentOptions::blur_probability),
                 "Gaussian blur, sigma U(blur_sigma_min, blur_sigma_max) voxels", Bounds::probability())
          .field("blur_sigma_min", member(&A::intensity, &IntensityAugmentOptions::blur_sigma_min),
                 "see blur_probability", Bounds().finite())
          .field("blur_sigma_max", member(&A::intensity, &IntensityAugmentOptions::blur_sigma_max),
                 "see blur_probability", Bounds().finite())
          .field("lowres_probability", member(&A::intensity, &IntensityAugmentOptions::lowres_probability),
                 "simulated low resolution: down by U(lowres_zoom_min, lowres_zoom_max), back up", Bounds::probability())
          .field("lowres_zoom_min", member(&A::intensity, &IntensityAugmentOptions::lowres_zoom_min),
                 "see lowres_probability", Bounds().finite())
          .field("lowres_zoom_max", member(&A::intensity, &IntensityAugmentOptions::lowres_zoom_max),
                 "see lowres_probability", Bounds().finite());
  return schema;
}

const Schema<TrainConfig>& training_schema() {
  using C = TrainConfig;
  auto train = [](auto TrainOptions::*m) { return member(&C::train, m); };
  static const Schema<C> schema =
      Schema<C>()
          .field("patch_size", train(&TrainOptions::patch_size),
                 "(x, y, z) voxels; multiples of 2^(depth-1) for a U-Net, network.boxnet.input_size for lung_box",
                 Bounds().min(1))
          .field("foreground_probability", train(&TrainOptions::foreground_probability),
                 "share of the patches centred on a labelled voxel", Bounds::probability())
          .field("batch_size", train(&TrainOptions::batch_size), "patches per optimiser step", Bounds().min(1))
          .field("steps", train(&TrainOptions::steps), "optimiser steps in total", Bounds().min(1))
          .field("validate_every", train(&TrainOptions::validate_every), "steps between validations (and log rows)",
                 Bounds().min(1))
          .field("checkpoint_every", train(&TrainOptions::checkpoint_every),
                 "steps between checkpoints (0 = only at the end)", Bounds().min(0))
          .field("early_stopping_patience", train(&TrainOptions::early_stopping_patience),
                 "validations without improvement before stopping (0 = never)")
          .field("early_stopping_min_delta", train(&TrainOptions::early_stopping_min_delta),
                 "the smallest rise of the validation Dice that counts as an improvement", Bounds().finite())
          .field("grad_clip_norm", train(&TrainOptions::grad_clip_norm), "largest global gradient norm (0 = no clipping)",
                 Bounds().finite())
          .field("amp", train(&TrainOptions::amp), "mixed precision, CUDA only (ignored on CPU)")
          .field("device", train(&TrainOptions::device), "auto: CUDA when available", Choices{"auto", "cpu", "cuda"})
          .field("seed", train(&TrainOptions::seed), "network initialisation, batches, augmentation, dropout")
          .field("init_from", train(&TrainOptions::init_from),
                 "model folder whose weights start the training instead of a random initialisation (fine-tuning); "
                 "same network, task, input spacing, HU window and labels; relative to the config file")
          // written only when set: the training records of models trained before the key existed stay as they are
          .write_if([](const C& c) { return !c.train.init_from.empty(); })
          .field("workers", train(&TrainOptions::workers), "loader threads (0 = in the training thread)",
                 Bounds().min(0).max(kMaxLoaderWorkers, "loader threads (pulmo's limit; 2-8 keep a GPU busy)"))
          .field("prefetch", train(&TrainOptions::prefetch), "batches built ahead", Bounds().min(1).max(kMaxPrefetch))
          .field("threads", &C::threads,
                 "LibTorch, OpenMP and ITK threads (0 = every available core; at most 4 per core; pulmo --threads "
                 "overrides)",
                 Bounds().min(0));
  return schema;
}

// The checks that involve several sections, after those of single values.
void validate(const TrainConfig& c, const SchemaContext& ctx) {
  auto bad = [&](const std::string& m) { ctx.fail(m); };
  const DataOptions& d = c.data;
  if (d.split == SplitKind::KFold && d.folds < 2) bad("data.folds must be >= 2 for split kfold (not " + std::to_string(d.folds) + ")");
  if (d.test_fraction + d.validation_fraction >= 1) bad("data.test_fraction must be in [0, 1 - validation_fraction)");
  const TrainOptions& t = c.train;
  const int max_threads = kMaxThreadsPerCore * available_cores();
  if (c.threads > max_threads)
    bad("training.threads " + std::to_string(c.threads) + " is more than " + std::to_string(kMaxThreadsPerCore) +
        " per available core (at most " + std::to_string(max_threads) + " here; 0 = every core)");
  if (d.task == "lung_box") {
    if (t.network.type != "boxnet") bad("network.type must be boxnet for data.task lung_box");
    if (t.patch_size != t.network.boxnet.input_size)
      bad("training.patch_size must equal network.boxnet.input_size for a lung_box model (the whole CT is resampled to it)");
    return;
  }
  if (t.network.type != "unet") bad("network.type must be unet for segmentation training");
  const bool flat = d.task == "cxr_lungs";  // chest X-rays: a 2-D U-Net on patches of depth 1
  if (flat && t.network.unet.dims != 2) bad("network.unet.dims must be 2 for data.task cxr_lungs (chest X-rays are 2-D)");
  // CT tasks: a 3-D U-Net, or a 2-D U-Net on axial patches of depth 1 (slice by slice; the lesion model learns from
  // single expert-labelled slices). The CT is then resampled in-plane only: data.spacing_mm z must be <= 0 (kept).
  if (!flat && t.network.unet.dims == 2 && t.patch_size[2] != 1)
    bad("training.patch_size must be [x, y, 1] for a 2-D U-Net (network.unet.dims 2)");
  if (!flat && t.network.unet.dims == 2 && d.spacing_mm[2] > 0)
    bad("data.spacing_mm z must be 0 (keep each CT's slices) for a 2-D U-Net: it segments axial slices one by one");
  if (flat && t.network.unet.out_channels != 2) bad("network.unet.out_channels must be 2 (background, lung) for data.task cxr_lungs");
  if (flat && t.patch_size[2] != 1) bad("training.patch_size must be [size, size, 1] for data.task cxr_lungs");
  if (flat && t.patch_size[0] != t.patch_size[1])
    bad("training.patch_size must be square for data.task cxr_lungs (the X-ray is letterboxed to size x size)");
  if (t.network.unet.out_channels != 3 && t.network.unet.out_channels != 2)
    bad("network.unet.out_channels must be 3 (background + 2 labels) or 2 (background + one label)");
  const int64_t div = network_divisor(t.network);
  for (int a = 0; a < (t.network.unet.dims == 2 ? 2 : 3); ++a)
    if (t.patch_size[a] % div != 0) bad("training.patch_size entries must be positive multiples of " + std::to_string(div));
}

}  // namespace

const Schema<TrainConfig>& train_config_schema() {
  using C = TrainConfig;
  static const Schema<C> schema =
      Schema<C>()
          .section("data", &C::data, data_schema())
          .section("network", member(&C::train, &TrainOptions::network), network_schema())
          .section("loss", member(&C::train, &TrainOptions::loss), loss_schema())
          .section("optimizer", member(&C::train, &TrainOptions::optimizer), optimizer_schema())
          .section("schedule", member(&C::train, &TrainOptions::schedule),
                   Schema<ScheduleOptions>()
                       .enum_field("type", &ScheduleOptions::type, schedule_type_names(),
                                   "the learning-rate schedule (after the warm-up)")
                       .field("warmup_steps", &ScheduleOptions::warmup_steps, "linear warm-up from 0 over these steps")
                       .field("poly_power", &ScheduleOptions::poly_power, "poly: lr * (1 - t)^power", Bounds().finite())
                       .field("min_lr", &ScheduleOptions::min_lr, "cosine: floor", Bounds().finite())
                       .field("plateau_factor", &ScheduleOptions::plateau_factor,
                              "plateau: lr *= factor after plateau_patience validations without improvement",
                              Bounds().finite())
                       .field("plateau_patience", &ScheduleOptions::plateau_patience, "see plateau_factor"))
          .section("augment", member(&C::train, &TrainOptions::augment), augment_schema())
          .group("training", training_schema())
          .field("output", member(&C::train, &TrainOptions::output),
                 "model folder (required here or with --output); relative to the working directory");
  return schema;
}

TrainConfig parse_train_config(const std::string& text, bool yaml, const std::string& where) {
  const json j = parse_yaml_or_json(text, yaml, where);
  TrainConfig c;
  const SchemaContext ctx(where);
  train_config_schema().read(j, c, ctx);
  // GGO / consolidation have no side; X-ray lungs are one label (1 lung)
  if (c.data.task == "lesions" || c.data.task == "cxr_lungs") c.train.augment.flip.swap_labels.clear();
  validate(c, ctx);
  return c;
}

TrainConfig read_train_config(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(ExitCode::NotFound, "config file '" + path + "' does not exist");
  const std::string ext = std::filesystem::path(path).extension().string();
  return parse_train_config(read_text_file(path), ext == ".yaml" || ext == ".yml", path);
}

std::string train_config_to_json(const TrainConfig& c) { return train_config_schema().write(c).dump(2) + "\n"; }

std::string train_config_table() { return train_config_schema().markdown_table(TrainConfig{}); }

}  // namespace pulmo
