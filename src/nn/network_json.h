// NetworkOptions <-> JSON (internal; shared by model folders and the training config).
#pragma once

#include <nlohmann/json.hpp>

#include "pulmo/nn.h"

namespace pulmo {

nlohmann::json network_to_json(const NetworkOptions& o);
// Strict: unknown keys and invalid values throw Error(BadConfig) naming `where`.
NetworkOptions network_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace pulmo
