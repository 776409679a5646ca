#include "tools/train_gan.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/data/dataset.h"
#include "engine/data/loader.h"
#include "engine/io/image.h"
#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "models/pixels.h"
#include "tools/interrupt.h"
#include "tools/progress.h"
#include "tools/run_folder.h"
#include "tools/sample.h"

namespace ng::tools {

namespace {

nlohmann::json gan_json(const GANOptions& o) {
  return {{"loss", o.loss},     {"z_dim", o.z_dim},       {"g_width", o.g_width}, {"d_width", o.d_width},
          {"d_norm", o.d_norm}, {"n_critic", o.n_critic}, {"gp", o.gp},           {"clip", o.clip},
          {"beta1", o.beta1},   {"beta2", o.beta2}};
}

GANOptions gan_from_json(const nlohmann::json& j) {
  GANOptions o;
  o.loss = j.value("loss", o.loss);
  o.z_dim = j.value("z_dim", o.z_dim);
  o.g_width = j.value("g_width", o.g_width);
  o.d_width = j.value("d_width", o.d_width);
  o.d_norm = j.value("d_norm", o.d_norm);
  o.n_critic = j.value("n_critic", o.n_critic);
  o.gp = j.value("gp", o.gp);
  o.clip = j.value("clip", o.clip);
  o.beta1 = j.value("beta1", o.beta1);
  o.beta2 = j.value("beta2", o.beta2);
  return o;
}

models::GANConfig model_config(int64_t channels, int64_t height, int64_t width, const GANOptions& o) {
  models::GANConfig c;
  c.channels = channels;
  c.height = height;
  c.width = width;
  c.z_dim = o.z_dim;
  c.g_width = o.g_width;
  c.d_width = o.d_width;
  c.d_norm = models::parse_d_norm(o.d_norm);
  return c;
}

models::GANObjective objective(const GANOptions& o) {
  return {models::parse_gan_loss(o.loss), o.gp, o.clip};
}

// The joint L2 norm of a set of parameters' gradients.
double grad_norm(const nn::NamedTensors& params) {
  std::vector<Tensor> tensors;
  for (const auto& [name, p] : params) tensors.push_back(p);
  return optim::grad_norm(tensors);
}

// D's mean output as logged: a probability for the log-odds losses, the raw score otherwise.
double mean_output(models::GANLoss loss, const Tensor& logits) {
  NoGradGuard no_grad;
  return (models::logits_are_log_odds(loss) ? mean(sigmoid(logits)) : mean(logits)).item();
}

}  // namespace

GANOptions resolve_gan_options(GANOptions o) {
  const models::GANLoss loss = models::parse_gan_loss(o.loss);
  const bool wasserstein = loss == models::GANLoss::wasserstein;
  NG_CHECK(o.gp >= 0, "gan: --gp must be non-negative, got ", o.gp);
  if (o.n_critic == 0) o.n_critic = wasserstein ? 5 : 1;
  NG_CHECK(o.n_critic >= 1, "gan: --n-critic must be at least 1, got ", o.n_critic);
  if (o.clip < 0) o.clip = wasserstein && o.gp == 0 ? 0.01 : 0.0;
  if (o.d_norm == "auto") o.d_norm = o.gp > 0 ? "none" : "batch";
  NG_CHECK(!(o.gp > 0 && models::parse_d_norm(o.d_norm) == models::DNorm::batch),
           "gan: --gp needs --d-norm none or layer: batch norm makes each critic value depend on the whole batch, "
           "so the per-sample input gradient the penalty constrains is not defined");
  NG_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "gan: Adam's betas (", o.beta1, ", ",
           o.beta2, ") must lie in [0, 1)");
  return o;
}

GANSummary train_gan(CommonOptions common, const GANOptions& gan) {
  if (common.out.empty()) common.out = "runs/gan";
  const Device device = resolve_device(common.device);
  RunFolder run(common.out, common.resume);

  nlohmann::json config = resumed_config(run, common, "gan");
  const GANOptions opts = resolve_gan_options(config.is_null() ? gan : gan_from_json(config.at("gan")));
  const models::GANObjective obj = objective(opts);

  const Dataset train = load_dataset_limited(common.data, "train", common.limit);
  const models::GANConfig mc = model_config(train.channels(), train.height(), train.width(), opts);

  Generator init_gen(Streams::init(common.seed));
  models::GAN model(mc, init_gen);
  model.to(device);
  const nn::NamedTensors g_params = model.G->named_parameters(), d_params = model.D->named_parameters();
  const optim::AdamOptions adam{.lr = common.lr, .beta1 = opts.beta1, .beta2 = opts.beta2};
  optim::Adam opt_g(g_params, adam), opt_d(d_params, adam);
  Generator noise(Streams::noise(common.seed));

  int64_t epoch = 1, step_in_epoch = 0, global_step = 0;
  if (auto ckpt = run.load_last_checkpoint()) {
    model.load_state_dict(without_prefixes(ckpt->tensors, {"optim.", "ema."}));
    opt_g.load_state(with_prefix_removed(ckpt->tensors, "optim.G."));
    opt_d.load_state(with_prefix_removed(ckpt->tensors, "optim.D."));
    const TrainingPosition p = restore_position(ckpt->metadata, noise);
    epoch = p.epoch;
    step_in_epoch = p.step_in_epoch;
    global_step = p.global_step;
    run.log("resuming " + run.path() + " at epoch " + std::to_string(epoch) + ", step " +
            std::to_string(global_step));
  } else {
    config = {{"model", "gan"}, {"common", to_json(common)}, {"gan", gan_json(opts)},
              {"image", {mc.channels, mc.height, mc.width}}};
    run.write_config(config);
    std::string how = opts.loss + " loss, " + std::to_string(opts.n_critic) + " D step(s) per G step";
    if (opts.gp > 0) how += ", gradient penalty " + fmt("%g", opts.gp);
    if (opts.clip > 0) how += ", D weights clipped to " + fmt("%g", opts.clip);
    run.log("training a DCGAN (" + how + "; D norm " + opts.d_norm + "; G " +
            std::to_string(model.G->num_parameters()) + ", D " + std::to_string(model.D->num_parameters()) +
            " parameters) on " + train.name + " (" + std::to_string(train.size()) + " images) on " + device.str());
  }

  run.declare_metrics({"epoch", "step", "d_loss", "g_loss", "d_real", "d_fake", "gp", "d_grad_norm", "g_grad_norm",
                       "lr", "it_per_s", "time_s", "peak_memory_mb"});

  auto checkpoint = [&](bool epoch_end) {
    const Metadata m = checkpoint_metadata("gan", {epoch, step_in_epoch, global_step}, epoch_end, noise, config);
    NamedTensors all = model.state_dict();
    for (auto& t : with_prefix(opt_g.state(), "optim.G.")) all.push_back(t);
    for (auto& t : with_prefix(opt_d.state(), "optim.D.")) all.push_back(t);
    run.save_checkpoint(all, m, epoch, epoch_end);
  };

  // A fixed noise batch, so the grids of successive epochs are comparable.
  Generator fixed(Streams::fixed(common.seed));
  const Tensor z_fixed = randn({64, mc.z_dim}, fixed, TensorOptions{}.with_device(device));
  const TensorOptions on_device = TensorOptions{}.with_device(device);

  DataLoader loader = training_loader(train, common);
  const int64_t steps_per_epoch = loader.num_batches() / opts.n_critic;
  NG_CHECK(steps_per_epoch > 0, "gan: ", train.size(), " training images make fewer than ", opts.n_critic,
           " batches of ", common.batch_size, " (one generator step)");
  GANSummary summary;
  summary.run = run.path();
  install_interrupt_handler();
  const StopRule stop(common);

  for (; epoch <= common.epochs; ++epoch) {
    start_epoch_at(loader, epoch, step_in_epoch * opts.n_critic);
    reset_peak_memory(device);
    Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(common.epochs), steps_per_epoch);
    double sum_d = 0, sum_g = 0, sum_real = 0, sum_fake = 0;
    int64_t seen = 0;
    auto summarise = [&] {
      const double n = seen ? double(seen) : 1.0;
      summary.d_loss = sum_d / n;
      summary.g_loss = sum_g / n;
      summary.d_real = sum_real / n;
      summary.d_fake = sum_fake / n;
    };
    auto status = [&](double d, double g) { return fmt("D %.3f", d) + fmt(" G %.3f", g); };
    model.train();
    while (step_in_epoch < steps_per_epoch) {
      const bool log_now = (global_step + 1) % common.log_every == 0;
      // n_critic discriminator steps, each on its own batch.
      models::DiscriminatorTerms dt;
      double d_norm = 0;
      for (int64_t k = 0; k < opts.n_critic; ++k) {
        const std::optional<Batch> batch = loader.next();
        NG_CHECK(batch.has_value(), "gan: the epoch ran out of batches");
        const Tensor real = batch->images.to(device) * 2.0 - 1.0;
        const int64_t n = real.size(0);
        const Tensor z = randn({n, mc.z_dim}, noise, on_device);
        const Tensor alpha = opts.gp > 0 ? rand({n}, noise, on_device) : Tensor();
        dt = model.discriminator_terms(real, z, alpha, obj);
        opt_d.zero_grad();
        dt.loss.backward();
        if (log_now && k + 1 == opts.n_critic) d_norm = grad_norm(d_params);
        opt_d.step();
        if (opts.clip > 0) models::clip_weights(model.D->parameters(), opts.clip);
        check_finite(dt.loss.item(), "the discriminator loss", global_step + 1);
      }
      // One generator step on fresh noise.
      const Tensor z = randn({common.batch_size, mc.z_dim}, noise, on_device);
      const auto [g_loss, g_logits] = model.generator_terms(z, obj);
      opt_g.zero_grad();
      g_loss.backward();
      const double g_norm = log_now ? grad_norm(g_params) : 0.0;
      opt_g.step();
      ++step_in_epoch;
      ++global_step;
      const double d = dt.loss.item(), g = g_loss.item();
      check_finite(g, "the generator loss", global_step);
      const double d_real = mean_output(obj.loss, dt.real_logits), d_fake = mean_output(obj.loss, dt.fake_logits);
      sum_d += d;
      sum_g += g;
      sum_real += d_real;
      sum_fake += d_fake;
      ++seen;
      if (log_now) {
        std::map<std::string, double> row{{"epoch", double(epoch)}, {"step", double(global_step)},
                                          {"d_loss", d},           {"g_loss", g},
                                          {"d_real", d_real},      {"d_fake", d_fake},
                                          {"d_grad_norm", d_norm}, {"g_grad_norm", g_norm},
                                          {"lr", opt_g.lr},        {"it_per_s", progress.rate()}};
        if (dt.penalty.defined()) row["gp"] = dt.penalty.item();
        run.metrics(row, "step");
      }
      progress.update(step_in_epoch, status(d, g));
      const bool out_of_budget = stop.reached(global_step);
      if (interrupt_requested() || (out_of_budget && step_in_epoch < steps_per_epoch)) {
        checkpoint(false);
        summarise();
        progress.finish(status(summary.d_loss, summary.g_loss));
        summary.steps = global_step;
        summary.interrupted = interrupt_requested();
        record_early_stop(run, stop, epoch, global_step, progress.elapsed_seconds());
        return summary;
      }
    }
    summarise();
    // The time of the training steps alone: the evaluation below is not training.
    const double train_seconds = progress.elapsed_seconds();
    progress.finish("mean " + status(summary.d_loss, summary.g_loss));

    // End of epoch: log, draw the fixed noise batch, checkpoint.
    run.metrics({{"epoch", double(epoch)}, {"step", double(global_step)}, {"d_loss", summary.d_loss},
                 {"g_loss", summary.g_loss}, {"d_real", summary.d_real}, {"d_fake", summary.d_fake},
                 {"lr", opt_g.lr}, {"time_s", train_seconds},
                 {"peak_memory_mb", peak_memory_mb(device)}},
                "epoch");
    const char* out_name = models::logits_are_log_odds(obj.loss) ? "D(x) %.3f" : "f(x) %.3f";
    const char* fake_name = models::logits_are_log_odds(obj.loss) ? ", D(G(z)) %.3f" : ", f(G(z)) %.3f";
    run.log("epoch " + std::to_string(epoch) + ": D loss " + fmt("%.4f", summary.d_loss) + ", G loss " +
            fmt("%.4f", summary.g_loss) + ", " + fmt(out_name, summary.d_real) + fmt(fake_name, summary.d_fake) +
            " (" + format_duration(progress.elapsed_seconds()) + ")");
    {
      NoGradGuard no_grad;
      model.eval();
      save_image_grid(run.sample_path("epoch", epoch), models::signed_to_unit_pixels(model.generate(z_fixed)).to(Device::cpu()),
                      8);
      model.train();
    }
    step_in_epoch = 0;
    checkpoint(true);
    summary.epochs_done = epoch;
    if (stop.reached(global_step)) {
      ++epoch;
      break;
    }
  }
  summary.steps = global_step;
  return summary;
}

std::unique_ptr<models::GAN> load_gan_run(const std::string& path, Device device) {
  const SavedRun saved = open_saved_run(path, "gan");
  const nlohmann::json& config = saved.config;
  const GANOptions opts = resolve_gan_options(gan_from_json(config.at("gan")));
  const auto image = config.at("image");
  auto model = std::make_unique<models::GAN>(model_config(image[0], image[1], image[2], opts));
  model->load_state_dict(without_prefixes(saved.checkpoint.tensors, {"optim.", "ema."}));
  model->to(device);
  model->eval();
  return model;
}

Tensor sample_gan_run(const std::string& run, const SampleOptions& o) {
  const Device device = resolve_device(o.device);
  auto model = load_gan_run(run, device);
  Generator gen(o.seed);
  NoGradGuard no_grad;
  const Tensor z = randn({o.n, model->config().z_dim}, gen, TensorOptions{}.with_device(device));
  return models::signed_to_unit_pixels(model->generate(z)).to(Device::cpu());
}

}  // namespace ng::tools
