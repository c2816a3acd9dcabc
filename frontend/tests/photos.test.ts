import { flushPromises } from '@vue/test-utils'
import { h, nextTick } from 'vue'
import { RouterView, createMemoryHistory, createRouter, type HistoryState, type RouterHistory } from 'vue-router'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import PhotoGrid from '../src/components/PhotoGrid.vue'
import PhotoViewer from '../src/components/PhotoViewer.vue'
import UploadPanel from '../src/components/UploadPanel.vue'
import PlaceView from '../src/views/PlaceView.vue'
import { createUploads } from '../src/composables/useUpload'
import { ApiError, type Api, type Photo, type PhotoPage, type PlaceDetail } from '../src/lib/api'
import { formatDate } from '../src/lib/format'
import { notices, notify } from '../src/lib/notices'
import { fakeApi, fakeAuth, fileOf, makePhoto, makePlace, mountWith, owning, placeDetail, testRouter } from './helpers'

/** A promise the test settles when it chooses (an answer still on its way). */
function later<T>() {
  let resolve!: (value: T) => void
  let reject!: (reason: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

describe('PhotoGrid markup', () => {
  it('renders each tile as <picture> with WebP first, a JPEG <img> fallback, size and lazy loading', () => {
    const photos = [makePhoto('a'), makePhoto('b')]
    const { wrapper } = mountWith(PhotoGrid, { props: { photos, placeName: 'Rose Park', mine: new Set<string>() } })
    const pictures = wrapper.findAll('picture')
    expect(pictures).toHaveLength(2)

    const children = Array.from(pictures[0]!.element.children).map((c) => c.tagName.toLowerCase())
    expect(children).toEqual(['source', 'img']) // <source> must come before the <img>
    const source = pictures[0]!.get('source')
    expect(source.attributes('type')).toBe('image/webp')
    expect(source.attributes('srcset')).toBe('https://cdn.test/p1/a/tile.webp 400w')
    expect(source.attributes('sizes')).toBeTruthy()

    const img = pictures[0]!.get('img')
    expect(img.attributes('src')).toBe('https://cdn.test/p1/a/tile.jpg')
    expect(img.attributes('srcset')).toBe('https://cdn.test/p1/a/tile.jpg 400w')
    expect(img.attributes('width')).toBe('400')
    expect(img.attributes('height')).toBe('400')
    expect(img.attributes('loading')).toBe('lazy')
    expect(img.attributes('alt')).toMatch(/^Photo 1 of Rose Park/)
    expect(pictures[1]!.get('img').attributes('alt')).toMatch(/^Photo 2 of Rose Park/)
  })

  it('says in each tile when its photo was added, and nothing about it when the date is unknown', () => {
    const undated = { ...makePhoto('b'), publishedAt: 'not a date' }
    const { wrapper } = mountWith(PhotoGrid, { props: { photos: [makePhoto('a'), undated], placeName: 'Rose Park', mine: new Set<string>() } })
    const alts = wrapper.findAll('img').map((img) => img.attributes('alt'))
    expect(alts).toEqual([`Photo 1 of Rose Park, added ${formatDate('2026-05-02T12:00:00.000Z')}`, 'Photo 2 of Rose Park'])
    expect(wrapper.get('#open-b').attributes('aria-label')).toBe('View photo 2 of Rose Park')
  })

  it('the large view uses the 600w scaled rendition', async () => {
    const photo = makePhoto('a')
    const { wrapper } = mountWith(PhotoViewer, { props: { photo: null, placeName: 'Rose Park' } })
    expect(wrapper.find('picture').exists()).toBe(false)
    await wrapper.setProps({ photo })
    await flushPromises()
    expect(wrapper.get('source').attributes('srcset')).toBe('https://cdn.test/p1/a/scaled.webp 600w')
    const img = wrapper.get('img')
    expect(img.attributes('src')).toBe('https://cdn.test/p1/a/scaled.jpg')
    expect(img.attributes('width')).toBe('600')
    expect(img.attributes('height')).toBe('450')
    expect(wrapper.get('dialog').attributes('aria-labelledby')).toBe('viewer-title')
  })

  it('says when the photo was added, not its size in pixels, and a tap on the backdrop closes it', async () => {
    const photo = makePhoto('a')
    const { wrapper } = mountWith(PhotoViewer, { props: { photo: null, placeName: 'Rose Park' }, attachTo: document.body })
    await wrapper.setProps({ photo })
    await flushPromises()
    expect(wrapper.text()).toMatch(/Added \S/)
    expect(wrapper.text()).not.toMatch(/px|×/)

    // On the photo, or a press that started on it: stays open.
    await wrapper.get('img').trigger('pointerdown')
    await wrapper.get('img').trigger('click')
    await wrapper.get('img').trigger('pointerdown')
    await wrapper.get('dialog').trigger('click')
    expect(wrapper.emitted('close')).toBeUndefined()
    // On the backdrop around it (the dialog element itself): closes.
    await wrapper.get('dialog').trigger('pointerdown')
    await wrapper.get('dialog').trigger('click')
    expect(wrapper.emitted('close')).toHaveLength(1)
    await wrapper.get('button').trigger('click')
    expect(wrapper.emitted('close')).toHaveLength(2)
    wrapper.unmount()
  })
})

describe('PhotoViewer: going through the photos', () => {
  async function openViewer(position: { number: number; of: number; more: boolean } | null) {
    const { wrapper } = mountWith(PhotoViewer, { props: { photo: null, placeName: 'Rose Park', position }, attachTo: document.body })
    await wrapper.setProps({ photo: makePhoto('b') })
    await flushPromises()
    return wrapper
  }
  const button = (wrapper: Awaited<ReturnType<typeof openViewer>>, label: string) =>
    wrapper.get(`button[aria-label="${label}"]`)

  it('offers Previous and Next, says where the photo stands, and the arrow keys do the same', async () => {
    const wrapper = await openViewer({ number: 2, of: 3, more: false })
    expect(wrapper.get('.info').text()).toMatch(/^Added \S.* · 2 of 3$/)
    await button(wrapper, 'Previous photo').trigger('click')
    await button(wrapper, 'Next photo').trigger('click')
    await wrapper.get('dialog').trigger('keydown', { key: 'ArrowLeft' })
    await wrapper.get('dialog').trigger('keydown', { key: 'ArrowRight' })
    await wrapper.get('dialog').trigger('keydown', { key: 'ArrowRight', altKey: true }) // the browser's Forward
    await wrapper.get('dialog').trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('previous')).toHaveLength(2)
    expect(wrapper.emitted('next')).toHaveLength(2)
    wrapper.unmount()
  })

  it('at the last photo shown, Next stays focusable but does nothing, unless more photos are to be loaded', async () => {
    const last = await openViewer({ number: 3, of: 3, more: false })
    expect(button(last, 'Next photo').attributes('aria-disabled')).toBe('true')
    expect(button(last, 'Previous photo').attributes('aria-disabled')).toBe('false')
    await button(last, 'Next photo').trigger('click')
    await last.get('dialog').trigger('keydown', { key: 'ArrowRight' })
    expect(last.emitted('next')).toBeUndefined()
    last.unmount()

    const first = await openViewer({ number: 1, of: 24, more: true })
    expect(button(first, 'Previous photo').attributes('aria-disabled')).toBe('true')
    await first.get('dialog').trigger('keydown', { key: 'ArrowLeft' })
    expect(first.emitted('previous')).toBeUndefined()
    first.unmount()

    const more = await openViewer({ number: 24, of: 24, more: true })
    expect(more.get('.info').text()).toMatch(/ · 24 of 24\+$/)
    await button(more, 'Next photo').trigger('click')
    expect(more.emitted('next')).toHaveLength(1)
    more.unmount()
  })

  it('shows no Previous, Next or position for a single photo', async () => {
    for (const position of [{ number: 1, of: 1, more: false }, null]) {
      const wrapper = await openViewer(position)
      expect(wrapper.findAll('button').map((b) => b.text())).toEqual(['Close'])
      expect(wrapper.get('.info').text()).not.toContain(' of ')
      await wrapper.get('dialog').trigger('keydown', { key: 'ArrowRight' })
      expect(wrapper.emitted('next')).toBeUndefined()
      wrapper.unmount()
    }
  })

  it('a finger swiped sideways on the photo goes to the next or previous one; taps, scrolls and mice do not', async () => {
    const wrapper = await openViewer({ number: 2, of: 3, more: false })
    const photo = wrapper.get('.photo')
    const swipe = async (from: [number, number], to: [number, number], pointerType = 'touch') => {
      await photo.trigger('pointerdown', { pointerType, isPrimary: true, clientX: from[0], clientY: from[1] })
      await photo.trigger('pointerup', { pointerType, isPrimary: true, clientX: to[0], clientY: to[1] })
    }
    await swipe([300, 400], [100, 420]) // to the left: the next photo
    expect(wrapper.emitted('next')).toHaveLength(1)
    await swipe([100, 400], [300, 380]) // to the right: the previous one
    expect(wrapper.emitted('previous')).toHaveLength(1)
    await swipe([200, 400], [170, 400]) // too short: a tap that moved
    await swipe([200, 400], [120, 600]) // mostly down: a scroll
    await swipe([300, 400], [100, 400], 'mouse') // a mouse drag (selecting, dragging the image)
    await photo.trigger('pointerdown', { pointerType: 'touch', isPrimary: true, clientX: 300, clientY: 400 })
    await photo.trigger('pointercancel')
    await photo.trigger('pointerup', { pointerType: 'touch', isPrimary: true, clientX: 100, clientY: 400 })
    expect(wrapper.emitted('next')).toHaveLength(1)
    expect(wrapper.emitted('previous')).toHaveLength(1)
    expect(wrapper.emitted('close')).toBeUndefined()
    wrapper.unmount()
  })

  it('takes only the arrow keys: Enter, Space and the others are left to the buttons and the browser', async () => {
    const wrapper = await openViewer({ number: 2, of: 3, more: false })
    const press = (key: string) => {
      const event = new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true })
      wrapper.get('dialog').element.dispatchEvent(event)
      return event.defaultPrevented
    }
    expect([press('Enter'), press(' '), press('Tab'), press('ArrowUp')]).toEqual([false, false, false, false])
    expect(wrapper.emitted('next')).toBeUndefined()
    expect(wrapper.emitted('previous')).toBeUndefined()
    expect(press('ArrowRight')).toBe(true)
    expect(wrapper.emitted('next')).toHaveLength(1)
    expect(press('ArrowLeft')).toBe(true)
    expect(wrapper.emitted('previous')).toHaveLength(1)
    wrapper.unmount()
  })

  it('takes a swipe from 50 px sideways, and at least twice as far sideways as up or down', async () => {
    const wrapper = await openViewer({ number: 2, of: 3, more: false })
    const photo = wrapper.get('.photo')
    const swipe = async (dx: number, dy: number) => {
      await photo.trigger('pointerdown', { pointerType: 'touch', isPrimary: true, clientX: 300, clientY: 400 })
      await photo.trigger('pointerup', { pointerType: 'touch', isPrimary: true, clientX: 300 + dx, clientY: 400 + dy })
    }
    await swipe(-49, 0)
    await swipe(49, 0)
    await swipe(-100, 51)
    expect(wrapper.emitted('next')).toBeUndefined()
    expect(wrapper.emitted('previous')).toBeUndefined()
    await swipe(-50, 0)
    expect(wrapper.emitted('next')).toHaveLength(1)
    await swipe(100, -50)
    expect(wrapper.emitted('previous')).toHaveLength(1)
    wrapper.unmount()
  })

  it('says which photo it showed last once it is shut', async () => {
    const wrapper = await openViewer({ number: 2, of: 3, more: false })
    await wrapper.setProps({ photo: makePhoto('c') })
    await flushPromises()
    expect(wrapper.emitted('closed')).toBeUndefined()
    await wrapper.setProps({ photo: null })
    await flushPromises()
    expect(wrapper.emitted('closed')).toEqual([['c']])
    wrapper.unmount()
  })
})

describe('PhotoViewer: the dialog', () => {
  it('opens as a modal with a photo and shuts without one, and is not opened again once Escape shut it', async () => {
    const showModal = vi.spyOn(HTMLDialogElement.prototype, 'showModal')
    const { wrapper } = mountWith(PhotoViewer, { props: { photo: null, placeName: 'Rose Park' }, attachTo: document.body })
    const dialog = wrapper.get('dialog').element as HTMLDialogElement
    expect(dialog.open).toBe(false)
    await wrapper.setProps({ photo: makePhoto('a') })
    await flushPromises()
    expect(dialog.open).toBe(true)
    expect(showModal).toHaveBeenCalledOnce()
    // Another photo in the same dialog: it is not opened a second time.
    await wrapper.setProps({ photo: makePhoto('b') })
    await flushPromises()
    expect(showModal).toHaveBeenCalledOnce()
    await wrapper.setProps({ photo: null })
    await flushPromises()
    expect(dialog.open).toBe(false)
    expect(wrapper.emitted('closed')).toEqual([['b']])

    // Escape: the browser shuts the dialog itself, the page then takes the photo away.
    await wrapper.setProps({ photo: makePhoto('c') })
    await flushPromises()
    dialog.close()
    expect(wrapper.emitted('close')).toHaveLength(2)
    await wrapper.setProps({ photo: null })
    await flushPromises()
    expect(dialog.open).toBe(false)
    expect(showModal).toHaveBeenCalledTimes(2)
    expect(wrapper.emitted('closed')).toEqual([['b'], ['c']])
    wrapper.unmount()
  })

  it('says inside the dialog what the page says once it is open, which the modal hides from screen readers', async () => {
    const earlier = { id: 'upload-1', text: 'a.jpg: Uploading… 25%' }
    const props = { photo: null as Photo | null, placeName: 'Rose Park', announcements: [earlier] }
    const { wrapper } = mountWith(PhotoViewer, { props, attachTo: document.body })
    await wrapper.setProps({ photo: makePhoto('a') })
    await flushPromises()
    const said = () => wrapper.findAll('[data-testid="viewer-announcer"] p').map((p) => p.text())
    expect(wrapper.get('[data-testid="viewer-announcer"]').attributes()).toMatchObject({ role: 'log', 'aria-live': 'polite' })
    expect(said()).toEqual([]) // heard before it opened
    const added = { id: 'upload-2', text: 'a.jpg: Added! Your photo is now on this page.' }
    const notice = { id: 'notice-7', text: 'You are signed out.' }
    await wrapper.setProps({ announcements: [earlier, added, notice] })
    expect(said()).toEqual([added.text, notice.text])
    wrapper.unmount()
  })

  it('opens in a browser without showModal too', async () => {
    const { wrapper } = mountWith(PhotoViewer, { props: { photo: null, placeName: 'Rose Park' }, attachTo: document.body })
    const dialog = wrapper.get('dialog').element as HTMLDialogElement
    Object.defineProperty(dialog, 'showModal', { value: undefined, configurable: true })
    await wrapper.setProps({ photo: makePhoto('a') })
    await flushPromises()
    expect(dialog.hasAttribute('open')).toBe(true)
    wrapper.unmount()
  })

  it('counts a click as a tap on the backdrop only when the press started on the backdrop', async () => {
    const { wrapper } = mountWith(PhotoViewer, { props: { photo: null, placeName: 'Rose Park' }, attachTo: document.body })
    await wrapper.setProps({ photo: makePhoto('a') })
    await flushPromises()
    const dialog = wrapper.get('dialog')
    await dialog.trigger('click') // no press before it
    await dialog.trigger('pointerdown')
    await wrapper.get('img').trigger('click') // pressed on the backdrop, but the click is on the photo
    await dialog.trigger('click') // that press is used up
    expect(wrapper.emitted('close')).toBeUndefined()
    wrapper.unmount()
  })
})

describe("PhotoViewer: Share hands over the photo's link", () => {
  const LINK = 'https://happy.test/places/p1?photo=a'
  /** Gives navigator a share() and/or a clipboard for one test (happy-dom has neither). */
  function browserWith(features: { share?: (data: ShareData) => Promise<void>; writeText?: (text: string) => Promise<void> }) {
    const restore: (() => void)[] = []
    const give = (target: object, key: string, value: unknown) => {
      const before = Object.getOwnPropertyDescriptor(target, key)
      Object.defineProperty(target, key, { value, configurable: true })
      restore.push(() => (before ? Object.defineProperty(target, key, before) : Reflect.deleteProperty(target, key)))
    }
    give(navigator, 'share', features.share)
    give(navigator, 'clipboard', features.writeText ? { writeText: features.writeText } : undefined)
    return () => restore.reverse().forEach((undo) => undo())
  }
  async function openViewer(link: string | null = LINK) {
    const { wrapper } = mountWith(PhotoViewer, { props: { photo: null, placeName: 'Rose Park', link }, attachTo: document.body })
    await wrapper.setProps({ photo: makePhoto('a') })
    await flushPromises()
    return wrapper
  }
  const shareButton = (wrapper: Awaited<ReturnType<typeof openViewer>>) => wrapper.findAll('button').find((b) => b.text() === 'Share')

  it("opens the phone's share sheet with the place's name and the photo's link; dismissing it says nothing", async () => {
    const share = vi.fn(async (_data: ShareData) => {})
    const undo = browserWith({ share })
    try {
      const wrapper = await openViewer()
      await shareButton(wrapper)!.trigger('click')
      await flushPromises()
      expect(share).toHaveBeenCalledExactlyOnceWith({ title: 'Rose Park', url: LINK })
      expect(wrapper.get('.info').text()).toMatch(/^Added /)

      share.mockRejectedValueOnce(new DOMException('Share canceled', 'AbortError'))
      await shareButton(wrapper)!.trigger('click')
      await flushPromises()
      expect(wrapper.get('.info').text()).toMatch(/^Added /)

      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
      share.mockRejectedValueOnce(new DOMException('Permission denied', 'NotAllowedError'))
      await shareButton(wrapper)!.trigger('click')
      await flushPromises()
      expect(wrapper.get('.info').text()).toBe('The link could not be shared. Copy it from the address bar.')
      expect(warn).toHaveBeenCalledOnce()
      warn.mockRestore()
      wrapper.unmount()
    } finally {
      undo()
    }
  })

  it('copies the link where there is no share sheet, and says so inside the viewer until the photo changes', async () => {
    const writeText = vi.fn(async (_text: string) => {})
    const undo = browserWith({ writeText })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    onTestFinished(() => {
      vi.useRealTimers()
    })
    try {
      const wrapper = await openViewer()
      await shareButton(wrapper)!.trigger('click')
      await flushPromises()
      expect(writeText).toHaveBeenCalledExactlyOnceWith(LINK)
      expect(wrapper.get('.info').text()).toBe('Link copied.')
      expect(wrapper.get('.info').attributes('aria-live')).toBe('polite')
      // Said for a few seconds, then the line shows the date again.
      vi.advanceTimersByTime(3999)
      await nextTick()
      expect(wrapper.get('.info').text()).toBe('Link copied.')
      vi.advanceTimersByTime(1)
      await nextTick()
      expect(wrapper.get('.info').text()).toMatch(/^Added /)
      await shareButton(wrapper)!.trigger('click')
      await flushPromises()
      await wrapper.setProps({ photo: makePhoto('b') })
      expect(wrapper.get('.info').text()).toMatch(/^Added /)
      wrapper.unmount()
    } finally {
      undo()
    }
  })

  it('offers no Share without a link, or in a browser that can neither share nor copy', async () => {
    const undo = browserWith({ share: async () => {} })
    try {
      const noLink = await openViewer(null)
      expect(shareButton(noLink)).toBeUndefined()
      noLink.unmount()
    } finally {
      undo()
    }
    const undoBoth = browserWith({})
    try {
      const neither = await openViewer()
      expect(shareButton(neither)).toBeUndefined()
      neither.unmount()
    } finally {
      undoBoth()
    }
  })
})

describe('delete is offered only to the owner', () => {
  const photos = [makePhoto('mine'), makePhoto('theirs'), makePhoto('mine2')]

  it('shows Delete only on the photos the API says are mine', () => {
    const { wrapper } = mountWith(PhotoGrid, { props: { photos, placeName: 'P', mine: new Set(['mine', 'mine2']) } })
    const tiles = wrapper.findAll('[data-testid="photo"]')
    const hasDelete = tiles.map((t) => t.findAll('button').some((b) => b.text() === 'Delete'))
    expect(hasDelete).toEqual([true, false, true])
    expect(tiles[0]!.get('button.delete').attributes('aria-label')).toBe('Delete photo 1')
  })

  it('shows no Delete when signed out', () => {
    const { wrapper } = mountWith(PhotoGrid, { props: { photos, placeName: 'P', mine: new Set<string>() } })
    expect(wrapper.findAll('button').filter((b) => b.text() === 'Delete')).toHaveLength(0)
  })

  it('asks for confirmation before emitting delete', async () => {
    const { wrapper } = mountWith(PhotoGrid, {
      props: { photos, placeName: 'P', mine: new Set(['mine', 'mine2']) },
      attachTo: document.body,
    })
    await wrapper.get('[data-photo-id="mine"] button.delete').trigger('click')
    expect(wrapper.emitted('delete')).toBeUndefined()
    const group = wrapper.get('[role="group"]')
    expect(group.attributes('aria-label')).toBe('Confirm deleting photo 1')
    expect(document.activeElement?.textContent?.trim()).toBe('Keep it')

    await group.findAll('button').find((b) => b.text() === 'Keep it')!.trigger('click')
    await flushPromises()
    expect(wrapper.find('[role="group"]').exists()).toBe(false)
    expect(wrapper.emitted('delete')).toBeUndefined()
    // Kept: the focus goes back to the Delete button the question replaced.
    expect(document.activeElement).toBe(wrapper.get('[data-photo-id="mine"] button.delete').element)

    await wrapper.get('[data-photo-id="mine"] button.delete').trigger('click')
    await wrapper.get('[role="group"]').findAll('button').find((b) => b.text() === 'Yes, delete')!.trigger('click')
    await flushPromises()
    expect(wrapper.emitted('delete')).toEqual([[photos[0]]])
    // While it is deleted, the focus stays on that photo (its confirm buttons are gone).
    expect(document.activeElement?.id).toBe('open-mine')
    wrapper.unmount()
  })
})

describe('PlaceView', () => {
  it('loads the place, pages with the cursor and deletes my photo', async () => {
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')], { place: makePlace({ address: '1 Garden Lane' }), nextCursor: 'c1' })),
      listPhotos: vi.fn(async () => ({ photos: [makePhoto('b'), makePhoto('c')], nextCursor: null })),
      myPhotos: owning('a', 'c'),
      deletePhoto: vi.fn(async () => undefined),
    })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth: fakeAuth({ sub: 'me', name: 'Me' }) })
    await flushPromises()

    expect(api.getPlace).toHaveBeenCalledWith('p1', { limit: 24 })
    expect(wrapper.get('h1').text()).toBe('Rose Park')
    expect(wrapper.text()).toContain('1 Garden Lane')
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(2)
    expect(wrapper.find('input[type="file"]').exists()).toBe(true) // signed in: upload offered

    const more = wrapper.findAll('button').find((b) => b.text() === 'Load more photos')!
    await more.trigger('click')
    await flushPromises()
    expect(api.listPhotos).toHaveBeenCalledWith('p1', { limit: 24, cursor: 'c1' })
    expect(wrapper.findAll('[data-testid="photo"]').map((t) => t.attributes('data-photo-id'))).toEqual(['a', 'b', 'c'])
    // Whose a photo is, the API says only to its owner: asked once per page, about that page's new photos.
    expect(vi.mocked(api.myPhotos).mock.calls).toEqual([[['a', 'b']], [['c']]])
    const withDelete = wrapper.findAll('[data-testid="photo"]').filter((t) => t.find('button.delete').exists())
    expect(withDelete.map((t) => t.attributes('data-photo-id'))).toEqual(['a', 'c'])
    expect(wrapper.findAll('button').some((b) => b.text() === 'Load more photos')).toBe(false)

    await wrapper.get('[data-photo-id="a"] button.delete').trigger('click')
    await wrapper.findAll('button').find((b) => b.text() === 'Yes, delete')!.trigger('click')
    await flushPromises()
    expect(api.deletePhoto).toHaveBeenCalledWith('a')
    expect(wrapper.findAll('[data-testid="photo"]').map((t) => t.attributes('data-photo-id'))).toEqual(['b', 'c'])
  })

  it('asks again whose photos are shown when the user signs in, out, or adds a photo', async () => {
    const auth = fakeAuth(null)
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')])),
      myPhotos: owning('b', 'new'),
    })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth })
    await flushPromises()
    const deletable = () =>
      wrapper
        .findAll('[data-testid="photo"]')
        .filter((t) => t.find('button.delete').exists())
        .map((t) => t.attributes('data-photo-id'))
    expect(api.myPhotos).not.toHaveBeenCalled() // signed out: nothing to ask
    expect(deletable()).toEqual([])

    auth.user.value = { sub: 'me', name: 'Me' }
    await flushPromises()
    expect(api.myPhotos).toHaveBeenLastCalledWith(['a', 'b'])
    expect(deletable()).toEqual(['b'])

    wrapper.findComponent(UploadPanel).vm.$emit('added', makePhoto('new'))
    await flushPromises()
    expect(deletable()).toEqual(['new', 'b'])

    auth.user.value = null
    await flushPromises()
    expect(deletable()).toEqual([])
  })

  it('still shows the photos when it cannot find out which are mine, without Delete', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a')])),
      myPhotos: vi.fn(async () => Promise.reject(new ApiError(0, 'Could not reach the server.'))),
    })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth: fakeAuth({ sub: 'me', name: 'Me' }) })
    await flushPromises()
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(1)
    expect(wrapper.find('button.delete').exists()).toBe(false)
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    expect(warn).toHaveBeenCalled()
    warn.mockRestore()
  })

  it('offers sign-in instead of upload when signed out', async () => {
    const auth = fakeAuth(null)
    const api = fakeApi({ getPlace: vi.fn(async () => placeDetail([])) })
    // On the place's own address: sign-in must come back here, not to the start page.
    const router = testRouter()
    await router.push('/places/p1')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth, router })
    await flushPromises()
    expect(wrapper.find('input[type="file"]').exists()).toBe(false)
    expect(wrapper.text()).toContain('No photos yet')
    await wrapper.findAll('button').find((b) => b.text() === 'Sign in to add photos')!.trigger('click')
    expect(auth.signIn).toHaveBeenCalledWith('/places/p1')
  })

  it('shows API errors as messages, never a blank page', async () => {
    const api = fakeApi({ getPlace: vi.fn(async () => Promise.reject(new ApiError(0, 'Could not reach the server.'))) })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api })
    await flushPromises()
    const alert = wrapper.get('[role="alert"]')
    expect(alert.text()).toContain('Could not reach the server.')
    expect(alert.findAll('button').map((b) => b.text())).toContain('Try again')

    const gone = fakeApi({ getPlace: vi.fn(async () => Promise.reject(new ApiError(404, 'Place not found'))) })
    const { wrapper: w2 } = mountWith(PlaceView, { props: { placeId: 'zz' }, api: gone })
    await flushPromises()
    expect(w2.get('h1').text()).toBe('Place not found')
  })

  it('loads the place by itself once the browser is back online, but never a place that does not exist', async () => {
    const getPlace = vi.fn<Api['getPlace']>().mockRejectedValueOnce(new ApiError(0, 'Could not reach the server.'))
    getPlace.mockImplementation(async () => placeDetail([]))
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: fakeApi({ getPlace }) })
    await flushPromises()
    expect(wrapper.get('[role="alert"]').text()).toContain('Could not reach the server.')
    window.dispatchEvent(new Event('online'))
    await flushPromises()
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    expect(wrapper.get('h1').text()).toBe(placeDetail([]).place.name)
    window.dispatchEvent(new Event('online')) // loaded: nothing to do
    await flushPromises()
    wrapper.unmount()
    window.dispatchEvent(new Event('online')) // gone: not listening any more
    expect(getPlace).toHaveBeenCalledTimes(2)

    const missing = vi.fn<Api['getPlace']>(async () => Promise.reject(new ApiError(404, 'Place not found')))
    const gone = mountWith(PlaceView, { props: { placeId: 'zz' }, api: fakeApi({ getPlace: missing }) }).wrapper
    await flushPromises()
    window.dispatchEvent(new Event('online'))
    await flushPromises()
    expect(missing).toHaveBeenCalledOnce()
    gone.unmount()
  })

  it('says "Place not found" for an address whose id the API refuses, with no Try again', async () => {
    const refused = new ApiError(400, 'invalid request: place_id: must be an id: 3 to 64 lowercase letters, digits and hyphens')
    const api = fakeApi({ getPlace: vi.fn(async () => Promise.reject(refused)) })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'Hyde-Park' }, api })
    await flushPromises()
    const alert = wrapper.get('[role="alert"]')
    expect(alert.get('h1').text()).toBe('Place not found')
    expect(alert.text()).toContain('This place does not exist (any more).')
    expect(alert.text()).not.toContain('invalid request')
    expect(alert.findAll('button')).toHaveLength(0)
    expect(document.title).toBe('Place not found · Happy Path')
    wrapper.unmount()
  })

  it('offers no upload, and invites none, for a kind of place whose photos are not taken', async () => {
    const museum = placeDetail([], { place: makePlace({ type: 'museum' }), takesPhotos: false })
    for (const user of [null, { sub: 'me', name: 'Me' }]) {
      const api = fakeApi({ getPlace: vi.fn(async () => museum) })
      const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth: fakeAuth(user) })
      await flushPromises()
      expect(wrapper.text()).toContain('Photos are not taken for this kind of place (Museum).')
      expect(wrapper.text()).not.toContain('Be the first')
      expect(wrapper.find('input[type="file"]').exists()).toBe(false)
      expect(wrapper.findAll('button').map((b) => b.text())).not.toContain('Sign in to add photos')
      expect(wrapper.get('#photos-title + p').text()).toBe('No photos.')
    }
  })

  it('links to the place on OpenStreetMap, for directions, in a new tab', async () => {
    const place = makePlace({ lat: -33.856784, lng: 151.2152967 })
    const api = fakeApi({ getPlace: vi.fn(async () => placeDetail([], { place })) })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api })
    await flushPromises()
    const link = wrapper.get('header a')
    expect(link.attributes('href')).toBe(
      'https://www.openstreetmap.org/?mlat=-33.856784&mlon=151.215297#map=17/-33.856784/151.215297',
    )
    expect(link.attributes()).toMatchObject({ target: '_blank', rel: 'noopener noreferrer' })
    expect(link.text()).toBe('Show on OpenStreetMap (opens in a new tab)')
  })

  it('moves focus to the next photo after a delete, and to the Photos heading after the last one', async () => {
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')])),
      myPhotos: owning('a', 'b'),
      deletePhoto: vi.fn(async () => undefined),
    })
    const { wrapper } = mountWith(PlaceView, {
      props: { placeId: 'p1' },
      api,
      auth: fakeAuth({ sub: 'me', name: 'Me' }),
      attachTo: document.body,
    })
    await flushPromises()
    const confirmDelete = async (id: string) => {
      await wrapper.get(`[data-photo-id="${id}"] button.delete`).trigger('click')
      await wrapper.findAll('button').find((b) => b.text() === 'Yes, delete')!.trigger('click')
      await flushPromises()
    }

    await confirmDelete('a')
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(1)
    expect(document.activeElement?.id).toBe('open-b')
    expect(document.activeElement?.getAttribute('aria-label')).toMatch(/^View photo 1 of Rose Park/)

    await confirmDelete('b')
    expect(wrapper.text()).toContain('No photos yet')
    expect(document.activeElement?.id).toBe('photos-title')
    expect(document.activeElement?.getAttribute('tabindex')).toBe('-1')
    wrapper.unmount()
  })

  it('reports a failed delete as an error, keeps the photo and offers Delete again', async () => {
    notices.splice(0)
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a')])),
      myPhotos: owning('a'),
      deletePhoto: vi.fn(async () => Promise.reject(new ApiError(403, 'Only the owner can delete this photo.'))),
    })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth: fakeAuth({ sub: 'me', name: 'Me' }) })
    await flushPromises()
    await wrapper.get('button.delete').trigger('click')
    await wrapper.findAll('button').find((b) => b.text() === 'Yes, delete')!.trigger('click')
    await flushPromises()
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(1)
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['error', 'The photo was not deleted. Only the owner can delete this photo.']])
    const again = wrapper.get('button.delete')
    expect(again.text()).toBe('Delete')
    expect(again.attributes('disabled')).toBeUndefined()
  })

  it('takes away a photo deleted already elsewhere (another tab or phone) instead of reporting a failure', async () => {
    notices.splice(0)
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')])),
      myPhotos: owning('a', 'b'),
      deletePhoto: vi.fn(async () => Promise.reject(new ApiError(404, 'photo a not found'))),
    })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth: fakeAuth({ sub: 'me', name: 'Me' }) })
    await flushPromises()
    await wrapper.get('[data-photo-id="a"] button.delete').trigger('click')
    await wrapper.findAll('button').find((b) => b.text() === 'Yes, delete')!.trigger('click')
    await flushPromises()
    expect(wrapper.findAll('[data-testid="photo"]').map((p) => p.attributes('data-photo-id'))).toEqual(['b'])
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['info', 'This photo was already deleted.']])
  })
})

describe('PlaceView: loading, paging and deleting, step by step', () => {
  const signedIn = () => fakeAuth({ sub: 'me', name: 'Me' })
  const tiles = (wrapper: ReturnType<typeof mountWith>['wrapper']) =>
    wrapper.findAll('[data-testid="photo"]').map((t) => t.attributes('data-photo-id'))

  it('names the place in the window title, once, and says "Loading" again on Try again', async () => {
    document.title = 'Happy Path (left as it was)'
    const answers = [later<PlaceDetail>(), later<PlaceDetail>(), later<PlaceDetail>()]
    const getPlace = vi.fn(() => answers[getPlace.mock.calls.length - 1]!.promise)
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: fakeApi({ getPlace }) })
    answers[0]!.reject(new ApiError(0, 'Could not reach the server.'))
    await flushPromises()
    expect(wrapper.get('[role="alert"]').text()).toContain('Could not reach the server.')
    expect(document.title).toBe('This place could not be loaded · Happy Path')
    const status = wrapper.get('[role="status"]').element // in the page before it speaks: screen readers hear it
    await wrapper.get('[role="alert"] button').trigger('click')
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    expect(wrapper.get('[role="status"]').text()).toBe('Loading the place…')
    expect(wrapper.get('[role="status"]').element).toBe(status)
    answers[1]!.resolve(placeDetail([makePhoto('a')]))
    await flushPromises()
    expect(wrapper.get('h1').text()).toBe('Rose Park')
    expect(document.title).toBe('Rose Park · Happy Path')

    await wrapper.setProps({ placeId: 'p2' })
    answers[2]!.resolve(placeDetail([], { place: makePlace({ placeId: 'p2', name: 'Lake Park' }) }))
    await flushPromises()
    expect(document.title).toBe('Lake Park · Happy Path')
    wrapper.unmount() // leaving the place (Back, "All places"): the window is the app's again
    expect(document.title).toBe('Happy Path')
    document.title = ''
  })

  it('says what "Load more" added, shows it is busy meanwhile, and reports a failure with the button back', async () => {
    notices.splice(0)
    const pages = [later<PhotoPage>(), later<PhotoPage>(), later<PhotoPage>()]
    const listPhotos = vi.fn(() => pages[listPhotos.mock.calls.length - 1]!.promise)
    const api = fakeApi({ getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')], { nextCursor: 'c1' })), listPhotos })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api })
    await flushPromises()
    const status = () => wrapper.get('.more [role="status"]').text()
    const more = () => wrapper.get('.more button')
    expect(status()).toBe('')

    await more().trigger('click')
    expect(more().text()).toBe('Loading…')
    expect(more().attributes('disabled')).toBeDefined()
    pages[0]!.resolve({ photos: [makePhoto('c'), makePhoto('d')], nextCursor: 'c2' })
    await flushPromises()
    expect(status()).toBe('2 more photos shown.')
    expect(more().text()).toBe('Load more photos')
    expect(more().attributes('disabled')).toBeUndefined()

    await more().trigger('click')
    expect(status()).toBe('') // said again when this page is in
    pages[1]!.resolve({ photos: [makePhoto('d')], nextCursor: 'c3' }) // only a photo shown already
    await flushPromises()
    expect(status()).toBe('No more photos.')
    expect(tiles(wrapper)).toEqual(['a', 'b', 'c', 'd'])

    await more().trigger('click')
    pages[2]!.reject(new ApiError(503, 'Service unavailable, try later.'))
    await flushPromises()
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['error', 'Service unavailable, try later.']])
    expect(more().text()).toBe('Load more photos')
    expect(more().attributes('disabled')).toBeUndefined()
    notices.splice(0)
  })

  it('when the last page comes, the focus goes on from the vanished button to the first photo it brought', async () => {
    const listPhotos = vi.fn(async () => ({ photos: [makePhoto('c'), makePhoto('d')], nextCursor: null }))
    const api = fakeApi({ getPlace: vi.fn(async () => placeDetail([makePhoto('a')], { nextCursor: 'c1' })), listPhotos })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, attachTo: document.body })
    await flushPromises()
    const button = wrapper.get('.more button').element as HTMLButtonElement
    button.focus()
    button.click()
    await flushPromises()
    expect(wrapper.find('.more button').exists()).toBe(false)
    expect(document.activeElement?.id).toBe('open-c')
    wrapper.unmount()
  })

  it('reports a sign-in that cannot start', async () => {
    notices.splice(0)
    const auth = fakeAuth(null)
    vi.mocked(auth.signIn).mockRejectedValue(new ApiError(0, 'Could not reach the server.'))
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: fakeApi({ getPlace: vi.fn(async () => placeDetail([])) }), auth })
    await flushPromises()
    await wrapper.findAll('button').find((b) => b.text() === 'Sign in to add photos')!.trigger('click')
    await flushPromises()
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['error', 'Sign-in could not start. Could not reach the server.']])
    notices.splice(0)
  })

  it("signed out, still shows this place's uploads, and no panel for another place's", async () => {
    const auth = fakeAuth(null)
    const api = fakeApi({ getPlace: vi.fn(async () => placeDetail([])) })
    const uploads = createUploads({ api, user: auth.user })
    uploads.addFiles('p2', [fileOf('notes.txt', 'text/plain', 5)])
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth, uploads })
    await flushPromises()
    expect(wrapper.findComponent(UploadPanel).exists()).toBe(false)

    uploads.addFiles('p1', [fileOf('clip.mov', 'video/quicktime', 5)])
    await flushPromises()
    expect(wrapper.getComponent(UploadPanel).get('h2').text()).toBe('Your uploads')
    expect(wrapper.findAll('[data-testid="upload-job"]')).toHaveLength(1)
  })

  it('asks whose photos they are only when there are some, and drops a late answer meant for someone else', async () => {
    const empty = fakeApi({ getPlace: vi.fn(async () => placeDetail([])), myPhotos: owning() })
    mountWith(PlaceView, { props: { placeId: 'p1' }, api: empty, auth: signedIn() })
    await flushPromises()
    expect(empty.myPhotos).not.toHaveBeenCalled()

    const answers = [later<string[]>(), later<string[]>()]
    const myPhotos = vi.fn(() => answers[myPhotos.mock.calls.length - 1]!.promise)
    const auth = signedIn()
    const api = fakeApi({ getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')])), myPhotos })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth })
    await flushPromises()
    auth.user.value = { sub: 'you', name: 'You' } // another person signs in before the answer for "me" is in
    await flushPromises()
    answers[1]!.resolve(['b'])
    answers[0]!.resolve(['a'])
    await flushPromises()
    expect(wrapper.findAll('button.delete').map((b) => b.element.closest('li')!.dataset.photoId)).toEqual(['b'])
  })

  it('adds an upload published meanwhile only once, if a page has shown it already', async () => {
    const api = fakeApi({ getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')])), myPhotos: owning() })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth: signedIn() })
    await flushPromises()
    wrapper.findComponent(UploadPanel).vm.$emit('added', makePhoto('b'))
    await flushPromises()
    expect(tiles(wrapper)).toEqual(['a', 'b'])
    wrapper.findComponent(UploadPanel).vm.$emit('added', makePhoto('new'))
    await flushPromises()
    expect(tiles(wrapper)).toEqual(['new', 'a', 'b'])
  })

  it('after a delete, the focus goes to the photo that took its place, or the one before the last', async () => {
    notices.splice(0)
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b'), makePhoto('c')])),
      myPhotos: owning('a', 'b', 'c'),
      deletePhoto: vi.fn(async () => undefined),
    })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth: signedIn(), attachTo: document.body })
    await flushPromises()
    const confirmDelete = async (id: string) => {
      await wrapper.get(`[data-photo-id="${id}"] button.delete`).trigger('click')
      await wrapper.findAll('button').find((b) => b.text() === 'Yes, delete')!.trigger('click')
      await flushPromises()
    }
    await confirmDelete('b')
    expect(tiles(wrapper)).toEqual(['a', 'c'])
    expect(document.activeElement?.id).toBe('open-c')
    await confirmDelete('c')
    expect(document.activeElement?.id).toBe('open-a')
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['info', 'Photo deleted.']])
    wrapper.unmount()
    notices.splice(0)
  })

  it('leaves the focus where the person put it while the photo was being deleted', async () => {
    const deleted = later<undefined>()
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')])),
      myPhotos: owning('a'),
      deletePhoto: vi.fn(() => deleted.promise),
    })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, auth: signedIn(), attachTo: document.body })
    await flushPromises()
    await wrapper.get('[data-photo-id="a"] button.delete').trigger('click')
    await wrapper.findAll('button').find((b) => b.text() === 'Yes, delete')!.trigger('click')
    await flushPromises()
    ;(wrapper.get('#open-b').element as HTMLElement).focus() // moved on meanwhile
    const back = wrapper.get('.back a').element as HTMLElement
    back.focus()
    deleted.resolve(undefined)
    await flushPromises()
    expect(tiles(wrapper)).toEqual(['b'])
    expect(document.activeElement).toBe(back)
    wrapper.unmount()
  })
})

describe('PlaceView: the viewer is part of the address', () => {
  const twoPhotos = () =>
    fakeApi({ getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')])) })
  const shownPhoto = (wrapper: ReturnType<typeof mountWith>['wrapper']) =>
    wrapper.find('dialog img').exists() ? wrapper.get('dialog img').attributes('src') : null
  /** The viewer open at b, the last photo of a first page (a, b) that has a next one, answered by `listPhotos`. */
  async function openAtLastPhotoShown(listPhotos: Api['listPhotos']) {
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')], { nextCursor: 'page-2' })),
      listPhotos,
    })
    const router = testRouter()
    await router.push('/places/p1?photo=b')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
    return { wrapper, router }
  }

  it('opens the viewer on a photo of the first page when the page is opened from a link to it', async () => {
    // The viewer mounts once the place has loaded, already holding the photo: it must open then, not on a change.
    const router = testRouter()
    await router.push('/places/p1?photo=a')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: twoPhotos(), router })
    await flushPromises()
    const dialog = wrapper.get('dialog').element as HTMLDialogElement
    expect(dialog.open).toBe(true)
    expect(shownPhoto(wrapper)).toContain('/a/')
  })

  it("says inside the open viewer the notices and this place's upload outcomes that come meanwhile", async () => {
    notices.splice(0)
    const router = testRouter()
    await router.push('/places/p1?photo=a')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: twoPhotos(), router })
    await flushPromises()
    notify('You are signed out.')
    await nextTick()
    expect(wrapper.findAll('[data-testid="viewer-announcer"] p').map((p) => p.text())).toEqual(['You are signed out.'])
    notices.splice(0)
  })

  it("opens a photo as ?photo=<id>, and Back (a phone's, the browser's) closes it on the same page", async () => {
    const router = testRouter()
    await router.push('/places/p1')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: twoPhotos(), router })
    await flushPromises()
    expect(shownPhoto(wrapper)).toBeNull()

    await wrapper.get('#open-b').trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=b')
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/b/scaled.jpg')

    router.back()
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1')
    expect(shownPhoto(wrapper)).toBeNull()
    expect(wrapper.get('h1').text()).toBe('Rose Park')
  })

  it('opens the photo an address names, and Close takes the photo out of the address', async () => {
    const router = testRouter()
    await router.push('/places/p1?photo=a')
    const api = twoPhotos()
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/a/scaled.jpg')
    expect(api.getPhoto).not.toHaveBeenCalled() // the first page has it

    await wrapper.get('dialog').findAll('button').find((b) => b.text() === 'Close')!.trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1')
    expect(shownPhoto(wrapper)).toBeNull()
  })

  it('Previous and Next replace the photo in the address: Back still closes the viewer', async () => {
    const fetchedAhead: string[] = []
    vi.stubGlobal(
      'Image',
      class {
        set src(url: string) {
          fetchedAhead.push(url)
        }
      },
    )
    onTestFinished(() => {
      vi.unstubAllGlobals()
    })
    const router = testRouter()
    await router.push('/places/p1')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: twoPhotos(), router, attachTo: document.body })
    await flushPromises()
    expect(fetchedAhead).toEqual([]) // nothing while no photo is open
    await wrapper.get('#open-a').trigger('click')
    await flushPromises()
    expect(wrapper.get('dialog .info').text()).toMatch(/ · 1 of 2$/)
    expect(fetchedAhead).toEqual(['https://cdn.test/p1/b/scaled.webp']) // the next photo, fetched ahead

    await wrapper.get('button[aria-label="Next photo"]').trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=b')
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/b/scaled.jpg')
    expect(wrapper.get('dialog .info').text()).toMatch(/ · 2 of 2$/)
    expect(wrapper.getComponent(PhotoViewer).props('link')).toBe(`${window.location.origin}/places/p1?photo=b`)
    await wrapper.get('button[aria-label="Next photo"]').trigger('click') // the last one: stays
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=b')

    router.back()
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1')
    expect(shownPhoto(wrapper)).toBeNull()
    // The focus goes to the photo seen last, not to the one opened.
    expect(document.activeElement?.id).toBe('open-b')
    // From b, its previous one was fetched ahead; once closed, nothing more.
    expect(fetchedAhead).toEqual(['https://cdn.test/p1/b/scaled.webp', 'https://cdn.test/p1/a/scaled.webp'])
    wrapper.unmount()
  })

  it('Next past the last photo shown loads the next page and shows its first photo', async () => {
    const listPhotos = vi.fn(async () => ({ photos: [makePhoto('c'), makePhoto('d')], nextCursor: null }))
    const { wrapper, router } = await openAtLastPhotoShown(listPhotos)
    expect(wrapper.get('dialog .info').text()).toMatch(/ · 2 of 2\+$/)

    await wrapper.get('button[aria-label="Next photo"]').trigger('click')
    await flushPromises()
    expect(listPhotos).toHaveBeenCalledExactlyOnceWith('p1', expect.objectContaining({ cursor: 'page-2' }))
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=c')
    expect(wrapper.get('dialog .info').text()).toMatch(/ · 3 of 4$/)
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(4)
  })

  it('says inside the viewer that the next page is loading, or why it could not be loaded; Next tries again', async () => {
    notices.splice(0)
    const pages = [later<PhotoPage>(), later<PhotoPage>()]
    const listPhotos = vi.fn(() => pages[listPhotos.mock.calls.length - 1]!.promise)
    const { wrapper, router } = await openAtLastPhotoShown(listPhotos)
    const next = () => wrapper.get('button[aria-label="Next photo"]').trigger('click')

    await next()
    await flushPromises()
    expect(wrapper.get('dialog .info').text()).toBe('Loading more photos…')
    pages[0]!.reject(new ApiError(503, 'The service is busy. Try again in a moment.'))
    await flushPromises()
    // The page's notices are behind the viewer's backdrop: the failure is said inside it, and only there.
    expect(wrapper.get('dialog .info').text()).toBe(
      'More photos could not be loaded. The service is busy. Try again in a moment.',
    )
    expect(notices).toEqual([])
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=b')

    await next()
    pages[1]!.resolve({ photos: [makePhoto('c')], nextCursor: null })
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=c')
    expect(wrapper.get('dialog .info').text()).toMatch(/^Added .* · 3 of 3$/)
  })

  it('a next page that fails once the viewer is shut is reported as a notice on the page', async () => {
    notices.splice(0)
    const page = later<PhotoPage>()
    const { wrapper } = await openAtLastPhotoShown(vi.fn(() => page.promise))
    await wrapper.get('button[aria-label="Next photo"]').trigger('click')
    await wrapper.get('dialog').findAll('button').find((b) => b.text() === 'Close')!.trigger('click')
    await flushPromises()
    page.reject(new ApiError(503, 'The service is busy. Try again in a moment.'))
    await flushPromises()
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['error', 'The service is busy. Try again in a moment.']])
  })

  it('opens a photo the pages do not hold (a shared link to an older photo), on its own', async () => {
    const getPhoto = vi.fn(async () => makePhoto('old'))
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')], { nextCursor: 'page-2' })),
      getPhoto,
      // The last page, without it (deleted and published again meanwhile, say): it stays on its own.
      listPhotos: vi.fn(async () => ({ photos: [makePhoto('c')], nextCursor: null })),
    })
    const router = testRouter()
    await router.push('/places/p1?photo=old')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
    expect(getPhoto).toHaveBeenCalledExactlyOnceWith('old')
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/old/scaled.jpg')
    expect(wrapper.find('dialog button[aria-label="Next photo"]').exists()).toBe(false) // not placed among the pages
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(3)

    // A photo the first page holds is not asked for.
    await router.push('/places/p1?photo=b')
    await flushPromises()
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/b/scaled.jpg')
    expect(getPhoto).toHaveBeenCalledOnce()

    // Another place's page does not keep it: asked again, it is not that place's, so its own place is opened.
    await router.push('/places/p2?photo=old')
    await wrapper.setProps({ placeId: 'p2' })
    await flushPromises()
    expect(getPhoto).toHaveBeenCalledTimes(2)
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=old')
  })

  it('places a linked older photo among the pages, down to it: its tile, its number, Previous and Next', async () => {
    const listPhotos = vi.fn<Api['listPhotos']>(async (_placeId, q = {}) =>
      q.cursor === 'page-2'
        ? { photos: [makePhoto('c'), makePhoto('old')], nextCursor: 'page-3' }
        : { photos: [makePhoto('older')], nextCursor: null },
    )
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')], { nextCursor: 'page-2' })),
      getPhoto: vi.fn(async () => makePhoto('old')),
      listPhotos,
    })
    const router = testRouter()
    await router.push('/places/p1?photo=old')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router, attachTo: document.body })
    await flushPromises()
    expect(listPhotos).toHaveBeenCalledExactlyOnceWith('p1', { limit: 100, cursor: 'page-2' }) // found: no more read
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/old/scaled.jpg')
    expect(wrapper.get('dialog .info').text()).toMatch(/ · 4 of 4\+$/) // more pages after it
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(4)
    await wrapper.get('button[aria-label="Previous photo"]').trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=c')
    await wrapper.get('button[aria-label="Next photo"]').trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=old')
    await wrapper.get('button[aria-label="Next photo"]').trigger('click') // past the pages shown: the next is read
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=older')
    // Closed, the focus goes to its tile, as for any photo of the pages.
    await wrapper.get('dialog').findAll('button').find((b) => b.text() === 'Close')!.trigger('click')
    await flushPromises()
    expect(document.activeElement?.id).toBe('open-older')
    wrapper.unmount()
  })

  it('reads at most ten pages for a linked photo, and stops when the person moves on', async () => {
    let served = 0
    const listPhotos = vi.fn<Api['listPhotos']>(async () => ({ photos: [makePhoto(`p${++served}`)], nextCursor: `page-${served + 2}` }))
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a')], { nextCursor: 'page-2' })),
      getPhoto: vi.fn(async () => makePhoto('old')),
      listPhotos,
    })
    const router = testRouter()
    await router.push('/places/p1?photo=old')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
    expect(listPhotos).toHaveBeenCalledTimes(10)
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/old/scaled.jpg') // on its own, as before
    expect(wrapper.find('dialog button[aria-label="Next photo"]').exists()).toBe(false)

    wrapper.unmount()

    // Closed while the pages are read: the reading stops.
    listPhotos.mockClear()
    const page = later<PhotoPage>()
    listPhotos.mockImplementation(() => page.promise)
    await router.push('/places/p1?photo=old')
    const again = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router }).wrapper
    await flushPromises()
    expect(listPhotos).toHaveBeenCalledTimes(1)
    await again.get('dialog').findAll('button').find((b) => b.text() === 'Close')!.trigger('click')
    await flushPromises()
    page.resolve({ photos: [makePhoto('x')], nextCursor: 'page-more' })
    await flushPromises()
    expect(listPhotos).toHaveBeenCalledTimes(1)
    again.unmount()
  })

  it('closing a linked photo that has no tile gives the focus to the Photos heading', async () => {
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a')], { nextCursor: 'page-2' })),
      getPhoto: vi.fn(async () => makePhoto('old')),
      listPhotos: vi.fn(async () => Promise.reject(new ApiError(503, 'busy'))), // its place not found: no tile
    })
    const router = testRouter()
    await router.push('/places/p1?photo=old')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router, attachTo: document.body })
    await flushPromises()
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/old/scaled.jpg')
    await wrapper.get('dialog').findAll('button').find((b) => b.text() === 'Close')!.trigger('click')
    await flushPromises()
    expect(shownPhoto(wrapper)).toBeNull()
    expect(document.activeElement?.id).toBe('photos-title')
    wrapper.unmount()
  })

  it('closes a linked photo on Close or Back as any other, and keeps the rest of the address', async () => {
    const router = testRouter()
    await router.push('/places/p1?photo=old&from=share')
    const api = fakeApi({ getPlace: twoPhotos().getPlace, getPhoto: vi.fn(async () => makePhoto('old')) })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/old/scaled.jpg')
    await wrapper.get('dialog').findAll('button').find((b) => b.text() === 'Close')!.trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?from=share')
    expect(shownPhoto(wrapper)).toBeNull()
  })

  it('closes a photo opened on the page by going back, so that Back then leaves the place', async () => {
    // The browser's history says which entry came before (the memory history of tests does not).
    const memory = createMemoryHistory()
    const entries = ['/']
    let at = 0
    const history = Object.create(memory, {
      state: { get: () => ({ back: entries[at - 1] ?? null }) },
      push: {
        value: (to: string, data?: HistoryState) => {
          entries.splice(++at, Infinity, to)
          memory.push(to, data)
        },
      },
      replace: {
        value: (to: string, data?: HistoryState) => {
          entries[at] = to
          memory.replace(to, data)
        },
      },
      go: {
        value: (delta: number, trigger?: boolean) => {
          at = Math.max(0, Math.min(at + delta, entries.length - 1))
          memory.go(delta, trigger)
        },
      },
    }) as RouterHistory
    const router = createRouter({ history, routes: testRouter().options.routes })
    await router.push('/')
    await router.push('/places/p1?from=share')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: twoPhotos(), router })
    await flushPromises()
    await wrapper.get('#open-a').trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?from=share&photo=a')
    await wrapper.get('dialog').findAll('button').find((b) => b.text() === 'Close')!.trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?from=share')
    router.back()
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/')
  })

  it('Previous works from the last photo shown too', async () => {
    const router = testRouter()
    await router.push('/places/p1?photo=b')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: twoPhotos(), router })
    await flushPromises()
    await wrapper.get('button[aria-label="Previous photo"]').trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=a')
  })

  it('Next past the last photo waits for a page already being loaded instead of asking for it twice', async () => {
    const page = later<PhotoPage>()
    const listPhotos = vi.fn(() => page.promise)
    const { wrapper } = await openAtLastPhotoShown(listPhotos)
    wrapper.get('.more button').element.dispatchEvent(new Event('click')) // "Load more", behind the viewer
    await flushPromises()
    await wrapper.get('button[aria-label="Next photo"]').trigger('click')
    await flushPromises()
    expect(listPhotos).toHaveBeenCalledOnce()
    page.resolve({ photos: [makePhoto('c')], nextCursor: null })
    await flushPromises()
    expect(listPhotos).toHaveBeenCalledOnce()
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(3)
  })

  it('does not reopen the viewer when the next page comes in after it was closed', async () => {
    const page = later<PhotoPage>()
    const { wrapper, router } = await openAtLastPhotoShown(vi.fn(() => page.promise))
    await wrapper.get('button[aria-label="Next photo"]').trigger('click')
    await wrapper.get('dialog').findAll('button').find((b) => b.text() === 'Close')!.trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1')
    page.resolve({ photos: [makePhoto('c')], nextCursor: null })
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1')
    expect(shownPhoto(wrapper)).toBeNull()
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(3)
  })

  it('leaves the address alone when the person moved on before a linked photo was found gone', async () => {
    const answer = later<Photo>()
    const router = testRouter()
    await router.push('/places/p1?photo=old')
    const api = fakeApi({ getPlace: twoPhotos().getPlace, getPhoto: vi.fn(() => answer.promise) })
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
    await router.push('/places/p1?photo=b')
    await flushPromises()
    answer.reject(new ApiError(404, 'photo old not found'))
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=b')
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/b/scaled.jpg')
  })

  it("opens a photo whose link names a place that does not exist at the photo's own place", async () => {
    notices.splice(0)
    const getPlace = vi.fn(async () => {
      throw new ApiError(404, 'place p-typo not found')
    })
    let answer: (photo: Photo) => void = () => {}
    const getPhoto = vi.fn(() => new Promise<Photo>((resolve) => (answer = resolve)))
    const router = testRouter()
    await router.push('/places/p-typo?photo=elsewhere')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p-typo' }, api: fakeApi({ getPlace, getPhoto }), router })
    await flushPromises()
    expect(wrapper.text()).not.toContain('Place not found') // not said while the photo is looked for
    answer(makePhoto('elsewhere', 'p2'))
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p2?photo=elsewhere')
    expect(wrapper.text()).not.toContain('Place not found')
  })

  /** The place page behind a RouterView, as the app shows it: its props follow the address. */
  function routedPlaces() {
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [{ path: '/places/:placeId', name: 'place', component: PlaceView, props: true }],
    })
    return { router, App: { render: () => h(RouterView) } }
  }

  it('a place left while its wrong link was being looked into is not overwritten by that late answer', async () => {
    let answer: (photo: Photo) => void = () => {}
    const api = fakeApi({
      getPlace: vi.fn(async (id: string) => {
        if (id === 'typo') throw new ApiError(404, 'place typo not found')
        return placeDetail([makePhoto('a', id)], { place: makePlace({ placeId: id, name: `Place ${id}` }) })
      }),
      getPhoto: vi.fn(() => new Promise<Photo>((resolve) => (answer = resolve))),
    })
    const { router, App } = routedPlaces()
    await router.push('/places/typo?photo=x')
    const { wrapper } = mountWith(App, { api, router })
    await flushPromises()
    await router.push('/places/p1') // Back, or another link, while the photo is looked up
    await flushPromises()
    expect(wrapper.get('h1').text()).toBe('Place p1')
    answer(makePhoto('x', 'p2'))
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1')
    expect(wrapper.get('h1').text()).toBe('Place p1')
    expect(wrapper.text()).not.toContain('Place not found')
  })

  it("still says it is loading while a wrong link's photo's own place loads", async () => {
    let placeP2: (detail: PlaceDetail) => void = () => {}
    const api = fakeApi({
      getPlace: vi.fn((id: string) =>
        id === 'typo' ? Promise.reject(new ApiError(404, 'place typo not found')) : new Promise<PlaceDetail>((resolve) => (placeP2 = resolve)),
      ),
      getPhoto: vi.fn(async () => makePhoto('x', 'p2')),
    })
    const { router, App } = routedPlaces()
    await router.push('/places/typo?photo=x')
    const { wrapper } = mountWith(App, { api, router })
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p2?photo=x')
    expect(wrapper.text()).toContain('Loading the place…')
    placeP2(placeDetail([makePhoto('x', 'p2')], { place: makePlace({ placeId: 'p2', name: 'Place p2' }) }))
    await flushPromises()
    expect(wrapper.get('h1').text()).toBe('Place p2')
  })

  it("opens a photo whose link names another place at the photo's own place", async () => {
    notices.splice(0)
    const getPhoto = vi.fn(async () => makePhoto('elsewhere', 'p2'))
    const router = testRouter()
    await router.push('/places/p1?photo=elsewhere')
    mountWith(PlaceView, { props: { placeId: 'p1' }, api: fakeApi({ getPlace: twoPhotos().getPlace, getPhoto }), router })
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p2?photo=elsewhere')
    expect(notices).toEqual([])
  })

  const GONE = 'The photo this link shows is not here any more: it may have been deleted.'
  it.each([
    ['refused as no id', new ApiError(400, 'invalid request: photo_id: must be an id'), ['info', GONE]],
    ['deleted', new ApiError(404, 'photo gone not found'), ['info', GONE]],
    ['out of reach', new ApiError(503, 'Service unavailable, try later.'), ['error', 'The photo could not be shown. Service unavailable, try later.']],
  ])('drops the photo from the address when it is %s, and says why', async (_, answer, notice) => {
    notices.splice(0)
    const getPhoto = vi.fn(async () => {
      if (answer instanceof Error) throw answer
      return answer
    })
    const router = testRouter()
    await router.push('/places/p1?photo=gone')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api: fakeApi({ getPlace: twoPhotos().getPlace, getPhoto }), router })
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1')
    expect(shownPhoto(wrapper)).toBeNull()
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(2)
    expect(notices.map((n) => [n.kind, n.text])).toEqual([notice])
  })
})
