#!/usr/bin/env node
// Bundle size check: fails when the gzip size of what the first page load downloads (the JS and CSS
// that dist/index.html references, including modulepreloads) or of all JS+CSS exceeds its budget.
// Usage: npm run build && npm run size   (budgets in kB = 1000 bytes; override with env vars)
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { gzipSync } from 'node:zlib'

const BUDGET_INITIAL_KB = Number(process.env.SIZE_BUDGET_INITIAL_KB ?? 75)
const BUDGET_TOTAL_KB = Number(process.env.SIZE_BUDGET_TOTAL_KB ?? 160)

const dist = new URL('../dist/', import.meta.url).pathname
let html
try {
  html = readFileSync(join(dist, 'index.html'), 'utf8')
} catch {
  console.error('size: dist/index.html not found. Run `npm run build` first.')
  process.exit(2)
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}

const assets = walk(dist)
  .filter((p) => /\.(js|css)$/.test(p))
  .map((path) => {
    const data = readFileSync(path)
    return { file: relative(dist, path), raw: data.length, gzip: gzipSync(data, { level: 9 }).length }
  })
  .sort((a, b) => b.gzip - a.gzip)

// What index.html makes the browser fetch before the first render.
const initialFiles = new Set()
for (const m of html.matchAll(/<(?:script|link)\b[^>]*>/g)) {
  const tag = m[0]
  const isScript = tag.startsWith('<script') && /type="module"/.test(tag)
  const isLink = /rel="(?:stylesheet|modulepreload)"/.test(tag)
  const ref = /(?:src|href)="([^"]+)"/.exec(tag)?.[1]
  if ((isScript || isLink) && ref && /\.(js|css)$/.test(ref)) initialFiles.add(ref.replace(/^\//, ''))
}
if (initialFiles.size === 0) {
  console.error('size: found no script or stylesheet in dist/index.html')
  process.exit(2)
}

const kb = (n) => (n / 1000).toFixed(1).padStart(7)
console.log('file'.padEnd(44), '    raw kB', '  gzip kB', ' initial')
for (const a of assets) {
  console.log(a.file.padEnd(44), kb(a.raw), '  ', kb(a.gzip), initialFiles.has(a.file) ? '   yes' : '')
}
const sum = (list, key) => list.reduce((t, a) => t + a[key], 0)
const initial = assets.filter((a) => initialFiles.has(a.file))
const missing = [...initialFiles].filter((f) => !assets.some((a) => a.file === f))
if (missing.length) {
  console.error(`size: index.html references files that are not in dist: ${missing.join(', ')}`)
  process.exit(2)
}
const initialGzip = sum(initial, 'gzip')
const totalGzip = sum(assets, 'gzip')
console.log('')
console.log(`initial load (JS+CSS): ${kb(sum(initial, 'raw'))} kB raw, ${kb(initialGzip)} kB gzip  (budget ${BUDGET_INITIAL_KB} kB gzip)`)
console.log(`all JS+CSS:            ${kb(sum(assets, 'raw'))} kB raw, ${kb(totalGzip)} kB gzip  (budget ${BUDGET_TOTAL_KB} kB gzip)`)

let failed = false
if (initialGzip > BUDGET_INITIAL_KB * 1000) {
  console.error(`size: FAIL initial load is ${(initialGzip / 1000).toFixed(1)} kB gzip, over the ${BUDGET_INITIAL_KB} kB budget`)
  failed = true
}
if (totalGzip > BUDGET_TOTAL_KB * 1000) {
  console.error(`size: FAIL all JS+CSS is ${(totalGzip / 1000).toFixed(1)} kB gzip, over the ${BUDGET_TOTAL_KB} kB budget`)
  failed = true
}
if (failed) process.exit(1)
console.log('size: OK')
