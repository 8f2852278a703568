#include "base/result.h"

#include <cstring>

namespace clawcage {

std::string Error::message() const {
  std::string out = operation;
  if (!subject.empty()) out += (out.empty() ? "" : " ") + subject;
  out += ": ";
  if (code != 0) {
    out += std::strerror(code);
    if (!detail.empty()) out += " (" + detail + ")";
  } else {
    out += detail;
  }
  if (!context.empty()) {
    out += " (";
    for (size_t i = 0; i < context.size(); ++i) {
      if (i) out += "; ";
      out += "while " + context[i];
    }
    out += ")";
  }
  return out;
}

Error system_error(std::string operation, std::string subject) {
  return system_error(errno, std::move(operation), std::move(subject));
}

Error system_error(int code, std::string operation, std::string subject) {
  Error e;
  e.code = code;
  e.operation = std::move(operation);
  e.subject = std::move(subject);
  return e;
}

Error invalid_field(std::string field, std::string why) {
  Error e;
  e.subject = std::move(field);
  e.detail = std::move(why);  // code stays 0: prints "field: why"
  return e;
}

Error make_error(std::string operation, std::string subject, std::string detail) {
  Error e;
  e.operation = std::move(operation);
  e.subject = std::move(subject);
  e.detail = std::move(detail);
  return e;
}

}  // namespace clawcage
