// clawcage image: import OCI layouts into the store, list what is there.
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "image/store.h"

namespace clawcage::cli {

void add_image_command(CLI::App& app, int& exit_code) {
  auto store = std::make_shared<std::string>(image::kDefaultStore);
  auto dir = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  CLI::App* img =
      app.add_subcommand("image", "images: import, ls, inspect, rm, prune, sign, verify");
  img->require_subcommand(1);
  CLI::App* imp = img->add_subcommand(
      "import",
      "import an OCI layout, an oci-archive, a docker-archive or a skopeo dir: copy (blobs "
      "verified, dir: signatures kept)");
  imp->add_option("source", *dir,
                  "OCI image layout directory, oci-archive or docker-archive tar, or dir:PATH")
      ->required();
  imp->add_option("--name", *name, "name:tag for its one image (default: its ref name)");
  imp->add_option("--store", *store, "image store directory");
  imp->callback([=, &exit_code] {
    image::ImageStore s(*store);
    struct stat st;
    std::string path = dir->rfind("dir:", 0) == 0 ? dir->substr(4) : *dir;
    bool file = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    bool skopeo_dir =
        !file && (path != *dir || (!::access((path + "/manifest.json").c_str(), F_OK) &&
                                   ::access((path + "/oci-layout").c_str(), F_OK)));
    Result<std::vector<image::ImportedImage>> r = std::vector<image::ImportedImage>{};
    if (skopeo_dir) {
      auto one = s.import_dir(path, *name);
      if (one)
        r = std::vector<image::ImportedImage>{*one};
      else
        r = std::move(one).error();
    } else {
      r = file ? s.import_archive(path, *name) : s.import_layout(path, *name);
    }
    if (!r) {
      std::cerr << "clawcage image import: " << r.error().message() << "\n";
      exit_code = 1;
      return;
    }
    for (const auto& i : *r)
      std::cout << (i.name.empty() ? "(unnamed)" : i.name) << "\t" << i.manifest.digest.str()
                << "\n";
    exit_code = 0;
  });
  auto fail = [&exit_code](const char* verb, const Error& e) {
    std::cerr << "clawcage image " << verb << ": " << e.message() << "\n";
    exit_code = 1;
  };
  CLI::App* inspect = img->add_subcommand("inspect", "show an image's manifest, config and layers");
  inspect->add_option("image", *name, "name:tag or @sha256:...")->required();
  inspect->add_option("--store", *store, "image store directory");
  inspect->callback([=, &exit_code] {
    image::ImageStore s(*store);
    auto d = s.resolve(*name);
    if (!d) return fail("inspect", d.error());
    auto m = image::read_manifest(s.blobs(), *d);
    if (!m) return fail("inspect", m.error());
    auto c = image::read_image_config(s.blobs(), m->config);
    if (!c) return fail("inspect", c.error());
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : m->layers)
      layers.push_back({{"digest", l.digest.str()}, {"size", l.size}, {"mediaType", l.media_type}});
    nlohmann::json out = {{"name", *name},
                          {"manifest", d->digest.str()},
                          {"config",
                           {{"digest", m->config.digest.str()},
                            {"entrypoint", c->entrypoint},
                            {"cmd", c->cmd},
                            {"env", c->env},
                            {"workingDir", c->working_dir},
                            {"user", c->user}}},
                          {"layers", layers}};
    std::cout << out.dump(2) << "\n";
    exit_code = 0;
  });
  CLI::App* rm = img->add_subcommand("rm", "forget an image name (blobs go with prune)");
  rm->add_option("image", *name, "name:tag")->required();
  rm->add_option("--store", *store, "image store directory");
  rm->callback([=, &exit_code] {
    image::ImageStore s(*store);
    auto r = s.remove_ref(*name);
    if (!r) return fail("rm", r.error());
    exit_code = 0;
  });
  CLI::App* prune =
      img->add_subcommand("prune", "remove blobs and rootfs caches no named image needs");
  prune->add_option("--store", *store, "image store directory");
  prune->callback([=, &exit_code] {
    image::ImageStore s(*store);
    auto r = s.prune();
    if (!r) return fail("prune", r.error());
    std::cout << "prune: " << *r << " blobs removed\n";
    exit_code = 0;
  });
  add_image_trust_commands(img, exit_code);
  CLI::App* ls = img->add_subcommand("ls", "list named images");
  ls->add_option("--store", *store, "image store directory");
  ls->callback([=, &exit_code] {
    image::ImageStore s(*store);
    std::cout << "NAME\tMANIFEST\n";
    for (const auto& [n, d] : s.refs()) std::cout << n << "\t" << d << "\n";
    exit_code = 0;
  });
}

}  // namespace clawcage::cli
