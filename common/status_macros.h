// File: status_macros.h
// Propagation helpers for absl::Status / absl::StatusOr (the pinned Abseil,
// 20220623, has none of its own).
//
//   QTUNE_RETURN_IF_ERROR(store->AddTrials(batch));
//   QTUNE_ASSIGN_OR_RETURN(ConfigSpace space, DescribeSpace(op, target));
#ifndef QTUNE_COMMON_STATUS_MACROS_H_
#define QTUNE_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QTUNE_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::absl::Status qtune_status_ = (expr);           \
    if (!qtune_status_.ok()) return qtune_status_;   \
  } while (0)

#define QTUNE_STATUS_CONCAT_INNER_(a, b) a##b
#define QTUNE_STATUS_CONCAT_(a, b) QTUNE_STATUS_CONCAT_INNER_(a, b)

#define QTUNE_ASSIGN_OR_RETURN(lhs, expr) \
  QTUNE_ASSIGN_OR_RETURN_IMPL_(QTUNE_STATUS_CONCAT_(qtune_statusor_, __LINE__), lhs, expr)

#define QTUNE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) return statusor.status();           \
  lhs = std::move(statusor).value()

#endif  // QTUNE_COMMON_STATUS_MACROS_H_
