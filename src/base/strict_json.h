// Strict JSON for operator files (policies): a duplicated key anywhere refuses the document,
// as containers/image refuses it in policy.json, and objects may hold only known keys.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "base/result.h"

namespace clawcage {

// Parses `text`; errors name `source` ("not valid JSON", "duplicate key \"k\"").
Result<nlohmann::json> parse_strict_json(const std::string& text, const std::string& source);
// `j` must be an object whose keys are all in `allowed`; errors name `field` + ".key".
Result<void> only_keys(const nlohmann::json& j, const std::string& field,
                       const std::set<std::string>& allowed);

}  // namespace clawcage
