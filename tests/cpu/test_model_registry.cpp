// The model registry: every model once, complete where it must be, and the
// run folders of `sample` and `eval` resolved through it with clear errors.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "engine/error.h"
#include "support/temp_dir.h"
#include "tools/model_registry.h"

using namespace ng;
using namespace ng::tools;

namespace {

std::string run_with_config(const test::TempDir& dir, const std::string& json) {
  std::ofstream(dir.path() / "config.json") << json;
  return dir.path().string();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
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
    EXPECT_TRUE(find_model(generative)->sample) << generative;
    EXPECT_TRUE(find_model(generative)->open_for_eval) << generative;
  }
  EXPECT_TRUE(find_model("ddpm")->draws_trajectories);
  EXPECT_EQ(find_model("nope"), nullptr);
}

TEST(ModelRegistry, RunFoldersResolveOrSayWhatIsWrong) {
  const test::TempDir dir;
  EXPECT_EQ(model_of_run(run_with_config(dir, R"({"model": "gan"})"), "sample").name, "gan");

  const std::string unknown = error_of([&] { model_of_run(run_with_config(dir, R"({"model": "flow"})"), "eval"); });
  EXPECT_NE(unknown.find("'flow'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("vae, gan, ddpm, classifier"), std::string::npos) << unknown;

  const std::string broken = error_of([&] { model_of_run(run_with_config(dir, "{not json"), "eval"); });
  EXPECT_NE(broken.find("not valid JSON"), std::string::npos) << broken;

  const std::string missing = error_of([&] { model_of_run((dir.path() / "absent").string(), "sample"); });
  EXPECT_NE(missing.find("not a run folder"), std::string::npos) << missing;

  const std::string classifier = error_of([&] {
    sample_run(run_with_config(dir, R"({"model": "classifier"})"), SampleOptions{});
  });
  EXPECT_NE(classifier.find("draws no images"), std::string::npos) << classifier;
  const std::string not_scored = error_of([&] {
    open_evaluated_model(run_with_config(dir, R"({"model": "classifier"})"), Device::cpu(), EvalOptions{});
  });
  EXPECT_NE(not_scored.find("does not score"), std::string::npos) << not_scored;
}
