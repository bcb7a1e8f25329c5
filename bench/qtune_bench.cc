// qtune-bench: qtune's kernels against oneDNN, layer by layer (docs/bench.md).
//
//   qtune-bench conv --model resnet18 --threads 1 --trials 20 --peer onednn --json out.json
//   qtune-bench conv --shape N=1,H=56,W=56,C=64,K=64,R=3,S=3,stride=1,pad=1 --threads 1,2 ...
//
// Per layer and thread count: pick qtune's config (in-process tuning with the
// project's search strategy, or the best record of a database), then time
// qtune int8/fp32 and oneDNN int8/fp32 interleaved in rounds, re-measuring a
// round when other processes used the CPU, and check the outputs.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "bench/onednn_peer.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "device_agent/device_info.h"
#include "qtune/db/store.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/build_id.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/verify.h"
#include "tuner/core/model_zoo.h"
#include "tuner/search/search_strategy.h"

namespace qtune::bench {
namespace {

using kernels::Config;
using kernels::ConfigSpace;
using kernels::DType;
using kernels::OpInstance;
using kernels::OpKind;
using kernels::OpSpec;
using json::Json;

constexpr char kUsage[] = R"(usage: qtune-bench conv [flags]

Times qtune int8/fp32 against oneDNN int8/fp32 per layer, interleaved in one
process with one protocol (see docs/bench.md).

  --model NAME         built-in model (default resnet18); ignored with --shape
  --shape SPEC         a conv2d shape, repeatable: N=1,H=56,W=56,C=64,K=64,R=3,S=3,
                       stride=1,pad=1 (ReLU unless act= says otherwise); or KIND/DTYPE/FIELDS,
                       e.g. dense/int8/N=1,C=512,K=1000 (both dtypes are timed anyway)
  --layers A,B         only these layers of the model
  --threads T[,T2..]   thread counts (default 1); several: also report scaling
  --trials N           configs measured per layer, dtype and thread count (default 20;
                       0: the space's default config)
  --db FILE            take the best config per workload of this device from FILE
  --strategy NAME      search strategy for --trials: random | grid (default random)
  --peer onednn        the peer library (only onednn)
  --onednn-src-zp MODE attr: source zero point as a oneDNN attribute (default);
                       fold: folded into oneDNN's bias (lets 2.6 use brgconv; outputs
                       with padded taps are then not compared)
  --peer-max-isa ISA   hold oneDNN to at most ISA (avx512_core_vnni: its VNNI kernels on a
                       CPU with AMX; also avx2, avx512_core, avx512_core_amx, all, ...);
                       the report names the ISA oneDNN then runs (docs/bench.md)
  --json OUT           write the results as JSON to OUT
  --dtype LIST         dtypes to time: int8,fp32 (default both)
  --rounds R           measurement rounds (default 5)
  --block-ms MS        each contender runs >= MS ms per round (default 20) ...
  --block-runs N       ... and >= N timed runs (default 5)
  --trial-ms MS        timing of one tuning trial (default 5)
  --load-threshold C   re-measure a round when other processes used more than C
                       cores on average during it (default 0.25)
  --max-remeasure N    re-measures per round at most (default 3)
  --seed S             seed of the operator data and of the search (default 1)
)";

struct Options {
  std::string model = "resnet18";
  std::vector<std::string> shapes;
  std::vector<std::string> layers;
  std::vector<int> threads = {1};
  int trials = 20;
  std::string db;
  std::string strategy = "random";
  std::string peer = "onednn";
  bool fold_src_zero_point = false;
  std::string peer_max_isa;  // empty: oneDNN's own choice
  std::string json;
  bool int8 = true;
  bool fp32 = true;
  int rounds = 5;
  double block_ms = 20;
  int block_runs = 5;
  double trial_ms = 5;
  double load_threshold = 0.25;
  int max_remeasure = 3;
  uint64_t seed = 1;
};

// ---------------------------------------------------------------- arguments

absl::Status ParseInt(absl::string_view flag, absl::string_view text, int lo, int hi, int* out) {
  if (!absl::SimpleAtoi(text, out) || *out < lo || *out > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": '", text, "' is not an integer in [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

absl::Status ParseDouble(absl::string_view flag, absl::string_view text, double lo, double hi,
                         double* out) {
  if (!absl::SimpleAtod(text, out) || !(*out >= lo && *out <= hi)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": '", text, "' is not a number in [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

std::vector<std::string> SplitList(absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

absl::StatusOr<Options> ParseArgs(int argc, char** argv) {
  if (argc < 2 || absl::string_view(argv[1]) == "--help" || absl::string_view(argv[1]) == "help") {
    std::fputs(kUsage, stdout);
    std::exit(0);
  }
  if (absl::string_view(argv[1]) != "conv") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown subcommand '", argv[1], "' (expected 'conv'; see --help)"));
  }
  Options o;
  bool trials_set = false;
  for (int i = 2; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    std::string name(arg.substr(2));
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    std::replace(name.begin(), name.end(), '_', '-');
    if (!has_value) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = argv[++i];
    }
    if (name == "model") {
      o.model = value;
    } else if (name == "shape") {
      o.shapes.push_back(value);
    } else if (name == "layers") {
      o.layers = SplitList(value);
    } else if (name == "threads") {
      o.threads.clear();
      for (const std::string& t : SplitList(value)) {
        int n = 0;
        QTUNE_RETURN_IF_ERROR(ParseInt("threads", t, 1, 256, &n));
        if (std::find(o.threads.begin(), o.threads.end(), n) == o.threads.end()) o.threads.push_back(n);
      }
      if (o.threads.empty()) return absl::InvalidArgumentError("--threads: empty list");
    } else if (name == "trials") {
      QTUNE_RETURN_IF_ERROR(ParseInt("trials", value, 0, 100000, &o.trials));
      trials_set = true;
    } else if (name == "db") {
      o.db = value;
    } else if (name == "strategy") {
      o.strategy = value;
    } else if (name == "peer") {
      o.peer = value;
    } else if (name == "onednn-src-zp") {
      if (value != "attr" && value != "fold") {
        return absl::InvalidArgumentError(
            absl::StrCat("--onednn-src-zp: '", value, "' is neither 'attr' nor 'fold'"));
      }
      o.fold_src_zero_point = value == "fold";
    } else if (name == "peer-max-isa") {
      o.peer_max_isa = value;
    } else if (name == "json") {
      o.json = value;
    } else if (name == "dtype") {
      o.int8 = o.fp32 = false;
      for (const std::string& d : SplitList(value)) {
        if (d == "int8") {
          o.int8 = true;
        } else if (d == "fp32") {
          o.fp32 = true;
        } else {
          return absl::InvalidArgumentError(absl::StrCat("--dtype: unknown dtype '", d, "'"));
        }
      }
      if (!o.int8 && !o.fp32) return absl::InvalidArgumentError("--dtype: empty list");
    } else if (name == "rounds") {
      QTUNE_RETURN_IF_ERROR(ParseInt("rounds", value, 1, 1000, &o.rounds));
    } else if (name == "block-ms") {
      QTUNE_RETURN_IF_ERROR(ParseDouble("block-ms", value, 0, 60000, &o.block_ms));
    } else if (name == "block-runs") {
      QTUNE_RETURN_IF_ERROR(ParseInt("block-runs", value, 1, 1000000, &o.block_runs));
    } else if (name == "trial-ms") {
      QTUNE_RETURN_IF_ERROR(ParseDouble("trial-ms", value, 0, 60000, &o.trial_ms));
    } else if (name == "load-threshold") {
      QTUNE_RETURN_IF_ERROR(ParseDouble("load-threshold", value, 0, 1024, &o.load_threshold));
    } else if (name == "max-remeasure") {
      QTUNE_RETURN_IF_ERROR(ParseInt("max-remeasure", value, 0, 1000, &o.max_remeasure));
    } else if (name == "seed") {
      if (!absl::SimpleAtoi(value, &o.seed)) {
        return absl::InvalidArgumentError(absl::StrCat("--seed: '", value, "' is not an integer"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
  }
  if (o.peer != "onednn") {
    return absl::InvalidArgumentError(
        absl::StrCat("--peer: unknown peer '", o.peer, "' (only 'onednn')"));
  }
  if (!o.db.empty() && trials_set) {
    return absl::InvalidArgumentError("--trials and --db exclude each other");
  }
  QTUNE_RETURN_IF_ERROR(tuner::MakeSearchStrategy(o.strategy).status());
  return o;
}

// ------------------------------------------------------------------ layers

struct BenchLayer {
  std::string name;
  OpSpec op;  // int8; the fp32 twin differs only in dtype
  int occurrences = 1;
  bool in_summary = true;  // part of the occurrence-weighted sum
};

OpSpec WithDType(OpSpec op, DType dtype) {
  op.dtype = dtype;
  return op;
}

absl::StatusOr<std::vector<BenchLayer>> SelectLayers(const Options& o) {
  std::vector<BenchLayer> out;
  if (!o.shapes.empty()) {
    OpSpec base;
    base.kind = OpKind::kConv2d;
    base.dtype = DType::kInt8;
    base.activation = kernels::Activation::kRelu;
    for (size_t i = 0; i < o.shapes.size(); ++i) {
      // "KIND/DTYPE/FIELDS" (e.g. dense/int8/N=1,C=512,K=1000) or conv2d fields.
      const bool full = o.shapes[i].find('/') != std::string::npos;
      absl::StatusOr<OpSpec> op = full ? kernels::ParseOpSpec(o.shapes[i])
                                       : kernels::ParseShapeFields(o.shapes[i], base);
      if (op.ok()) op->dtype = DType::kInt8;
      if (!op.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--shape '", o.shapes[i], "': ", op.status().message()));
      }
      out.push_back({absl::StrCat("shape", i + 1), *op, 1, true});
    }
    return out;
  }
  QTUNE_ASSIGN_OR_RETURN(const tuner::Model* model, tuner::FindModel(o.model));
  for (size_t i = 0; i < model->layers.size(); ++i) {
    const tuner::Layer& layer = model->layers[i];
    // The summary covers the convolutions after the stem (the model's first
    // layer): ResNet18's 16 convolutions after conv1.
    const bool summary = i > 0 && layer.op.kind == OpKind::kConv2d;
    out.push_back({layer.name, WithDType(layer.op, DType::kInt8), layer.occurrences, summary});
  }
  if (!o.layers.empty()) {
    std::vector<BenchLayer> picked;
    for (const std::string& name : o.layers) {
      auto it = std::find_if(out.begin(), out.end(), [&](const BenchLayer& l) { return l.name == name; });
      if (it == out.end()) {
        std::vector<std::string> names;
        for (const BenchLayer& l : out) names.push_back(l.name);
        return absl::InvalidArgumentError(absl::StrCat("--layers: no layer '", name, "' in ",
                                                       o.model, " (", absl::StrJoin(names, ", "), ")"));
      }
      picked.push_back(*it);
    }
    out = std::move(picked);
  }
  return out;
}

// ------------------------------------------------------- timing and load

using Clock = std::chrono::steady_clock;

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

double Median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// CPU time accounting from procfs, in clock ticks (USER_HZ).
struct CpuSnapshot {
  Clock::time_point when;
  int64_t busy_all = 0;  // every CPU, every process: non-idle, non-iowait ticks
  int64_t busy_self = 0; // this process (all threads): utime + stime
  bool ok = false;
};

CpuSnapshot TakeCpuSnapshot() {
  CpuSnapshot s;
  s.when = Clock::now();
  std::ifstream stat("/proc/stat");
  std::string cpu;
  int64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) ||
      cpu != "cpu") {
    return s;
  }
  s.busy_all = user + nice + system + irq + softirq + steal;
  std::ifstream self("/proc/self/stat");
  std::string line;
  std::getline(self, line);
  // Fields after the command name (which may contain spaces) start at ") ".
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::vector<absl::string_view> f = absl::StrSplit(absl::string_view(line).substr(close + 2), ' ');
  // f[0] is field 3 (state); utime and stime are fields 14 and 15.
  int64_t utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &utime) || !absl::SimpleAtoi(f[12], &stime)) return s;
  s.busy_self = utime + stime;
  s.ok = true;
  return s;
}

// Average number of cores other processes kept busy between a and b.
double OutsideLoad(const CpuSnapshot& a, const CpuSnapshot& b) {
  if (!a.ok || !b.ok) return 0;
  static const double ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double seconds = std::chrono::duration<double>(b.when - a.when).count();
  if (seconds <= 0) return 0;
  const double outside = static_cast<double>((b.busy_all - a.busy_all) - (b.busy_self - a.busy_self));
  return std::max(0.0, outside / ticks_per_s / seconds);
}

// Runs `run` once untimed, then timed runs until both `min_ms` of timed runs
// and `min_runs` runs are reached. Returns each run's time in microseconds.
absl::StatusOr<std::vector<double>> TimeBlock(const std::function<absl::Status()>& run,
                                              double min_ms, int min_runs) {
  QTUNE_RETURN_IF_ERROR(run());
  std::vector<double> us;
  double total = 0;
  while (static_cast<int>(us.size()) < min_runs || total < min_ms * 1000) {
    const Clock::time_point start = Clock::now();
    QTUNE_RETURN_IF_ERROR(run());
    us.push_back(MicrosSince(start));
    total += us.back();
  }
  return us;
}

// --------------------------------------------------------- qtune's kernel

struct QtuneChoice {
  std::unique_ptr<kernels::Kernel> kernel;  // null when none could be built
  std::string kernel_name;
  std::string config;
  std::string source;  // "tuned", "db", "default"
  int trials = 0;      // measured configs
  int failed = 0;      // configs that did not build or verify
  std::string first_failure;
  std::string error;   // why there is no kernel
};

// `space` restricted to threads == `threads` (the knob keeps only that
// value); the space itself when it has no threads knob.
absl::StatusOr<ConfigSpace> PinThreads(const ConfigSpace& space, int threads) {
  const kernels::Knob* knob = space.FindKnob("threads");
  if (knob == nullptr) return space;
  if (std::find(knob->values.begin(), knob->values.end(), threads) == knob->values.end()) {
    return absl::FailedPreconditionError(absl::StrCat("the space offers no threads=", threads));
  }
  Config start = space.default_config();
  start["threads"] = threads;
  if (!space.IsValid(start)) {
    bool found = false;
    space.ForEachValid([&](const Config& c) {
      if (c.at("threads") != threads) return true;
      start = c;
      found = true;
      return false;
    });
    if (!found) return absl::FailedPreconditionError(absl::StrCat("no valid config has threads=", threads));
  }
  std::vector<kernels::Knob> knobs = space.knobs();
  for (kernels::Knob& k : knobs) {
    if (k.name == "threads") k.values = {threads};
  }
  return ConfigSpace::Create(std::move(knobs), space.constraints(), start);
}

// Builds, verifies and times `config`; the kernel and its median on success.
struct Trial {
  std::unique_ptr<kernels::Kernel> kernel;
  double median_us = 0;
};

absl::StatusOr<Trial> RunTrial(const OpInstance& inst, const Config& config,
                               const kernels::Target& target, double trial_ms,
                               kernels::AlignedBuffer& output) {
  QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<kernels::Kernel> kernel,
                         kernels::CreateKernel(inst.op, config, inst.data, target));
  QTUNE_RETURN_IF_ERROR(kernel->Execute(inst.input.data(), output.data()));
  const kernels::VerifyResult verify = kernels::VerifyOutput(inst, output.data());
  if (verify.mismatches != 0) return absl::DataLossError(absl::StrCat("wrong output: ", verify.Summary()));
  kernels::Kernel* k = kernel.get();
  QTUNE_ASSIGN_OR_RETURN(std::vector<double> us,
                         TimeBlock([&] { return k->Execute(inst.input.data(), output.data()); },
                                   trial_ms, 3));
  return Trial{std::move(kernel), Median(us)};
}

// The config from the database: the fastest OK trial of (device, workload)
// measured by the kernels of this binary (its kernel build) whose config sets
// threads=`threads` (as `space` parses it); when there is none, the best OK
// trial of any thread count of this build. Trials of other builds would time
// other kernels.
absl::StatusOr<std::optional<std::string>> DbBestConfig(db::Store* store,
                                                        const std::string& device_key,
                                                        const OpSpec& op, const ConfigSpace& space,
                                                        int threads) {
  db::Filter filter;
  filter.device_key = device_key;
  filter.workload_key = kernels::CanonicalKey(op);
  filter.build_id = std::string(kernels::KernelBuildId());
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialRecord> trials, store->History(filter));
  const db::TrialRecord* best = nullptr;
  for (const db::TrialRecord& t : trials) {
    if (t.status != "OK") continue;
    absl::StatusOr<Config> c = space.Parse(t.config);
    if (!c.ok() || (c->count("threads") != 0 && c->at("threads") != threads)) continue;
    if (best == nullptr || t.median_us < best->median_us) best = &t;
  }
  if (best != nullptr) return std::optional<std::string>(best->config);
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::BestRecord> any, store->Best(filter));
  if (any.empty()) return std::optional<std::string>();
  return std::optional<std::string>(any.front().config);
}

QtuneChoice ChooseKernel(const OpInstance& inst, int threads, const Options& o, db::Store* store,
                         const std::string& device_key, kernels::AlignedBuffer& output) {
  QtuneChoice choice;
  kernels::Target target = kernels::HostTarget();
  target.max_threads = std::max(target.max_threads, threads);
  absl::StatusOr<ConfigSpace> full = kernels::DescribeSpace(inst.op, target);
  if (!full.ok()) {
    choice.error = std::string(full.status().message());
    return choice;
  }
  absl::StatusOr<ConfigSpace> space = PinThreads(*full, threads);
  if (!space.ok()) {
    choice.error = std::string(space.status().message());
    return choice;
  }
  std::vector<Config> candidates;
  if (store != nullptr) {
    absl::StatusOr<std::optional<std::string>> text = DbBestConfig(store, device_key, inst.op, *full, threads);
    std::optional<Config> from_db;
    if (!text.ok()) {
      choice.first_failure = absl::StrCat("database: ", text.status().message());
    } else if (text->has_value()) {
      absl::StatusOr<Config> parsed = full->Parse(**text);
      absl::Status valid = parsed.status();
      if (parsed.ok()) {
        if (parsed->count("threads") != 0) (*parsed)["threads"] = threads;
        valid = space->Validate(*parsed);
        if (valid.ok()) from_db = *parsed;
      }
      if (!from_db) {
        choice.first_failure = absl::StrCat("database config '", **text, "' not usable with threads=",
                                            threads, ": ", valid.message());
      }
    }
    candidates.push_back(from_db ? *from_db : space->default_config());
    choice.source = from_db ? "db" : "default";
  } else {
    candidates.push_back(space->default_config());
    choice.source = o.trials > 1 ? "tuned" : "default";
  }

  double best_us = 0;
  Config best_config;
  auto measure = [&](const Config& config) -> tuner::Measurement {
    ++choice.trials;
    absl::StatusOr<Trial> trial = RunTrial(inst, config, target, o.trial_ms, output);
    if (!trial.ok()) {
      ++choice.failed;
      if (choice.first_failure.empty()) {
        choice.first_failure = absl::StrCat(space->ToString(config), ": ", trial.status().message());
      }
      return {config, false, 0};
    }
    if (choice.kernel == nullptr || trial->median_us < best_us) {
      choice.kernel = std::move(trial->kernel);
      best_us = trial->median_us;
      best_config = config;
    }
    return {config, true, trial->median_us};
  };

  std::vector<tuner::Measurement> history;
  for (const Config& c : candidates) history.push_back(measure(c));
  if (store == nullptr && o.trials > static_cast<int>(candidates.size())) {
    std::unique_ptr<tuner::SearchStrategy> strategy = *tuner::MakeSearchStrategy(o.strategy);
    absl::Status init = strategy->Init(*space, o.seed, history);
    int left = o.trials - static_cast<int>(candidates.size());
    while (init.ok() && left > 0) {
      std::vector<Config> batch = strategy->ProposeBatch(static_cast<size_t>(std::min(left, 8)));
      if (batch.empty()) break;
      std::vector<tuner::Measurement> results;
      for (const Config& c : batch) results.push_back(measure(c));
      strategy->Notify(results);
      left -= static_cast<int>(batch.size());
    }
  }
  if (choice.kernel == nullptr) {
    choice.error = absl::StrCat("no config built and verified (", choice.first_failure, ")");
  } else {
    choice.config = space->ToString(best_config);
    choice.kernel_name = choice.kernel->name();
  }
  return choice;
}

// ------------------------------------------------- output comparison

// The value of an int8 activation byte: u8, or s8 for io=s8.
int64_t ByteValue(const OpSpec& op, uint8_t b) {
  return op.signed_io ? int64_t{static_cast<int8_t>(b)} : int64_t{b};
}

// The int32 accumulator of output element `index` without bias:
// sum (x - input_zero_point) * w over the in-bounds taps.
int64_t Accumulator(const OpInstance& inst, int64_t index) {
  const OpSpec& op = inst.op;
  const int k = static_cast<int>(index % op.k);
  const int64_t pixel = index / op.k;
  const int ow = static_cast<int>(pixel % op.out_w());
  const int oh = static_cast<int>((pixel / op.out_w()) % op.out_h());
  const int n = static_cast<int>(pixel / (int64_t{op.out_w()} * op.out_h()));
  const uint8_t* x = inst.input.as<uint8_t>();
  const int32_t zp = inst.data.quant.input_zero_point;
  int64_t acc = 0;
  for (int r = 0; r < op.r; ++r) {
    const int ih = oh * op.stride_h - op.pad_top + r * op.dilation_h;
    if (ih < 0 || ih >= op.h) continue;
    for (int s = 0; s < op.s; ++s) {
      const int iw = ow * op.stride_w - op.pad_left + s * op.dilation_w;
      if (iw < 0 || iw >= op.w) continue;
      const uint8_t* in = x + ((int64_t{n} * op.h + ih) * op.w + iw) * op.c;
      const int8_t* w = inst.data.weights_s8.data() + ((int64_t{k} * op.r + r) * op.s + s) * op.c;
      for (int c = 0; c < op.c; ++c) acc += (ByteValue(op, in[c]) - zp) * w[c];
    }
  }
  return acc;
}

// oneDNN's int8 epilogue as we model it (docs/bench.md): the accumulator and
// the bias are converted to float and added, multiplied by the scale, the
// activation applied, the zero point added in float, then saturated to
// [0, 255] ([-128, 127] for io=s8) and rounded to nearest even. The
// reference instead rounds before adding the zero point.
int OneDnnModel(const OpInstance& inst, int64_t index) {
  const kernels::QuantParams& q = inst.data.quant;
  const int k = static_cast<int>(index % inst.op.k);
  const float scale = q.requant_scale[q.requant_scale.size() == 1 ? 0 : k];
  float v = (static_cast<float>(Accumulator(inst, index)) +
             static_cast<float>(inst.data.bias_s32[k])) * scale;
  v = std::max(v, static_cast<float>(q.output_min - q.output_zero_point));
  v = std::min(v, static_cast<float>(q.output_max - q.output_zero_point));
  v += static_cast<float>(q.output_zero_point);
  v = std::min(std::max(v, static_cast<float>(kernels::ActivationMin(inst.op))),
               static_cast<float>(kernels::ActivationMax(inst.op)));
  return static_cast<int>(std::nearbyint(v));
}

// Whether output element `index` has a tap in the padding.
bool HasPaddedTap(const OpSpec& op, int64_t index) {
  const int64_t pixel = index / op.k;
  const int ow = static_cast<int>(pixel % op.out_w());
  const int oh = static_cast<int>((pixel / op.out_w()) % op.out_h());
  const int ih0 = oh * op.stride_h - op.pad_top, iw0 = ow * op.stride_w - op.pad_left;
  return ih0 < 0 || iw0 < 0 || ih0 + (op.r - 1) * op.dilation_h >= op.h ||
         iw0 + (op.s - 1) * op.dilation_w >= op.w;
}

struct DiffCount {
  int64_t compared = 0;       // elements compared
  int64_t differ = -1;        // elements that differ (-1: not compared)
  int64_t explained = 0;      // ... of which oneDNN equals OneDnnModel()
  int64_t model_misses = 0;   // compared elements where oneDNN != OneDnnModel()
  int max_abs = 0;
  std::vector<std::string> examples;  // a few "index: ours vs theirs (model)"
};

// Compares every output element, or with `interior_only` those without a
// padded tap, and evaluates OneDnnModel() on each (a plain convolution: the
// cost of one reference run).
DiffCount CountDiff(const OpInstance& inst, const uint8_t* ours, const uint8_t* theirs,
                    bool interior_only) {
  DiffCount d;
  d.differ = 0;
  const int64_t n = inst.op.output_elements();
  for (int64_t i = 0; i < n; ++i) {
    if (interior_only && HasPaddedTap(inst.op, i)) continue;
    ++d.compared;
    const int model = OneDnnModel(inst, i);
    const int our = static_cast<int>(ByteValue(inst.op, ours[i]));
    const int their = static_cast<int>(ByteValue(inst.op, theirs[i]));
    if (model != their) ++d.model_misses;
    if (our == their) continue;
    ++d.differ;
    d.max_abs = std::max(d.max_abs, std::abs(our - their));
    if (model == their) ++d.explained;
    if (d.examples.size() < 3) {
      d.examples.push_back(absl::StrCat(i, ": ", our, " vs ", their, " (model ", model, ")"));
    }
  }
  return d;
}

// ------------------------------------------------------------ measurement

struct Contender {
  std::string label;  // "qtune int8 T1"
  std::function<void()> prepare;
  std::function<absl::Status()> run;
  std::vector<double> samples_us;
};

struct RoundStats {
  int rounds = 0;
  int remeasures = 0;
  int loaded_rounds = 0;   // rounds kept although loaded (re-measures exhausted)
  double max_outside_load = 0;
  std::string error;
};

// R rounds; round r runs every contender once (a block), starting at
// contender r mod n. A round whose outside load exceeds the threshold is
// run again, up to max_remeasure times; when every attempt was loaded, the
// least loaded one is kept.
RoundStats MeasureRounds(std::vector<Contender*>& contenders, const Options& o) {
  RoundStats stats;
  const size_t n = contenders.size();
  for (int r = 0; r < o.rounds && n > 0; ++r) {
    std::vector<std::vector<double>> kept;
    double kept_load = 0;
    for (int attempt = 0;; ++attempt) {
      std::vector<std::vector<double>> got(n);
      const CpuSnapshot before = TakeCpuSnapshot();
      for (size_t j = 0; j < n; ++j) {
        const size_t c = (r + j) % n;
        contenders[c]->prepare();
        absl::StatusOr<std::vector<double>> us = TimeBlock(contenders[c]->run, o.block_ms, o.block_runs);
        if (!us.ok()) {
          stats.error = absl::StrCat(contenders[c]->label, ": ", us.status().message());
          return stats;
        }
        got[c] = std::move(*us);
      }
      const double load = OutsideLoad(before, TakeCpuSnapshot());
      if (kept.empty() || load < kept_load) {
        kept = std::move(got);
        kept_load = load;
      }
      if (kept_load > o.load_threshold && attempt < o.max_remeasure) {
        ++stats.remeasures;
        continue;
      }
      break;
    }
    stats.max_outside_load = std::max(stats.max_outside_load, kept_load);
    if (kept_load > o.load_threshold) ++stats.loaded_rounds;
    for (size_t c = 0; c < n; ++c) {
      contenders[c]->samples_us.insert(contenders[c]->samples_us.end(), kept[c].begin(), kept[c].end());
    }
    ++stats.rounds;
  }
  return stats;
}

// Everything measured for one layer at one thread count.
struct Side {  // one dtype
  bool enabled = false;
  std::unique_ptr<OpInstance> instance;
  QtuneChoice qtune;
  std::unique_ptr<OneDnnOp> onednn;
  std::string onednn_impl;
  std::string onednn_error;
  Contender qtune_c, onednn_c;
  kernels::AlignedBuffer qtune_out, onednn_out;
  std::optional<bool> qtune_matches;   // vs reference
  std::optional<bool> onednn_matches;  // vs reference
  DiffCount diff;                      // int8: oneDNN vs qtune's output (or the reference)
  std::string diff_against;            // "qtune" or "reference"
  double qtune_us() const { return Median(qtune_c.samples_us); }
  double onednn_us() const { return Median(onednn_c.samples_us); }
};

struct LayerResult {
  const BenchLayer* layer = nullptr;
  int threads = 1;
  Side int8, fp32;
  RoundStats stats;
};

// Creates instances, qtune kernels (tuned or from the database) and oneDNN
// primitives of one layer at one thread count.
absl::Status PrepareSide(const BenchLayer& layer, DType dtype, int threads, const Options& o,
                         db::Store* store, const std::string& device_key, Side& side) {
  side.enabled = true;
  const OpSpec op = WithDType(layer.op, dtype);
  QTUNE_ASSIGN_OR_RETURN(side.instance, kernels::MakeOpInstance(op, o.seed));
  const size_t bytes = static_cast<size_t>(op.output_elements()) * kernels::ElementBytes(dtype);
  side.qtune_out = kernels::AlignedBuffer(bytes);
  side.onednn_out = kernels::AlignedBuffer(bytes);
  side.qtune = ChooseKernel(*side.instance, threads, o, store, device_key, side.qtune_out);
  absl::StatusOr<std::unique_ptr<OneDnnOp>> peer = OneDnnOp::Create(*side.instance, threads, o.fold_src_zero_point);
  if (peer.ok()) {
    side.onednn = std::move(*peer);
    side.onednn_impl = side.onednn->impl();
  } else {
    side.onednn_error = std::string(peer.status().message());
  }
  const std::string dt(kernels::DTypeName(dtype));
  const OpInstance* inst = side.instance.get();
  if (side.qtune.kernel != nullptr) {
    kernels::Kernel* k = side.qtune.kernel.get();
    void* out = side.qtune_out.data();
    side.qtune_c = {absl::StrCat("qtune ", dt, " T", threads), [] {},
                    [k, inst, out] { return k->Execute(inst->input.data(), out); }, {}};
  }
  if (side.onednn != nullptr) {
    OneDnnOp* peer_op = side.onednn.get();
    side.onednn_c = {absl::StrCat("oneDNN ", dt, " T", threads), [peer_op] { peer_op->Prepare(); },
                     [peer_op] { return peer_op->Execute(); }, {}};
  }
  return absl::OkStatus();
}

// Runs every available contender once more and compares the outputs.
absl::Status CheckSide(Side& side, bool interior_only) {
  if (!side.enabled) return absl::OkStatus();
  const OpInstance& inst = *side.instance;
  if (side.qtune.kernel != nullptr) {
    QTUNE_RETURN_IF_ERROR(side.qtune.kernel->Execute(inst.input.data(), side.qtune_out.data()));
    side.qtune_matches = kernels::VerifyOutput(inst, side.qtune_out.data()).mismatches == 0;
  }
  if (side.onednn != nullptr) {
    side.onednn->Prepare();
    QTUNE_RETURN_IF_ERROR(side.onednn->Execute());
    QTUNE_RETURN_IF_ERROR(side.onednn->ReadOutput(side.onednn_out.data()));
    side.onednn_matches = kernels::VerifyOutput(inst, side.onednn_out.data()).mismatches == 0;
    if (inst.op.dtype == DType::kInt8) {
      const bool vs_qtune = side.qtune.kernel != nullptr;
      side.diff_against = vs_qtune ? "qtune" : "reference";
      const uint8_t* ours = vs_qtune ? side.qtune_out.as<uint8_t>() : inst.reference.as<uint8_t>();
      side.diff = CountDiff(inst, ours, side.onednn_out.as<uint8_t>(), interior_only);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::unique_ptr<LayerResult>>> BenchLayerAllThreads(
    const BenchLayer& layer, const Options& o, db::Store* store, const std::string& device_key) {
  std::vector<std::unique_ptr<LayerResult>> results;
  std::vector<Contender*> contenders;
  for (int t : o.threads) {
    auto res = std::make_unique<LayerResult>();
    res->layer = &layer;
    res->threads = t;
    if (o.int8) QTUNE_RETURN_IF_ERROR(PrepareSide(layer, DType::kInt8, t, o, store, device_key, res->int8));
    if (o.fp32) QTUNE_RETURN_IF_ERROR(PrepareSide(layer, DType::kFp32, t, o, store, device_key, res->fp32));
    for (Side* side : {&res->int8, &res->fp32}) {
      if (side->qtune_c.run) contenders.push_back(&side->qtune_c);
      if (side->onednn_c.run) contenders.push_back(&side->onednn_c);
    }
    results.push_back(std::move(res));
  }
  const RoundStats stats = MeasureRounds(contenders, o);
  if (!stats.error.empty()) return absl::InternalError(stats.error);
  for (auto& res : results) {
    res->stats = stats;
    QTUNE_RETURN_IF_ERROR(CheckSide(res->int8, o.fold_src_zero_point));
    QTUNE_RETURN_IF_ERROR(CheckSide(res->fp32, false));
  }
  return results;
}

// ----------------------------------------------------------------- output

std::string Us(double us) { return std::isnan(us) ? "-" : absl::StrFormat("%.1f", us); }
std::string Ratio(double a, double b) {
  return (std::isnan(a) || std::isnan(b) || b <= 0) ? "-" : absl::StrFormat("%.2f", a / b);
}
std::string Bool(const std::optional<bool>& b) { return !b ? "-" : (*b ? "yes" : "NO"); }

// `v` rounded to 3 decimals; null when not a number.
Json JsonNum(double v) { return std::isnan(v) ? Json() : json::Number(std::round(v * 1000) / 1000); }

Json JsonOptBool(const std::optional<bool>& b) { return b ? Json(*b) : Json(); }

struct Sums {
  double qtune_int8 = 0, onednn_int8 = 0, qtune_fp32 = 0, onednn_fp32 = 0;
  int layers = 0, convolutions = 0;  // layers summed, occurrences summed
  bool complete = true;              // every summed median exists
};

Sums SumLayers(const std::vector<const LayerResult*>& rows) {
  Sums s;
  for (const LayerResult* r : rows) {
    if (!r->layer->in_summary) continue;
    const double occ = r->layer->occurrences;
    ++s.layers;
    s.convolutions += r->layer->occurrences;
    const double v[4] = {r->int8.qtune_us(), r->int8.onednn_us(), r->fp32.qtune_us(), r->fp32.onednn_us()};
    double* dst[4] = {&s.qtune_int8, &s.onednn_int8, &s.qtune_fp32, &s.onednn_fp32};
    for (int i = 0; i < 4; ++i) {
      if (std::isnan(v[i])) {
        s.complete = false;
        *dst[i] = std::nan("");
      } else {
        *dst[i] += occ * v[i];
      }
    }
  }
  return s;
}

Json SideJson(const Side& side) {
  Json j = Json::object();
  j["qtune_us"] = JsonNum(side.qtune_us());
  j["onednn_us"] = JsonNum(side.onednn_us());
  j["kernel"] = side.qtune.kernel_name;
  j["config"] = side.qtune.config;
  j["config_source"] = side.qtune.source;
  j["trials"] = side.qtune.trials;
  j["failed_trials"] = side.qtune.failed;
  if (!side.qtune.first_failure.empty()) j["first_failure"] = side.qtune.first_failure;
  if (!side.qtune.error.empty()) j["qtune_error"] = side.qtune.error;
  j["onednn_impl"] = side.onednn_impl;
  if (!side.onednn_error.empty()) j["onednn_error"] = side.onednn_error;
  j["matches_reference"] = JsonOptBool(side.qtune_matches);
  j["onednn_matches_reference"] = JsonOptBool(side.onednn_matches);
  j["samples_qtune"] = static_cast<int64_t>(side.qtune_c.samples_us.size());
  j["samples_onednn"] = static_cast<int64_t>(side.onednn_c.samples_us.size());
  return j;
}

Json LayerJson(const LayerResult& r) {
  const Side& i8 = r.int8;
  const Side& f32 = r.fp32;
  Json j = Json::object();
  j["name"] = r.layer->name;
  j["shape"] = kernels::ShapeString(r.layer->op);
  j["workload"] = kernels::CanonicalKey(r.layer->op);
  j["macs"] = r.layer->op.macs();
  j["occurrences"] = r.layer->occurrences;
  j["in_summary"] = r.layer->in_summary;
  j["threads"] = r.threads;
  j["qtune_int8_us"] = JsonNum(i8.qtune_us());
  j["onednn_int8_us"] = JsonNum(i8.onednn_us());
  j["qtune_fp32_us"] = JsonNum(f32.qtune_us());
  j["onednn_fp32_us"] = JsonNum(f32.onednn_us());
  const double ratio = i8.onednn_us() / i8.qtune_us();
  j["onednn_over_qtune_int8"] = JsonNum(ratio);
  j["qtune_int8_speedup_over_fp32"] = JsonNum(f32.qtune_us() / i8.qtune_us());
  j["kernel"] = i8.qtune.kernel_name;
  j["config"] = i8.qtune.config;
  j["matches_reference"] = JsonOptBool(i8.qtune_matches);
  if (i8.diff.differ >= 0) {
    j["onednn_diff"] = i8.diff.differ;
    j["onednn_compared"] = i8.diff.compared;
    j["onednn_diff_explained"] = i8.diff.explained;
    j["onednn_model_misses"] = i8.diff.model_misses;
    j["onednn_diff_max_abs"] = i8.diff.max_abs;
    j["onednn_diff_against"] = i8.diff_against;
    if (!i8.diff.examples.empty()) j["onednn_diff_examples"] = absl::StrJoin(i8.diff.examples, "; ");
  } else {
    j["onednn_diff"] = nullptr;
  }
  if (i8.enabled) j["int8"] = SideJson(i8);
  if (f32.enabled) j["fp32"] = SideJson(f32);
  j["rounds"] = r.stats.rounds;
  j["remeasures"] = r.stats.remeasures;
  j["measured_under_load"] = r.stats.loaded_rounds > 0;
  j["max_outside_load"] = json::Number(std::round(r.stats.max_outside_load * 1000) / 1000);
  return j;
}

Json SummaryJson(const Sums& s, int expected_convolutions) {
  Json j = Json::object();
  j["layers"] = s.layers;
  j["convolutions"] = s.convolutions;
  if (expected_convolutions > 0) j["complete"] = s.complete && s.convolutions == expected_convolutions;
  j["qtune_int8_us"] = JsonNum(s.qtune_int8);
  j["onednn_int8_us"] = JsonNum(s.onednn_int8);
  j["qtune_fp32_us"] = JsonNum(s.qtune_fp32);
  j["onednn_fp32_us"] = JsonNum(s.onednn_fp32);
  j["onednn_over_qtune_int8"] = JsonNum(s.onednn_int8 / s.qtune_int8);
  j["qtune_int8_speedup_over_fp32"] = JsonNum(s.qtune_fp32 / s.qtune_int8);
  j["onednn_int8_speedup_over_fp32"] = JsonNum(s.onednn_fp32 / s.onednn_int8);
  return j;
}

void PrintTable(int threads, const std::vector<const LayerResult*>& rows, const Sums& s,
                const std::string& summary_label) {
  std::printf("\nthreads=%d  (times: median us; dnnl/q > 1 means qtune is faster)\n", threads);
  std::printf("%-22s %-22s %3s %8s %9s %9s %6s %9s %9s %6s %5s %6s  %s  %s\n", "layer", "shape", "occ",
              "MMACs", "q-int8", "dnnl-int8", "dnnl/q", "q-fp32", "dnnl-fp32", "q f/i", "match", "diff",
              "kernel", "config");
  for (const LayerResult* r : rows) {
    const Side& i8 = r->int8;
    const Side& f32 = r->fp32;
    std::string diff = "-";
    if (i8.diff.differ >= 0) {
      diff = absl::StrCat(i8.diff.differ);
      if (i8.diff.differ > 0) absl::StrAppend(&diff, "(", i8.diff.explained, "e)");
    }
    std::string flags = r->stats.loaded_rounds > 0 ? " [LOADED]" : "";
    std::printf("%-22s %-22s %3d %8.1f %9s %9s %6s %9s %9s %6s %5s %6s  %s  %s%s\n",
                r->layer->name.c_str(), kernels::ShapeString(r->layer->op).c_str(),
                r->layer->occurrences, r->layer->op.macs() / 1e6, Us(i8.qtune_us()).c_str(),
                Us(i8.onednn_us()).c_str(), Ratio(i8.onednn_us(), i8.qtune_us()).c_str(),
                Us(f32.qtune_us()).c_str(), Us(f32.onednn_us()).c_str(),
                Ratio(f32.qtune_us(), i8.qtune_us()).c_str(), Bool(i8.qtune_matches).c_str(),
                diff.c_str(), i8.qtune.kernel_name.empty() ? i8.qtune.error.c_str() : i8.qtune.kernel_name.c_str(),
                i8.qtune.config.c_str(), flags.c_str());
  }
  std::printf("summary (%s, %d layers, %d convolutions, occurrence-weighted):\n", summary_label.c_str(),
              s.layers, s.convolutions);
  std::printf("  int8: qtune %s us, oneDNN %s us, oneDNN/qtune %s\n", Us(s.qtune_int8).c_str(),
              Us(s.onednn_int8).c_str(), Ratio(s.onednn_int8, s.qtune_int8).c_str());
  std::printf("  fp32: qtune %s us, oneDNN %s us; qtune int8 over qtune fp32 %sx (oneDNN %sx)\n",
              Us(s.qtune_fp32).c_str(), Us(s.onednn_fp32).c_str(),
              Ratio(s.qtune_fp32, s.qtune_int8).c_str(), Ratio(s.onednn_fp32, s.onednn_int8).c_str());
}

// -------------------------------------------------------------------- main

// libgomp reads OMP_WAIT_POLICY when it is loaded, before main(): re-execute
// once with the passive policy unless the caller chose one.
void EnsurePassiveOpenMp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("QTUNE_BENCH_REEXEC") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  setenv("QTUNE_BENCH_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  std::fprintf(stderr, "qtune-bench: warning: could not re-execute with OMP_WAIT_POLICY=passive: %s\n",
               std::strerror(errno));
}

absl::Status Run(const Options& o) {
  // Before anything asks oneDNN which ISA it runs: that fixes it.
  if (!o.peer_max_isa.empty()) {
    if (absl::Status s = LimitOneDnnIsa(o.peer_max_isa); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--peer-max-isa: ", s.message()));
    }
  }
  QTUNE_ASSIGN_OR_RETURN(std::vector<BenchLayer> layers, SelectLayers(o));
  std::unique_ptr<db::Store> store;
  std::string device_key;
  if (!o.db.empty()) {
    QTUNE_ASSIGN_OR_RETURN(store, db::Store::Open(o.db, db::Store::Mode::kReadOnly));
    device_key = agent::ProbeDeviceInfo().device_key();
  }
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const std::string omp_policy = policy != nullptr ? policy : "(unset)";
  const std::string held =
      o.peer_max_isa.empty() ? "" : absl::StrCat(" (held to ", o.peer_max_isa, " by --peer-max-isa)");
  std::fprintf(stderr, "qtune-bench: %zu layers, threads %s, %s, oneDNN %s%s, OMP_WAIT_POLICY=%s\n",
               layers.size(), absl::StrJoin(o.threads, ",").c_str(),
               store ? absl::StrCat("configs from ", o.db, " (device ", device_key, ")").c_str()
                     : absl::StrCat(o.trials, " trials per dtype (", o.strategy, ")").c_str(),
               OneDnnDescription().c_str(), held.c_str(), omp_policy.c_str());

  std::vector<std::unique_ptr<LayerResult>> all;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Clock::time_point start = Clock::now();
    QTUNE_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<LayerResult>> res,
                           BenchLayerAllThreads(layers[i], o, store.get(), device_key));
    std::fprintf(stderr, "[%zu/%zu] %s %s: %.1f s", i + 1, layers.size(), layers[i].name.c_str(),
                 kernels::ShapeString(layers[i].op).c_str(), MicrosSince(start) / 1e6);
    for (const auto& r : res) {
      std::fprintf(stderr, "  T%d int8 q %s / dnnl %s us, fp32 q %s / dnnl %s us", r->threads,
                   Us(r->int8.qtune_us()).c_str(), Us(r->int8.onednn_us()).c_str(),
                   Us(r->fp32.qtune_us()).c_str(), Us(r->fp32.onednn_us()).c_str());
    }
    if (!res.empty() && res[0]->stats.remeasures > 0) {
      std::fprintf(stderr, "  (%d re-measures)", res[0]->stats.remeasures);
    }
    std::fprintf(stderr, "\n");
    for (auto& r : res) {
      // Release kernels and primitives; keep the results.
      for (Side* side : {&r->int8, &r->fp32}) {
        side->qtune_c.run = nullptr;
        side->onednn_c.run = nullptr;
        side->onednn_c.prepare = nullptr;
        side->qtune.kernel.reset();
        side->onednn.reset();
        side->instance.reset();
        side->qtune_out = kernels::AlignedBuffer();
        side->onednn_out = kernels::AlignedBuffer();
      }
      all.push_back(std::move(r));
    }
  }

  const bool model_mode = o.shapes.empty();
  const std::string summary_label =
      model_mode ? absl::StrCat(o.model, " convolutions after the first layer") : "all shapes";
  // ResNet18: 16 convolutions after conv1.
  int expected = 0;
  if (model_mode) {
    QTUNE_ASSIGN_OR_RETURN(const tuner::Model* model, tuner::FindModel(o.model));
    for (size_t i = 1; i < model->layers.size(); ++i) {
      if (model->layers[i].op.kind == OpKind::kConv2d) expected += model->layers[i].occurrences;
    }
  }

  Json runs_json = Json::array();
  Json first_summary;
  std::map<int, Sums> sums;
  for (int t : o.threads) {
    std::vector<const LayerResult*> rows;
    for (const auto& r : all) {
      if (r->threads == t) rows.push_back(r.get());
    }
    sums[t] = SumLayers(rows);
    PrintTable(t, rows, sums[t], summary_label);
    Json layer_json = Json::array();
    for (const LayerResult* r : rows) layer_json.push_back(LayerJson(*r));
    Json run = {{"threads", t}, {"layers", layer_json}, {"summary", SummaryJson(sums[t], expected)}};
    if (first_summary.is_null()) first_summary = run["summary"];
    runs_json.push_back(std::move(run));
  }

  Json scaling_json = Json::array();
  const int base = o.threads.front();
  for (size_t i = 1; i < o.threads.size(); ++i) {
    const int t = o.threads[i];
    const double q = sums[base].qtune_int8 / sums[t].qtune_int8;
    const double d = sums[base].onednn_int8 / sums[t].onednn_int8;
    const double qf = sums[base].qtune_fp32 / sums[t].qtune_fp32;
    const double df = sums[base].onednn_fp32 / sums[t].onednn_fp32;
    std::printf("scaling %d -> %d threads (weighted sum, time(T%d)/time(T%d)): qtune int8 %s, oneDNN int8 "
                "%s, qtune fp32 %s, oneDNN fp32 %s\n",
                base, t, base, t, Ratio(q, 1).c_str(), Ratio(d, 1).c_str(), Ratio(qf, 1).c_str(),
                Ratio(df, 1).c_str());
    Json s = {{"from_threads", base}, {"to_threads", t}};
    s["qtune_int8"] = JsonNum(q);
    s["onednn_int8"] = JsonNum(d);
    s["qtune_fp32"] = JsonNum(qf);
    s["onednn_fp32"] = JsonNum(df);
    scaling_json.push_back(std::move(s));
  }

  if (!o.json.empty()) {
    Json root = Json::object();
    root["benchmark"] = "conv";
    root["model"] = model_mode ? o.model : "";
    root["summary_scope"] = summary_label;
    root["peer"] = absl::StrCat("oneDNN ", OneDnnDescription());
    root["peer_max_isa"] = o.peer_max_isa.empty() ? std::string("(none)") : o.peer_max_isa;
    root["omp_wait_policy"] = omp_policy;
    root["onednn_src_zero_point"] = o.fold_src_zero_point ? "fold" : "attr";
    root["config_source"] = store ? absl::StrCat("db:", o.db) : absl::StrCat("tuned:", o.strategy);
    root["trials"] = store ? 0 : o.trials;
    root["rounds"] = o.rounds;
    root["block_ms"] = json::Number(o.block_ms);
    root["block_runs"] = o.block_runs;
    root["load_threshold"] = json::Number(o.load_threshold);
    root["seed"] = static_cast<int64_t>(o.seed);
    root["created_at"] = db::NowTimestamp();
    root["summary_threads"] = o.threads.front();
    root["summary"] = first_summary;
    root["runs"] = runs_json;
    root["scaling"] = scaling_json;
    std::ofstream out(o.json);
    out << json::Dump(root) << "\n";
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", o.json));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace qtune::bench

int main(int argc, char** argv) {
  qtune::bench::EnsurePassiveOpenMp(argv);
  absl::StatusOr<qtune::bench::Options> options = qtune::bench::ParseArgs(argc, argv);
  if (!options.ok()) return qtune::cli::ReportError("qtune-bench", options.status());
  absl::Status status = qtune::bench::Run(*options);
  if (!status.ok()) return qtune::cli::ReportError("qtune-bench", status);
  return 0;
}
