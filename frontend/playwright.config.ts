/**
 * End-to-end tests: Playwright's runner driving the machine's Chromium (no browser downloads:
 * `npx playwright install` is never needed). global-setup starts the local runtime on free ports.
 *
 *   npm run build && npm run test:e2e
 *
 * Env: CHROMIUM_PATH (default /usr/bin/chromium), HAPPYPATH_PYTHON (default ../.venv/bin/python),
 * E2E_ARTIFACTS_DIR (default ../test-artifacts/e2e).
 */
import { defineConfig } from '@playwright/test'
import path from 'node:path'
import { PHONE } from './e2e/phone'
import { artifactsDir, chromiumPath } from './e2e/runtime'

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  // No internet here: without these Chromium keeps trying (and failing) to reach Google's services.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export default defineConfig({
  testDir: './e2e',
  testMatch: '**/*.spec.ts',
  globalSetup: './e2e/global-setup.ts',
  // One runtime, one small machine: run the files one after another.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  globalTimeout: 170_000,
  expect: { timeout: 10_000 },
  outputDir: path.join(artifactsDir, 'results'),
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: chromiumPath, args: CHROMIUM_ARGS },
    // Phone first.
    ...PHONE,
    actionTimeout: 10_000,
    navigationTimeout: 20_000,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
})
