/**
 * Upload logic without Vue: check a file, send it to storage with a presigned POST (real progress
 * via XMLHttpRequest, stall detection), and poll the API until the workflow has decided.
 */
import { ApiError, type UploadContentType, type UploadStatus, type UploadView } from './api'

export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024
export const ACCEPT_ATTRIBUTE = 'image/jpeg,image/png,image/heic,image/heif,.heic,.heif'

const TYPES: Record<string, UploadContentType> = {
  'image/jpeg': 'image/jpeg',
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'image/png': 'image/png',
  'image/heic': 'image/heic',
  'image/heic-sequence': 'image/heic',
  'image/heif': 'image/heif',
  'image/heif-sequence': 'image/heif',
}

const EXTENSIONS: Record<string, UploadContentType> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  jpe: 'image/jpeg',
  png: 'image/png',
  heic: 'image/heic',
  heif: 'image/heif',
  hif: 'image/heif',
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`
  const mb = bytes / (1024 * 1024)
  return `${mb >= 10 ? Math.round(mb) : mb.toFixed(1).replace(/\.0$/, '')} MB`
}

export type FileCheck = { ok: true; contentType: UploadContentType } | { ok: false; message: string }

/**
 * Type and size checks before anything is sent. Browsers often give HEIC files an empty type (or
 * application/octet-stream): the extension decides then.
 */
export function checkFile(file: Pick<File, 'name' | 'type' | 'size'>, maxBytes = MAX_UPLOAD_BYTES): FileCheck {
  const declared = file.type.trim().toLowerCase()
  const ext = /\.([a-z0-9]+)$/i.exec(file.name)?.[1]?.toLowerCase() ?? ''
  let contentType: UploadContentType | undefined = TYPES[declared]
  if (!contentType && (declared === '' || declared === 'application/octet-stream')) contentType = EXTENSIONS[ext]
  if (!contentType) {
    return {
      ok: false,
      message: `"${file.name}" is not a photo this app accepts. Choose a JPEG, PNG or HEIC photo.`,
    }
  }
  if (file.size <= 0) return { ok: false, message: `"${file.name}" is empty.` }
  if (file.size > maxBytes) {
    return {
      ok: false,
      message: `"${file.name}" is too large (${formatBytes(file.size)}). The limit is ${formatBytes(maxBytes)}.`,
    }
  }
  return { ok: true, contentType }
}

/** The multipart body of a presigned POST: every policy field first, in order, then the file last. */
export function buildFormData(fields: Record<string, string>, file: Blob, filename: string): FormData {
  const form = new FormData()
  for (const [key, value] of Object.entries(fields)) form.append(key, value)
  form.append('file', file, filename)
  return form
}

/**
 * Why sending or polling stopped. `connection` and `stalled` leave it unknown whether storage got the
 * whole file (the answer may be what was lost), so the caller asks the API before offering a retry.
 */
export type UploadErrorKind = 'connection' | 'stalled' | 'cancelled' | 'refused' | 'deadline'

export class UploadError extends Error {
  readonly kind: UploadErrorKind

  constructor(message: string, kind: UploadErrorKind = 'refused') {
    super(message)
    this.name = 'UploadError'
    this.kind = kind
  }
}

/** Plain words for the XML error S3 (or the local emulator) answers a POST with. */
export function storageErrorMessage(status: number, body: string): string {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? ''
  const text = (/<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? '').toLowerCase()
  if (code === 'EntityTooLarge') return 'The photo is larger than storage accepts. Choose a smaller photo.'
  if (code === 'EntityTooSmall') return 'The file is empty.'
  if (status === 403 || code === 'AccessDenied') {
    if (text.includes('expired')) return 'The upload link expired before the photo was sent. Please try again.'
    return 'Storage refused the photo (the upload link is no longer valid or does not match the file). Please try again.'
  }
  if (status === 400) return 'Storage refused the photo as invalid. Please try again.'
  if (status >= 500) return `Storage had a problem (HTTP ${status}). Please try again.`
  return `The upload failed (HTTP ${status}). Please try again.`
}

export interface PostOptions {
  url: string
  fields: Record<string, string>
  file: Blob
  filename: string
  /** Called with (sentBytes, totalBytes) as the browser sends the body. */
  onProgress?: (loaded: number, total: number) => void
  signal?: AbortSignal
  /** Gives up when the browser reports no progress (and no answer) for this long. */
  stallMs?: number
  createXhr?: () => XMLHttpRequest
}

/** Phones lose their connection without the request ever failing: no progress this long means it stalled. */
export const STALL_MS = 30_000

export const CANCELLED_MESSAGE = 'The upload was cancelled.'
/** Cancel while looking for a file whose send broke off: it may have arrived, and then it is still added. */
export const STOPPED_LOOKING_MESSAGE = 'Stopped looking for this photo. If it had arrived, it will still be added: Try again to see.'
const CONNECTION_MESSAGE = 'The photo could not be sent: check your connection and try again.'

/**
 * Sends the file with a presigned POST. Resolves on 2xx (S3 answers 204); rejects with an UploadError in
 * words. No overall timeout (a 20 MB photo on a slow connection takes minutes): it stops when it stalls.
 */
export function postToStorage(opts: PostOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = opts.createXhr ? opts.createXhr() : new XMLHttpRequest()
    const stallMs = opts.stallMs ?? STALL_MS
    let settled = false
    let stallTimer: ReturnType<typeof setTimeout> | undefined
    const finish = (error?: UploadError) => {
      if (settled) return
      settled = true
      clearTimeout(stallTimer)
      opts.signal?.removeEventListener('abort', onCancel)
      if (error) reject(error)
      else resolve()
    }
    const watchStall = () => {
      clearTimeout(stallTimer)
      stallTimer = setTimeout(() => {
        finish(
          new UploadError(
            `Sending stopped: nothing got through for ${Math.round(stallMs / 1000)} seconds. Check your connection and try again.`,
            'stalled',
          ),
        )
        xhr.abort()
      }, stallMs)
    }
    const onCancel = () => {
      finish(new UploadError(CANCELLED_MESSAGE, 'cancelled'))
      xhr.abort()
    }

    xhr.open('POST', opts.url)
    xhr.upload.onprogress = (e: ProgressEvent) => {
      watchStall()
      if (e.lengthComputable) opts.onProgress?.(e.loaded, e.total)
    }
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        opts.onProgress?.(opts.file.size, opts.file.size)
        finish()
      } else {
        finish(new UploadError(storageErrorMessage(xhr.status, String(xhr.responseText ?? ''))))
      }
    }
    xhr.onerror = () => finish(new UploadError(CONNECTION_MESSAGE, 'connection'))
    xhr.ontimeout = () => finish(new UploadError(CONNECTION_MESSAGE, 'connection'))
    xhr.onabort = () => finish(new UploadError(CANCELLED_MESSAGE, 'cancelled'))
    if (opts.signal?.aborted) {
      finish(new UploadError(CANCELLED_MESSAGE, 'cancelled'))
      return
    }
    opts.signal?.addEventListener('abort', onCancel, { once: true })
    xhr.send(buildFormData(opts.fields, opts.file, opts.filename))
    watchStall()
  })
}

export const FINAL_STATUSES: ReadonlySet<UploadStatus> = new Set(['PROCESSED', 'REJECTED', 'FAILED', 'EXPIRED'])

/**
 * How long the backend may take to decide, from the photo's arrival: the notifier stamps the processing
 * deadline (happypath/limits.py PROCESSING_DEADLINE_SECONDS) when it runs, which a retried notification does up
 * to 5 minutes late (its oldest event age); past the deadline the sweeper, every 5 minutes, closes the upload.
 * The app polls that long after sending, and forgets uploads older than it. tests/unit/test_template.py checks
 * the figures agree.
 */
export const PROCESSING_DEADLINE_MS = (5 + 30 + 5 + 1) * 60_000

export interface PollOptions {
  /** First interval; it grows by `backoff` up to `maxIntervalMs`, then `slowIntervalMs` once slow. */
  intervalMs?: number
  maxIntervalMs?: number
  backoff?: number
  /** After this long since sending, the check counts as slow: `onSlow` is called and polls get rarer. */
  slowAfterMs?: number
  slowIntervalMs?: number
  /** When the photo was sent (epoch ms; default: now). Slowness and the deadline count from it. */
  sentAt?: number
  /** Gives up this long after `sentAt`. */
  timeoutMs?: number
  onStatus?: (view: UploadView) => void
  onSlow?: () => void
  sleep?: (ms: number) => Promise<void>
  now?: () => number
  signal?: AbortSignal
}

export const SLOW_MESSAGE =
  'Sent. Still checking your photo: this can take a few minutes. You can leave this page; the result will show here.'
export const POLL_TIMEOUT_MESSAGE =
  'Your photo was sent, but its check has not finished in time. If it is accepted, it will appear on this page.'

/**
 * Asks for the upload's status until it is final: every second at first, slower with backoff, and only
 * every `slowIntervalMs` after the first minutes (the workflow may legitimately take up to its deadline).
 * Network hiccups and 5xx answers are retried; other API errors (a 401 included) and the deadline stop it.
 */
export async function pollUpload(
  getUpload: (uploadId: string) => Promise<UploadView>,
  uploadId: string,
  opts: PollOptions = {},
): Promise<UploadView> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const now = opts.now ?? (() => Date.now())
  const backoff = opts.backoff ?? 1.5
  const sentAt = opts.sentAt ?? now()
  const slowAt = sentAt + (opts.slowAfterMs ?? 2 * 60_000)
  const deadline = sentAt + (opts.timeoutMs ?? PROCESSING_DEADLINE_MS)
  let interval = opts.intervalMs ?? 1_000
  let slow = false

  for (;;) {
    if (opts.signal?.aborted) throw new UploadError('Stopped waiting for the result.', 'cancelled')
    try {
      const view = await getUpload(uploadId)
      opts.onStatus?.(view)
      if (FINAL_STATUSES.has(view.status)) return view
    } catch (err) {
      const transient = err instanceof ApiError && (err.status === 0 || err.status >= 500 || err.status === 429)
      if (!transient) throw err
    }
    const remaining = deadline - now()
    if (remaining <= 0) throw new UploadError(POLL_TIMEOUT_MESSAGE, 'deadline')
    if (!slow && now() >= slowAt) {
      slow = true
      opts.onSlow?.()
    }
    await sleep(Math.min(interval, remaining))
    const cap = slow ? (opts.slowIntervalMs ?? 30_000) : (opts.maxIntervalMs ?? 5_000)
    interval = Math.min(cap, Math.round(interval * backoff))
  }
}
