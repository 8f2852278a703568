// The daemon's lifecycle journal: one SQLite database in WAL mode. Every state change is a
// row update plus an appended event, written before the action it announces. Writes are
// grouped: the event loop opens a transaction, records everything one iteration decided,
// and commits once before it acts or answers (group commit: one fsync for many tasks).
//
// Durability: with Sync::full a commit is on disk when commit() returns (WAL fsync);
// with Sync::normal it survives a crash of the daemon but not of the machine.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "orchestrator/task.h"

namespace clawcage::orchestrator {

struct JournalEvent {
  int64_t seq = 0;
  std::string task_id;
  std::string state;  // a TaskState name, or another word ("requeued", "adopted", ...)
  double at = 0;
  std::string detail;
};

class Journal {
 public:
  enum class Sync { full, normal };

  // Opens or creates the database (and its schema) at `path`; the directory must exist.
  static Result<std::unique_ptr<Journal>> open(const std::string& path, Sync sync = Sync::full);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Group commit. begin() is a no-op inside a transaction; commit() a no-op outside one.
  Result<void> begin();
  Result<void> commit();
  bool in_transaction() const;

  // EEXIST naming the id when a task of that id exists.
  Result<void> insert(const Task& task);
  // Writes every column of an existing task (ENOENT naming the id when there is none).
  Result<void> update(const Task& task);
  Result<void> append_event(const std::string& task_id, const std::string& state,
                            const std::string& detail = "");
  Result<std::optional<Task>> get(const std::string& id);
  // Newest first by seq; an empty agent or no state means any; limit 0 means no limit.
  Result<std::vector<Task>> list(std::optional<TaskState> state, const std::string& agent,
                                 size_t limit);
  // Every task not yet reaped, oldest first (the reconciler's input).
  Result<std::vector<Task>> unfinished();
  Result<std::vector<JournalEvent>> events(const std::string& task_id);
  // Removes the task and its events (ENOENT naming the id when there is none).
  Result<void> remove(const std::string& id);
  // One more than the largest seq ever used (survives removals).
  Result<int64_t> next_seq();
  // A write that touches the file (health check): fails when the disk or the file is not
  // writable.
  Result<void> probe_writable();
  // Small named values kept beside the tasks (the audit log's head); "" when unset.
  Result<void> set_meta(const std::string& key, const std::string& value);
  Result<std::string> get_meta(const std::string& key);
  const std::string& path() const { return path_; }

 private:
  struct Statements;  // prepared once by open(), finalized by ~Journal (journal.cc)

  Journal() = default;
  // The error of the last failed call on db_, naming `what` and the task (when not empty);
  // notes when SQLite rolled the open transaction back.
  Error error(const std::string& what, const std::string& task_id = "");
  // Runs a statement that returns no row; resets it.
  Result<void> step_done(sqlite3_stmt* stmt, const std::string& what,
                         const std::string& task_id = "");
  Result<std::vector<Task>> read_tasks(sqlite3_stmt* stmt, const std::string& what);

  sqlite3* db_ = nullptr;
  std::string path_;
  bool in_tx_ = false;
  std::unique_ptr<Statements> stmts_;
};

}  // namespace clawcage::orchestrator
