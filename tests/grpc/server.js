// Starts the real `annals serve` for the Node client tests: a child process on a free port,
// found from its "listening on" line.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

function annalsBinary() {
  const dir = process.env.ANNALS_BIN;
  if (!dir) throw new Error("ANNALS_BIN (the directory of the annals binary) is not set");
  return path.join(dir, "annals");
}

// A port that was free a moment ago (for restarts on the same port).
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

class AnnalsServer {
  // `args` after `serve`; the data directory is kept across restart().
  constructor(args = []) {
    this.args = args;
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "annals-grpc-"));
    this.stderr = "";
  }

  async start(port = 0) {
    const args = ["serve", "--http", `127.0.0.1:${port}`, "--data-dir", this.dataDir,
                  "--durability", "unsafe-no-sync", "--log-level", "warn", ...this.args];
    this.child = spawn(annalsBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stderr.on("data", (d) => { this.stderr += d.toString(); });
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.exited = exited;
    const address = await new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("annals did not start: " + this.stderr)),
                               20000);
      this.child.stdout.on("data", (d) => {
        out += d.toString();
        const m = out.match(/listening on https?:\/\/([^ ]+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      exited.then((code) => reject(new Error(`annals exited (${code}): ${this.stderr}`)));
    });
    this.address = address;
    this.port = Number(address.split(":").pop());
    return address;
  }

  async stop(signal = "SIGTERM") {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }

  async restart() {
    await this.stop();
    return this.start(this.port);
  }

  cleanup() {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  connectionString(scheme = "kurrentdb") {
    return `${scheme}://${this.address}?tls=false`;
  }
}

module.exports = { AnnalsServer, freePort };
