// WorkersStayAwake (qtune/kernels/threads.h): multi-threaded kernels of
// every path this CPU has stay exact while workers spin between calls, with
// scopes held on several threads and nested, and after the last scope ends.
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/threads.h"
#include "qtune/kernels/verify.h"
#include "tests/kernels/kernel_test_util.h"

namespace qtune::kernels {
namespace {

// Runs the two-thread default config of a conv2d and a depthwise layer on
// every path of this CPU, `rounds` times, expecting the reference's output.
void ExpectExactKernels(int rounds) {
  const char* const specs[] = {"conv2d/int8/H=14,W=14,C=32,K=48,R=3,S=3,pad=1",
                               "depthwise_conv2d/int8/H=14,W=14,C=64,K=64,R=3,S=3,pad=1,groups=64",
                               "conv2d/fp32/H=9,W=9,C=16,K=24,R=1,S=1"};
  for (const std::string& path : CpuPaths()) {
    for (const char* spec : specs) {
      auto op = ParseOpSpec(spec);
      ASSERT_TRUE(op.ok()) << op.status();
      auto inst = MakeOpInstance(*op, 5);
      ASSERT_TRUE(inst.ok()) << inst.status();
      const Target target = PathTarget(path, 2);
      auto space = DescribeSpace(*op, target);
      if (!space.ok()) continue;  // this path has no kernel for the op
      Config config = space->default_config();
      if (space->FindKnob("threads") != nullptr) config["threads"] = 2;
      if (!space->Validate(config).ok()) config = space->default_config();
      for (int i = 0; i < rounds; ++i) {
        ASSERT_TRUE(ExpectMatchesReference(**inst, *space, config, target, std::regex(".*"),
                                           path + " " + spec)
                        .has_value());
      }
    }
  }
}

TEST(WorkersStayAwakeTest, KernelsStayExactWhileWorkersSpin) {
  {
    const WorkersStayAwake awake;
    ExpectExactKernels(3);
    {
      const WorkersStayAwake nested;
      ExpectExactKernels(1);
    }
    ExpectExactKernels(1);
  }
  ExpectExactKernels(1);  // after the last scope: workers sleep again
}

TEST(WorkersStayAwakeTest, ScopesOnSeveralThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([] {
      const WorkersStayAwake awake;
      ExpectExactKernels(1);
    });
  }
  for (std::thread& t : threads) t.join();
  ExpectExactKernels(1);
}

}  // namespace
}  // namespace qtune::kernels
