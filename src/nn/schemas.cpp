#include "nn/schemas.h"

#include "pulmo/losses.h"
#include "pulmo/nn.h"

namespace pulmo {

const NameTable<Norm>& norm_names() {
  static const NameTable<Norm> names = {{Norm::Instance, "instance"}, {Norm::Batch, "batch"}};
  return names;
}

const NameTable<LossKind>& loss_kind_names() {
  static const NameTable<LossKind> names = {{LossKind::Dice, "dice"},
                                            {LossKind::CrossEntropy, "ce"},
                                            {LossKind::DiceCE, "dice_ce"},
                                            {LossKind::Focal, "focal"},
                                            {LossKind::Tversky, "tversky"}};
  return names;
}

const Schema<NetworkOptions>& network_schema() {
  static const Schema<UNetOptions> unet =
      Schema<UNetOptions>()
          .field("dims", &UNetOptions::dims, "3: a 3-D U-Net; 2: a 2-D U-Net on patches of depth 1 (patch_size [x, y, 1]): cxr_lungs, or CT slice by slice with data.spacing_mm z 0",
                 Bounds().min(2).max(3))
          .field("in_channels", &UNetOptions::in_channels, "input channels", Bounds().min(1))
          .field("out_channels", &UNetOptions::out_channels,
                 "classes: 3 = background + 2 labels, 2 = background + one label (training takes these two; label values "
                 "must stay below it)",
                 Bounds().min(1))
          .field("depth", &UNetOptions::depth, "resolution levels; patch sizes must be multiples of 2^(depth-1)",
                 Bounds().min(1).max(7))
          .field("base_width", &UNetOptions::base_width, "channels at full resolution, doubled per level", Bounds().min(1))
          .field("max_width", &UNetOptions::max_width, "cap on the channels of a level", Bounds().min(1))
          .enum_field("norm", &UNetOptions::norm, norm_names(), "normalisation layer of the convolution blocks")
          .field("leaky_slope", &UNetOptions::leaky_slope, "LeakyReLU negative slope", Bounds().finite())
          .field("residual", &UNetOptions::residual, "residual convolution blocks")
          .field("deep_supervision", &UNetOptions::deep_supervision,
                 "extra heads on lower decoder levels, loss weights 1, 1/2, 1/4, ...")
          .field("dropout", &UNetOptions::dropout, "dropout probability in each block; > 0 enables MC dropout at inference",
                 Bounds().min(0).below(1));
  static const Schema<BoxNetOptions> boxnet =
      Schema<BoxNetOptions>()
          .field("in_channels", &BoxNetOptions::in_channels, "input channels", Bounds().min(1))
          .field("levels", &BoxNetOptions::levels, "stride-2 convolution blocks", Bounds().min(1).max(8))
          .field("base_width", &BoxNetOptions::base_width, "channels of the first block, doubled per level", Bounds().min(1))
          .enum_field("norm", &BoxNetOptions::norm, norm_names(), "normalisation layer of the convolution blocks")
          .field("leaky_slope", &BoxNetOptions::leaky_slope, "LeakyReLU negative slope", Bounds().finite())
          .field("input_size", &BoxNetOptions::input_size,
                 "(x, y, z) voxels of the fixed coarse grid the whole CT is resampled to; multiples of 2^levels",
                 Bounds().min(1).max(512))
          .field("hidden", &BoxNetOptions::hidden, "width of the fully connected layer before the 6 outputs", Bounds().min(1))
          .field("coord_channels", &BoxNetOptions::coord_channels,
                 "append 3 coordinate channels (CoordConv) so that positions are easy to read");
  static const Schema<NetworkOptions> schema =
      Schema<NetworkOptions>()
          .field("type", &NetworkOptions::type, "unet (segmentation) or boxnet (lung box regression)",
                 Choices{"unet", "boxnet"})
          .section("unet", &NetworkOptions::unet, unet)
          .write_if([](const NetworkOptions& o) { return o.type != "boxnet"; })
          .section("boxnet", &NetworkOptions::boxnet, boxnet)
          .write_if([](const NetworkOptions& o) { return o.type == "boxnet"; })
          .check([](const NetworkOptions& o, const SchemaContext& ctx) {
            if (o.type != "boxnet") return;
            const int64_t cell = int64_t(1) << o.boxnet.levels;
            for (int64_t s : o.boxnet.input_size)
              if (s % cell != 0)
                ctx.fail(ctx.name("boxnet.input_size") + " must be multiples of 2^levels = " + std::to_string(cell));
          });
  return schema;
}

const Schema<LossOptions>& loss_schema() {
  static const Schema<LossOptions> schema =
      Schema<LossOptions>()
          .enum_field("type", &LossOptions::kind, loss_kind_names(), "the loss")
          .field("batch_dice", &LossOptions::batch_dice, "Dice summed over the batch instead of per volume")
          .field("include_background", &LossOptions::include_background, "class 0 counts in Dice / Tversky")
          .field("smooth", &LossOptions::smooth, "added to numerator and denominator of Dice / Tversky", Bounds().finite())
          .field("dice_weight", &LossOptions::dice_weight, "dice_ce = dice_weight * Dice + ce_weight * CE", Bounds().finite())
          .field("ce_weight", &LossOptions::ce_weight, "see dice_weight", Bounds().finite())
          .field("focal_gamma", &LossOptions::focal_gamma, "focal: mean of -(1 - p_t)^gamma log p_t", Bounds().finite())
          .field("tversky_alpha", &LossOptions::tversky_alpha, "Tversky: weight of false positives", Bounds().finite())
          .field("tversky_beta", &LossOptions::tversky_beta, "Tversky: weight of false negatives", Bounds().finite());
  return schema;
}

}  // namespace pulmo
