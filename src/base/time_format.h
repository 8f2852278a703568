// Wall-clock time as RFC 3339 in UTC, e.g. 2026-11-23T07:12:31.947Z.
#pragma once

#include <cstdint>
#include <string>

namespace clawcage {

// `fraction_digits` of the second: 3 (milliseconds) or 9 (nanoseconds, Go's RFC3339Nano).
std::string rfc3339_utc_now(int fraction_digits);
// CLOCK_MONOTONIC in milliseconds, for deadlines.
int64_t monotonic_ms();

}  // namespace clawcage
