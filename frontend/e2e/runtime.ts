/**
 * Starts and stops the local runtime (`python -m happypath_local serve`) for the browser tests:
 * free ports, a temporary data folder, a health check, and a clean SIGINT stop.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, readFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const frontendRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const repoRoot = path.resolve(frontendRoot, '..')
/** Screenshots and other artifacts a person looks at (gitignored). */
export const artifactsDir = path.resolve(process.env.E2E_ARTIFACTS_DIR || path.join(repoRoot, 'test-artifacts', 'e2e'))
/** Shared test photos live beside the repository: ../shared/photos (never copied into it). */
export const photosDir = path.resolve(repoRoot, '../shared/photos')
export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
export const pythonPath = process.env.HAPPYPATH_PYTHON || path.join(repoRoot, '.venv', 'bin', 'python')

/** What the tests get through the environment (set by global-setup, read in the workers). */
export const ENV = {
  app: 'HAPPYPATH_E2E_APP_URL',
  api: 'HAPPYPATH_E2E_API_URL',
  log: 'HAPPYPATH_E2E_RUNTIME_LOG',
} as const

export interface Runtime {
  port: number
  appUrl: string
  apiUrl: string
  s3Url: string
  logFile: string
  /** The temporary folder with the data and the log: remove it after the stop. */
  workDir: string
  /** SIGINT, wait for the exit; resolves with the exit code (null when it had to be killed). */
  stop(): Promise<number | null>
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)))
  })
}

/** A random base port P with P, P+1 (API) and P+2 (S3) free on 127.0.0.1. */
export async function findFreeBasePort(tries = 50): Promise<number> {
  for (let i = 0; i < tries; i++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000)
    if ((await portFree(base)) && (await portFree(base + 1)) && (await portFree(base + 2))) return base
  }
  throw new Error(`no three free consecutive ports found after ${tries} tries`)
}

export function tail(file: string, lines = 80): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

/** How long a stop may take before the runtime is killed. */
export const STOP_TIMEOUT_MS = 45_000

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
    return res.status === 200
  } catch {
    return false
  }
}

async function startOnce(port: number, workDir: string, timeoutMs: number): Promise<Runtime> {
  const logFile = path.join(workDir, `runtime-${port}.log`)
  const log = createWriteStream(logFile)
  const args = [
    '-m', 'happypath_local', 'serve',
    '--port', String(port),
    '--data-dir', path.join(workDir, 'data'),
    '--fresh', '--no-persist',
    '--moderation', 'offline',
  ]
  const child = spawn(pythonPath, args, {
    cwd: repoRoot,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout!.pipe(log, { end: false })
  child.stderr!.pipe(log, { end: false })
  // Never leave a runtime behind, even when the runner itself is stopped.
  const killOnExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  child.once('exit', () => process.removeListener('exit', killOnExit))
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve))

  const appUrl = `http://127.0.0.1:${port}`
  const runtime: Runtime = {
    port,
    appUrl,
    apiUrl: `http://127.0.0.1:${port + 1}`,
    s3Url: `http://127.0.0.1:${port + 2}`,
    logFile,
    workDir,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
      // The runtime waits up to 30 s (--stop-wait) for unfinished work, then saves: allow for both.
      const code = await Promise.race([exited(child), sleep(STOP_TIMEOUT_MS).then(() => 'timeout' as const)])
      if (code === 'timeout') {
        child.kill('SIGKILL')
        await exited(child)
        log.end()
        return null
      }
      await new Promise((resolve) => log.end(resolve))
      return code
    },
  }

  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const failed = await Promise.race([spawnError, sleep(250).then(() => null)])
    if (failed) throw new Error(`could not start ${pythonPath}: ${failed.message} (set HAPPYPATH_PYTHON)`)
    if (child.exitCode !== null || child.signalCode !== null) {
      await runtime.stop()
      throw new Error(`the local runtime exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${tail(logFile)}`)
    }
    if (await healthy(`${appUrl}/_local/health`)) return runtime
  }
  await runtime.stop()
  throw new Error(`the local runtime did not answer ${appUrl}/_local/health within ${timeoutMs / 1000} s:\n${tail(logFile)}`)
}

/**
 * Starts the runtime on free ports with a fresh temporary data folder. Another process can take a
 * port between the check and the runtime's bind: a start that fails is retried on other ports.
 */
export async function startRuntime({ attempts = 3, timeoutMs = 90_000 } = {}): Promise<Runtime> {
  if (!existsSync(pythonPath)) {
    throw new Error(`no Python at ${pythonPath}: run \`make venv\` in the repository root, or set HAPPYPATH_PYTHON`)
  }
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'happypath-e2e-'))
  let lastError: unknown
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = await findFreeBasePort()
    try {
      return await startOnce(port, workDir, timeoutMs)
    } catch (err) {
      lastError = err
      console.error(`[e2e] start attempt ${attempt} on port ${port} failed: ${(err as Error).message}`)
    }
  }
  throw lastError
}
