// The one error convention of clawcage: every fallible function returns Result<T>.
// No exception crosses a layer. Context is added on the way up with .context(...).
#pragma once

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace clawcage {

struct Error {
  int code = 0;  // errno when a syscall failed, 0 otherwise
  // An errno-style class of the failure for callers that answer clients (EINVAL bad input,
  // ENOENT missing resource, EEXIST conflict, EAGAIN try later...). Not printed.
  int reason = 0;
  std::string operation;             // what was being done: "mount", "parse", "mkdir"
  std::string subject;               // the path, field or resource at fault
  std::string detail;                // explanation when code is 0 (or extra words beside errno)
  std::vector<std::string> context;  // innermost first: "while applying mount 3 of 9"

  // "mount /run/x/proc: Operation not permitted (while applying mount 3; while creating t42)"
  std::string message() const;
  Error& add_context(std::string what) {
    context.push_back(std::move(what));
    return *this;
  }
};

// Captures errno at the call.
Error system_error(std::string operation, std::string subject);
Error system_error(int code, std::string operation, std::string subject);
// A bad input: "linux.resources.memory.limit: expected integer".
Error invalid_field(std::string field, std::string why);
// Anything else that is not a syscall failure.
Error make_error(std::string operation, std::string subject, std::string detail);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  Error& error() & { return std::get<1>(v_); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }
  Result context(std::string what) && {
    if (!ok()) error().add_context(std::move(what));
    return std::move(*this);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}  // NOLINT

  bool ok() const { return !e_.has_value(); }
  explicit operator bool() const { return ok(); }
  Error& error() & { return *e_; }
  const Error& error() const& { return *e_; }
  Error&& error() && { return std::move(*e_); }
  Result context(std::string what) && {
    if (!ok()) e_->add_context(std::move(what));
    return std::move(*this);
  }

 private:
  std::optional<Error> e_;
};

inline Result<void> ok() {
  return {};
}

}  // namespace clawcage

#define CC_CONCAT_INNER(a, b) a##b
#define CC_CONCAT(a, b) CC_CONCAT_INNER(a, b)

// TRY(expr): return the error of a failed Result from the enclosing function.
#define TRY(expr)                                                       \
  do {                                                                  \
    auto cc_try_result_ = (expr);                                       \
    if (!cc_try_result_.ok()) return std::move(cc_try_result_).error(); \
  } while (0)

// TRY_ASSIGN(auto x, expr): declare/assign from a Result<T> or return its error.
#define TRY_ASSIGN(lhs, expr)                                                                     \
  auto CC_CONCAT(cc_try_, __LINE__) = (expr);                                                     \
  if (!CC_CONCAT(cc_try_, __LINE__).ok()) return std::move(CC_CONCAT(cc_try_, __LINE__)).error(); \
  lhs = std::move(CC_CONCAT(cc_try_, __LINE__)).value()
