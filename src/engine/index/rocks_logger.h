// RocksDB's diagnostics, sent to the process's log instead of a `LOG` file in the index folder.
//
// RocksDB's own file logger keeps writing after a failed write, and the Debian build of RocksDB
// keeps its assertions: on a full disk, the next line it logged aborted the process (opening a
// store, or closing one at shutdown). Routed here, a full disk leaves the log lines and the
// process alone, and RocksDB's warnings appear beside the store's own, in one place.
#pragma once

#include <memory>

#include <rocksdb/env.h>

namespace annals::index {

// Levels: RocksDB's warnings and errors are logged as warnings and errors; its informational
// lines (flushes, compactions, periodic statistics) at debug.
std::shared_ptr<rocksdb::Logger> MakeRocksLogger();

}  // namespace annals::index
