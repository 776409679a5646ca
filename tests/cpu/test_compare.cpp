// `nanogen compare`: the report's pieces (escaping, base64, PNG headers,
// number formats, SVG charts), the page built from synthetic run
// folders, and the page rendered by headless Chromium.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/io/image.h"
#include "engine/nanogen.h"
#include "support/gradcheck.h"
#include "support/temp_dir.h"
#include "tools/compare.h"
#include "tools/html.h"
#include "tools/report_format.h"
#include "tools/svg_chart.h"

using namespace ng;
using namespace ng::tools;
using ng::test::read_bytes;
using ng::test::TempDir;
using ng::test::write_bytes;
namespace fs = std::filesystem;

namespace {

// An independent decoder (a lookup of each character's 6 bits), to read the page's images back.
std::string base64_decode(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    const size_t v = alphabet.find(c);
    if (v == std::string::npos) ADD_FAILURE() << "not a base64 character: " << c;
    bits = bits << 6 | uint32_t(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += char((bits >> count) & 0xff);
    }
  }
  return out;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The "points" attribute of the chart series named `name`, as (x, y) pairs.
std::vector<std::pair<double, double>> series_points(const std::string& html, const std::string& name) {
  const std::string key = "data-series=\"" + name + "\"";
  const size_t at = html.find(key);
  if (at == std::string::npos) return {};
  const size_t from = html.find("points=\"", at) + 8, to = html.find('"', from);
  std::vector<std::pair<double, double>> out;
  std::stringstream ss(html.substr(from, to - from));
  for (std::string pair; ss >> pair;) {
    const size_t comma = pair.find(',');
    out.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return out;
}

// A PNG grid of n random gray images, different for every seed.
void random_grid(const std::string& path, int64_t n, uint64_t seed, int64_t nrow = 8) {
  Generator gen(seed);
  fs::create_directories(fs::path(path).parent_path());
  save_image_grid(path, rand({n, 1, 28, 28}, gen), nrow);
}

// 16 RGB images in a 4x4 grid: pure red and black 4x4 checks, a pattern no other
// part of the page has, so that it can be found in a screenshot.
void checkered_red_grid(const std::string& path) {
  std::vector<float> v(16 * 3 * 28 * 28, 0.0f);
  for (int64_t n = 0; n < 16; ++n)
    for (int64_t y = 0; y < 28; ++y)
      for (int64_t x = 0; x < 28; ++x) v[size_t(((n * 3 + 0) * 28 + y) * 28 + x)] = (y / 4 + x / 4) % 2 ? 0.0f : 1.0f;
  fs::create_directories(fs::path(path).parent_path());
  save_image_grid(path, from_vector(v, {16, 3, 28, 28}), 4);
}

void write_text(const std::string& path, const std::string& text) { write_bytes(path, text); }

nlohmann::json eval_json(const std::string& run, const std::string& model) {
  return {{"run", run}, {"model", model}, {"data", "fashion-mnist"}, {"device", "cpu"},
          {"date", "2026-11-25T17:00:00Z"}, {"n", 1000}, {"seed", 0}, {"sampler", nullptr},
          {"classifier", {{"path", "classifiers/fashion-mnist.safetensors"}, {"feature_dim", 128}, {"test_accuracy", 0.91}}},
          {"reference", {{"fid_train_vs_test", 1.234}, {"kid_train_vs_test", 0.0001},
                         {"precision_train_vs_test", 0.81}, {"recall_train_vs_test", 0.79}}},
          {"images", {{"samples", "eval/samples.png"}, {"nearest", "eval/nearest.png"}, {"trajectory", nullptr}}}};
}

// Three evaluated runs: a VAE whose folder name needs escaping, a GAN with
// seven epochs (four shown), missing numbers and no nearest.png, and a DDPM with
// trajectories. Returns the PNGs the page should embed.
struct Runs {
  std::string vae, gan, ddpm;
  std::set<std::string> embedded;  // pictures the page must show
  std::set<std::string> left_out;  // pictures it must not (epochs beyond the subset)
};

Runs make_runs(const TempDir& dir) {
  Runs r{dir.file("vae & <friends>"), dir.file("gan"), dir.file("ddpm"), {}, {}};

  // VAE: everything present.
  write_text(r.vae + "/config.json", R"({"model":"vae","common":{"data":"fashion-mnist","device":"cpu","epochs":3}})");
  write_text(r.vae + "/metrics.csv",
             "kind,epoch,step,loss,recon,kl,beta,lr,it_per_s,train_loss,train_recon,train_kl,test_loss,test_recon,"
             "test_kl,time_s\n"
             "step,1,10,400,380,20,1,0.001,50,,,,,,,\n"
             "step,1,20,300,275,25,1,0.001,50,,,,,,,\n"
             "epoch,1,20,350,330,22,,,,340,320,20,345,325,20,1.5\n"
             "step,2,30,280,255,25,1,0.001,50,,,,,,,\n"
             "step,2,40,260,234,26,1,0.001,50,,,,,,,\n"
             "epoch,2,40,270,245,25,,,,265,240,25,268,243,25,1.4\n"
             "epoch,3,60,255,230,25,,,,250,225,25,258,233,25,1.4\n");
  nlohmann::json ve = eval_json(r.vae, "vae");
  ve["metrics"] = {{"fid", 12.3456}, {"kid_mean", 0.0112}, {"kid_std", 0.0009}, {"kid_subsets", 100},
                   {"kid_subset_size", 1000}, {"precision", 0.7}, {"recall", 0.5}, {"pr_k", 3},
                   {"conditional_entropy", 0.3}, {"marginal_entropy", 2.29}, {"classifier_score", 7.1},
                   {"classes_covered", 10}, {"class_histogram", {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}},
                   {"bits_per_dim", 4.9}, {"bits_per_dim_images", 1000},
                   {"bits_per_dim_note", "importance-weighted bound, K=64 <per image>"},
                   {"nn_distance_median", 3.1}, {"nn_distance_median_test", 3.3}};
  ve["costs"] = {{"parameters", 1234567}, {"train_time_s", 300.0}, {"train_steps", 60}, {"epochs", 3},
                 {"train_peak_memory_mb", 900.0}, {"sample_time_per_image_ms", 0.5}, {"sample_peak_memory_mb", 800.0}};
  write_text(r.vae + "/eval.json", ve.dump(2));
  checkered_red_grid(r.vae + "/eval/samples.png");
  random_grid(r.vae + "/eval/nearest.png", 48, 2, 6);
  for (int e = 1; e <= 3; ++e) random_grid(r.vae + "/samples/epoch_00" + std::to_string(e) + ".png", 64, 10 + e);
  random_grid(r.vae + "/samples/recon_003.png", 64, 20);
  random_grid(r.vae + "/samples/recon_002.png", 64, 21);  // not the last: left out
  for (const char* f : {"/eval/samples.png", "/eval/nearest.png", "/samples/epoch_001.png", "/samples/epoch_002.png",
                        "/samples/epoch_003.png", "/samples/recon_003.png"})
    r.embedded.insert(r.vae + f);
  r.left_out.insert(r.vae + "/samples/recon_002.png");

  // GAN: seven epochs (the first, last and two evenly spaced shown), worse numbers, nulls, no nearest.png.
  write_text(r.gan + "/config.json", R"({"model":"gan","common":{"data":"fashion-mnist","device":"cpu","epochs":7}})");
  std::string csv = "kind,epoch,step,d_loss,g_loss,d_real,d_fake,gp,d_grad_norm,g_grad_norm,lr,it_per_s,time_s\n";
  for (int e = 1; e <= 7; ++e) {
    csv += "step," + std::to_string(e) + "," + std::to_string(10 * e) + ",1.2,0.8,0.6,0.4,,1,1,0.0002,30,\n";
    csv += "epoch," + std::to_string(e) + "," + std::to_string(10 * e) + ",1.1,0.9,0.6,0.4,,,,0.0002,,2\n";
  }
  write_text(r.gan + "/metrics.csv", csv);
  nlohmann::json gan_eval = eval_json(r.gan, "gan");
  gan_eval["metrics"] = {{"fid", 30.1}, {"kid_mean", 0.03}, {"kid_std", nullptr}, {"precision", 0.75}, {"recall", nullptr},
                   {"classifier_score", 6.0}, {"classes_covered", 8}, {"conditional_entropy", 0.5},
                   {"marginal_entropy", 2.0}, {"bits_per_dim", nullptr}, {"nn_distance_median", 3.0},
                   {"nn_distance_median_test", 3.3}};
  gan_eval["costs"] = {{"parameters", 2000000}, {"train_time_s", nullptr}, {"train_steps", 70}, {"epochs", 7}};
  write_text(r.gan + "/eval.json", gan_eval.dump(2));
  random_grid(r.gan + "/eval/samples.png", 64, 3);
  for (int e = 1; e <= 7; ++e) random_grid(r.gan + "/samples/epoch_00" + std::to_string(e) + ".png", 64, 30 + e);
  r.embedded.insert(r.gan + "/eval/samples.png");
  for (int e : {1, 3, 5, 7}) r.embedded.insert(r.gan + "/samples/epoch_00" + std::to_string(e) + ".png");
  for (int e : {2, 4, 6}) r.left_out.insert(r.gan + "/samples/epoch_00" + std::to_string(e) + ".png");

  // DDPM: the bound per epoch and trajectories.
  write_text(r.ddpm + "/config.json", R"({"model":"ddpm","common":{"data":"fashion-mnist","device":"cpu","epochs":2}})");
  write_text(r.ddpm + "/metrics.csv",
             "kind,epoch,step,loss,lr,grad_norm,ema_decay,it_per_s,bpd,bpd_prior,bpd_diffusion,bpd_decoder,sample_s,"
             "time_s\n"
             "step,1,10,0.9,0.0002,1,0.99,5,,,,,,\n"
             "step,1,20,0.2,0.0002,1,0.99,5,,,,,,\n"
             "epoch,1,20,0.5,,,,,5.0,0.0001,4,1,2,10\n"
             "step,2,30,0.08,0.0002,1,0.99,5,,,,,,\n"
             "epoch,2,30,0.08,,,,,4.0,0.0001,3,1,2,10\n");
  nlohmann::json de = eval_json(r.ddpm, "ddpm");
  de["sampler"] = {{"name", "ddim"}, {"steps", 100}, {"eta", 0.0}};
  de["metrics"] = {{"fid", 8.0}, {"kid_mean", 0.008}, {"kid_std", 0.001}, {"precision", 0.65}, {"recall", 0.6},
                   {"bits_per_dim", 3.9}, {"bits_per_dim_note", "variational bound, 100 strata of t"},
                   {"nn_distance_median", 3.2}, {"nn_distance_median_test", 3.3}};
  de["images"]["trajectory"] = "eval/trajectory.png";
  write_text(r.ddpm + "/eval.json", de.dump(2));
  random_grid(r.ddpm + "/eval/samples.png", 64, 4);
  random_grid(r.ddpm + "/eval/nearest.png", 48, 5, 6);
  random_grid(r.ddpm + "/eval/trajectory.png", 40, 6, 10);
  for (int e = 1; e <= 2; ++e) random_grid(r.ddpm + "/samples/epoch_00" + std::to_string(e) + ".png", 64, 40 + e);
  random_grid(r.ddpm + "/samples/trajectory_001.png", 110, 50, 11);
  random_grid(r.ddpm + "/samples/trajectory_002.png", 110, 51, 11);
  for (const char* f : {"/eval/samples.png", "/eval/nearest.png", "/eval/trajectory.png", "/samples/epoch_001.png",
                        "/samples/epoch_002.png", "/samples/trajectory_002.png"})
    r.embedded.insert(r.ddpm + f);
  r.left_out.insert(r.ddpm + "/samples/trajectory_001.png");
  return r;
}

// The row of the metrics table whose label starts with `label`.
std::string table_row(const std::string& html, const std::string& label) {
  for (size_t at = html.find("<th scope=\"row\""); at != std::string::npos; at = html.find("<th scope=\"row\"", at + 1))
    if (html.compare(html.find('>', at) + 1, label.size(), label) == 0) return html.substr(at, html.find("</tr>", at) - at);
  return "";
}

}  // namespace

// ---- the pieces --------------------------------------------------------------

TEST(Html, EscapesTheFiveSpecialCharacters) {
  EXPECT_EQ(html_escape("a & b <c> \"d\" 'e'"), "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39;");
  EXPECT_EQ(html_escape("plain"), "plain");
}

TEST(Html, Base64MatchesRfc4648Vectors) {
  // RFC 4648, section 10.
  const std::map<std::string, std::string> vectors{{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : vectors) EXPECT_EQ(base64_encode(in), out) << in;
  // Every byte value survives a round trip through the independent decoder.
  std::string all;
  for (int i = 0; i < 256; ++i) all += char(i);
  EXPECT_EQ(base64_decode(base64_encode(all)), all);
}

TEST(Html, PngSizeReadsTheHeaderAndRefusesOtherFiles) {
  TempDir dir;
  random_grid(dir.file("g.png"), 5, 1, 4);  // 2 rows of 4: 4*30+2 wide, 2*30+2 high
  const PngSize size = png_size(read_bytes(dir.file("g.png")), "g.png");
  EXPECT_EQ(size.width, 122);
  EXPECT_EQ(size.height, 62);
  test::expect_error([] { png_size("GIF89a and more bytes than a header", "x.gif"); }, {"x.gif", "not a PNG"});
}

TEST(Html, TableEscapesHoverTextAndChecksRowLength) {
  HtmlTable t({text_cell(""), text_cell("a<b")}, "metrics");
  t.add_row({text_cell("row"), Cell{"1.00", "best", "note \"x\""}});
  EXPECT_EQ(t.html(),
            "<table class=\"metrics\">\n<thead><tr><th scope=\"col\"></th><th scope=\"col\">a&lt;b</th></tr></thead>\n"
            "<tbody>\n<tr><th scope=\"row\">row</th><td class=\"best\" title=\"note &quot;x&quot;\">1.00</td></tr>\n"
            "</tbody>\n</table>\n");
  test::expect_error([&] { t.add_row({text_cell("short")}); }, {"HtmlTable", "1 cells", "header of 2"});
}

TEST(ReportFormat, Numbers) {
  EXPECT_EQ(format_fixed(12.3456, 2), "12.35");
  EXPECT_EQ(format_fixed(std::nullopt, 2), "\u2013");
  EXPECT_EQ(format_fixed(NAN, 2), "\u2013");
  EXPECT_EQ(format_significant(0.0112, 3), "0.0112");
  EXPECT_EQ(format_significant(0.011, 3), "0.0110");
  EXPECT_EQ(format_significant(12.345, 3), "12.3");
  EXPECT_EQ(format_significant(0.0001, 3), "1.00e-04");
  EXPECT_EQ(format_count(3296961), "3,296,961");
  EXPECT_EQ(format_count(999), "999");
  EXPECT_EQ(format_count(1000), "1,000");
  EXPECT_EQ(format_seconds(300), "5m00s");
  EXPECT_EQ(format_seconds(2.25), "2.2s");
}

TEST(SvgChart, TicksAreRoundNumbers) {
  EXPECT_EQ(nice_ticks(0, 1, 5), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  EXPECT_EQ(nice_ticks(3, 47, 4), (std::vector<double>{10, 20, 30, 40}));
  EXPECT_EQ(log_ticks(0.01, 10), (std::vector<double>{0.01, 0.1, 1, 10}));
  EXPECT_EQ(log_ticks(1, 10), (std::vector<double>{1, 2, 5, 10}));
}

TEST(SvgChart, MapsValuesIntoThePlotArea) {
  // 560x300 with a 64-pixel left margin, 24 right, 46 top and bottom: the plot
  // spans x 64..536 and y 254..46; y ticks every 2 keep the range [0, 10].
  const std::string svg = svg_line_chart({{"a", {0, 5, 10}, {0, 5, 10}}, {"b & c", {0, 10}, {10, NAN}}},
                                         {"Title <1>", "step", "loss", 560, 300, false});
  EXPECT_EQ(series_points(svg, "a"), (std::vector<std::pair<double, double>>{{64, 254}, {300, 150}, {536, 46}}));
  EXPECT_EQ(series_points(svg, "b &amp; c"), (std::vector<std::pair<double, double>>{{64, 46}}));  // NaN left out
  EXPECT_EQ(count_of(svg, "<polyline class=\"series\""), 2u);
  EXPECT_NE(svg.find("Title &lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">10</text>"), std::string::npos);  // a tick label
  // A log axis leaves non-positive values out and spans whole decades: 0.1 at the bottom, 1 at the top.
  const std::string log_svg = svg_line_chart({{"l", {1, 2, 3}, {1, 0.1, -1}}}, {"t", "x", "y", 560, 300, true});
  const auto p = series_points(log_svg, "l");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_DOUBLE_EQ(p[0].second, 46.0);
  EXPECT_DOUBLE_EQ(p[1].second, 254.0);
  // Nothing to draw: a note instead of a polyline.
  const std::string empty = svg_line_chart({{"e", {}, {}}}, {"t", "x", "y", 560, 300, false});
  EXPECT_EQ(count_of(empty, "<polyline"), 0u);
  EXPECT_NE(empty.find("no data"), std::string::npos);
}

// ---- the page ------------------------------------------------------------------

TEST(Compare, PageHoldsEveryRunsNumbersPicturesAndCurves) {
  TempDir dir;
  const Runs runs = make_runs(dir);
  const std::string path = write_comparison({runs.vae, runs.gan, runs.ddpm}, dir.file("report"));
  EXPECT_EQ(path, dir.file("report") + "/report.html");
  ASSERT_TRUE(fs::exists(path));
  const std::string html = read_bytes(path);

  // The names, escaped; the raw name appears nowhere.
  EXPECT_NE(html.find("vae &amp; &lt;friends&gt;"), std::string::npos);
  EXPECT_EQ(html.find("vae & <friends>"), std::string::npos);
  EXPECT_NE(html.find(">gan<"), std::string::npos);
  EXPECT_NE(html.find(">ddpm<"), std::string::npos);

  // FID: formatted, the lowest (the DDPM's) marked best, the real data's in its own column.
  const std::string fid = table_row(html, "FID");
  EXPECT_NE(fid.find("<td>12.35</td><td>30.10</td><td class=\"best\">8.00</td><td class=\"reference\">1.23</td>"),
            std::string::npos)
      << fid;
  // KID: mean ± std; the GAN's std is null, so its cell has the mean alone.
  const std::string kid = table_row(html, "KID");
  EXPECT_NE(kid.find(" title=\"100 subsets of 1,000\">0.0112 \u00b1 0.0009</td>"), std::string::npos) << kid;
  EXPECT_NE(kid.find(">0.0300</td>"), std::string::npos) << kid;
  EXPECT_NE(kid.find("<td class=\"reference\">1.00e-04</td>"), std::string::npos) << kid;
  // Precision: higher is better (the GAN). Recall: the GAN's is null, shown as a dash.
  EXPECT_NE(table_row(html, "Precision").find("<td title=\"k = 3 nearest neighbours\">0.700</td>"), std::string::npos)
      << table_row(html, "Precision");
  EXPECT_NE(table_row(html, "Precision").find("<td class=\"best\">0.750</td>"), std::string::npos)
      << table_row(html, "Precision");
  EXPECT_NE(table_row(html, "Recall").find("<span class=\"missing\">\u2013</span>"), std::string::npos);
  // Bits/dim: lower wins (the DDPM), the GAN's null is a dash, the notes are escaped footnotes.
  const std::string bpd = table_row(html, "Bits/dim");
  EXPECT_NE(bpd.find("<td class=\"best\" title=\"variational bound, 100 strata of t\">3.900"), std::string::npos) << bpd;
  EXPECT_NE(bpd.find("<span class=\"missing\">\u2013</span>"), std::string::npos) << bpd;
  EXPECT_NE(html.find("importance-weighted bound, K=64 &lt;per image&gt;"), std::string::npos);
  // Counts and costs.
  EXPECT_NE(table_row(html, "Parameters").find("1,234,567"), std::string::npos);
  EXPECT_NE(table_row(html, "Training time").find("5m00s"), std::string::npos);
  EXPECT_NE(html.find("<dl class=\"legend\">"), std::string::npos);
  // The intro line: model, data, device, epochs, steps, the sampler.
  EXPECT_NE(html.find("DDPM on fashion-mnist \u00b7 cpu \u00b7 2 epochs \u00b7 30 steps \u00b7 1,000 samples evaluated "
                      "(ddim, 100 steps, \u03b7 0)"),
            std::string::npos);

  // Pictures: exactly the expected files, byte for byte, as data URIs.
  std::map<std::string, std::string> file_of_bytes;
  for (const auto& f : runs.embedded) file_of_bytes[read_bytes(f)] = f;
  for (const auto& f : runs.left_out) file_of_bytes[read_bytes(f)] = f;
  std::set<std::string> shown;
  const std::string prefix = "src=\"data:image/png;base64,";
  for (size_t at = html.find(prefix); at != std::string::npos; at = html.find(prefix, at + 1)) {
    const size_t from = at + prefix.size();
    const std::string bytes = base64_decode(html.substr(from, html.find('"', from) - from));
    ASSERT_TRUE(file_of_bytes.count(bytes)) << "an embedded image that is none of the run's files";
    EXPECT_TRUE(shown.insert(file_of_bytes[bytes]).second) << "shown twice: " << file_of_bytes[bytes];
  }
  EXPECT_EQ(shown, runs.embedded);
  // Sample grids are magnified with square pixels: the VAE's 4x4 grid (122 px) three times.
  EXPECT_NE(html.find("image-rendering: pixelated"), std::string::npos);
  EXPECT_NE(html.find("width=\"366\" height=\"366\" alt=\"samples.png\""), std::string::npos);
  // The missing nearest.png of the GAN is a note, not an error.
  EXPECT_NE(html.find("gan: eval/nearest.png is missing"), std::string::npos);
  EXPECT_NE(html.find("epoch 7</figcaption>"), std::string::npos);

  // Charts: a polyline per series that has data (VAE 3 + 2, GAN 2 + 2, DDPM 1 + 1).
  EXPECT_EQ(count_of(html, "<svg class=\"chart\""), 6u);
  EXPECT_EQ(count_of(html, "<polyline class=\"series\""), 11u);
  for (const char* s : {"loss", "recon", "kl", "train_loss", "test_loss", "d_loss", "g_loss", "d_real", "d_fake", "bpd"})
    EXPECT_NE(html.find(std::string("data-series=\"") + s + "\""), std::string::npos) << s;
  // The VAE's training loss: one point per step row, left to right, falling loss drawn going down (y grows).
  const auto loss = series_points(html, "loss");
  ASSERT_EQ(loss.size(), 4u);
  for (size_t i = 1; i < loss.size(); ++i) {
    EXPECT_GT(loss[i].first, loss[i - 1].first);
    EXPECT_GT(loss[i].second, loss[i - 1].second);
  }

  // Self-contained: no URL anywhere, so nothing is fetched.
  EXPECT_FALSE(std::regex_search(html, std::regex(R"((src|href)\s*=\s*["']?\s*(https?:)?//)", std::regex::icase)));
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
}

TEST(Compare, PicturesThatAreNotPngsAreNotesAndDataSetsMustMatch) {
  TempDir dir;
  const Runs runs = make_runs(dir);
  write_text(runs.gan + "/eval/samples.png", "GIF89a, not a PNG at all");
  nlohmann::json e = nlohmann::json::parse(read_bytes(runs.ddpm + "/eval.json"));
  e["data"] = "cifar10:/data/cifar";
  write_text(runs.ddpm + "/eval.json", e.dump());
  const std::string html = read_bytes(write_comparison({runs.vae, runs.gan, runs.ddpm}, dir.file("report")));
  EXPECT_NE(html.find("eval/samples.png is not a PNG file"), std::string::npos);
  EXPECT_NE(html.find("evaluated on different data sets"), std::string::npos);
}

// A run whose recall is near 0 (noise, or one mode) can beat real data in
// precision: it is never marked best. And runs whose budgets match in
// neither time, steps nor epochs get a note saying what each had.
TEST(Compare, ACollapsedRunIsNeverBestAndUnequalBudgetsAreNamed) {
  TempDir dir;
  const Runs runs = make_runs(dir);
  auto edit = [&](const std::string& run, const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json e = nlohmann::json::parse(read_bytes(run + "/eval.json"));
    change(e);
    write_text(run + "/eval.json", e.dump());
  };
  edit(runs.ddpm, [](nlohmann::json& e) {
    e["metrics"]["precision"] = 0.988;
    e["metrics"]["recall"] = 0.01;
    e["costs"] = {{"train_time_s", 75.0}, {"train_steps", 62}, {"epochs", 1}};
  });
  edit(runs.vae, [](nlohmann::json& e) { e["costs"] = {{"train_time_s", 30.0}, {"train_steps", 2811}, {"epochs", 3}}; });
  std::string html = read_bytes(write_comparison({runs.vae, runs.ddpm}, dir.file("report")));
  const std::string precision = table_row(html, "Precision");
  ASSERT_FALSE(precision.empty());
  EXPECT_EQ(precision.find("class=\"best\""), precision.rfind("class=\"best\"")) << precision;
  EXPECT_NE(precision.find("<td class=\"best\" title=\"k = 3 nearest neighbours\">0.700"), std::string::npos)
      << "the VAE's 0.7, not the DDPM's 0.988: " << precision;
  EXPECT_NE(html.find("unequal training budgets"), std::string::npos);
  EXPECT_NE(html.find("2,811 steps in 30 s"), std::string::npos) << "what each run had is named";

  // One budget (about the same time): no note.
  edit(runs.vae, [](nlohmann::json& e) { e["costs"]["train_time_s"] = 80.0; });
  html = read_bytes(write_comparison({runs.vae, runs.ddpm}, dir.file("report")));
  EXPECT_EQ(html.find("unequal training budgets"), std::string::npos);
}

TEST(Compare, RunWithoutEvalJsonIsAnErrorNamingIt) {
  TempDir dir;
  const Runs runs = make_runs(dir);
  fs::remove(runs.gan + "/eval.json");
  test::expect_error([&] { write_comparison({runs.vae, runs.gan}, dir.file("report")); },
                     {runs.gan, "has no eval.json", "nanogen eval"});
  EXPECT_FALSE(fs::exists(dir.file("report/report.html")));
  test::expect_error([&] { write_comparison({dir.file("nowhere")}, dir.file("report")); }, {"nowhere", "not a folder"});
  write_text(runs.vae + "/eval.json", "{\"metrics\": ");
  test::expect_error([&] { write_comparison({runs.vae}, dir.file("report")); }, {"eval.json", "not valid JSON"});
}

// ---- the page in a browser -------------------------------------------------------

namespace {

std::string find_chromium() {
  const char* path_env = std::getenv("PATH");
  std::stringstream dirs(path_env ? path_env : "/usr/bin");
  std::vector<std::string> folders;
  for (std::string d; std::getline(dirs, d, ':');) folders.push_back(d);
  for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"})
    for (const std::string& d : folders)
      if (fs::exists(d + "/" + name)) return d + "/" + name;
  return "";
}

}  // namespace

TEST(Compare, RendersInHeadlessChromium) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    if (std::getenv("CI")) FAIL() << "CI is set but no chromium is installed (tools/install-deps.sh installs it)";
    GTEST_SKIP() << "no chromium, chromium-browser or google-chrome on PATH; install chromium to run this test";
  }
  TempDir dir;
  const Runs runs = make_runs(dir);
  const std::string page = write_comparison({runs.vae, runs.gan, runs.ddpm}, dir.file("report"));
  const std::string shot = dir.file("shot.png"), log = dir.file("chromium.log");
  const std::string command = "timeout 60 '" + chromium +
                              "' --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars "
                              "--force-device-scale-factor=1 --window-size=1200,2400 --user-data-dir='" +
                              dir.file("profile") + "' --screenshot='" + shot + "' 'file://" + page + "' > '" + log +
                              "' 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(fs::exists(shot)) << "chromium wrote no screenshot (status " << status << "):\n" << read_bytes(log);
  // NANOGEN_KEEP_REPORT=DIR keeps the page and its screenshot there, to look at.
  if (const char* keep = std::getenv("NANOGEN_KEEP_REPORT")) {
    fs::create_directories(keep);
    fs::copy_file(page, fs::path(keep) / "report.html", fs::copy_options::overwrite_existing);
    fs::copy_file(shot, fs::path(keep) / "screenshot.png", fs::copy_options::overwrite_existing);
  }

  const Tensor image = load_image(shot, 3);
  const int64_t h = image.size(1), w = image.size(2);
  ASSERT_EQ(w, 1200);
  ASSERT_EQ(h, 2400);
  const std::vector<float> px = image.to_vector<float>();
  auto at = [&](int64_t c, int64_t y, int64_t x) { return int(std::lround(255 * px[size_t((c * h + y) * w + x)])); };

  // Not blank: a good part of the page is ink, in many colours.
  int64_t ink = 0, red = 0;
  int64_t top = h, bottom = -1, left = w, right = -1;  // the red checks' bounding box
  std::set<int> colours;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int r = at(0, y, x), g = at(1, y, x), b = at(2, y, x);
      if (std::min({r, g, b}) < 235) ++ink;
      colours.insert((r / 16) << 8 | (g / 16) << 4 | (b / 16));
      if (r > 200 && g < 40 && b < 40) {
        ++red;
        top = std::min(top, y), bottom = std::max(bottom, y), left = std::min(left, x), right = std::max(right, x);
      }
    }
  EXPECT_GT(double(ink) / double(w * h), 0.05) << "the page looks blank";
  EXPECT_GT(colours.size(), 30u) << "too few distinct colours for text, tables, charts and pictures";

  // The VAE's red-and-black checkered samples, drawn at 3x: 16 images of 28x28
  // pixels, 25 of their 49 4x4 checks red, cover 16 * 25 * 16 * 9 = 57600 screen pixels.
  EXPECT_NEAR(double(red), 57600.0, 57600.0 * 0.05) << "the sample grid is missing, cut off or scaled";
  EXPECT_NEAR(double(right - left + 1), 3.0 * (122 - 4), 6.0);  // red from the first check to the last
  EXPECT_NEAR(double(bottom - top + 1), 3.0 * (122 - 4), 6.0);
  // Inside it, not one colour: black checks and padding between the red ones.
  int64_t dark = 0;
  for (int64_t y = top; y <= bottom; ++y)
    for (int64_t x = left; x <= right; ++x) dark += at(0, y, x) < 40 && at(1, y, x) < 40 ? 1 : 0;
  EXPECT_GT(dark, 40000) << "the sample grid region is uniform";
}
