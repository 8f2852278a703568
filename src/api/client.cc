#include "api/client.h"

#include <curl/curl.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

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

}  // namespace clawcage::api
