import { flushPromises } from '@vue/test-utils'
import { ref } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import AppHeader from '../src/components/AppHeader.vue'
import UploadIndicator from '../src/components/UploadIndicator.vue'
import UploadPanel from '../src/components/UploadPanel.vue'
import type { AuthUser } from '../src/composables/useAuth'
import { ANNOUNCEMENT_KEPT_MS, OFFLINE_MESSAGE, PASSING_STEP_MS, OTHER_ACCOUNT_MESSAGE, PAUSED_MESSAGE, UNSENT_MESSAGE, busyWaitS, createUploads, type UploadsDeps } from '../src/composables/useUpload'
import { ApiError, type Api, type UploadForm, type UploadView } from '../src/lib/api'
import { notices } from '../src/lib/notices'
import { PENDING_UPLOADS_KEY, type PendingUpload } from '../src/lib/pendingUploads'
import { KEPT_FOR_MS, type UnsentFile } from '../src/lib/unsentFiles'
import { PROCESSING_DEADLINE_MS, SLOW_MESSAGE, UploadError, type PostOptions } from '../src/lib/upload'
import { Stub, fakeApi, fakeAuth, fileOf, makePhoto, memoryUnsentFiles, mountWith, testRouter } from './helpers'

const ME: AuthUser = { sub: 'me', name: 'Me' }

/** What the API answers: a form for exactly the declared size (the API sets maxBytes = request.size). */
function formFor(uploadId: string) {
  return vi.fn(
    async (_placeId: string, body: { size: number }): Promise<UploadForm> => ({
      uploadId,
      url: 'http://storage.test/bucket',
      fields: { key: `uploads/${uploadId}`, 'Content-Type': 'image/heic', policy: 'p', 'x-amz-signature': 's' },
      expiresAt: 2_000_000_000,
      maxBytes: body.size,
    }),
  )
}

function status(status: UploadView['status'], extra: Partial<UploadView> = {}): UploadView {
  return { uploadId: 'u1', placeId: 'p1', status, reason: null, reasonDetail: null, createdAt: '', updatedAt: '', photo: null, ...extra }
}

/** A storage POST the test controls: records the call, reports progress, then succeeds. */
function fakePost() {
  const calls: PostOptions[] = []
  const post = vi.fn(async (opts: PostOptions) => {
    calls.push(opts)
    opts.onProgress?.(50, 100)
    opts.onProgress?.(100, 100)
  })
  return { post, calls }
}

/** A storage POST that stays open until the test ends it (or the upload is cancelled through its signal). */
function heldPost() {
  const held: { finish: () => void; progress: (loaded: number, total: number) => void }[] = []
  const post = vi.fn(
    (opts: PostOptions) =>
      new Promise<void>((resolve, reject) => {
        held.push({ finish: resolve, progress: opts.onProgress! })
        opts.signal?.addEventListener('abort', () => reject(new UploadError('The upload was cancelled.', 'cancelled')))
      }),
  )
  return { post, held }
}

/** A send whose connection drops: the browser cannot tell whether storage got the file. */
function droppedPost() {
  return vi.fn(async () => {
    throw new UploadError('The photo could not be sent: check your connection and try again.', 'connection')
  })
}

const noWait = { sleep: async () => {} }

/**
 * A clock the test moves on. Storage's "not there" for a send that broke off is believed only once the upload's
 * event has had its time (~14 s): a Try again a minute later believes it at once.
 */
function testClock() {
  let time = 1_000_000
  return { now: () => time, pass: (ms: number) => (time += ms) }
}

/** A browser whose connection the test turns off and on, with its online event. */
function connection(initially: boolean) {
  const target = new EventTarget()
  let up = initially
  return {
    target,
    online: () => up,
    set(value: boolean) {
      up = value
      if (value) target.dispatchEvent(new Event('online'))
    },
  }
}
const unreachable = () => new ApiError(0, 'Could not reach the server. Check your connection and try again.')
const dropped = () => new UploadError('The photo could not be sent: check your connection and try again.', 'connection')
/** A send during which the connection goes: the browser goes offline and the send breaks off. */
const cutOff = (net: ReturnType<typeof connection>) =>
  vi.fn(async () => {
    net.set(false)
    throw dropped()
  })
const added = () => vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') }))
/** Waits the test ends by hand (a busy wait, the pause between two checks). */
function manualSleep() {
  const waiting: (() => void)[] = []
  return { sleep: () => new Promise<void>((resolve) => waiting.push(resolve)), release: () => waiting.splice(0).forEach((r) => r()) }
}

function store(over: Partial<UploadsDeps> & { api: UploadsDeps['api'] }) {
  return createUploads({ user: ref<AuthUser | null>(ME), poll: noWait, ...over })
}

/** The photo of upload u1 turns out to have arrived: Try again follows it, with no second form or send. */
async function tryAgainFollowsTheArrivedPhoto(up: ReturnType<typeof store>, api: Api, post: ReturnType<typeof droppedPost>, jobId: number) {
  vi.mocked(api.getUpload).mockResolvedValue(status('PROCESSED', { photo: makePhoto('u1') }))
  void up.retry(jobId)
  await flushPromises()
  expect(api.createUpload).toHaveBeenCalledTimes(1)
  expect(post).toHaveBeenCalledTimes(1)
  expect(up.jobs.value[0]).toMatchObject({ phase: 'added', uploadId: 'u1' })
}

/** One file whose send broke off without an answer, the upload still PENDING_UPLOAD as far as the API knows. */
async function sendDropped(createUpload: Api['createUpload']) {
  const api = fakeApi({ createUpload, getUpload: vi.fn(async () => status('PENDING_UPLOAD')) })
  const post = droppedPost()
  const up = store({ api, post })
  up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
  await flushPromises()
  const job = up.jobs.value[0]!
  expect(job).toMatchObject({ phase: 'error', canRetry: true })
  return { api, post, up, job }
}

function stored(): PendingUpload[] {
  return JSON.parse(localStorage.getItem(PENDING_UPLOADS_KEY) ?? '[]') as PendingUpload[]
}

beforeEach(() => {
  localStorage.clear()
})

afterEach(() => {
  vi.useRealTimers() // after a test that moved a fake clock, failed or not
})

describe('the upload store', () => {
  it('uploads a HEIC with an empty type as image/heic and reports the published photo', async () => {
    const photo = makePhoto('u1')
    const answers = [status('PROCESSING'), status('PROCESSED', { photo })]
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => answers.shift()!) })
    const { post, calls } = fakePost()
    const up = store({ api, post })
    const added = vi.fn()
    up.onAdded(added)
    up.show('p1')

    up.addFiles('p1', [fileOf('IMG_0042.HEIC', '', 2_000_000)])
    await flushPromises()

    expect(api.createUpload).toHaveBeenCalledWith('p1', { contentType: 'image/heic', size: 2_000_000 }, expect.any(String))
    expect(calls).toHaveLength(1)
    expect(calls[0]!.url).toBe('http://storage.test/bucket')
    expect((calls[0]!.file as File).type).toBe('image/heic')
    expect((calls[0]!.file as File).size).toBeGreaterThan(0) // the same bytes, only the type is set
    expect(api.getUpload).toHaveBeenCalledWith('u1')
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added', message: 'Added! Your photo is now on this page.', progress: 1 })
    expect(added).toHaveBeenCalledWith(photo)
    expect(up.announcements.value.at(-1)).toMatchObject({ placeId: 'p1', text: 'IMG_0042.HEIC: Added! Your photo is now on this page.' })
    expect(up.sending.value).toBe(false)
  })

  it('shows the rejection reason in words', async () => {
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('REJECTED', { reason: 'TOO_SMALL' })) })
    const up = store({ api, post: fakePost().post })
    up.addFiles('p1', [fileOf('small.jpg', 'image/jpeg', 30_000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({
      phase: 'rejected',
      message: 'Not added: the photo is too small (at least 800 px on each side).',
      canRetry: false,
    })
  })

  it('refuses a wrong file before calling the API and still uploads the good one', async () => {
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })) })
    const { post } = fakePost()
    const up = store({ api, post })
    up.addFiles('p1', [fileOf('anim.gif', 'image/gif', 1000), fileOf('huge.jpg', 'image/jpeg', 25 * 1024 * 1024), fileOf('ok.png', 'image/png', 1000)])
    await flushPromises()
    expect(api.createUpload).toHaveBeenCalledTimes(1)
    expect(post).toHaveBeenCalledTimes(1)
    const byName = Object.fromEntries(up.jobs.value.map((j) => [j.fileName, j]))
    expect(byName['anim.gif']!.phase).toBe('error')
    expect(byName['anim.gif']!.message).toMatch(/Choose a JPEG, PNG or HEIC photo/)
    expect(byName['huge.jpg']!.message).toBe('"huge.jpg" is too large (25 MB). The limit is 20 MB.')
    expect(byName['ok.png']!.phase).toBe('added')
  })

  it('shows a failing createUpload in words, sends nothing and offers Try again with a new form', async () => {
    const busy = new ApiError(503, 'The server had a problem (HTTP 503). Please try again.')
    const createUpload = vi
      .fn<Api['createUpload']>()
      .mockRejectedValueOnce(busy) // asked three times: still busy
      .mockRejectedValueOnce(busy)
      .mockRejectedValueOnce(busy)
      .mockImplementation(formFor('u2'))
    const api = fakeApi({ createUpload, getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u2') })) })
    const { post } = fakePost()
    const up = store({ api, post })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const job = up.jobs.value[0]!
    expect(job).toMatchObject({ phase: 'error', message: 'The server had a problem (HTTP 503). Please try again.', canRetry: true })
    expect(post).not.toHaveBeenCalled()
    expect(api.getUpload).not.toHaveBeenCalled()

    void up.retry(job.id)
    await flushPromises()
    expect(createUpload).toHaveBeenCalledTimes(4)
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added', uploadId: 'u2' })
    // Every attempt, Try again's too, was one request asked again until a form came: an answer that was lost
    // gives the same form again and is counted once.
    const keys = createUpload.mock.calls.map(([, , key]) => key)
    expect(keys[0]).toMatch(/\S{8,}/)
    expect(keys).toEqual([keys[0], keys[0], keys[0], keys[0]])
  })

  it('asks for each photo under its own key, and for a new form under a new one once a form came', async () => {
    const createUpload = vi.fn<Api['createUpload']>().mockImplementation(formFor('u1'))
    const api = fakeApi({ createUpload, getUpload: vi.fn(async () => status('FAILED')) })
    const { post } = fakePost()
    const up = store({ api, post })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const [a, b] = createUpload.mock.calls.map(([, , key]) => key)
    expect(a).not.toBe(b) // the same type and size: still two requests
    const job = up.jobs.value[0]!
    expect(job).toMatchObject({ phase: 'rejected', canRetry: true })
    void up.retry(job.id)
    await flushPromises()
    const again = createUpload.mock.calls[2]![2]
    expect([a, b]).not.toContain(again) // its form came: a new attempt asks for a new one
  })

  it('waits for the same request sent before while the API is still answering it, then gets its form', async () => {
    const stillAnswering = new ApiError(409, 'still being answered', { retryAfterS: 2 })
    const createUpload = vi.fn<Api['createUpload']>().mockRejectedValueOnce(stillAnswering).mockImplementation(formFor('u1'))
    const api = fakeApi({ createUpload, getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })) })
    const { post } = fakePost()
    const up = store({ api, post })
    const messages: string[] = []
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await vi.waitFor(() => {
      messages.push(up.jobs.value[0]!.message)
      expect(up.jobs.value[0]!.phase).toBe('added')
    })
    expect(createUpload.mock.calls.map(([, , key]) => key)).toEqual([createUpload.mock.calls[0]![2], createUpload.mock.calls[0]![2]])
    expect(busyWaitS(stillAnswering, 1)).toBe(2)
    expect(busyWaitS(new ApiError(409, 'a museum takes no photos'), 1)).toBeNull() // a refusal, no Retry-After
  })

  it("asks for a form again after a busy answer, as long as its Retry-After says, but never waits out a day's quota", async () => {
    const throttled = new ApiError(429, 'Too Many Requests', { retryAfterS: 2 })
    const createUpload = vi.fn<Api['createUpload']>().mockRejectedValueOnce(throttled).mockImplementation(formFor('u1'))
    const api = fakeApi({ createUpload, getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })) })
    const waits: number[] = []
    const messages: string[] = [] // what the photo says while it waits
    const sleep = async (ms: number) => void (waits.push(ms), messages.push(up.jobs.value[0]!.message))
    const up = store({ api, post: fakePost().post, poll: { sleep } })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added', uploadId: 'u1' })
    expect([createUpload.mock.calls.length, waits[0]]).toEqual([2, 2000])
    expect(messages).toContain('The server is busy: trying again in 2 s…')

    const quota = new ApiError(429, 'You have reached the daily limit.', { retryAfterS: 40_000 })
    createUpload.mockReset().mockRejectedValue(quota)
    up.addFiles('p1', [fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ fileName: 'b.jpg', phase: 'error', message: 'You have reached the daily limit.' })
    expect(createUpload).toHaveBeenCalledOnce()
    // No answer at all is not called a busy server.
    createUpload.mockReset().mockRejectedValueOnce(new ApiError(0, 'offline')).mockImplementation(formFor('u3'))
    up.addFiles('p1', [fileOf('c.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(messages.at(-1)).toBe('No answer from the server: trying again in 2 s…')
    // No answer at all, or a 503 with no Retry-After: 2 s, then 4 s. A refusal is not asked again.
    expect([busyWaitS(new ApiError(0, 'offline'), 1), busyWaitS(new ApiError(503, 'busy'), 2)]).toEqual([2, 4])
    expect(busyWaitS(new ApiError(409, 'museum'), 1)).toBeNull()
  })

  it('offers no Try again when the API refuses the upload itself, as it would again', async () => {
    const refusals = [
      new ApiError(409, 'photos are not accepted for places of type museum'),
      new ApiError(404, 'place p1 not found'),
      new ApiError(400, 'size must be at most 20971520'),
    ]
    const createUpload = vi.fn<Api['createUpload']>(async () => Promise.reject(refusals.shift()!))
    const { post } = fakePost()
    const up = store({ api: fakeApi({ createUpload }), post })
    up.addFiles('p1', ['a.jpg', 'b.jpg', 'c.jpg'].map((name) => fileOf(name, 'image/jpeg', 1000)))
    await flushPromises()
    const [a, b, c] = up.jobs.value
    expect(a).toMatchObject({ phase: 'error', message: 'photos are not accepted for places of type museum', canRetry: false })
    expect(b).toMatchObject({ phase: 'error', message: 'place p1 not found', canRetry: false })
    expect(c).toMatchObject({ phase: 'error', canRetry: false })
    void up.retry(a!.id)
    await flushPromises()
    expect(createUpload).toHaveBeenCalledTimes(3)
    expect(post).not.toHaveBeenCalled()
  })

  it('offers Try again after a daily quota or an expired sign-in: either may pass later', async () => {
    const createUpload = vi
      .fn<Api['createUpload']>()
      .mockRejectedValueOnce(new ApiError(429, '200 upload forms a day is the most one person may ask for', { retryAfterS: 40_000 }))
      .mockRejectedValueOnce(new ApiError(401, 'Please sign in again: your sign-in is missing or has expired.'))
      .mockRejectedValueOnce(new ApiError(408, 'Request timeout'))
      .mockRejectedValueOnce(new ApiError(500, 'The server had a problem (HTTP 500). Please try again.'))
    const up = store({ api: fakeApi({ createUpload }), post: fakePost().post })
    up.addFiles('p1', ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'].map((name) => fileOf(name, 'image/jpeg', 1000)))
    await flushPromises()
    expect(up.jobs.value.map((j) => j.canRetry)).toEqual([true, true, true, true])
    expect(createUpload).toHaveBeenCalledTimes(4) // a day's quota is not asked again at once
  })

  it('shows a storage refusal in words', async () => {
    const api = fakeApi({ createUpload: formFor('u1') })
    const post = vi.fn(async () => {
      throw new UploadError('The upload link expired before the photo was sent. Please try again.')
    })
    const up = store({ api, post })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({
      phase: 'error',
      message: 'The upload link expired before the photo was sent. Please try again.',
      canRetry: true,
    })
    // A refusal is an answer: no need to ask whether the photo arrived.
    expect(api.getUpload).not.toHaveBeenCalled()
  })

  it('after a lost connection, asks the API: a photo that arrived is followed, not failed', async () => {
    const answers = [status('PROCESSING'), status('PROCESSED', { photo: makePhoto('u1') })]
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => answers.shift()!) })
    const post = droppedPost()
    const up = store({ api, post })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(api.createUpload).toHaveBeenCalledTimes(1)
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added', message: 'Added! Your photo is now on this page.' })
  })

  it('after a stall, a photo that did not arrive can be sent again with a new form', async () => {
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PENDING_UPLOAD')) })
    const stalled = 'Sending stopped: nothing got through for 30 seconds. Check your connection and try again.'
    const post = vi
      .fn<(opts: PostOptions) => Promise<void>>()
      .mockRejectedValueOnce(new UploadError(stalled, 'stalled'))
      .mockResolvedValue(undefined)
    const clock = testClock()
    const up = store({ api, post, poll: { ...noWait, now: clock.now } })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const job = up.jobs.value[0]!
    expect(api.getUpload).toHaveBeenCalledTimes(3) // asked three times before offering to send again
    expect(job).toMatchObject({ phase: 'error', message: stalled, canRetry: true })
    expect(stored()).toEqual([])

    clock.pass(60_000) // Try again a minute later
    vi.mocked(api.getUpload).mockResolvedValueOnce(status('PENDING_UPLOAD')) // asked once more on Try again
    vi.mocked(api.getUpload).mockResolvedValue(status('PROCESSED', { photo: makePhoto('u1') }))
    void up.retry(job.id)
    await flushPromises()
    expect(api.createUpload).toHaveBeenCalledTimes(2)
    expect(post).toHaveBeenCalledTimes(2)
    expect(up.jobs.value[0]!.phase).toBe('added')
  })

  it('Try again after a lost connection follows the first upload if it arrived late, instead of adding it twice', async () => {
    const { api, post, up, job } = await sendDropped(formFor('u1'))

    // Its event came after the three checks: by the time the person taps Try again, the API knows the photo.
    await tryAgainFollowsTheArrivedPhoto(up, api, post, job.id)
    expect(stored()).toMatchObject([{ uploadId: 'u1' }]) // sent: remembered until its outcome is seen
  })

  it('Try again after a lost connection sends again when the first form expired without its file', async () => {
    const createUpload = vi.fn().mockImplementationOnce(formFor('u1')).mockImplementationOnce(formFor('u2'))
    const { api, post, up, job } = await sendDropped(createUpload)

    // Half an hour later the sweeper has closed u1 as EXPIRED: no file ever came. Try again sends, at once.
    vi.mocked(api.getUpload).mockResolvedValue(status('EXPIRED'))
    post.mockResolvedValueOnce(undefined as never)
    void up.retry(job.id)
    await flushPromises()
    expect(createUpload).toHaveBeenCalledTimes(2)
    expect(post).toHaveBeenCalledTimes(2)
    expect(job.uploadId).toBe('u2')
  })

  it('cancels a file being sent and one waiting its turn; both can be tried again', async () => {
    const api = fakeApi({ createUpload: formFor('u1') })
    const { post } = heldPost()
    const up = store({ api, post })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const [a, b] = up.jobs.value
    expect(a!.phase).toBe('uploading')
    expect(b!.phase).toBe('waiting')

    up.cancel(b!.id)
    up.cancel(a!.id)
    await flushPromises()
    expect(a).toMatchObject({ phase: 'error', message: 'The upload was cancelled.', canRetry: true })
    expect(b).toMatchObject({ phase: 'error', message: 'The upload was cancelled.', canRetry: true })
    expect(post).toHaveBeenCalledTimes(1)
    expect(api.getUpload).not.toHaveBeenCalled()
  })

  it('Cancel stops the checks after a lost connection at once; Try again still asks before sending again', async () => {
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PENDING_UPLOAD')) })
    const post = droppedPost()
    // The checks wait 2, 4 and 8 s between them: here the waits never end unless cancelled.
    const up = store({ api, post, poll: { sleep: () => new Promise(() => {}) } })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const job = up.jobs.value[0]!
    expect(job).toMatchObject({ phase: 'uploading', message: 'The connection dropped. Checking whether your photo arrived…' })

    up.cancel(job.id)
    await flushPromises()
    // It may have arrived after all, and would then still be added: the row does not claim otherwise.
    expect(job).toMatchObject({
      phase: 'error',
      message: 'Stopped looking for this photo. If it had arrived, it will still be added: Try again to see.',
      canRetry: true,
    })
    expect(up.sending.value).toBe(false)
    expect(api.getUpload).not.toHaveBeenCalled()

    // The photo may have arrived after all: Try again looks first, and follows it instead of sending it twice.
    await tryAgainFollowsTheArrivedPhoto(up, api, post, job.id)
  })

  it('warns before the page is closed only while a file is being sent', async () => {
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PROCESSING')) })
    const { post, held } = heldPost()
    const up = store({ api, post, poll: { sleep: () => new Promise(() => {}) } })
    const leave = () => {
      const event = new Event('beforeunload', { cancelable: true })
      window.dispatchEvent(event)
      return event.defaultPrevented
    }
    expect(leave()).toBe(false)
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(leave()).toBe(true)
    held[0]!.finish()
    await flushPromises()
    expect(up.jobs.value[0]!.phase).toBe('processing')
    expect(leave()).toBe(false) // sent: the outcome is remembered and followed later
    up.dispose()
  })

  it('keeps polling past two minutes, saying it is still being checked, until the outcome', async () => {
    let clock = 0
    const sleeps: number[] = []
    let polls = 0
    const api = fakeApi({
      createUpload: formFor('u1'),
      getUpload: vi.fn(async () => (++polls < 40 ? status('PROCESSING') : status('PROCESSED', { photo: makePhoto('u1') }))),
    })
    const messages: string[] = []
    const up = store({
      api,
      post: fakePost().post,
      poll: {
        now: () => clock,
        sleep: async (ms) => {
          sleeps.push(ms)
          messages.push(up.jobs.value[0]!.message)
          clock += ms
        },
      },
    })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(clock).toBeGreaterThan(5 * 60_000) // far past the old two-minute give-up
    expect(messages).toContain(SLOW_MESSAGE)
    expect(messages.some((m) => /fail|not added/i.test(m))).toBe(false)
    expect(Math.max(...sleeps)).toBe(30_000) // slow polls once slow, not every 5 s for half an hour
    expect(up.jobs.value[0]!.phase).toBe('added')
  })
})

/** An API whose upload forms are u1, u2, … in turn, and whose GET /uploads answers from `outcomes` by id. */
function numberedApi(outcomes: Record<string, UploadView | ApiError>) {
  let n = 0
  const form = formFor('')
  return fakeApi({
    createUpload: vi.fn(async (placeId: string, body: { size: number }) => ({ ...(await form(placeId, body)), uploadId: `u${++n}` })),
    getUpload: vi.fn(async (id: string) => {
      const outcome = outcomes[id] ?? status('PROCESSING', { uploadId: id })
      if (outcome instanceof ApiError) throw outcome
      return outcome
    }),
  })
}

const waitForever = { sleep: () => new Promise<void>(() => {}) }

describe('the upload store keeps each upload apart', () => {
  it('offers Try again only for outcomes another attempt may change, and reports only a published photo', async () => {
    const api = numberedApi({
      u1: status('REJECTED', { reason: 'TOO_SMALL' }),
      u2: status('FAILED'),
      u3: status('REJECTED', { reason: 'REPLACED' }),
      u4: status('EXPIRED'),
      u5: status('REJECTED', { reason: 'DAMAGED' }),
      u6: status('PROCESSED'),
      u7: new ApiError(403, 'Only the owner can see this upload.'),
      u8: status('PROCESSED', { photo: makePhoto('u8') }),
      // FAILED as the API answers it: the error's name from the workflow, or the sweeper's code.
      u9: status('FAILED', { reason: 'States.Timeout' }),
      u10: status('FAILED', { reason: 'PROCESSING_TIMED_OUT' }),
    })
    const up = store({ api, post: fakePost().post })
    const added = vi.fn()
    const stopped = vi.fn()
    up.onAdded(added)
    up.onAdded(stopped)()
    const names = ['1.jpg', '2.jpg', '3.jpg', '4.jpg', '5.jpg', '6.jpg', '7.jpg', '8.jpg', '9.jpg', '10.jpg']
    up.addFiles('p1', names.map((name) => fileOf(name, 'image/jpeg', 1000)))
    await flushPromises()
    expect(up.jobs.value.map((j) => [j.fileName, j.phase, j.canRetry])).toEqual([
      ['1.jpg', 'rejected', false],
      ['2.jpg', 'rejected', true],
      ['3.jpg', 'rejected', true],
      ['4.jpg', 'rejected', true],
      ['5.jpg', 'rejected', false],
      ['6.jpg', 'added', false],
      ['7.jpg', 'paused', false],
      ['8.jpg', 'added', false],
      ['9.jpg', 'rejected', true],
      ['10.jpg', 'rejected', true],
    ])
    // 403: someone else's session now (signed in in another tab): the upload waits for its owner, never dropped.
    expect(up.jobs.value[6]!.message).toBe(PAUSED_MESSAGE)
    // Only the photo that came with its answer is shown; a listener that stopped hears nothing.
    expect(added.mock.calls).toEqual([[makePhoto('u8')]])
    expect(stopped).not.toHaveBeenCalled()
  })

  it('shows every step and its progress, and reads out only steps that last and quarters of a send that lasts', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const { post, held } = heldPost()
      const up = store({ api: numberedApi({}), post })
      up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000)])
      await flushPromises()
      const [a, b] = up.jobs.value // a is sent first, b waits its turn
      const said = () => up.announcements.value.map((line) => line.text)
      expect(a).toMatchObject({ phase: 'uploading', message: 'Uploading… 0%' })
      expect(b).toMatchObject({ phase: 'waiting', message: 'Waiting…' })
      expect(said()).toEqual([]) // "Preparing the upload…" passed at once
      held[0]!.progress(30, 100) // within the send's first second: shown, not read out
      expect(a).toMatchObject({ progress: 0.3, message: 'Uploading… 30%' })
      await vi.advanceTimersByTimeAsync(PASSING_STEP_MS)
      expect(said()).toEqual([]) // "Uploading… 0%" was no longer a's step
      held[0]!.progress(45, 100)
      held[0]!.progress(60, 100)
      held[0]!.progress(100, 100)
      expect(said()).toEqual(['a.jpg: uploading, 60%']) // never 100%: "Sent" follows at once
      held[0]!.progress(5, 0) // the browser does not know the total
      expect(a!.progress).toBe(0)
      up.dispose()
    } finally {
      vi.useRealTimers()
    }
  })

  it('reads out a step said again only if it lasts this time, and once; and nothing is left to read after dispose', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const createUpload = vi
        .fn<Api['createUpload']>()
        .mockRejectedValueOnce(new ApiError(500, 'broken'))
        .mockImplementation(() => new Promise<UploadForm>(() => {}))
      const up = store({ api: fakeApi({ createUpload, getUpload: added() }), post: fakePost().post })
      up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
      await flushPromises()
      const job = up.jobs.value[0]!
      expect(job).toMatchObject({ phase: 'error', canRetry: true })
      await vi.advanceTimersByTimeAsync(PASSING_STEP_MS * 0.6)
      void up.retry(job.id)
      await flushPromises()
      expect(job.message).toBe('Preparing the upload…')
      const preparing = () => up.announcements.value.filter((a) => a.text.endsWith('Preparing the upload…'))
      await vi.advanceTimersByTimeAsync(PASSING_STEP_MS * 0.4) // the first attempt's step would be up now
      expect(preparing()).toEqual([])
      await vi.advanceTimersByTimeAsync(PASSING_STEP_MS * 0.6) // this attempt's lasted
      expect(preparing()).toHaveLength(1)

      void up.retry(job.id) // nothing to do: it is being prepared
      up.addFiles('p1', [fileOf('b.jpg', 'image/jpeg', 1000)])
      await flushPromises()
      up.dispose()
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('counts a file as being sent while its upload form is asked for, too', async () => {
    let giveForm!: () => void
    const api = fakeApi({
      createUpload: vi.fn(() => new Promise<UploadForm>((resolve) => (giveForm = () => resolve(formFor('u1')('p1', { size: 1000 }) as never)))),
      getUpload: vi.fn(async () => status('PROCESSING')),
    })
    const up = store({ api, post: fakePost().post, poll: waitForever })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.jobs.value[0]!.phase).toBe('requesting')
    expect(up.sending.value).toBe(true)
    giveForm()
    await flushPromises()
    expect(up.sending.value).toBe(false)
    up.dispose()
  })

  it('Try again acts on the upload asked for, and only on one that can be tried again', async () => {
    const createUpload = vi.fn<Api['createUpload']>().mockRejectedValue(new ApiError(500, 'broken'))
    const up = store({ api: fakeApi({ createUpload, getUpload: vi.fn(async () => status('PROCESSING')) }), post: fakePost().post, poll: waitForever })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000), fileOf('c.gif', 'image/gif', 1000)])
    await flushPromises()
    const [a, b, c] = up.jobs.value
    expect([a!.canRetry, b!.canRetry, c!.canRetry]).toEqual([true, true, false])
    createUpload.mockImplementation(formFor('u2'))
    await up.retry(c!.id) // a file that was never sent: nothing to try
    await up.retry(12345)
    expect(createUpload).toHaveBeenCalledTimes(2)
    await up.retry(b!.id)
    await flushPromises()
    expect(createUpload).toHaveBeenCalledTimes(3)
    expect(a).toMatchObject({ phase: 'error', canRetry: true })
    expect(b).toMatchObject({ phase: 'processing', uploadId: 'u2', canRetry: false })
    up.dispose()
  })

  it('Try again after a rejection starts afresh: a new form, and the old upload forgotten', async () => {
    const api = numberedApi({ u1: status('FAILED'), u2: status('PROCESSING') })
    const { post, held } = heldPost()
    const up = store({ api, post, poll: waitForever })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    held[0]!.finish()
    await flushPromises()
    const job = up.jobs.value[0]!
    expect(job).toMatchObject({ phase: 'rejected', uploadId: 'u1', seen: false, canRetry: true })
    expect(stored().map((p) => p.uploadId)).toEqual(['u1'])
    void up.retry(job.id)
    await flushPromises()
    expect(stored()).toEqual([])
    expect(job).toMatchObject({ phase: 'uploading', progress: 0, uploadId: 'u2', sentAt: null, seen: true, canRetry: false })
    up.dispose()
  })

  it('Try again after a lost connection says it is looking first, and offers nothing while it looks', async () => {
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PENDING_UPLOAD')) })
    const post = droppedPost()
    const clock = testClock()
    const up = store({ api, post, poll: { ...noWait, now: clock.now } })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const job = up.jobs.value[0]!
    clock.pass(60_000)
    let answer!: (view: UploadView) => void
    vi.mocked(api.getUpload).mockImplementation(() => new Promise((resolve) => (answer = resolve)))
    void up.retry(job.id)
    expect(job).toMatchObject({ phase: 'requesting', canRetry: false, message: 'Checking whether your photo arrived…' })
    answer(status('PENDING_UPLOAD'))
    await flushPromises()
    expect(post).toHaveBeenCalledTimes(2) // not there: sent again
  })

  it('"Clear finished" takes away only the finished uploads of that place, and forgets only theirs', async () => {
    const api = numberedApi({ u1: status('PROCESSED', { photo: makePhoto('u1') }), u3: status('PROCESSED', { photo: makePhoto('u3') }) })
    const up = store({ api, post: fakePost().post, poll: waitForever })
    up.addFiles('p2', [fileOf('d.jpg', 'image/jpeg', 1000)]) // u1
    await flushPromises()
    up.addFiles('p1', [fileOf('c.jpg', 'image/jpeg', 1000)]) // u2, still being checked
    await flushPromises()
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.gif', 'image/gif', 1000)]) // u3, and a refused file
    await flushPromises()
    expect(up.jobs.value.map((j) => [j.fileName, j.phase])).toEqual([
      ['a.jpg', 'added'],
      ['b.gif', 'error'],
      ['c.jpg', 'processing'],
      ['d.jpg', 'added'],
    ])
    expect(stored().map((p) => p.uploadId).sort()).toEqual(['u1', 'u2', 'u3'])
    up.clearFinished('p1')
    expect(up.jobs.value.map((j) => j.fileName)).toEqual(['c.jpg', 'd.jpg'])
    expect(stored().map((p) => p.uploadId).sort()).toEqual(['u1', 'u2'])
  })

  it('an outcome counts as seen while its place is shown, however many times its page is mounted', async () => {
    const api = numberedApi({ u1: status('FAILED'), u2: status('FAILED'), u3: status('FAILED'), u4: status('FAILED') })
    const up = store({ api, post: fakePost().post })
    const send = async (placeId: string, name: string) => {
      up.addFiles(placeId, [fileOf(name, 'image/jpeg', 1000)])
      await flushPromises()
      return up.jobs.value[0]!
    }
    const first = await send('p1', 'a.jpg') // u1
    await send('p2', 'b.jpg') // u2
    expect(up.jobs.value.map((j) => j.seen)).toEqual([false, false])
    const leave = up.show('p1')
    expect(first.seen).toBe(true)
    expect(stored().map((p) => p.uploadId)).toEqual(['u2']) // p2's outcome is not seen yet
    const leaveAgain = up.show('p1') // the next page mounts before the last one is gone
    leave()
    expect((await send('p1', 'c.jpg')).seen).toBe(true) // u3
    leaveAgain()
    expect((await send('p1', 'd.jpg')).seen).toBe(false) // u4
    expect(stored().map((p) => p.uploadId)).toEqual(['u2', 'u4'])
  })

  it('dispose stops listening: no warning on leaving, no sign-in followed, nothing left being sent', async () => {
    const target = { addEventListener: vi.fn(), removeEventListener: vi.fn() }
    const user = ref<AuthUser | null>(null)
    const { post } = heldPost()
    const getUpload = vi.fn(async () => status('PROCESSING'))
    const up = createUploads({ api: fakeApi({ createUpload: formFor('u1'), getUpload }), user, target, post, poll: noWait })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.sending.value).toBe(true)
    up.dispose()
    await flushPromises()
    const warning = target.addEventListener.mock.calls[0]!
    expect(warning[0]).toBe('beforeunload')
    expect(target.removeEventListener).toHaveBeenCalledWith('beforeunload', warning[1])
    expect(up.jobs.value[0]).toMatchObject({ phase: 'error', message: 'The upload was cancelled.' })
    localStorage.setItem(
      PENDING_UPLOADS_KEY,
      JSON.stringify([{ uploadId: 'u7', placeId: 'p1', fileName: 'x.jpg', sentAt: Date.now(), owner: 'me' }]),
    )
    user.value = ME
    await flushPromises()
    expect(getUpload).not.toHaveBeenCalled()
  })
})

describe('uploads wait for a connection', () => {

  it('one failure offline holds the queue, asking for nothing more, and every file goes on once the connection is back', async () => {
    const net = connection(false)
    const createUpload = vi.fn<Api['createUpload']>().mockRejectedValueOnce(unreachable()).mockImplementation(formFor('u1'))
    const api = fakeApi({ createUpload, getUpload: added() })
    const up = store({ api, post: fakePost().post, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(createUpload).toHaveBeenCalledTimes(1) // no busy retries, and b.jpg not tried
    expect(up.jobs.value.map((j) => [j.fileName, j.phase, j.message, j.canRetry])).toEqual([
      ['a.jpg', 'waiting', OFFLINE_MESSAGE, false],
      ['b.jpg', 'waiting', OFFLINE_MESSAGE, false],
    ])
    net.set(true)
    await flushPromises()
    expect(createUpload.mock.calls.map(([, body]) => body.size)).toHaveLength(3)
    expect(createUpload.mock.calls[1]![2]).toBe(createUpload.mock.calls[0]![2]) // a.jpg again: the same request, the same key
    expect(up.jobs.value.map((j) => j.phase)).toEqual(['added', 'added'])
    up.dispose()
  })

  it('a browser that says it is offline while requests go through (a LAN, loopback) still sends', async () => {
    const net = connection(false)
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: added() })
    const up = store({ api, post: fakePost().post, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added' })
    up.dispose()
  })

  it('a send cut off offline is looked for once the connection is back, and not sent twice if it arrived', async () => {
    const net = connection(true)
    const post = cutOff(net)
    const getUpload = vi.fn<Api['getUpload']>(async () => {
      if (!net.online()) throw unreachable()
      return status('PROCESSED', { photo: makePhoto('u1') })
    })
    const api = fakeApi({ createUpload: formFor('u1'), getUpload })
    const up = store({ api, post, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'waiting', message: OFFLINE_MESSAGE })
    expect(getUpload).not.toHaveBeenCalled() // nobody to ask while offline
    net.set(true)
    await flushPromises()
    expect([vi.mocked(api.createUpload).mock.calls.length, post.mock.calls.length]).toEqual([1, 1])
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added', uploadId: 'u1' })
    up.dispose()
  })

  it('an online event that comes before requests go through: the cut-off photo is asked about again, never sent blind', async () => {
    const net = connection(true)
    const post = cutOff(net)
    const getUpload = vi.fn<Api['getUpload']>().mockRejectedValueOnce(unreachable()).mockRejectedValueOnce(unreachable())
    getUpload.mockResolvedValue(status('PROCESSED', { photo: makePhoto('u1') }))
    const api = fakeApi({ createUpload: formFor('u1'), getUpload })
    const up = store({ api, post, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    net.set(true)
    await flushPromises()
    expect(post).toHaveBeenCalledTimes(1)
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added', uploadId: 'u1' })
    up.dispose()
  })

  it('a photo whose send broke off, when nobody can be asked whether it arrived: said so, never sent blind', async () => {
    const unanswered = fakeApi({ createUpload: formFor('u2'), getUpload: vi.fn(async () => Promise.reject(unreachable())) })
    const net2 = connection(true)
    const post2 = vi.fn(async () => {
      throw new UploadError('The photo could not be sent: check your connection and try again.', 'connection')
    })
    const up2 = store({ api: unanswered, post: post2, target: net2.target, online: net2.online })
    up2.addFiles('p1', [fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    void up2.retry(up2.jobs.value[0]!.id)
    await flushPromises()
    expect(up2.jobs.value[0]).toMatchObject({
      phase: 'error',
      message: 'Could not check whether your photo arrived. Check your connection and try again.',
      canRetry: true,
    })
    expect(post2).toHaveBeenCalledTimes(1)
    up2.dispose()
  })

  it('Try again offline for a photo whose send broke off waits for the connection, then looks for it first', async () => {
    const net = connection(true)
    const post = droppedPost()
    const getUpload = vi.fn<Api['getUpload']>(async () => {
      if (!net.online()) throw unreachable()
      return status('PENDING_UPLOAD')
    })
    const api = fakeApi({ createUpload: formFor('u1'), getUpload })
    const up = store({ api, post, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const job = up.jobs.value[0]!
    expect(job).toMatchObject({ phase: 'error', canRetry: true }) // not found after three checks
    net.set(false)
    void up.retry(job.id)
    await flushPromises()
    expect(job).toMatchObject({ phase: 'waiting', message: OFFLINE_MESSAGE })
    getUpload.mockResolvedValue(status('PROCESSED', { photo: makePhoto('u1') })) // it had arrived after all
    net.set(true)
    await flushPromises()
    expect([vi.mocked(api.createUpload).mock.calls.length, post.mock.calls.length]).toEqual([1, 1])
    expect(job).toMatchObject({ phase: 'added', uploadId: 'u1' })
    up.dispose()
  })

  it('a file waiting for the connection can be cancelled, and is not sent when it comes back', async () => {
    const net = connection(false)
    const createUpload = vi.fn<Api['createUpload']>().mockRejectedValueOnce(unreachable()).mockImplementation(formFor('u1'))
    const up = store({ api: fakeApi({ createUpload, getUpload: added() }), post: fakePost().post, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    up.cancel(up.jobs.value[0]!.id)
    expect(up.jobs.value[0]).toMatchObject({ phase: 'error', message: 'The upload was cancelled.', canRetry: true })
    net.set(true)
    await flushPromises()
    expect(createUpload).toHaveBeenCalledTimes(1)
    up.dispose()
  })

  it('a file picked by someone who signed out meanwhile is never sent under the name of whoever signed in', async () => {
    const net = connection(false)
    const user = ref<AuthUser | null>(ME)
    const createUpload = vi.fn<Api['createUpload']>().mockRejectedValueOnce(unreachable()).mockImplementation(formFor('u1'))
    const up = createUploads({ api: fakeApi({ createUpload, getUpload: added() }), user, post: fakePost().post, poll: noWait, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    user.value = { sub: 'bo', name: 'Bo' } // signed out and in as someone else, in another tab
    net.set(true)
    await flushPromises()
    expect(createUpload).toHaveBeenCalledTimes(1)
    expect(up.jobs.value).toEqual([]) // nor shown to him, nor read out: its file name is not his to know
    expect(up.announcements.value.map((a) => a.text).join()).not.toContain(OTHER_ACCOUNT_MESSAGE)
    user.value = ME // back as the one who picked it: Try again sends it
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'error', message: OTHER_ACCOUNT_MESSAGE, canRetry: true })
    void up.retry(up.jobs.value[0]!.id)
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added' })
    up.dispose()
  })

  it('stops listening for the connection on dispose', () => {
    const net = connection(true)
    const removed = vi.spyOn(net.target, 'removeEventListener')
    const up = store({ api: fakeApi({}), target: net.target, online: net.online })
    up.dispose()
    expect(removed.mock.calls.map(([type]) => type)).toContain('online')
  })
})

describe('an upload is never sent twice, nor under another account, and can always be cancelled', () => {
  const BO: AuthUser = { sub: 'bo', name: 'Bo' }

  /** A send that broke off, and three checks that did not find the photo: Try again is offered. */
  async function brokenOff(user = ref<AuthUser | null>(ME)) {
    const getUpload = vi.fn<Api['getUpload']>(async () => status('PENDING_UPLOAD'))
    const createUpload = vi.fn<Api['createUpload']>(formFor('u1'))
    const post = vi.fn<(opts: PostOptions) => Promise<void>>().mockRejectedValueOnce(dropped()).mockImplementation(fakePost().post)
    const up = createUploads({ api: fakeApi({ createUpload, getUpload }), user, post, poll: noWait })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'error', canRetry: true })
    return { up, getUpload, createUpload, post, job: up.jobs.value[0]! }
  }

  it('asks for no form under another account that signed in during a busy wait', async () => {
    const user = ref<AuthUser | null>(ME)
    const waits = manualSleep()
    const createUpload = vi.fn<Api['createUpload']>().mockRejectedValueOnce(new ApiError(503, 'busy')).mockImplementation(formFor('u1'))
    const up = createUploads({ api: fakeApi({ createUpload, getUpload: added() }), user, post: fakePost().post, poll: { sleep: waits.sleep } })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    user.value = BO // signed out and in as someone else (here or in another tab) during the wait
    await flushPromises()
    waits.release()
    await flushPromises()
    expect(createUpload).toHaveBeenCalledTimes(1)
    expect(up.jobs.value).toEqual([])
    user.value = ME
    expect(up.jobs.value[0]).toMatchObject({ phase: 'error', message: OTHER_ACCOUNT_MESSAGE, owner: 'me' })
    up.dispose()
  })

  it('sends nothing under another account that signed in while it looked for an earlier send', async () => {
    const user = ref<AuthUser | null>(ME)
    const { up, getUpload, createUpload, job } = await brokenOff(user)
    let answer!: (view: UploadView) => void
    getUpload.mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)))
    void up.retry(job.id)
    await flushPromises()
    user.value = BO
    answer(status('PENDING_UPLOAD'))
    await flushPromises()
    expect(createUpload).toHaveBeenCalledTimes(1)
    expect(job).toMatchObject({ message: OTHER_ACCOUNT_MESSAGE, owner: 'me' })
    up.dispose()
  })

  it("another account signed in meanwhile hears nothing of a send under way, is not warned of it, and does not stop it", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const user = ref<AuthUser | null>(ME)
    const storage = heldPost()
    const up = createUploads({ api: fakeApi({ createUpload: formFor('u1'), getUpload: added() }), user, post: storage.post, poll: noWait })
    up.addFiles('p1', [fileOf('secret.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.sending.value).toBe(true)
    await vi.advanceTimersByTimeAsync(PASSING_STEP_MS) // "Uploading… 0%" lasted: read out
    expect(up.announcements.value.map((a) => a.text).join()).toContain('secret.jpg')
    user.value = BO
    await flushPromises()
    expect(up.announcements.value).toEqual([]) // what was said of it before goes from the live region too
    storage.held[0]!.progress(60, 100)
    expect(up.announcements.value).toEqual([]) // no "secret.jpg: uploading, 60%"
    expect(up.sending.value).toBe(false) // his Sign out and his closing the tab ask nothing about it
    up.cancelSending() // his sign-out
    user.value = ME
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ fileName: 'secret.jpg', phase: 'uploading' }) // still being sent
    storage.held[0]!.finish()
    await flushPromises()
    expect(up.jobs.value[0]!.phase).toBe('added')
    up.dispose()
  })

  it('what was said of an upload, even one cleared since, goes when another account signs in, and stays gone', async () => {
    const user = ref<AuthUser | null>(ME)
    const up = createUploads({ api: fakeApi({ createUpload: formFor('u1'), getUpload: added() }), user, post: fakePost().post, poll: noWait })
    up.addFiles('p1', [fileOf('secret.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    up.clearFinished('p1')
    expect(up.announcements.value.map((a) => a.text).join()).toContain('secret.jpg: Added!')
    user.value = BO
    await flushPromises()
    expect(up.announcements.value).toEqual([])
    user.value = ME // back: not read out a second time
    await flushPromises()
    expect(up.announcements.value).toEqual([])
    up.dispose()
  })

  it("keeps a file for the next tab only under the account that picked it, not whoever pressed Try again", async () => {
    const kept = new Map<string, unknown>()
    const live = new Set<string>()
    const user = ref<AuthUser | null>(ME)
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: added() })
    const unsent = memoryUnsentFiles(kept, live)
    const up = createUploads({ api, user, unsent, post: heldPost().post, poll: noWait })
    up.addFiles('p1', [fileOf('mine.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const job = up.jobs.value[0]!
    up.cancel(job.id)
    user.value = BO // the same browser, another person: Me's uploads are not his to see, nor to send
    await flushPromises()
    expect(up.jobs.value).toEqual([])
    void up.retry(job.id)
    await flushPromises()
    expect(job.message).toBe('The upload was cancelled.')
    expect([...kept.values()].map((v) => (v as UnsentFile).owner)).not.toContain('bo')
    live.delete(unsent.tab) // the tab closes: Bo's next one offers him nothing of Me's
    const next = createUploads({ api, user: ref<AuthUser | null>(BO), unsent: memoryUnsentFiles(kept, live), post: fakePost().post, poll: noWait })
    await flushPromises()
    expect(next.jobs.value).toEqual([])
  })

  it('a 503 while it looks for an earlier send is no answer: the photo, which had arrived, is not sent again', async () => {
    const { up, getUpload, post, job } = await brokenOff()
    getUpload.mockRejectedValueOnce(new ApiError(503, 'busy')).mockResolvedValue(status('PROCESSED', { photo: makePhoto('u1') }))
    void up.retry(job.id)
    await flushPromises()
    expect(post).toHaveBeenCalledTimes(1)
    expect(job).toMatchObject({ phase: 'added', uploadId: 'u1' })
    up.dispose()
  })

  it('back online seconds after a send was cut off, a first "not there" is not believed: the event may lag', async () => {
    const net = connection(true)
    const post = vi.fn<(opts: PostOptions) => Promise<void>>().mockImplementationOnce(cutOff(net)).mockImplementation(fakePost().post)
    const getUpload = vi.fn<Api['getUpload']>().mockResolvedValueOnce(status('PENDING_UPLOAD'))
    getUpload.mockResolvedValue(status('PROCESSED', { photo: makePhoto('u1') }))
    const up = store({ api: fakeApi({ createUpload: formFor('u1'), getUpload }), post, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    net.set(true)
    await flushPromises()
    expect(post).toHaveBeenCalledTimes(1)
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added' })
    up.dispose()
  })

  it('a browser wrongly offline does not hold the queue for good: Try again tries at once, and the queue tries every 30 s', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const net = connection(false) // wrong for good: a LAN or loopback server, requests go through
    const createUpload = vi.fn<Api['createUpload']>().mockRejectedValueOnce(unreachable()).mockImplementation(formFor('u1'))
    const up = store({ api: fakeApi({ createUpload, getUpload: added() }), post: fakePost().post, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)]) // the server restarted for a moment
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'waiting', message: OFFLINE_MESSAGE })
    await vi.advanceTimersByTimeAsync(30_000)
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'added' })

    createUpload.mockRejectedValueOnce(unreachable())
    up.addFiles('p1', [fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const waiting = up.jobs.value[0]!
    up.cancel(waiting.id)
    void up.retry(waiting.id) // asked for by the person: tried now
    await flushPromises()
    expect(waiting).toMatchObject({ phase: 'added' })
    up.dispose()
    vi.useRealTimers()
  })

  it('Cancel stops the look for an earlier send: nothing is sent after it', async () => {
    const { up, getUpload, post, job } = await brokenOff()
    let answer!: (view: UploadView) => void
    getUpload.mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)))
    void up.retry(job.id)
    await flushPromises()
    up.cancelSending() // e.g. Sign out's "Sign out anyway?"
    answer(status('PENDING_UPLOAD'))
    await flushPromises()
    expect(post).toHaveBeenCalledTimes(1)
    expect(job).toMatchObject({ phase: 'error', message: 'The upload was cancelled.', canRetry: true })
    up.dispose()
  })

  it('Cancel while a form request is under way, which then fails offline: cancelled, not put back to wait', async () => {
    const net = connection(true)
    let fail!: () => void
    const createUpload = vi.fn<Api['createUpload']>().mockImplementationOnce(() => new Promise((_resolve, reject) => (fail = () => reject(unreachable()))))
    createUpload.mockImplementation(formFor('u1'))
    const { post } = fakePost()
    const up = store({ api: fakeApi({ createUpload, getUpload: added() }), post, target: net.target, online: net.online })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    up.cancelSending()
    net.set(false)
    fail()
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'error', message: 'The upload was cancelled.' })
    net.set(true)
    await flushPromises()
    expect(post).not.toHaveBeenCalled()
    up.dispose()
  })

  it('Cancel once the whole file has gone, then Try again: looks for it first, storage may have it all the same', async () => {
    const { post, held } = heldPost()
    const getUpload = added()
    const up = store({ api: fakeApi({ createUpload: formFor('u1'), getUpload }), post })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    held[0]!.progress(100, 100) // the body is out; storage's answer has not come
    const job = up.jobs.value[0]!
    up.cancel(job.id)
    await flushPromises()
    void up.retry(job.id)
    await flushPromises()
    expect(getUpload).toHaveBeenCalledWith('u1')
    expect(post).toHaveBeenCalledTimes(1)
    expect(job).toMatchObject({ phase: 'added', uploadId: 'u1' })
    up.dispose()
  })

  it('offers Cancel while it prepares the upload (a busy wait can take half a minute)', async () => {
    const waits = manualSleep()
    const createUpload = vi.fn<Api['createUpload']>().mockRejectedValueOnce(new ApiError(503, 'busy')).mockImplementation(formFor('u1'))
    const api = fakeApi({ createUpload, getUpload: vi.fn(async () => status('PROCESSING')) })
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, post: fakePost().post, poll: { sleep: waits.sleep } })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads })
    uploads.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(uploads.jobs.value[0]).toMatchObject({ phase: 'requesting', message: 'The server is busy: trying again in 2 s…' })
    await wrapper.get('button[aria-label="Cancel a.jpg"]').trigger('click')
    await flushPromises()
    expect(uploads.jobs.value[0]).toMatchObject({ phase: 'error', message: 'The upload was cancelled.', canRetry: true })
    expect(createUpload).toHaveBeenCalledTimes(1)
    wrapper.unmount()
    uploads.dispose()
  })
})

describe('uploads survive leaving the page, a reload and a new sign-in', () => {
  it('keeps an upload going while its page is gone and shows its outcome when the page is back', async () => {
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('REJECTED', { reason: 'PEOPLE_NOT_ALLOWED' })) })
    const { post, held } = heldPost()
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, post, poll: noWait })
    const first = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads })
    const input = first.wrapper.findAll('input[type="file"]')[1]!
    Object.defineProperty(input.element, 'files', { value: [fileOf('IMG_1.jpg', 'image/jpeg', 4_000_000)] })
    await input.trigger('change')
    await flushPromises()
    first.wrapper.unmount() // the person went to another page mid-upload

    held[0]!.finish()
    await flushPromises()
    const job = uploads.jobs.value[0]!
    expect(job).toMatchObject({ phase: 'rejected', seen: false })
    expect(stored().map((p) => p.uploadId)).toEqual(['u1']) // not seen yet: still remembered

    const again = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads })
    const shown = again.wrapper.get('[data-testid="upload-job"]')
    expect(shown.attributes('data-phase')).toBe('rejected')
    expect(shown.text()).toContain('Not added: the photo is not allowed here because it shows people.')
    expect(job.seen).toBe(true)
    expect(stored()).toEqual([]) // final and seen: forgotten
  })

  it('remembers a sent upload and, after a reload, follows it once its owner is signed in', async () => {
    const sentAt = Date.now() - 60_000
    localStorage.setItem(
      PENDING_UPLOADS_KEY,
      JSON.stringify([
        { uploadId: 'u7', placeId: 'p1', fileName: 'beach.jpg', size: 2_400_000, sentAt, owner: 'me' },
        { uploadId: 'old', placeId: 'p1', fileName: 'old.jpg', sentAt: Date.now() - PROCESSING_DEADLINE_MS - 1, owner: 'me' },
        { uploadId: 'theirs', placeId: 'p1', fileName: 'x.jpg', sentAt, owner: 'someone-else' },
      ]),
    )
    const photo = makePhoto('u7')
    const getUpload = vi.fn(async (id: string) => status('PROCESSED', { uploadId: id, photo }))
    const user = ref<AuthUser | null>(null)
    const up = createUploads({ api: fakeApi({ getUpload }), user, poll: noWait })
    await flushPromises()
    expect(getUpload).not.toHaveBeenCalled() // nobody signed in yet

    user.value = ME
    await flushPromises()
    expect(getUpload.mock.calls.map(([id]) => id)).toEqual(['u7'])
    expect(up.jobs.value).toHaveLength(1)
    expect(up.jobs.value[0]).toMatchObject({ fileName: 'beach.jpg', placeId: 'p1', phase: 'added', seen: false, size: 2_400_000 })
    // The stale entry is dropped; someone else's stays for them.
    expect(stored().map((p) => p.uploadId).sort()).toEqual(['theirs', 'u7'])
    up.show('p1')
    expect(stored().map((p) => p.uploadId)).toEqual(['theirs'])
  })

  it('a 401 while polling pauses the upload (still remembered) and it goes on after sign-in', async () => {
    const user = ref<AuthUser | null>(ME)
    const answers: Array<UploadView | ApiError> = [
      new ApiError(401, 'Please sign in again: your sign-in is missing or has expired.'),
      status('PROCESSED', { photo: makePhoto('u1') }),
    ]
    const getUpload = vi.fn(async () => {
      const next = answers.shift()!
      if (next instanceof ApiError) throw next
      return next
    })
    const up = createUploads({ api: fakeApi({ createUpload: formFor('u1'), getUpload }), user, post: fakePost().post, poll: noWait })
    up.show('p1')
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'paused', message: PAUSED_MESSAGE })
    expect(stored()).toMatchObject([{ uploadId: 'u1', placeId: 'p1', fileName: 'a.jpg', size: 1000, owner: 'me' }])

    user.value = null
    await flushPromises()
    user.value = { sub: 'you', name: 'You' } // someone else on this phone: not theirs to follow, nor to see
    await flushPromises()
    expect(up.jobs.value).toEqual([])
    expect(getUpload).toHaveBeenCalledTimes(1)
    user.value = { ...ME }
    await flushPromises()
    expect(up.jobs.value[0]!.phase).toBe('added')
    expect(stored()).toEqual([])
    // Signing in again later does not ask about an upload that has its outcome.
    user.value = null
    await flushPromises()
    user.value = { ...ME }
    await flushPromises()
    expect(getUpload).toHaveBeenCalledTimes(2)
  })

  it('follows remembered uploads at once when the store starts with their owner signed in', async () => {
    localStorage.setItem(
      PENDING_UPLOADS_KEY,
      JSON.stringify([{ uploadId: 'u7', placeId: 'p1', fileName: 'beach.jpg', sentAt: Date.now() - 60_000, owner: 'me' }]),
    )
    const getUpload = vi.fn(async () => status('PROCESSING'))
    const up = store({ api: fakeApi({ getUpload }), poll: { sleep: () => new Promise(() => {}) } })
    await flushPromises()
    expect(getUpload).toHaveBeenCalledWith('u7')
    expect(up.jobs.value[0]).toMatchObject({ fileName: 'beach.jpg', phase: 'processing', message: 'Sent. Checking your photo…' })
  })
})

describe('photos not sent yet outlive a closed tab', () => {
  /** Two tabs (or a tab and the one opened after it) over one IndexedDB; `live` holds the open tabs. */
  function browser() {
    const kept = new Map<string, unknown>()
    const live = new Set<string>()
    const tab = (over: Partial<UploadsDeps> & { api: UploadsDeps['api'] }) => {
      const unsent = memoryUnsentFiles(kept, live)
      return { up: store({ unsent, ...over }), close: () => live.delete(unsent.tab) } // its Web Lock goes with it
    }
    const files = () => [...kept.values()].map((v) => (v as UnsentFile).file.name).sort()
    return { kept, tab, files }
  }

  it('keeps every picked file until it reaches storage, and lets go of those that cannot be sent', async () => {
    const { tab, files } = browser()
    const { post, held } = heldPost()
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })) })
    const { up } = tab({ api, post })
    up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000), fileOf('c.gif', 'image/gif', 10)])
    await flushPromises()
    expect(files()).toEqual(['a.jpg', 'b.jpg']) // the GIF was refused at once: nothing to send later

    held[0]!.finish() // a.jpg reached storage
    await flushPromises()
    expect(files()).toEqual(['b.jpg'])

    vi.mocked(api.createUpload).mockRejectedValueOnce(new ApiError(409, 'This place takes no photos.'))
    held[1]!.finish()
    await flushPromises()
    expect(files()).toEqual([]) // b.jpg is in storage too
    up.addFiles('p1', [fileOf('d.jpg', 'image/jpeg', 1000)]) // refused by the API for good: let go
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ fileName: 'd.jpg', phase: 'error', canRetry: false })
    expect(files()).toEqual([])
  })

  it('offers the files of a closed tab to the same person, in one tab only, with Try again that sends them', async () => {
    const { tab, files } = browser()
    // u1: a.jpg's first form, its photo never arrived; u2: the form Try again asks for.
    const getUpload = vi.fn(async (id: string) => (id === 'u1' ? status('PENDING_UPLOAD') : status('PROCESSED', { photo: makePhoto(id) })))
    const createUpload = vi.fn<Api['createUpload']>().mockImplementationOnce(formFor('u1')).mockImplementation(formFor('u2'))
    const api = fakeApi({ createUpload, getUpload })
    const first = tab({ api, post: heldPost().post })
    first.up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(files()).toEqual(['a.jpg', 'b.jpg'])

    // Another tab open meanwhile leaves them alone: the first is still sending them.
    const other = tab({ api })
    await flushPromises()
    expect(other.up.jobs.value).toEqual([])

    first.close() // the phone discarded it: a.jpg was being sent, b.jpg waited
    const { post, calls } = fakePost()
    const next = tab({ api, post })
    await flushPromises()
    expect(next.up.jobs.value.map((j) => [j.fileName, j.phase, j.message, j.canRetry])).toEqual([
      ['a.jpg', 'error', UNSENT_MESSAGE, true],
      ['b.jpg', 'error', UNSENT_MESSAGE, true],
    ])
    expect(next.up.jobs.value[0]!.seen).toBe(false) // "1 upload result to see" on other pages
    expect(getUpload).toHaveBeenCalledWith('u1') // asked whether a.jpg had arrived after all

    // The tab that offered them took them over: a third tab opened now offers them again to nobody.
    const third = tab({ api })
    await flushPromises()
    expect(third.up.jobs.value).toEqual([])

    void next.up.retry(next.up.jobs.value[0]!.id)
    await flushPromises()
    expect(calls.map((c) => (c.file as File).name)).toEqual(['a.jpg'])
    expect(next.up.jobs.value[0]).toMatchObject({ fileName: 'a.jpg', phase: 'added', uploadId: 'u2' })
    expect(files()).toEqual(['b.jpg'])

    next.up.clearFinished('p1') // a tidy-up clears a.jpg, added, but never loses b.jpg, which was not sent
    await flushPromises()
    expect(next.up.jobs.value.map((j) => j.fileName)).toEqual(['b.jpg'])
    expect(files()).toEqual(['b.jpg'])
    next.up.discard(next.up.jobs.value[0]!.id) // b.jpg not wanted after all
    await flushPromises()
    expect(next.up.jobs.value).toEqual([])
    expect(files()).toEqual([])
  })

  it('sends every offered file with one "Try again for all", in the order they were picked', async () => {
    const { tab } = browser()
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })) })
    const clock = testClock()
    const first = tab({ api, post: heldPost().post, poll: { ...noWait, now: clock.now } })
    first.up.addFiles('p1', ['a.jpg', 'b.jpg', 'c.jpg'].map((name) => fileOf(name, 'image/jpeg', 1000)))
    await flushPromises()
    first.close()
    clock.pass(60_000) // the next tab, a minute later
    vi.mocked(api.getUpload).mockResolvedValueOnce(status('PENDING_UPLOAD')) // a.jpg's form: its photo never came
    const { post, calls } = fakePost()
    const next = tab({ api, post, poll: { ...noWait, now: clock.now } })
    const auth = fakeAuth(ME)
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads: next.up, attachTo: document.body })
    await flushPromises()
    const all = wrapper.findAll('button').find((b) => b.text() === 'Try again for all 3')!
    ;(all.element as HTMLElement).focus()
    vi.mocked(api.getUpload).mockResolvedValueOnce(status('PENDING_UPLOAD')) // asked again before a.jpg is sent
    await all.trigger('click')
    await flushPromises()
    expect(calls.map((c) => (c.file as File).name)).toEqual(['a.jpg', 'b.jpg', 'c.jpg'])
    expect(next.up.jobs.value.map((j) => j.phase)).toEqual(['added', 'added', 'added'])
    expect(wrapper.findAll('button').some((b) => b.text().startsWith('Try again'))).toBe(false)
    expect(document.activeElement?.id).toBe('upload-title') // not lost with the button
    wrapper.unmount()
  })

  it('follows a photo that reached storage as its tab closed, instead of offering to send it again', async () => {
    const { tab, files } = browser()
    const getUpload = vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') }))
    const api = fakeApi({ createUpload: formFor('u1'), getUpload })
    const first = tab({ api, post: heldPost().post })
    first.up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    first.close() // the send ended in storage, but the tab was gone before it heard so

    const { post } = fakePost()
    const next = tab({ api, post })
    await flushPromises()
    expect(next.up.jobs.value.map((j) => [j.fileName, j.phase, j.uploadId])).toEqual([['a.jpg', 'added', 'u1']])
    expect(post).not.toHaveBeenCalled()
    expect(files()).toEqual([])
  })

  it('offers no file the person cancelled, in the next tab: Try again stays in this one', async () => {
    const { tab, files } = browser()
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PENDING_UPLOAD')) })
    const first = tab({ api, post: heldPost().post })
    first.up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    for (const job of [...first.up.jobs.value]) first.up.cancel(job.id)
    await flushPromises()
    expect(first.up.jobs.value.map((j) => [j.fileName, j.phase, j.canRetry])).toEqual([
      ['a.jpg', 'error', true],
      ['b.jpg', 'error', true],
    ])
    expect(files()).toEqual([])
    first.close()
    const next = tab({ api })
    await flushPromises()
    expect(next.up.jobs.value).toEqual([])
  })

  it('uploads on a plain-http page, where the browser gives no crypto.randomUUID or Web Locks', async () => {
    vi.stubGlobal('crypto', { ...globalThis.crypto, randomUUID: undefined })
    try {
      const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })) })
      const up = store({ api, post: fakePost().post }) // the browser's own store: nothing kept without Web Locks
      up.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
      await flushPromises()
      expect(up.jobs.value[0]).toMatchObject({ phase: 'added' })
      const { tab, files } = browser() // and with them, keys are made without randomUUID
      const { up: kept } = tab({ api, post: heldPost().post })
      kept.addFiles('p1', [fileOf('b.jpg', 'image/jpeg', 1000)])
      await flushPromises()
      expect(files()).toEqual(['b.jpg'])
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it("offers nobody else's files, and none picked over a week ago (those are deleted)", async () => {
    const { kept, tab, files } = browser()
    const api = fakeApi({ createUpload: formFor('u1') })
    const file = fileOf('theirs.jpg', 'image/jpeg', 1000)
    const old = fileOf('old.jpg', 'image/jpeg', 1000)
    const now = Date.now()
    kept.set('k1', { key: 'k1', placeId: 'p1', owner: 'someone-else', file, pickedAt: now, order: 1, tab: 'gone' })
    kept.set('k2', { key: 'k2', placeId: 'p1', owner: ME.sub, file: old, pickedAt: now - KEPT_FOR_MS - 1, order: 2, tab: 'gone' })
    kept.set('k3', { key: 'k3', placeId: 'p1', owner: ME.sub, file: 'not a file', pickedAt: now, order: 1, tab: 'gone' })
    const { up } = tab({ api, poll: { ...noWait, now: () => now } })
    await flushPromises()
    expect(up.jobs.value).toEqual([])
    expect(files()).toEqual(['theirs.jpg'])
  })
})

describe('UploadPanel', () => {
  it('offers camera and gallery inputs with the accepted types', () => {
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, auth: fakeAuth(ME) })
    const camera = wrapper.get('label:has(input[capture])')
    expect(camera.text()).toBe('Take a photo')
    const inputs = wrapper.findAll('input[type="file"]')
    expect(inputs).toHaveLength(2)
    for (const input of inputs) {
      expect(input.attributes('accept')).toBe('image/jpeg,image/png,image/heic,image/heif,.heic,.heif')
    }
    expect(inputs[0]!.attributes('capture')).toBe('environment')
    expect(inputs[1]!.attributes('capture')).toBeUndefined()
    expect(inputs[1]!.attributes('multiple')).toBeDefined()
  })

  it('opens the picker on Enter too, not only on Space', async () => {
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, auth: fakeAuth(ME) })
    for (const input of wrapper.findAll('input[type="file"]')) {
      const click = vi.spyOn(input.element as HTMLInputElement, 'click').mockImplementation(() => {})
      const enter = new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true })
      input.element.dispatchEvent(enter)
      expect(click).toHaveBeenCalledTimes(1)
      // Not twice where the browser would open it on Enter itself.
      expect(enter.defaultPrevented).toBe(true)
    }
  })

  it('keeps the focus on the upload when its focused button goes: Cancel to Try again, Try again to Cancel, to the upload', async () => {
    const { post, held } = heldPost()
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })) })
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, post, poll: noWait })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads, attachTo: document.body })
    uploads.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const focused = () => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName

    ;(wrapper.get('button[aria-label="Cancel a.jpg"]').element as HTMLElement).focus()
    await wrapper.get('button[aria-label="Cancel a.jpg"]').trigger('click')
    await flushPromises()
    expect(focused()).toBe('Try again: a.jpg')

    await wrapper.get('button[aria-label="Try again: a.jpg"]').trigger('click')
    await flushPromises()
    expect(focused()).toBe('Cancel a.jpg')

    held[1]!.finish() // sent and added: no button left, the upload itself has the focus
    await flushPromises()
    expect(document.activeElement).toBe(wrapper.get('[data-testid="upload-job"]').element)

    // Focus put elsewhere stays there when an upload changes.
    ;(wrapper.get('input[type="file"]').element as HTMLElement).focus()
    uploads.addFiles('p1', [fileOf('b.jpg', 'image/jpeg', 1000), fileOf('c.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(document.activeElement).toBe(wrapper.get('input[type="file"]').element)

    // An upload the person clicked keeps the focus when another changes: it is not moved onto its Cancel.
    const waiting = wrapper.findAll('[data-testid="upload-job"]').find((j) => j.text().includes('c.jpg'))!
    ;(waiting.element as HTMLElement).focus()
    held[2]!.finish() // b.jpg sent
    await flushPromises()
    expect(document.activeElement).toBe(waiting.element)
    wrapper.unmount()
    uploads.dispose()
  })

  it('shows a real progress bar with Cancel, announces status and emits the new photo', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const photo = makePhoto('u1')
    const { post, held } = heldPost()
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PROCESSED', { photo })) })
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, post, poll: noWait })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads })
    const input = wrapper.findAll('input[type="file"]')[1]!
    Object.defineProperty(input.element, 'files', { value: [fileOf('IMG_1.jpg', 'image/jpeg', 4_000_000)] })
    await input.trigger('change')
    await flushPromises()

    await vi.advanceTimersByTimeAsync(PASSING_STEP_MS) // a send that lasts: its quarters are read out
    held[0]!.progress(1_000_000, 4_000_000)
    await flushPromises()
    const bar = wrapper.get('progress')
    expect(bar.attributes('max')).toBe('100')
    expect((bar.element as HTMLProgressElement).value).toBe(25)
    expect(bar.attributes('aria-label')).toBe('Sending IMG_1.jpg')
    expect(wrapper.get('button[aria-label="Cancel IMG_1.jpg"]').text()).toBe('Cancel')
    const live = wrapper.get('[data-testid="upload-announcer"]')
    expect(live.attributes('aria-live')).toBe('polite')
    const latest = () => live.findAll('p').at(-1)?.text()
    expect(latest()).toBe('IMG_1.jpg: uploading, 25%')

    held[0]!.finish()
    await flushPromises()
    expect(latest()).toBe('IMG_1.jpg: Added! Your photo is now on this page.')
    expect(wrapper.get('[data-testid="upload-job"]').attributes('data-phase')).toBe('added')
    expect(wrapper.emitted('added')).toEqual([[photo]])
  })

  it('while it looks for a photo whose send broke off, shows it is checking (no stuck bar at 0%), with Cancel', async () => {
    let answer: (view: UploadView) => void = () => {}
    const getUpload = vi.fn<Api['getUpload']>(() => new Promise((resolve) => (answer = resolve)))
    const api = fakeApi({ createUpload: formFor('u1'), getUpload })
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, post: droppedPost(), poll: noWait })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads })
    uploads.addFiles('p1', [fileOf('IMG_2.jpg', 'image/jpeg', 4_000_000)])
    await flushPromises()
    expect(getUpload).toHaveBeenCalledTimes(1) // the first check is waiting for its answer
    const bar = wrapper.get('progress')
    expect([bar.attributes('aria-label'), bar.attributes('value')]).toEqual(['Checking IMG_2.jpg', undefined])
    expect(wrapper.get('.job-message').text()).toBe('The connection dropped. Checking whether your photo arrived…')
    expect(wrapper.find('button[aria-label="Cancel IMG_2.jpg"]').exists()).toBe(true)
    getUpload.mockResolvedValue(status('PROCESSED', { photo: makePhoto('u1') })) // followed from here on
    answer(status('PROCESSED', { photo: makePhoto('u1') }))
    await flushPromises()
    expect(uploads.jobs.value[0]).toMatchObject({ phase: 'added', checking: false })
    uploads.dispose()
  })

  it('announces outcomes that come at once each on its own line, so that none replaces another unheard', async () => {
    let clock = 1_000_000
    const api = fakeApi()
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, poll: { ...noWait, now: () => clock } })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads })
    const live = wrapper.get('[data-testid="upload-announcer"]')
    const lines = () => live.findAll('p').map((p) => p.text())
    // The region reads out the lines added, not all of them again at each change.
    expect(live.attributes('aria-atomic')).not.toBe('true')

    uploads.addFiles('p1', [fileOf('notes.txt', 'text/plain', 5), fileOf('huge.jpg', 'image/jpeg', 25 * 1024 * 1024)])
    uploads.addFiles('p2', [fileOf('elsewhere.gif', 'image/gif', 5)])
    await flushPromises()
    expect(lines()).toEqual([
      'notes.txt: "notes.txt" is not a photo this app accepts. Choose a JPEG, PNG or HEIC photo.',
      'huge.jpg: "huge.jpg" is too large (25 MB). The limit is 20 MB.',
    ])

    // A moment later the next one joins them; once they have long been heard, the old lines go.
    clock += 1000
    uploads.addFiles('p1', [fileOf('clip.mov', 'video/quicktime', 10)])
    await flushPromises()
    expect(lines()).toHaveLength(3)
    clock += ANNOUNCEMENT_KEPT_MS
    uploads.addFiles('p1', [fileOf('anim.gif', 'image/gif', 10)])
    await flushPromises()
    expect(lines()).toEqual(['anim.gif: "anim.gif" is not a photo this app accepts. Choose a JPEG, PNG or HEIC photo.'])
  })

  it('"Clear finished uploads" leaves focus on the upload heading, not at the top of the page', async () => {
    const api = fakeApi()
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, poll: noWait })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads, attachTo: document.body })
    uploads.addFiles('p1', [fileOf('notes.txt', 'text/plain', 5)])
    await flushPromises()
    const clear = wrapper.findAll('button').find((b) => b.text() === 'Clear finished uploads')!
    ;(clear.element as HTMLElement).focus()
    await clear.trigger('click')
    await flushPromises()
    expect(wrapper.findAll('[data-testid="upload-job"]')).toHaveLength(0)
    expect(document.activeElement).toBe(wrapper.get('h2').element)
    expect(document.activeElement!.textContent).toBe('Add photos')
    wrapper.unmount()
  })

  it('a photo not sent is never cleared as finished: Remove drops it, and the focus goes on to the next', async () => {
    const api = fakeApi({ createUpload: formFor('u1') })
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, post: heldPost().post, poll: noWait })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads, attachTo: document.body })
    uploads.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    uploads.cancelSending() // both stopped: each can be tried again
    await flushPromises()
    const texts = () => wrapper.findAll('button').map((b) => b.text())
    expect(texts()).not.toContain('Clear finished uploads')
    const remove = (name: string) => wrapper.get(`button[aria-label="Remove ${name}"]`)
    await remove('a.jpg').trigger('click')
    await flushPromises()
    expect(uploads.jobs.value.map((j) => j.fileName)).toEqual(['b.jpg'])
    expect(document.activeElement).toBe(wrapper.get('[data-testid="upload-job"]').element)
    await remove('b.jpg').trigger('click')
    await flushPromises()
    expect(uploads.jobs.value).toEqual([])
    expect(document.activeElement!.textContent).toBe('Add photos')
    wrapper.unmount()
  })

  it("lists only this place's uploads, and adds to its page only this place's new photos", async () => {
    const api = fakeApi({
      createUpload: formFor('u1'),
      getUpload: vi.fn(async () => status('PROCESSED', { placeId: 'p2', photo: makePhoto('u1', 'p2') })),
    })
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, post: fakePost().post, poll: noWait })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads })
    uploads.addFiles('p2', [fileOf('elsewhere.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(uploads.jobs.value[0]).toMatchObject({ placeId: 'p2', phase: 'added' })
    expect(wrapper.findAll('[data-testid="upload-job"]')).toHaveLength(0)
    expect(wrapper.emitted('added')).toBeUndefined()
  })

  it('marks an outcome as good or bad news, and a running upload as neither', async () => {
    const getUpload = vi
      .fn<Api['getUpload']>()
      .mockResolvedValueOnce(status('PROCESSED', { photo: makePhoto('u1') }))
      .mockResolvedValueOnce(status('REJECTED', { reason: 'PEOPLE_NOT_ALLOWED' }))
    const api = fakeApi({ createUpload: formFor('u1'), getUpload })
    const auth = fakeAuth(ME)
    const { post, held } = heldPost()
    const uploads = createUploads({ api, user: auth.user, post, poll: noWait })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads })
    uploads.addFiles('p1', [fileOf('notes.txt', 'text/plain', 5), fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    const look = () =>
      wrapper.findAll('[data-testid="upload-job"]').map((job) => {
        const message = job.get('.job-message')
        const news = message.classes('message-ok') ? 'good' : message.classes('message-error') ? 'bad' : 'none'
        return `${job.get('.file').text()} ${job.attributes('data-phase')} ${news}`
      })
    expect(look()).toEqual(['notes.txt error bad', 'a.jpg uploading none', 'b.jpg waiting none'])
    held[0]!.finish()
    await flushPromises()
    held[1]!.finish()
    await flushPromises()
    expect(look()).toEqual(['notes.txt error bad', 'a.jpg added good', 'b.jpg rejected bad'])
  })

  it('offers Try again after a failed send, and it sends the file again', async () => {
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })) })
    const post = vi
      .fn<(opts: PostOptions) => Promise<void>>()
      .mockRejectedValueOnce(new UploadError('Storage had a problem (HTTP 503). Please try again.'))
      .mockResolvedValue(undefined)
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, post, poll: noWait })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' }, api, auth, uploads })
    uploads.addFiles('p1', [fileOf('IMG_2.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(wrapper.get('[data-testid="upload-job"]').attributes('data-phase')).toBe('error')
    await wrapper.get('button[aria-label="Try again: IMG_2.jpg"]').trigger('click')
    await flushPromises()
    expect(post).toHaveBeenCalledTimes(2)
    expect(wrapper.get('[data-testid="upload-job"]').attributes('data-phase')).toBe('added')
    expect(wrapper.find('button[aria-label="Try again: IMG_2.jpg"]').exists()).toBe(false)
  })
})

describe('elsewhere in the app', () => {
  it('the header asks before signing out while a photo is being sent, and stops it if confirmed', async () => {
    const api = fakeApi({ createUpload: formFor('u1') })
    const auth = fakeAuth(ME)
    const uploads = createUploads({ api, user: auth.user, post: heldPost().post, poll: noWait })
    const { wrapper } = mountWith(AppHeader, { api, auth, uploads })
    uploads.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()

    const confirm = vi.fn(() => false)
    vi.stubGlobal('confirm', confirm)
    await wrapper.get('button').trigger('click')
    expect(confirm).toHaveBeenCalledWith(expect.stringContaining('A photo is still being sent'))
    expect(auth.signOut).not.toHaveBeenCalled()
    expect(uploads.jobs.value[0]!.phase).toBe('uploading')

    confirm.mockReturnValue(true)
    await wrapper.get('button').trigger('click')
    await flushPromises()
    expect(auth.signOut).toHaveBeenCalled()
    expect(uploads.jobs.value[0]!.phase).toBe('error')
    expect(uploads.sending.value).toBe(false)
    vi.unstubAllGlobals()
  })

  it('the header shows it is busy while sign-in starts, and reports a sign-in that cannot start', async () => {
    notices.splice(0)
    const auth = fakeAuth(null)
    let fail: (err: unknown) => void = () => {}
    vi.mocked(auth.signIn).mockImplementation(() => new Promise((_resolve, reject) => (fail = reject)))
    const { wrapper } = mountWith(AppHeader, { auth })
    await wrapper.get('button').trigger('click')
    await flushPromises()
    expect(auth.signIn).toHaveBeenCalledOnce()
    expect(wrapper.get('button').attributes('disabled')).toBeDefined()
    fail(new ApiError(0, 'Could not reach the server.'))
    await flushPromises()
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['error', 'Sign-in could not start. Could not reach the server.']])
    expect(wrapper.get('button').attributes('disabled')).toBeUndefined()
    notices.splice(0)
  })

  it('the header shows it is busy while signing out, then confirms it, or reports why it failed', async () => {
    notices.splice(0)
    const auth = fakeAuth(ME)
    let done: () => void = () => {}
    vi.mocked(auth.signOut).mockImplementationOnce(() => new Promise<void>((resolve) => (done = resolve)))
    const { wrapper } = mountWith(AppHeader, { auth })
    await wrapper.get('button').trigger('click')
    await flushPromises()
    expect(wrapper.get('button').attributes('disabled')).toBeDefined()
    done()
    await flushPromises()
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['info', 'You are signed out.']])
    expect(wrapper.get('button').attributes('disabled')).toBeUndefined()

    notices.splice(0)
    vi.mocked(auth.signOut).mockRejectedValueOnce(new ApiError(0, 'Could not reach the server.'))
    await wrapper.get('button').trigger('click')
    await flushPromises()
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['error', 'Could not reach the server.']])
    expect(wrapper.get('button').attributes('disabled')).toBeUndefined()
    notices.splice(0)
  })

  it('signs out without asking when nothing is being sent, to come back to the same page', async () => {
    const auth = fakeAuth(ME)
    const confirm = vi.fn(() => true)
    vi.stubGlobal('confirm', confirm)
    const router = testRouter()
    await router.push('/places/p1')
    const { wrapper } = mountWith(AppHeader, { auth, router })
    await wrapper.get('button').trigger('click')
    expect(confirm).not.toHaveBeenCalled()
    expect(auth.signOut).toHaveBeenCalledWith('/places/p1')
    vi.unstubAllGlobals()
  })

  it('signs in to come back to the page being opened, even before its code has loaded', async () => {
    const auth = fakeAuth(null)
    let loaded: () => void = () => {}
    const slowPage = () => new Promise<typeof Stub>((resolve) => (loaded = () => resolve(Stub)))
    const history = createMemoryHistory()
    history.replace('/places/p1') // the address the app was opened at: its first navigation loads the page
    const router = createRouter({
      history,
      routes: [
        { path: '/', component: Stub },
        { path: '/places/:placeId', component: slowPage },
      ],
    })
    const { wrapper } = mountWith(AppHeader, { auth, router })
    await flushPromises()
    await wrapper.get('button').trigger('click')
    expect(auth.signIn).not.toHaveBeenCalled()
    loaded()
    await flushPromises()
    expect(auth.signIn).toHaveBeenCalledWith('/places/p1')
  })

  /** The upload indicator on the start page, for uploads whose sends the test finishes (each then PROCESSED). */
  async function indicatorOnStartPage() {
    const api = fakeApi({ createUpload: formFor('u1'), getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })) })
    const auth = fakeAuth(ME)
    const { post, held } = heldPost()
    const uploads = createUploads({ api, user: auth.user, post, poll: noWait })
    const router = testRouter()
    await router.push('/')
    const { wrapper } = mountWith(UploadIndicator, { api, auth, uploads, router })
    return { wrapper, uploads, held, router }
  }

  it('shows a small indicator with a way back on other pages, not on the upload’s own page', async () => {
    const { wrapper, uploads, held, router } = await indicatorOnStartPage()
    uploads.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(wrapper.text()).toContain('1 photo upload in progress.')
    expect(wrapper.get('a').attributes('href')).toBe('/places/p1')

    held[0]!.finish()
    await flushPromises()
    expect(wrapper.text()).toContain('1 upload result to see.')
    await router.push('/places/p1')
    await flushPromises()
    expect(wrapper.text()).toBe('')
  })

  it('counts the uploads running and the outcomes not seen yet, each in its own words', async () => {
    const { wrapper, uploads, held } = await indicatorOnStartPage()
    const line = () => (wrapper.find('.indicator span').exists() ? wrapper.get('.indicator span').text() : null)
    uploads.addFiles('p1', [fileOf('a.jpg', 'image/jpeg', 1000), fileOf('b.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(line()).toBe('2 photo uploads in progress.')
    held[0]!.finish()
    await flushPromises()
    expect(line()).toBe('1 photo upload in progress. 1 upload result to see.')
    held[1]!.finish()
    await flushPromises()
    expect(line()).toBe('2 upload results to see.')
    // Seen on the place's page: nothing left to point to.
    uploads.show('p1')()
    await flushPromises()
    expect(line()).toBeNull()
  })
})
