#include "tools/train_classifier.h"

#include <sstream>

#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "tools/trainer.h"

namespace ng::tools {

namespace {

class ClassifierJob final : public TrainingJob {
 public:
  ClassifierJob(Trainer& trainer, const ClassifierOptions& o, models::Classifier& model, const Dataset& test,
                int64_t steps_per_epoch)
      : TrainingJob(trainer), model_(model), opt_(model.named_parameters(), {.lr = trainer.common().lr}), test_(test),
        // Cosine decay to 0 over --epochs. --max-steps and Ctrl-C only stop the
        // run, so that a resumed run follows the schedule of an uninterrupted one.
        schedule_{.kind = optim::Schedule::parse(o.schedule),
                  .base_lr = trainer.common().lr,
                  .total_steps = trainer.common().epochs * steps_per_epoch},
        command_(classifier_command(trainer.common(), o)) {
    model_.set_dropout_generator(trainer.noise());  // the dropout masks
  }

  CheckpointParts parts() override { return {&model_, {{"", &opt_}}}; }
  std::vector<std::string> columns() const override {
    return {"loss", "accuracy", "lr", "it_per_s", "test_loss", "test_accuracy", "time_s", "peak_memory_mb"};
  }
  std::vector<std::string> averaged() const override { return {"loss", "accuracy"}; }

  StepMetrics step(const std::vector<Batch>& batches, int64_t global_step, bool) override {
    const Batch& batch = batches[0];
    const Tensor logits = model_.logits(batch.images.to(trainer_.device()));
    const Tensor loss = models::cross_entropy(logits, batch.labels);
    opt_.zero_grad();
    trainer_.backward(loss, model_.parameters());
    opt_.lr = schedule_.at(global_step);
    opt_.step();
    // The loss and the accuracy stay on the device until the trainer reads them.
    StepMetrics m({{"lr", opt_.lr}});
    m.device = {{"loss", loss.detach()}, {"accuracy", models::accuracy(logits, batch.labels)}};
    return m;
  }
  std::string status(const Metrics& m) const override {
    return fmt("loss %.3f", m.at("loss")) + fmt(", accuracy %.4f", m.at("accuracy"));
  }

  std::string end_epoch(int64_t, const Metrics& means, Metrics& row) override {
    model_.eval();
    last_test = models::evaluate_classifier(model_, test_.images, test_.labels, 500, trainer_.device());
    row.insert({{"test_loss", last_test.loss}, {"test_accuracy", last_test.accuracy}});
    return "test accuracy " + fmt("%.4f", last_test.accuracy) + " (loss " + fmt("%.4f", last_test.loss) + ", " +
           std::to_string(last_test.images) + " images), train accuracy " + fmt("%.4f", means.at("accuracy"));
  }
  // An epoch's checkpoint records its test accuracy and how to reproduce it.
  void annotate(Metadata& m, bool epoch_end) const override {
    if (!epoch_end) return;
    m["test_accuracy"] = nlohmann::json(last_test.accuracy).dump();
    m["test_loss"] = nlohmann::json(last_test.loss).dump();
    m["test_images"] = std::to_string(last_test.images);
    m["command"] = command_;
  }
  void after_epoch_checkpoint(int64_t epoch, int64_t global_step) override {
    export_classifier(model_, run_info(trainer_.config(), command_, last_test, epoch, global_step), file());
  }
  std::string file() const { return trainer_.run().file("classifier.safetensors"); }

  models::ClassifierReport last_test;

 private:
  models::Classifier& model_;
  optim::Adam opt_;
  const Dataset& test_;
  optim::Schedule schedule_;
  std::string command_;
};

}  // namespace

std::string classifier_command(const CommonOptions& c, const ClassifierOptions& o) {
  std::ostringstream cmd;
  cmd << "nanogen train classifier --data " << c.data << " --epochs " << c.epochs << " --batch-size " << c.batch_size
      << " --lr " << c.lr << " --seed " << c.seed << " --feature-dim " << o.feature_dim << " --dropout " << o.dropout
      << " --schedule " << o.schedule;
  if (c.limit > 0) cmd << " --limit " << c.limit;
  if (c.test_limit > 0) cmd << " --test-limit " << c.test_limit;
  return cmd.str();
}

ClassifierSummary train_classifier(CommonOptions common, const ClassifierOptions& options) {
  Trainer trainer("classifier", std::move(common));
  const ClassifierOptions o = trainer.options(options);
  const Dataset train = trainer.dataset("train"), test = trainer.dataset("test");
  NG_CHECK(train.num_classes >= 2, "classifier: ", train.name, " has ", train.num_classes,
           " classes; a classifier needs labelled images of at least 2 classes");
  const auto model = trainer.build<models::Classifier>(
      classifier_config(o, train.channels(), train.height(), train.width(), train.num_classes));
  const models::ClassifierConfig& c = model->config();
  ClassifierJob job(trainer, o, *model, test, trainer.steps_per_epoch(train));
  ClassifierSummary s;
  static_cast<RunSummary&>(s) =
      trainer.train(job, train, {{"classifier", o}, {"classes", c.classes}, {"class_names", train.class_names}},
                    "the feature classifier (" + std::to_string(model->num_parameters()) + " parameters, " +
                        std::to_string(c.feature_dim) + " features, " + std::to_string(c.classes) + " classes)");
  s.test = job.last_test;
  if (s.epochs_done > 0) s.classifier_file = job.file();
  return s;
}

}  // namespace ng::tools
