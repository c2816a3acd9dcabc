import { describe, expect, it, vi } from 'vitest'
import { ApiError, type UploadStatus, type UploadView } from '../src/lib/api'
import { REASON_WORDS, outcomeMessage, reasonToWords } from '../src/lib/reasons'
import {
  MAX_UPLOAD_BYTES,
  POLL_TIMEOUT_MESSAGE,
  UploadError,
  buildFormData,
  checkFile,
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
  })

  it('refuses other types with a clear message, even with a photo-like extension', () => {
    const gif = checkFile(fileOf('cat.gif', 'image/gif', 1000))
    expect(gif).toEqual({ ok: false, message: '"cat.gif" is not a photo this app accepts. Choose a JPEG, PNG or HEIC photo.' })
    expect(checkFile(fileOf('fake.jpg', 'text/plain', 10)).ok).toBe(false)
    expect(checkFile(fileOf('noext', '', 10)).ok).toBe(false)
    expect(checkFile(fileOf('clip.mov', 'video/quicktime', 10)).ok).toBe(false)
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
    FakeXhr.instances = []
    const done = postToStorage({
      url: 'http://s',
      fields: {},
      file: fileOf('a.jpg', 'image/jpeg', 10),
      filename: 'a.jpg',
      createXhr: () => new FakeXhr() as unknown as XMLHttpRequest,
    })
    const xhr = FakeXhr.instances[0]!
    if (event === 'error') xhr.onerror?.()
    else xhr.respond(status, body)
    const err = await done.catch((e: unknown) => e)
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

  it('keeps polling through network errors and 5xx, stops on other errors', async () => {
    const answers: Array<UploadView | ApiError> = [new ApiError(0, 'offline'), new ApiError(503, 'busy'), view('FAILED')]
    const getUpload = async () => {
      const a = answers.shift()!
      if (a instanceof ApiError) throw a
      return a
    }
    await expect(pollUpload(getUpload, 'u1', { sleep: async () => {} })).resolves.toMatchObject({ status: 'FAILED' })

    const forbidden = async (): Promise<UploadView> => {
      throw new ApiError(403, 'Only the owner can see this upload.')
    }
    await expect(pollUpload(forbidden, 'u1', { sleep: async () => {} })).rejects.toThrow('Only the owner')
  })

  it('gives up after the timeout with a message', async () => {
    let clock = 0
    const getUpload = vi.fn(async () => view('PROCESSING'))
    const err = await pollUpload(getUpload, 'u1', {
      timeoutMs: 120_000,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms
      },
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UploadError)
    expect((err as Error).message).toBe(POLL_TIMEOUT_MESSAGE)
    expect(clock).toBe(120_000)
    // 1 s, 1.5 s, 2.25 s, ... capped at 5 s: about 28 polls in two minutes, not 120.
    expect(getUpload.mock.calls.length).toBeGreaterThan(20)
    expect(getUpload.mock.calls.length).toBeLessThan(35)
  })
})

describe('reasons in plain words', () => {
  it('maps every reason code', () => {
    expect(reasonToWords('TOO_SMALL')).toBe('the photo is too small (at least 800 px on each side)')
    expect(reasonToWords('DAMAGED')).toBe('the file is damaged')
    expect(reasonToWords('PEOPLE_NOT_ALLOWED')).toBe('the photo is not allowed here because it shows people')
    expect(reasonToWords('INAPPROPRIATE_CONTENT')).toBe('the photo was flagged as inappropriate content')
    for (const code of ['TOO_LARGE', 'UNSUPPORTED_TYPE', 'PLACE_TYPE_NOT_ALLOWED', 'PLACE_NOT_FOUND', 'REPLACED', 'FAILED', 'EXPIRED']) {
      expect(reasonToWords(code)).toBe(REASON_WORDS[code])
      expect(reasonToWords(code)).not.toContain('_')
    }
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
      'Not added: something went wrong, please try again (The resizer timed out).',
    )
    expect(outcomeMessage(view('FAILED', { reason: 'DAMAGED' }))).toBe('Not added: the file is damaged.')
    // The backend's detail replaces the general rule in brackets instead of repeating it.
    expect(
      outcomeMessage(view('REJECTED', { reason: 'TOO_SMALL', reasonDetail: '640x480: both sides must be at least 800 px' })),
    ).toBe('Not added: the photo is too small (640x480: both sides must be at least 800 px).')
    expect(outcomeMessage(view('EXPIRED'))).toBe('Not added: the upload expired before the photo arrived, please try again.')
  })
})
