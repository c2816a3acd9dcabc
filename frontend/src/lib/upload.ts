/**
 * Upload logic without Vue: check a file, send it to storage with a presigned POST (real progress
 * via XMLHttpRequest), and poll the API until the workflow has decided.
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

export class UploadError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UploadError'
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
  createXhr?: () => XMLHttpRequest
}

/** Sends the file with a presigned POST. Resolves on 2xx (S3 answers 204); rejects with an UploadError in words. */
export function postToStorage(opts: PostOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = opts.createXhr ? opts.createXhr() : new XMLHttpRequest()
    xhr.open('POST', opts.url)
    xhr.upload.onprogress = (e: ProgressEvent) => {
      if (e.lengthComputable) opts.onProgress?.(e.loaded, e.total)
    }
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        opts.onProgress?.(opts.file.size, opts.file.size)
        resolve()
      } else {
        reject(new UploadError(storageErrorMessage(xhr.status, String(xhr.responseText ?? ''))))
      }
    }
    xhr.onerror = () =>
      reject(new UploadError('The photo could not be sent: check your connection and try again.'))
    xhr.ontimeout = () => reject(new UploadError('Sending the photo took too long. Please try again.'))
    xhr.onabort = () => reject(new UploadError('The upload was cancelled.'))
    if (opts.signal) {
      if (opts.signal.aborted) {
        reject(new UploadError('The upload was cancelled.'))
        return
      }
      opts.signal.addEventListener('abort', () => xhr.abort(), { once: true })
    }
    xhr.send(buildFormData(opts.fields, opts.file, opts.filename))
  })
}

export const FINAL_STATUSES: ReadonlySet<UploadStatus> = new Set(['PROCESSED', 'REJECTED', 'FAILED', 'EXPIRED'])

export interface PollOptions {
  intervalMs?: number
  maxIntervalMs?: number
  backoff?: number
  timeoutMs?: number
  onStatus?: (view: UploadView) => void
  sleep?: (ms: number) => Promise<void>
  now?: () => number
  signal?: AbortSignal
}

export const POLL_TIMEOUT_MESSAGE =
  'Your photo was sent but is taking unusually long to check. It will appear on this page if it is accepted; reload in a few minutes.'

/**
 * Asks for the upload's status (every `intervalMs` at first, slower with backoff) until it is final.
 * Network hiccups and 5xx answers are retried; other API errors and the overall timeout stop it.
 */
export async function pollUpload(
  getUpload: (uploadId: string) => Promise<UploadView>,
  uploadId: string,
  opts: PollOptions = {},
): Promise<UploadView> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const now = opts.now ?? (() => Date.now())
  const maxInterval = opts.maxIntervalMs ?? 5_000
  const backoff = opts.backoff ?? 1.5
  const deadline = now() + (opts.timeoutMs ?? 120_000)
  let interval = opts.intervalMs ?? 1_000

  for (;;) {
    if (opts.signal?.aborted) throw new UploadError('Stopped waiting for the result.')
    try {
      const view = await getUpload(uploadId)
      opts.onStatus?.(view)
      if (FINAL_STATUSES.has(view.status)) return view
    } catch (err) {
      const transient = err instanceof ApiError && (err.status === 0 || err.status >= 500 || err.status === 429)
      if (!transient) throw err
    }
    const remaining = deadline - now()
    if (remaining <= 0) throw new UploadError(POLL_TIMEOUT_MESSAGE)
    await sleep(Math.min(interval, remaining))
    interval = Math.min(maxInterval, Math.round(interval * backoff))
  }
}
