import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError, type UploadStatus, type UploadView } from '../src/lib/api'
import { PENDING_UPLOADS_KEY, forgetPending, readPending, rememberPending } from '../src/lib/pendingUploads'
import { outcomeMessage, reasonToWords } from '../src/lib/reasons'
import {
  MAX_UPLOAD_BYTES,
  POLL_TIMEOUT_MESSAGE,
  PROCESSING_DEADLINE_MS,
  UploadError,
  buildFormData,
  checkFile,
  formatBytes,
  pollUpload,
  postToStorage,
  storageErrorMessage,
} from '../src/lib/upload'
import { FakeXhr, fileOf, makePhoto } from './helpers'

const MiB = 1024 * 1024

describe('checkFile', () => {
  it('accepts JPEG, PNG and HEIC/HEIF by their declared type', () => {
    expect(checkFile(fileOf('a.jpg', 'image/jpeg', 3 * MiB))).toEqual({ ok: true, contentType: 'image/jpeg' })
    expect(checkFile(fileOf('a.png', 'image/png', 1000))).toEqual({ ok: true, contentType: 'image/png' })
    expect(checkFile(fileOf('IMG_1.HEIC', 'image/heic', 2 * MiB))).toEqual({ ok: true, contentType: 'image/heic' })
    expect(checkFile(fileOf('x.heif', 'image/heif', 10))).toEqual({ ok: true, contentType: 'image/heif' })
  })

  it('falls back on the extension when the browser gives HEIC an empty or generic type', () => {
    expect(checkFile(fileOf('IMG_0042.HEIC', '', 2 * MiB))).toEqual({ ok: true, contentType: 'image/heic' })
    expect(checkFile(fileOf('photo.heif', 'application/octet-stream', 10))).toEqual({ ok: true, contentType: 'image/heif' })
    expect(checkFile(fileOf('old.JPG', '', 10))).toEqual({ ok: true, contentType: 'image/jpeg' })
    expect(checkFile(fileOf('scan.png', ' Image/PNG ', 10))).toEqual({ ok: true, contentType: 'image/png' })
  })

  it('refuses other types with a clear message, even with a photo-like extension', () => {
    const gif = checkFile(fileOf('cat.gif', 'image/gif', 1000))
    expect(gif).toEqual({ ok: false, message: '"cat.gif" is not a photo this app accepts. Choose a JPEG, PNG or HEIC photo.' })
    expect(checkFile(fileOf('fake.jpg', 'text/plain', 10)).ok).toBe(false)
    expect(checkFile(fileOf('noext', '', 10)).ok).toBe(false)
    expect(checkFile(fileOf('clip.mov', 'video/quicktime', 10)).ok).toBe(false)
    // The last extension counts: "photo.jpg.zip" is a zip.
    expect(checkFile(fileOf('photo.jpg.zip', '', 10)).ok).toBe(false)
  })

  it('enforces the 20 MiB limit and refuses empty files', () => {
    expect(checkFile(fileOf('max.jpg', 'image/jpeg', MAX_UPLOAD_BYTES)).ok).toBe(true)
    expect(checkFile(fileOf('big.jpg', 'image/jpeg', MAX_UPLOAD_BYTES + 1))).toEqual({
      ok: false,
      message: '"big.jpg" is too large (20 MB). The limit is 20 MB.',
    })
    expect(checkFile(fileOf('huge.heic', '', 31 * MiB))).toEqual({
      ok: false,
      message: '"huge.heic" is too large (31 MB). The limit is 20 MB.',
    })
    expect(checkFile(fileOf('empty.png', 'image/png', 0))).toEqual({ ok: false, message: '"empty.png" is empty.' })
  })

  it('writes sizes in bytes, KB and MB as people read them', () => {
    expect([1023, 1024, 1000 * 1024].map(formatBytes)).toEqual(['1023 bytes', '1 KB', '1000 KB'])
    expect([MiB, 1.5 * MiB, 2 * MiB, 9.96 * MiB, 12.5 * MiB].map(formatBytes)).toEqual(['1 MB', '1.5 MB', '2 MB', '10 MB', '13 MB'])
    expect(checkFile(fileOf('a.jpg', 'image/jpeg', 2048), 1000)).toEqual({
      ok: false,
      message: '"a.jpg" is too large (2 KB). The limit is 1000 bytes.',
    })
  })
})

describe('presigned POST', () => {
  const fields = { key: 'uploads/u1/original', 'Content-Type': 'image/heic', policy: 'cG9s', 'x-amz-signature': 'sig' }

  it('puts every field first, in order, and the file last', () => {
    const file = fileOf('IMG.HEIC', 'image/heic', 100)
    const form = buildFormData(fields, file, 'IMG.HEIC')
    const entries = [...form.entries()]
    expect(entries.map(([k]) => k)).toEqual(['key', 'Content-Type', 'policy', 'x-amz-signature', 'file'])
    expect(entries.slice(0, 4).map(([, v]) => v)).toEqual(Object.values(fields))
    const last = entries[4]![1] as File
    expect(last).toBeInstanceOf(Blob)
    expect(last.name).toBe('IMG.HEIC')
  })

  it('POSTs to the url, reports real progress and resolves on 204', async () => {
    FakeXhr.instances = []
    const progress: number[] = []
    const file = fileOf('a.jpg', 'image/jpeg', 1000)
    const done = postToStorage({
      url: 'http://storage.test/bucket',
      fields,
      file,
      filename: 'a.jpg',
      onProgress: (loaded, total) => progress.push(loaded / total),
      createXhr: () => new FakeXhr() as unknown as XMLHttpRequest,
    })
    const xhr = FakeXhr.instances[0]!
    expect(xhr.method).toBe('POST')
    expect(xhr.url).toBe('http://storage.test/bucket')
    expect([...xhr.body!.keys()].at(-1)).toBe('file')
    xhr.progress(250, 1000)
    xhr.progress(750, 1000)
    xhr.respond(204)
    await expect(done).resolves.toBeUndefined()
    expect(progress).toEqual([0.25, 0.75, 1])
  })

  async function rejection(status: number, body: string, event: 'load' | 'error' = 'load') {
    const { done, xhr } = startPost()
    if (event === 'error') xhr.onerror?.()
    else xhr.respond(status, body)
    const err = await done
    expect(err).toBeInstanceOf(UploadError)
    return (err as Error).message
  }

  it('turns storage XML errors and network failures into plain words', async () => {
    const expired =
      '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>'
    expect(await rejection(403, expired)).toBe('The upload link expired before the photo was sent. Please try again.')
    const tampered = '<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy Condition failed</Message></Error>'
    expect(await rejection(403, tampered)).toMatch(/^Storage refused the photo/)
    const tooLarge = '<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>'
    expect(await rejection(400, tooLarge)).toBe('The photo is larger than storage accepts. Choose a smaller photo.')
    expect(await rejection(503, '')).toBe('Storage had a problem (HTTP 503). Please try again.')
    expect(await rejection(0, '', 'error')).toMatch(/could not be sent: check your connection/)
    const tooSmall = '<Error><Code>EntityTooSmall</Code><Message>Your proposed upload is smaller than the minimum allowed size</Message></Error>'
    expect(await rejection(400, tooSmall)).toBe('The file is empty.')
    // Either a 403 or the AccessDenied code means the link was refused.
    expect(await rejection(403, '')).toMatch(/^Storage refused the photo \(the upload link/)
    expect(await rejection(400, expired)).toBe('The upload link expired before the photo was sent. Please try again.')
    expect(await rejection(400, '<Error><Code>MalformedPOSTRequest</Code></Error>')).toBe(
      'Storage refused the photo as invalid. Please try again.',
    )
    expect(await rejection(500, '')).toBe('Storage had a problem (HTTP 500). Please try again.')
    expect(await rejection(404, '')).toBe('The upload failed (HTTP 404). Please try again.')
    expect(await rejection(300, '')).toBe('The upload failed (HTTP 300). Please try again.')
  })

  it('takes any 2xx as sent, with or without a progress callback', async () => {
    const ok = startPost()
    ok.xhr.respond(200)
    await expect(ok.done).resolves.toBeUndefined()
    const created = startPost()
    created.xhr.respond(201)
    await expect(created.done).resolves.toBeUndefined()
  })

  it('reports progress only when the browser knows the total', async () => {
    FakeXhr.instances = []
    const onProgress = vi.fn()
    const done = postToStorage({
      url: 'http://s',
      fields: {},
      file: fileOf('a.jpg', 'image/jpeg', 1000),
      filename: 'a.jpg',
      onProgress,
      createXhr: () => new FakeXhr() as unknown as XMLHttpRequest,
    })
    const xhr = FakeXhr.instances[0]!
    xhr.upload.onprogress?.({ lengthComputable: false, loaded: 300, total: 0 })
    expect(onProgress).not.toHaveBeenCalled()
    xhr.respond(204)
    await done
    expect(onProgress.mock.calls).toEqual([[1000, 1000]])
  })

  function startPost(opts: { signal?: AbortSignal; stallMs?: number } = {}) {
    FakeXhr.instances = []
    const done = postToStorage({
      url: 'http://s',
      fields: {},
      file: fileOf('a.jpg', 'image/jpeg', 1000),
      filename: 'a.jpg',
      createXhr: () => new FakeXhr() as unknown as XMLHttpRequest,
      ...opts,
    })
    return { done: done.catch((e: unknown) => e), xhr: FakeXhr.instances[0]! }
  }

  afterEach(() => {
    vi.useRealTimers()
  })

  it('gives up on a send that makes no progress for 30 s, as a stall (not a refusal)', async () => {
    vi.useFakeTimers()
    const { done, xhr } = startPost()
    // Slow but moving: progress keeps it alive far beyond 30 s in total.
    for (let i = 1; i <= 4; i++) {
      vi.advanceTimersByTime(25_000)
      xhr.progress(i * 100, 1000)
    }
    expect(xhr.aborted).toBe(false)
    vi.advanceTimersByTime(29_999)
    expect(xhr.aborted).toBe(false)
    vi.advanceTimersByTime(1)
    expect(xhr.aborted).toBe(true)
    const err = (await done) as UploadError
    expect(err).toBeInstanceOf(UploadError)
    expect(err.kind).toBe('stalled')
    expect(err.message).toBe('Sending stopped: nothing got through for 30 seconds. Check your connection and try again.')

    // A send that never gets going at all stalls too.
    const silent = startPost()
    vi.advanceTimersByTime(30_000)
    expect(silent.xhr.aborted).toBe(true)
    expect(((await silent.done) as UploadError).kind).toBe('stalled')
  })

  it('tells a lost connection and a cancel apart from a refusal', async () => {
    const lost = startPost()
    lost.xhr.onerror?.()
    expect(((await lost.done) as UploadError).kind).toBe('connection')

    const controller = new AbortController()
    const cancelled = startPost({ signal: controller.signal })
    controller.abort()
    const err = (await cancelled.done) as UploadError
    expect(cancelled.xhr.aborted).toBe(true)
    expect(err.kind).toBe('cancelled')
    expect(err.message).toBe('The upload was cancelled.')

    const refused = startPost()
    refused.xhr.respond(403, '<Error><Code>AccessDenied</Code></Error>')
    expect(((await refused.done) as UploadError).kind).toBe('refused')

    const timedOut = startPost()
    timedOut.xhr.ontimeout?.()
    expect(((await timedOut.done) as UploadError).kind).toBe('connection')

    // The browser aborted it (a page being left): a cancel, not a refusal.
    const aborted = startPost()
    aborted.xhr.abort()
    expect(await aborted.done).toMatchObject({ kind: 'cancelled', message: 'The upload was cancelled.' })

    // Cancelled before it started: nothing is sent.
    const early = new AbortController()
    early.abort()
    const never = startPost({ signal: early.signal })
    expect(await never.done).toMatchObject({ kind: 'cancelled', message: 'The upload was cancelled.' })
    expect(never.xhr.body).toBeNull()
  })

  it('storageErrorMessage never shows raw XML', () => {
    expect(storageErrorMessage(400, '<Error><Code>InvalidArgument</Code></Error>')).not.toContain('<')
  })
})

function view(status: UploadStatus, extra: Partial<UploadView> = {}): UploadView {
  return {
    uploadId: 'u1',
    placeId: 'p1',
    status,
    reason: null,
    reasonDetail: null,
    createdAt: '',
    updatedAt: '',
    photo: null,
    ...extra,
  }
}

describe('pollUpload', () => {
  it('polls with backoff until a final status', async () => {
    const answers = [view('PENDING_UPLOAD'), view('PROCESSING'), view('PROCESSING'), view('PROCESSED', { photo: makePhoto('u1') })]
    const getUpload = vi.fn(async () => answers.shift()!)
    const sleeps: number[] = []
    const seen: string[] = []
    const result = await pollUpload(getUpload, 'u1', {
      sleep: async (ms) => {
        sleeps.push(ms)
      },
      onStatus: (v) => seen.push(v.status),
    })
    expect(result.status).toBe('PROCESSED')
    expect(result.photo?.photoId).toBe('u1')
    expect(getUpload).toHaveBeenCalledTimes(4)
    expect(getUpload).toHaveBeenCalledWith('u1')
    expect(sleeps).toEqual([1000, 1500, 2250])
    expect(seen).toEqual(['PENDING_UPLOAD', 'PROCESSING', 'PROCESSING', 'PROCESSED'])
  })

  it('caps the interval', async () => {
    let n = 0
    const sleeps: number[] = []
    await pollUpload(async () => (++n < 8 ? view('PROCESSING') : view('REJECTED', { reason: 'TOO_SMALL' })), 'u1', {
      sleep: async (ms) => {
        sleeps.push(ms)
      },
    })
    expect(Math.max(...sleeps)).toBe(5000)
    expect(sleeps.at(-1)).toBe(5000)
  })

  it('slows down after two minutes instead of giving up, and says so once', async () => {
    let clock = 0
    const sleeps: number[] = []
    const onSlow = vi.fn()
    let n = 0
    await pollUpload(async () => (++n < 60 ? view('PROCESSING') : view('PROCESSED')), 'u1', {
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms)
        clock += ms
      },
      onSlow,
    })
    expect(clock).toBeGreaterThan(10 * 60_000)
    expect(onSlow).toHaveBeenCalledTimes(1)
    const beforeSlow = sleeps.filter((_, i) => sleeps.slice(0, i).reduce((a, b) => a + b, 0) < 120_000)
    expect(Math.max(...beforeSlow)).toBe(5_000)
    expect(sleeps.at(-1)).toBe(30_000)
  })

  it('asks nothing once stopped', async () => {
    const stop = new AbortController()
    stop.abort()
    const getUpload = vi.fn(async () => view('PROCESSING'))
    const err = await pollUpload(getUpload, 'u1', { signal: stop.signal, sleep: async () => {} }).catch((e: unknown) => e)
    expect(err).toMatchObject({ kind: 'cancelled', message: 'Stopped waiting for the result.' })
    expect(getUpload).not.toHaveBeenCalled()
  })

  it('stops on a 401 (the caller keeps the upload for after sign-in)', async () => {
    const expired = async (): Promise<UploadView> => {
      throw new ApiError(401, 'Please sign in again: your sign-in is missing or has expired.')
    }
    const err = await pollUpload(expired, 'u1', { sleep: async () => {} }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status).toBe(401)
  })

  it('keeps polling through network errors and 5xx, stops on other errors', async () => {
    const answers: Array<UploadView | ApiError> = [new ApiError(0, 'offline'), new ApiError(503, 'busy'), view('FAILED')]
    const getUpload = async () => {
      const a = answers.shift()!
      if (a instanceof ApiError) throw a
      return a
    }
    await expect(pollUpload(getUpload, 'u1', { sleep: async () => {} })).resolves.toMatchObject({ status: 'FAILED' })
    answers.push(new ApiError(429, 'slow down'), new ApiError(500, 'oops'), view('PROCESSED'))
    await expect(pollUpload(getUpload, 'u1', { sleep: async () => {} })).resolves.toMatchObject({ status: 'PROCESSED' })
    answers.push(new ApiError(499, 'client closed'))
    await expect(pollUpload(getUpload, 'u1', { sleep: async () => {} })).rejects.toThrow('client closed')

    const forbidden = async (): Promise<UploadView> => {
      throw new ApiError(403, 'Only the owner can see this upload.')
    }
    await expect(pollUpload(forbidden, 'u1', { sleep: async () => {} })).rejects.toThrow('Only the owner')
  })

  it('gives up only once the backend must have decided (its deadline and a sweep), without calling it a failure', async () => {
    let clock = 0
    const getUpload = vi.fn(async () => view('PROCESSING'))
    const err = await pollUpload(getUpload, 'u1', {
      now: () => clock,
      sleep: async (ms) => {
        clock += ms
      },
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UploadError)
    expect((err as UploadError).kind).toBe('deadline')
    expect((err as Error).message).toBe(POLL_TIMEOUT_MESSAGE)
    expect(POLL_TIMEOUT_MESSAGE).not.toMatch(/fail/i)
    expect(clock).toBe(PROCESSING_DEADLINE_MS)
    expect(PROCESSING_DEADLINE_MS).toBe(41 * 60_000)
    // About 28 polls in the first two minutes, then one every 30 s for the other 39: under 120 in all.
    expect(getUpload.mock.calls.length).toBeGreaterThan(90)
    expect(getUpload.mock.calls.length).toBeLessThan(120)
  })

  it('counts the deadline from when the photo was sent (an upload resumed after a reload)', async () => {
    let clock = 1_000_000
    const getUpload = vi.fn(async () => view('PROCESSING'))
    const onSlow = vi.fn()
    const err = await pollUpload(getUpload, 'u1', {
      sentAt: clock - PROCESSING_DEADLINE_MS + 10_000,
      now: () => clock,
      onSlow,
      sleep: async (ms) => {
        clock += ms
      },
    }).catch((e: unknown) => e)
    expect((err as UploadError).kind).toBe('deadline')
    expect(onSlow).toHaveBeenCalledTimes(1) // already slow from the first answer
    expect(getUpload.mock.calls.length).toBeLessThan(8)
  })
})

describe('reasons in plain words', () => {
  it('maps every reason code to its sentence', () => {
    expect(reasonToWords('TOO_SMALL')).toBe('the photo is too small (at least 800 px on each side)')
    expect(reasonToWords('TOO_LARGE')).toBe('the photo is too large (at most 20 MB and 12,000 px on each side)')
    expect(reasonToWords('DAMAGED')).toBe('the file is damaged')
    expect(reasonToWords('UNSUPPORTED_TYPE')).toBe('the file is not a supported kind of photo (use JPEG, PNG or HEIC)')
    expect(reasonToWords('PEOPLE_NOT_ALLOWED')).toBe('the photo is not allowed here because it shows people')
    expect(reasonToWords('INAPPROPRIATE_CONTENT')).toBe('the photo was flagged as inappropriate content')
    expect(reasonToWords('PLACE_TYPE_NOT_ALLOWED')).toBe('photos are not accepted for this kind of place')
    expect(reasonToWords('PLACE_NOT_FOUND')).toBe('the place no longer exists')
    expect(reasonToWords('REPLACED')).toBe(
      'another photo was sent with the same upload while this one was being checked, please try again',
    )
    expect(reasonToWords('FAILED')).toBe('something went wrong, please try again')
    expect(reasonToWords('EXPIRED')).toBe('the upload expired before the photo arrived, please try again')
    // Unknown codes (an internal error name) and no code read as the generic words, never as the code.
    expect(reasonToWords('States.TaskFailed')).toBe('something went wrong, please try again')
    expect(reasonToWords(null)).toBe('something went wrong, please try again')
  })

  it('builds the outcome sentence', () => {
    expect(outcomeMessage(view('PROCESSED'))).toBe('Added! Your photo is now on this page.')
    expect(outcomeMessage(view('REJECTED', { reason: 'TOO_SMALL' }))).toBe(
      'Not added: the photo is too small (at least 800 px on each side).',
    )
    expect(outcomeMessage(view('REJECTED', { reason: 'PEOPLE_NOT_ALLOWED' }))).toBe(
      'Not added: the photo is not allowed here because it shows people.',
    )
    expect(outcomeMessage(view('FAILED', { reason: 'States.TaskFailed', reasonDetail: 'The resizer timed out.' }))).toBe(
      'Not added: something went wrong, please try again.',
    )
    expect(outcomeMessage(view('FAILED', { reason: 'DAMAGED' }))).toBe('Not added: the file is damaged.')
    // The photo's size, when that is why: it replaces the general rule in brackets instead of repeating it.
    expect(
      outcomeMessage(view('REJECTED', { reason: 'TOO_SMALL', reasonDetail: '640x480: both sides must be at least 800 px' })),
    ).toBe('Not added: the photo is too small (640 × 480 px; it needs at least 800 px on each side).')
    expect(outcomeMessage(view('EXPIRED'))).toBe('Not added: the upload expired before the photo arrived, please try again.')
  })

  it('shows the detail only where it helps to choose another photo', () => {
    const rejected = (reason: string, reasonDetail: string) => outcomeMessage(view('REJECTED', { reason, reasonDetail }))
    expect(rejected('TOO_LARGE', '13000x9000 is over the limit (12000 px a side, 60000000 pixels)')).toBe(
      'Not added: the photo is too large (13,000 × 9,000 px; at most 12,000 px on each side).',
    )
    expect(rejected('TOO_LARGE', '9000x7000 is over the limit (12000 px a side, 60000000 pixels)')).toBe(
      'Not added: the photo is too large (9,000 × 7,000 px, 63 megapixels; at most 60).',
    )
    // Internal detail (a decoder's complaint, byte counts, tile limits) is not for people: plain words.
    expect(rejected('DAMAGED', 'corrupt image data: stray 0xFF9F at byte 212992')).toBe('Not added: the file is damaged.')
    expect(rejected('DAMAGED', 'unreadable JPEG header: broken data stream')).toBe('Not added: the file is damaged.')
    expect(rejected('TOO_LARGE', '20971521 bytes is over the 20971520 byte limit')).toBe(
      'Not added: the photo is too large (at most 20 MB and 12,000 px on each side).',
    )
    expect(rejected('TOO_LARGE', 'tiles of 512x512 px: 262144 pixels each, 99 in all, over the limits (1 and 2)')).toBe(
      'Not added: the photo is too large (at most 20 MB and 12,000 px on each side).',
    )
    expect(rejected('UNSUPPORTED_TYPE', 'not a JPEG, PNG or HEIC/HEIF image')).toBe(
      'Not added: the file is not a supported kind of photo (use JPEG, PNG or HEIC).',
    )
    expect(rejected('REPLACED', 'the same upload form was used again while this photo was being checked')).toBe(
      'Not added: another photo was sent with the same upload while this one was being checked, please try again.',
    )
    // A size detail under another reason is not taken for one.
    expect(rejected('DAMAGED', '640x480: both sides must be at least 800 px')).toBe('Not added: the file is damaged.')
    expect(rejected('DAMAGED', '13000x9000 is over the limit (12000 px a side, 60000000 pixels)')).toBe(
      'Not added: the file is damaged.',
    )
    // Only a detail of exactly that form is read (a trailing full stop and spaces aside).
    const small = 'the photo is too small (at least 800 px on each side)'
    expect(rejected('TOO_SMALL', ' 640x480: both sides must be at least 800 px. ')).toBe(
      'Not added: the photo is too small (640 × 480 px; it needs at least 800 px on each side).',
    )
    expect(rejected('TOO_SMALL', 'after rotation 640x480: both sides must be at least 800 px')).toBe(`Not added: ${small}.`)
    expect(rejected('TOO_SMALL', '640x480: both sides must be at least 800 px, twice')).toBe(`Not added: ${small}.`)
    expect(rejected('TOO_SMALL', 'too small')).toBe(`Not added: ${small}.`)
    const large = 'the photo is too large (at most 20 MB and 12,000 px on each side)'
    expect(rejected('TOO_LARGE', 'tile 13000x9000 is over the limit (12000 px a side, 60000000 pixels)')).toBe(`Not added: ${large}.`)
    expect(rejected('TOO_LARGE', '13000x9000 is over the limit (12000 px a side, 60000000 pixels) twice')).toBe(`Not added: ${large}.`)
    // A side of exactly the limit is allowed: then the pixel count is what is over.
    expect(rejected('TOO_LARGE', '12000x6000 is over the limit (12000 px a side, 60000000 pixels)')).toBe(
      'Not added: the photo is too large (12,000 × 6,000 px, 72 megapixels; at most 60).',
    )
    expect(rejected('TOO_LARGE', '1234567x800 is over the limit (12000 px a side, 60000000 pixels)')).toBe(
      'Not added: the photo is too large (1,234,567 × 800 px; at most 12,000 px on each side).',
    )
    expect(outcomeMessage(view('EXPIRED'))).toBe('Not added: the upload expired before the photo arrived, please try again.')
  })
})

describe('remembered uploads (localStorage)', () => {
  const entry = { uploadId: 'u1', placeId: 'p1', fileName: 'a.jpg', size: 1234, sentAt: 1_000_000, owner: 'me' }

  it('remembers, forgets, and drops entries past the deadline or malformed', () => {
    localStorage.clear()
    rememberPending(localStorage, { ...entry, sentAt: Date.now() })
    rememberPending(localStorage, { ...entry, uploadId: 'u2', sentAt: Date.now() })
    expect(readPending(localStorage).map((p) => p.uploadId)).toEqual(['u1', 'u2'])
    forgetPending(localStorage, 'u1')
    expect(readPending(localStorage).map((p) => p.uploadId)).toEqual(['u2'])
    forgetPending(localStorage, 'u2')
    expect(localStorage.getItem(PENDING_UPLOADS_KEY)).toBeNull()

    localStorage.setItem(PENDING_UPLOADS_KEY, JSON.stringify([entry, { uploadId: 5 }, 'x']))
    expect(readPending(localStorage, entry.sentAt + PROCESSING_DEADLINE_MS - 1)).toEqual([entry])
    expect(readPending(localStorage, entry.sentAt + PROCESSING_DEADLINE_MS)).toEqual([])
    expect(localStorage.getItem(PENDING_UPLOADS_KEY)).toBeNull()

    localStorage.setItem(PENDING_UPLOADS_KEY, '{not json')
    expect(readPending(localStorage)).toEqual([])
  })

  it('reads back only entries with every field of the right kind', () => {
    const fresh = { ...entry, sentAt: Date.now() }
    const broken = [
      null,
      { ...fresh, uploadId: 7 },
      { ...fresh, placeId: 7 },
      { ...fresh, fileName: null },
      { ...fresh, owner: 7 },
      { ...fresh, sentAt: String(fresh.sentAt) },
      { ...fresh, size: '1234' },
    ]
    localStorage.setItem(PENDING_UPLOADS_KEY, JSON.stringify([...broken, fresh]))
    expect(readPending(localStorage)).toEqual([fresh])
    expect(JSON.parse(localStorage.getItem(PENDING_UPLOADS_KEY)!)).toEqual([fresh])
  })

  it('reads an entry kept before sizes were as one of unknown size', () => {
    const { size: _, ...older } = { ...entry, sentAt: Date.now() }
    localStorage.setItem(PENDING_UPLOADS_KEY, JSON.stringify([older]))
    expect(readPending(localStorage)).toEqual([{ ...older, size: null }])
  })

  it('remembers an upload once, with its latest details', () => {
    localStorage.clear()
    const now = Date.now()
    rememberPending(localStorage, { ...entry, sentAt: now - 5000 })
    rememberPending(localStorage, { ...entry, uploadId: 'u2', sentAt: now })
    rememberPending(localStorage, { ...entry, sentAt: now })
    expect(readPending(localStorage)).toEqual([
      { ...entry, uploadId: 'u2', sentAt: now },
      { ...entry, sentAt: now },
    ])
  })
})
