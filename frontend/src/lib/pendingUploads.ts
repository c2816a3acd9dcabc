/**
 * Uploads that were sent but whose outcome the person has not seen yet, kept in localStorage: the API
 * cannot list one's uploads, so this is how a reload, a closed tab or a new sign-in finds them again.
 */
import { PROCESSING_DEADLINE_MS } from './upload'

export interface PendingUpload {
  uploadId: string
  placeId: string
  fileName: string
  /** Bytes, shown beside the name again (null when not known: entries written before it was kept). */
  size: number | null
  /** Epoch ms when the photo reached storage. */
  sentAt: number
  /** The `sub` of the user who sent it: only they can read its status. */
  owner: string
}

export const PENDING_UPLOADS_KEY = 'happypath.pendingUploads'

function isPending(value: unknown): value is PendingUpload {
  const v = value as Partial<PendingUpload> | null
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.uploadId === 'string' &&
    typeof v.placeId === 'string' &&
    typeof v.fileName === 'string' &&
    typeof v.owner === 'string' &&
    (v.size === undefined || v.size === null || (typeof v.size === 'number' && Number.isFinite(v.size))) &&
    typeof v.sentAt === 'number' &&
    Number.isFinite(v.sentAt)
  )
}

/** The stored entries still within the backend's deadline (older ones are closed by now, so dropped). */
export function readPending(storage: Storage, now = Date.now()): PendingUpload[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(storage.getItem(PENDING_UPLOADS_KEY) ?? '[]')
  } catch {
    parsed = []
  }
  const all = Array.isArray(parsed) ? parsed.filter(isPending).map((p) => ({ ...p, size: p.size ?? null })) : []
  const fresh = all.filter((p) => now - p.sentAt < PROCESSING_DEADLINE_MS)
  if (fresh.length !== (Array.isArray(parsed) ? parsed.length : 0)) writePending(storage, fresh)
  return fresh
}

function writePending(storage: Storage, entries: PendingUpload[]): void {
  try {
    if (entries.length) storage.setItem(PENDING_UPLOADS_KEY, JSON.stringify(entries))
    else storage.removeItem(PENDING_UPLOADS_KEY)
  } catch (err) {
    // Private browsing or a full storage: the upload still runs, it just will not survive a reload.
    console.warn('Could not remember the upload', err)
  }
}

export function rememberPending(storage: Storage, entry: PendingUpload): void {
  const others = readPending(storage).filter((p) => p.uploadId !== entry.uploadId)
  writePending(storage, [...others, entry])
}

export function forgetPending(storage: Storage, uploadId: string): void {
  const entries = readPending(storage)
  const kept = entries.filter((p) => p.uploadId !== uploadId)
  if (kept.length !== entries.length) writePending(storage, kept)
}
