#include "data/schemas.h"

#include "pulmo/transforms.h"

namespace pulmo {

const NameTable<Normalisation>& normalisation_names() {
  static const NameTable<Normalisation> names = {{Normalisation::Window01, "window01"}, {Normalisation::ZScore, "zscore"}};
  return names;
}

const Schema<IntensityOptions>& intensity_schema() {
  static const Schema<IntensityOptions> schema =
      Schema<IntensityOptions>()
          .field("hu_min", &IntensityOptions::hu_min, "HU window: voxels are clipped to [hu_min, hu_max]", Bounds().finite())
          .field("hu_max", &IntensityOptions::hu_max, "upper end of the HU window; must exceed hu_min", Bounds().finite())
          .enum_field("normalisation", &IntensityOptions::normalisation, normalisation_names(),
                      "after clipping: window01 maps the window to [0, 1]; zscore computes (x - mean) / std")
          .field("mean", &IntensityOptions::mean, "zscore only", Bounds().finite())
          .field("std", &IntensityOptions::std, "zscore only; > 0", Bounds().finite())
          .check([](const IntensityOptions& o, const SchemaContext& ctx) {
            if (!(o.hu_max > o.hu_min)) ctx.fail(ctx.name("hu_max") + " must exceed " + ctx.name("hu_min"));
            if (o.normalisation == Normalisation::ZScore && !(o.std > 0))
              ctx.fail(ctx.name("std") + " must be > 0 for normalisation zscore (not " + schema_number_text(o.std, false) + ")");
          });
  return schema;
}

}  // namespace pulmo
