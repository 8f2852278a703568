#include "orchestrator/journal.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace clawcage::orchestrator {
namespace {

Task make_task(const std::string& id, int64_t seq, TaskState state = TaskState::queued,
               const std::string& agent = "a") {
  Task t;
  t.id = id;
  t.agent = agent;
  t.seq = seq;
  t.state = state;
  t.request_json = R"({"agent":")" + agent + R"(","command":["/bin/true"],"id":")" + id + R"("})";
  t.submitted_at = 1763870000.0 + static_cast<double>(seq);
  return t;
}

std::vector<std::string> ids_of(const std::vector<Task>& tasks) {
  std::vector<std::string> out;
  for (const auto& t : tasks) out.push_back(t.id);
  return out;
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/clawcage-journal-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << "mkdtemp: " << errno;
    dir_ = tmpl;
    path_ = dir_ + "/journal.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Journal> open_journal(Journal::Sync sync = Journal::Sync::full) {
    auto j = Journal::open(path_, sync);
    EXPECT_TRUE(j) << j.error().message();
    if (!j) return nullptr;
    return std::move(*j);
  }

  std::string dir_, path_;
};

TEST_F(JournalTest, InsertGetRoundTripsEveryColumn) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  Task t = make_task("t1", 3, TaskState::exited, "agent-x");
  t.tier = "strict";
  t.admitted_at = 1763870001.5;
  t.started_at = 1763870002.25;
  t.exited_at = 1763870003.125;
  t.reaped_at = 1763870004.0625;
  t.pid = 12345;
  t.pid_start_time = 987654321012ull;
  t.kill_requested_by = "deadline";
  t.stuck = true;
  TaskResult r;
  r.cause = "timeout";
  r.exit_code = 137;
  r.signal = 9;
  r.killed_by = "deadline";
  r.error = "";
  r.wall_ms = 30000.5;
  r.cpu_usec = 1234;
  r.memory_peak_bytes = 1u << 20;
  r.oom_kills = 2;
  r.stdout_bytes = 10;
  r.stderr_bytes = 20;
  r.stdout_truncated = true;
  r.cleanup_error = "busy";
  t.result = r;
  ASSERT_TRUE(j->insert(t));

  auto got = j->get("t1");
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_TRUE(got->has_value());
  const Task& g = **got;
  EXPECT_EQ(g.id, "t1");
  EXPECT_EQ(g.agent, "agent-x");
  EXPECT_EQ(g.seq, 3);
  EXPECT_EQ(g.state, TaskState::exited);
  EXPECT_EQ(g.request_json, t.request_json);
  EXPECT_EQ(g.tier, "strict");
  EXPECT_EQ(g.submitted_at, t.submitted_at);
  EXPECT_EQ(g.admitted_at, t.admitted_at);
  EXPECT_EQ(g.started_at, t.started_at);
  EXPECT_EQ(g.exited_at, t.exited_at);
  EXPECT_EQ(g.reaped_at, t.reaped_at);
  EXPECT_EQ(g.pid, 12345);
  EXPECT_EQ(g.pid_start_time, 987654321012ull);
  EXPECT_EQ(g.kill_requested_by, "deadline");
  EXPECT_TRUE(g.stuck);
  ASSERT_TRUE(g.result);
  EXPECT_EQ(result_to_json(*g.result), result_to_json(r));

  // Defaults (no times, no pid, no result) come back as they went in.
  ASSERT_TRUE(j->insert(make_task("t2", 4)));
  auto got2 = j->get("t2");
  ASSERT_TRUE(got2 && got2->has_value());
  const Task& g2 = **got2;
  EXPECT_EQ(g2.admitted_at, 0);
  EXPECT_EQ(g2.reaped_at, 0);
  EXPECT_EQ(g2.pid, 0);
  EXPECT_EQ(g2.pid_start_time, 0u);
  EXPECT_EQ(g2.kill_requested_by, "");
  EXPECT_EQ(g2.tier, "");
  EXPECT_FALSE(g2.result);
  EXPECT_FALSE(g2.stuck);

  auto missing = j->get("nope");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_F(JournalTest, DuplicateInsertIsEexistNamingTheId) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->insert(make_task("dup-1", 1)));
  auto again = j->insert(make_task("dup-1", 2));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  EXPECT_NE(again.error().message().find("dup-1"), std::string::npos) << again.error().message();
  // The first stays as it was.
  auto got = j->get("dup-1");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->seq, 1);
}

TEST_F(JournalTest, UpdateWritesEveryColumn) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  Task t = make_task("u1", 1);
  ASSERT_TRUE(j->insert(t));
  t.state = TaskState::started;
  t.tier = "container";
  t.admitted_at = 10.5;
  t.started_at = 11.5;
  t.pid = 77;
  t.pid_start_time = 5555;
  t.kill_requested_by = "operator";
  t.stuck = true;
  t.result = TaskResult{};
  t.result->cause = "killed";
  ASSERT_TRUE(j->update(t));
  auto got = j->get("u1");
  ASSERT_TRUE(got && got->has_value());
  const Task& g = **got;
  EXPECT_EQ(g.state, TaskState::started);
  EXPECT_EQ(g.tier, "container");
  EXPECT_EQ(g.admitted_at, 10.5);
  EXPECT_EQ(g.started_at, 11.5);
  EXPECT_EQ(g.pid, 77);
  EXPECT_EQ(g.pid_start_time, 5555u);
  EXPECT_EQ(g.kill_requested_by, "operator");
  EXPECT_TRUE(g.stuck);
  ASSERT_TRUE(g.result);
  EXPECT_EQ(g.result->cause, "killed");

  // Back to empty values.
  t.result.reset();
  t.kill_requested_by.clear();
  t.stuck = false;
  ASSERT_TRUE(j->update(t));
  got = j->get("u1");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_FALSE((*got)->result);
  EXPECT_EQ((*got)->kill_requested_by, "");
  EXPECT_FALSE((*got)->stuck);
}

TEST_F(JournalTest, UpdateOrRemoveOfMissingTaskIsEnoentNamingTheId) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  auto u = j->update(make_task("ghost-7", 1));
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, ENOENT);
  EXPECT_NE(u.error().message().find("ghost-7"), std::string::npos) << u.error().message();
  auto r = j->remove("ghost-8");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message().find("ghost-8"), std::string::npos) << r.error().message();
  EXPECT_FALSE(j->in_transaction());
  // The same inside a transaction, which stays usable.
  ASSERT_TRUE(j->begin());
  r = j->remove("ghost-9");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_TRUE(j->in_transaction());
  ASSERT_TRUE(j->insert(make_task("real", 1)));
  ASSERT_TRUE(j->commit());
  auto got = j->get("real");
  ASSERT_TRUE(got && got->has_value());
}

TEST_F(JournalTest, ListFiltersByStateAndAgentNewestFirstWithLimit) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->insert(make_task("a1", 1, TaskState::queued, "alice")));
  ASSERT_TRUE(j->insert(make_task("b1", 2, TaskState::started, "bob")));
  ASSERT_TRUE(j->insert(make_task("a2", 3, TaskState::started, "alice")));
  ASSERT_TRUE(j->insert(make_task("a3", 4, TaskState::queued, "alice")));
  ASSERT_TRUE(j->insert(make_task("b2", 5, TaskState::reaped, "bob")));

  auto all = j->list(std::nullopt, "", 0);
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(ids_of(*all), (std::vector<std::string>{"b2", "a3", "a2", "b1", "a1"}));

  auto limited = j->list(std::nullopt, "", 2);
  ASSERT_TRUE(limited);
  EXPECT_EQ(ids_of(*limited), (std::vector<std::string>{"b2", "a3"}));

  auto queued = j->list(TaskState::queued, "", 0);
  ASSERT_TRUE(queued);
  EXPECT_EQ(ids_of(*queued), (std::vector<std::string>{"a3", "a1"}));

  auto bob = j->list(std::nullopt, "bob", 0);
  ASSERT_TRUE(bob);
  EXPECT_EQ(ids_of(*bob), (std::vector<std::string>{"b2", "b1"}));

  auto alice_started = j->list(TaskState::started, "alice", 0);
  ASSERT_TRUE(alice_started);
  EXPECT_EQ(ids_of(*alice_started), (std::vector<std::string>{"a2"}));

  auto alice_one = j->list(std::nullopt, "alice", 1);
  ASSERT_TRUE(alice_one);
  EXPECT_EQ(ids_of(*alice_one), (std::vector<std::string>{"a3"}));

  auto none = j->list(TaskState::exited, "", 0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto nobody = j->list(std::nullopt, "carol", 0);
  ASSERT_TRUE(nobody);
  EXPECT_TRUE(nobody->empty());
}

TEST_F(JournalTest, UnfinishedIsEveryTaskNotReapedOldestFirst) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  // Inserted out of seq order: the order is by seq.
  ASSERT_TRUE(j->insert(make_task("s5", 5, TaskState::started)));
  ASSERT_TRUE(j->insert(make_task("r1", 1, TaskState::reaped)));
  ASSERT_TRUE(j->insert(make_task("e3", 3, TaskState::exited)));
  ASSERT_TRUE(j->insert(make_task("q2", 2, TaskState::queued)));
  ASSERT_TRUE(j->insert(make_task("c4", 4, TaskState::created)));
  ASSERT_TRUE(j->insert(make_task("r6", 6, TaskState::reaped)));
  auto u = j->unfinished();
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(ids_of(*u), (std::vector<std::string>{"q2", "e3", "c4", "s5"}));
}

TEST_F(JournalTest, EventsAreKeptInOrderPerTask) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->insert(make_task("ev", 1)));
  ASSERT_TRUE(j->insert(make_task("other", 2)));
  double before = now_seconds();
  ASSERT_TRUE(j->append_event("ev", "queued"));
  ASSERT_TRUE(j->append_event("other", "queued", "x"));
  ASSERT_TRUE(j->append_event("ev", "admitted", "tier container"));
  ASSERT_TRUE(j->append_event("ev", "requeued", "restart"));
  double after = now_seconds();
  auto events = j->events("ev");
  ASSERT_TRUE(events) << events.error().message();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].state, "queued");
  EXPECT_EQ((*events)[0].detail, "");
  EXPECT_EQ((*events)[1].state, "admitted");
  EXPECT_EQ((*events)[1].detail, "tier container");
  EXPECT_EQ((*events)[2].state, "requeued");
  for (const auto& e : *events) {
    EXPECT_EQ(e.task_id, "ev");
    EXPECT_GE(e.at, before - 0.001);
    EXPECT_LE(e.at, after + 0.001);
  }
  EXPECT_LT((*events)[0].seq, (*events)[1].seq);
  EXPECT_LT((*events)[1].seq, (*events)[2].seq);
  auto other = j->events("other");
  ASSERT_TRUE(other);
  ASSERT_EQ(other->size(), 1u);
  EXPECT_EQ((*other)[0].detail, "x");
  auto none = j->events("nobody");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(JournalTest, RemoveDropsTheTaskAndItsEvents) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->insert(make_task("gone", 1)));
  ASSERT_TRUE(j->insert(make_task("kept", 2)));
  ASSERT_TRUE(j->append_event("gone", "queued"));
  ASSERT_TRUE(j->append_event("kept", "queued"));
  ASSERT_TRUE(j->remove("gone"));
  auto got = j->get("gone");
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->has_value());
  auto ev = j->events("gone");
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->empty());
  auto kept = j->events("kept");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->size(), 1u);
  auto all = j->list(std::nullopt, "", 0);
  ASSERT_TRUE(all);
  EXPECT_EQ(ids_of(*all), (std::vector<std::string>{"kept"}));
  // Removed again: ENOENT.
  auto again = j->remove("gone");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ENOENT);
}

TEST_F(JournalTest, RemoveInsideATransactionJoinsIt) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->insert(make_task("x", 1)));
  ASSERT_TRUE(j->begin());
  ASSERT_TRUE(j->remove("x"));
  EXPECT_TRUE(j->in_transaction());
  ASSERT_TRUE(j->insert(make_task("y", 2)));
  j.reset();  // never committed: both the removal and the insert are lost
  j = open_journal();
  ASSERT_TRUE(j);
  auto x = j->get("x");
  ASSERT_TRUE(x);
  EXPECT_TRUE(x->has_value());
  auto y = j->get("y");
  ASSERT_TRUE(y);
  EXPECT_FALSE(y->has_value());
}

TEST_F(JournalTest, NextSeqNeverGoesBack) {
  {
    auto j = open_journal();
    ASSERT_TRUE(j);
    auto s = j->next_seq();
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(*s, 1);
    ASSERT_TRUE(j->insert(make_task("t1", 1)));
    ASSERT_TRUE(j->insert(make_task("t2", 2)));
    ASSERT_TRUE(j->insert(make_task("t3", 3)));
    s = j->next_seq();
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, 4);
    ASSERT_TRUE(j->remove("t3"));  // the newest
    s = j->next_seq();
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, 4);
    ASSERT_TRUE(j->remove("t1"));
    ASSERT_TRUE(j->remove("t2"));  // now empty
    s = j->next_seq();
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, 4);
  }
  {
    auto j = open_journal();
    ASSERT_TRUE(j);
    auto s = j->next_seq();
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, 4);
    ASSERT_TRUE(j->insert(make_task("t4", *s)));
  }
  {
    auto j = open_journal();
    ASSERT_TRUE(j);
    auto s = j->next_seq();
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, 5);
  }
}

TEST_F(JournalTest, GroupCommitIsVisibleAfterReopen) {
  {
    auto j = open_journal();
    ASSERT_TRUE(j);
    EXPECT_FALSE(j->in_transaction());
    ASSERT_TRUE(j->commit());  // a no-op outside a transaction
    ASSERT_TRUE(j->begin());
    EXPECT_TRUE(j->in_transaction());
    ASSERT_TRUE(j->begin());  // a no-op inside one
    for (int i = 1; i <= 50; ++i) {
      ASSERT_TRUE(j->insert(make_task("g" + std::to_string(i), i)));
      ASSERT_TRUE(j->append_event("g" + std::to_string(i), "queued"));
    }
    // Visible to the writer before the commit.
    auto mine = j->get("g7");
    ASSERT_TRUE(mine && mine->has_value());
    ASSERT_TRUE(j->commit());
    EXPECT_FALSE(j->in_transaction());
  }
  auto j = open_journal();
  ASSERT_TRUE(j);
  auto all = j->list(std::nullopt, "", 0);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 50u);
  auto ev = j->events("g50");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->size(), 1u);
}

TEST_F(JournalTest, UncommittedTransactionIsLostWhenTheJournalIsDestroyed) {
  {
    auto j = open_journal();
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->insert(make_task("committed", 1)));  // autocommit
    ASSERT_TRUE(j->begin());
    ASSERT_TRUE(j->insert(make_task("pending", 2)));
    Task t = make_task("committed", 1, TaskState::started);
    ASSERT_TRUE(j->update(t));
  }
  auto j = open_journal();
  ASSERT_TRUE(j);
  auto pending = j->get("pending");
  ASSERT_TRUE(pending);
  EXPECT_FALSE(pending->has_value());
  auto committed = j->get("committed");
  ASSERT_TRUE(committed && committed->has_value());
  EXPECT_EQ((*committed)->state, TaskState::queued);
}

TEST_F(JournalTest, UncommittedTransactionIsLostWhenTheProcessDies) {
  {
    auto j = open_journal();
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->begin());
    ASSERT_TRUE(j->insert(make_task("before", 1)));
    ASSERT_TRUE(j->commit());
  }
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A daemon that dies in the middle of an iteration: enough data that SQLite spills
    // pages into the WAL, but no commit record.
    auto j = Journal::open(path_);
    if (!j) _exit(2);
    if (!(*j)->begin()) _exit(3);
    std::string big(64 << 10, 'x');
    for (int i = 0; i < 200; ++i) {
      Task t = make_task("lost" + std::to_string(i), 100 + i);
      t.request_json = big;
      if (!(*j)->insert(t)) _exit(4);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  auto j = open_journal();
  ASSERT_TRUE(j);
  auto all = j->list(std::nullopt, "", 0);
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(ids_of(*all), (std::vector<std::string>{"before"}));
  auto s = j->next_seq();
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 2);
  // And the journal still takes writes.
  ASSERT_TRUE(j->insert(make_task("after", 2)));
}

TEST_F(JournalTest, ErrorsInsideATransactionKeepIt) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->begin());
  ASSERT_TRUE(j->insert(make_task("a", 1)));
  auto dup = j->insert(make_task("a", 2));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, EEXIST);
  EXPECT_TRUE(j->in_transaction());
  ASSERT_TRUE(j->insert(make_task("b", 2)));
  ASSERT_TRUE(j->commit());
  j.reset();
  j = open_journal();
  ASSERT_TRUE(j);
  auto all = j->list(std::nullopt, "", 0);
  ASSERT_TRUE(all);
  EXPECT_EQ(ids_of(*all), (std::vector<std::string>{"b", "a"}));
}

TEST_F(JournalTest, ProbeWritableSucceedsInAndOutOfATransaction) {
  auto j = open_journal();
  ASSERT_TRUE(j);
  auto p = j->probe_writable();
  EXPECT_TRUE(p) << p.error().message();
  ASSERT_TRUE(j->begin());
  p = j->probe_writable();
  EXPECT_TRUE(p) << p.error().message();
  EXPECT_TRUE(j->in_transaction());
  ASSERT_TRUE(j->commit());
  EXPECT_TRUE(j->probe_writable());
}

TEST_F(JournalTest, SyncNormalWorks) {
  {
    auto j = open_journal(Journal::Sync::normal);
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->insert(make_task("n", 1)));
    EXPECT_EQ(j->path(), path_);
  }
  auto j = open_journal(Journal::Sync::full);
  ASSERT_TRUE(j);
  auto got = j->get("n");
  ASSERT_TRUE(got && got->has_value());
}

TEST_F(JournalTest, OpenInAMissingDirectoryFailsNamingThePath) {
  std::string bad = dir_ + "/no/such/dir/journal.db";
  auto j = Journal::open(bad);
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message().find(bad), std::string::npos) << j.error().message();
}

TEST_F(JournalTest, OpenOfAFileThatIsNotADatabaseFails) {
  FILE* f = fopen(path_.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("this is not an SQLite database, not even close; it is long enough to have a header\n", f);
  fclose(f);
  auto j = Journal::open(path_);
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message().find(path_), std::string::npos) << j.error().message();
}

TEST_F(JournalTest, OpenRefusesANewerSchema) {
  { ASSERT_TRUE(open_journal()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 3", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto j = Journal::open(path_);
  ASSERT_FALSE(j);
  std::string message = j.error().message();
  EXPECT_NE(message.find("newer"), std::string::npos) << message;
  EXPECT_NE(message.find(path_), std::string::npos) << message;
}

// A journal written by the version-1 schema (no trust column) opens, keeps its tasks and
// stores trust decisions from then on.
TEST_F(JournalTest, OpenMigratesAVersion1Journal) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const char* v1 =
      "CREATE TABLE tasks (id TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, seq INTEGER NOT "
      "NULL, state TEXT NOT NULL, request TEXT NOT NULL, tier TEXT NOT NULL DEFAULT '', "
      "submitted_at REAL, admitted_at REAL, started_at REAL, exited_at REAL, reaped_at REAL, pid "
      "INTEGER, pid_start_time INTEGER, kill_requested_by TEXT, result TEXT, stuck INTEGER NOT "
      "NULL DEFAULT 0);"
      "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, state "
      "TEXT NOT NULL, at REAL NOT NULL, detail TEXT NOT NULL DEFAULT '');"
      "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value);"
      "INSERT INTO tasks (id, agent, seq, state, request) VALUES ('old', 'a', 1, 'queued', '{}');"
      "PRAGMA user_version = 1;";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto j = open_journal();
  ASSERT_TRUE(j);
  auto old = j->get("old");
  ASSERT_TRUE(old && old->has_value());
  EXPECT_EQ((*old)->trust_json, "");
  Task t = make_task("new", 2);
  t.trust_json = R"({"tier":"strict"})";
  ASSERT_TRUE(j->insert(t));
  auto got = j->get("new");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->trust_json, t.trust_json);
}

TEST_F(JournalTest, ReopenKeepsTheSchemaAndData) {
  {
    auto j = open_journal();
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->insert(make_task("keep", 1)));
  }
  for (int i = 0; i < 2; ++i) {
    auto j = open_journal();
    ASSERT_TRUE(j);
    auto got = j->get("keep");
    ASSERT_TRUE(got && got->has_value());
  }
}

}  // namespace
}  // namespace clawcage::orchestrator
