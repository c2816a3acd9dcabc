/**
 * The app's uploads, for every place, in one store that lives as long as the app (main.ts creates it):
 * leaving a place's page, or signing out, never hides an upload or its outcome.
 *
 * Per file: check -> ask the API for an upload form -> POST the file to storage (real progress, one file
 * at a time) -> poll until the workflow has decided (several at once). Uploads that reached storage are
 * remembered in localStorage until their outcome has been seen, so a reload or a new sign-in resumes them.
 * Files not yet in storage are kept in IndexedDB until they are: a closed or discarded tab offers them again.
 */
import { computed, effectScope, inject, reactive, ref, watch, type InjectionKey, type Ref } from 'vue'
import { ApiError, type Api, type Photo, type UploadContentType, type UploadView } from '../lib/api'
import { describeError } from '../lib/notices'
import { forgetPending, readPending, rememberPending } from '../lib/pendingUploads'
import { browserStorage } from '../lib/storage'
import { newKey } from '../lib/ids'
import { browserUnsentFiles, type UnsentFile, type UnsentFiles } from '../lib/unsentFiles'
import { outcomeMessage } from '../lib/reasons'
import {
  CANCELLED_MESSAGE,
  SLOW_MESSAGE,
  STOPPED_LOOKING_MESSAGE,
  UploadError,
  checkFile,
  pollUpload,
  postToStorage,
  type PollOptions,
} from '../lib/upload'
import type { AuthUser } from './useAuth'

export type UploadPhase =
  | 'waiting'
  | 'requesting'
  | 'uploading'
  | 'processing'
  /** Sent, but the session expired while waiting for the outcome: resumes after sign-in. */
  | 'paused'
  | 'added'
  | 'rejected'
  | 'error'

export interface UploadJob {
  id: number
  placeId: string
  fileName: string
  /** Unknown for an upload resumed from a previous visit. */
  size: number | null
  phase: UploadPhase
  /** 0..1 while sending the file. */
  progress: number
  /** A send broke off, and the API is asked whether the file reached storage all the same (no progress to show). */
  checking: boolean
  message: string
  photo: Photo | null
  uploadId: string | null
  /** The `sub` of the user who sent it. */
  owner: string | null
  /** When the file reached storage (epoch ms): the backend's deadline counts from it. */
  sentAt: number | null
  /** False for an outcome that arrived while its place's page was not shown. */
  seen: boolean
  /** The file is still in memory and another attempt may work: "Try again" is offered. */
  canRetry: boolean
}

export interface UploadsDeps {
  api: Pick<Api, 'createUpload' | 'getUpload'>
  /** The signed-in user (useAuth().user): uploads are resumed when someone signs in. */
  user: Ref<AuthUser | null>
  storage?: Storage
  /** Where files not yet in storage are kept (IndexedDB in the app). */
  unsent?: UnsentFiles
  /** Where the "photo still being sent" warning (beforeunload) and the back-online listener are installed. */
  target?: Pick<Window, 'addEventListener' | 'removeEventListener'>
  /** Whether the browser has a connection (navigator.onLine): files wait for one instead of failing. */
  online?: () => boolean
  /** Overridable for tests: storage POST and polling (its `sleep` and `now` are used throughout). */
  post?: typeof postToStorage
  poll?: PollOptions
}

export const FINISHED: ReadonlySet<UploadPhase> = new Set(['added', 'rejected', 'error'])
export const ACTIVE: ReadonlySet<UploadPhase> = new Set(['waiting', 'requesting', 'uploading', 'processing', 'paused'])

/** Finished, and cleared by "Clear finished uploads": added or refused, not a photo Try again can still send. */
export function clearable(job: UploadJob): boolean {
  return FINISHED.has(job.phase) && !job.canRetry
}

/** Finished, and Try again can still send it: only the person's Remove drops it. */
export function removable(job: UploadJob): boolean {
  return FINISHED.has(job.phase) && job.canRetry
}

/**
 * Outcomes where sending the same photo again may well work: any FAILED one (its reason is the name of the
 * error that survived the workflow's retries, or the sweeper's code), an EXPIRED one, and a photo REJECTED
 * because another one was sent with its form meanwhile. Other refusals would only come back.
 */
function worthSendingAgain(view: UploadView): boolean {
  return view.status === 'FAILED' || view.status === 'EXPIRED' || view.reason === 'REPLACED'
}

/**
 * Whether another attempt may get past this error. The API's refusals of the upload request itself (the
 * place takes no photos, or no longer exists) would come back the same: Try again would only repeat them.
 * A 401 is worth it after signing in again, a 408 or 429 after a moment; network, storage and 5xx errors too.
 */
function worthRetrying(err: unknown): boolean {
  if (!(err instanceof ApiError) || err.status < 400 || err.status >= 500) return true
  return err.status === 401 || err.status === 408 || err.status === 429
}
/**
 * After a lost connection, the upload's event needs a moment before the API can tell the photo arrived:
 * asked three times over ~14 s, so that "Try again" does not add a photo that did arrive a second time.
 */
const RECHECK_DELAYS_MS = [2_000, 4_000, 8_000]
/**
 * A busy answer to the form request (503, the API's throttle's 429, no answer) is asked again: a batch of
 * photos meets the limits one after the other, and each would otherwise fail at once. A daily quota's 429 says
 * to wait until midnight (UTC): longer than this, so it is not waited for.
 */
const FORM_ATTEMPTS = 3
const BUSY_WAIT_MAX_S = 30
/** How long after a send broke off storage's answer "not there" is believed: the upload's event needs a moment. */
const SETTLE_MS = RECHECK_DELAYS_MS.reduce((total, delay) => total + delay, 0)
/** While the queue waits for a connection, how often it tries anyway (`navigator.onLine` can be wrong). */
const HELD_RETRY_MS = 30_000

/** The person signed in now is not the one who picked the file: it is not sent under their name. */
class OtherAccountError extends Error {}

/** A send that broke off without an answer (the connection went, or nothing got through): storage may have it. */
function brokeOff(err: unknown): boolean {
  return err instanceof UploadError && (err.kind === 'connection' || err.kind === 'stalled')
}

/** Rejects with a cancelled UploadError saying `message` once `signal` aborts: raced against a wait, it stops it. */
function cancelledBy(signal: AbortSignal, message: string): Promise<never> {
  const cancelled = new Promise<never>((_resolve, reject) => {
    const stop = () => reject(new UploadError(message, 'cancelled'))
    if (signal.aborted) stop()
    else signal.addEventListener('abort', stop, { once: true })
  })
  cancelled.catch(() => {}) // only ever awaited through a race
  return cancelled
}

/**
 * Seconds to wait before asking for a form again after `err`, or null when asking again cannot help now. A 409
 * with Retry-After is the same request, sent before, still being answered (its Idempotency-Key).
 */
export function busyWaitS(err: unknown, attempt: number): number | null {
  if (!(err instanceof ApiError) || (![0, 429, 503].includes(err.status) && !err.stillAnswering)) return null
  const wait = err.retryAfterS ?? 2 ** attempt
  return wait <= BUSY_WAIT_MAX_S ? wait : null
}

function busyReason(err: unknown): string {
  if (err instanceof ApiError && err.status === 0) return 'No answer from the server'
  if (err instanceof ApiError && err.stillAnswering) return 'The upload is still being prepared'
  return 'The server is busy'
}

export const PAUSED_MESSAGE = 'Sent. Sign in again to see whether your photo was added.'
export const OFFLINE_MESSAGE = 'No connection: waiting for it to come back to send this photo.'
/** Seen by who picked the file once they are signed in again: until then it is not shown (see `jobs`). */
export const OTHER_ACCOUNT_MESSAGE = 'Not sent: another account signed in meanwhile. Try again to send it.'
const UNCHECKED_MESSAGE = 'Could not check whether your photo arrived. Check your connection and try again.'
export const UNSENT_MESSAGE = 'Not sent: the page was left (closed, reloaded or signed in again) before it was. Try again to send it.'

/** A status sentence for screen readers: its own line in the place's live region. */
export interface Announcement {
  id: number
  /** The upload it is about. */
  jobId: number
  /** The `sub` of who picked it, when known as it was said (a file picked signed out gets one when it is sent). */
  owner: string | null
  placeId: string
  text: string
  /** When it was said (epoch ms). */
  at: number
}

/**
 * How long a sentence stays in the live region. Uploads that finish (or files refused) at the same moment
 * each get a line of their own, instead of the last one replacing the others before they are heard.
 */
export const ANNOUNCEMENT_KEPT_MS = 10_000

/**
 * A step that usually passes within moments (preparing, the start of a send, the check after it, waiting
 * again after Try again) is read out only if it is still the step this long after: a screen reader would otherwise be handed
 * four lines per photo before its verdict. Progress is read out only once a send has lasted this long.
 */
export const PASSING_STEP_MS = 1000

export function createUploads(deps: UploadsDeps) {
  const storage = deps.storage ?? browserStorage()
  const unsent = deps.unsent ?? browserUnsentFiles()
  const target = deps.target ?? window
  const post = deps.post ?? postToStorage
  const sleep = deps.poll?.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const now = deps.poll?.now ?? (() => Date.now())
  const online = deps.online ?? (() => typeof navigator === 'undefined' || navigator.onLine !== false)

  const allJobs = ref<UploadJob[]>([])
  /**
   * The jobs shown: not those picked by someone else than who is signed in now (a sign-in in another tab of a
   * shared browser changes the account here too), whose file names are theirs. They come back when they do.
   */
  const jobs = computed(() => allJobs.value.filter((j) => !pickedByOther(j)))
  /**
   * The latest status sentences, oldest first, for the aria-live region of the place each belongs to. As `jobs`,
   * none about an upload of another account than the one signed in: those are not said, and those said before
   * another account signed in go (for good: brought back, a live region would read them out again).
   */
  const announcements = ref<Announcement[]>([])
  /** A file of the signed-in person is being prepared or sent: leaving the page now would lose it. */
  const sending = computed(() => jobs.value.some((j) => j.phase === 'requesting' || j.phase === 'uploading'))

  let nextId = 1
  let nextAnnouncement = 1
  let draining = false
  const queue: UploadJob[] = []
  const files = new Map<number, File>()
  /** Each job's file as kept in `unsent`, until it reaches storage or is let go. */
  const kept = new Map<number, UnsentFile>()
  const cancels = new Map<number, AbortController>()
  /** Jobs whose last send broke off without an answer, and the upload the checks could not find arrived. */
  const unconfirmed = new Map<number, { uploadId: string; at: number }>()
  /**
   * Each job's Idempotency-Key for its form request, until a form comes back: asked again (after a busy answer,
   * or Try again after no answer came), it is the same request, given the same form and counted once.
   */
  const formKeys = new Map<number, string>()
  /** Places whose page is shown now (a count: the same page may mount twice during a transition). */
  const shown = new Map<string, number>()
  /**
   * A request failed for want of a connection while the browser says it is offline: the queue waits (its job put
   * back first) until the browser's online event, instead of using up each file's attempts. Not decided on
   * `navigator.onLine` alone, which some browsers get wrong (offline with only a LAN or loopback up).
   */
  let held = false
  let heldRetry: ReturnType<typeof setTimeout> | undefined
  /** Gone (`dispose`): nothing more is sent, even after a check that was under way. */
  let disposed = false
  /** Each job's steps, counted by say and sayPassing, and the steps waiting to be read out if they last. */
  const steps = new Map<number, number>()
  const passingSteps = new Set<ReturnType<typeof setTimeout>>()
  const addedListeners = new Set<(photo: Photo) => void>()

  /** Read out on the page of the job's place, unless someone else than who picked it is signed in (as `jobs`). */
  function announce(job: UploadJob, text: string) {
    if (pickedByOther(job)) return
    const at = now()
    const line = { id: nextAnnouncement++, jobId: job.id, owner: job.owner, placeId: job.placeId, text: `${job.fileName}: ${text}`, at }
    announcements.value = [...announcements.value.filter((a) => at - a.at < ANNOUNCEMENT_KEPT_MS), line]
  }

  function say(job: UploadJob, message: string) {
    nextStep(job, message)
    announce(job, message)
  }

  /** Shown at once, read out only if it is still the job's step after PASSING_STEP_MS (not merely its words). */
  function sayPassing(job: UploadJob, message: string) {
    const step = nextStep(job, message)
    const timer = setTimeout(() => {
      passingSteps.delete(timer)
      if (steps.get(job.id) === step && job.message === message) announce(job, message)
    }, PASSING_STEP_MS)
    passingSteps.add(timer)
  }

  function nextStep(job: UploadJob, message: string): number {
    job.message = message
    const step = (steps.get(job.id) ?? 0) + 1
    steps.set(job.id, step)
    return step
  }

  function newJob(fields: Partial<UploadJob> & Pick<UploadJob, 'placeId' | 'fileName'>): UploadJob {
    const job = reactive<UploadJob>({
      id: nextId++,
      size: null,
      phase: 'waiting',
      progress: 0,
      checking: false,
      message: 'Waiting…',
      photo: null,
      uploadId: null,
      owner: null,
      sentAt: null,
      seen: true,
      canRetry: false,
      ...fields,
    })
    return job
  }

  /** An outcome (or a dead end) is reached: it stays remembered until shown on its place's page. */
  function finish(job: UploadJob, phase: 'added' | 'rejected' | 'error', message: string, canRetry: boolean) {
    job.phase = phase
    job.canRetry = canRetry && files.has(job.id)
    if (!job.canRetry) letGo(job.id)
    say(job, message)
    job.seen = shown.has(job.placeId)
    if (job.seen && job.uploadId) forgetPending(storage, job.uploadId)
  }

  /** The file is no longer needed: it reached storage (`inMemory`: Try again may still send it) or was let go. */
  function letGo(jobId: number, { inMemory = false } = {}) {
    if (!inMemory) {
      files.delete(jobId)
      formKeys.delete(jobId)
    }
    const entry = kept.get(jobId)
    if (!entry) return
    kept.delete(jobId)
    void unsent.forget(entry.key)
  }

  /** Kept until it reaches storage, for whoever picked it (only they may send it under their name). */
  function keep(job: UploadJob, file: File) {
    files.set(job.id, file)
    const owner = deps.user.value?.sub
    if (!owner || pickedByOther(job) || kept.has(job.id)) return
    const entry = { key: newKey(), placeId: job.placeId, owner, file, pickedAt: now(), order: job.id, tab: unsent.tab }
    kept.set(job.id, entry)
    void unsent.keep(entry)
  }

  /** The form is for this upload: should the tab close now, the next one asks whether the photo arrived. */
  function keepUploadId(job: UploadJob, uploadId: string) {
    const entry = kept.get(job.id)
    if (!entry) return
    const known = { ...entry, uploadId }
    kept.set(job.id, known)
    void unsent.keep(known)
  }

  function addFiles(placeId: string, picked: Iterable<File>) {
    const batch: UploadJob[] = []
    for (const file of picked) {
      // Whoever picked it is who may send it (`send` checks): the person signed in may change before its turn.
      const job = newJob({ placeId, fileName: file.name || 'photo', size: file.size, owner: deps.user.value?.sub ?? null })
      batch.push(job)
      const check = checkFile(file)
      if (!check.ok) {
        job.phase = 'error'
        say(job, check.message)
        continue
      }
      keep(job, file)
      queue.push(job)
    }
    // Newest batch on top, in the order the files were picked.
    allJobs.value = [...batch, ...allJobs.value]
    void drain()
  }

  async function drain() {
    if (draining) return
    draining = true
    try {
      for (let job = queue[0]; job && !disposed; job = queue[0]) {
        if (held && !online()) {
          for (const waiting of queue) if (waiting.message !== OFFLINE_MESSAGE) say(waiting, OFFLINE_MESSAGE)
          return // the online event drains the queue again
        }
        held = false
        queue.shift()
        await send(job)
      }
    } finally {
      draining = false
    }
  }

  /** Back online (or time to try anyway): the files the connection stopped go on, in the order they were picked. */
  function onOnline() {
    held = false
    clearTimeout(heldRetry)
    heldRetry = undefined
    for (const waiting of queue) if (waiting.message === OFFLINE_MESSAGE) say(waiting, 'Waiting…')
    void drain()
  }

  /** A failure for want of a connection while the browser says it has none: the queue waits for `onOnline`. */
  function stoppedOffline(err: unknown): boolean {
    return ((err instanceof ApiError && err.status === 0) || brokeOff(err)) && !online()
  }

  /** Put back first in the queue, waiting for the connection (its form request is the same one, its key kept). */
  function holdForConnection(job: UploadJob) {
    Object.assign(job, { phase: 'waiting', progress: 0, canRetry: false })
    say(job, OFFLINE_MESSAGE)
    queue.unshift(job)
    held = true
    heldRetry ??= setTimeout(onOnline, HELD_RETRY_MS)
  }

  /** Whether someone other than who picked the file is signed in now (nobody: the API's 401 says to sign in). */
  function pickedByOther(job: UploadJob): boolean {
    const signedIn = deps.user.value?.sub
    return job.owner !== null && signedIn !== undefined && job.owner !== signedIn
  }

  /**
   * Whether a send that broke off earlier (`unconfirmed`) reached storage after all: asked a few times, as the
   * online event can come before requests go through. null: nobody could be asked, so sending it again might
   * add the photo twice.
   */
  async function arrivedAfterAll(earlier: { uploadId: string; at: number }, signal: AbortSignal): Promise<boolean | null> {
    const cancelled = cancelledBy(signal, CANCELLED_MESSAGE)
    let found: boolean | null = null
    for (const delay of [0, ...RECHECK_DELAYS_MS]) {
      if (delay) await Promise.race([sleep(delay), cancelled])
      found = await Promise.race([arrived(earlier.uploadId), cancelled])
      if (found === true) return true
      // "Not there" is believed once the upload's event has had its time since the send broke off.
      if (found === false && now() - earlier.at >= SETTLE_MS) return false
      if (found === null && !online()) return null
    }
    return found
  }

  /** Whether storage has the upload's file, as far as the API can tell now; null when it could not be asked. */
  async function arrived(uploadId: string): Promise<boolean | null> {
    try {
      const { status } = await deps.api.getUpload(uploadId)
      return status !== 'PENDING_UPLOAD' && status !== 'EXPIRED' // expired: the form lapsed with no file
    } catch (err) {
      // Only the API's word counts: a 404 is no such upload; no answer, a 5xx, a 429 or a lapsed sign-in say nothing.
      return err instanceof ApiError && err.status === 404 ? false : null
    }
  }

  /**
   * Whether storage got the file although the browser saw the request fail (the answer may be what was
   * lost). Cancel stops the checks at once: it rejects with the cancelled error.
   */
  async function reachedStorage(uploadId: string, signal: AbortSignal): Promise<boolean> {
    const cancelled = cancelledBy(signal, STOPPED_LOOKING_MESSAGE)
    for (const delay of RECHECK_DELAYS_MS) {
      await Promise.race([sleep(delay), cancelled])
      if (await Promise.race([arrived(uploadId), cancelled])) return true
    }
    return false
  }

  async function send(job: UploadJob) {
    const file = files.get(job.id)
    const check = file && checkFile(file)
    if (!file || !check?.ok) return
    const cancel = new AbortController()
    cancels.set(job.id, cancel)
    try {
      // Picked by someone who signed out meanwhile (here or in another tab): never sent under another's name.
      if (pickedByOther(job)) throw new OtherAccountError(OTHER_ACCOUNT_MESSAGE)
      const earlier = unconfirmed.get(job.id)
      if (earlier) {
        // Its last send broke off: the file may have arrived after all, and sending it again would add it twice.
        job.phase = 'requesting'
        sayPassing(job, 'Checking whether your photo arrived…')
        const found = await arrivedAfterAll(earlier, cancel.signal)
        if (disposed) return
        if (found === null) {
          if (!online()) holdForConnection(job)
          else finish(job, 'error', UNCHECKED_MESSAGE, true)
          return
        }
        unconfirmed.delete(job.id)
        if (found) {
          job.uploadId = earlier.uploadId
          sent(job)
          return
        }
      }
      job.phase = 'requesting'
      sayPassing(job, 'Preparing the upload…')
      // A new form every attempt: forms expire after a few minutes.
      const form = await requestForm(job, { contentType: check.contentType, size: file.size }, cancel.signal)
      job.uploadId = form.uploadId
      keepUploadId(job, form.uploadId)
      job.owner ??= deps.user.value?.sub ?? null
      job.phase = 'uploading'
      sayPassing(job, 'Uploading… 0%')
      const sendStarted = now()
      // Give the body the checked type: a HEIC file with an empty type is sent as image/heic.
      const body = file.type === check.contentType ? file : new File([file], file.name, { type: check.contentType })
      let lastQuarter = 0
      try {
        await post({
          url: form.url,
          fields: form.fields,
          file: body,
          filename: file.name || 'photo',
          signal: cancel.signal,
          onProgress(loaded, total) {
            job.progress = total > 0 ? Math.min(1, loaded / total) : 0
            const percent = Math.round(job.progress * 100)
            job.message = `Uploading… ${percent}%`
            // Read out by quarters, once the send has lasted (a quick one's verdict follows soon), and never
            // 100%: the send is over, and what comes next is read out if it lasts.
            const quarter = Math.floor(percent / 25)
            if (quarter > lastQuarter) {
              lastQuarter = quarter
              if (percent < 100 && now() - sendStarted >= PASSING_STEP_MS) announce(job, `uploading, ${percent}%`)
            }
          },
        })
      } catch (err) {
        // Cancelled once the whole file had gone: storage may have it all the same, so Try again looks first.
        if (cancel.signal.aborted && job.progress >= 1) unconfirmed.set(job.id, { uploadId: form.uploadId, at: now() })
        if (!brokeOff(err)) throw err
        // Cancelled or not found: the photo may still arrive, so Try again asks before sending it again.
        unconfirmed.set(job.id, { uploadId: form.uploadId, at: now() })
        if (!online()) throw err // nobody to ask now: it is looked for once the connection is back
        say(job, 'The connection dropped. Checking whether your photo arrived…')
        job.checking = true
        try {
          if (!(await reachedStorage(form.uploadId, cancel.signal))) throw err
        } finally {
          job.checking = false
        }
        unconfirmed.delete(job.id)
      }
    } catch (err) {
      if (err instanceof OtherAccountError) finish(job, 'error', err.message, true)
      else if (cancel.signal.aborted) {
        // Cancelled: whatever else failed as it was (a request that found the connection gone) is not the news.
        finish(job, 'error', err instanceof UploadError && err.kind === 'cancelled' ? err.message : CANCELLED_MESSAGE, true)
      }
      else if (stoppedOffline(err) && files.has(job.id)) holdForConnection(job)
      else finish(job, 'error', describeError(err), worthRetrying(err))
      return
    } finally {
      cancels.delete(job.id)
    }
    sent(job)
  }

  async function requestForm(job: UploadJob, body: { contentType: UploadContentType; size: number }, signal: AbortSignal) {
    const idempotencyKey = formKeys.get(job.id) ?? newKey()
    formKeys.set(job.id, idempotencyKey)
    for (let attempt = 1; ; attempt++) {
      if (pickedByOther(job)) throw new OtherAccountError(OTHER_ACCOUNT_MESSAGE) // signed in as another during a wait
      try {
        const form = await deps.api.createUpload(job.placeId, body, idempotencyKey)
        formKeys.delete(job.id) // the next form this job asks for is for another attempt at sending
        return form
      } catch (err) {
        const wait = attempt < FORM_ATTEMPTS && !stoppedOffline(err) ? busyWaitS(err, attempt) : null
        if (wait === null) throw err
        say(job, `${busyReason(err)}: trying again in ${wait} s…`)
        await Promise.race([sleep(wait * 1000), cancelledBy(signal, CANCELLED_MESSAGE)])
        sayPassing(job, 'Preparing the upload…')
      }
    }
  }

  /** The file is in storage: remember the upload (a reload resumes it) and wait for the verdict. */
  function sent(job: UploadJob) {
    letGo(job.id, { inMemory: true })
    job.progress = 1
    job.sentAt = now()
    if (job.owner) {
      rememberPending(storage, {
        uploadId: job.uploadId!,
        placeId: job.placeId,
        fileName: job.fileName,
        size: job.size,
        sentAt: job.sentAt,
        owner: job.owner,
      })
    }
    void followOutcome(job)
  }

  /** Polls until the workflow has decided, or the backend's deadline; a 401 pauses it until sign-in. */
  async function followOutcome(job: UploadJob) {
    job.phase = 'processing'
    sayPassing(job, 'Sent. Checking your photo…')
    let view: UploadView
    try {
      view = await pollUpload((id) => deps.api.getUpload(id), job.uploadId!, {
        ...deps.poll,
        sentAt: job.sentAt ?? now(),
        onSlow: () => say(job, SLOW_MESSAGE),
      })
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        // The session ended, not the upload: keep it (it stays remembered) and go on after sign-in. 403: someone
        // else signed in meanwhile (in another tab; the session is shared), whom the upload is not shown to.
        job.phase = 'paused'
        say(job, PAUSED_MESSAGE)
        return
      }
      finish(job, 'error', describeError(err), false)
      return
    }
    if (view.status === 'PROCESSED') {
      job.photo = view.photo
      finish(job, 'added', outcomeMessage(view), false)
      if (view.photo) for (const listener of addedListeners) listener(view.photo)
    } else {
      finish(job, 'rejected', outcomeMessage(view), worthSendingAgain(view))
    }
  }

  /** Someone signed in: go on with their paused uploads and those remembered from earlier visits. */
  function resume(sub: string) {
    for (const job of allJobs.value) {
      if (job.phase === 'paused' && job.owner === sub) void followOutcome(job)
    }
    const known = new Set(allJobs.value.map((j) => j.uploadId))
    const restored = readPending(storage, now())
      .filter((p) => p.owner === sub && !known.has(p.uploadId))
      .map((p) => newJob({ ...p, phase: 'processing', message: 'Sent. Checking your photo…' }))
    if (restored.length) {
      allJobs.value = [...restored.reverse(), ...allJobs.value]
      for (const job of restored) void followOutcome(job)
    }
    void offerUnsent(sub)
  }

  /**
   * The files this person picked in a tab that closed before sending them: offered with Try again. One whose
   * form was asked for may have reached storage as the tab closed: the API is asked, and one that did is
   * followed instead (sending it again would add the photo twice).
   */
  async function offerUnsent(sub: string) {
    const left = await unsent.claim(sub, now(), () => deps.user.value?.sub === sub)
    const offered: UploadJob[] = []
    for (const u of left) {
      const fileName = u.file.name || 'photo'
      const job = newJob({ placeId: u.placeId, fileName, size: u.file.size, owner: sub, uploadId: u.uploadId ?? null })
      files.set(job.id, u.file)
      kept.set(job.id, u)
      if (u.uploadId && (await arrived(u.uploadId))) {
        allJobs.value = [job, ...allJobs.value]
        sent(job)
        continue
      }
      // Asked again on Try again: it may still arrive (its event can be slow).
      if (u.uploadId) unconfirmed.set(job.id, { uploadId: u.uploadId, at: u.pickedAt })
      Object.assign(job, { phase: 'error', canRetry: true, seen: shown.has(job.placeId) })
      say(job, UNSENT_MESSAGE)
      offered.push(job)
    }
    if (offered.length) allJobs.value = [...offered, ...allJobs.value] // on top, in the order picked, as a new batch
  }

  /** Sends a file again; one whose last send broke off is looked for first (in `send`). */
  async function retry(jobId: number) {
    const job = jobs.value.find((j) => j.id === jobId)
    if (!job || !job.canRetry || !files.has(jobId)) return
    if (job.uploadId) forgetPending(storage, job.uploadId)
    Object.assign(job, { phase: 'waiting', progress: 0, uploadId: null, sentAt: null, seen: true, canRetry: false, photo: null })
    sayPassing(job, 'Waiting…')
    keep(job, files.get(jobId)!) // kept again if it had reached storage (a FAILED or EXPIRED one sent again)
    queue.push(job)
    held = false // asked for by the person: tried now, whatever the browser says
    void drain()
  }

  /**
   * Stops a file that is waiting, being sent, or whose send broke off and is being looked for (a file
   * already sent cannot be called back).
   */
  function cancel(jobId: number) {
    letGo(jobId, { inMemory: true }) // stopped by the person: Try again here, not offered in the next tab
    const waiting = queue.findIndex((j) => j.id === jobId)
    if (waiting >= 0) {
      const [job] = queue.splice(waiting, 1)
      finish(job!, 'error', 'The upload was cancelled.', true)
      return
    }
    cancels.get(jobId)?.abort()
  }

  /** Stops every file still waiting or being sent that `stops` picks. */
  function cancelAll(stops: (jobId: number) => boolean) {
    for (const job of [...queue]) if (stops(job.id)) cancel(job.id)
    for (const jobId of [...cancels.keys()]) if (stops(jobId)) cancel(jobId)
  }

  /** Stops the signed-in person's files still waiting or being sent (a sign-out: not another account's). */
  function cancelSending() {
    cancelAll((jobId) => jobs.value.some((j) => j.id === jobId))
  }

  /** Takes uploads off the list, with what was kept to send them again. */
  function drop(dropped: Set<UploadJob>) {
    for (const job of dropped) {
      letGo(job.id)
      unconfirmed.delete(job.id)
      if (job.uploadId) forgetPending(storage, job.uploadId)
    }
    allJobs.value = allJobs.value.filter((j) => !dropped.has(j))
  }

  /**
   * Clears the finished uploads the person sees on a place's page (not those of another account), but not one that
   * Try again can still send: a photo never sent is not lost to a tidy-up (`discard` drops it, when asked to).
   */
  function clearFinished(placeId: string) {
    drop(new Set(jobs.value.filter((j) => j.placeId === placeId && clearable(j))))
  }

  /** The person does not want this photo sent after all: it goes from the list, and from what tabs offer again. */
  function discard(jobId: number) {
    drop(new Set(jobs.value.filter((j) => j.id === jobId && removable(j))))
  }

  /** A place's page shows its uploads: their outcomes count as seen. Returns the function to call on leaving. */
  function show(placeId: string): () => void {
    shown.set(placeId, (shown.get(placeId) ?? 0) + 1)
    for (const job of jobs.value) {
      if (job.placeId !== placeId || job.seen) continue
      job.seen = true
      if (job.uploadId) forgetPending(storage, job.uploadId)
    }
    return () => {
      const left = (shown.get(placeId) ?? 1) - 1
      if (left > 0) shown.set(placeId, left)
      else shown.delete(placeId)
    }
  }

  /** Called with each newly published photo. Returns the function that stops it. */
  function onAdded(listener: (photo: Photo) => void): () => void {
    addedListeners.add(listener)
    return () => addedListeners.delete(listener)
  }

  function warnBeforeLeaving(event: BeforeUnloadEvent) {
    if (!sending.value) return
    event.preventDefault()
    event.returnValue = '' // Safari and older browsers show the warning only with this set
  }

  const scope = effectScope(true)
  scope.run(() => {
    watch(
      () => deps.user.value?.sub,
      (sub) => {
        if (!sub) return
        const ownerOf = (a: Announcement) => a.owner ?? allJobs.value.find((j) => j.id === a.jobId)?.owner ?? null
        announcements.value = announcements.value.filter((a) => [null, sub].includes(ownerOf(a)))
        resume(sub)
      },
      { immediate: true },
    )
  })
  target.addEventListener('beforeunload', warnBeforeLeaving)
  target.addEventListener('online', onOnline)

  function dispose() {
    disposed = true
    clearTimeout(heldRetry)
    for (const timer of passingSteps) clearTimeout(timer)
    scope.stop()
    target.removeEventListener('beforeunload', warnBeforeLeaving)
    target.removeEventListener('online', onOnline)
    cancelAll(() => true)
  }

  return { jobs, sending, announcements, addFiles, retry, cancel, cancelSending, clearFinished, discard, show, onAdded, dispose }
}

export type Uploads = ReturnType<typeof createUploads>

export const UPLOADS_KEY: InjectionKey<Uploads> = Symbol('uploads')

/** The app's upload store, provided once by main.ts (tests provide their own). */
export function useUploads(): Uploads {
  const uploads = inject(UPLOADS_KEY)
  if (!uploads) throw new Error('useUploads() needs the upload store: provide UPLOADS_KEY')
  return uploads
}
