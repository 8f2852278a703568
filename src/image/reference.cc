#include "image/reference.h"

#include <cctype>

namespace clawcage::image {

namespace {

bool valid_path_component(const std::string& c) {
  if (c.empty()) return false;
  for (char ch : c)
    if (!(islower(static_cast<unsigned char>(ch)) || isdigit(static_cast<unsigned char>(ch)) ||
          ch == '.' || ch == '_' || ch == '-'))
      return false;
  return isalnum(static_cast<unsigned char>(c.front())) &&
         isalnum(static_cast<unsigned char>(c.back()));
}

bool valid_domain(const std::string& d) {
  if (d.empty()) return false;
  for (char ch : d)
    if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == ':'))
      return false;
  return true;
}

bool valid_tag(const std::string& t) {
  if (t.empty() || t.size() > 128 || t[0] == '.' || t[0] == '-') return false;
  for (char ch : t)
    if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-'))
      return false;
  return true;
}

bool valid_digest(const std::string& d) {
  if (d.rfind("sha256:", 0) != 0 || d.size() != 7 + 64) return false;
  for (size_t i = 7; i < d.size(); ++i)
    if (!isxdigit(static_cast<unsigned char>(d[i])) || isupper(static_cast<unsigned char>(d[i])))
      return false;
  return true;
}

Result<DockerReference> parse(const std::string& text, const std::string& field, bool repo_only,
                              bool default_tag) {
  auto bad = [&](const std::string& why) {
    return invalid_field(field, why + " in \"" + text + "\"");
  };
  if (text.empty()) return invalid_field(field, "empty image reference");
  DockerReference r;
  std::string rest = text;
  size_t at = rest.find('@');
  if (at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!valid_digest(r.digest)) return bad("bad digest (expected sha256:<64 lowercase hex>)");
  }
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!valid_tag(r.tag)) return bad("bad tag \"" + r.tag + "\"");
  }
  if (repo_only && (!r.tag.empty() || !r.digest.empty()))
    return bad("a repository takes no tag or digest");
  size_t first = rest.find('/');
  std::string head = rest.substr(0, first);
  if (first != std::string::npos &&
      (head.find('.') != std::string::npos || head.find(':') != std::string::npos ||
       head == "localhost" || head != [&] {
         std::string l = head;
         for (auto& c : l) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
         return l;
       }())) {
    r.domain = head;
    r.path = rest.substr(first + 1);
    if (!valid_domain(r.domain)) return bad("bad registry host \"" + r.domain + "\"");
  } else {
    r.domain = "docker.io";
    r.path = rest;
  }
  if (r.domain == "index.docker.io") r.domain = "docker.io";
  if (r.domain == "docker.io" && r.path.find('/') == std::string::npos)
    r.path = "library/" + r.path;
  size_t start = 0;
  while (true) {
    size_t end = r.path.find('/', start);
    std::string c =
        r.path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!valid_path_component(c))
      return bad("bad repository name component \"" + c + "\" (lowercase letters, digits, . _ -)");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (r.path.size() + r.domain.size() > 255) return bad("repository name over 255 characters");
  if (default_tag && !repo_only && r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

}  // namespace

std::string DockerReference::str() const {
  std::string s = repository();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<DockerReference> parse_docker_reference(const std::string& text, const std::string& field,
                                               bool default_tag) {
  return parse(text, field, false, default_tag);
}

Result<DockerReference> parse_docker_repository(const std::string& text, const std::string& field) {
  return parse(text, field, true, false);
}

std::vector<std::string> docker_policy_scopes(const DockerReference& ref) {
  std::vector<std::string> out;
  out.push_back(ref.str());
  std::string repo = ref.repository();
  while (true) {
    out.push_back(repo);
    size_t slash = repo.rfind('/');
    if (slash == std::string::npos) break;
    repo = repo.substr(0, slash);
  }
  // Wildcard hosts: "*.b.example.com", "*.example.com", "*.com" for "a.b.example.com".
  std::string host = ref.domain.substr(0, ref.domain.find(':'));
  for (size_t dot = host.find('.'); dot != std::string::npos; dot = host.find('.', dot + 1))
    out.push_back("*" + host.substr(dot));
  return out;
}

std::vector<std::string> dir_policy_scopes(const std::string& path) {
  std::vector<std::string> out;
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  while (!p.empty() && p != "/") {
    out.push_back(p);
    size_t slash = p.rfind('/');
    if (slash == std::string::npos || slash == 0) break;
    p = p.substr(0, slash);
  }
  return out;
}

}  // namespace clawcage::image
