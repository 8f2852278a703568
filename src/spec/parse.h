// config.json ⇄ spec::Spec. Every error names the field, as a JSON path:
// "linux.resources.memory.limit: expected integer".
#pragma once

#include <string>

#include "base/result.h"
#include "spec/spec.h"

namespace clawcage::spec {

Result<Spec> parse_spec(const std::string& json_text);
Result<Spec> load_spec_file(const std::string& path);
// A process object alone (runc exec --process FILE); errors name "process.<field>".
Result<Process> parse_process_json(const std::string& json_text, const std::string& what);
// An OCI/Docker seccomp profile document (the value of linux.seccomp, or a profile file).
Result<Seccomp> parse_seccomp(const std::string& json_text, const std::string& field_prefix);
// The profile shipped with clawcage (share/seccomp/default.json, embedded at build time).
Result<Seccomp> default_seccomp_profile();
std::string to_json(const Spec& spec, int indent = 2);

}  // namespace clawcage::spec
