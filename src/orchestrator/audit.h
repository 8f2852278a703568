// The audit trail: one JSON line per lifecycle transition and policy decision, hash-chained
// so that an edited, removed, reordered or appended-out-of-band event breaks verification.
//
// Each line is a JSON object with `seq` (1, 2, ...), `time` (RFC 3339, UTC, ms), `event`,
// the event's fields, `prev` (the previous event's hash; 64 zeros before the first) and
// `hash` = SHA-256 (hex) of the line's JSON without `hash` (keys sorted, no spaces). The
// schema is share/audit.schema.json. A truncated tail (whole events removed from the end) is
// caught against the head the daemon records in its journal at each commit.
//
// Rotation: past `rotate_bytes` the file is renamed <path>.1 (older ones shift to .2 ... up
// to `keep`) and a new file continues the chain: its first event's `prev` is the last hash
// of the one before, so verification runs across the files in order.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace clawcage::orchestrator {

struct AuditHead {
  int64_t seq = 0;
  std::string hash = std::string(64, '0');
};

class AuditLog {
 public:
  // Opens (creating the directory and file) and recovers: a last line cut short by a crash
  // mid-write is removed, and the chain continues from the last complete event.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path, uint64_t rotate_bytes,
                                                int keep);
  // Appends one event ({"event": ..., fields...}); seq, time, prev and hash are added.
  Result<void> append(nlohmann::json event);
  const AuditHead& head() const { return head_; }
  // What recovery at open found, e.g. "removed an incomplete last line of 37 bytes".
  const std::string& recovered() const { return recovered_; }

 private:
  Result<void> rotate();
  std::string path_;
  uint64_t rotate_bytes_ = 0;
  int keep_ = 0;
  UniqueFd fd_;
  uint64_t size_ = 0;
  AuditHead head_;
  std::string recovered_;
};

// SHA-256 of an event's JSON without its `hash` member, in hex.
std::string audit_hash(const nlohmann::json& event);

struct AuditReport {
  bool ok = true;
  int64_t events = 0;                 // complete events verified
  int64_t first_seq = 0;              // > 1 when older files were rotated away
  AuditHead last;                     // the last complete event
  std::vector<std::string> problems;  // each names the file, line and what is wrong
  std::string note;                   // e.g. an incomplete last line left by a crash
};

// Verifies the chain across <path>.N ... <path>.1, <path>; `expected_head` (the journal's)
// catches a truncated tail: the log must reach at least that event, with that hash.
AuditReport verify_audit(const std::string& path, const AuditHead* expected_head);

}  // namespace clawcage::orchestrator
