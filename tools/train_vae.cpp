#include "tools/train_vae.h"

#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "tools/class_grid.h"
#include "tools/trainer.h"

namespace ng::tools {

namespace {

Tensor first_rows(const Tensor& images, int64_t n) { return images.narrow(0, 0, std::min(n, images.size(0))); }

// A conditional model's labels of the first n images (none for an unconditional one).
models::Labels first_labels(const models::VAE& model, const Dataset& d, int64_t n) {
  if (!model.conditional()) return {};
  return models::to_labels(std::vector<int>(d.labels.begin(), d.labels.begin() + std::min(n, d.size())));
}

class VAEJob final : public TrainingJob {
 public:
  VAEJob(Trainer& trainer, const VAEOptions& o, models::VAE& model, const Dataset& train, const Dataset& test)
      : TrainingJob(trainer), o_(o), model_(model), opt_(model.named_parameters(), {.lr = trainer.common().lr}),
        test_(test.images), train_head_(first_rows(train.images, test.size())),
        test_labels_(first_labels(model, test, test.size())),
        train_head_labels_(first_labels(model, train, test.size())) {
    // A fixed prior batch and test batch, so grids are comparable across epochs
    // (32 test images, or fewer whole rows of up to eight with a small --test-limit).
    // A conditional model's grid has a row per class, the same 8 codes in each.
    Generator fixed(Streams::fixed(trainer_.common().seed));
    const GridNoise grid = grid_noise(model.config().classes, {o.z_dim}, fixed, on_device());
    z_fixed_ = grid.noise;
    labels_fixed_ = grid.labels;
    per_row_ = std::min<int64_t>(8, test.size());
    recon_batch_ = first_rows(test.images, std::min<int64_t>(32, test.size() / per_row_ * per_row_));
    recon_labels_ = first_labels(model, test, recon_batch_.size(0));
  }

  CheckpointParts parts() override { return {&model_, {{"", &opt_}}}; }
  std::vector<std::string> columns() const override {
    return {"loss",        "recon",    "kl",        "beta",       "lr",      "it_per_s", "train_loss",
            "train_recon", "train_kl", "test_loss", "test_recon", "test_kl", "time_s",   "peak_memory_mb"};
  }
  std::vector<std::string> averaged() const override { return {"loss", "recon", "kl"}; }

  StepMetrics step(const std::vector<Batch>& batches, int64_t global_step, bool) override {
    const Tensor x = batches[0].images.to(trainer_.device());
    const Tensor eps = randn({x.size(0), o_.z_dim}, trainer_.noise(), on_device());
    const double warmup = o_.kl_warmup_steps > 0 ? double(global_step + 1) / double(o_.kl_warmup_steps) : 1.0;
    const double beta = o_.beta * std::min(1.0, warmup);
    const models::ELBOTerms t =
        model_.loss(x, eps, beta, model_.conditional() ? models::to_labels(batches[0].labels) : models::Labels{});
    opt_.zero_grad();
    trainer_.backward(t.loss, model_.parameters());
    opt_.step();
    StepMetrics m({{"beta", beta}, {"lr", opt_.lr}});
    m.device = {{"loss", t.loss.detach()}, {"recon", t.recon.detach()}, {"kl", t.kl.detach()}};
    return m;
  }
  std::string status(const Metrics& m) const override { return fmt("loss %.2f", m.at("loss")); }

  std::string end_epoch(int64_t epoch, const Metrics&, Metrics& row) override {
    model_.eval();
    last_test = models::evaluate_elbo(model_, test_, 256, Streams::eval(trainer_.common().seed), trainer_.device(),
                                      test_labels_);
    const models::ELBOReport tr = models::evaluate_elbo(model_, train_head_, 256, Streams::eval(trainer_.common().seed),
                                                        trainer_.device(), train_head_labels_);
    row.insert({{"train_loss", tr.loss},
                {"train_recon", tr.recon},
                {"train_kl", tr.kl},
                {"test_loss", last_test.loss},
                {"test_recon", last_test.recon},
                {"test_kl", last_test.kl}});
    save_samples(epoch, int64_t(row.at("step")));
    return "test -ELBO " + fmt("%.2f", last_test.loss) + " nats/image (recon " + fmt("%.2f", last_test.recon) +
           ", KL " + fmt("%.2f", last_test.kl) + "), train " + fmt("%.2f", tr.loss);
  }

  // Samples from the fixed prior batch; originals and reconstructions in alternate rows.
  void save_samples(int64_t epoch, int64_t global_step) override {
    NoGradGuard no_grad;
    const bool was_training = model_.is_training();
    model_.eval();
    trainer_.run().save_sample_grid("epoch", epoch, global_step,
                                    model_.generate(z_fixed_, labels_fixed_).to(Device::cpu()), 8);
    const Tensor mu = model_.encode(recon_batch_.to(trainer_.device()), recon_labels_).first;
    const Tensor recon = model_.to_image(model_.decode(mu, recon_labels_));
    const models::VAEConfig& c = model_.config();
    const std::vector<int64_t> rows = {recon_batch_.size(0) / per_row_, per_row_, c.channels, c.height, c.width};
    const Tensor pairs = stack({recon_batch_.reshape(rows), recon.to(Device::cpu()).reshape(rows)}, 1);
    trainer_.run().save_sample_grid("recon", epoch, global_step,
                                    pairs.reshape({2 * recon_batch_.size(0), c.channels, c.height, c.width}), per_row_);
    if (mu.size(0) >= 2)  // a pair of test images to walk between
      trainer_.run().save_sample_grid("interpolation", epoch, global_step, interpolation(mu).to(Device::cpu()),
                                      kInterpolationSteps);
    if (was_training) model_.train();
  }

  models::ELBOReport last_test;

 private:
  static constexpr int64_t kInterpolationSteps = 10;

  // A row per pair of test images (1st and 2nd, 3rd and 4th, ...; at most 8
  // rows): the images decoded from 10 codes on the straight line between
  // their posterior means, so each row walks from one image to the other
  // through what the latent space holds between them. A conditional model
  // decodes a row with its first image's label: the row walks between the
  // two styles within that class.
  Tensor interpolation(const Tensor& mu) const {
    std::vector<Tensor> codes;
    models::Labels labels;
    for (int64_t p = 0; p + 1 < mu.size(0) && p < 16; p += 2)
      for (int64_t k = 0; k < kInterpolationSteps; ++k) {
        const double t = double(k) / double(kInterpolationSteps - 1);
        codes.push_back(mu.narrow(0, p, 1) * (1.0 - t) + mu.narrow(0, p + 1, 1) * t);
        if (model_.conditional()) labels.push_back(recon_labels_[size_t(p)]);
      }
    return model_.generate(cat(codes, 0), labels);
  }

  VAEOptions o_;
  models::VAE& model_;
  optim::Adam opt_;
  Tensor test_, train_head_, z_fixed_, recon_batch_;
  models::Labels test_labels_, train_head_labels_, labels_fixed_, recon_labels_;
  int64_t per_row_ = 8;
};

}  // namespace

VAESummary train_vae(CommonOptions common, const VAEOptions& options) {
  Trainer trainer("vae", std::move(common));
  const VAEOptions o = trainer.options(options);
  const Dataset train = trainer.dataset("train"), test = trainer.dataset("test");
  const auto model = trainer.build<models::VAE>(vae_config(o, train.channels(), train.height(), train.width(),
                                                                  train.num_classes));
  VAEJob job(trainer, o, *model, train, test);
  VAESummary summary;
  const std::string what = std::string(o.conditional ? "a conditional VAE (" : "a VAE (") + o.likelihood +
                           ", z=" + std::to_string(o.z_dim) + ", " + std::to_string(model->num_parameters()) +
                           " parameters)";
  static_cast<RunSummary&>(summary) = trainer.train(job, train, {{"vae", o}}, what);
  summary.test = job.last_test;
  return summary;
}

}  // namespace ng::tools
