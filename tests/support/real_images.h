// Images, keys and signatures made by the real tools (umoci, skopeo, podman, gpg, openssl)
// for the image and trust tests. Every helper works inside a test's temp dir and leaves no
// process behind (the GnuPG agent a key generation starts is stopped by GpgKey's owner).
#pragma once

#include <string>

namespace clawcage::test {

// A busybox-static image built with umoci: an OCI layout at <work>/oci with the tag
// "agent", whose Cmd is `/bin/sh -c SCRIPT`; /var/tmp is world-writable (mode 1777). Returns the
// layout dir ("" on failure, with the tool's output in `log`).
std::string build_umoci_image(const std::string& work, const std::string& script,
                              std::string* log = nullptr);

struct GpgKey {
  std::string home;         // GNUPGHOME holding the secret key
  std::string fingerprint;  // 40 hex digits
  std::string keyring;      // exported public key file (a policy's keyPath)
};
// An ed25519 signing key in a fresh GnuPG home under `work`; empty fingerprint on failure.
GpgKey make_gpg_key(const std::string& work, const std::string& name);
// Stops the gpg-agent of a home (gpgconf --kill all).
void stop_gpg_agent(const GpgKey& key);

// An ECDSA P-256 key pair made with the openssl CLI: <work>/<name>.pem (PKCS#8 private key)
// and <work>/<name>.pub (public key). Returns false on failure.
bool make_ec_key(const std::string& work, const std::string& name);

// `skopeo copy` (with --policy, so the host's policy.json plays no part); extra flags
// before the two references. Returns skopeo's exit code; its output goes to `log`.
int skopeo_copy(const std::string& policy, const std::string& flags, const std::string& from,
                const std::string& to, std::string* log = nullptr,
                const std::string& gnupg_home = "");
// `podman save --format docker-archive` of an image podman pulls from `layout_ref`, through a
// throwaway podman store under `work` (vfs driver; removed after). Returns the archive path or "".
std::string podman_save(const std::string& work, const std::string& layout_ref,
                        const std::string& name, std::string* log = nullptr);
// A policy.json accepting anything (for copies that only move images).
std::string write_accept_all_policy(const std::string& work);

}  // namespace clawcage::test
