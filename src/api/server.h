// The daemon: the HTTP+JSON API (docs/api.md) on a unix socket, served by libmicrohttpd in
// external-epoll mode inside the orchestrator's single-threaded event loop. Long requests
// (wait, logs -f) suspend their connection and are resumed by task events; answers to
// requests that change state are sent only after the journal commit that makes them true.
#pragma once

#include "base/result.h"
#include "orchestrator/config.h"

namespace clawcage::api {

// Runs until SIGTERM or SIGINT; running tasks are left to the next start, which re-adopts
// them. Returns the process exit code.
Result<int> run_daemon(orchestrator::DaemonConfig config);

}  // namespace clawcage::api
