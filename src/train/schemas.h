// Schemas of the training engine's options (internal; core/schema.h): the optimiser (the chest X-ray trainer reads
// some of its keys), the learning-rate schedule and the whole training configuration (docs/training.md).
#pragma once

#include "core/schema.h"

namespace pulmo {

struct OptimizerOptions;  // pulmo/train.h
struct TrainConfig;       // pulmo/train_config.h
enum class OptimizerType : int;
enum class ScheduleType : int;
enum class SplitKind : int;

const NameTable<OptimizerType>& optimizer_type_names();  // adam, adamw, sgd
const NameTable<ScheduleType>& schedule_type_names();    // constant, poly, cosine, plateau
const NameTable<SplitKind>& split_kind_names();          // holdout, kfold, loo
const Schema<OptimizerOptions>& optimizer_schema();
// Every key of `pulmo train --config`, with the checks of single values; parse_train_config() adds the checks
// that involve several sections.
const Schema<TrainConfig>& train_config_schema();

}  // namespace pulmo
