// The client side of the daemon's HTTP API (docs/api.md): HTTP/1.1 over the daemon's unix
// socket, through libcurl. One curl handle per call; no timeouts (waits and log follows are
// long polls), no signals.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "base/result.h"

namespace clawcage::api {

// $CLAWCAGE_SOCKET, else /run/clawcage/api.sock.
std::string default_socket();

struct Response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case; the last of a repeat wins
};

// "no such task: t1" from a 4xx/5xx answer, as an Error: "HTTP 404: no such task: t1". The
// message is the body's "error" member, else the body itself; a 429 adds its Retry-After.
Error api_error(const Response& response);
// The HTTP status an api_error carries, 0 for any other Error.
long api_status(const Error& error);

// Percent-encodes everything but [A-Za-z0-9_.~-]: for a query value or a path segment.
std::string url_escape(std::string_view text);

class Client {
 public:
  explicit Client(std::string socket_path = default_socket());

  const std::string& socket_path() const { return socket_; }

  // METHOD /v1/... (path includes the query). A body is sent as application/json. Any
  // status is a Response; only a failed exchange (no daemon, dropped connection) is an Error.
  Result<Response> request(const std::string& method, const std::string& path,
                           const std::string& body = "");

  // GET path, handing the body to on_data piece by piece as it arrives (a chunked log
  // follow). Stops early, without error, when on_data returns false. Returns the status of
  // a 2xx answer; any other answer becomes api_error(...) and its body never reaches
  // on_data. `headers`, when given, receives the answer's headers (lower-case names).
  Result<long> stream(const std::string& path, const std::function<bool(std::string_view)>& on_data,
                      std::map<std::string, std::string>* headers = nullptr);

  // POST /v1/tasks/{id}/attach, upgraded to a raw stream: bytes read from `in` (when
  // send_stdin) go to the task's stdin, and EOF on `in` closes it; the task's stdout and
  // stderr frames are written to `out` and `err`. Returns when the daemon ends the stream
  // (the task ended and its output was sent).
  Result<void> attach(const std::string& id, bool send_stdin, int in, int out, int err);

 private:
  std::string socket_;
};

}  // namespace clawcage::api
