// Schemas of the data layer's options (internal; core/schema.h): the HU window and normalisation, shared by the
// training configuration (keys of `data`) and model.json (`intensity`).
#pragma once

#include "core/schema.h"

namespace pulmo {

struct IntensityOptions;          // pulmo/transforms.h
enum class Normalisation : int;

const NameTable<Normalisation>& normalisation_names();  // window01, zscore
// hu_min, hu_max, normalisation, mean, std; checks hu_max > hu_min and, for zscore, std > 0.
const Schema<IntensityOptions>& intensity_schema();

}  // namespace pulmo
