// The audit trail's hash chain: every kind of tampering is detected, a crash mid-write is
// recovered, and rotation keeps the chain.
#include "orchestrator/audit.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "base/files.h"
#include "support/run_clawcage.h"

namespace clawcage::orchestrator {
namespace {

using nlohmann::json;

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::trunc);
  for (const auto& l : lines) out << l << "\n";
}

std::string problems(const AuditReport& r) {
  std::string s;
  for (const auto& p : r.problems) s += p + "\n";
  return s;
}

class Audit : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("audit");
    path_ = dir_ + "/audit.jsonl";
    auto log = AuditLog::open(path_, 0, 3);
    ASSERT_TRUE(log) << log.error().message();
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE((*log)->append({{"event", "state"},
                                  {"task", "t" + std::to_string(i)},
                                  {"agent", "a"},
                                  {"state", "exited"},
                                  {"result", {{"cause", "exited"}, {"exit_code", i}}}}));
    head_ = (*log)->head();
  }
  void TearDown() override { test::remove_tree(dir_); }
  std::string dir_, path_;
  AuditHead head_;
};

TEST_F(Audit, AnIntactChainVerifies) {
  auto r = verify_audit(path_, &head_);
  EXPECT_TRUE(r.ok) << problems(r);
  EXPECT_EQ(r.events, 10);
  EXPECT_EQ(r.last.seq, 10);
  EXPECT_EQ(head_.seq, 10);
  auto first = json::parse(lines_of(path_)[0]);
  EXPECT_EQ(first["prev"], std::string(64, '0'));
  EXPECT_EQ(first["hash"], audit_hash(first));
}

TEST_F(Audit, AnEditedEventIsDetected) {
  auto lines = lines_of(path_);
  auto j = json::parse(lines[4]);
  j["result"]["exit_code"] = 0;  // hide a failure
  lines[4] = j.dump();
  write_lines(path_, lines);
  auto r = verify_audit(path_, &head_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find("event 5 was edited"), std::string::npos) << problems(r);

  // Re-hashing the edited event does not help: the next one no longer chains to it.
  j["hash"] = audit_hash(j);
  lines[4] = j.dump();
  write_lines(path_, lines);
  r = verify_audit(path_, &head_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find("event 6 does not chain"), std::string::npos) << problems(r);
}

TEST_F(Audit, RemovedAndReorderedEventsAreDetected) {
  auto lines = lines_of(path_);
  auto removed = lines;
  removed.erase(removed.begin() + 3);
  write_lines(path_, removed);
  auto r = verify_audit(path_, &head_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find("event 5 follows event 3"), std::string::npos) << problems(r);

  auto swapped = lines;
  std::swap(swapped[2], swapped[3]);
  write_lines(path_, swapped);
  r = verify_audit(path_, &head_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find("removed or reordered"), std::string::npos) << problems(r);
}

TEST_F(Audit, ATruncatedTailIsDetectedAgainstTheJournalsHead) {
  auto lines = lines_of(path_);
  lines.resize(7);  // whole events cut from the end: the chain alone still holds
  write_lines(path_, lines);
  EXPECT_TRUE(verify_audit(path_, nullptr).ok);
  auto r = verify_audit(path_, &head_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find("ends at event 7, but the journal recorded event 10"),
            std::string::npos)
      << problems(r);
  // A head whose hash is not the log's event is caught too.
  AuditHead other = head_;
  other.seq = 5;
  other.hash = std::string(64, 'f');
  r = verify_audit(path_, &other);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find("is not the one the journal recorded"), std::string::npos);
}

TEST_F(Audit, ACrashMidWriteVerifiesUpToTheLastCompleteEventAndIsRecovered) {
  {
    std::ofstream out(path_, std::ios::app);
    out << R"({"event":"state","seq":11,"task":"t1)";  // no newline: a torn write
  }
  auto r = verify_audit(path_, &head_);
  EXPECT_TRUE(r.ok) << problems(r);
  EXPECT_EQ(r.events, 10);
  EXPECT_NE(r.note.find("incomplete last line"), std::string::npos) << r.note;
  // Reopening (a daemon restart) cuts the torn line and continues the chain.
  auto log = AuditLog::open(path_, 0, 3);
  ASSERT_TRUE(log);
  EXPECT_NE((*log)->recovered().find("incomplete last line"), std::string::npos);
  EXPECT_EQ((*log)->head().seq, 10);
  ASSERT_TRUE((*log)->append({{"event", "daemon_start"}, {"pid", 1}}));
  auto head = (*log)->head();
  r = verify_audit(path_, &head);
  EXPECT_TRUE(r.ok) << problems(r);
  EXPECT_EQ(r.events, 11);
  EXPECT_EQ(r.note, "");
}

TEST_F(Audit, RotationKeepsTheChainAcrossFiles) {
  auto log = AuditLog::open(path_, 600, 3);  // a few events per file
  ASSERT_TRUE(log);
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(
        (*log)->append({{"event", "kill"}, {"task", "t"}, {"signal", 9}, {"by", "operator"}}));
  auto head = (*log)->head();
  EXPECT_TRUE(path_exists(path_ + ".1"));
  EXPECT_TRUE(path_exists(path_ + ".3"));
  EXPECT_FALSE(path_exists(path_ + ".4")) << "keep = 3";
  auto r = verify_audit(path_, &head);
  EXPECT_TRUE(r.ok) << problems(r);
  EXPECT_GT(r.first_seq, 1) << "the oldest files were rotated away";
  EXPECT_EQ(r.last.seq, 50);
  // Tampering inside a rotated file is detected as well.
  auto lines = lines_of(path_ + ".2");
  ASSERT_FALSE(lines.empty());
  auto j = json::parse(lines[0]);
  j["by"] = "deadline";
  lines[0] = j.dump();
  write_lines(path_ + ".2", lines);
  r = verify_audit(path_, &head);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find(".2:1: event"), std::string::npos) << problems(r);
}

}  // namespace
}  // namespace clawcage::orchestrator
