/**
 * Uploads photos to one place, one after another: check -> ask the API for an upload form ->
 * POST the file to storage (real progress) -> poll until the workflow has decided.
 */
import { reactive, ref, type Ref } from 'vue'
import type { Api, Photo } from '../lib/api'
import { describeError } from '../lib/notices'
import { outcomeMessage } from '../lib/reasons'
import { checkFile, pollUpload, postToStorage, MAX_UPLOAD_BYTES, UploadError, type PollOptions } from '../lib/upload'

export type UploadPhase = 'waiting' | 'requesting' | 'uploading' | 'processing' | 'added' | 'rejected' | 'error'

export interface UploadJob {
  id: number
  fileName: string
  size: number
  phase: UploadPhase
  /** 0..1 while sending the file. */
  progress: number
  message: string
  photo: Photo | null
}

export interface UploadDeps {
  api: Pick<Api, 'createUpload' | 'getUpload'>
  placeId: Ref<string> | string
  /** Called when a photo has been published. */
  onAdded?: (photo: Photo) => void
  /** Overridable for tests: storage POST and polling. */
  post?: typeof postToStorage
  poll?: PollOptions
}

export const FINISHED: ReadonlySet<UploadPhase> = new Set(['added', 'rejected', 'error'])

export function useUpload(deps: UploadDeps) {
  const jobs = ref<UploadJob[]>([])
  const busy = ref(false)
  /** The latest status sentence, for the aria-live region. */
  const announcement = ref('')
  let nextId = 1
  const queue: { job: UploadJob; file: File }[] = []
  const post = deps.post ?? postToStorage

  function say(job: UploadJob, message: string) {
    job.message = message
    announcement.value = `${job.fileName}: ${message}`
  }

  function addFiles(files: Iterable<File>) {
    const batch: UploadJob[] = []
    for (const file of files) {
      const job = reactive<UploadJob>({
        id: nextId++,
        fileName: file.name || 'photo',
        size: file.size,
        phase: 'waiting',
        progress: 0,
        message: 'Waiting…',
        photo: null,
      })
      batch.push(job)
      const check = checkFile(file)
      if (!check.ok) {
        job.phase = 'error'
        say(job, check.message)
        continue
      }
      queue.push({ job, file })
    }
    // Newest batch on top, in the order the files were picked.
    jobs.value = [...batch, ...jobs.value]
    void drain()
  }

  async function drain() {
    if (busy.value) return
    busy.value = true
    try {
      for (let next = queue.shift(); next; next = queue.shift()) await run(next.job, next.file)
    } finally {
      busy.value = false
    }
  }

  async function run(job: UploadJob, file: File) {
    const check = checkFile(file)
    if (!check.ok) return
    const placeId = typeof deps.placeId === 'string' ? deps.placeId : deps.placeId.value
    try {
      job.phase = 'requesting'
      say(job, 'Preparing the upload…')
      const form = await deps.api.createUpload(placeId, {
        contentType: check.contentType,
        size: file.size,
        filename: file.name || undefined,
      })
      const maxBytes = form.maxBytes || MAX_UPLOAD_BYTES
      if (file.size > maxBytes) {
        const again = checkFile(file, maxBytes)
        throw new UploadError(again.ok ? 'The photo is too large.' : again.message)
      }
      job.phase = 'uploading'
      say(job, 'Uploading… 0%')
      // Give the body the checked type: a HEIC file with an empty type is sent as image/heic.
      const body = file.type === check.contentType ? file : new File([file], file.name, { type: check.contentType })
      let lastQuarter = 0
      await post({
        url: form.url,
        fields: form.fields,
        file: body,
        filename: file.name || 'photo',
        onProgress(loaded, total) {
          job.progress = total > 0 ? Math.min(1, loaded / total) : 0
          const percent = Math.round(job.progress * 100)
          job.message = `Uploading… ${percent}%`
          // Announce in quarters so screen readers are not flooded.
          const quarter = Math.floor(percent / 25)
          if (quarter > lastQuarter) {
            lastQuarter = quarter
            announcement.value = `${job.fileName}: uploading, ${percent}%`
          }
        },
      })
      job.progress = 1
      job.phase = 'processing'
      say(job, 'Sent. Checking your photo…')
      const view = await pollUpload((id) => deps.api.getUpload(id), form.uploadId, deps.poll)
      say(job, outcomeMessage(view))
      if (view.status === 'PROCESSED') {
        job.phase = 'added'
        job.photo = view.photo
        if (view.photo) deps.onAdded?.(view.photo)
      } else {
        job.phase = 'rejected'
      }
    } catch (err) {
      job.phase = 'error'
      say(job, describeError(err))
    }
  }

  function clearFinished() {
    jobs.value = jobs.value.filter((j) => !FINISHED.has(j.phase))
  }

  return { jobs, busy, announcement, addFiles, clearFinished }
}
