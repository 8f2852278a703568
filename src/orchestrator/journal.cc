#include "orchestrator/journal.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <limits>

namespace clawcage::orchestrator {

namespace {

constexpr int kSchemaVersion = 2;

// Created in one transaction when the database is new (user_version 0).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY NOT NULL,
  agent TEXT NOT NULL,
  seq INTEGER NOT NULL,
  state TEXT NOT NULL,
  request TEXT NOT NULL,
  tier TEXT NOT NULL DEFAULT '',
  submitted_at REAL,
  admitted_at REAL,
  started_at REAL,
  exited_at REAL,
  reaped_at REAL,
  pid INTEGER,
  pid_start_time INTEGER,
  kill_requested_by TEXT,
  result TEXT,
  stuck INTEGER NOT NULL DEFAULT 0,
  trust TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks(state, seq);
CREATE INDEX IF NOT EXISTS tasks_by_agent ON tasks(agent, seq);
CREATE INDEX IF NOT EXISTS tasks_by_seq ON tasks(seq);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  state TEXT NOT NULL,
  at REAL NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_by_task ON events(task_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value);
PRAGMA user_version = 2;
)sql";

// Version 1 → 2: the trust decision of a task (tier routing, verifying keys) as JSON.
constexpr const char* kMigrateTo2 = R"sql(
ALTER TABLE tasks ADD COLUMN trust TEXT;
PRAGMA user_version = 2;
)sql";

// The columns of a task, in the order bind_task binds them (?1..?16) and read_task reads them.
#define CC_TASK_COLUMNS                                                                      \
  "id, agent, seq, state, request, tier, submitted_at, admitted_at, started_at, exited_at, " \
  "reaped_at, pid, pid_start_time, kill_requested_by, result, stuck, trust"

// meta keys
constexpr const char* kLastSeqKey = "last_seq";  // the largest seq of a removed task

// Resets a statement (ending its read of the database) and drops its bindings when the
// scope ends, however it ends.
class ResetGuard {
 public:
  explicit ResetGuard(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetGuard() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  ResetGuard(const ResetGuard&) = delete;
  ResetGuard& operator=(const ResetGuard&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// The errno closest to an SQLite result code (0 when none fits).
int errno_of(sqlite3* db, int rc) {
  switch (rc & 0xff) {
    case SQLITE_IOERR: {
      int e = sqlite3_system_errno(db);
      return e ? e : EIO;
    }
    case SQLITE_CANTOPEN:
      return sqlite3_system_errno(db);
    case SQLITE_FULL:
      return ENOSPC;
    case SQLITE_READONLY:
      return EROFS;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return EBUSY;
    case SQLITE_NOMEM:
      return ENOMEM;
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return EACCES;
    case SQLITE_TOOBIG:
      return E2BIG;
    default:
      return 0;
  }
}

int bind_text(sqlite3_stmt* s, int i, const std::string& text) {
  return sqlite3_bind_text64(s, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

int bind_text_or_null(sqlite3_stmt* s, int i, const std::string& text) {
  return text.empty() ? sqlite3_bind_null(s, i) : bind_text(s, i, text);
}

// A time not reached (0) is NULL.
int bind_time(sqlite3_stmt* s, int i, double t) {
  return t == 0 ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, t);
}

int bind_named_text(sqlite3_stmt* s, const char* name, const std::string& text) {
  int i = sqlite3_bind_parameter_index(s, name);
  return i == 0 ? SQLITE_OK : bind_text(s, i, text);
}

int bind_task(sqlite3_stmt* s, const Task& t) {
  int rc = SQLITE_OK;
  auto keep = [&rc](int r) {
    if (rc == SQLITE_OK) rc = r;
  };
  keep(bind_text(s, 1, t.id));
  keep(bind_text(s, 2, t.agent));
  keep(sqlite3_bind_int64(s, 3, t.seq));
  keep(bind_text(s, 4, state_name(t.state)));
  keep(bind_text(s, 5, t.request_json));
  keep(bind_text(s, 6, t.tier));
  keep(bind_time(s, 7, t.submitted_at));
  keep(bind_time(s, 8, t.admitted_at));
  keep(bind_time(s, 9, t.started_at));
  keep(bind_time(s, 10, t.exited_at));
  keep(bind_time(s, 11, t.reaped_at));
  keep(t.pid == 0 ? sqlite3_bind_null(s, 12) : sqlite3_bind_int64(s, 12, t.pid));
  keep(t.pid_start_time == 0
           ? sqlite3_bind_null(s, 13)
           : sqlite3_bind_int64(s, 13, static_cast<sqlite3_int64>(t.pid_start_time)));
  keep(bind_text_or_null(s, 14, t.kill_requested_by));
  keep(t.result ? bind_text(s, 15, result_to_json(*t.result)) : sqlite3_bind_null(s, 15));
  keep(sqlite3_bind_int(s, 16, t.stuck ? 1 : 0));
  keep(bind_text_or_null(s, 17, t.trust_json));
  return rc;
}

std::string column_text(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s, i));
}

Result<Task> read_task(sqlite3_stmt* s, const std::string& path) {
  Task t;
  t.id = column_text(s, 0);
  t.agent = column_text(s, 1);
  t.seq = sqlite3_column_int64(s, 2);
  std::string state = column_text(s, 3);
  auto parsed = parse_state(state);
  if (!parsed)
    return make_error("journal read", path,
                      "task " + t.id + " has an unknown state \"" + state + "\"");
  t.state = *parsed;
  t.request_json = column_text(s, 4);
  t.tier = column_text(s, 5);
  t.submitted_at = sqlite3_column_double(s, 6);
  t.admitted_at = sqlite3_column_double(s, 7);
  t.started_at = sqlite3_column_double(s, 8);
  t.exited_at = sqlite3_column_double(s, 9);
  t.reaped_at = sqlite3_column_double(s, 10);
  t.pid = static_cast<pid_t>(sqlite3_column_int64(s, 11));
  t.pid_start_time = static_cast<uint64_t>(sqlite3_column_int64(s, 12));
  t.kill_requested_by = column_text(s, 13);
  if (sqlite3_column_type(s, 14) != SQLITE_NULL) {
    auto result = result_from_json(column_text(s, 14));
    if (!result)
      return std::move(result).error().add_context("reading task " + t.id + " from " + path);
    t.result = std::move(*result);
  }
  t.stuck = sqlite3_column_int(s, 15) != 0;
  t.trust_json = column_text(s, 16);
  return t;
}

// Runs SQL that needs no parameters; `first` receives the first column of the first row.
int exec(sqlite3* db, const char* sql, std::string* first = nullptr) {
  auto callback = [](void* out, int n, char** values, char**) -> int {
    auto* s = static_cast<std::string*>(out);
    if (s && s->empty() && n > 0 && values[0]) *s = values[0];
    return 0;
  };
  return sqlite3_exec(db, sql, callback, first, nullptr);
}

}  // namespace

struct Journal::Statements {
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* savepoint = nullptr;
  sqlite3_stmt* release = nullptr;
  sqlite3_stmt* rollback_to = nullptr;
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* update = nullptr;
  sqlite3_stmt* append_event = nullptr;
  sqlite3_stmt* get = nullptr;
  sqlite3_stmt* list[4] = {};  // index: (state given ? 1 : 0) | (agent given ? 2 : 0)
  sqlite3_stmt* unfinished = nullptr;
  sqlite3_stmt* events = nullptr;
  sqlite3_stmt* seq_of = nullptr;
  sqlite3_stmt* keep_last_seq = nullptr;
  sqlite3_stmt* delete_task = nullptr;
  sqlite3_stmt* delete_events = nullptr;
  sqlite3_stmt* next_seq = nullptr;
  sqlite3_stmt* probe = nullptr;
  sqlite3_stmt* set_meta = nullptr;
  sqlite3_stmt* get_meta = nullptr;

  std::vector<std::pair<sqlite3_stmt**, std::string>> all() {
    const std::string select = "SELECT " CC_TASK_COLUMNS " FROM tasks";
    const std::string newest = " ORDER BY seq DESC LIMIT :limit";
    return {
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&savepoint, "SAVEPOINT journal_op"},
        {&release, "RELEASE journal_op"},
        {&rollback_to, "ROLLBACK TO journal_op"},
        {&insert, "INSERT INTO tasks (" CC_TASK_COLUMNS
                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                  "?16, ?17)"},
        {&update,
         "UPDATE tasks SET agent = ?2, seq = ?3, state = ?4, request = ?5, tier = ?6, "
         "submitted_at = ?7, admitted_at = ?8, started_at = ?9, exited_at = ?10, reaped_at = ?11, "
         "pid = ?12, pid_start_time = ?13, kill_requested_by = ?14, result = ?15, stuck = ?16, "
         "trust = ?17 WHERE id = ?1"},
        {&append_event, "INSERT INTO events (task_id, state, at, detail) VALUES (?1, ?2, ?3, ?4)"},
        {&get, select + " WHERE id = ?1"},
        {&list[0], select + newest},
        {&list[1], select + " WHERE state = :state" + newest},
        {&list[2], select + " WHERE agent = :agent" + newest},
        {&list[3], select + " WHERE state = :state AND agent = :agent" + newest},
        {&unfinished, select + " WHERE state <> 'reaped' ORDER BY seq ASC"},
        {&events,
         "SELECT seq, task_id, state, at, detail FROM events WHERE task_id = ?1 ORDER BY seq"},
        {&seq_of, "SELECT seq FROM tasks WHERE id = ?1"},
        {&keep_last_seq, std::string("INSERT INTO meta (key, value) VALUES ('") + kLastSeqKey +
                             "', ?1) ON CONFLICT (key) DO UPDATE SET value = "
                             "max(value, excluded.value)"},
        {&delete_task, "DELETE FROM tasks WHERE id = ?1"},
        {&delete_events, "DELETE FROM events WHERE task_id = ?1"},
        {&next_seq, std::string("SELECT max(coalesce((SELECT value FROM meta WHERE key = '") +
                        kLastSeqKey + "'), 0), coalesce((SELECT max(seq) FROM tasks), 0)) + 1"},
        {&probe,
         "INSERT INTO meta (key, value) VALUES ('heartbeat', ?1) ON CONFLICT (key) DO UPDATE "
         "SET value = excluded.value"},
        {&set_meta,
         "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE "
         "SET value = excluded.value"},
        {&get_meta, "SELECT value FROM meta WHERE key = ?1"},
    };
  }

  ~Statements() {
    for (auto& [stmt, sql] : all()) sqlite3_finalize(*stmt);  // NULL is a no-op
  }
};

Error Journal::error(const std::string& what, const std::string& task_id) {
  int rc = sqlite3_extended_errcode(db_);
  std::string operation = "journal " + what;
  if (!task_id.empty()) operation += " task " + task_id;
  Error e = make_error(std::move(operation), path_, sqlite3_errmsg(db_));
  e.code = errno_of(db_, rc);
  // SQLite rolls the whole transaction back after some failures (disk full, I/O error).
  if (in_tx_ && sqlite3_get_autocommit(db_)) {
    in_tx_ = false;
    e.detail += "; the open transaction was rolled back";
  }
  return e;
}

Result<void> Journal::step_done(sqlite3_stmt* stmt, const std::string& what,
                                const std::string& task_id) {
  ResetGuard reset(stmt);
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return error(what, task_id);
  return ok();
}

Result<std::vector<Task>> Journal::read_tasks(sqlite3_stmt* stmt, const std::string& what) {
  ResetGuard reset(stmt);
  std::vector<Task> out;
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return error(what);
    TRY_ASSIGN(Task t, read_task(stmt, path_));
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& path, Sync sync) {
  std::unique_ptr<Journal> j(new Journal());
  j->path_ = path;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
#ifdef SQLITE_OPEN_EXRESCODE
  flags |= SQLITE_OPEN_EXRESCODE;
#endif
  // SQLite opens the database, its WAL and shm with O_CLOEXEC.
  int rc = sqlite3_open_v2(path.c_str(), &j->db_, flags, nullptr);
  if (!j->db_) return system_error(ENOMEM, "journal open", path);
  if (rc != SQLITE_OK) return j->error("open");
  sqlite3_extended_result_codes(j->db_, 1);
  sqlite3_busy_timeout(j->db_, 5000);

  // Refuse a newer schema before changing anything in the file.
  std::string version;
  if (exec(j->db_, "PRAGMA user_version", &version) != SQLITE_OK) return j->error("open");
  if (std::strtoll(version.c_str(), nullptr, 10) > kSchemaVersion)
    return make_error("journal open", path,
                      "schema version " + version + " is newer than this clawcage knows (" +
                          std::to_string(kSchemaVersion) + "): written by a newer version");

  std::string mode;
  if (exec(j->db_, "PRAGMA journal_mode = WAL", &mode) != SQLITE_OK)
    return j->error("set WAL mode on");
  if (mode != "wal")
    return make_error("journal open", path, "could not switch to WAL mode (got \"" + mode + "\")");
  const char* sync_sql =
      sync == Sync::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
  if (exec(j->db_, sync_sql) != SQLITE_OK) return j->error("set synchronous on");

  if (exec(j->db_, "BEGIN IMMEDIATE") != SQLITE_OK) return j->error("create schema in");
  version.clear();
  rc = exec(j->db_, "PRAGMA user_version", &version);
  if (rc == SQLITE_OK && (version.empty() || version == "0"))
    rc = exec(j->db_, kSchema);
  else if (rc == SQLITE_OK && version == "1")
    rc = exec(j->db_, kMigrateTo2);
  if (rc != SQLITE_OK) {
    Error e = j->error("create schema in");
    exec(j->db_, "ROLLBACK");
    return e;
  }
  if (exec(j->db_, "COMMIT") != SQLITE_OK) {
    Error e = j->error("create schema in");
    exec(j->db_, "ROLLBACK");
    return e;
  }

  j->stmts_ = std::make_unique<Statements>();
  for (auto& [stmt, sql] : j->stmts_->all()) {
    if (sqlite3_prepare_v3(j->db_, sql.c_str(), static_cast<int>(sql.size()) + 1,
                           SQLITE_PREPARE_PERSISTENT, stmt, nullptr) != SQLITE_OK)
      return j->error("prepare \"" + sql + "\" on");
  }
  return j;
}

Journal::~Journal() {
  stmts_.reset();  // finalized before the close
  // A transaction still open is rolled back: it was never committed.
  if (db_) sqlite3_close_v2(db_);
}

bool Journal::in_transaction() const {
  return in_tx_;
}

Result<void> Journal::begin() {
  if (in_tx_) return ok();
  TRY(step_done(stmts_->begin, "begin"));
  in_tx_ = true;
  return ok();
}

Result<void> Journal::commit() {
  if (!in_tx_) return ok();
  ResetGuard reset(stmts_->commit);
  if (sqlite3_step(stmts_->commit) != SQLITE_DONE) {
    Error e = error("commit");
    // Nothing of a failed commit may survive to be committed by a later one.
    if (!sqlite3_get_autocommit(db_)) {
      ResetGuard reset_rollback(stmts_->rollback);
      sqlite3_step(stmts_->rollback);
      e.detail += "; the transaction was rolled back";
    }
    in_tx_ = false;
    return e;
  }
  in_tx_ = false;
  return ok();
}

Result<void> Journal::insert(const Task& task) {
  sqlite3_stmt* s = stmts_->insert;
  ResetGuard reset(s);
  if (bind_task(s, task) != SQLITE_OK) return error("insert", task.id);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return ok();
  if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_PRIMARYKEY) {
    Error e = system_error(EEXIST, "journal insert", "task " + task.id);
    e.detail = "a task of that id is already in " + path_;
    return e;
  }
  return error("insert", task.id);
}

Result<void> Journal::update(const Task& task) {
  sqlite3_stmt* s = stmts_->update;
  ResetGuard reset(s);
  if (bind_task(s, task) != SQLITE_OK) return error("update", task.id);
  if (sqlite3_step(s) != SQLITE_DONE) return error("update", task.id);
  if (sqlite3_changes(db_) == 0) {
    Error e = system_error(ENOENT, "journal update", "task " + task.id);
    e.detail = "no task of that id in " + path_;
    return e;
  }
  return ok();
}

Result<void> Journal::append_event(const std::string& task_id, const std::string& state,
                                   const std::string& detail) {
  sqlite3_stmt* s = stmts_->append_event;
  ResetGuard reset(s);
  if (bind_text(s, 1, task_id) != SQLITE_OK || bind_text(s, 2, state) != SQLITE_OK ||
      sqlite3_bind_double(s, 3, now_seconds()) != SQLITE_OK || bind_text(s, 4, detail) != SQLITE_OK)
    return error("append event to", task_id);
  if (sqlite3_step(s) != SQLITE_DONE) return error("append event to", task_id);
  return ok();
}

Result<std::optional<Task>> Journal::get(const std::string& id) {
  sqlite3_stmt* s = stmts_->get;
  ResetGuard reset(s);
  if (bind_text(s, 1, id) != SQLITE_OK) return error("read", id);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<Task>();
  if (rc != SQLITE_ROW) return error("read", id);
  TRY_ASSIGN(Task t, read_task(s, path_));
  return std::optional<Task>(std::move(t));
}

Result<std::vector<Task>> Journal::list(std::optional<TaskState> state, const std::string& agent,
                                        size_t limit) {
  sqlite3_stmt* s = stmts_->list[(state ? 1 : 0) | (agent.empty() ? 0 : 2)];
  ResetGuard reset(s);
  int rc = SQLITE_OK;
  if (state) rc = bind_named_text(s, ":state", state_name(*state));
  if (rc == SQLITE_OK && !agent.empty()) rc = bind_named_text(s, ":agent", agent);
  // LIMIT -1: no limit.
  sqlite3_int64 n = limit == 0 || limit > static_cast<size_t>(std::numeric_limits<int64_t>::max())
                        ? -1
                        : static_cast<sqlite3_int64>(limit);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"), n);
  if (rc != SQLITE_OK) return error("list tasks in");
  return read_tasks(s, "list tasks in");
}

Result<std::vector<Task>> Journal::unfinished() {
  return read_tasks(stmts_->unfinished, "list unfinished tasks in");
}

Result<std::vector<JournalEvent>> Journal::events(const std::string& task_id) {
  sqlite3_stmt* s = stmts_->events;
  ResetGuard reset(s);
  if (bind_text(s, 1, task_id) != SQLITE_OK) return error("read events of", task_id);
  std::vector<JournalEvent> out;
  for (;;) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return error("read events of", task_id);
    JournalEvent e;
    e.seq = sqlite3_column_int64(s, 0);
    e.task_id = column_text(s, 1);
    e.state = column_text(s, 2);
    e.at = sqlite3_column_double(s, 3);
    e.detail = column_text(s, 4);
    out.push_back(std::move(e));
  }
  return out;
}

Result<void> Journal::remove(const std::string& id) {
  // The row, its events and the seq high-water mark go together: in a transaction of its
  // own, or a savepoint of the open one.
  bool own = !in_tx_;
  if (own) {
    TRY(begin());
  } else {
    TRY(step_done(stmts_->savepoint, "remove", id));
  }
  auto body = [&]() -> Result<void> {
    int64_t seq = 0;
    {
      sqlite3_stmt* s = stmts_->seq_of;
      ResetGuard reset(s);
      if (bind_text(s, 1, id) != SQLITE_OK) return error("remove", id);
      int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) {
        Error e = system_error(ENOENT, "journal remove", "task " + id);
        e.detail = "no task of that id in " + path_;
        return e;
      }
      if (rc != SQLITE_ROW) return error("remove", id);
      seq = sqlite3_column_int64(s, 0);
    }
    {
      sqlite3_stmt* s = stmts_->keep_last_seq;
      ResetGuard reset(s);
      if (sqlite3_bind_int64(s, 1, seq) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
        return error("remove", id);
    }
    for (sqlite3_stmt* s : {stmts_->delete_task, stmts_->delete_events}) {
      ResetGuard reset(s);
      if (bind_text(s, 1, id) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
        return error("remove", id);
    }
    return ok();
  };
  Result<void> done = body();
  if (done.ok()) {
    if (own) return commit();
    return step_done(stmts_->release, "remove", id);
  }
  // Undo what the body wrote (errors here change nothing: the first one is reported).
  if (own) {
    if (!sqlite3_get_autocommit(db_)) {
      ResetGuard reset(stmts_->rollback);
      sqlite3_step(stmts_->rollback);
    }
    in_tx_ = false;
  } else if (in_tx_) {
    {
      ResetGuard reset(stmts_->rollback_to);
      sqlite3_step(stmts_->rollback_to);
    }
    ResetGuard reset(stmts_->release);
    sqlite3_step(stmts_->release);
  }
  return done;
}

Result<int64_t> Journal::next_seq() {
  sqlite3_stmt* s = stmts_->next_seq;
  ResetGuard reset(s);
  if (sqlite3_step(s) != SQLITE_ROW) return error("read the next seq from");
  return static_cast<int64_t>(sqlite3_column_int64(s, 0));
}

Result<void> Journal::set_meta(const std::string& key, const std::string& value) {
  sqlite3_stmt* s = stmts_->set_meta;
  ResetGuard reset(s);
  if (bind_text(s, 1, key) != SQLITE_OK || bind_text(s, 2, value) != SQLITE_OK ||
      sqlite3_step(s) != SQLITE_DONE)
    return error("write " + key + " to");
  return ok();
}

Result<std::string> Journal::get_meta(const std::string& key) {
  sqlite3_stmt* s = stmts_->get_meta;
  ResetGuard reset(s);
  if (bind_text(s, 1, key) != SQLITE_OK) return error("read " + key + " from");
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return column_text(s, 0);
  if (rc == SQLITE_DONE) return std::string();
  return error("read " + key + " from");
}

Result<void> Journal::probe_writable() {
  sqlite3_stmt* s = stmts_->probe;
  ResetGuard reset(s);
  if (sqlite3_bind_double(s, 1, now_seconds()) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
    return error("probe writes to");
  return ok();
}

}  // namespace clawcage::orchestrator
