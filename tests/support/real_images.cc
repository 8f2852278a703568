#include "support/real_images.h"

#include <fstream>

#include "support/run_clawcage.h"

namespace clawcage::test {

namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string build_umoci_image(const std::string& work, const std::string& script,
                              std::string* log) {
  std::string oci = work + "/oci", bundle = work + "/umoci-bundle";
  std::string cmd =
      "set -e; cd " + quote(work) + "; umoci init --layout oci; umoci new --image oci:agent; " +
      "umoci unpack --image oci:agent " + quote(bundle) + " >/dev/null; " + "mkdir -p " +
      quote(bundle) + "/rootfs/bin " + quote(bundle) + "/rootfs/tmp; " + "mkdir -p -m 1777 " +
      quote(bundle) + "/rootfs/var/tmp; " + "cp /bin/busybox " + quote(bundle) +
      "/rootfs/bin/busybox; " + "for a in sh echo cat ls true id; do ln -sf busybox " +
      quote(bundle) + "/rootfs/bin/$a; done; " + "umoci repack --image oci:agent " + quote(bundle) +
      "; " + "umoci config --image oci:agent --config.cmd /bin/sh --config.cmd -c --config.cmd " +
      quote(script) + "; rm -rf " + quote(bundle) + " 2>&1";
  auto r = run_shell("(" + cmd + ") 2>&1");
  if (log) *log = r.out;
  return r.exit_code == 0 ? oci : "";
}

GpgKey make_gpg_key(const std::string& work, const std::string& name) {
  GpgKey k;
  k.home = work + "/gnupg-" + name;
  k.keyring = work + "/" + name + ".gpg";
  std::string env = "GNUPGHOME=" + quote(k.home) + " ";
  auto r =
      run_shell("mkdir -m 700 -p " + quote(k.home) + " && " + env +
                "gpg --batch --passphrase '' --quick-gen-key " +
                quote(name + " <" + name + "@clawcage.test>") +
                " ed25519 sign never </dev/null >/dev/null 2>&1 && " + env +
                "gpg --list-keys --with-colons 2>/dev/null | awk -F: '/^fpr/{print $10; exit}'");
  if (r.exit_code != 0) return k;
  k.fingerprint = r.out.substr(0, r.out.find('\n'));
  if (run_shell(env + "gpg --export " + k.fingerprint + " > " + quote(k.keyring) + " 2>/dev/null")
          .exit_code != 0)
    k.fingerprint.clear();
  return k;
}

void stop_gpg_agent(const GpgKey& key) {
  if (!key.home.empty())
    run_shell("gpgconf --homedir " + quote(key.home) + " --kill all </dev/null >/dev/null 2>&1");
}

bool make_ec_key(const std::string& work, const std::string& name) {
  std::string base = quote(work + "/" + name);
  return run_shell(
             "openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | "
             "openssl pkcs8 -topk8 -nocrypt -out " +
             base.substr(0, base.size() - 1) + ".pem' 2>/dev/null && openssl ec -in " +
             base.substr(0, base.size() - 1) + ".pem' -pubout -out " +
             base.substr(0, base.size() - 1) + ".pub' 2>/dev/null")
             .exit_code == 0;
}

int skopeo_copy(const std::string& policy, const std::string& flags, const std::string& from,
                const std::string& to, std::string* log, const std::string& gnupg_home) {
  std::string env = gnupg_home.empty() ? "" : "GNUPGHOME=" + quote(gnupg_home) + " ";
  auto r = run_shell(env + "skopeo copy --policy " + quote(policy) + " " + flags + " " +
                     quote(from) + " " + quote(to) + " </dev/null 2>&1");
  if (log) *log = r.out;
  return r.exit_code;
}

std::string podman_save(const std::string& work, const std::string& layout_ref,
                        const std::string& name, std::string* log) {
  std::string p = "podman --root " + quote(work + "/podman-root") + " --runroot " +
                  quote(work + "/podman-run") + " --storage-driver vfs ";
  std::string out = work + "/podman-save.tar";
  auto r =
      run_shell("(set -e; id=$(" + p + "pull -q " + quote(layout_ref) + "); " + p + "tag $id " +
                quote(name) + "; " + p + "save --format docker-archive -o " + quote(out) + " " +
                quote(name) + "; " + p + "system reset -f) </dev/null 2>&1");
  if (log) *log = r.out;
  return r.exit_code == 0 ? out : "";
}

std::string write_accept_all_policy(const std::string& work) {
  std::string p = work + "/accept-all.json";
  std::ofstream(p) << R"({"default":[{"type":"insecureAcceptAnything"}]})";
  return p;
}

}  // namespace clawcage::test
