// The model registry: every model once, complete where it must be, and the
// run folders of `sample` and `eval` resolved through it with clear errors.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "engine/error.h"
#include "support/gradcheck.h"
#include "support/temp_dir.h"
#include "tools/model_registry.h"
#include "tools/sample.h"

using namespace ng;
using namespace ng::tools;

namespace {

std::string run_with_config(const test::TempDir& dir, const std::string& json) {
  std::ofstream(dir.path() / "config.json") << json;
  return dir.path().string();
}

}  // namespace

TEST(ModelRegistry, EveryModelOnceWithATrainCommandAndCharts) {
  std::set<std::string> names;
  for (const ModelEntry& m : registered_models()) {
    EXPECT_TRUE(names.insert(m.name).second) << m.name << " is registered twice";
    EXPECT_TRUE(m.add_train) << m.name;
    EXPECT_FALSE(m.charts.empty()) << m.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"vae", "gan", "ddpm", "classifier"}));
  for (const char* generative : {"vae", "gan", "ddpm"}) {
    ASSERT_NE(find_model(generative), nullptr);
    EXPECT_TRUE(find_model(generative)->open) << generative;
  }
  EXPECT_FALSE(find_model("classifier")->open);
  EXPECT_TRUE(find_model("ddpm")->draws_trajectories);
  EXPECT_EQ(find_model("nope"), nullptr);
}

TEST(ModelRegistry, RunFoldersResolveOrSayWhatIsWrong) {
  const test::TempDir dir;
  EXPECT_EQ(model_of_run(run_with_config(dir, R"({"model": "gan"})"), "sample").name, "gan");

  test::expect_error([&] { model_of_run(run_with_config(dir, R"({"model": "flow"})"), "eval"); },
                     {"eval: ", "'flow'", "vae, gan, ddpm, classifier"});
  test::expect_error([&] { model_of_run(run_with_config(dir, "{not json"), "eval"); }, {"not valid JSON"});
  test::expect_error([&] { model_of_run((dir.path() / "absent").string(), "sample"); }, {"not a run folder"});
  test::expect_error([&] { sample_run(run_with_config(dir, R"({"model": "classifier"})"), SampleOptions{}); },
                     {"draws no images"});
  test::expect_error(
      [&] { open_evaluated_model(run_with_config(dir, R"({"model": "classifier"})"), Device::cpu(), EvalOptions{}); },
      {"does not score"});
}
