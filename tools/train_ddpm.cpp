#include "tools/train_ddpm.h"

#include <cstdio>
#include <filesystem>

#include "engine/data/dataset.h"
#include "engine/data/loader.h"
#include "engine/io/image.h"
#include "engine/nanogen.h"
#include "engine/optim/ema.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "models/pixels.h"
#include "tools/cli.h"
#include "tools/interrupt.h"
#include "tools/progress.h"
#include "tools/run_folder.h"
#include "tools/sample.h"

namespace ng::tools {

namespace {

nlohmann::json ddpm_json(const DDPMOptions& o) {
  return {{"schedule", o.schedule},
          {"timesteps", o.timesteps},
          {"sigma", o.sigma},
          {"base_channels", o.base_channels},
          {"channel_mults", o.channel_mults},
          {"attention_res", o.attention_res},
          {"blocks", o.blocks},
          {"groups", o.groups},
          {"temb_dim", o.temb_dim},
          {"dropout", o.dropout},
          {"ema_decay", o.ema_decay},
          {"grad_clip", o.grad_clip},
          {"warmup_steps", o.warmup_steps},
          {"sample_sampler", o.sample_sampler},
          {"sample_steps", o.sample_steps},
          {"sample_eta", o.sample_eta},
          {"bound_images", o.bound_images},
          {"bound_timesteps", o.bound_timesteps}};
}

DDPMOptions ddpm_from_json(const nlohmann::json& j) {
  DDPMOptions o;
  o.schedule = j.value("schedule", o.schedule);
  o.timesteps = j.value("timesteps", o.timesteps);
  o.sigma = j.value("sigma", o.sigma);
  o.base_channels = j.value("base_channels", o.base_channels);
  o.channel_mults = j.value("channel_mults", o.channel_mults);
  o.attention_res = j.value("attention_res", o.attention_res);
  o.blocks = j.value("blocks", o.blocks);
  o.groups = j.value("groups", o.groups);
  o.temb_dim = j.value("temb_dim", o.temb_dim);
  o.dropout = j.value("dropout", o.dropout);
  o.ema_decay = j.value("ema_decay", o.ema_decay);
  o.grad_clip = j.value("grad_clip", o.grad_clip);
  o.warmup_steps = j.value("warmup_steps", o.warmup_steps);
  o.sample_sampler = j.value("sample_sampler", o.sample_sampler);
  o.sample_steps = j.value("sample_steps", o.sample_steps);
  o.sample_eta = j.value("sample_eta", o.sample_eta);
  o.bound_images = j.value("bound_images", o.bound_images);
  o.bound_timesteps = j.value("bound_timesteps", o.bound_timesteps);
  return o;
}

std::unique_ptr<models::Diffusion> make_diffusion(const DDPMOptions& o) {
  return std::make_unique<models::Diffusion>(models::parse_beta_schedule(o.schedule), o.timesteps,
                                             models::parse_reverse_variance(o.sigma));
}

models::EpsPredictor predictor_of(models::UNet& model) {
  return [&model](const Tensor& x, const std::vector<int64_t>& t) { return model.forward(x, t); };
}

// Images in [-1, 1] -> [0, 1] for PNGs.

// Sampler settings; steps = 0 picks a default for the per-epoch grids: 20
// DDIM steps on a CPU, 100 on a GPU, the whole chain for ancestral sampling.
models::SamplerOptions sampler_options(const std::string& sampler, int64_t steps, double eta, bool gpu) {
  models::SamplerOptions so;
  so.sampler = models::parse_sampler(sampler);
  so.steps = steps > 0 ? steps : (so.sampler == models::Sampler::ddim ? (gpu ? 100 : 20) : 0);
  so.eta = eta;
  return so;
}

}  // namespace

models::UNetConfig unet_config(const DDPMOptions& o, int64_t channels, int64_t height, int64_t width) {
  models::UNetConfig c;
  c.channels = channels;
  c.height = height;
  c.width = width;
  c.base = o.base_channels;
  c.mults = parse_int_list(o.channel_mults, "--channel-mults");
  c.attention_res = o.attention_res.empty() || o.attention_res == "none"
                        ? std::vector<int64_t>{}
                        : parse_int_list(o.attention_res, "--attention-res");
  c.blocks = o.blocks;
  c.groups = o.groups;
  c.temb_dim = o.temb_dim > 0 ? o.temb_dim : 4 * o.base_channels;
  c.dropout = o.dropout;
  return c;
}

models::EpsPredictor DDPMRun::predictor() const { return predictor_of(*model); }

DDPMSummary train_ddpm(CommonOptions common, const DDPMOptions& ddpm) {
  if (common.out.empty()) common.out = "runs/ddpm";
  const Device device = resolve_device(common.device);
  RunFolder run(common.out, common.resume);

  nlohmann::json config = resumed_config(run, common, "ddpm");
  const DDPMOptions opts = config.is_null() ? ddpm : ddpm_from_json(config.at("ddpm"));
  NG_CHECK(opts.ema_decay >= 0 && opts.ema_decay < 1, "ddpm: --ema-decay must be in [0, 1), got ", opts.ema_decay);

  const Dataset train = load_dataset_limited(common.data, "train", common.limit);
  const Dataset test = load_dataset_limited(common.data, "test", common.test_limit);
  const models::UNetConfig mc = unet_config(opts, train.channels(), train.height(), train.width());
  const std::unique_ptr<models::Diffusion> diffusion = make_diffusion(opts);
  const bool gpu = device.is_cuda();

  Generator init_gen(Streams::init(common.seed));
  models::UNet model(mc, init_gen);
  model.to(device);
  Generator unused(0);
  models::UNet ema_model(mc, unused);  // holds the averaged weights when sampling
  ema_model.to(device);
  ema_model.eval();
  optim::Adam opt(model.named_parameters(), {.lr = common.lr});
  optim::EMA ema(model, opts.ema_decay);
  optim::Schedule lr_schedule{.base_lr = common.lr, .warmup_steps = opts.warmup_steps};
  Generator noise(Streams::noise(common.seed));
  model.set_dropout_generator(noise);
  const models::EpsPredictor net = predictor_of(model), ema_net = predictor_of(ema_model);

  int64_t epoch = 1, step_in_epoch = 0, global_step = 0;
  if (auto ckpt = run.load_last_checkpoint()) {
    model.load_state_dict(without_prefixes(ckpt->tensors, {"optim.", "ema."}));
    opt.load_state(with_prefix_removed(ckpt->tensors, "optim."));
    ema.load_state(with_prefix(with_prefix_removed(ckpt->tensors, "ema."), "ema."));
    const TrainingPosition p = restore_position(ckpt->metadata, noise);
    epoch = p.epoch;
    step_in_epoch = p.step_in_epoch;
    global_step = p.global_step;
    run.log("resuming " + run.path() + " at epoch " + std::to_string(epoch) + ", step " +
            std::to_string(global_step));
  } else {
    config = {{"model", "ddpm"}, {"common", to_json(common)}, {"ddpm", ddpm_json(opts)},
              {"image", {mc.channels, mc.height, mc.width}}};
    run.write_config(config);
    run.log("training a DDPM (U-Net base " + std::to_string(mc.base) + ", mults " + models::int_list_str(mc.mults) +
            ", attention at " + (mc.attention_res.empty() ? "none" : models::int_list_str(mc.attention_res)) +
            " + the middle, " + std::to_string(model.num_parameters()) + " parameters; " + opts.schedule +
            " schedule, T=" + std::to_string(opts.timesteps) + ") on " + train.name + " (" +
            std::to_string(train.size()) + " images) on " + device.str());
  }

  run.declare_metrics({"epoch", "step", "loss", "lr", "grad_norm", "ema_decay", "it_per_s", "bpd", "bpd_prior",
                       "bpd_diffusion", "bpd_decoder", "sample_s", "time_s", "peak_memory_mb"});

  auto checkpoint = [&](bool epoch_end) {
    const Metadata m = checkpoint_metadata("ddpm", {epoch, step_in_epoch, global_step}, epoch_end, noise, config);
    NamedTensors all = model.state_dict();
    for (auto& t : with_prefix(opt.state(), "optim.")) all.push_back(t);
    for (auto& t : ema.state()) all.push_back(t);
    run.save_checkpoint(all, m, epoch, epoch_end);
  };

  // A fixed x_T (and a fixed sampling-noise stream), so grids are comparable across epochs.
  Generator fixed(Streams::fixed(common.seed));
  const Tensor x_T = randn({64, mc.channels, mc.height, mc.width}, fixed, TensorOptions{}.with_device(device));
  const Generator sample_noise_start = fixed;  // the blocks after x_T's, replayed every epoch
  const int64_t bound_images = std::min(test.size(), opts.bound_images >= 0 ? opts.bound_images : (gpu ? 256 : 8));
  const int64_t bound_timesteps = opts.bound_timesteps >= 0 ? opts.bound_timesteps : (gpu ? 100 : 20);

  DataLoader loader = training_loader(train, common);
  DDPMSummary summary;
  summary.run = run.path();
  const int64_t steps_per_epoch = loader.num_batches();
  NG_CHECK(steps_per_epoch > 0, "ddpm: ", train.size(), " training images make no batch of ", common.batch_size);
  install_interrupt_handler();
  const StopRule stop(common);
  bool first_epoch = true;

  for (; epoch <= common.epochs; ++epoch) {
    start_epoch_at(loader, epoch, step_in_epoch);
    reset_peak_memory(device);
    Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(common.epochs), steps_per_epoch, 25);
    double sum_loss = 0;
    int64_t seen = 0;
    model.train();
    while (auto batch = loader.next()) {
      const Tensor x0 = batch->images.to(device) * 2.0 - 1.0;
      const std::vector<int64_t> t = diffusion->sample_timesteps(x0.size(0), noise);
      const Tensor eps = randn(x0.shape(), noise, TensorOptions{}.with_device(device));
      const Tensor loss = diffusion->loss(net, x0, t, eps);
      opt.zero_grad();
      loss.backward();
      const double grad_norm = opts.grad_clip > 0 ? optim::clip_grad_norm(model.parameters(), opts.grad_clip) : 0.0;
      opt.lr = lr_schedule.at(global_step);
      opt.step();
      ema.update(model);
      ++step_in_epoch;
      ++global_step;
      const double l = loss.item();
      check_finite(l, "ddpm loss", global_step);
      sum_loss += l;
      ++seen;
      if (global_step % common.log_every == 0)
        run.metrics({{"epoch", double(epoch)}, {"step", double(global_step)}, {"loss", l}, {"lr", opt.lr},
                     {"grad_norm", grad_norm}, {"ema_decay", ema.current_decay()}, {"it_per_s", progress.rate()}},
                    "step");
      progress.update(step_in_epoch, fmt("loss %.4f", l));
      const bool out_of_budget = stop.reached(global_step);
      if (interrupt_requested() || (out_of_budget && step_in_epoch < steps_per_epoch)) {
        checkpoint(false);
        progress.finish(fmt("loss %.4f", seen ? sum_loss / double(seen) : 0.0));
        summary.steps = global_step;
        summary.interrupted = interrupt_requested();
        record_early_stop(run, stop, epoch, global_step, progress.elapsed_seconds());
        return summary;
      }
    }
    const double mean_loss = seen ? sum_loss / double(seen) : 0.0;
    // The time of the training steps alone: the evaluation below is not training.
    const double train_seconds = progress.elapsed_seconds();
    progress.finish(fmt("mean loss %.4f", mean_loss));

    // End of epoch: samples and the bound from the EMA weights, then a checkpoint.
    ema.copy_to(ema_model);
    std::map<std::string, double> row{{"epoch", double(epoch)}, {"step", double(global_step)}, {"loss", mean_loss}};
    {
      LazyProgress bar("sampling");
      models::SamplerOptions so = sampler_options(opts.sample_sampler, opts.sample_steps, opts.sample_eta, gpu);
      so.snapshots = 10;
      so.progress = bar.callback();
      Generator sample_noise = sample_noise_start;
      const models::SampleResult r = models::sample(*diffusion, ema_net, x_T, so, sample_noise);
      bar.finish(opts.sample_sampler + ", " + std::to_string(models::sampling_timesteps(opts.timesteps, so.steps).size()) +
                 " steps");
      row["sample_s"] = bar.elapsed_seconds();
      save_image_grid(run.sample_path("epoch", epoch), models::signed_to_unit_pixels(r.x0).to(Device::cpu()), 8);
      // One row per sample, x_T on the left to x_0 on the right.
      const int64_t snaps = int64_t(r.trajectory.size()), rows = r.trajectory.front().size(0);
      save_image_grid(run.sample_path("trajectory", epoch),
                      models::signed_to_unit_pixels(stack(r.trajectory, 1).reshape({snaps * rows, mc.channels, mc.height, mc.width})),
                      snaps);
    }
    std::string bound_text;
    if (bound_images > 0) {
      models::BoundOptions bo;
      bo.timesteps = bound_timesteps;
      bo.seed = Streams::eval(common.seed);
      LazyProgress bar("bound");
      bo.progress = bar.callback();
      const Tensor x0 = test.images.narrow(0, 0, bound_images).to(device) * 2.0 - 1.0;
      summary.bound = models::variational_bound(*diffusion, ema_net, x0, bo);
      bar.finish("");
      const models::BoundTerms& b = summary.bound;
      row.insert({{"bpd", b.total}, {"bpd_prior", b.prior}, {"bpd_diffusion", b.diffusion}, {"bpd_decoder", b.decoder}});
      bound_text = ", test bound " + fmt("%.3f", b.total) + " bits/dim (L_T " + fmt("%.4f", b.prior) + ", L_1..T-1 " +
                   fmt("%.3f", b.diffusion) + ", L_0 " + fmt("%.3f", b.decoder) + "; " + std::to_string(bound_images) +
                   " images, " + std::to_string(b.per_t.size()) + " strata of t)";
    }
    row["time_s"] = train_seconds;
    row["peak_memory_mb"] = peak_memory_mb(device);  // training, sampling and the bound
    run.metrics(row, "epoch");
    run.log("epoch " + std::to_string(epoch) + ": mean L_simple " + fmt("%.4f", mean_loss) + bound_text);
    step_in_epoch = 0;
    checkpoint(true);
    summary.epochs_done = epoch;
    summary.last_epoch_loss = mean_loss;
    if (first_epoch) summary.first_epoch_loss = mean_loss;
    first_epoch = false;
    if (stop.reached(global_step)) {
      ++epoch;
      break;
    }
  }
  summary.steps = global_step;
  return summary;
}

DDPMRun load_ddpm_run(const std::string& path, Device device, bool use_ema) {
  const SavedRun saved = open_saved_run(path, "ddpm");
  const nlohmann::json& config = saved.config;
  DDPMRun r;
  r.options = ddpm_from_json(config.at("ddpm"));
  const auto image = config.at("image");
  r.model = std::make_unique<models::UNet>(unet_config(r.options, image[0], image[1], image[2]));
  r.diffusion = make_diffusion(r.options);
  if (use_ema)
    r.model->load_state_dict(with_prefix_removed(without_prefixes(saved.checkpoint.tensors, {"ema.updates"}), "ema."));
  else
    r.model->load_state_dict(without_prefixes(saved.checkpoint.tensors, {"optim.", "ema."}));
  r.model->to(device);
  r.model->eval();
  return r;
}

Tensor sample_ddpm_run(const std::string& run, const SampleOptions& o) {
  const Device device = resolve_device(o.device);
  const DDPMRun r = load_ddpm_run(run, device);
  const models::UNetConfig& c = r.model->config();
  Generator gen(o.seed);
  const Tensor x_T = randn({o.n, c.channels, c.height, c.width}, gen, TensorOptions{}.with_device(device));
  models::SamplerOptions so;
  so.sampler = models::parse_sampler(o.sampler);
  so.steps = o.steps;  // 0: every timestep, for either sampler
  so.eta = o.eta;
  LazyProgress bar("sampling");
  so.progress = bar.callback();
  const models::SampleResult s = models::sample(*r.diffusion, r.predictor(), x_T, so, gen);
  bar.finish(o.sampler + ", " + std::to_string(models::sampling_timesteps(r.diffusion->T(), so.steps).size()) +
              " steps");
  return models::signed_to_unit_pixels(s.x0).to(Device::cpu());
}

}  // namespace ng::tools
