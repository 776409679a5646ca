// The summaries the commands print when they end, each built once as JSON
// and printed either as that JSON (--json) or as text rendered from it
// (tools/cli.h's print_summary), so the two forms cannot drift apart. Each
// is defined next to its command (cli_vae.cpp, cli_sample.cpp, ...); they
// are declared here so that the tests can check them without running one.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tools/train_classifier.h"
#include "tools/train_ddpm.h"
#include "tools/train_vae.h"
#include "tools/trainer.h"

namespace ng::tools {

// What every `train <model>` reports: {"model", "run", "steps", "epochs",
// "interrupted", "last_means": {the last epoch's (or partial epoch's) means}}.
nlohmann::json train_summary_json(const std::string& model, const RunSummary& s);
// "run: ...\nsteps: ...\nepochs: ...\n".
std::string train_summary_text(const nlohmann::json& summary);

// Adds "test": {"neg_elbo", "recon", "kl", "images"} (null when not evaluated).
nlohmann::json vae_summary_json(const VAESummary& s);
std::string vae_summary_text(const nlohmann::json& summary);
nlohmann::json gan_summary_json(const RunSummary& s);
std::string gan_summary_text(const nlohmann::json& summary);
// Adds "last_epoch_loss" (L_simple) and "bound": {"bits_per_dim", "prior",
// "diffusion", "decoder", "images"} (null when not computed).
nlohmann::json ddpm_summary_json(const DDPMSummary& s);
std::string ddpm_summary_text(const nlohmann::json& summary);
// Adds "test": {"accuracy", "loss", "images"} and "classifier" (the file).
nlohmann::json classifier_summary_json(const ClassifierSummary& s);
std::string classifier_summary_text(const nlohmann::json& summary);

// `nanogen sample`: {"run", "out", "n", "nrow", "seed"}; the text is the PNG's path.
std::string sample_summary_text(const nlohmann::json& summary);

// `nanogen eval`: eval.json's report with "eval_json" (its path) added; the
// text is the table and a line naming the file.
nlohmann::json eval_summary_json(const nlohmann::json& report, const std::string& run);
std::string eval_summary_text(const nlohmann::json& summary);

// `nanogen runs`: one line per run of the JSON array of tools/run_status.h's
// run_status_json (a header row first).
std::string runs_table(const nlohmann::json& runs);
// `nanogen show`: run_details_json as sections of text.
std::string run_details_text(const nlohmann::json& details);

}  // namespace ng::tools
