import { flushPromises } from '@vue/test-utils'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import PhotoGrid from '../src/components/PhotoGrid.vue'
import PhotoViewer from '../src/components/PhotoViewer.vue'
import UploadPanel from '../src/components/UploadPanel.vue'
import PlaceView from '../src/views/PlaceView.vue'
import { ApiError, type PhotoPage } from '../src/lib/api'
import { notices } from '../src/lib/notices'
import { fakeApi, fakeAuth, makePhoto, makePlace, mountWith, owning, placeDetail, testRouter } from './helpers'

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
    try {
      const wrapper = await openViewer()
      await shareButton(wrapper)!.trigger('click')
      await flushPromises()
      expect(writeText).toHaveBeenCalledExactlyOnceWith(LINK)
      expect(wrapper.get('.info').text()).toBe('Link copied.')
      expect(wrapper.get('.info').attributes('aria-live')).toBe('polite')
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
    expect(wrapper.find('[role="group"]').exists()).toBe(false)
    expect(wrapper.emitted('delete')).toBeUndefined()

    await wrapper.get('[data-photo-id="mine"] button.delete').trigger('click')
    await wrapper.get('[role="group"]').findAll('button').find((b) => b.text() === 'Yes, delete')!.trigger('click')
    expect(wrapper.emitted('delete')).toEqual([[photos[0]]])
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

  it('reports a failed delete and keeps the photo', async () => {
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
    expect(notices.map((n) => n.text)).toContain('The photo was not deleted. Only the owner can delete this photo.')
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

describe('PlaceView: the viewer is part of the address', () => {
  const twoPhotos = () =>
    fakeApi({ getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')])) })
  const shownPhoto = (wrapper: ReturnType<typeof mountWith>['wrapper']) =>
    wrapper.find('dialog img').exists() ? wrapper.get('dialog img').attributes('src') : null

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
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')], { nextCursor: 'page-2' })),
      listPhotos,
    })
    const router = testRouter()
    await router.push('/places/p1?photo=b')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
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
    let answer: { reject: (err: Error) => void; resolve: (page: PhotoPage) => void } | undefined
    const listPhotos = vi.fn(() => new Promise<PhotoPage>((resolve, reject) => (answer = { resolve, reject })))
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')], { nextCursor: 'page-2' })),
      listPhotos,
    })
    const router = testRouter()
    await router.push('/places/p1?photo=b')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
    const next = () => wrapper.get('button[aria-label="Next photo"]').trigger('click')

    await next()
    await flushPromises()
    expect(wrapper.get('dialog .info').text()).toBe('Loading more photos…')
    answer!.reject(new ApiError(503, 'The service is busy. Try again in a moment.'))
    await flushPromises()
    // The page's notices are behind the viewer's backdrop: the failure is said inside it, and only there.
    expect(wrapper.get('dialog .info').text()).toBe(
      'More photos could not be loaded. The service is busy. Try again in a moment.',
    )
    expect(notices).toEqual([])
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=b')

    await next()
    answer!.resolve({ photos: [makePhoto('c')], nextCursor: null })
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/p1?photo=c')
    expect(wrapper.get('dialog .info').text()).toMatch(/^Added .* · 3 of 3$/)
  })

  it('a next page that fails once the viewer is shut is reported as a notice on the page', async () => {
    notices.splice(0)
    let fail: ((err: Error) => void) | undefined
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')], { nextCursor: 'page-2' })),
      listPhotos: vi.fn(() => new Promise<PhotoPage>((_resolve, reject) => (fail = reject))),
    })
    const router = testRouter()
    await router.push('/places/p1?photo=b')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
    await wrapper.get('button[aria-label="Next photo"]').trigger('click')
    await wrapper.get('dialog').findAll('button').find((b) => b.text() === 'Close')!.trigger('click')
    await flushPromises()
    fail!(new ApiError(503, 'The service is busy. Try again in a moment.'))
    await flushPromises()
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['error', 'The service is busy. Try again in a moment.']])
  })

  it('opens a photo the first page does not hold (a shared link to an older photo), on its own', async () => {
    const getPhoto = vi.fn(async () => makePhoto('old'))
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a'), makePhoto('b')], { nextCursor: 'page-2' })),
      getPhoto,
    })
    const router = testRouter()
    await router.push('/places/p1?photo=old')
    const { wrapper } = mountWith(PlaceView, { props: { placeId: 'p1' }, api, router })
    await flushPromises()
    expect(getPhoto).toHaveBeenCalledExactlyOnceWith('old')
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/old/scaled.jpg')
    expect(wrapper.find('dialog button[aria-label="Next photo"]').exists()).toBe(false) // not placed among the pages
    expect(wrapper.findAll('[data-testid="photo"]')).toHaveLength(2)

    // A photo the first page holds is not asked for.
    await router.push('/places/p1?photo=b')
    await flushPromises()
    expect(shownPhoto(wrapper)).toBe('https://cdn.test/p1/b/scaled.jpg')
    expect(getPhoto).toHaveBeenCalledOnce()

    // Another place's page does not keep it: asked again, it is not that place's.
    await router.push('/places/p2?photo=old')
    await wrapper.setProps({ placeId: 'p2' })
    await flushPromises()
    expect(getPhoto).toHaveBeenCalledTimes(2)
    expect(router.currentRoute.value.fullPath).toBe('/places/p2')
    expect(shownPhoto(wrapper)).toBeNull()
  })

  it('closing a linked photo that has no tile gives the focus to the Photos heading', async () => {
    const api = fakeApi({
      getPlace: vi.fn(async () => placeDetail([makePhoto('a')], { nextCursor: 'page-2' })),
      getPhoto: vi.fn(async () => makePhoto('old')),
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

  it.each([
    ['deleted', new ApiError(404, 'photo gone not found'), null],
    ["another place's", makePhoto('gone', 'p2'), null],
    ['out of reach', new ApiError(503, 'Service unavailable, try later.'), 'The photo could not be shown. Service unavailable, try later.'],
  ])('drops the photo from the address when it is %s', async (_, answer, notice) => {
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
    expect(notices.map((n) => n.text)).toEqual(notice ? [notice] : [])
  })
})
