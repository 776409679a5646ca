#include "tools/train_vae.h"

#include <cstdio>
#include <filesystem>

#include "engine/data/dataset.h"
#include "engine/data/datasets.h"
#include "engine/data/loader.h"
#include "engine/io/image.h"
#include "engine/nanogen.h"
#include "engine/optim/optimizer.h"
#include "tools/interrupt.h"
#include "tools/progress.h"
#include "tools/run_folder.h"
#include "tools/sample.h"

namespace ng::tools {

namespace {

models::VAEConfig model_config(const Dataset& data, const VAEOptions& o) {
  models::VAEConfig c;
  c.channels = data.channels();
  c.height = data.height();
  c.width = data.width();
  c.z_dim = o.z_dim;
  c.likelihood = models::parse_likelihood(o.likelihood);
  c.sigma = o.sigma;
  return c;
}

nlohmann::json vae_json(const VAEOptions& o) {
  return {{"z_dim", o.z_dim}, {"likelihood", o.likelihood}, {"sigma", o.sigma}, {"beta", o.beta},
          {"kl_warmup_steps", o.kl_warmup_steps}};
}

VAEOptions vae_from_json(const nlohmann::json& j) {
  VAEOptions o;
  o.z_dim = j.value("z_dim", o.z_dim);
  o.likelihood = j.value("likelihood", o.likelihood);
  o.sigma = j.value("sigma", o.sigma);
  o.beta = j.value("beta", o.beta);
  o.kl_warmup_steps = j.value("kl_warmup_steps", o.kl_warmup_steps);
  return o;
}

Tensor first_rows(const Tensor& images, int64_t n) { return images.narrow(0, 0, std::min(n, images.size(0))); }

}  // namespace

ELBOReport evaluate_vae(const models::VAE& model, const Tensor& images, int64_t batch_size, uint64_t seed,
                        Device device) {
  NoGradGuard no_grad;
  Generator gen(seed);
  ELBOReport r;
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    const int64_t n = std::min(batch_size, images.size(0) - start);
    const Tensor x = images.narrow(0, start, n).to(device);
    const Tensor eps = randn({n, model.config().z_dim}, gen, TensorOptions{}.with_device(device));
    const models::ELBOTerms t = model.loss(x, eps);
    r.loss += t.loss.item() * double(n);
    r.recon += t.recon.item() * double(n);
    r.kl += t.kl.item() * double(n);
    r.images += n;
  }
  if (r.images > 0) {
    r.loss /= double(r.images);
    r.recon /= double(r.images);
    r.kl /= double(r.images);
  }
  return r;
}

TrainSummary train_vae(CommonOptions common, const VAEOptions& vae) {
  if (common.out.empty()) common.out = "runs/vae";
  const Device device = resolve_device(common.device);
  RunFolder run(common.out, common.resume);

  nlohmann::json config = resumed_config(run, common, "vae");
  const VAEOptions opts = config.is_null() ? vae : vae_from_json(config.at("vae"));

  const Dataset train = load_dataset_limited(common.data, "train", common.limit);
  const Dataset test = load_dataset_limited(common.data, "test", common.test_limit);
  const models::VAEConfig mc = model_config(train, opts);

  Generator init_gen(Streams::init(common.seed));
  models::VAE model(mc, init_gen);
  model.to(device);
  optim::Adam opt(model.named_parameters(), {.lr = common.lr});
  Generator noise(Streams::noise(common.seed));

  int64_t epoch = 1, step_in_epoch = 0, global_step = 0;
  if (auto ckpt = run.load_last_checkpoint()) {
    model.load_state_dict(without_prefixes(ckpt->tensors, {"optim.", "ema."}));
    opt.load_state(with_prefix_removed(ckpt->tensors, "optim."));
    const TrainingPosition p = restore_position(ckpt->metadata, noise);
    epoch = p.epoch;
    step_in_epoch = p.step_in_epoch;
    global_step = p.global_step;
    run.log("resuming " + run.path() + " at epoch " + std::to_string(epoch) + ", step " +
            std::to_string(global_step));
  } else {
    config = {{"model", "vae"}, {"common", to_json(common)}, {"vae", vae_json(opts)},
              {"image", {mc.channels, mc.height, mc.width}}};
    run.write_config(config);
    run.log("training a VAE (" + opts.likelihood + ", z=" + std::to_string(opts.z_dim) + ", " +
            std::to_string(model.num_parameters()) + " parameters) on " + train.name + " (" +
            std::to_string(train.size()) + " images) on " + device.str());
  }

  run.declare_metrics({"epoch", "step", "loss", "recon", "kl", "beta", "lr", "it_per_s", "train_loss", "train_recon",
                       "train_kl", "test_loss", "test_recon", "test_kl", "time_s", "peak_memory_mb"});

  auto checkpoint = [&](bool epoch_end) {
    const Metadata m = checkpoint_metadata("vae", {epoch, step_in_epoch, global_step}, epoch_end, noise, config);
    NamedTensors all = model.state_dict();
    for (auto& t : with_prefix(opt.state(), "optim.")) all.push_back(t);
    run.save_checkpoint(all, m, epoch, epoch_end);
  };

  // A fixed prior batch and test batch, so grids are comparable across epochs.
  Generator fixed(Streams::fixed(common.seed));
  const Tensor z_fixed = randn({64, mc.z_dim}, fixed, TensorOptions{}.with_device(device));
  // (32 images, or fewer whole rows of up to eight with a small --test-limit.)
  const int64_t recon_per_row = std::min<int64_t>(8, test.size());
  const Tensor recon_batch = first_rows(test.images, std::min<int64_t>(32, test.size() / recon_per_row * recon_per_row));

  DataLoader loader = training_loader(train, common);
  TrainSummary summary;
  summary.run = run.path();
  const int64_t steps_per_epoch = loader.num_batches();
  NG_CHECK(steps_per_epoch > 0, "vae: ", train.size(), " training images make no batch of ", common.batch_size);
  install_interrupt_handler();
  const StopRule stop(common);

  for (; epoch <= common.epochs; ++epoch) {
    start_epoch_at(loader, epoch, step_in_epoch);
    reset_peak_memory(device);
    Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(common.epochs), steps_per_epoch);
    double sum_loss = 0, sum_recon = 0, sum_kl = 0;
    int64_t seen = 0;
    model.train();
    while (auto batch = loader.next()) {
      const Tensor x = batch->images.to(device);
      const Tensor eps = randn({x.size(0), mc.z_dim}, noise, TensorOptions{}.with_device(device));
      const double beta = opts.kl_warmup_steps > 0
                              ? opts.beta * std::min(1.0, double(global_step + 1) / double(opts.kl_warmup_steps))
                              : opts.beta;
      const models::ELBOTerms t = model.loss(x, eps, beta);
      opt.zero_grad();
      t.loss.backward();
      opt.step();
      ++step_in_epoch;
      ++global_step;
      const double loss = t.loss.item();
      check_finite(loss, "vae loss", global_step);
      sum_loss += loss;
      sum_recon += t.recon.item();
      sum_kl += t.kl.item();
      ++seen;
      if (global_step % common.log_every == 0)
        run.metrics({{"epoch", double(epoch)}, {"step", double(global_step)}, {"loss", loss},
                     {"recon", t.recon.item()}, {"kl", t.kl.item()}, {"beta", beta}, {"lr", opt.lr},
                     {"it_per_s", progress.rate()}},
                    "step");
      progress.update(step_in_epoch, fmt("loss %.2f", loss));
      const bool out_of_budget = stop.reached(global_step);
      if (interrupt_requested() || (out_of_budget && step_in_epoch < steps_per_epoch)) {
        checkpoint(false);
        progress.finish(fmt("loss %.2f", seen ? sum_loss / double(seen) : 0.0));
        summary.steps = global_step;
        summary.interrupted = interrupt_requested();
        record_early_stop(run, stop, epoch, global_step, progress.elapsed_seconds());
        return summary;
      }
    }
    // The time of the training steps alone: the evaluation below is not training.
    const double train_seconds = progress.elapsed_seconds();
    progress.finish(fmt("mean loss %.2f", seen ? sum_loss / double(seen) : 0.0));

    // End of epoch: evaluate, draw, checkpoint.
    model.eval();
    const ELBOReport te = evaluate_vae(model, test.images, 256, Streams::eval(common.seed), device);
    const ELBOReport tr =
        evaluate_vae(model, first_rows(train.images, test.size()), 256, Streams::eval(common.seed), device);
    run.metrics({{"epoch", double(epoch)}, {"step", double(global_step)},
                 {"loss", seen ? sum_loss / double(seen) : 0.0}, {"recon", seen ? sum_recon / double(seen) : 0.0},
                 {"kl", seen ? sum_kl / double(seen) : 0.0}, {"train_loss", tr.loss}, {"train_recon", tr.recon},
                 {"train_kl", tr.kl}, {"test_loss", te.loss}, {"test_recon", te.recon}, {"test_kl", te.kl},
                 {"time_s", train_seconds}, {"peak_memory_mb", peak_memory_mb(device)}},
                "epoch");
    run.log("epoch " + std::to_string(epoch) + ": test -ELBO " + fmt("%.2f", te.loss) + " nats/image (recon " +
            fmt("%.2f", te.recon) + ", KL " + fmt("%.2f", te.kl) + "), train " + fmt("%.2f", tr.loss));
    {
      NoGradGuard no_grad;
      save_image_grid(run.sample_path("epoch", epoch), model.generate(z_fixed).to(Device::cpu()), 8);
      const Tensor xr = recon_batch.to(device);
      const Tensor recon = model.to_image(model.decode(model.encode(xr).first)).to(Device::cpu());
      // Originals and reconstructions in alternate rows.
      const int64_t rows = recon_batch.size(0) / recon_per_row;
      save_image_grid(run.sample_path("recon", epoch),
                      stack({recon_batch.reshape({rows, recon_per_row, mc.channels, mc.height, mc.width}),
                             recon.reshape({rows, recon_per_row, mc.channels, mc.height, mc.width})},
                            1)
                          .reshape({2 * rows * recon_per_row, mc.channels, mc.height, mc.width}),
                      recon_per_row);
    }
    step_in_epoch = 0;
    checkpoint(true);
    summary.test = te;
    summary.epochs_done = epoch;
    if (stop.reached(global_step)) {
      ++epoch;
      break;
    }
  }
  summary.steps = global_step;
  return summary;
}

std::unique_ptr<models::VAE> load_vae_run(const std::string& path, Device device) {
  const SavedRun saved = open_saved_run(path, "vae");
  const nlohmann::json& config = saved.config;
  const VAEOptions opts = vae_from_json(config.at("vae"));
  const auto image = config.at("image");
  models::VAEConfig c;
  c.channels = image[0];
  c.height = image[1];
  c.width = image[2];
  c.z_dim = opts.z_dim;
  c.likelihood = models::parse_likelihood(opts.likelihood);
  c.sigma = opts.sigma;
  auto model = std::make_unique<models::VAE>(c);
  model->load_state_dict(without_prefixes(saved.checkpoint.tensors, {"optim.", "ema."}));
  model->to(device);
  model->eval();
  return model;
}

Tensor sample_vae_run(const std::string& run, const SampleOptions& o) {
  const Device device = resolve_device(o.device);
  auto model = load_vae_run(run, device);
  Generator gen(o.seed);
  NoGradGuard no_grad;
  const Tensor z = randn({o.n, model->config().z_dim}, gen, TensorOptions{}.with_device(device));
  return model->generate(z).to(Device::cpu());
}

}  // namespace ng::tools
