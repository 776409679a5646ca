#include "tools/train_gan.h"

#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "models/pixels.h"
#include "tools/class_grid.h"
#include "tools/trainer.h"

namespace ng::tools {

namespace {

models::GANObjective objective(const GANOptions& o) { return {models::parse_gan_loss(o.loss), o.gp, o.clip}; }

// D's mean output as logged: a probability for the log-odds losses, the raw
// score otherwise; a 0-dim tensor on the device.
Tensor mean_output(models::GANLoss loss, const Tensor& logits) {
  NoGradGuard no_grad;
  return models::logits_are_log_odds(loss) ? mean(sigmoid(logits)) : mean(logits);
}

class GANJob final : public TrainingJob {
 public:
  GANJob(Trainer& trainer, const GANOptions& o, models::GAN& model)
      : TrainingJob(trainer), o_(o), obj_(objective(o)), model_(model),
        opt_g_(model.g_optimized(), adam(trainer.common().lr, o)),
        opt_d_(model.d_optimized(), adam(trainer.common().lr, o)) {
    // A fixed noise batch, so the grids of successive epochs are comparable;
    // a row per class, the same 8 codes in each, for a conditional model.
    Generator fixed(Streams::fixed(trainer.common().seed));
    const GridNoise grid = grid_noise(model.config().classes, {o.z_dim}, fixed, on_device());
    z_fixed_ = grid.noise;
    labels_fixed_ = grid.labels;
  }

  CheckpointParts parts() override { return {&model_, {{"G.", &opt_g_}, {"D.", &opt_d_}}}; }
  std::vector<std::string> columns() const override {
    return {"d_loss", "g_loss",   "d_real", "d_fake",        "gp", "d_grad_norm", "g_grad_norm",
            "lr",     "it_per_s", "time_s", "peak_memory_mb"};
  }
  std::vector<std::string> averaged() const override { return {"d_loss", "g_loss", "d_real", "d_fake"}; }
  int64_t batches_per_step() const override { return o_.n_critic; }

  // n_critic discriminator steps, each on its own batch, then one generator
  // step on fresh noise (a conditional G draws the last batch's labels).
  // Nothing here waits for the GPU: the losses, D's outputs and the gradient
  // norms stay on the device until the trainer reads them and checks the
  // epoch's sums for a non-finite value.
  StepMetrics step(const std::vector<Batch>& batches, int64_t, bool log_now) override {
    models::DiscriminatorTerms dt;
    StepMetrics m;
    Tensor earlier_critics;  // the sum of the critic losses before the last
    const std::vector<Tensor> d_params = nn::tensors_of(model_.d_optimized());
    for (const Batch& batch : batches) {
      const Tensor real = batch.images.to(trainer_.device()) * 2.0 - 1.0;
      const int64_t n = real.size(0);
      const Tensor z = randn({n, o_.z_dim}, trainer_.noise(), on_device());
      const Tensor alpha = o_.gp > 0 ? rand({n}, trainer_.noise(), on_device()) : Tensor();
      if (dt.loss.defined())
        earlier_critics = earlier_critics.defined() ? earlier_critics + dt.loss.detach() : dt.loss.detach();
      dt = model_.discriminator_terms(real, z, alpha, obj_, labels_of(batch));
      opt_d_.zero_grad();
      trainer_.backward(dt.loss, d_params);
      if (log_now && &batch == &batches.back()) m.device["d_grad_norm"] = optim::grad_norm_tensor(d_params);
      opt_d_.step();
      if (o_.clip > 0) models::clip_weights(d_params, o_.clip);
    }
    const Tensor z = randn({batches[0].images.size(0), o_.z_dim}, trainer_.noise(), on_device());
    const auto [g_loss, g_logits] = model_.generator_terms(z, obj_, labels_of(batches.back()));
    opt_g_.zero_grad();
    trainer_.backward(g_loss, nn::tensors_of(model_.g_optimized()));
    if (log_now) m.device["g_grad_norm"] = optim::grad_norm_tensor(nn::tensors_of(model_.g_optimized()));
    opt_g_.step();
    m.host["lr"] = opt_g_.lr;
    // The reported d_loss is the last critic step's; x - x adds 0 to it when
    // every earlier critic loss was finite and NaN when one was not, so that
    // the trainer's check sees a divergence in any critic step.
    const Tensor d_loss = earlier_critics.defined() ? dt.loss.detach() + (earlier_critics - earlier_critics)
                                                    : dt.loss.detach();
    m.device.insert({{"d_loss", d_loss},
                     {"g_loss", g_loss.detach()},
                     {"d_real", mean_output(obj_.loss, dt.real_logits)},
                     {"d_fake", mean_output(obj_.loss, dt.fake_logits)}});
    if (dt.penalty.defined()) m.device["gp"] = dt.penalty.detach();
    return m;
  }
  std::string status(const Metrics& m) const override {
    return fmt("D %.3f", m.at("d_loss")) + fmt(" G %.3f", m.at("g_loss"));
  }

  // The generator in eval mode (its batch norm on running statistics, which
  // generating then leaves as they were) on the fixed noise.
  void save_samples(int64_t epoch, int64_t global_step) override {
    NoGradGuard no_grad;
    model_.eval();
    const Tensor images = models::signed_to_unit_pixels(model_.generate(z_fixed_, labels_fixed_));
    trainer_.run().save_sample_grid("epoch", epoch, global_step, images.to(Device::cpu()), 8);
    model_.train();
  }

  std::string end_epoch(int64_t epoch, const Metrics& means, Metrics& row) override {
    row["lr"] = opt_g_.lr;
    save_samples(epoch, int64_t(row.at("step")));
    const bool odds = models::logits_are_log_odds(obj_.loss);
    return "D loss " + fmt("%.4f", means.at("d_loss")) + ", G loss " + fmt("%.4f", means.at("g_loss")) + ", " +
           fmt(odds ? "D(x) %.3f" : "f(x) %.3f", means.at("d_real")) +
           fmt(odds ? ", D(G(z)) %.3f" : ", f(G(z)) %.3f", means.at("d_fake"));
  }

 private:
  static optim::AdamOptions adam(double lr, const GANOptions& o) {
    return {.lr = lr, .beta1 = o.beta1, .beta2 = o.beta2};
  }
  models::Labels labels_of(const Batch& batch) const {
    return model_.conditional() ? models::to_labels(batch.labels) : models::Labels{};
  }

  GANOptions o_;
  models::GANObjective obj_;
  models::GAN& model_;
  optim::Adam opt_g_, opt_d_;
  Tensor z_fixed_;
  models::Labels labels_fixed_;
};

}  // namespace

RunSummary train_gan(CommonOptions common, const GANOptions& options) {
  Trainer trainer("gan", std::move(common));
  const GANOptions o = resolve_gan_options(trainer.options(options));
  const Dataset train = trainer.dataset("train");
  const auto model = trainer.build<models::GAN>(gan_config(o, train.channels(), train.height(), train.width(),
                                                                  train.num_classes));
  GANJob job(trainer, o, *model);
  std::string how = o.loss + " loss, " + std::to_string(o.n_critic) + " D step(s) per G step";
  if (o.gp > 0) how += ", gradient penalty " + fmt("%g", o.gp);
  if (o.clip > 0) how += ", D weights clipped to " + fmt("%g", o.clip);
  const std::string kind = o.conditional ? "a conditional DCGAN (projection discriminator, " : "a DCGAN (";
  return trainer.train(job, train, {{"gan", o}},
                       kind + how + "; D norm " + o.d_norm + "; G " +
                           std::to_string(nn::count_elements(model->g_parameters())) + ", D " +
                           std::to_string(nn::count_elements(model->d_parameters())) + " parameters)");
}

}  // namespace ng::tools
