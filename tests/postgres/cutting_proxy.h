// CuttingProxy: a TCP proxy in front of the test server that can lose one answer or one
// request. Armed with a text, it drops the first chunk the server (or the client) sends that
// contains it and closes that connection on both sides, as when the network or a host fails
// after the server acted but before its answer arrived (or before the request reached it).
// Every other byte is passed on unchanged, in both directions.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace annals::pg::testing {

class CuttingProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards to 127.0.0.1:`server_port`.
  explicit CuttingProxy(int server_port);
  ~CuttingProxy();
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  int port() const { return port_; }
  // Arms the cut, once: the next server chunk containing `text` is lost.
  void CutAnswerContaining(std::string text) { Arm(kServer, std::move(text)); }
  // Arms the cut, once: the next client chunk containing `text` is lost.
  void CutRequestContaining(std::string text) { Arm(kClient, std::move(text)); }
  // How many answers were cut.
  int cuts() const { return cuts_; }

 private:
  enum Side { kClient = 0, kServer = 1 };
  void Arm(Side from, std::string text);
  void AcceptLoop();
  void Forward(int client, int server);
  // Whether `chunk`, sent by `from`, is the armed one (then the cut is disarmed).
  bool TakeCut(Side from, const char* chunk, size_t size);

  const int server_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> cuts_{0};
  std::mutex mu_;
  std::string armed_;  // empty: not armed
  Side armed_from_ = kServer;
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // under mu_
};

}  // namespace annals::pg::testing
