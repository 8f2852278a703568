#include "base/time_format.h"

#include <time.h>

#include <cstdio>

namespace clawcage {

std::string rfc3339_utc_now(int fraction_digits) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char buf[48];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  long fraction = ts.tv_nsec;
  for (int i = fraction_digits; i < 9; ++i) fraction /= 10;
  snprintf(buf + n, sizeof buf - n, ".%0*ldZ", fraction_digits, fraction);
  return buf;
}

int64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace clawcage
