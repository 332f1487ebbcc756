// Builds the example server (examples/basic) from this repository, starts it
// on a free port with a fresh data directory, and stops it after the tests.
// The tests reach it through inject("carcosaURL").
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The example server's root URL, e.g. "http://127.0.0.1:41234/". */
    carcosaURL: string;
  }
}

/** The repository root: the nearest directory above this file with Carcosa's go.mod. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const mod = path.join(dir, "go.mod");
    if (existsSync(mod) && readFileSync(mod, "utf8").includes("module github.com/carcosa-dev/carcosa\n")) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error("global-setup: no go.mod of github.com/carcosa-dev/carcosa above " + import.meta.url);
    dir = up;
  }
}

export default async function setup(project: TestProject) {
  return startExample(project, []);
}

/**
 * Builds examples/basic, starts it with args after its address and data
 * directory, provides its URL as carcosaURL, and returns the teardown that
 * stops it.
 */
export async function startExample(project: TestProject, args: string[]) {
  const tmp = mkdtempSync(path.join(tmpdir(), "carcosa-js-"));
  const bin = path.join(tmp, "basic");
  const started = Date.now();
  try {
    await promisify(execFile)("go", ["build", "-o", bin, "./examples/basic"], { cwd: repoRoot(), maxBuffer: 16 << 20 });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`global-setup: go build ./examples/basic failed: ${e.stderr || e.message}`);
  }
  const built = Date.now();

  const logPath = path.join(tmp, "server.log");
  const log = createWriteStream(logPath);
  const server: ChildProcess = spawn(bin, ["-addr", "127.0.0.1:0", "-data", path.join(tmp, "data"), ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`global-setup: the server did not listen within 30 s; see ${logPath}`)), 30_000);
    // Every line is kept in the log: a pipe nobody reads would block the server.
    const lines = createInterface({ input: server.stderr! });
    lines.on("line", (line) => {
      log.write(line + "\n");
      const m = /msg=listening url=(\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    server.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`global-setup: the server exited with code ${code} before listening; see ${logPath}`));
    });
  });
  console.log(`carcosa example server at ${url} (go build ${built - started} ms, start ${Date.now() - built} ms)`);
  project.provide("carcosaURL", url);

  return async () => {
    if (server.exitCode === null) {
      const exited = new Promise((resolve) => server.once("exit", resolve));
      server.kill("SIGTERM");
      const timer = setTimeout(() => server.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
    rmSync(tmp, { recursive: true, force: true });
  };
}
