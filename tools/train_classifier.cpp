#include "tools/train_classifier.h"

#include <algorithm>
#include <sstream>

#include "engine/data/loader.h"
#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "tools/interrupt.h"
#include "tools/progress.h"
#include "tools/run_folder.h"

namespace ng::tools {

namespace {

nlohmann::json options_json(const ClassifierOptions& o) {
  return {{"feature_dim", o.feature_dim}, {"dropout", o.dropout}, {"schedule", o.schedule}};
}

ClassifierOptions options_from_json(const nlohmann::json& j) {
  ClassifierOptions o;
  o.feature_dim = j.value("feature_dim", o.feature_dim);
  o.dropout = j.value("dropout", o.dropout);
  o.schedule = j.value("schedule", o.schedule);
  return o;
}

models::ClassifierConfig model_config(int64_t channels, int64_t height, int64_t width, int64_t classes,
                                      const ClassifierOptions& o) {
  models::ClassifierConfig c;
  c.channels = channels;
  c.height = height;
  c.width = width;
  c.classes = classes;
  c.feature_dim = o.feature_dim;
  c.dropout = o.dropout;
  return c;
}

// The model a run's config.json describes.
models::ClassifierConfig model_config(const nlohmann::json& config) {
  const auto image = config.at("image");
  return model_config(image[0], image[1], image[2], config.at("classes"),
                      options_from_json(config.at("classifier")));
}

// What the classifier file of a run records about it.
ClassifierInfo run_info(const nlohmann::json& config, const std::string& command, const ClassifierReport& test,
                        int64_t epochs, int64_t steps) {
  CommonOptions common;
  from_json(config.at("common"), common);
  ClassifierInfo info;
  info.data = common.data;
  info.config = model_config(config);
  info.class_names = config.value("class_names", std::vector<std::string>{});
  info.test_accuracy = test.accuracy;
  info.test_images = test.images;
  info.command = command;
  info.seed = common.seed;
  info.epochs = epochs;
  info.steps = steps;
  return info;
}

}  // namespace

std::string classifier_command(const CommonOptions& c, const ClassifierOptions& o) {
  std::ostringstream cmd;
  cmd << "nanogen train classifier --data " << c.data << " --epochs " << c.epochs << " --batch-size "
      << c.batch_size << " --lr " << c.lr << " --seed " << c.seed << " --feature-dim " << o.feature_dim
      << " --dropout " << o.dropout << " --schedule " << o.schedule;
  if (c.limit > 0) cmd << " --limit " << c.limit;
  if (c.test_limit > 0) cmd << " --test-limit " << c.test_limit;
  return cmd.str();
}

ClassifierReport evaluate_classifier(const models::Classifier& model, const Tensor& images,
                                     const std::vector<int>& labels, int64_t batch_size, Device device) {
  NG_CHECK(images.dim() == 4 && images.size(0) == int64_t(labels.size()), "evaluate_classifier: images ",
           shape_str(images.shape()), " and ", labels.size(), " labels do not match");
  NoGradGuard no_grad;
  ClassifierReport r;
  int64_t correct = 0;
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    const int64_t n = std::min(batch_size, images.size(0) - start);
    const std::vector<int> y(labels.begin() + start, labels.begin() + start + n);
    const Tensor logits = model.logits(images.narrow(0, start, n).to(device));
    r.loss += models::cross_entropy(logits, y).item() * double(n);
    const std::vector<int> predicted = models::predicted_classes(logits);
    for (int64_t i = 0; i < n; ++i) correct += predicted[size_t(i)] == y[size_t(i)];
    r.images += n;
  }
  if (r.images > 0) {
    r.loss /= double(r.images);
    r.accuracy = double(correct) / double(r.images);
  }
  return r;
}

ClassifierSummary train_classifier(CommonOptions common, const ClassifierOptions& options) {
  if (common.out.empty()) common.out = "runs/classifier";
  const Device device = resolve_device(common.device);
  RunFolder run(common.out, common.resume);

  nlohmann::json config = resumed_config(run, common, "classifier");
  const ClassifierOptions opts = config.is_null() ? options : options_from_json(config.at("classifier"));

  const Dataset train = load_dataset_limited(common.data, "train", common.limit);
  const Dataset test = load_dataset_limited(common.data, "test", common.test_limit);
  NG_CHECK(train.num_classes >= 2, "classifier: ", train.name, " has ", train.num_classes,
           " classes; a classifier needs labelled images of at least 2 classes");
  const models::ClassifierConfig mc =
      model_config(train.channels(), train.height(), train.width(), train.num_classes, opts);

  Generator init_gen(Streams::init(common.seed));
  models::Classifier model(mc, init_gen);
  model.to(device);
  Generator noise(Streams::noise(common.seed));  // the dropout masks
  model.set_dropout_generator(noise);
  optim::Adam opt(model.named_parameters(), {.lr = common.lr});

  DataLoader loader = training_loader(train, common);
  const int64_t steps_per_epoch = loader.num_batches();
  NG_CHECK(steps_per_epoch > 0, "classifier: ", train.size(), " training images make no batch of ",
           common.batch_size);
  // Cosine decay to 0 over --epochs. --max-steps and Ctrl-C only stop the
  // run, so that a resumed run follows the schedule of an uninterrupted one.
  const optim::Schedule schedule{.kind = optim::Schedule::parse(opts.schedule), .base_lr = common.lr,
                                 .total_steps = common.epochs * steps_per_epoch};
  const std::string command = classifier_command(common, opts);

  int64_t epoch = 1, step_in_epoch = 0, global_step = 0;
  if (auto ckpt = run.load_last_checkpoint()) {
    model.load_state_dict(without_prefixes(ckpt->tensors, {"optim."}));
    opt.load_state(with_prefix_removed(ckpt->tensors, "optim."));
    const TrainingPosition p = restore_position(ckpt->metadata, noise);
    epoch = p.epoch;
    step_in_epoch = p.step_in_epoch;
    global_step = p.global_step;
    run.log("resuming " + run.path() + " at epoch " + std::to_string(epoch) + ", step " +
            std::to_string(global_step));
  } else {
    config = {{"model", "classifier"},
              {"common", to_json(common)},
              {"classifier", options_json(opts)},
              {"image", {mc.channels, mc.height, mc.width}},
              {"classes", mc.classes},
              {"class_names", train.class_names}};
    run.write_config(config);
    run.log("training the feature classifier (" + std::to_string(model.num_parameters()) + " parameters, " +
            std::to_string(mc.feature_dim) + " features, " + std::to_string(mc.classes) + " classes) on " +
            train.name + " (" + std::to_string(train.size()) + " images) on " + device.str());
  }

  run.declare_metrics({"epoch", "step", "loss", "accuracy", "lr", "it_per_s", "test_loss", "test_accuracy",
                       "time_s"});

  ClassifierReport last_test;
  auto checkpoint = [&](bool epoch_end) {
    Metadata m = checkpoint_metadata("classifier", {epoch, step_in_epoch, global_step}, epoch_end, noise, config);
    if (epoch_end) {
      m["test_accuracy"] = nlohmann::json(last_test.accuracy).dump();
      m["test_loss"] = nlohmann::json(last_test.loss).dump();
      m["test_images"] = std::to_string(last_test.images);
      m["command"] = command;
    }
    NamedTensors all = model.state_dict();
    for (auto& t : with_prefix(opt.state(), "optim.")) all.push_back(t);
    run.save_checkpoint(all, m, epoch, epoch_end);
  };

  ClassifierSummary summary;
  summary.run = run.path();
  install_interrupt_handler();
  const StopRule stop(common);

  for (; epoch <= common.epochs; ++epoch) {
    start_epoch_at(loader, epoch, step_in_epoch);
    Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(common.epochs), steps_per_epoch);
    double sum_loss = 0;
    int64_t seen = 0, correct = 0, images = 0;
    model.train();
    while (auto batch = loader.next()) {
      const Tensor logits = model.logits(batch->images.to(device));
      const Tensor loss = models::cross_entropy(logits, batch->labels);
      opt.zero_grad();
      loss.backward();
      opt.lr = schedule.at(global_step);
      opt.step();
      ++step_in_epoch;
      ++global_step;
      const double l = loss.item();
      check_finite(l, "classifier loss", global_step);
      const std::vector<int> predicted = models::predicted_classes(logits.detach());
      int64_t batch_correct = 0;
      for (size_t i = 0; i < predicted.size(); ++i) batch_correct += predicted[i] == batch->labels[i];
      sum_loss += l;
      ++seen;
      correct += batch_correct;
      images += int64_t(predicted.size());
      const double accuracy = double(batch_correct) / double(predicted.size());
      if (global_step % common.log_every == 0)
        run.metrics({{"epoch", double(epoch)}, {"step", double(global_step)}, {"loss", l}, {"accuracy", accuracy},
                     {"lr", opt.lr}, {"it_per_s", progress.rate()}},
                    "step");
      progress.update(step_in_epoch, fmt("loss %.3f", l) + fmt(" acc %.3f", double(correct) / double(images)));
      const bool out_of_budget = stop.reached(global_step);
      if (interrupt_requested() || (out_of_budget && step_in_epoch < steps_per_epoch)) {
        checkpoint(false);
        progress.finish(fmt("loss %.3f", sum_loss / double(seen)));
        summary.steps = global_step;
        summary.interrupted = interrupt_requested();
        record_early_stop(run, stop, epoch, global_step, progress.elapsed_seconds());
        return summary;
      }
    }
    const double train_loss = seen ? sum_loss / double(seen) : 0.0;
    const double train_accuracy = images ? double(correct) / double(images) : 0.0;
    // The time of the training steps alone: the evaluation below is not training.
    const double train_seconds = progress.elapsed_seconds();
    progress.finish(fmt("mean loss %.3f", train_loss) + fmt(", accuracy %.4f", train_accuracy));

    // End of epoch: test, checkpoint, and the classifier file.
    model.eval();
    last_test = evaluate_classifier(model, test.images, test.labels, 500, device);
    run.metrics({{"epoch", double(epoch)}, {"step", double(global_step)}, {"loss", train_loss},
                 {"accuracy", train_accuracy}, {"test_loss", last_test.loss}, {"test_accuracy", last_test.accuracy},
                 {"time_s", train_seconds}},
                "epoch");
    run.log("epoch " + std::to_string(epoch) + ": test accuracy " + fmt("%.4f", last_test.accuracy) + " (loss " +
            fmt("%.4f", last_test.loss) + ", " + std::to_string(last_test.images) + " images), train accuracy " +
            fmt("%.4f", train_accuracy));
    step_in_epoch = 0;
    checkpoint(true);
    summary.classifier_file = run.file("classifier.safetensors");
    export_classifier(model, run_info(config, command, last_test, epoch, global_step), summary.classifier_file);
    summary.test = last_test;
    summary.epochs_done = epoch;
    if (stop.reached(global_step)) {
      ++epoch;
      break;
    }
  }
  summary.steps = global_step;
  return summary;
}

void export_classifier(const std::string& path, const std::string& out) {
  const SavedRun saved = open_saved_run(path, "classifier");
  const Metadata& m = saved.checkpoint.metadata;
  NG_CHECK(m.count("test_accuracy") && m.count("test_images") && m.count("command"), "export_classifier: run ", path,
           " stopped in the middle of an epoch; resume it (--resume) to the end of an epoch first");
  models::Classifier model(model_config(saved.config));
  model.load_state_dict(without_prefixes(saved.checkpoint.tensors, {"optim."}));
  ClassifierReport test;
  test.accuracy = nlohmann::json::parse(m.at("test_accuracy")).get<double>();
  test.images = std::stoll(m.at("test_images"));
  // The checkpoint points at the next epoch.
  export_classifier(
      model, run_info(saved.config, m.at("command"), test, std::stoll(m.at("epoch")) - 1, std::stoll(m.at("global_step"))),
      out);
}

}  // namespace ng::tools
