#include "tools/eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "engine/data/datasets.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image.h"
#include "engine/nanogen.h"
#include "engine/precision.h"
#include "eval/labels.h"
#include "eval/metrics.h"
#include "eval/nearest.h"
#include "tools/classifier_file.h"
#include "tools/eval_models.h"
#include "tools/metrics_csv.h"
#include "tools/progress.h"
#include "tools/run_config.h"
#include "tools/train_common.h"

namespace ng::tools {

namespace {

using json = nlohmann::json;

// The classifier's features [N, D] and class probabilities [N, K] of images
// [N,C,H,W] in [0,1] (on the CPU), both float64 on the CPU.
struct Classified {
  Tensor features, probabilities;
};

Classified classify(const models::Classifier& classifier, const Tensor& images, Device device, const std::string& what) {
  NoGradGuard no_grad;
  std::vector<Tensor> features, probabilities;
  const int64_t batch = 1000;
  Progress bar("features (" + what + ")", images.size(0), std::max(batch, images.size(0) / 4), "image");
  for (int64_t start = 0; start < images.size(0); start += batch) {
    const int64_t n = std::min(batch, images.size(0) - start);
    const Tensor f = classifier.features(images.narrow(0, start, n).to(device));
    probabilities.push_back(softmax(classifier.logits_from_features(f), 1).to(Device::cpu()).to(DType::f64));
    features.push_back(f.to(Device::cpu()).to(DType::f64));
    bar.update(start + n, "");
  }
  bar.finish("");
  return {cat(features, 0), cat(probabilities, 0)};
}

// The class each sample is drawn for: image i of a conditional model is of
// class i mod K, so every class gets n/K images; none when unconditional.
models::Labels intended_labels(const EvaluatedModel& model, int64_t n) {
  models::Labels y;
  for (int64_t i = 0; i < n && model.conditioning.count > 0; ++i) y.push_back(i % model.conditioning.count);
  return y;
}

// Draws n images (image i of class y[i] for a conditional model) in batches
// behind a progress bar; returns them and the seconds it took (the last
// batch is on the CPU, so the GPU has finished).
std::pair<Tensor, double> draw_samples(EvaluatedModel& model, const EvalOptions& o, const models::Labels& y,
                                       Generator& gen) {
  std::vector<Tensor> batches;
  Progress bar("sampling", o.n, std::max<int64_t>(1, o.n / 10), "image");
  int64_t done = 0;
  // A DDPM batch is a chain of steps: the bar moves with them, in images'
  // worth of work, not only when a whole batch is done.
  int64_t n = 0;
  model.on_step = [&](int64_t step, int64_t steps) { bar.update(done + n * step / std::max<int64_t>(1, steps), ""); };
  // The callback refers to this frame: it goes when the frame does, thrown out of or not.
  const std::unique_ptr<EvaluatedModel, void (*)(EvaluatedModel*)> unhook(&model, [](EvaluatedModel* m) {
    m->on_step = nullptr;
  });
  while (done < o.n) {
    n = std::min(o.batch_size, o.n - done);
    batches.push_back(model.sample(n, gen, models::slice_labels(y, done, n)));
    done += n;
    bar.update(done, "");
  }
  const double seconds = bar.elapsed_seconds();
  bar.finish(fmt("%.2f ms/image", 1000.0 * seconds / double(o.n)));
  return {cat(batches, 0), seconds};
}

// For a conditional model: how often the classifier names the class each
// sample was drawn for, overall and per class ({"overall": null, "per_class":
// null} for an unconditional one).
json conditional_accuracy(const models::Labels& intended, const Tensor& probabilities, const RunClasses& classes) {
  if (intended.empty()) return {{"overall", nullptr}, {"per_class", nullptr}};
  const std::vector<int> predicted = models::predicted_classes(probabilities);
  std::vector<double> hits(size_t(classes.count), 0.0), drawn(size_t(classes.count), 0.0);
  for (size_t i = 0; i < intended.size(); ++i) {
    drawn[size_t(intended[i])] += 1;
    hits[size_t(intended[i])] += predicted[i] == intended[i];
  }
  double all_hits = 0;
  json per_class = json::array();
  for (int64_t c = 0; c < classes.count; ++c) {
    all_hits += hits[size_t(c)];
    per_class.push_back({{"class", c},
                         {"name", classes.names.empty() ? std::to_string(c) : classes.names[size_t(c)]},
                         {"accuracy", drawn[size_t(c)] > 0 ? json(hits[size_t(c)] / drawn[size_t(c)]) : json(nullptr)}});
  }
  return {{"overall", all_hits / double(intended.size())}, {"per_class", per_class}};
}

Tensor flat(const Tensor& images) { return images.reshape({images.size(0), -1}).to(DType::f64); }

json or_null(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Training costs from RUN/metrics.csv: the time of the training steps summed
// over the epoch and stop rows (per-epoch evaluation excluded), the last step,
// the completed epochs, the largest peak memory any epoch reported.
json training_costs(const std::string& run) {
  json c = {{"train_time_s", nullptr}, {"train_steps", nullptr}, {"epochs", nullptr},
            {"train_peak_memory_mb", nullptr}};
  const std::string path = run + "/metrics.csv";
  if (!std::filesystem::exists(path)) return c;
  MetricsTable table;
  try {
    table = read_metrics_csv(path);
  } catch (const Error& e) {  // a damaged metrics.csv costs the costs, not the evaluation
    std::fprintf(stderr, "eval: warning: %s; training costs left out\n", e.what());
    return c;
  }
  double time = 0, steps = 0, epochs = 0, peak = -1;
  for (const MetricsRow& row : table.rows) {
    if (auto s = row.number("step")) steps = std::max(steps, *s);
    // "stop" rows hold the time of an epoch cut short (Ctrl-C, --time-limit).
    if (row.kind != "epoch" && row.kind != "stop") continue;
    if (auto t = row.number("time_s")) time += *t;
    if (auto m = row.number("peak_memory_mb")) peak = std::max(peak, *m);
    if (row.kind == "epoch") ++epochs;
  }
  if (time > 0) c["train_time_s"] = time;
  c["epochs"] = int64_t(epochs);
  if (steps > 0) c["train_steps"] = int64_t(steps);
  if (peak >= 0) c["train_peak_memory_mb"] = peak;
  return c;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm utc{};
  gmtime_r(&t, &utc);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

// Each query with its k nearest training images in a row.
Tensor nearest_grid(const Tensor& queries, const Tensor& train_images, const eval::Neighbours& nn) {
  std::vector<Tensor> rows;
  for (size_t i = 0; i < nn.index.size(); ++i) {
    rows.push_back(queries.narrow(0, int64_t(i), 1));
    for (int64_t j : nn.index[i]) rows.push_back(train_images.narrow(0, j, 1));
  }
  return cat(rows, 0);
}

// The n samples are held at once (with their features and class
// probabilities) for the metrics that compare every pair: --n beyond the
// memory this machine has available is refused before the long work.
void check_eval_fits_in_memory(int64_t n, const ImageShape& image, const models::ClassifierConfig& classifier) {
  const double per_image = double(image.channels * image.height * image.width + classifier.feature_dim +
                                  classifier.classes) * sizeof(float);
  const double needed = double(n) * per_image, available = available_memory_bytes();
  constexpr double gib = 1024.0 * 1024.0 * 1024.0;
  NG_CHECK(available <= 0 || needed <= 0.8 * available, "eval: --n ", n, " needs about ", fmt("%.1f", needed / gib),
           " GiB for the samples and their features, more than the ", fmt("%.1f", available / gib),
           " GiB this machine has available; use a smaller --n (FID is usually reported at 10000 or 50000)");
}

}  // namespace

json evaluate_run(const std::string& run, const EvalOptions& o) {
  const Device device = resolve_device(o.device, o.precision);
  std::unique_ptr<EvaluatedModel> model = open_evaluated_model(run, device, o);
  return evaluate_model(*model, run, device, o);
}

EvalOptions with_defaults(EvalOptions o, const std::string& model, Device device) {
  const bool small = model == "ddpm" && !device.is_cuda();
  if (o.n == -1) o.n = small ? 1000 : 10000;
  if (o.bound_images == -1) o.bound_images = small ? 50 : 1000;
  if (o.bound_timesteps == -1) o.bound_timesteps = small ? 20 : 100;
  return o;
}

json evaluate_model(EvaluatedModel& model, const std::string& run, Device device, const EvalOptions& options) {
  const json config = read_run_config(run, "eval");
  const EvalOptions o = with_defaults(options, config.at("model").get<std::string>(), device);
  // Precision/recall need each set's k = 3 nearest neighbours besides itself.
  constexpr int64_t kMinImages = 4;
  NG_CHECK(o.n >= kMinImages, "eval: --n must be at least ", kMinImages,
           " (precision/recall need each sample's 3 nearest neighbours), got ", o.n);
  NG_CHECK(o.batch_size > 0, "eval: --batch-size must be positive, got ", o.batch_size);
  NG_CHECK(o.bound_images >= 0 && o.bound_timesteps >= 0, "eval: --bound-images and --bound-timesteps must be >= 0, got ",
           o.bound_images, " and ", o.bound_timesteps);
  // The nearest-neighbour grid has a row per query and k + 1 images a row:
  // beyond these it is a picture nobody can look at.
  NG_CHECK(o.nearest_k >= 1 && o.nearest_k <= kMaxNearestK && o.nearest_queries >= 0 &&
               o.nearest_queries <= kMaxNearestQueries,
           "eval: --nearest-k must be from 1 to ", kMaxNearestK, " and --nearest from 0 to ", kMaxNearestQueries,
           ", got ", o.nearest_k, " and ", o.nearest_queries);
  const std::string data = run_options<CommonOptions>(config, "common", run).data;

  // Everything that can be refused is checked before the long work.
  json costs = training_costs(run);
  const std::string classifier_path = o.classifier.empty() ? default_classifier_path(data) : o.classifier;
  const LoadedClassifier classifier = load_classifier(classifier_path, device);
  if (!classifier.info.data.empty() && classifier.info.data != data)
    std::fprintf(stderr, "eval: warning: the classifier was trained on '%s', the run on '%s'\n",
                 classifier.info.data.c_str(), data.c_str());
  check_eval_fits_in_memory(o.n, run_image_shape(config, run), classifier.model->config());
  const Dataset test = load_dataset_limited(data, "test", o.test_limit);
  NG_CHECK(test.size() >= kMinImages, "eval: ", data, " has ", test.size(), " test images (after --test-limit); at least ",
           kMinImages, " are needed");
  note("eval: " + run + " (" + config.at("model").get<std::string>() + ") on " + device.str() + "; features from " +
       classifier_path);

  // Samples before the training set is loaded, so that the peak memory of
  // sampling does not include it (on a CPU it is the process's peak so far).
  Generator gen(o.seed);
  model.see_test_images(test.images);
  reset_peak_memory(device);
  const models::Labels intended = intended_labels(model, o.n);
  const auto [samples, sample_seconds] = draw_samples(model, o, intended, gen);
  const double sample_peak = peak_memory_mb(device);
  std::filesystem::create_directories(run + "/eval");
  save_image_grid(run + "/eval/samples.png", samples.narrow(0, 0, std::min<int64_t>(64, o.n)), 8);

  const Dataset train = load_dataset(data, "train");
  NG_CHECK(train.size() >= kMinImages, "eval: ", data, " has ", train.size(), " training images; at least ",
           kMinImages, " are needed");

  // The feature space: generated, test and (for the real-vs-real floor) as
  // many training images as there are test images.
  note("eval: features, FID, KID, precision/recall ...");
  const Classified gen_c = classify(*classifier.model, samples, device, "samples");
  const Classified test_c = classify(*classifier.model, test.images, device, "test images");
  const Classified train_c =
      classify(*classifier.model, train.images.narrow(0, 0, std::min(test.size(), train.size())), device, "training images");
  // The classifier measured again on these test images (softmax keeps the argmax).
  const std::vector<int> predicted = models::predicted_classes(test_c.probabilities);
  int64_t correct = 0;
  for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == test.labels[i];

  const double fid = eval::fid(gen_c.features, test_c.features);
  const eval::KIDResult kid = eval::kid(gen_c.features, test_c.features, 100, 1000, o.seed);
  const eval::PrecisionRecall pr = eval::precision_recall(test_c.features, gen_c.features, 3);
  const eval::LabelStatistics labels = eval::label_statistics(gen_c.probabilities);
  const json class_accuracy = conditional_accuracy(intended, gen_c.probabilities, model.conditioning);
  const eval::KIDResult ref_kid = eval::kid(train_c.features, test_c.features, 100, 1000, o.seed);
  const eval::PrecisionRecall ref_pr = eval::precision_recall(test_c.features, train_c.features, 3);

  // Likelihood.
  BitsPerDim bpd;
  if (o.bound_images > 0) {
    note("eval: bits/dim ...");
    bpd = model.bits_per_dim(test.images.narrow(0, 0, std::min(o.bound_images, test.size())), o);
  } else {
    bpd.note = "not computed (--bound-images 0)";
  }

  // Memorisation: nearest training images in pixel space.
  note("eval: nearest training images ...");
  const Tensor train_flat = flat(train.images);
  const int64_t q = std::min(o.nearest_queries, o.n);
  eval::Neighbours nn;
  json nearest_image = nullptr;
  if (q > 0) {
    const Tensor queries = samples.narrow(0, 0, q);
    nn = eval::nearest_neighbours(flat(queries), train_flat, std::min(o.nearest_k, train.size()));
    save_image_grid(run + "/eval/nearest.png", nearest_grid(queries, train.images, nn), int64_t(nn.index[0].size()) + 1);
    nearest_image = "eval/nearest.png";
  }
  const int64_t m = std::min<int64_t>(1000, std::min(o.n, test.size()));
  const double nn_gen = eval::median_nearest_distance(flat(samples.narrow(0, 0, m)), train_flat);
  const double nn_test = eval::median_nearest_distance(flat(test.images.narrow(0, 0, m)), train_flat);

  json trajectory = nullptr;
  const Tensor strip = model.trajectory(8, 10, gen);
  if (strip.defined()) {
    save_image_grid(run + "/eval/trajectory.png", strip.to(Device::cpu()), 10);
    trajectory = "eval/trajectory.png";
  }

  costs["parameters"] = model.parameters();
  costs["extra_parameters"] = model.extra_parameters();
  costs["sample_time_per_image_ms"] = 1000.0 * sample_seconds / double(o.n);
  costs["sample_peak_memory_mb"] = sample_peak;

  json nearest = json::array();
  for (size_t i = 0; i < nn.index.size(); ++i) nearest.push_back({{"index", nn.index[i]}, {"distance", nn.distance[i]}});

  json report = {
      {"run", run},
      {"model", config.value("model", "")},
      {"data", data},
      {"device", device.str()},
      {"precision", to_string(matmul_precision())},
      {"date", utc_now()},
      {"n", o.n},
      {"seed", o.seed},
      {"sampler", model.sampler()},
      {"classifier",
       {{"path", classifier_path},
        {"feature_dim", classifier.model->config().feature_dim},
        {"test_accuracy", double(correct) / double(test.size())}}},
      {"metrics",
       {{"fid", fid},
        {"kid_mean", kid.mean},
        {"kid_std", kid.std},
        {"kid_subsets", kid.subsets},
        {"kid_subset_size", kid.subset_size},
        {"precision", pr.precision},
        {"recall", pr.recall},
        {"pr_k", pr.k},
        {"conditional_entropy", labels.conditional_entropy},
        {"marginal_entropy", labels.marginal_entropy},
        {"classifier_score", labels.classifier_score},
        {"classes_covered", labels.classes_covered},
        {"class_histogram", labels.histogram},
        {"class_accuracy", class_accuracy.at("overall")},
        {"class_accuracy_per_class", class_accuracy.at("per_class")},
        {"bits_per_dim", or_null(bpd.value)},
        {"bits_per_dim_images", bpd.images},
        {"bits_per_dim_note", bpd.note},
        {"nn_distance_median", nn_gen},
        {"nn_distance_median_test", nn_test}}},
      {"reference",
       {{"fid_train_vs_test", eval::fid(train_c.features, test_c.features)},
        {"kid_train_vs_test", ref_kid.mean},
        {"precision_train_vs_test", ref_pr.precision},
        {"recall_train_vs_test", ref_pr.recall}}},
      {"costs", costs},
      {"nearest", nearest},
      {"images", {{"samples", "eval/samples.png"}, {"nearest", nearest_image}, {"trajectory", trajectory}}}};
  const std::string text = report.dump(2) + "\n";
  write_file_atomically(run + "/eval.json", text.data(), text.size());
  return report;
}

namespace {

std::string number(const json& v, const char* format) {
  if (!v.is_number()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v.get<double>());
  return buf;
}

}  // namespace

std::string eval_table(const json& r) {
  const json& m = r.at("metrics");
  const json& ref = r.at("reference");
  const json& c = r.at("costs");
  std::ostringstream s;
  auto row = [&](const std::string& name, const std::string& value, const std::string& real = "") {
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-28s %16s  %s\n", name.c_str(), value.c_str(), real.c_str());
    s << buf;
  };
  s << r.value("run", "") << " (" << r.value("model", "") << ", " << r.value("n", 0) << " samples on "
    << r.value("device", "") << ")\n";
  row("metric", "model", "real data (train vs test)");
  row("FID", number(m["fid"], "%.3f"), number(ref["fid_train_vs_test"], "%.3f"));
  row("KID (mean +- std)", number(m["kid_mean"], "%.4g") + " +- " + number(m["kid_std"], "%.3g"),
      number(ref["kid_train_vs_test"], "%.4g"));
  row("precision (k=3)", number(m["precision"], "%.3f"), number(ref["precision_train_vs_test"], "%.3f"));
  row("recall (k=3)", number(m["recall"], "%.3f"), number(ref["recall_train_vs_test"], "%.3f"));
  row("classifier score", number(m["classifier_score"], "%.3f"));
  row("classes covered", number(m["classes_covered"], "%.0f"));
  row("label entropy H(y|x), nats", number(m["conditional_entropy"], "%.3f"));
  row("label entropy H(y), nats", number(m["marginal_entropy"], "%.3f"));
  if (m.contains("class_accuracy") && m["class_accuracy"].is_number()) {
    // A conditional model: does each sample show the class it was drawn for?
    row("class accuracy (classifier)", number(m["class_accuracy"], "%.3f"),
        "of samples the classifier puts in the class asked for");
    for (const json& one : m["class_accuracy_per_class"])
      row("  " + one.value("name", std::string()), number(one["accuracy"], "%.3f"));
  }
  row("bits/dim", number(m["bits_per_dim"], "%.3f"), m.value("bits_per_dim_note", ""));
  row("NN distance to train (median)", number(m["nn_distance_median"], "%.3f"),
      number(m["nn_distance_median_test"], "%.3f") + " (test images)");
  row("parameters", number(c["parameters"], "%.0f"),
      c.value("extra_parameters", 0) > 0 ? "+ " + number(c["extra_parameters"], "%.0f") + " (discriminator)" : "");
  row("training time, s", number(c["train_time_s"], "%.1f"), number(c["train_steps"], "%.0f") + " steps");
  row("sampling, ms/image", number(c["sample_time_per_image_ms"], "%.3f"));
  row("peak memory train, MB", number(c["train_peak_memory_mb"], "%.0f"));
  row("peak memory sampling, MB", number(c["sample_peak_memory_mb"], "%.0f"));
  return s.str();
}

}  // namespace ng::tools
