#include "orchestrator/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/files.h"
#include "base/hash.h"
#include "base/time_format.h"

namespace clawcage::orchestrator {

namespace {

using nlohmann::json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The files of one chain, oldest first: <path>.N ... <path>.1, <path>.
std::vector<std::string> chain_files(const std::string& path) {
  std::vector<std::string> files;
  for (int i = 1; path_exists(path + "." + std::to_string(i)); ++i)
    files.insert(files.begin(), path + "." + std::to_string(i));
  if (path_exists(path)) files.push_back(path);
  return files;
}

}  // namespace

std::string audit_hash(const json& event) {
  json copy = event;
  copy.erase("hash");
  return sha256_hex(dump(copy));
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path, uint64_t rotate_bytes,
                                                 int keep) {
  auto log = std::unique_ptr<AuditLog>(new AuditLog());
  log->path_ = path;
  log->rotate_bytes_ = rotate_bytes;
  log->keep_ = keep;
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) TRY(make_dirs(path.substr(0, slash), 0750));
  log->fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log->fd_) return system_error("open", "audit log " + path);
  // The head: the last complete line of the newest file that has one.
  TRY_ASSIGN(std::string text, read_file(path));
  size_t end = text.size();
  if (end > 0 && text.back() != '\n') {
    // A crash mid-write left part of a line: drop it; the chain goes on from the last
    // complete event.
    size_t cut = text.find_last_of('\n');
    cut = cut == std::string::npos ? 0 : cut + 1;
    if (ftruncate(log->fd_.get(), static_cast<off_t>(cut)) != 0)
      return system_error("truncate", "audit log " + path);
    log->recovered_ = "removed an incomplete last line of " + std::to_string(end - cut) +
                      " bytes (a crash mid-write)";
    end = cut;
    text.resize(cut);
  }
  log->size_ = end;
  auto last_line = [](const std::string& t) -> std::string {
    if (t.size() < 2) return "";
    size_t end = t.size() - 1;  // t ends with '\n'
    size_t start = t.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    return t.substr(start, end - start);
  };
  std::string line = last_line(text);
  if (line.empty()) {
    // A new file after a rotation continues the previous file's chain.
    auto older = read_file(path + ".1");
    if (older) line = last_line(*older);
  }
  if (!line.empty()) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("seq") || !j.contains("hash"))
      return make_error("open", "audit log " + path,
                        "its last line is not an audit event; run `clawcage audit verify`");
    log->head_.seq = j["seq"].get<int64_t>();
    log->head_.hash = j["hash"].get<std::string>();
  }
  return log;
}

Result<void> AuditLog::rotate() {
  for (int i = keep_; i >= 1; --i) {
    std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
    std::string to = path_ + "." + std::to_string(i);
    if (path_exists(from) && ::rename(from.c_str(), to.c_str()) != 0)
      return system_error("rotate", from);
  }
  fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd_) return system_error("open", "audit log " + path_);
  size_ = 0;
  return ok();
}

Result<void> AuditLog::append(json event) {
  if (rotate_bytes_ && size_ >= rotate_bytes_) TRY(rotate());
  event["seq"] = head_.seq + 1;
  event["time"] = rfc3339_utc_now(3);
  event["prev"] = head_.hash;
  std::string hash = audit_hash(event);
  event["hash"] = hash;
  std::string line = dump(event) + "\n";
  // One write(2) per event on an O_APPEND fd: a crash leaves at most one partial last line.
  ssize_t n = ::write(fd_.get(), line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) return system_error("write", "audit log " + path_);
  size_ += line.size();
  head_.seq += 1;
  head_.hash = hash;
  return ok();
}

AuditReport verify_audit(const std::string& path, const AuditHead* expected) {
  AuditReport r;
  auto files = chain_files(path);
  if (files.empty()) {
    r.ok = expected == nullptr || expected->seq == 0;
    if (!r.ok)
      r.problems.push_back(path + ": missing, but the journal records event " +
                           std::to_string(expected->seq));
    return r;
  }
  std::string prev, hash_at_expected;
  int64_t seq = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    auto text = read_file(files[f]);
    if (!text) {
      r.ok = false;
      r.problems.push_back(text.error().message());
      return r;
    }
    std::istringstream in(*text);
    std::string line;
    int64_t lineno = 0;
    bool complete_file = text->empty() || text->back() == '\n';
    size_t consumed = 0;
    while (std::getline(in, line)) {
      ++lineno;
      consumed += line.size() + 1;
      std::string where = files[f] + ":" + std::to_string(lineno);
      bool last_partial = !complete_file && consumed > text->size();
      if (last_partial) {
        r.note = where + ": incomplete last line (a crash mid-write); verified up to event " +
                 std::to_string(seq);
        break;
      }
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("seq") ||
          !j["seq"].is_number_integer() || !j.contains("prev") || !j["prev"].is_string() ||
          !j.contains("hash") || !j["hash"].is_string()) {
        r.ok = false;
        r.problems.push_back(where + ": not an audit event");
        return r;
      }
      int64_t s = j["seq"].get<int64_t>();
      if (seq == 0 && prev.empty()) {
        r.first_seq = s;
        if (s != 1 && f == 0) {
          // Older files were rotated away: the chain is checked from here on.
        } else if (s != 1) {
          r.ok = false;
          r.problems.push_back(where + ": starts at event " + std::to_string(s));
        }
      } else if (s != seq + 1) {
        r.ok = false;
        r.problems.push_back(where + ": event " + std::to_string(s) + " follows event " +
                             std::to_string(seq) + " (removed or reordered events)");
      }
      if (!prev.empty() && j["prev"].get<std::string>() != prev) {
        r.ok = false;
        r.problems.push_back(where + ": event " + std::to_string(s) +
                             " does not chain to the event before it (edited, removed or "
                             "reordered)");
      } else if (prev.empty() && s == 1 && j["prev"].get<std::string>() != std::string(64, '0')) {
        r.ok = false;
        r.problems.push_back(where + ": the first event does not start the chain");
      }
      std::string h = audit_hash(j);
      if (h != j["hash"].get<std::string>()) {
        r.ok = false;
        r.problems.push_back(where + ": event " + std::to_string(s) +
                             " was edited (its hash does not match its content)");
      }
      prev = j["hash"].get<std::string>();
      seq = s;
      if (expected && s == expected->seq) hash_at_expected = prev;
      ++r.events;
      r.last.seq = s;
      r.last.hash = prev;
      if (r.problems.size() > 20) return r;
    }
  }
  if (expected && expected->seq > 0) {
    if (r.last.seq < expected->seq) {
      r.ok = false;
      r.problems.push_back(path + ": ends at event " + std::to_string(r.last.seq) +
                           ", but the journal recorded event " + std::to_string(expected->seq) +
                           " (a truncated tail)");
    } else if (hash_at_expected != expected->hash) {
      r.ok = false;
      r.problems.push_back(path + ": event " + std::to_string(expected->seq) +
                           " is not the one the journal recorded");
    }
  }
  return r;
}

}  // namespace clawcage::orchestrator
