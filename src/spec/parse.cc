#include "spec/parse.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "base/files.h"

namespace clawcage::spec {

extern const char kDefaultSeccompProfile[];

namespace {

using nlohmann::json;

// A cursor over one JSON value that knows its own path, so every error names its field.
class Field {
 public:
  Field(const json& value, std::string path) : value_(value), path_(std::move(path)) {}

  const json& value() const { return value_; }
  const std::string& path() const { return path_; }
  bool has(const char* key) const { return value_.is_object() && value_.contains(key); }
  Field at(const char* key) const {
    std::string sub = path_.empty() ? std::string(key) : path_ + "." + key;
    return Field(value_.at(key), std::move(sub));
  }
  Field at(size_t i) const { return Field(value_.at(i), path_ + "[" + std::to_string(i) + "]"); }

  Error fail(const std::string& why) const {
    return invalid_field(path_.empty() ? "config" : path_, why);
  }

  Result<void> expect_object() const {
    if (!value_.is_object()) return fail("expected object");
    return ok();
  }
  Result<size_t> array_size() const {
    if (!value_.is_array()) return fail("expected array");
    return value_.size();
  }
  Result<std::string> string() const {
    if (!value_.is_string()) return fail("expected string");
    return value_.get<std::string>();
  }
  Result<bool> boolean() const {
    if (!value_.is_boolean()) return fail("expected boolean");
    return value_.get<bool>();
  }
  Result<int64_t> integer(int64_t min, int64_t max) const {
    int64_t v;
    if (value_.is_number_unsigned()) {
      uint64_t u = value_.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return fail("out of range");
      v = static_cast<int64_t>(u);
    } else if (value_.is_number_integer()) {
      v = value_.get<int64_t>();
    } else {
      return fail("expected integer");
    }
    if (v < min || v > max)
      return fail("out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
    return v;
  }
  Result<uint64_t> unsigned_integer() const {
    if (value_.is_number_unsigned()) return value_.get<uint64_t>();
    if (value_.is_number_integer()) {
      if (value_.get<int64_t>() < 0) return fail("expected non-negative integer");
      return static_cast<uint64_t>(value_.get<int64_t>());
    }
    return fail("expected integer");
  }
  Result<std::vector<std::string>> strings() const {
    TRY_ASSIGN(size_t n, array_size());
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) {
      TRY_ASSIGN(std::string s, at(i).string());
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  const json& value_;
  std::string path_;
};

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();

Result<uint32_t> u32(const Field& f) {
  TRY_ASSIGN(int64_t v, f.integer(0, kU32Max));
  return static_cast<uint32_t>(v);
}

// Parses an optional member with fn into out.
template <class T, class Fn>
Result<void> optional_member(const Field& obj, const char* key, T& out, Fn fn) {
  if (!obj.has(key) || obj.value().at(key).is_null()) return ok();
  TRY_ASSIGN(out, fn(obj.at(key)));
  return ok();
}

Result<User> parse_user(const Field& f) {
  TRY(f.expect_object());
  User u;
  TRY(optional_member(f, "uid", u.uid, u32));
  TRY(optional_member(f, "gid", u.gid, u32));
  if (f.has("umask")) {
    TRY_ASSIGN(uint32_t m, u32(f.at("umask")));
    if (m > 0777) return f.at("umask").fail("expected a mode between 0 and 0777");
    u.umask = m;
  }
  if (f.has("additionalGids")) {
    Field g = f.at("additionalGids");
    TRY_ASSIGN(size_t n, g.array_size());
    for (size_t i = 0; i < n; ++i) {
      TRY_ASSIGN(uint32_t gid, u32(g.at(i)));
      u.additional_gids.push_back(gid);
    }
  }
  if (f.has("username")) return f.at("username").fail("not supported: give uid and gid");
  return u;
}

Result<std::vector<std::string>> cap_list(const Field& f) {
  TRY_ASSIGN(auto caps, f.strings());
  for (size_t i = 0; i < caps.size(); ++i)
    if (caps[i].rfind("CAP_", 0) != 0)
      return f.at(i).fail("expected a capability name like CAP_CHOWN, got \"" + caps[i] + "\"");
  return caps;
}

Result<Process> parse_process(const Field& f) {
  TRY(f.expect_object());
  Process p;
  TRY(optional_member(f, "terminal", p.terminal, [](const Field& x) { return x.boolean(); }));
  if (f.has("user")) {
    TRY_ASSIGN(p.user, parse_user(f.at("user")));
  }
  if (!f.has("args")) return f.fail("args: required");
  TRY_ASSIGN(p.args, f.at("args").strings());
  if (p.args.empty()) return f.at("args").fail("must not be empty");
  TRY(optional_member(f, "env", p.env, [](const Field& x) { return x.strings(); }));
  for (size_t i = 0; i < p.env.size(); ++i)
    if (p.env[i].find('=') == std::string::npos || p.env[i].front() == '=')
      return f.at("env").at(i).fail("expected NAME=VALUE");
  if (!f.has("cwd")) return f.fail("cwd: required");
  TRY_ASSIGN(p.cwd, f.at("cwd").string());
  if (p.cwd.empty() || p.cwd.front() != '/') return f.at("cwd").fail("expected an absolute path");
  if (f.has("capabilities")) {
    Field c = f.at("capabilities");
    TRY(c.expect_object());
    TRY(optional_member(c, "bounding", p.capabilities.bounding, cap_list));
    TRY(optional_member(c, "effective", p.capabilities.effective, cap_list));
    TRY(optional_member(c, "inheritable", p.capabilities.inheritable, cap_list));
    TRY(optional_member(c, "permitted", p.capabilities.permitted, cap_list));
    TRY(optional_member(c, "ambient", p.capabilities.ambient, cap_list));
  }
  if (f.has("rlimits")) {
    Field r = f.at("rlimits");
    TRY_ASSIGN(size_t n, r.array_size());
    for (size_t i = 0; i < n; ++i) {
      Field e = r.at(i);
      TRY(e.expect_object());
      Rlimit rl;
      if (!e.has("type")) return e.fail("type: required");
      TRY_ASSIGN(rl.type, e.at("type").string());
      if (!e.has("soft") || !e.has("hard")) return e.fail("soft and hard: required");
      TRY_ASSIGN(rl.soft, e.at("soft").unsigned_integer());
      TRY_ASSIGN(rl.hard, e.at("hard").unsigned_integer());
      if (rl.soft > rl.hard) return e.at("soft").fail("greater than hard");
      p.rlimits.push_back(rl);
    }
  }
  TRY(optional_member(f, "noNewPrivileges", p.no_new_privileges,
                      [](const Field& x) { return x.boolean(); }));
  if (f.has("oomScoreAdj")) {
    TRY_ASSIGN(int64_t v, f.at("oomScoreAdj").integer(-1000, 1000));
    p.oom_score_adj = static_cast<int>(v);
  }
  for (const char* label : {"apparmorProfile", "selinuxLabel"}) {
    if (!f.has(label)) continue;
    TRY_ASSIGN(std::string value, f.at(label).string());
    if (!value.empty())
      return f.at(label).fail("not supported: neither AppArmor nor SELinux is active on this host");
  }
  return p;
}

Result<std::vector<IdMapping>> parse_id_mappings(const Field& f) {
  TRY_ASSIGN(size_t n, f.array_size());
  std::vector<IdMapping> out;
  for (size_t i = 0; i < n; ++i) {
    Field m = f.at(i);
    TRY(m.expect_object());
    IdMapping map;
    if (!m.has("containerID") || !m.has("hostID") || !m.has("size"))
      return m.fail("containerID, hostID and size: required");
    TRY_ASSIGN(map.container_id, u32(m.at("containerID")));
    TRY_ASSIGN(map.host_id, u32(m.at("hostID")));
    TRY_ASSIGN(map.size, u32(m.at("size")));
    if (map.size == 0) return m.at("size").fail("must be positive");
    out.push_back(map);
  }
  return out;
}

// -1 means unlimited; other negatives are errors.
Result<int64_t> limit_value(const Field& f) {
  TRY_ASSIGN(int64_t v, f.integer(-1, kI64Max));
  return v;
}

Result<Resources> parse_resources(const Field& f) {
  TRY(f.expect_object());
  Resources r;
  for (const char* unsupported : {"blockIO", "hugepageLimits", "network", "rdma", "unified"}) {
    if (f.has(unsupported) && !f.value().at(unsupported).empty())
      return f.at(unsupported).fail("not supported by clawcage yet");
  }
  if (f.has("memory")) {
    Field m = f.at("memory");
    TRY(m.expect_object());
    MemoryResources mem;
    TRY(optional_member(m, "limit", mem.limit, limit_value));
    TRY(optional_member(m, "reservation", mem.reservation, limit_value));
    TRY(optional_member(m, "swap", mem.swap, limit_value));
    TRY(optional_member(m, "disableOOMKiller", mem.disable_oom_killer,
                        [](const Field& x) { return x.boolean(); }));
    if (m.has("kernel") || m.has("kernelTCP"))
      return m.fail("kernel memory limits are not supported (no kmem accounting on kernel 6.x)");
    if (mem.limit && *mem.limit == 0) return m.at("limit").fail("must be positive or -1");
    r.memory = mem;
  }
  if (f.has("cpu")) {
    Field c = f.at("cpu");
    TRY(c.expect_object());
    CpuResources cpu;
    if (c.has("shares")) {
      TRY_ASSIGN(int64_t s, c.at("shares").integer(2, 262144));
      cpu.shares = static_cast<uint64_t>(s);
    }
    TRY(optional_member(c, "quota", cpu.quota, limit_value));
    if (c.has("period")) {
      TRY_ASSIGN(int64_t p, c.at("period").integer(1000, 1000000));
      cpu.period = static_cast<uint64_t>(p);
    }
    if (cpu.quota && *cpu.quota != -1 && *cpu.quota < 1000)
      return c.at("quota").fail("must be -1 or at least 1000 microseconds");
    TRY(optional_member(c, "cpus", cpu.cpus, [](const Field& x) { return x.string(); }));
    TRY(optional_member(c, "mems", cpu.mems, [](const Field& x) { return x.string(); }));
    if (c.has("realtimeRuntime") || c.has("realtimePeriod"))
      return c.fail("realtime scheduling limits are not supported");
    r.cpu = cpu;
  }
  if (f.has("pids")) {
    Field p = f.at("pids");
    TRY(p.expect_object());
    PidsResources pids;
    if (!p.has("limit")) return p.fail("limit: required");
    TRY_ASSIGN(pids.limit, limit_value(p.at("limit")));
    r.pids = pids;
  }
  if (f.has("devices")) {
    // The device cgroup is not used: the sandbox's /dev is a fixed minimal set of binds.
    TRY_ASSIGN(size_t n, f.at("devices").array_size());
    (void)n;
  }
  return r;
}

Result<Seccomp> parse_seccomp_field(const Field& f) {
  TRY(f.expect_object());
  Seccomp s;
  if (!f.has("defaultAction")) return f.fail("defaultAction: required");
  TRY_ASSIGN(s.default_action, f.at("defaultAction").string());
  if (f.has("defaultErrnoRet")) {
    TRY_ASSIGN(uint32_t e, u32(f.at("defaultErrnoRet")));
    s.default_errno_ret = e;
  }
  TRY(optional_member(f, "architectures", s.architectures,
                      [](const Field& x) { return x.strings(); }));
  TRY(optional_member(f, "flags", s.flags, [](const Field& x) { return x.strings(); }));
  if (f.has("listenerPath")) {
    TRY_ASSIGN(std::string listener, f.at("listenerPath").string());
    if (!listener.empty())
      return f.at("listenerPath").fail("not supported: seccomp notify listeners");
  }
  if (f.has("syscalls")) {
    Field list = f.at("syscalls");
    TRY_ASSIGN(size_t n, list.array_size());
    for (size_t i = 0; i < n; ++i) {
      Field e = list.at(i);
      TRY(e.expect_object());
      SeccompSyscall sc;
      if (e.has("names")) {
        TRY_ASSIGN(sc.names, e.at("names").strings());
      } else if (e.has("name")) {  // Docker's older single-name form
        TRY_ASSIGN(std::string name, e.at("name").string());
        sc.names.push_back(name);
      } else {
        return e.fail("names: required");
      }
      if (!e.has("action")) return e.fail("action: required");
      TRY_ASSIGN(sc.action, e.at("action").string());
      if (e.has("errnoRet")) {
        TRY_ASSIGN(uint32_t er, u32(e.at("errnoRet")));
        sc.errno_ret = er;
      }
      if (e.has("args") && !e.value().at("args").is_null()) {
        Field args = e.at("args");
        TRY_ASSIGN(size_t na, args.array_size());
        for (size_t j = 0; j < na; ++j) {
          Field a = args.at(j);
          TRY(a.expect_object());
          SeccompArg arg;
          if (!a.has("index") || !a.has("value") || !a.has("op"))
            return a.fail("index, value and op: required");
          TRY_ASSIGN(int64_t idx, a.at("index").integer(0, 5));
          arg.index = static_cast<unsigned>(idx);
          TRY_ASSIGN(arg.value, a.at("value").unsigned_integer());
          if (a.has("valueTwo")) {
            TRY_ASSIGN(arg.value_two, a.at("valueTwo").unsigned_integer());
          }
          TRY_ASSIGN(arg.op, a.at("op").string());
          sc.args.push_back(arg);
        }
      }
      // Docker profiles gate rules on capabilities and kernels; clawcage's profiles do not,
      // and silently applying such a rule unconditionally would be wrong.
      if (e.has("includes") || e.has("excludes")) {
        auto nonempty = [&](const char* k) {
          return e.has(k) && e.value().at(k).is_object() && !e.value().at(k).empty();
        };
        if (nonempty("includes") || nonempty("excludes"))
          return e.fail("includes/excludes conditions are not supported");
      }
      s.syscalls.push_back(std::move(sc));
    }
  }
  return s;
}

Result<Mount> parse_mount(const Field& f) {
  TRY(f.expect_object());
  Mount m;
  if (!f.has("destination")) return f.fail("destination: required");
  TRY_ASSIGN(m.destination, f.at("destination").string());
  if (m.destination.empty() || m.destination.front() != '/')
    return f.at("destination").fail("expected an absolute path");
  TRY(optional_member(f, "type", m.type, [](const Field& x) { return x.string(); }));
  TRY(optional_member(f, "source", m.source, [](const Field& x) { return x.string(); }));
  TRY(optional_member(f, "options", m.options, [](const Field& x) { return x.strings(); }));
  if (m.type.empty()) {
    for (const auto& o : m.options)
      if (o == "bind" || o == "rbind") m.type = "bind";
    if (m.type.empty()) return f.at("type").fail("required unless options say bind");
  }
  return m;
}

Result<Linux> parse_linux(const Field& f) {
  TRY(f.expect_object());
  Linux l;
  if (f.has("namespaces")) {
    Field list = f.at("namespaces");
    TRY_ASSIGN(size_t n, list.array_size());
    for (size_t i = 0; i < n; ++i) {
      Field e = list.at(i);
      TRY(e.expect_object());
      Namespace ns;
      if (!e.has("type")) return e.fail("type: required");
      TRY_ASSIGN(ns.type, e.at("type").string());
      static const char* known[] = {"pid", "network", "mount",  "ipc",
                                    "uts", "user",    "cgroup", "time"};
      bool found = false;
      for (const char* k : known) found = found || ns.type == k;
      if (!found) return e.at("type").fail("unknown namespace type \"" + ns.type + "\"");
      for (const auto& prev : l.namespaces)
        if (prev.type == ns.type) return e.at("type").fail("duplicate namespace " + ns.type);
      TRY(optional_member(e, "path", ns.path, [](const Field& x) { return x.string(); }));
      l.namespaces.push_back(ns);
    }
  }
  if (f.has("uidMappings")) {
    TRY_ASSIGN(l.uid_mappings, parse_id_mappings(f.at("uidMappings")));
  }
  if (f.has("gidMappings")) {
    TRY_ASSIGN(l.gid_mappings, parse_id_mappings(f.at("gidMappings")));
  }
  if (f.has("resources")) {
    TRY_ASSIGN(l.resources, parse_resources(f.at("resources")));
  }
  TRY(optional_member(f, "cgroupsPath", l.cgroups_path, [](const Field& x) { return x.string(); }));
  if (f.has("seccomp") && !f.value().at("seccomp").is_null()) {
    TRY_ASSIGN(l.seccomp, parse_seccomp_field(f.at("seccomp")));
  }
  TRY(optional_member(f, "maskedPaths", l.masked_paths,
                      [](const Field& x) { return x.strings(); }));
  TRY(optional_member(f, "readonlyPaths", l.readonly_paths,
                      [](const Field& x) { return x.strings(); }));
  TRY(optional_member(f, "rootfsPropagation", l.rootfs_propagation,
                      [](const Field& x) { return x.string(); }));
  if (f.has("sysctl")) {
    Field s = f.at("sysctl");
    TRY(s.expect_object());
    for (auto it = s.value().begin(); it != s.value().end(); ++it) {
      if (!it.value().is_string()) return s.fail(it.key() + ": expected string");
      l.sysctl[it.key()] = it.value().get<std::string>();
    }
  }
  for (const char* unsupported : {"intelRdt", "personality", "timeOffsets"}) {
    if (f.has(unsupported)) return f.at(unsupported).fail("not supported by clawcage yet");
  }
  return l;
}

Result<Hook> parse_hook(const Field& f) {
  TRY(f.expect_object());
  Hook h;
  if (!f.has("path")) return f.fail("path: required");
  TRY_ASSIGN(h.path, f.at("path").string());
  if (h.path.empty() || h.path.front() != '/')
    return f.at("path").fail("must be an absolute path, got \"" + h.path + "\"");
  TRY(optional_member(f, "args", h.args, [](const Field& x) { return x.strings(); }));
  TRY(optional_member(f, "env", h.env, [](const Field& x) { return x.strings(); }));
  if (f.has("timeout") && !f.value().at("timeout").is_null()) {
    // The spec: "timeout ... MUST be greater than zero".
    TRY_ASSIGN(int64_t t, f.at("timeout").integer(1, 24 * 3600));
    h.timeout = static_cast<int>(t);
  }
  return h;
}

Result<Hooks> parse_hooks(const Field& f) {
  TRY(f.expect_object());
  Hooks hooks;
  const std::pair<const char*, std::vector<Hook>*> kinds[] = {
      {"prestart", &hooks.prestart},
      {"createRuntime", &hooks.create_runtime},
      {"createContainer", &hooks.create_container},
      {"startContainer", &hooks.start_container},
      {"poststart", &hooks.poststart},
      {"poststop", &hooks.poststop}};
  for (auto it = f.value().begin(); it != f.value().end(); ++it) {
    bool known = false;
    for (const auto& [name, list] : kinds) known = known || it.key() == name;
    // An unknown kind would be a hook silently never run.
    if (!known) return f.fail(it.key() + ": unknown hook kind");
  }
  for (const auto& [name, list] : kinds) {
    if (!f.has(name) || f.value().at(name).is_null()) continue;
    Field l = f.at(name);
    TRY_ASSIGN(size_t n, l.array_size());
    for (size_t i = 0; i < n; ++i) {
      TRY_ASSIGN(Hook h, parse_hook(l.at(i)));
      list->push_back(std::move(h));
    }
  }
  return hooks;
}

Result<Spec> parse_document(const json& doc) {
  Field f(doc, "");
  TRY(f.expect_object());
  Spec s;
  if (!f.has("ociVersion")) return invalid_field("ociVersion", "required");
  TRY_ASSIGN(s.oci_version, f.at("ociVersion").string());
  if (s.oci_version.rfind("1.", 0) != 0)
    return f.at("ociVersion").fail("unsupported version \"" + s.oci_version + "\" (need 1.x)");
  if (!f.has("process")) return invalid_field("process", "required");
  TRY_ASSIGN(s.process, parse_process(f.at("process")));
  if (!f.has("root")) return invalid_field("root", "required");
  {
    Field r = f.at("root");
    TRY(r.expect_object());
    if (!r.has("path")) return r.fail("path: required");
    TRY_ASSIGN(s.root.path, r.at("path").string());
    if (s.root.path.empty()) return r.at("path").fail("must not be empty");
    TRY(optional_member(r, "readonly", s.root.readonly,
                        [](const Field& x) { return x.boolean(); }));
  }
  TRY(optional_member(f, "hostname", s.hostname, [](const Field& x) { return x.string(); }));
  if (f.has("mounts")) {
    Field list = f.at("mounts");
    TRY_ASSIGN(size_t n, list.array_size());
    for (size_t i = 0; i < n; ++i) {
      TRY_ASSIGN(Mount m, parse_mount(list.at(i)));
      s.mounts.push_back(std::move(m));
    }
  }
  if (f.has("linux")) {
    TRY_ASSIGN(s.linux, parse_linux(f.at("linux")));
  }
  if (f.has("hooks") && !doc.at("hooks").is_null()) {
    TRY_ASSIGN(s.hooks, parse_hooks(f.at("hooks")));
  }
  if (f.has("annotations")) {
    Field a = f.at("annotations");
    TRY(a.expect_object());
    for (auto it = doc.at("annotations").begin(); it != doc.at("annotations").end(); ++it) {
      if (!it.value().is_string()) return a.fail(it.key() + ": expected string");
      s.annotations[it.key()] = it.value().get<std::string>();
    }
  }
  return s;
}

Result<json> parse_json(const std::string& text, const std::string& what) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/false);
  if (doc.is_discarded()) {
    // Parse again with exceptions to get the position for the message.
    try {
      json unused = json::parse(text);
      (void)unused;
    } catch (const json::parse_error& e) {
      return make_error("parse", what, std::string("malformed JSON: ") + e.what());
    }
    return make_error("parse", what, "malformed JSON");
  }
  return doc;
}

}  // namespace

Result<Spec> parse_spec(const std::string& json_text) {
  TRY_ASSIGN(json doc, parse_json(json_text, "config.json"));
  // Every access is type-checked; this is the last net, so no exception leaves the layer.
  try {
    return parse_document(doc);
  } catch (const json::exception& e) {
    return make_error("parse", "config.json", e.what());
  }
}

Result<Spec> load_spec_file(const std::string& path) {
  TRY_ASSIGN(std::string text, read_file(path));
  return parse_spec(text).context("reading " + path);
}

Result<Process> parse_process_json(const std::string& json_text, const std::string& what) {
  TRY_ASSIGN(json doc, parse_json(json_text, what));
  try {
    return parse_process(Field(doc, "process"));
  } catch (const json::exception& e) {
    return make_error("parse", what, e.what());
  }
}

Result<Seccomp> parse_seccomp(const std::string& json_text, const std::string& field_prefix) {
  TRY_ASSIGN(json doc, parse_json(json_text, field_prefix));
  try {
    return parse_seccomp_field(Field(doc, field_prefix));
  } catch (const json::exception& e) {
    return make_error("parse", field_prefix, e.what());
  }
}

Result<Seccomp> default_seccomp_profile() {
  return parse_seccomp(kDefaultSeccompProfile, "default seccomp profile");
}

std::string to_json(const Spec& s, int indent) {
  json j;
  j["ociVersion"] = s.oci_version;
  json p;
  p["terminal"] = s.process.terminal;
  p["user"] = {{"uid", s.process.user.uid}, {"gid", s.process.user.gid}};
  if (!s.process.user.additional_gids.empty())
    p["user"]["additionalGids"] = s.process.user.additional_gids;
  if (s.process.user.umask) p["user"]["umask"] = *s.process.user.umask;
  p["args"] = s.process.args;
  p["env"] = s.process.env;
  p["cwd"] = s.process.cwd;
  const auto& c = s.process.capabilities;
  p["capabilities"] = {{"bounding", c.bounding},
                       {"effective", c.effective},
                       {"inheritable", c.inheritable},
                       {"permitted", c.permitted},
                       {"ambient", c.ambient}};
  json rl = json::array();
  for (const auto& r : s.process.rlimits)
    rl.push_back({{"type", r.type}, {"soft", r.soft}, {"hard", r.hard}});
  p["rlimits"] = rl;
  p["noNewPrivileges"] = s.process.no_new_privileges;
  if (s.process.oom_score_adj) p["oomScoreAdj"] = *s.process.oom_score_adj;
  j["process"] = p;
  j["root"] = {{"path", s.root.path}, {"readonly", s.root.readonly}};
  if (!s.hostname.empty()) j["hostname"] = s.hostname;
  json mounts = json::array();
  for (const auto& m : s.mounts)
    mounts.push_back({{"destination", m.destination},
                      {"type", m.type},
                      {"source", m.source},
                      {"options", m.options}});
  j["mounts"] = mounts;
  json l;
  json ns = json::array();
  for (const auto& n : s.linux.namespaces) {
    json e = {{"type", n.type}};
    if (!n.path.empty()) e["path"] = n.path;
    ns.push_back(e);
  }
  l["namespaces"] = ns;
  auto maps = [](const std::vector<IdMapping>& v) {
    json a = json::array();
    for (const auto& m : v)
      a.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
    return a;
  };
  if (!s.linux.uid_mappings.empty()) l["uidMappings"] = maps(s.linux.uid_mappings);
  if (!s.linux.gid_mappings.empty()) l["gidMappings"] = maps(s.linux.gid_mappings);
  json res = json::object();
  const auto& r = s.linux.resources;
  if (r.memory) {
    json m = json::object();
    if (r.memory->limit) m["limit"] = *r.memory->limit;
    if (r.memory->reservation) m["reservation"] = *r.memory->reservation;
    if (r.memory->swap) m["swap"] = *r.memory->swap;
    if (r.memory->disable_oom_killer) m["disableOOMKiller"] = *r.memory->disable_oom_killer;
    res["memory"] = m;
  }
  if (r.cpu) {
    json cpu = json::object();
    if (r.cpu->shares) cpu["shares"] = *r.cpu->shares;
    if (r.cpu->quota) cpu["quota"] = *r.cpu->quota;
    if (r.cpu->period) cpu["period"] = *r.cpu->period;
    if (!r.cpu->cpus.empty()) cpu["cpus"] = r.cpu->cpus;
    if (!r.cpu->mems.empty()) cpu["mems"] = r.cpu->mems;
    res["cpu"] = cpu;
  }
  if (r.pids) res["pids"] = {{"limit", r.pids->limit}};
  l["resources"] = res;
  if (!s.linux.cgroups_path.empty()) l["cgroupsPath"] = s.linux.cgroups_path;
  if (s.linux.seccomp) {
    const auto& sc = *s.linux.seccomp;
    json sj = {{"defaultAction", sc.default_action}};
    if (sc.default_errno_ret) sj["defaultErrnoRet"] = *sc.default_errno_ret;
    if (!sc.architectures.empty()) sj["architectures"] = sc.architectures;
    if (!sc.flags.empty()) sj["flags"] = sc.flags;
    json calls = json::array();
    for (const auto& call : sc.syscalls) {
      json cj = {{"names", call.names}, {"action", call.action}};
      if (call.errno_ret) cj["errnoRet"] = *call.errno_ret;
      if (!call.args.empty()) {
        json args = json::array();
        for (const auto& a : call.args)
          args.push_back(
              {{"index", a.index}, {"value", a.value}, {"valueTwo", a.value_two}, {"op", a.op}});
        cj["args"] = args;
      }
      calls.push_back(cj);
    }
    sj["syscalls"] = calls;
    l["seccomp"] = sj;
  }
  if (!s.linux.masked_paths.empty()) l["maskedPaths"] = s.linux.masked_paths;
  if (!s.linux.readonly_paths.empty()) l["readonlyPaths"] = s.linux.readonly_paths;
  if (!s.linux.rootfs_propagation.empty()) l["rootfsPropagation"] = s.linux.rootfs_propagation;
  if (!s.linux.sysctl.empty()) l["sysctl"] = s.linux.sysctl;
  j["linux"] = l;
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  if (!s.hooks.empty()) {
    json hooks = json::object();
    auto put = [&hooks](const char* name, const std::vector<Hook>& list) {
      if (list.empty()) return;
      json a = json::array();
      for (const auto& h : list) {
        json e = {{"path", h.path}};
        if (!h.args.empty()) e["args"] = h.args;
        if (!h.env.empty()) e["env"] = h.env;
        if (h.timeout) e["timeout"] = *h.timeout;
        a.push_back(e);
      }
      hooks[name] = a;
    };
    put("prestart", s.hooks.prestart);
    put("createRuntime", s.hooks.create_runtime);
    put("createContainer", s.hooks.create_container);
    put("startContainer", s.hooks.start_container);
    put("poststart", s.hooks.poststart);
    put("poststop", s.hooks.poststop);
    j["hooks"] = hooks;
  }
  return j.dump(indent);
}

}  // namespace clawcage::spec
