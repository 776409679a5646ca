// "Did you mean" for the command line: the closest known name to a typo, and
// the walk through subcommands and options to the first unknown word.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "tools/suggest.h"

using namespace ng::tools;

TEST(Suggest, EditDistanceCountsInsertionsDeletionsSubstitutionsAndSwaps) {
  EXPECT_EQ(edit_distance("vae", "vae"), 0);
  EXPECT_EQ(edit_distance("vea", "vae"), 1);  // a swap of neighbours
  EXPECT_EQ(edit_distance("--epoch", "--epochs"), 1);
  EXPECT_EQ(edit_distance("gam", "gan"), 1);
  EXPECT_EQ(edit_distance("", "abc"), 3);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3);
}

TEST(Suggest, TheClosestNameIsOfferedOnlyWhenItLooksLikeATypo) {
  const std::vector<std::string> models = {"vae", "gan", "ddpm", "classifier"};
  EXPECT_EQ(closest_name("vea", models), "vae");
  EXPECT_EQ(closest_name("dpm", models), "ddpm");
  EXPECT_EQ(closest_name("class", models), "classifier");  // a prefix
  EXPECT_EQ(closest_name("list", models), "");
  EXPECT_EQ(closest_name("transformer", models), "");
  // Options are measured without their dashes: "--d" is not a typo of "--data".
  EXPECT_EQ(closest_name("--d", {"--data", "--device"}), "");
  EXPECT_EQ(closest_name("--dat", {"--data", "--device"}), "--data");
}

namespace {

// A command line shaped like nanogen's: train <model> with options.
struct Cli {
  CLI::App app{"test"};
  int64_t epochs = 0;
  Cli() {
    app.require_subcommand(1);
    CLI::App* train = app.add_subcommand("train", "");
    train->require_subcommand(1);
    for (const char* model : {"vae", "gan", "ddpm"}) {
      CLI::App* m = train->add_subcommand(model, "");
      m->add_option("--epochs", epochs, "");
      m->add_option("--batch-size", epochs, "");
      m->add_flag("--resume");
    }
    app.add_subcommand("sample", "");
  }
};

}  // namespace

TEST(Suggest, TheHintNamesTheFirstUnknownWordAndWhatWasMeant) {
  Cli cli;
  EXPECT_EQ(command_line_hint(cli.app, {"train", "vea"}),
            "'nanogen train' has no command 'vea'; did you mean 'vae'? (it has: vae, gan, ddpm)");
  EXPECT_EQ(command_line_hint(cli.app, {"list"}), "'nanogen' has no command 'list' (it has: train, sample)");
  EXPECT_EQ(command_line_hint(cli.app, {"train", "vae", "--epochs", "2", "--resume", "--batchsize", "8"}),
            "'nanogen train vae' has no option --batchsize; did you mean --batch-size? (see nanogen train vae --help)");
  EXPECT_EQ(command_line_hint(cli.app, {"train", "gan", "--epoch=1"}),
            "'nanogen train gan' has no option --epoch; did you mean --epochs? (see nanogen train gan --help)");
  EXPECT_EQ(command_line_hint(cli.app, {"train"}), "'nanogen train' needs a command: vae, gan, ddpm");
  EXPECT_EQ(command_line_hint(cli.app, {"train", "vae", "--epochs", "2"}), "");
}
