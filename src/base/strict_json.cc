#include "base/strict_json.h"

#include <vector>

namespace clawcage {

Result<nlohmann::json> parse_strict_json(const std::string& text, const std::string& source) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::string duplicate;
  json::parser_callback_t cb = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty())
          duplicate = parsed.get<std::string>();
        break;
      default:
        break;
    }
    return true;
  };
  json j = json::parse(text, cb, false);
  if (j.is_discarded()) return invalid_field(source, "not valid JSON");
  if (!duplicate.empty()) return invalid_field(source, "duplicate key \"" + duplicate + "\"");
  return j;
}

Result<void> only_keys(const nlohmann::json& j, const std::string& field,
                       const std::set<std::string>& allowed) {
  if (!j.is_object()) return invalid_field(field, "expected a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed.count(it.key())) return invalid_field(field + "." + it.key(), "unknown field");
  return ok();
}

}  // namespace clawcage
