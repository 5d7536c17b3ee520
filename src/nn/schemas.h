// Schemas of the network layer's options (internal; core/schema.h), shared by model.json and the training
// configuration: the network (type and the options of each architecture) and the loss.
#pragma once

#include "core/schema.h"

namespace pulmo {

struct NetworkOptions;  // pulmo/nn.h
struct LossOptions;     // pulmo/losses.h
enum class Norm : int;
enum class LossKind : int;

const NameTable<Norm>& norm_names();          // instance, batch
const NameTable<LossKind>& loss_kind_names(); // dice, ce, dice_ce, focal, tversky
// type, unet {...}, boxnet {...}: only the object of the network's type is written; both are read.
const Schema<NetworkOptions>& network_schema();
const Schema<LossOptions>& loss_schema();

}  // namespace pulmo
