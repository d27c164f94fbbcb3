#include "server/core/writes/rejected.h"

#include <utility>

namespace confcenter {
namespace {

class RejectedWrite final : public Write {
 public:
  RejectedWrite(absl::Status status, AuditTargets targets, std::unique_ptr<Write> original,
                std::function<void(const absl::Status&)> done)
      : status_(std::move(status)),
        targets_(std::move(targets)),
        original_(std::move(original)),
        done_(std::move(done)) {}

  absl::string_view default_rpc() const override {
    return original_ != nullptr ? original_->default_rpc() : "";
  }
  // Only its audit record is written: it joins any batch.
  bool exclusive() const override { return false; }
  absl::Status Validate(const CoreOptions&, const WriteContext&) const override {
    return absl::OkStatus();
  }
  AuditTargets Targets() const override { return targets_; }
  absl::StatusOr<Completion> Plan(const PlanContext&, storage::ChangeSet&) override {
    if (status_.ok()) {  // an audit record of something that happened elsewhere (a read)
      return Completion([done = done_](const absl::Status& committed) {
        if (done) done(committed);
      });
    }
    return status_;
  }
  // A refusal is answered with its own status whatever became of its record (written, shed
  // by the refusal limiter, or failed): the record is best effort, the answer is not.
  void Fail(const absl::Status& status) override {
    const absl::Status& answer = status_.ok() ? status : status_;
    if (original_ != nullptr) {
      original_->Fail(answer);
    } else if (done_) {  // an audit-only write (AuditRead) has no one to tell
      done_(answer);
    }
  }

 private:
  const absl::Status status_;
  const AuditTargets targets_;
  const std::unique_ptr<Write> original_;
  const std::function<void(const absl::Status&)> done_;
};

}  // namespace

std::unique_ptr<Write> MakeRejectedWrite(absl::Status status, AuditTargets targets,
                                         std::function<void(const absl::Status&)> done) {
  return std::make_unique<RejectedWrite>(std::move(status), std::move(targets), nullptr,
                                         std::move(done));
}

std::unique_ptr<Write> MakeRejectedWrite(std::unique_ptr<Write> write, absl::Status status) {
  AuditTargets targets = write->Targets();
  return std::make_unique<RejectedWrite>(std::move(status), std::move(targets), std::move(write),
                                         nullptr);
}

}  // namespace confcenter
