// `clawcage audit verify`: checks the daemon's hash-chained audit trail (orchestrator/audit.h)
// across its rotated files, and against the head the journal recorded (a truncated tail).
#include <iostream>

#include "base/files.h"
#include "cli/commands.h"
#include "orchestrator/audit.h"
#include "orchestrator/config.h"
#include "orchestrator/journal.h"

namespace clawcage::cli {

namespace {

struct AuditFlags {
  std::string log = orchestrator::DaemonConfig().audit_log;
  std::string data_dir = orchestrator::DaemonConfig().data_dir;
  bool no_journal = false;
};

int verify(const AuditFlags& f) {
  std::optional<orchestrator::AuditHead> head;
  if (!f.no_journal) {
    // The journal's head is what the daemon had committed.
    std::string path = f.data_dir + "/journal.db";
    if (!path_exists(path)) {
      std::cerr << "clawcage audit verify: no journal at " << path
                << " (--data-dir names the daemon's; --no-journal skips the tail check)\n";
      return 2;
    }
    auto journal = orchestrator::Journal::open(path);
    if (!journal) {
      std::cerr << "clawcage audit verify: " << journal.error().message()
                << " (--no-journal skips the tail check)\n";
      return 2;
    }
    auto text = (*journal)->get_meta("audit_head");
    if (!text) {
      std::cerr << "clawcage audit verify: " << text.error().message() << "\n";
      return 2;
    }
    if (!text->empty()) {
      orchestrator::AuditHead h;
      size_t space = text->find(' ');
      h.seq = std::atoll(text->c_str());
      h.hash = space == std::string::npos ? "" : text->substr(space + 1);
      head = h;
    }
  }
  auto r = orchestrator::verify_audit(f.log, head ? &*head : nullptr);
  for (const auto& p : r.problems) std::cout << "FAIL " << p << "\n";
  if (!r.note.empty()) std::cout << "note " << r.note << "\n";
  std::cout << (r.ok ? "ok" : "TAMPERED") << ": " << r.events << " events verified";
  if (r.events) std::cout << " (" << r.first_seq << " to " << r.last.seq << ")";
  if (head) std::cout << "; the journal's head is event " << head->seq;
  std::cout << "\n";
  return r.ok ? 0 : 1;
}

}  // namespace

void add_audit_command(CLI::App& app, int& exit_code) {
  CLI::App* a = app.add_subcommand("audit", "the daemon's audit trail");
  a->require_subcommand(1);
  auto f = std::make_shared<AuditFlags>();
  CLI::App* v = a->add_subcommand(
      "verify", "check the hash chain (edited, removed, reordered events; a truncated tail)");
  v->add_option("--log", f->log, "audit log (default /var/log/clawcage/audit.jsonl)");
  v->add_option("--data-dir", f->data_dir,
                "the daemon's data dir, whose journal holds the last committed head");
  v->add_flag("--no-journal", f->no_journal, "skip the check against the journal's head");
  v->callback([f, &exit_code] { exit_code = verify(*f); });
}

}  // namespace clawcage::cli
