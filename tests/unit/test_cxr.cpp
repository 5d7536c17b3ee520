// Chest X-ray module: readers and refusals, letterboxing, clinical inputs, adapters, imputation, a tiny
// cross-validated training end to end, prediction with Grad-CAM, the explanation page and the linear probe.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "cxr/internal.h"
#include "pulmo/cxr.h"
#include "pulmo/cxr_model.h"
#include "pulmo/error.h"
#include "pulmo/fileutil.h"
#include "support/cxr_images.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using pulmo::Error;
using pulmo::ExitCode;
namespace cxr = pulmo::cxr;

namespace pulmo::test {

template <class F>
void expect_error(F f, ExitCode code, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected " << pulmo::exit_code_name(code);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(CxrRead, GreyPngsOf8And16BitAreReadIntoZeroToOne) {
  TempDir t;
  write_grey<uint8_t>(t.file("a.png"), 40, 30);
  write_grey<uint16_t>(t.file("b.png"), 40, 30, false, 4095);
  for (const char* name : {"a.png", "b.png"}) {
    const cxr::XrayImage x = cxr::read_xray(t.file(name));
    EXPECT_EQ(x.width, 40);
    EXPECT_EQ(x.height, 30);
    EXPECT_EQ(x.format, "png");
    EXPECT_FLOAT_EQ(x.pixels.front(), 0.0f);
    EXPECT_FLOAT_EQ(x.pixels.back(), 1.0f);
    EXPECT_LT(x.pixels[5], x.pixels[6]);  // brightness order kept
  }
  EXPECT_EQ(cxr::read_xray(t.file("b.png")).bits, 16);
}

TEST(CxrRead, AnEightBitJpegIsRead) {
  TempDir t;
  write_grey<uint8_t>(t.file("a.jpg"), 48, 32);
  const cxr::XrayImage x = cxr::read_xray(t.file("a.jpg"));
  EXPECT_EQ(x.format, "jpeg");
  EXPECT_EQ(x.width, 48);
  EXPECT_EQ(x.height, 32);
  EXPECT_LT(x.pixels[0], x.pixels[47]);  // the ramp survives JPEG compression in order
}

TEST(CxrRead, GreyStoredAsRgbIsAcceptedAColourPictureIsRefused) {
  TempDir t;
  write_rgb(t.file("grey.png"), 40, 40, false);
  write_rgb(t.file("colour.png"), 40, 40, true);
  EXPECT_EQ(cxr::read_xray(t.file("grey.png")).width, 40);
  expect_error([&] { cxr::read_xray(t.file("colour.png")); }, ExitCode::BadDimension, "colour picture");
}

TEST(CxrRead, OneValueNonImagesAndMissingFilesAreRefused) {
  TempDir t;
  write_grey<uint8_t>(t.file("flat.png"), 40, 40, true);
  expect_error([&] { cxr::read_xray(t.file("flat.png")); }, ExitCode::NotAChestXray, "single value");
  write_raw_file(t.file("notes.png"), "this is not a picture\n");
  expect_error([&] { cxr::read_xray(t.file("notes.png")); }, ExitCode::Unreadable, "notes.png");
  expect_error([&] { cxr::read_xray(t.file("absent.png")); }, ExitCode::NotFound, "does not exist");
}

TEST(CxrRead, DicomRadiographsAreReadLateralAndNonRadiographsRefused) {
  TempDir t;
  write_dicom(t.file("dx.dcm"), "DX", "PA");
  const cxr::XrayImage x = cxr::read_xray(t.file("dx.dcm"));
  EXPECT_EQ(x.format, "dicom");
  EXPECT_EQ(x.modality, "DX");
  EXPECT_EQ(x.view, "PA");
  EXPECT_EQ(x.width, 64);
  EXPECT_LT(x.pixels[0], x.pixels[63]);  // MONOCHROME2: higher stored value, brighter
  write_dicom(t.file("lat.dcm"), "CR", "LL");
  expect_error([&] { cxr::read_xray(t.file("lat.dcm")); }, ExitCode::NotAChestXray, "lateral");
  write_dicom(t.file("ct.dcm"), "CT", "");
  expect_error([&] { cxr::read_xray(t.file("ct.dcm")); }, ExitCode::NotAChestXray, "modality CT");
}

TEST(CxrRead, DicomWindowIsAppliedAndMonochrome1Inverted) {
  TempDir t;
  // Window 40..1240 of values 40x+y (0..2567): columns beyond x = 31 saturate at white.
  write_dicom(t.file("w.dcm"), "CR", "AP", "MONOCHROME2", "640,1200");
  const cxr::XrayImage w = cxr::read_xray(t.file("w.dcm"));
  EXPECT_TRUE(w.windowed);
  EXPECT_EQ(w.voi, "LINEAR window");
  EXPECT_FLOAT_EQ(w.pixels[40], w.pixels[63]);   // both above the window
  EXPECT_LT(w.pixels[5], w.pixels[20]);
  // MONOCHROME1 with the same window: the window selects the same stored values, the result is inverted once.
  write_dicom(t.file("m1w.dcm"), "CR", "AP", "MONOCHROME1", "640,1200");
  const cxr::XrayImage m1w = cxr::read_xray(t.file("m1w.dcm"));
  ASSERT_EQ(m1w.photometric, "MONOCHROME1");
  ASSERT_EQ(m1w.pixels.size(), w.pixels.size());
  for (size_t i = 0; i < w.pixels.size(); ++i) ASSERT_NEAR(m1w.pixels[i], 1.0f - w.pixels[i], 1e-6) << i;
  write_dicom(t.file("m1.dcm"), "CR", "AP", "MONOCHROME1");
  const cxr::XrayImage m1 = cxr::read_xray(t.file("m1.dcm"));
  EXPECT_FALSE(m1.windowed);
  EXPECT_GT(m1.pixels[0], m1.pixels[63]);  // inverted: high stored value = dark
}

TEST(CxrRead, BadDicomVoiDataIsUnreadableAndAColourDicomIsRefused) {
  TempDir t;
  write_dicom(t.file("w0.dcm"), "DX", "PA", "MONOCHROME2", "640,0");
  expect_error([&] { cxr::read_xray(t.file("w0.dcm")); }, ExitCode::Unreadable, "Window Width (0028,1051) 0 is not positive");
  DicomSpec s;
  s.photometric = "RGB";
  write_dicom_file(t.file("rgb.dcm"), s);
  expect_error([&] { cxr::read_xray(t.file("rgb.dcm")); }, ExitCode::BadDimension, "colour DICOM");
  s = DicomSpec();
  s.modality = "CT";
  s.window_width = "0";
  s.window_center = "40";
  write_dicom_file(t.file("ct.dcm"), s);  // the modality is refused before the window is looked at
  expect_error([&] { cxr::read_xray(t.file("ct.dcm")); }, ExitCode::NotAChestXray, "modality CT");
}

TEST(CxrImage, LetterboxKeepsTheAspectAndPadsWithZero) {
  const auto box = cxr::letterbox_box(200, 100, 64);
  EXPECT_EQ(box[0], 0);
  EXPECT_EQ(box[1], 16);
  EXPECT_EQ(box[2], 64);
  EXPECT_EQ(box[3], 32);
  cxr::XrayImage x;
  x.width = 200;
  x.height = 100;
  x.pixels.assign(200 * 100, 1.0f);
  const std::vector<float> s = cxr::letterbox(x, 64);
  ASSERT_EQ(s.size(), 64u * 64u);
  EXPECT_FLOAT_EQ(s[0], 0.0f);              // padding above
  EXPECT_FLOAT_EQ(s[20 * 64 + 10], 1.0f);   // inside the picture
  EXPECT_FLOAT_EQ(s[63 * 64 + 63], 0.0f);   // padding below
}

TEST(CxrClinical, KeyValuesAreCheckedByNameAndRange) {
  const auto c = cxr::parse_clinical({"age=63", "sex=M", "crp=120.5"});
  EXPECT_DOUBLE_EQ(c.at("age"), 63);
  EXPECT_DOUBLE_EQ(c.at("sex_male"), 1);
  EXPECT_DOUBLE_EQ(c.at("crp"), 120.5);
  expect_error([] { cxr::parse_clinical({"cpr=12"}); }, ExitCode::Usage, "unknown clinical input 'cpr'");
  expect_error([] { cxr::parse_clinical({"age=430"}); }, ExitCode::Usage, "out of range");
  expect_error([] { cxr::parse_clinical({"ldh=high"}); }, ExitCode::Usage, "not a number");
  expect_error([] { cxr::parse_clinical({"sex=x"}); }, ExitCode::Usage, "F or M");
  TempDir t;
  pulmo::write_text_atomic(t.file("c.json"), "{\"age\": 50, \"po2\": 900}");
  expect_error([&] { cxr::read_clinical_file(t.file("c.json")); }, ExitCode::BadConfig, "out of range");
  pulmo::write_text_atomic(t.file("c.csv"), "age,sex,ldh\n50,F,\n");
  const auto f = cxr::read_clinical_file(t.file("c.csv"));
  EXPECT_DOUBLE_EQ(f.at("sex_male"), 0);
  EXPECT_TRUE(std::isnan(f.at("ldh")));
}

// A Hannover-like folder: 3 patients; a patient shared with a tiny ieee8023 table.
void write_sources(const TempDir& t) {
  fs::create_directories(t.path() / "mhh" / "png");
  fs::create_directories(t.path() / "ieee" / "images");
  pulmo::write_text_atomic(
      t.file("mhh/data.csv"),
      "patient_id,image_id,sex,age,size,weight,admission_offset,icu_admission_offset,icu_release_offset,death_offset,"
      "modality,projection,crp_offset,crp_val,ldh_offset,ldh_val\n"
      "p1,img1,m,,,,0,5.0,9.0,,CR,ap,0.0,50.0,1.0,300.0\n"    // ICU 5 days after the image: severe
      "p1,img2,m,,,,-2,-2.0,4.0,,CR,ap,0.0,-inf,,\n"          // in ICU at the image: left out by default
      "p2,img3,f,,,,0,,,,DX,pa,,,,\n"                          // never ICU: not severe
      "p3,img4,f,,,,0,40.0,45.0,,DX,pa,,,,\n");               // ICU after 40 days: not severe at 30
  pulmo::write_text_atomic(
      t.file("ieee/metadata.csv"),
      "patientid,offset,sex,age,finding,survival,intubated,intubation_present,went_icu,in_icu,needed_supplemental_O2,"
      "extubated,temperature,pO2_saturation,leukocyte_count,neutrophil_count,lymphocyte_count,view,modality,date,"
      "location,folder,filename,doi,url,license,clinical_notes,other_notes\n"
      "219,0,M,,COVID-19,Y,,,Y,Y,,,,,,,,AP Supine,X-ray,2020,,images,img1.jpg,,,,,\n"
      "219,2,M,,COVID-19,Y,,,Y,Y,,,,,,,,AP Supine,X-ray,2020,,images,other.jpg,,,,,\n"
      "300,0,F,70,COVID-19,N,,,N,,,,,,,,,PA,X-ray,2020,,images,x300.png,,,,,\n"
      "301,0,F,70,COVID-19,Y,N,,N,,,,,,,,,L,X-ray,2020,,images,x301.png,,,,,\n");
}

TEST(CxrAdapters, HannoverSevereWithinDaysAndSharedPatientsAreOnePatient) {
  TempDir t;
  write_sources(t);
  const auto h = cxr::hannover_cases(t.file("mhh"));
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0].severe, 1);
  EXPECT_EQ(h[1].severe, -1);
  EXPECT_EQ(h[2].severe, 0);
  EXPECT_EQ(h[3].severe, 0);
  EXPECT_EQ(h[0].view, "AP");
  EXPECT_EQ(h[2].sex, "F");
  EXPECT_DOUBLE_EQ(h[0].clinical.at("crp"), 50);
  EXPECT_FALSE(h[0].clinical.count("ldh"));       // measured the day after the image: not used
  EXPECT_DOUBLE_EQ(h[1].clinical.at("crp"), 0);   // "-inf": below the lowest bin
  cxr::HannoverOptions longer;
  longer.severe_within_days = 60;
  longer.exclude_from_icu_admission = false;
  EXPECT_EQ(cxr::hannover_cases(t.file("mhh"), longer)[3].severe, 1);
  EXPECT_EQ(cxr::hannover_cases(t.file("mhh"), longer)[1].severe, 1);

  const auto i = cxr::ieee8023_cases(t.file("ieee"));
  ASSERT_EQ(i.size(), 3u);  // the lateral view is left out
  EXPECT_EQ(i[0].severe, 1);
  EXPECT_EQ(i[2].severe, 1);  // died
  EXPECT_DOUBLE_EQ(i[2].clinical.at("age"), 70);
  int merged = 0;
  const auto all = cxr::join_sources(h, i, &merged);
  EXPECT_EQ(merged, 1);
  ASSERT_EQ(all.size(), 6u);  // img1.jpg is a Hannover image: dropped
  EXPECT_EQ(all[4].case_id, "ieee:other.jpg");
  EXPECT_EQ(all[4].patient_id, "mhh:p1");  // the same patient as the Hannover images
  EXPECT_EQ(all[5].patient_id, "ieee:300");

  // The manifest round trip keeps everything the model reads.
  pulmo::write_text_atomic(t.file("m.csv"), cxr::cxr_manifest_csv(all));
  const auto back = cxr::read_cxr_manifest(t.file("m.csv"));
  ASSERT_EQ(back.size(), all.size());
  EXPECT_EQ(back[4].patient_id, "mhh:p1");
  EXPECT_EQ(back[0].clinical.at("crp"), 50);
  EXPECT_EQ(back[1].severe, -1);
}

TEST(CxrImputer, FitsOnTheTrainingRowsOnlyAndFlagsMissingValues) {
  std::vector<cxr::CxrCase> cases(3);
  cases[0].clinical["crp"] = 10;
  cases[1].clinical["crp"] = 30;
  cases[2].clinical["crp"] = 1000;  // not a training row
  const cxr::Imputer im = cxr::Imputer::fit(cases, {0, 1});
  const size_t k = size_t(std::find(im.names.begin(), im.names.end(), "crp") - im.names.begin());
  EXPECT_DOUBLE_EQ(im.mean[k], 20);
  const std::vector<float> missing = im.transform({});
  EXPECT_FLOAT_EQ(missing[k], 0.0f);
  EXPECT_FLOAT_EQ(missing[im.names.size() + k], 1.0f);
  const std::vector<float> given = im.transform({{"crp", 30.0}});
  EXPECT_GT(given[k], 0.0f);
  EXPECT_FLOAT_EQ(given[im.names.size() + k], 0.0f);
}

TEST(CxrTrain, ATinyCrossValidatedTrainingWritesAModelThatPredictsAndExplains) {
  TempDir t;
  const cxr::CxrTrainConfig c = cxr::read_cxr_train_config(write_tiny_dataset(t));
  const cxr::CvResult r = cxr::train_cxr(c);
  ASSERT_EQ(r.variants.size(), 4u);  // majority + 3
  EXPECT_EQ(r.variants[0].variant, "majority");
  for (const auto& v : r.variants) {
    ASSERT_EQ(v.metrics.size(), 4u);
    EXPECT_EQ(v.metrics[0].name, "balanced_accuracy");
    EXPECT_EQ(v.thresholds.size(), 3u);
    for (double s : v.scores) EXPECT_TRUE(s >= 0 && s <= 1) << v.variant;
  }
  // The majority class: balanced accuracy 1/2 in every fold, ROC AUC 1/2 (one score for all).
  EXPECT_NEAR(r.variants[0].metrics[0].fold_mean, 0.5, 1e-9);
  EXPECT_NEAR(r.variants[0].metrics[1].pooled.estimate, 0.5, 1e-9);
  // Every case was tested exactly once, by a fold that did not train on its patient.
  for (int f : r.fold_of) EXPECT_GE(f, 0);
  for (const char* file : {"model.json", "fused.pt", "image.pt", "cv.json", "cv_predictions.csv", "features.csv",
                           "importance.json", "manifest.csv"})
    EXPECT_TRUE(fs::exists(t.path() / "model" / file)) << file;

  const cxr::CxrModel m = cxr::CxrModel::load(t.file("model"));
  const cxr::XrayImage x = cxr::read_xray(t.file("x0.png"));
  const cxr::CxrPrediction with = m.predict(x, {{"crp", 160.0}}, true);
  EXPECT_EQ(with.variant, "fused");
  EXPECT_FALSE(with.image_only);
  EXPECT_EQ(int(with.heatmap.size()), 32 * 32);
  EXPECT_GE(with.probability, 0.0);
  EXPECT_LE(with.probability, 1.0);
  const cxr::CxrPrediction alone = m.predict(x, {}, false);
  EXPECT_EQ(alone.variant, "image");
  EXPECT_TRUE(alone.image_only);
  EXPECT_TRUE(alone.heatmap.empty());

  const cxr::ExplainOutput e = cxr::explain_case(m, t.file("x0.png"), {{"crp", 160.0}}, t.file("explain"));
  EXPECT_TRUE(fs::exists(e.overlay_png));
  const std::string html = pulmo::read_text_file(e.html);
  EXPECT_NE(html.find("P(severe course)"), std::string::npos);
  EXPECT_NE(html.find("ROC AUC drop"), std::string::npos);
  EXPECT_NE(html.find("x0_gradcam.png"), std::string::npos);
}

TEST(CxrTrain, AKilledRunResumedFromItsCheckpointsEndsWithTheSameModelAndMetrics) {
  TempDir t;
  cxr::CxrTrainConfig full = cxr::read_cxr_train_config(write_tiny_dataset(t));
  full.output = t.file("full");
  // 8 epochs without early stopping: the weights trained after a resume reach the outputs (with the tiny dataset's
  // 3 epochs and patience 2 the best weights were often those saved before the kill).
  full.epochs = 8;
  full.patience = 8;
  const cxr::CvResult a = cxr::train_cxr(full);
  EXPECT_EQ(a.fits, 3 * 3 + 2);  // 3 variants x 3 folds + the shipped fused and image models
  EXPECT_EQ(a.fits_resumed, 0);
  EXPECT_FALSE(fs::exists(t.path() / "full" / "checkpoints"));  // removed once the run is done

  cxr::CxrTrainConfig c = full;
  c.output = t.file("resumed");
  // Killed after 13 epochs: fused fold 1 (8 epochs) is done, fold 2 after its 5th epoch is not.
  ASSERT_TRUE(cxr::train_cxr_killed_after(13, c));
  EXPECT_TRUE(fs::exists(t.path() / "resumed" / "checkpoints" / "cv_fused_fold1.pt"));
  EXPECT_TRUE(fs::exists(t.path() / "resumed" / "checkpoints" / "cv_fused_fold2.pt"));
  EXPECT_FALSE(fs::exists(t.path() / "resumed" / "checkpoints" / "cv_fused_fold3.pt"));
  EXPECT_FALSE(fs::exists(t.path() / "resumed" / "model.json"));  // outputs are written only at the end
  EXPECT_FALSE(fs::exists(t.path() / "resumed" / "manifest.csv"));
  EXPECT_EQ(count_temporary_files(t.path()), 0);

  // A changed configuration or changed data is refused, naming what changed; nothing is written.
  c.resume = true;
  cxr::CxrTrainConfig other = c;
  other.epochs = 9;
  other.optimizer.lr = 0.01;
  expect_error([&] { cxr::train_cxr(other); }, ExitCode::BadConfig, "optimizer.lr 0.001 -> 0.01; training.epochs 8 -> 9");
  std::string manifest = pulmo::read_text_file(t.file("manifest.csv"));
  const size_t row = manifest.find("\nc1,");
  ASSERT_NE(row, std::string::npos);
  manifest.replace(manifest.find(",0,", row), 3, ",1,");  // case c1 becomes severe
  pulmo::write_text_atomic(t.file("relabelled.csv"), manifest);
  other = c;
  other.manifest = t.file("relabelled.csv");  // the manifest's path may change, its content may not
  expect_error([&] { cxr::train_cxr(other); }, ExitCode::BadConfig, "data (the cases' images, labels or clinical values differ)");
  EXPECT_FALSE(fs::exists(t.path() / "resumed" / "model.json"));

  // Resumed, killed again 38 epochs later (3 + 8 of fused folds 2-3, 24 of image, 3 of logistic fold 1), resumed to
  // the end: the outputs of the uninterrupted run, byte for byte.
  ASSERT_TRUE(cxr::train_cxr_killed_after(38, c));
  EXPECT_TRUE(fs::exists(t.path() / "resumed" / "checkpoints" / "cv_logistic_fold1.pt"));
  EXPECT_FALSE(fs::exists(t.path() / "resumed" / "checkpoints" / "cv_logistic_fold2.pt"));
  const cxr::CvResult b = cxr::train_cxr(c);
  EXPECT_EQ(b.fits, a.fits);
  EXPECT_EQ(b.fits_resumed, 7);  // fused and image folds 1-3 done before, logistic fold 1 continued
  expect_same_cxr_outputs(t.file("full"), t.file("resumed"));
  for (size_t v = 0; v < a.variants.size(); ++v) {
    EXPECT_EQ(a.variants[v].scores, b.variants[v].scores) << a.variants[v].variant;
    EXPECT_EQ(a.variants[v].thresholds, b.variants[v].thresholds) << a.variants[v].variant;
  }
  EXPECT_FALSE(fs::exists(t.path() / "resumed" / "checkpoints"));
  EXPECT_EQ(count_temporary_files(t.path()), 0);
}

TEST(CxrTrain, UnknownConfigKeysAreRefusedWithTheValidOnes) {
  TempDir t;
  pulmo::write_text_atomic(t.file("c.yaml"), "data:\n  manifest: m.csv\ntraining:\n  epohcs: 3\noutput: o\n");
  expect_error([&] { cxr::read_cxr_train_config(t.file("c.yaml")); }, ExitCode::BadConfig, "'epohcs'");
}

TEST(CxrProbe, ALinearProbeFindsAnEncodedAttributeAndNotANoiseOne) {
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0, 1);
  std::vector<std::vector<float>> features;
  std::vector<std::string> sex, coin, patients;
  for (int i = 0; i < 80; ++i) {
    const bool male = i % 2 == 0;
    features.push_back({noise(rng) + (male ? 2.0f : -2.0f), noise(rng), noise(rng)});
    sex.push_back(male ? "M" : "F");
    coin.push_back(rng() % 2 ? "a" : "b");
    patients.push_back("p" + std::to_string(i / 2 * 2 + (i % 2)));
  }
  const cxr::ProbeResult s = cxr::linear_probe(features, sex, patients, "sex", 5, 1, 200);
  EXPECT_EQ(s.n, 80);
  EXPECT_EQ(s.positive, "M");
  EXPECT_GT(s.auc.estimate, 0.9);
  const cxr::ProbeResult c = cxr::linear_probe(features, coin, patients, "coin", 5, 1, 200);
  EXPECT_LT(c.auc.estimate, 0.75);
  EXPECT_LT(c.auc.low, 0.5);
}

}  // namespace pulmo::test

namespace pulmo::test {

TEST(CxrManifest, ALateralRowAnUnknownOutcomeValueAndABadClinicalValueAreRefused) {
  TempDir t;
  write_text_atomic(t.file("lat.csv"), "case_id,patient_id,image,severe,view\nc1,p1,a.png,1,Lateral\n");
  expect_error([&] { cxr::read_cxr_manifest(t.file("lat.csv")); }, ExitCode::NotAChestXray, "lateral");
  write_text_atomic(t.file("sev.csv"), "case_id,patient_id,image,severe\nc1,p1,a.png,yes\n");
  expect_error([&] { cxr::read_cxr_manifest(t.file("sev.csv")); }, ExitCode::BadConfig, "severe must be 0, 1 or empty");
  write_text_atomic(t.file("crp.csv"), "case_id,patient_id,image,crp\nc1,p1,a.png,-5\n");
  expect_error([&] { cxr::read_cxr_manifest(t.file("crp.csv")); }, ExitCode::BadConfig, "out of range");
}

TEST(CxrProbe, AFeatureFileWithoutFeatureColumnsOrTheAttributeIsRefused) {
  TempDir t;
  write_text_atomic(t.file("nofeat.csv"), "case_id,patient_id,sex\nc1,p1,F\nc2,p2,M\n");
  expect_error([&] { cxr::probe_feature_file(t.file("nofeat.csv"), {"sex"}, 2, 1, 10); }, ExitCode::BadConfig, "no feature columns");
  write_text_atomic(t.file("f.csv"), "case_id,patient_id,sex,f0\nc1,p1,F,0.1\nc2,p2,M,0.2\n");
  expect_error([&] { cxr::probe_feature_file(t.file("f.csv"), {"view"}, 2, 1, 10); }, ExitCode::BadConfig, "no attribute column 'view'");
  expect_error([&] { cxr::probe_feature_file(t.file("absent.csv"), {"sex"}, 2, 1, 10); }, ExitCode::NotFound, "does not exist");
}

}  // namespace pulmo::test

namespace pulmo::test {

TEST(CxrLungs, CropAndLungMasksAreReadExactly) {
  TempDir t;
  const auto box = write_synthetic_lungs(t.file("x.png"), t.file("m.png"), 64, 48, 3);
  const cxr::LungMask m = cxr::read_lung_mask(t.file("m.png"));
  ASSERT_EQ(m.lung.width, 64);
  ASSERT_EQ(m.lung.height, 48);
  EXPECT_EQ(m.lung.pixels[size_t(box[1]) * 64 + size_t(box[0])], 1.0f);  // lung corner
  EXPECT_EQ(m.ignore.pixels[0], 1.0f);                                   // the "ignore" patch
  EXPECT_EQ(m.lung.pixels[0], 0.0f);
  const cxr::XrayImage x = cxr::read_xray(t.file("x.png"));
  const cxr::XrayImage c = cxr::crop_xray(x, {10, 5, 20, 30});
  ASSERT_EQ(c.width, 20);
  ASSERT_EQ(c.height, 30);
  EXPECT_EQ(c.pixels[0], x.pixels[5 * 64 + 10]);
  EXPECT_EQ(c.pixels[29 * 20 + 19], x.pixels[34 * 64 + 29]);
  EXPECT_EQ(cxr::crop_xray(x, {50, 40, 100, 100}).width, 14);  // clipped to the image
  expect_error([&] { cxr::crop_xray(x, {70, 0, 5, 5}); }, ExitCode::Usage, "outside");
  // A mask with a value other than 0/127/255 is refused.
  write_grey<uint8_t>(t.file("bad.png"), 32, 32);
  expect_error([&] { cxr::read_lung_mask(t.file("bad.png")); }, ExitCode::Mismatch, "0 background, 127 ignore, 255 lung");
}

// The training engine trains the 2-D U-Net (patches of depth 1); the segmenter finds the lungs of unseen
// X-rays, and a CXR model trained with lung cropping carries its segmenter and crops when it predicts.
TEST(CxrLungs, A2DUNetTrainedByTheEngineFindsTheLungsAndTheCxrModelCropsToThem) {
  TempDir t;
  std::vector<Sample> train, validation;
  for (int i = 0; i < 12; ++i) {
    const std::string x = t.file("l" + std::to_string(i) + ".png"), m = t.file("l" + std::to_string(i) + "_mask.png");
    write_synthetic_lungs(x, m, 64, 48, 100 + i);
    Sample s = cxr::lung_training_sample(x, m, 32);
    ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{1, 32, 32}));
    EXPECT_GT(s.label.sum().item<int64_t>(), 50);
    EXPECT_FALSE(s.valid.all().item<bool>());  // the ignore patch
    (i < 9 ? train : validation).push_back(s);
  }
  TrainOptions o;
  o.network.unet.dims = 2;
  o.network.unet.out_channels = 2;
  o.network.unet.depth = 3;
  o.network.unet.base_width = 8;
  o.patch_size = {32, 32, 1};
  o.foreground_probability = 0;
  o.batch_size = 4;
  o.steps = 60;
  o.validate_every = 30;
  o.checkpoint_every = 0;
  o.optimizer.lr = 0.01;
  o.augment.enabled = false;
  o.workers = 0;
  o.seed = 5;
  o.output = t.file("lungs");
  ModelInfo info;
  info.task = "cxr_lungs";
  info.label_names = {"background", "lung"};
  const TrainResult r = train_segmentation(o, info, train, validation);
  EXPECT_EQ(r.steps_done, 60);
  EXPECT_GT(r.best_validation_dice, 0.8);

  const cxr::CxrLungSegmenter seg = cxr::CxrLungSegmenter::load(t.file("lungs"));
  EXPECT_EQ(seg.size(), 32);
  const auto truth = write_synthetic_lungs(t.file("new.png"), t.file("new_mask.png"), 64, 48, 999);
  const cxr::XrayImage x = cxr::read_xray(t.file("new.png"));
  EXPECT_GT(seg.dice(x, t.file("new_mask.png")), 0.8);
  const cxr::LungCrop c = seg.lung_box(x, 0.0);
  ASSERT_TRUE(c.found);
  // Within 3 px (the network works on a 32 px square: 2 image px per square px) of the true box.
  EXPECT_NEAR(c.box.x0, truth[0], 3);
  EXPECT_NEAR(c.box.y0, truth[1], 3);
  EXPECT_NEAR(c.box.x0 + c.box.width, truth[2], 3);
  EXPECT_NEAR(c.box.y0 + c.box.height, truth[3], 3);
  const cxr::LungCrop wide = seg.lung_box(x, 0.1);
  EXPECT_LT(wide.box.x0, c.box.x0);
  EXPECT_GT(wide.box.width, c.box.width);
  // A model folder of another task is not a lung segmenter.
  ModelInfo ct = info;
  ct.task = "lungs";
  ct.network = o.network;
  fs::create_directories(t.path() / "ct");
  write_text_atomic(t.file("ct/model.json"), model_info_to_json(ct));
  fs::copy_file(t.file("lungs/weights.pt"), t.file("ct/weights.pt"));
  expect_error([&] { cxr::CxrLungSegmenter::load(t.file("ct")); }, ExitCode::BadConfig, "not an X-ray lung segmenter");

  // The CXR pipeline with lung cropping: the segmenter travels with the model, predictions say what they saw.
  const std::string config = write_tiny_dataset(t);
  std::string text = read_text_file(config);
  const size_t at = text.find("model:");
  ASSERT_NE(at, std::string::npos);
  text.insert(text.find('\n', at) + 1, "  lung_crop: lungs\n  lung_crop_margin: 0.1\n");
  write_text_atomic(config, text);
  const cxr::CxrTrainConfig cc = cxr::read_cxr_train_config(config);
  EXPECT_EQ(cc.model.lung_crop, t.file("lungs"));
  cxr::train_cxr(cc);
  EXPECT_TRUE(fs::exists(t.path() / "model" / "lung_segmenter" / "weights.pt"));
  EXPECT_NE(read_text_file(t.file("model/model.json")).find("\"lung_crop\""), std::string::npos);
  EXPECT_NE(read_text_file(t.file("model/cv.json")).find("\"lungs_not_found\""), std::string::npos);
  const cxr::CxrModel model = cxr::CxrModel::load(t.file("model"));
  const cxr::CxrPrediction p = model.predict(x, {}, true);
  EXPECT_TRUE(p.lungs_found);
  EXPECT_EQ(p.crop.x0, wide.box.x0);
  EXPECT_EQ(p.crop.width, wide.box.width);
  write_heatmap_overlay(x, p, t.file("overlay.png"));
  EXPECT_TRUE(fs::exists(t.file("overlay.png")));
}

}  // namespace pulmo::test
