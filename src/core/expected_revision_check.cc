#include "core/expected_revision_check.h"

#include <string>

namespace annals {

Status CheckExpectedRevision(std::string_view stream, ExpectedRevision expected,
                             std::optional<Revision> last, bool soft_deleted) {
  bool ok = false;
  switch (expected.kind()) {
    case ExpectedRevision::Kind::kAny:
      ok = true;
      break;
    case ExpectedRevision::Kind::kNoStream:
      ok = !last.has_value() || soft_deleted;
      break;
    case ExpectedRevision::Kind::kStreamExists:
      ok = last.has_value() && !soft_deleted;
      break;
    case ExpectedRevision::Kind::kExact:
      ok = last.has_value() && *last == expected.revision();
      break;
  }
  if (ok) return Status::Ok();
  return Status::WrongRevision(std::string(stream), RevisionConflict{expected, last});
}

}  // namespace annals
