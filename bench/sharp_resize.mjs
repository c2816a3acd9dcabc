// The sharp side of bench/resize_bench.py: makes the same four outputs as the Python resizer
// (400x400 cover tile and 600 px wide scaled image, each JPEG q80 progressive and WebP q80, EXIF
// orientation applied, metadata stripped) from one photo, N times, and prints per-iteration CPU and
// wall time, peak RSS and output sizes as JSON.
//
//   node sharp_resize.mjs --mode usual|one --photo PATH [--iterations N] [--concurrency N]
//                         [--webp-effort N] [--dump PREFIX]
//
// --webp-effort: only for what-if runs (sharp's default, 4, is what the benchmark compares against).
//
// usual: one pipeline per output, the way sharp is normally written (four decodes).
// one:   the fastest form: one decode (shrink-on-load straight to the smallest size that covers both
//        outputs) to raw pixels, then the two resizes and four encodes from those pixels.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const sharpDir = process.env.SHARP_DIR ?? new URL('./.sharp/', import.meta.url).pathname;
const sharp = require(require.resolve('sharp', { paths: [sharpDir] }));

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string' },
    photo: { type: 'string' },
    iterations: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '1' },
    'webp-effort': { type: 'string' },
    dump: { type: 'string' },
  },
});

const TILE = 400;
const SCALED_WIDTH = 600;
const JPEG = { quality: 80, progressive: true };
const WEBP = { quality: 80 };
if (args['webp-effort'] !== undefined) WEBP.effort = Number(args['webp-effort']);

sharp.cache(false); // the operation cache would serve repeated iterations from memory
sharp.concurrency(Number(args.concurrency));

const input = readFileSync(args.photo);

function tilePipeline(source, options) {
  return sharp(source, options).rotate().resize(TILE, TILE, { fit: 'cover' });
}
function scaledPipeline(source, options) {
  return sharp(source, options).rotate().resize({ width: SCALED_WIDTH });
}

async function usual() {
  const [tileJpeg, tileWebp, scaledJpeg, scaledWebp] = await Promise.all([
    tilePipeline(input).jpeg(JPEG).toBuffer(),
    tilePipeline(input).webp(WEBP).toBuffer(),
    scaledPipeline(input).jpeg(JPEG).toBuffer(),
    scaledPipeline(input).webp(WEBP).toBuffer(),
  ]);
  return { tileJpeg, tileWebp, scaledJpeg, scaledWebp };
}

async function decodeOnce() {
  const meta = await sharp(input).metadata();
  let { width, height } = meta;
  if ((meta.orientation ?? 1) >= 5) [width, height] = [height, width];
  // The smallest upright size that still covers both outputs; libvips picks the JPEG shrink-on-load.
  const scale = Math.max(SCALED_WIDTH / width, TILE / Math.min(width, height));
  const { data, info } = await sharp(input)
    .rotate()
    .resize(Math.max(SCALED_WIDTH, Math.round(width * scale)))
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, raw: { raw: { width: info.width, height: info.height, channels: info.channels } } };
}

async function one() {
  const { data, raw } = await decodeOnce();
  const tile = sharp(data, raw).resize(TILE, TILE, { fit: 'cover' });
  const scaled = sharp(data, raw).resize({ width: SCALED_WIDTH });
  const [tileJpeg, tileWebp, scaledJpeg, scaledWebp] = await Promise.all([
    tile.clone().jpeg(JPEG).toBuffer(),
    tile.clone().webp(WEBP).toBuffer(),
    scaled.clone().jpeg(JPEG).toBuffer(),
    scaled.clone().webp(WEBP).toBuffer(),
  ]);
  return { tileJpeg, tileWebp, scaledJpeg, scaledWebp };
}

async function dumpImages(prefix) {
  // The tile and scaled pixels before encoding, for the SSIM check.
  let tile, scaled;
  if (args.mode === 'one') {
    const { data, raw } = await decodeOnce();
    tile = sharp(data, raw).resize(TILE, TILE, { fit: 'cover' });
    scaled = sharp(data, raw).resize({ width: SCALED_WIDTH });
  } else {
    tile = tilePipeline(input);
    scaled = scaledPipeline(input);
  }
  const info = {};
  for (const [name, pipeline] of [['tile', tile], ['scaled', scaled]]) {
    const out = await pipeline.raw().toBuffer({ resolveWithObject: true });
    writeFileSync(`${prefix}.${name}.raw`, out.data);
    info[name] = out.info;
  }
  return info;
}

const run = args.mode === 'one' ? one : usual;
await run(); // warm-up: first-call costs are not what a warm function pays
const cpuMs = [];
const wallMs = [];
let outputs;
for (let i = 0; i < Number(args.iterations); i++) {
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  outputs = await run();
  const wall = Number(process.hrtime.bigint() - wall0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  cpuMs.push((cpu.user + cpu.system) / 1000);
  wallMs.push(wall);
}
// This process's own peak RSS. getrusage's maxRSS is not: Linux carries the parent's peak (the Python
// driver's) across fork and exec, while VmHWM belongs to the address space that exec made.
function peakRssKb() {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

const result = {
  cpu_ms: cpuMs,
  wall_ms: wallMs,
  max_rss_kb: peakRssKb(),
  bytes: {
    tile_jpeg: outputs.tileJpeg.length,
    tile_webp: outputs.tileWebp.length,
    scaled_jpeg: outputs.scaledJpeg.length,
    scaled_webp: outputs.scaledWebp.length,
  },
  versions: { sharp: sharp.versions.sharp, vips: sharp.versions.vips },
};
if (args.dump) result.dump = await dumpImages(args.dump);
process.stdout.write(JSON.stringify(result));
