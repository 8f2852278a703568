#include "api/client.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/unique_fd.h"

namespace clawcage::api {

namespace {

constexpr const char* kHint = "is `clawcage daemon` running?";

CURLcode global_init() {
  // Once per process, before the first handle; thread-safe as a function-local static.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  return rc;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// One exchange: the answer as it arrives, and where a streamed body goes.
struct Transfer {
  Response response;
  const std::function<bool(std::string_view)>* on_data = nullptr;  // null: collect the body
  bool stopped = false;                                            // on_data asked to stop
};

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    // A status line starts a new answer (after a 1xx, the final one): forget the last.
    t->response.headers.clear();
    size_t sp = line.find(' ');
    t->response.status = sp == std::string_view::npos ? 0 : std::atol(line.data() + sp + 1);
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;  // the blank line, or junk
  std::string name = trim(line.substr(0, colon));
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  t->response.headers[name] = trim(line.substr(colon + 1));
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  long status = t->response.status;
  if (t->on_data && status >= 200 && status < 300) {
    if (!(*t->on_data)(std::string_view(data, n))) {
      t->stopped = true;
      return 0;  // != n: curl ends the transfer with CURLE_WRITE_ERROR
    }
    return n;
  }
  t->response.body.append(data, n);  // also an error body of a stream, for api_error
  return n;
}

// The exchange itself; `transfer` holds the answer afterwards.
Result<void> perform(const std::string& socket, const std::string& method, const std::string& path,
                     const std::string& body, Transfer& transfer) {
  if (path.empty() || path[0] != '/') return invalid_field("path", "must start with /: " + path);
  if (CURLcode rc = global_init(); rc != CURLE_OK)
    return make_error("curl_global_init", "", curl_easy_strerror(rc));
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return make_error("curl_easy_init", "", "failed");
  CURL* c = curl.get();

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&](const char* h) {
    curl_slist* l = curl_slist_append(headers.get(), h);
    if (l) {
      (void)headers.release();
      headers.reset(l);
    }
    return l != nullptr;
  };
  // No 100-continue round trip; a JSON body says so, an empty one sends no type at all.
  if (!add_header("Expect:") ||
      !add_header(body.empty() ? "Content-Type:" : "Content-Type: application/json"))
    return make_error("curl_slist_append", "", "out of memory");

  std::string url = "http://localhost" + path;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // never an http_proxy from the environment
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "clawcage");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    }
    if (method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && transfer.stopped)) return ok();
  std::string what = errbuf[0] ? trim(errbuf) : curl_easy_strerror(rc);
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    const char* op = "cannot reach the clawcage daemon at";
    if (os_errno == 0) return make_error(op, socket, what + " (" + kHint + ")");
    Error e = system_error(static_cast<int>(os_errno), op, socket);
    e.detail = os_errno == EACCES || os_errno == EPERM
                   ? "the socket is mode 0660: run as root or as a member of its group"
                   : kHint;
    return e;
  }
  Error e = make_error(method, path, what);
  e.add_context("talking to the clawcage daemon at " + socket);
  return e;
}

}  // namespace

std::string default_socket() {
  const char* env = std::getenv("CLAWCAGE_SOCKET");
  return env && *env ? env : "/run/clawcage/api.sock";
}

Error api_error(const Response& response) {
  std::string message;
  auto j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    message = j["error"].get<std::string>();
  } else {
    message = trim(response.body);
    if (message.size() > 200) message = message.substr(0, 200) + "...";
    if (message.empty()) message = "the daemon gave no reason";
  }
  if (response.status == 429) {
    auto it = response.headers.find("retry-after");
    if (it != response.headers.end()) message += " (retry after " + it->second + "s)";
  }
  return make_error("HTTP", std::to_string(response.status), message);
}

long api_status(const Error& error) {
  if (error.code != 0 || error.operation != "HTTP") return 0;
  return std::atol(error.subject.c_str());
}

std::string url_escape(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    auto u = static_cast<unsigned char>(ch);
    bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_' || ch == '.' || ch == '~';
    if (plain) {
      out += ch;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

Client::Client(std::string socket_path) : socket_(std::move(socket_path)) {}

Result<Response> Client::request(const std::string& method, const std::string& path,
                                 const std::string& body) {
  Transfer t;
  TRY(perform(socket_, method, path, body, t));
  return std::move(t.response);
}

Result<long> Client::stream(const std::string& path,
                            const std::function<bool(std::string_view)>& on_data,
                            std::map<std::string, std::string>* headers) {
  Transfer t;
  t.on_data = &on_data;
  TRY(perform(socket_, "GET", path, "", t));
  if (headers) *headers = t.response.headers;
  if (t.response.status < 200 || t.response.status >= 300) return api_error(t.response);
  return t.response.status;
}

namespace {

Result<void> write_all(int fd, const char* data, size_t size, const std::string& what) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return system_error("write", what);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return ok();
}

}  // namespace

Result<void> Client::attach(const std::string& id, bool send_stdin, int in, int out, int err) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof addr.sun_path) return invalid_field("--socket", "path too long");
  memcpy(addr.sun_path, socket_.c_str(), socket_.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return system_error("socket", socket_);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Error e = system_error("connect", socket_);
    e.detail = "cannot reach the clawcage daemon (is `clawcage daemon` running?)";
    return e;
  }
  std::string request = "POST /v1/tasks/" + url_escape(id) +
                        "/attach?stdin=" + (send_stdin ? "1" : "0") +
                        " HTTP/1.1\r\nHost: clawcage\r\nConnection: Upgrade\r\nUpgrade: "
                        "tcp\r\nContent-Length: 0\r\n\r\n";
  TRY(write_all(fd.get(), request.data(), request.size(), socket_));
  // The answer's head, then the framed stream.
  std::string buf;
  size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    char tmp[4096];
    ssize_t n = ::read(fd.get(), tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error("attach", id, "the daemon closed the connection");
    buf.append(tmp, static_cast<size_t>(n));
    head_end = buf.find("\r\n\r\n");
    if (buf.size() > 65536) return make_error("attach", id, "answer head too large");
  }
  std::string head = buf.substr(0, head_end);
  buf.erase(0, head_end + 4);
  long status = 0;
  if (head.size() > 12) status = std::strtol(head.c_str() + 9, nullptr, 10);
  if (status != 101) {
    Response r;
    r.status = status;
    r.body = buf;
    return api_error(r).add_context("attaching to task " + id);
  }
  bool in_open = send_stdin;
  for (;;) {
    // Complete frames in buf go out first.
    while (buf.size() >= 8) {
      uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>(buf[4])) << 24) |
                     (static_cast<uint32_t>(static_cast<unsigned char>(buf[5])) << 16) |
                     (static_cast<uint32_t>(static_cast<unsigned char>(buf[6])) << 8) |
                     static_cast<uint32_t>(static_cast<unsigned char>(buf[7]));
      if (buf.size() < 8 + static_cast<size_t>(len)) break;
      int target = buf[0] == 2 ? err : out;
      TRY(write_all(target, buf.data() + 8, len, buf[0] == 2 ? "stderr" : "stdout"));
      buf.erase(0, 8 + static_cast<size_t>(len));
    }
    pollfd fds[2] = {{fd.get(), POLLIN, 0}, {in, POLLIN, 0}};
    int n = poll(fds, in_open ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return system_error("poll", "attach " + id);
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char tmp[65536];
      ssize_t r = ::read(fd.get(), tmp, sizeof tmp);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return ok();  // the task ended and its output was sent
      buf.append(tmp, static_cast<size_t>(r));
    }
    if (in_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char tmp[65536];
      ssize_t r = ::read(in, tmp, sizeof tmp);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        in_open = false;
        shutdown(fd.get(), SHUT_WR);  // EOF to the task's stdin
      } else {
        TRY(write_all(fd.get(), tmp, static_cast<size_t>(r), "attach " + id));
      }
    }
  }
}

}  // namespace clawcage::api
