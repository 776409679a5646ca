// `nanogen train <model> --config FILE.json`: the file fills in what the
// command line left out, a run's own config.json is accepted back, and every
// bad file is refused with a message naming the file and the key.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"
#include "tools/cli.h"
#include "tools/json_config.h"
#include "tools/model_options.h"

using namespace ng::tools;
using nlohmann::json;

namespace {

// nanogen's `train` command line, with every model's real options.
struct TrainCli {
  CLI::App app{"nanogen"};
  Commands commands;
  TrainCli() {
    CLI::App* train = app.add_subcommand("train", "");
    add_train_vae(train, commands);
    add_train_gan(train, commands);
    add_train_ddpm(train, commands);
    add_train_classifier(train, commands);
  }
  // Parses `nanogen train <args>`; returns the model's subcommand.
  CLI::App* parse(std::vector<std::string> args) {
    args.insert(args.begin(), "train");
    std::reverse(args.begin(), args.end());  // CLI11 takes the words last to first
    app.parse(args);
    for (CLI::App* model : app.get_subcommand("train")->get_subcommands())
      if (model->parsed()) return model;
    return nullptr;
  }
  // The value an option ended with, as given (on the command line or in the file).
  std::string value(const std::vector<std::string>& args, const std::string& flag) {
    return parse(args)->get_option(flag)->as<std::string>();
  }
};

std::string write(const ng::test::TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path() / name;
  std::ofstream(path) << text;
  return path;
}

// The message of the error a parse throws ("" when it does not).
std::string parse_error(const std::vector<std::string>& args) {
  try {
    TrainCli().parse(args);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(JsonConfig, TheFileSetsTheBoundVariablesAndTheCommandLineWins) {
  ng::test::TempDir dir;
  const std::string path =
      write(dir, "opts.json", R"({"epochs": 5, "z_dim": 32, "lr": 0.002, "resume": true, "likelihood": "gaussian"})");
  CLI::App app{"nanogen"};
  CLI::App* vae = app.add_subcommand("vae", "");
  int64_t epochs = 3, z_dim = 16;
  double lr = 1e-3;
  bool resume = false;
  std::string likelihood = "bernoulli";
  vae->add_option("--epochs", epochs);
  vae->add_option("--z-dim", z_dim);
  vae->add_option("--lr", lr);
  vae->add_flag("--resume", resume);
  vae->add_option("--likelihood", likelihood);
  add_config_option(vae, "vae");
  app.parse(std::vector<std::string>{"7", "--epochs", path, "--config", "vae"});
  EXPECT_EQ(epochs, 7);  // the command line's
  EXPECT_EQ(z_dim, 32);
  EXPECT_DOUBLE_EQ(lr, 0.002);
  EXPECT_TRUE(resume);
  EXPECT_EQ(likelihood, "gaussian");
}

TEST(JsonConfig, KeysMaySpellOptionsEitherWayAndSitUnderTheirSections) {
  ng::test::TempDir dir;
  const std::string path =
      write(dir, "opts.json", R"({"common": {"batch-size": 16}, "vae": {"kl_warmup_steps": 100}, "beta": 0.5})");
  TrainCli cli;
  CLI::App* vae = cli.parse({"vae", "--config", path});
  EXPECT_EQ(vae->get_option("--batch-size")->as<int64_t>(), 16);
  EXPECT_EQ(vae->get_option("--kl-warmup-steps")->as<int64_t>(), 100);
  EXPECT_DOUBLE_EQ(vae->get_option("--beta")->as<double>(), 0.5);
  EXPECT_EQ(vae->get_option("--epochs")->count(), 0u);  // left at its default

  // A key in two places: the model's section wins over "common", which wins over the top.
  const std::string twice =
      write(dir, "twice.json", R"({"epochs": 5, "common": {"epochs": 3, "lr": 0.5}, "vae": {"epochs": 2}, "lr": 0.1})");
  TrainCli again;
  CLI::App* parsed = again.parse({"vae", "--config", twice});
  EXPECT_EQ(parsed->get_option("--epochs")->as<int64_t>(), 2);
  EXPECT_DOUBLE_EQ(parsed->get_option("--lr")->as<double>(), 0.5);
}

TEST(JsonConfig, AListIsTheCommaSeparatedValueOfItsOption) {
  ng::test::TempDir dir;
  const std::string path = write(dir, "opts.json", R"({"channel_mults": [1, 2, 4], "attention_res": [14, 7]})");
  TrainCli cli;
  CLI::App* ddpm = cli.parse({"ddpm", "--config", path});
  EXPECT_EQ(ddpm->get_option("--channel-mults")->as<std::string>(), "1,2,4");
  EXPECT_EQ(ddpm->get_option("--attention-res")->as<std::string>(), "14,7");
}

TEST(JsonConfig, EveryModelsRunConfigIsAcceptedBackWithoutItsPlace) {
  // config.json as Trainer::train writes it, with options unlike the defaults.
  ng::test::TempDir dir;
  CommonOptions common;
  common.epochs = 9;
  common.batch_size = 32;
  common.lr = 5e-4;
  common.seed = 7;
  common.out = "runs/elsewhere";
  common.resume = true;
  const json image = {1, 28, 28};
  VAEOptions vae;
  vae.z_dim = 8;
  GANOptions gan = resolve_gan_options(GANOptions{});
  gan.loss = "hinge";
  DDPMOptions ddpm;
  ddpm.channel_mults = "1,2";
  ddpm.ema_decay = 0.999;
  ClassifierOptions classifier;
  classifier.dropout = 0.1;
  const std::vector<std::pair<std::string, json>> runs = {
      {"vae", {{"model", "vae"}, {"common", common}, {"image", image}, {"vae", vae}}},
      {"gan", {{"model", "gan"}, {"common", common}, {"image", image}, {"gan", gan}}},
      {"ddpm", {{"model", "ddpm"}, {"common", common}, {"image", image}, {"ddpm", ddpm}}},
      {"classifier",
       {{"model", "classifier"}, {"common", common}, {"image", image}, {"classifier", classifier},
        {"classes", 10}, {"class_names", {"a", "b"}}}},
  };
  for (const auto& [model, config] : runs) {
    SCOPED_TRACE(model);
    const std::string path = write(dir, model + ".json", config.dump(2));
    TrainCli cli;
    CLI::App* cmd = cli.parse({model, "--config", path, "--seed", "3"});
    EXPECT_EQ(cmd->get_option("--epochs")->as<int64_t>(), 9);
    EXPECT_EQ(cmd->get_option("--batch-size")->as<int64_t>(), 32);
    EXPECT_DOUBLE_EQ(cmd->get_option("--lr")->as<double>(), 5e-4);
    EXPECT_EQ(cmd->get_option("--seed")->as<int64_t>(), 3);  // the command line's
    EXPECT_EQ(cmd->get_option("--out")->count(), 0u);       // the old run's folder is not reused
    EXPECT_EQ(cmd->get_option("--resume")->count(), 0u);
  }
  TrainCli cli;
  EXPECT_EQ(cli.value({"vae", "--config", dir.path() / "vae.json"}, "--z-dim"), "8");
  EXPECT_EQ(cli.value({"gan", "--config", dir.path() / "gan.json"}, "--loss"), "hinge");
  EXPECT_EQ(cli.value({"ddpm", "--config", dir.path() / "ddpm.json"}, "--channel-mults"), "1,2");
  EXPECT_EQ(cli.value({"classifier", "--config", dir.path() / "classifier.json"}, "--dropout"), "0.1");
}

TEST(JsonConfig, BadFilesAreRefusedNamingTheFileAndTheKey) {
  ng::test::TempDir dir;
  const std::string missing = (dir.path() / "missing.json").string();
  EXPECT_NE(parse_error({"vae", "--config", missing}).find("--config " + missing + ": cannot read the file"),
            std::string::npos);

  const std::string broken = write(dir, "broken.json", R"({"epochs": 5,})");
  EXPECT_NE(parse_error({"vae", "--config", broken}).find("is not valid JSON"), std::string::npos);

  const std::string typo = write(dir, "typo.json", R"({"epoch": 5})");
  EXPECT_NE(parse_error({"vae", "--config", typo}).find("\"epoch\" is not an option of `train vae`; did you mean "
                                                         "\"epochs\"?"),
            std::string::npos);

  const std::string other = write(dir, "other.json", R"({"timesteps": 50})");  // a DDPM option
  EXPECT_NE(parse_error({"vae", "--config", other}).find("\"timesteps\" is not an option of `train vae`"),
            std::string::npos);

  const std::string wrong_type = write(dir, "type.json", R"({"epochs": "many"})");
  EXPECT_NE(parse_error({"vae", "--config", wrong_type}).find("--config " + wrong_type), std::string::npos);

  const std::string nested = write(dir, "nested.json", R"({"epochs": {"n": 5}})");
  EXPECT_NE(parse_error({"vae", "--config", nested}).find("\"epochs\" is {\"n\":5}, expected a number"),
            std::string::npos);

  const std::string gan_run = write(dir, "gan_run.json", R"({"model": "gan", "common": {}, "gan": {}})");
  EXPECT_NE(parse_error({"vae", "--config", gan_run}).find("is the config.json of a \"gan\" run, expected a vae"),
            std::string::npos);

  const std::string array = write(dir, "array.json", "[1, 2]");
  EXPECT_NE(parse_error({"vae", "--config", array}).find("holds array, expected a JSON object"), std::string::npos);

  const std::string fine = write(dir, "fine.json", R"({"epochs": 5})");
  EXPECT_EQ(parse_error({"vae", "--config", fine}), "");
}
