#include "spec/spec.h"

namespace clawcage::spec {

bool Spec::has_namespace(const std::string& type) const {
  for (const auto& ns : linux.namespaces)
    if (ns.type == type) return true;
  return false;
}

}  // namespace clawcage::spec
