// The models' layers on the GPU against the CPU, one layer at a time, so a
// disagreement of a whole model (a parity test) points at the layer that
// causes it.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/io/safetensors.h"
#include "engine/nanogen.h"
#include "models/vae.h"
#include "support/cuda.h"
#include "support/runs.h"
#include "tools/run_folder.h"

using namespace ng;

namespace {

// Largest |a - b| over the largest |b|.
double relative_error(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to(Device::cpu()).to_vector<double>(), y = b.to_vector<double>();
  double err = 0, scale = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    err = std::max(err, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(y[i]));
  }
  return err / std::max(scale, 1e-30);
}

void expect_layers_agree(const nn::Sequential& cpu, const nn::Sequential& gpu, Tensor x, const std::string& what) {
  Tensor xg = x.to(test::gpu());
  for (size_t i = 0; i < cpu.size(); ++i) {
    x = cpu[i].forward(x);
    xg = gpu[i].forward(xg);
    EXPECT_LT(relative_error(xg, x), 1e-5) << what << " layer " << i << " " << shape_str(x.shape());
  }
}

}  // namespace

TEST(CudaModels, TheVAEParityModelLayerByLayer) {
  NG_REQUIRE_GPU();
  const SafetensorsContent fx = load_safetensors("tests/fixtures/vae_parity.safetensors");
  models::VAEConfig c;
  c.z_dim = 4;
  c.hidden = 16;
  c.conv1 = 4;
  c.conv2 = 8;
  models::VAE cpu(c), gpu(c);
  cpu.load_state_dict(tools::with_prefix_removed(fx.tensors, "param."));
  gpu.load_state_dict(tools::with_prefix_removed(fx.tensors, "param."));
  gpu.to(test::gpu());
  NoGradGuard no_grad;
  const Tensor x = fx.at("x");
  expect_layers_agree(*cpu.enc, *gpu.enc, x, "encoder");
  const Tensor z = fx.at("eps").select(0, 0);
  expect_layers_agree(*cpu.dec, *gpu.dec, z, "decoder");
  const models::ELBOTerms tc = cpu.loss(x, z), tg = gpu.loss(x.to(test::gpu()), z.to(test::gpu()));
  EXPECT_LT(relative_error(tg.recon, tc.recon), 2e-6) << "recon";
  EXPECT_LT(relative_error(tg.kl, tc.kl), 1e-5) << "kl";
}
