import { flushPromises } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'
import UploadPanel from '../src/components/UploadPanel.vue'
import { useUpload } from '../src/composables/useUpload'
import type { UploadForm, UploadView } from '../src/lib/api'
import type { PostOptions } from '../src/lib/upload'
import { fakeApi, fileOf, makePhoto, mountWith } from './helpers'

const form: UploadForm = {
  uploadId: 'u1',
  url: 'http://storage.test/bucket',
  fields: { key: 'uploads/u1', 'Content-Type': 'image/heic', policy: 'p', 'x-amz-signature': 's' },
  expiresAt: 2_000_000_000,
  maxBytes: 20 * 1024 * 1024,
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

describe('useUpload', () => {
  it('uploads a HEIC with an empty type as image/heic and reports the published photo', async () => {
    const photo = makePhoto('u1')
    const answers = [status('PROCESSING'), status('PROCESSED', { photo })]
    const api = fakeApi({
      createUpload: vi.fn(async () => form),
      getUpload: vi.fn(async () => answers.shift()!),
    })
    const { post, calls } = fakePost()
    const onAdded = vi.fn()
    const up = useUpload({ api, placeId: 'p1', onAdded, post, poll: { sleep: async () => {} } })

    up.addFiles([fileOf('IMG_0042.HEIC', '', 2_000_000)])
    await flushPromises()

    expect(api.createUpload).toHaveBeenCalledWith('p1', { contentType: 'image/heic', size: 2_000_000, filename: 'IMG_0042.HEIC' })
    expect(calls).toHaveLength(1)
    expect(calls[0]!.url).toBe(form.url)
    expect(calls[0]!.fields).toEqual(form.fields)
    expect((calls[0]!.file as File).type).toBe('image/heic')
    expect(api.getUpload).toHaveBeenCalledWith('u1')
    const job = up.jobs.value[0]!
    expect(job.phase).toBe('added')
    expect(job.message).toBe('Added! Your photo is now on this page.')
    expect(job.progress).toBe(1)
    expect(onAdded).toHaveBeenCalledWith(photo)
    expect(up.announcement.value).toBe('IMG_0042.HEIC: Added! Your photo is now on this page.')
    expect(up.busy.value).toBe(false)
  })

  it('shows the rejection reason in words', async () => {
    const api = fakeApi({
      createUpload: vi.fn(async () => form),
      getUpload: vi.fn(async () => status('REJECTED', { reason: 'TOO_SMALL' })),
    })
    const onAdded = vi.fn()
    const up = useUpload({ api, placeId: 'p1', onAdded, post: fakePost().post, poll: { sleep: async () => {} } })
    up.addFiles([fileOf('small.jpg', 'image/jpeg', 30_000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({
      phase: 'rejected',
      message: 'Not added: the photo is too small (at least 800 px on each side).',
    })
    expect(onAdded).not.toHaveBeenCalled()
  })

  it('refuses a wrong file before calling the API and still uploads the good one', async () => {
    const api = fakeApi({
      createUpload: vi.fn(async () => form),
      getUpload: vi.fn(async () => status('PROCESSED', { photo: makePhoto('u1') })),
    })
    const { post } = fakePost()
    const up = useUpload({ api, placeId: 'p1', post, poll: { sleep: async () => {} } })
    up.addFiles([fileOf('anim.gif', 'image/gif', 1000), fileOf('huge.jpg', 'image/jpeg', 25 * 1024 * 1024), fileOf('ok.png', 'image/png', 1000)])
    await flushPromises()
    expect(api.createUpload).toHaveBeenCalledTimes(1)
    expect(post).toHaveBeenCalledTimes(1)
    const byName = Object.fromEntries(up.jobs.value.map((j) => [j.fileName, j]))
    expect(byName['anim.gif']!.phase).toBe('error')
    expect(byName['anim.gif']!.message).toMatch(/Choose a JPEG, PNG or HEIC photo/)
    expect(byName['huge.jpg']!.message).toBe('"huge.jpg" is too large (25 MB). The limit is 20 MB.')
    expect(byName['ok.png']!.phase).toBe('added')
  })

  it('shows API and storage errors as messages', async () => {
    const api = fakeApi({ createUpload: vi.fn(async () => form) })
    const post = vi.fn(async () => {
      const { UploadError } = await import('../src/lib/upload')
      throw new UploadError('The upload link expired before the photo was sent. Please try again.')
    })
    const up = useUpload({ api, placeId: 'p1', post })
    up.addFiles([fileOf('a.jpg', 'image/jpeg', 1000)])
    await flushPromises()
    expect(up.jobs.value[0]).toMatchObject({ phase: 'error', message: 'The upload link expired before the photo was sent. Please try again.' })
    expect(api.getUpload).not.toHaveBeenCalled()
  })
})

describe('UploadPanel', () => {
  it('offers camera and gallery inputs with the accepted types', () => {
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1' } })
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

  it('shows a real progress bar, announces status and emits the new photo', async () => {
    const photo = makePhoto('u1')
    let finish!: () => void
    let progress!: (loaded: number, total: number) => void
    const post = vi.fn(
      (opts: PostOptions) =>
        new Promise<void>((resolve) => {
          progress = opts.onProgress!
          finish = resolve
        }),
    )
    const api = fakeApi({
      createUpload: vi.fn(async () => form),
      getUpload: vi.fn(async () => status('PROCESSED', { photo })),
    })
    const { wrapper } = mountWith(UploadPanel, { props: { placeId: 'p1', post }, api })
    const input = wrapper.findAll('input[type="file"]')[1]!
    Object.defineProperty(input.element, 'files', { value: [fileOf('IMG_1.jpg', 'image/jpeg', 4_000_000)] })
    await input.trigger('change')
    await flushPromises()

    progress(1_000_000, 4_000_000)
    await flushPromises()
    const bar = wrapper.get('progress')
    expect(bar.attributes('max')).toBe('100')
    expect((bar.element as HTMLProgressElement).value).toBe(25)
    expect(bar.attributes('aria-label')).toBe('Sending IMG_1.jpg')
    const live = wrapper.get('[data-testid="upload-announcer"]')
    expect(live.attributes('aria-live')).toBe('polite')
    expect(live.text()).toBe('IMG_1.jpg: uploading, 25%')

    finish()
    await flushPromises()
    expect(live.text()).toBe('IMG_1.jpg: Added! Your photo is now on this page.')
    expect(wrapper.get('[data-testid="upload-job"]').attributes('data-phase')).toBe('added')
    expect(wrapper.emitted('added')).toEqual([[photo]])
  })
})
