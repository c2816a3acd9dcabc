/**
 * Starts the local runtime once for all browser tests and returns the teardown that stops it with
 * SIGINT (as Ctrl-C would) and checks that it exited cleanly.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { ENV, STOP_TIMEOUT_MS, artifactsDir, chromiumPath, frontendRoot, photosDir, startRuntime, tail } from './runtime'

/** The newest modification time of the files under `dir` (0 when there are none). */
function newest(dir: string): number {
  if (!existsSync(dir)) return 0
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs)
  }
  return latest
}

/** The runtime serves dist/: build it when it is missing, and say so when it is older than the sources. */
function ensureBuilt() {
  const index = path.join(frontendRoot, 'dist', 'index.html')
  if (!existsSync(index)) {
    console.log('[e2e] dist/ is missing: running npm run build')
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const result = spawnSync(npm, ['run', 'build'], { cwd: frontendRoot, stdio: 'inherit' })
    if (result.status !== 0) throw new Error('npm run build failed')
    return
  }
  const sources = Math.max(
    newest(path.join(frontendRoot, 'src')),
    newest(path.join(frontendRoot, 'public')),
    statSync(path.join(frontendRoot, 'index.html')).mtimeMs,
  )
  if (sources > statSync(index).mtimeMs) {
    console.warn('[e2e] WARNING: dist/ is older than src/: these tests run the last build. Run `npm run build` first.')
  }
}

function freshArtifactsDir() {
  mkdirSync(artifactsDir, { recursive: true })
  for (const name of readdirSync(artifactsDir)) {
    if (name.endsWith('.png') || name === 'runtime.log' || name === 'results') {
      rmSync(path.join(artifactsDir, name), { recursive: true, force: true })
    }
  }
}

export default async function globalSetup() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium, or set CHROMIUM_PATH`)
  }
  if (!existsSync(path.join(photosDir, 'jolla.jpg'))) {
    throw new Error(`the shared test photos are missing: expected ${photosDir}/jolla.jpg`)
  }
  ensureBuilt()
  freshArtifactsDir()

  const started = Date.now()
  const runtime = await startRuntime()
  console.log(`[e2e] local runtime on ${runtime.appUrl} (API ${runtime.apiUrl}) after ${((Date.now() - started) / 1000).toFixed(1)} s`)
  // Workers are started after this, and inherit the environment.
  process.env[ENV.app] = runtime.appUrl
  process.env[ENV.api] = runtime.apiUrl
  process.env[ENV.log] = runtime.logFile

  return async () => {
    const savedLog = path.join(artifactsDir, 'runtime.log')
    const code = await runtime.stop()
    copyFileSync(runtime.logFile, savedLog)
    // Every test has ended and the browser is closed: nothing may still be running.
    const leftOver = readFileSync(savedLog, 'utf8').includes('not waiting longer')
    if (code !== 0 || leftOver) {
      const how =
        code === null
          ? `it did not exit within ${STOP_TIMEOUT_MS / 1000} s and was killed`
          : code !== 0
            ? `exit code ${code}`
            : 'it gave up waiting for work that should have ended'
      throw new Error(
        `the local runtime did not stop cleanly on SIGINT (${how}); its data is kept in ${runtime.workDir}:\n${tail(savedLog)}`,
      )
    }
    rmSync(runtime.workDir, { recursive: true, force: true })
    console.log(`[e2e] local runtime stopped cleanly (exit code 0); its log is in ${savedLog}`)
  }
}
