#include "tools/train_ddpm.h"

#include "engine/nanogen.h"
#include "engine/optim/ema.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "models/guidance.h"
#include "models/pixels.h"
#include "tools/class_grid.h"
#include "tools/cli.h"
#include "tools/eval_models.h"
#include "tools/progress.h"
#include "tools/trainer.h"

namespace ng::tools {

namespace {

class DDPMJob final : public TrainingJob {
 public:
  DDPMJob(Trainer& trainer, const DDPMOptions& o, models::UNet& model, const Dataset& test)
      : TrainingJob(trainer), o_(o), model_(model), diffusion_(diffusion_of(o)), ema_model_(model.config(), unused_),
        opt_(model.named_parameters(), {.lr = trainer.common().lr}),
        ema_(model, o.ema_decay), lr_schedule_{.base_lr = trainer.common().lr, .warmup_steps = o.warmup_steps},
        test_(test.images) {
    ema_model_.to(trainer_.device());  // holds the averaged weights when sampling
    ema_model_.eval();
    model_.set_dropout_generator(trainer_.noise());
    // A fixed x_T (and a fixed sampling-noise stream after it), so grids are
    // comparable across epochs; a row per class, the same 8 x_T in each, for
    // a conditional model.
    const models::UNetConfig& c = model.config();
    const GridNoise grid = grid_noise(c.classes, {c.channels, c.height, c.width}, fixed_, on_device());
    x_T_ = grid.noise;
    labels_fixed_ = grid.labels;
    const bool gpu = trainer_.device().is_cuda();
    bound_images_ = std::min(test.size(), o.bound_images >= 0 ? o.bound_images : (gpu ? 256 : 8));
    // The bound uses the null label, which --label-dropout 0 never trains.
    if (model.conditional() && o.label_dropout == 0) bound_images_ = 0;
    bound_timesteps_ = o.bound_timesteps >= 0 ? o.bound_timesteps : (gpu ? 100 : 20);
  }

  CheckpointParts parts() override { return {&model_, {{"", &opt_}}, &ema_}; }
  std::vector<std::string> columns() const override {
    return {"loss",          "lr",          "grad_norm", "ema_decay", "it_per_s",      "bpd", "bpd_prior",
            "bpd_diffusion", "bpd_decoder", "sample_s",  "time_s",    "peak_memory_mb"};
  }
  std::vector<std::string> averaged() const override { return {"loss"}; }

  // Nothing here waits for the GPU: the loss and the gradient norm stay on
  // the device until the trainer reads them.
  StepMetrics step(const std::vector<Batch>& batches, int64_t global_step, bool) override {
    const Tensor x0 = batches[0].images.to(trainer_.device()) * 2.0 - 1.0;
    const Tensor t = diffusion_->sample_timesteps(x0.size(0), trainer_.noise(), x0.device());
    // A conditional model trains with a fraction of the labels dropped (models/guidance.h).
    const models::EpsPredictor predictor =
        model_.conditional()
            ? models::labelled_predictor(model_, models::drop_labels(models::to_labels(batches[0].labels),
                                                                     o_.label_dropout, model_.null_label(),
                                                                     trainer_.noise()))
            : models::unconditional_predictor(model_);
    const Tensor loss = diffusion_->loss(predictor, x0, t, trainer_.noise());  // eps drawn in the fused q_sample
    opt_.zero_grad();
    trainer_.backward(loss, model_.parameters());
    const Tensor grad_norm = o_.grad_clip > 0 ? optim::clip_grad_norm(model_.parameters(), o_.grad_clip)
                                              : scalar_tensor(0.0, TensorOptions{}.with_dtype(DType::f64));
    opt_.lr = lr_schedule_.at(global_step);
    opt_.step();
    ema_.update(model_);
    StepMetrics m({{"lr", opt_.lr}, {"ema_decay", ema_.current_decay()}});
    m.device = {{"loss", loss.detach()}, {"grad_norm", grad_norm}};
    return m;
  }
  std::string status(const Metrics& m) const override { return fmt("loss %.4f", m.at("loss")); }

  void save_samples(int64_t epoch, int64_t global_step) override {
    ema_.copy_to(ema_model_);
    draw_samples(epoch, global_step);
  }

  // Samples and the bound from the EMA weights.
  std::string end_epoch(int64_t epoch, const Metrics& means, Metrics& row) override {
    ema_.copy_to(ema_model_);
    row["sample_s"] = draw_samples(epoch, int64_t(row.at("step")));
    last_epoch_loss = means.at("loss");
    if (!done_an_epoch_) first_epoch_loss = last_epoch_loss;
    done_an_epoch_ = true;
    if (bound_images_ == 0) return "mean L_simple " + fmt("%.4f", last_epoch_loss);
    models::BoundOptions bo;
    bo.timesteps = bound_timesteps_;
    bo.seed = Streams::eval(trainer_.common().seed);
    LazyProgress bar("bound");
    bo.progress = bar.callback();
    const Tensor x0 = test_.narrow(0, 0, bound_images_).to(trainer_.device()) * 2.0 - 1.0;
    bound = models::variational_bound(*diffusion_, models::unconditional_predictor(ema_model_), x0, bo);
    bar.finish("");
    row.insert({{"bpd", bound.total},
                {"bpd_prior", bound.prior},
                {"bpd_diffusion", bound.diffusion},
                {"bpd_decoder", bound.decoder}});
    return "mean L_simple " + fmt("%.4f", last_epoch_loss) + ", test bound " + fmt("%.3f", bound.total) +
           " bits/dim (L_T " + fmt("%.4f", bound.prior) + ", L_1..T-1 " + fmt("%.3f", bound.diffusion) + ", L_0 " +
           fmt("%.3f", bound.decoder) + "; " + std::to_string(bound_images_) + " images, " +
           std::to_string(bound.per_t.size()) + " strata of t)";
  }

  double last_epoch_loss = 0, first_epoch_loss = 0;
  models::BoundTerms bound;

 private:
  // The grid of x_0 and the trajectories (a row per sample, x_T on the left);
  // returns the seconds sampling took.
  double draw_samples(int64_t epoch, int64_t global_step) {
    LazyProgress bar("sampling");
    models::SamplerOptions so;
    so.sampler = models::parse_sampler(o_.sample_sampler);
    so.steps = o_.sample_steps > 0 ? o_.sample_steps : default_sampling_steps(so.sampler, trainer_.device());
    so.eta = o_.sample_eta;
    so.snapshots = 10;
    so.progress = bar.callback();
    Generator sample_noise = fixed_;
    const models::EpsPredictor predictor = ema_model_.conditional()
                                               ? models::guided_predictor(ema_model_, labels_fixed_, o_.guidance_scale)
                                               : models::unconditional_predictor(ema_model_);
    const models::SampleResult r = models::sample(*diffusion_, predictor, x_T_, so, sample_noise);
    bar.finish(o_.sample_sampler + ", " + std::to_string(models::sampling_timesteps(o_.timesteps, so.steps).size()) +
               " steps");
    trainer_.run().save_sample_grid("epoch", epoch, global_step,
                                    models::signed_to_unit_pixels(r.x0).to(Device::cpu()), 8);
    const Tensor strip = stack(r.trajectory, 1);  // [rows, snapshots, C, H, W]
    trainer_.run().save_sample_grid(
        "trajectory", epoch, global_step,
        models::signed_to_unit_pixels(
            strip.reshape({strip.size(0) * strip.size(1), strip.size(2), strip.size(3), strip.size(4)})),
        strip.size(1));
    return bar.elapsed_seconds();
  }

  DDPMOptions o_;
  models::UNet& model_;
  std::unique_ptr<models::Diffusion> diffusion_;
  Generator unused_{0};
  models::UNet ema_model_;
  optim::Adam opt_;
  optim::EMA ema_;
  optim::Schedule lr_schedule_;
  Tensor test_, x_T_;
  models::Labels labels_fixed_;
  Generator fixed_{Streams::fixed(trainer_.common().seed)};
  int64_t bound_images_ = 0, bound_timesteps_ = 0;
  bool done_an_epoch_ = false;
};

}  // namespace

DDPMSummary train_ddpm(CommonOptions common, const DDPMOptions& options) {
  Trainer trainer("ddpm", std::move(common));
  const DDPMOptions o = trainer.options(options);
  NG_CHECK(o.ema_decay >= 0 && o.ema_decay < 1, "ddpm: --ema-decay must be in [0, 1), got ", o.ema_decay);
  const Dataset train = trainer.dataset("train"), test = trainer.dataset("test");
  const auto model = trainer.build<models::UNet>(unet_config(o, train.channels(), train.height(), train.width(),
                                                                    train.num_classes));
  const models::UNetConfig& c = model->config();
  DDPMJob job(trainer, o, *model, test);
  DDPMSummary s;
  static_cast<RunSummary&>(s) =
      trainer.train(job, train, {{"ddpm", o}},
                    std::string(c.classes > 0 ? "a class-conditional DDPM (guidance " + fmt("%g", o.guidance_scale) +
                                                    ", label dropout " + fmt("%g", o.label_dropout) + "; "
                                              : "a DDPM (") +
                        "U-Net base " + std::to_string(c.base) + ", mults " + models::int_list_str(c.mults) +
                        ", attention at " + (c.attention_res.empty() ? "none" : models::int_list_str(c.attention_res)) +
                        " + the middle, " + std::to_string(model->num_parameters()) + " parameters; " + o.schedule +
                        " schedule, T=" + std::to_string(o.timesteps) + ")");
  s.last_epoch_loss = job.last_epoch_loss;
  s.first_epoch_loss = job.first_epoch_loss;
  s.bound = job.bound;
  return s;
}

}  // namespace ng::tools
