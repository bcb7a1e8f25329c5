#include "device_agent/model_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_security.h"
#include "common/sha256.h"
#include "common/rpc_guard.h"
#include "proto/convert.h"
#include "proto/model.grpc.pb.h"
#include "runtime/executor.h"

namespace qtune::agent {
namespace {

// Runs of each variant when settling alternative configs (Executor::Settle).
constexpr int kSettleRounds = 11;

bool IsSha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The models kept: the kMaxModels most recently used in memory, and every
// one on disk when there is a cache directory. Thread-safe.
class ModelCache {
 public:
  explicit ModelCache(std::string dir) : dir_(std::move(dir)) {}

  std::shared_ptr<const proto::ModelGraph> Find(const std::string& sha) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = models_.begin(); it != models_.end(); ++it) {
        if (it->first != sha) continue;
        models_.splice(models_.begin(), models_, it);
        return it->second;
      }
    }
    if (dir_.empty()) return nullptr;
    // From disk: checked again, as anything on disk may have changed.
    std::ifstream in(Path(sha), std::ios::binary);
    if (!in) return nullptr;
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (Sha256Hex(bytes) != sha) return nullptr;
    auto graph = std::make_shared<proto::ModelGraph>();
    if (!graph->ParseFromString(bytes)) return nullptr;
    Keep(sha, graph, /*write=*/false);
    return graph;
  }

  void Keep(const std::string& sha, std::shared_ptr<const proto::ModelGraph> graph, bool write,
            const std::string& bytes = "") {
    std::lock_guard<std::mutex> lock(mu_);
    models_.remove_if([&](const auto& m) { return m.first == sha; });
    models_.emplace_front(sha, std::move(graph));
    while (models_.size() > static_cast<size_t>(kMaxModels)) models_.pop_back();
    if (write && !dir_.empty()) {
      // Written whole, then renamed: a reader never sees a partial file.
      const std::string tmp = Path(sha) + ".tmp";
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      out.close();
      if (out) std::rename(tmp.c_str(), Path(sha).c_str());
      else std::remove(tmp.c_str());
    }
  }

 private:
  std::string Path(const std::string& sha) const { return dir_ + "/" + sha + ".qmodel"; }

  const std::string dir_;
  std::mutex mu_;
  std::list<std::pair<std::string, std::shared_ptr<const proto::ModelGraph>>> models_;
};

class ModelRunnerService final : public proto::ModelRunner::Service {
 public:
  ModelRunnerService(ModelServiceOptions options, WorkerSupervisor* supervisor)
      : options_(std::move(options)), cache_(options_.cache_dir), supervisor_(supervisor) {}

  grpc::Status LoadModel(grpc::ServerContext* context, grpc::ServerReader<proto::ModelChunk>* reader,
                         proto::LoadModelReply* reply) override {
    return Guard("agent", [&] {
      if (absl::Status auth = CheckToken(*context, options_.token); !auth.ok()) return ToGrpc(auth);
      proto::ModelChunk chunk;
      if (!reader->Read(&chunk)) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no chunks");
      }
      const std::string sha = chunk.sha256();
      const int64_t total = chunk.total_bytes();
      if (!IsSha256(sha)) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "sha256 must be 64 lower-case hex digits");
      }
      if (total < 1 || total > kMaxModelBytes) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("model of ", total, " bytes; 1 to ", kMaxModelBytes));
      }
      reply->set_sha256(sha);
      if (cache_.Find(sha) != nullptr) {
        reply->set_cached(true);
        return grpc::Status::OK;
      }
      std::string bytes;
      Sha256 hash;
      do {
        if (chunk.sha256() != sha || chunk.total_bytes() != total) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "chunks of one call must name one model");
        }
        if (chunk.offset() != static_cast<int64_t>(bytes.size())) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              absl::StrCat("chunk at offset ", chunk.offset(), "; expected ",
                                           bytes.size()));
        }
        if (static_cast<int64_t>(bytes.size() + chunk.data().size()) > total) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "more bytes than total_bytes");
        }
        hash.Update(chunk.data());
        bytes += chunk.data();
      } while (reader->Read(&chunk));
      if (static_cast<int64_t>(bytes.size()) != total) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("model truncated: ", bytes.size(), " of ", total,
                                         " bytes"));
      }
      if (hash.HexDigest() != sha) {
        return grpc::Status(grpc::StatusCode::DATA_LOSS,
                            "the model's bytes do not match its sha256");
      }
      auto graph = std::make_shared<proto::ModelGraph>();
      if (!graph->ParseFromString(bytes)) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "not a serialised ModelGraph");
      }
      // Validated now (no kernels built), so a bad model fails here.
      runtime::ExecutorOptions check;
      check.reference = true;
      absl::StatusOr<std::unique_ptr<runtime::Executor>> valid =
          runtime::Executor::Create(*graph, check);
      if (!valid.ok()) return ToGrpc(valid.status());
      cache_.Keep(sha, graph, /*write=*/true, bytes);
      return grpc::Status::OK;
    });
  }

  grpc::Status RunModel(grpc::ServerContext* context, const proto::RunModelRequest* request,
                        proto::RunModelReply* reply) override {
    return Guard("agent", [&] {
      if (absl::Status auth = CheckToken(*context, options_.token); !auth.ok()) return ToGrpc(auth);
      std::shared_ptr<const proto::ModelGraph> graph = cache_.Find(request->sha256());
      if (graph == nullptr) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND,
                            absl::StrCat("model ", request->sha256(),
                                         " is not loaded here; send it with LoadModel"));
      }
      const int runs = request->runs() == 0 ? 20 : request->runs();
      const int warmup = request->warmup_runs() == 0 ? 3 : request->warmup_runs();
      if (runs < 1 || runs > kMaxRuns || warmup < 0 || warmup > kMaxRuns) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("runs and warmup_runs must be 0..", kMaxRuns));
      }
      if (request->threads() < 0 || request->threads() > 1024) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "threads must be 0..1024");
      }
      std::map<std::string, bool> conv_nodes;
      for (const proto::ModelNode& n : graph->nodes()) {
        if (n.kind() == proto::ModelNode::CONV) conv_nodes[n.name()] = true;
      }
      runtime::ExecutorOptions options;
      options.threads = request->threads();
      options.reference = request->reference();
      options.fuse = !request->no_fusion();
      std::string key = absl::StrCat(request->sha256(), "|", options.threads, "|",
                                     options.reference, "|", options.fuse);
      // Configs by node name, for convolutions of the model only.
      auto take = [&](const auto& given, const char* what,
                      std::map<std::string, kernels::Config>& into) -> grpc::Status {
        for (const auto& [name, config] : given) {
          if (!conv_nodes.count(name)) {
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                absl::StrCat(what, " for '", name,
                                             "', which is not a convolution of the model"));
          }
          into[name] = FromProto(config);
        }
        return grpc::Status::OK;
      };
      if (grpc::Status s = take(request->configs(), "a config", options.configs); !s.ok()) {
        return s;
      }
      if (grpc::Status s = take(request->alternatives(), "an alternative config",
                                options.alternatives);
          !s.ok()) {
        return s;
      }
      for (const auto& [name, config] : options.configs) {
        absl::StrAppend(&key, "|", name, "=", kernels::ConfigToString(config));
      }
      for (const auto& [name, config] : options.alternatives) {
        absl::StrAppend(&key, "|", name, "~", kernels::ConfigToString(config));
      }
      const std::function<bool()> cancelled = [context] { return context->IsCancelled(); };
      absl::Status status = supervisor_->RunExclusive(
          [&]() -> absl::Status {
            std::lock_guard<std::mutex> lock(executor_mu_);
            const std::string input =
                request->input().empty() ? runtime::DefaultInput(*graph) : request->input();
            if (executor_ == nullptr || executor_key_ != key) {
              executor_.reset();
              absl::StatusOr<std::unique_ptr<runtime::Executor>> made =
                  runtime::Executor::Create(*graph, options);
              if (!made.ok()) return made.status();
              // Alternatives are settled once per executor, on its first input.
              if (absl::Status s = (*made)->Settle(input, kSettleRounds); !s.ok()) return s;
              executor_ = *std::move(made);
              executor_key_ = key;
            }
            return Time(*executor_, input, options.reference ? 0 : warmup,
                        options.reference ? 1 : runs, request->return_output(), reply,
                        cancelled);
          },
          cancelled);
      if (!status.ok()) return ToGrpc(status);
      reply->set_kernel_build_id(options_.info.kernel_build_id());
      return grpc::Status::OK;
    });
  }

 private:
  // Warm-up runs, then timed ones; medians per node and of the whole.
  static absl::Status Time(runtime::Executor& executor, const std::string& input, int warmup,
                           int runs, bool return_output, proto::RunModelReply* reply,
                           const std::function<bool()>& cancelled) {
    std::string output;
    for (int i = 0; i < warmup; ++i) {
      if (absl::Status s = executor.Run(input, &output); !s.ok()) return s;
    }
    const size_t nodes = executor.nodes().size();
    std::vector<std::vector<double>> per_node(nodes);
    std::vector<double> totals, node_us;
    for (int i = 0; i < runs; ++i) {
      if (cancelled()) return absl::CancelledError("cancelled by the client or past its deadline");
      const auto start = std::chrono::steady_clock::now();
      if (absl::Status s = executor.Run(input, &output, &node_us); !s.ok()) return s;
      totals.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count());
      for (size_t n = 0; n < nodes; ++n) per_node[n].push_back(node_us[n]);
    }
    reply->set_median_us(Median(totals));
    reply->set_min_us(*std::min_element(totals.begin(), totals.end()));
    reply->set_runs(runs);
    for (size_t n = 0; n < nodes; ++n) {
      const runtime::NodeInfo& info = executor.nodes()[n];
      proto::NodeTiming* t = reply->add_nodes();
      t->set_name(info.name);
      t->set_kind(info.kind);
      t->set_kernel(info.kernel);
      t->set_default_config(info.default_config);
      t->set_alternative(info.alternative);
      t->set_fused_add(info.fused_add);
      t->set_fused_into(info.fused_into);
      t->set_median_us(Median(per_node[n]));
    }
    reply->set_output_type(executor.output_type());
    for (int64_t d : executor.output_shape()) reply->add_output_shape(d);
    if (return_output) reply->set_output(std::move(output));
    return absl::OkStatus();
  }

  const ModelServiceOptions options_;
  ModelCache cache_;
  WorkerSupervisor* const supervisor_;
  std::mutex executor_mu_;
  std::unique_ptr<runtime::Executor> executor_;  // of executor_key_
  std::string executor_key_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeModelRunnerService(ModelServiceOptions options,
                                                      WorkerSupervisor* supervisor) {
  return std::make_unique<ModelRunnerService>(std::move(options), supervisor);
}

}  // namespace qtune::agent
