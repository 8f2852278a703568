// clawcage image: import OCI layouts into the store, list what is there.
#include <iostream>

#include "cli/commands.h"
#include "image/store.h"

namespace clawcage::cli {

void add_image_command(CLI::App& app, int& exit_code) {
  auto store = std::make_shared<std::string>(image::kDefaultStore);
  auto dir = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  CLI::App* img = app.add_subcommand("image", "images: import, ls");
  img->require_subcommand(1);
  CLI::App* imp =
      img->add_subcommand("import", "import an OCI image layout directory (blobs verified)");
  imp->add_option("layout", *dir, "OCI image layout directory")->required();
  imp->add_option("--name", *name, "name:tag for its one image (default: its ref name)");
  imp->add_option("--store", *store, "image store directory");
  imp->callback([=, &exit_code] {
    image::ImageStore s(*store);
    auto r = s.import_layout(*dir, *name);
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
