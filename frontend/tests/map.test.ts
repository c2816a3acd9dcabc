import { flushPromises } from '@vue/test-utils'
import L from 'leaflet'
import { h } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import CreatePlaceForm from '../src/components/CreatePlaceForm.vue'
import ErrorBoundary from '../src/components/ErrorBoundary.vue'
import PlaceList from '../src/components/PlaceList.vue'
import PlaceMap from '../src/components/PlaceMap.vue'
import HomeView from '../src/views/HomeView.vue'
import openapi from '../../docs/openapi.json'
import { metresBetween, useGeolocation } from '../src/composables/useGeolocation'
import { ApiError, NETWORK_MESSAGE, type Api, type NearbyPlace, type Place } from '../src/lib/api'
import { notices } from '../src/lib/notices'
import { Stub, fakeApi, fakeAuth, makePlace, mountWith, near, testConfig, testRouter } from './helpers'

const places = [
  near({ placeId: 'far', name: 'Far Park', lat: 47.4, lng: 8.6 }, 4200),
  near({ placeId: 'close', name: 'Close Park', lat: 47.371, lng: 8.541 }, 120),
  near({ placeId: 'mid', name: 'Mid Park', lat: 47.38, lng: 8.55, address: 'Lake Road 1' }, 950),
]

/** The Leaflet map a test's PlaceMap made last, to zoom it as a person would. */
let latestMap: L.Map | null = null
L.Map.addInitHook(function (this: L.Map) {
  latestMap = this
})

describe('PlaceList', () => {
  it('lists places sorted by distance with links to their pages', () => {
    const { wrapper } = mountWith(PlaceList, { props: { places } })
    const list = wrapper.get('ol')
    expect(list.attributes('aria-label')).toBe('Places by distance')
    const items = list.findAll('li')
    expect(items.map((li) => li.get('.name').text())).toEqual(['Close Park', 'Mid Park', 'Far Park'])
    expect(items[0]!.text()).toContain('120 m away')
    expect(items[1]!.text()).toContain('950 m away')
    expect(items[2]!.text()).toContain('4.2 km away')
    expect(items[1]!.text()).toContain('Lake Road 1')
    expect(items[0]!.get('a').attributes('href')).toBe('/places/close')
  })

  it('says what the distances are from when that is not the person', () => {
    const { wrapper } = mountWith(PlaceList, { props: { places, distanceFrom: 'the default location' } })
    expect(wrapper.findAll('li')[0]!.text()).toContain('120 m from the default location')
    expect(wrapper.text()).not.toContain('away')
  })
})

/** Leaflet reads the container's size, which the test DOM does not lay out: a 400 x 300 px map. */
function sizeTheMap() {
  vi.spyOn(HTMLElement.prototype, 'clientWidth', 'get').mockReturnValue(400)
  vi.spyOn(HTMLElement.prototype, 'clientHeight', 'get').mockReturnValue(300)
}

/** The person asks for reduced motion: the map moves without a glide, at its new place at once. */
function withReducedMotion() {
  vi.spyOn(window, 'matchMedia').mockImplementation(
    (query: string) => ({ matches: query === '(prefers-reduced-motion: reduce)', media: query }) as MediaQueryList,
  )
}

describe('PlaceMap without tiles', () => {
  const base = { center: { lat: 47.37, lng: 8.54 }, zoom: 13, places, attribution: '' }

  it('draws a keyboard-reachable labelled marker per place and no tile layer', async () => {
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '' }, attachTo: document.body })
    await flushPromises()
    expect(wrapper.find('.leaflet-tile-pane').exists()).toBe(true)
    expect(wrapper.findAll('.leaflet-tile-pane .leaflet-layer')).toHaveLength(0)
    expect(wrapper.findAll('img.leaflet-tile')).toHaveLength(0)
    expect(wrapper.text()).toContain('Map tiles are off')

    const markers = wrapper.findAll('.leaflet-marker-pane .hp-marker')
    expect(markers).toHaveLength(3)
    const labels = markers.map((m) => m.attributes('aria-label'))
    expect(labels).toContain('Close Park, Park, 120 m away')
    expect(labels).toContain('Far Park, Park, 4.2 km away')
    for (const m of markers) {
      expect(m.attributes('tabindex')).toBe('0')
      expect(m.attributes('role')).toBe('button')
    }
    const container = wrapper.get('.leaflet-container')
    expect(container.attributes('aria-label')).toMatch(/^Map of places/)
    expect(container.attributes('role')).toBe('region')
    expect(container.attributes('aria-roledescription')).toBe('map')

    await wrapper.get('[data-place-id="mid"]').trigger('click')
    expect(wrapper.emitted('select')).toEqual([['mid']])
    await wrapper.get('[data-place-id="far"]').trigger('keypress', { key: 'Enter', keyCode: 13 })
    expect(wrapper.emitted('select')).toEqual([['mid'], ['far']])
    await wrapper.get('[data-place-id="close"]').trigger('keypress', { key: ' ', keyCode: 32 })
    expect(wrapper.emitted('select')).toEqual([['mid'], ['far'], ['close']])
    // Other keys (zooming with "+", typing) do not open the place.
    await wrapper.get('[data-place-id="close"]').trigger('keypress', { key: '+', keyCode: 43 })
    expect(wrapper.emitted('select')).toHaveLength(3)
    // No attribution line without tiles to credit (not even Leaflet's own).
    expect(wrapper.find('.leaflet-control-attribution').exists()).toBe(false)
    wrapper.unmount()
  })

  it('zooms with Space on a zoom button, as with Enter, instead of scrolling the page', async () => {
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '' }, attachTo: document.body })
    await flushPromises()
    for (const selector of ['.leaflet-control-zoom-in', '.leaflet-control-zoom-out']) {
      const button = wrapper.get(selector).element as HTMLElement
      expect(button.getAttribute('role')).toBe('button')
      const click = vi.spyOn(button, 'click')
      const space = new KeyboardEvent('keydown', { key: ' ', keyCode: 32, bubbles: true, cancelable: true })
      button.dispatchEvent(space)
      expect(space.defaultPrevented, 'the page does not scroll').toBe(true)
      expect(click).toHaveBeenCalledTimes(1)
    }
    // Other keys are left alone: Tab on a zoom button moves on, Space on the map itself is not taken.
    const zoomIn = wrapper.get('.leaflet-control-zoom-in').element as HTMLElement
    const click = vi.spyOn(zoomIn, 'click')
    click.mockClear()
    const tab = new KeyboardEvent('keydown', { key: 'Tab', keyCode: 9, bubbles: true, cancelable: true })
    zoomIn.dispatchEvent(tab)
    expect(tab.defaultPrevented).toBe(false)
    expect(click).not.toHaveBeenCalled()
    const other = new KeyboardEvent('keydown', { key: ' ', keyCode: 32, bubbles: true, cancelable: true })
    wrapper.get('.leaflet-container').element.dispatchEvent(other)
    expect(other.defaultPrevented).toBe(false)
    wrapper.unmount()
  })

  it('leaves the mouse wheel to the page until the map is in use (focused or clicked)', async () => {
    // A map with a size, so that Leaflet can zoom it (the test DOM lays nothing out).
    sizeTheMap()
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, places: [], tileUrl: '' }, attachTo: document.body })
    await flushPromises()
    const container = wrapper.get('.leaflet-container').element as HTMLElement
    const zoomOut = wrapper.get('.leaflet-control-zoom-out').element as HTMLElement
    const moves = () => (wrapper.emitted('move') ?? []).length
    /** One notch of the wheel over the map, then Leaflet's debounce. */
    const wheel = async () => {
      const event = new WheelEvent('wheel', { deltaY: -120, deltaMode: 0, bubbles: true, cancelable: true })
      Object.defineProperties(event, { clientX: { value: 200 }, clientY: { value: 150 } }) // happy-dom's WheelEvent has none
      container.dispatchEvent(event)
      await new Promise((r) => setTimeout(r, 80))
      await flushPromises()
      return event
    }

    const before = moves()
    const scrolled = await wheel()
    expect(scrolled.defaultPrevented, 'the page scrolls').toBe(false)
    expect(moves(), 'the map did not zoom').toBe(before)

    container.focus()
    const zoomed = await wheel()
    expect(zoomed.defaultPrevented).toBe(true)
    expect(moves(), 'the map zoomed').toBeGreaterThan(before)

    // Focus moving within the map keeps it in use; leaving the map gives the wheel back to the page.
    zoomOut.focus()
    const during = moves()
    await wheel()
    expect(moves()).toBeGreaterThan(during)
    zoomOut.blur()
    const after = moves()
    expect((await wheel()).defaultPrevented).toBe(false)
    expect(moves()).toBe(after)
    wrapper.unmount()
  })

  it("shows a marker's name above it while it has the keyboard focus or the mouse, as text", async () => {
    const odd = near({ placeId: 'odd', name: '<b>Bold</b> & Park', lat: 47.39, lng: 8.56 }, 2000)
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, places: [...places, odd], tileUrl: '' }, attachTo: document.body })
    await flushPromises()
    const tooltips = () => wrapper.findAll('.leaflet-tooltip').map((t) => t.text())
    expect(tooltips()).toEqual([])
    const marker = wrapper.get('[data-place-id="mid"]').element as HTMLElement
    marker.focus()
    await flushPromises()
    expect(tooltips()).toEqual(['Mid Park'])
    // Seen, not heard: the marker's own label already says the name, so it is not read a second time.
    expect(wrapper.get('.leaflet-tooltip').attributes('aria-hidden')).toBe('true')
    expect(marker.hasAttribute('aria-describedby')).toBe(false)
    // Escape puts the name away while the marker keeps the focus (WCAG 1.4.13: dismissible).
    marker.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }))
    await flushPromises()
    expect(tooltips()).toEqual([])
    expect(document.activeElement).toBe(marker)
    marker.blur()
    await flushPromises()
    expect(tooltips()).toEqual([])

    // A name is never read as HTML.
    const other = wrapper.get('[data-place-id="odd"]')
    await other.trigger('mouseover')
    expect(tooltips()).toEqual(['<b>Bold</b> & Park'])
    expect(wrapper.find('.leaflet-tooltip b').exists()).toBe(false)
    expect(wrapper.get('.leaflet-tooltip').attributes('aria-hidden')).toBe('true')
    expect(other.attributes('aria-describedby')).toBeUndefined()
    // Hoverable (WCAG 1.4.13): it stays while the pointer moves from the marker onto it, and goes once it
    // has left both.
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    await other.trigger('mouseout')
    const name = wrapper.get('.leaflet-tooltip')
    await name.trigger('mouseenter')
    await pause(400)
    expect(tooltips()).toEqual(['<b>Bold</b> & Park'])
    await name.trigger('mouseleave')
    await pause(400)
    expect(tooltips()).toEqual([])
    await other.trigger('mouseover')
    await other.trigger('mouseout') // and off the marker alone, after the same short while
    await pause(400)
    expect(tooltips()).toEqual([])
    // No second, native tooltip beside it.
    expect(other.attributes('title')).toBeUndefined()
    wrapper.unmount()
  })

  it('moves without gliding when the person asks for reduced motion', async () => {
    sizeTheMap()
    const panRight = async (reduce: boolean) => {
      vi.spyOn(window, 'matchMedia').mockImplementation(
        (query: string) => ({ matches: reduce && query === '(prefers-reduced-motion: reduce)', media: query }) as MediaQueryList,
      )
      const { wrapper } = mountWith(PlaceMap, { props: { ...base, places: [], tileUrl: '' }, attachTo: document.body })
      await flushPromises()
      const container = wrapper.get('.leaflet-container').element
      container.dispatchEvent(new FocusEvent('focus'))
      const before = (wrapper.emitted('move') ?? []).length
      container.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', keyCode: 39, bubbles: true }))
      // Without animation the map is at its new place at once.
      const atOnce = (wrapper.emitted('move') ?? []).length - before
      wrapper.unmount()
      return atOnce
    }
    expect(await panRight(false), 'Leaflet glides by default').toBe(0)
    expect(await panRight(true)).toBe(1)
  })

  it('adds a tile layer when a tile URL is configured', async () => {
    const { wrapper } = mountWith(PlaceMap, {
      props: { ...base, tileUrl: 'http://tiles.test/{z}/{x}/{y}.png', attribution: '© Test' },
      attachTo: document.body,
    })
    await flushPromises()
    expect(wrapper.findAll('.leaflet-tile-pane .leaflet-layer')).toHaveLength(1)
    expect(wrapper.text()).not.toContain('Map tiles are off')
    // The tiles' owners are credited, as their terms ask.
    expect(wrapper.get('.leaflet-control-attribution').text()).toContain('© Test')
    wrapper.unmount()

    // An attribution without tiles credits nothing.
    const { wrapper: plain } = mountWith(PlaceMap, { props: { ...base, tileUrl: '', attribution: '© Test' }, attachTo: document.body })
    await flushPromises()
    expect(plain.find('.leaflet-control-attribution').exists()).toBe(false)
    plain.unmount()
  })

  it("reports the person's first move as theirs, and lets go of the map when it is taken away", async () => {
    const remove = vi.spyOn(L.Map.prototype, 'remove')
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '' }, attachTo: document.body })
    await flushPromises()
    expect(wrapper.emitted('move')).toBeUndefined()
    const container = wrapper.get('.leaflet-container')
    container.element.dispatchEvent(new FocusEvent('focus'))
    container.element.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', keyCode: 39, bubbles: true }))
    await flushPromises()
    expect((wrapper.emitted('move') ?? []).map(([, byUser]) => byUser)).toEqual([true])
    wrapper.unmount()
    expect(remove).toHaveBeenCalledOnce()
  })

  it('fits the map to the places found and the person, unless told not to or while a new place is placed', async () => {
    sizeTheMap()
    type Move = [{ lat: number; lng: number }, boolean]
    const west = near({ placeId: 'w', lat: 47.3, lng: 8.4 }, 900)
    const east = near({ placeId: 'e', lat: 47.5, lng: 8.7 }, 1500)
    const fitted = async (props: Record<string, unknown>) => {
      const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '', fit: true, ...props }, attachTo: document.body })
      await flushPromises()
      const moves = (wrapper.emitted('move') ?? []) as Move[]
      return { wrapper, moves }
    }
    const expectAround = (moves: Move[]) => {
      expect(moves.length).toBeGreaterThan(0)
      expect(moves.every(([, byUser]) => !byUser)).toBe(true)
      const [{ lat, lng }] = moves.at(-1)!
      // Between the two, a little north of their middle: a pin and its name stand above the point, so the
      // top of the map keeps more room.
      expect(lat).toBeGreaterThan(47.4)
      expect(lat).toBeLessThan(47.46)
      expect(lng).toBeCloseTo(8.55, 1)
    }

    const both = await fitted({ places: [west, east] })
    expectAround(both.moves)
    both.wrapper.unmount()
    // One place and the person's own position: both in view.
    const withMe = await fitted({ places: [east], userPosition: { lat: 47.3, lng: 8.4 } })
    expectAround(withMe.moves)
    withMe.wrapper.unmount()
    // A single point is not fitted (it would zoom in all the way).
    const single = await fitted({ places: [east] })
    expect(single.moves).toEqual([])
    single.wrapper.unmount()
    // Placing a new place: the map stays where it is. Searched where the person panned to: it stays centred there
    // (zoomed out only as far as the places need)...
    const picking = await fitted({ places: [west, east], picking: true })
    expect(picking.moves).toEqual([])
    picking.wrapper.unmount()
    const still = await fitted({ places: [west, east], fit: false })
    expect(still.moves.map(([{ lat, lng }, byUser]) => [lat.toFixed(4), lng.toFixed(4), byUser])).toEqual([['47.3700', '8.5400', false]])
    // ...until fitting is asked for again.
    await still.wrapper.setProps({ fit: true })
    expectAround((still.wrapper.emitted('move') ?? []) as Move[])
    still.wrapper.unmount()
  })

  it("shows the person's own position as a dot, and takes it away when it is no longer known", async () => {
    const { wrapper } = mountWith(PlaceMap, {
      props: { ...base, places: [], tileUrl: '', userPosition: { lat: 47.37, lng: 8.54 } },
      attachTo: document.body,
    })
    await flushPromises()
    const dots = () => wrapper.findAll('.leaflet-overlay-pane path')
    expect(dots()).toHaveLength(1)
    expect(dots()[0]!.attributes()).toMatchObject({ role: 'img', 'aria-label': 'Your location' })
    await wrapper.setProps({ userPosition: null })
    expect(dots()).toHaveLength(0)
    wrapper.unmount()
  })

  it('tells the app own moves (a new centre) from the person moving the map', async () => {
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '' }, attachTo: document.body })
    await flushPromises()
    await wrapper.setProps({ center: { lat: 47.5, lng: 8.7 } })
    type Move = [{ lat: number; lng: number }, boolean]
    const moves = [...((wrapper.emitted('move') ?? []) as Move[])]
    expect(moves.length).toBeGreaterThan(0)
    expect(moves.every(([, byUser]) => byUser === false)).toBe(true)
    expect(moves.at(-1)![0].lat).toBeCloseTo(47.5)

    // A keyboard pan is the person's (Leaflet's keyboard handler pans the map).
    const container = wrapper.get('.leaflet-container')
    container.element.dispatchEvent(new FocusEvent('focus'))
    container.element.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', keyCode: 39, bubbles: true }))
    await flushPromises()
    const after = (wrapper.emitted('move') ?? []) as Move[]
    expect(after).toHaveLength(moves.length + 1)
    expect(after.at(-1)![1]).toBe(true)
    expect(after.at(-1)![0].lng).toBeGreaterThan(8.7)
    wrapper.unmount()
  })

  it('moves with a tap on its arrow buttons too, for a pointer that cannot drag, and a tap there picks nothing', async () => {
    sizeTheMap()
    withReducedMotion() // no glide: at its new place at once
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '', picking: true }, attachTo: document.body })
    await flushPromises()
    type Move = [{ lat: number; lng: number }, boolean]
    const moves = () => (wrapper.emitted('move') ?? []) as Move[]
    const buttons = wrapper.findAll('.hp-pan button')
    expect(buttons.map((b) => [b.attributes('aria-label'), b.attributes('type')])).toEqual([
      ['Move the map north', 'button'],
      ['Move the map west', 'button'],
      ['Move the map east', 'button'],
      ['Move the map south', 'button'],
    ])
    const before = moves().length
    await buttons[2]!.trigger('click')
    await flushPromises()
    expect(moves()).toHaveLength(before + 1)
    const [east, byUser] = moves().at(-1)!
    expect(byUser).toBe(true) // the person's move: "Search this area" is offered
    expect(east.lng).toBeGreaterThan(base.center.lng)
    await buttons[0]!.trigger('click')
    await flushPromises()
    expect(moves().at(-1)![0].lat).toBeGreaterThan(east.lat)
    expect(wrapper.emitted('pick')).toBeUndefined() // not a tap on the map
    wrapper.unmount()
  })

  it('redraws markers when the places change and reports map clicks only while picking', async () => {
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '' }, attachTo: document.body })
    await flushPromises()
    await wrapper.setProps({ places: places.slice(0, 1) })
    expect(wrapper.findAll('.leaflet-marker-pane .hp-marker')).toHaveLength(1)

    await wrapper.get('.leaflet-container').trigger('click', { clientX: 5, clientY: 5 })
    expect(wrapper.emitted('pick')).toBeUndefined()
    expect(wrapper.text()).not.toContain('the position of the new place')
    const map = wrapper.get('.leaflet-container')
    await map.trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('pick')).toBeUndefined()
    expect(map.attributes('aria-label')).not.toContain('Press Enter')
    await wrapper.setProps({ picking: true })
    // Said for a mouse as well as a finger, and the keyboard.
    expect(wrapper.text()).toContain('Tap or click the map to set the position of the new place')
    expect(wrapper.text()).toContain('pan it and press Enter')
    expect(map.attributes('aria-label')).toContain("Press Enter to set the new place's position at the centre of the map.")
    // Enter or Space on the map itself picks its centre; not held down, with a modifier, or on a control.
    await map.trigger('keydown', { key: 'Enter' })
    await map.trigger('keydown', { key: ' ' })
    await map.trigger('keydown', { key: 'Enter', repeat: true })
    await map.trigger('keydown', { key: 'Enter', ctrlKey: true })
    await wrapper.get('.leaflet-control-zoom-in').trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('pick')).toEqual([[base.center], [base.center]])
    expect(wrapper.get('[role="status"]').text()).toBe('Position set to the centre of the map: 47.37000, 8.54000.')
    wrapper.emitted('pick')!.splice(0)
    await wrapper.get('.leaflet-container').trigger('click', { clientX: 5, clientY: 5 })
    expect(wrapper.emitted('pick')).toHaveLength(1)
    const [pos] = wrapper.emitted('pick')![0] as [{ lat: number; lng: number }]
    expect(Number.isFinite(pos.lat) && Number.isFinite(pos.lng)).toBe(true)
    // A marker tapped while placing a new place puts it there; it does not open the marker's place.
    await wrapper.get('.leaflet-marker-pane .hp-marker').trigger('click')
    expect(wrapper.emitted('select')).toBeUndefined()
    expect(wrapper.emitted('pick')!.at(-1)).toEqual([{ lat: places[0]!.place.lat, lng: places[0]!.place.lng }])
    wrapper.unmount()
  })

  /** Leaflet fades a closed popup out before it takes it from the page. */
  const afterFade = () => new Promise((resolve) => setTimeout(resolve, 250))

  it('shows places at the very same position as one marker that lists them, each opening its place', async () => {
    const spot = { lat: 47.3702, lng: 8.5401 }
    const shared = [
      near({ placeId: 'a', name: 'Ash Park', ...spot }, 120),
      near({ placeId: 'b', name: 'Birch Park', ...spot, type: 'restaurant' }, 120),
      near({ placeId: 'c', name: 'Cedar Park', ...spot }, 120),
    ]
    const { wrapper } = mountWith(PlaceMap, {
      props: { ...base, tileUrl: '', places: [...shared, places[0]!] },
      attachTo: document.body,
    })
    await flushPromises()
    const markers = wrapper.findAll('.leaflet-marker-pane .hp-marker')
    expect(markers).toHaveLength(2) // the three together, and Far Park
    const stack = wrapper.get('.hp-marker-stack')
    expect(stack.attributes('aria-label')).toBe('3 places here: Ash Park, Birch Park, Cedar Park; 120 m away')
    expect(stack.attributes('role')).toBe('button')
    expect(stack.attributes('tabindex')).toBe('0')
    expect(stack.attributes('data-place-ids')).toBe('a b c')
    expect(stack.get('.hp-count').text()).toBe('3')

    // A tap lists them; picking one opens its place and closes the list.
    await stack.trigger('click')
    // The map pans to show the list whole: that move is the app's, not the person's (no "Search this area").
    const moves = (wrapper.emitted('move') ?? []) as [unknown, boolean][]
    expect(moves.length).toBeGreaterThan(0)
    expect(moves.map(([, byUser]) => byUser)).not.toContain(true)
    const list = () => document.querySelector<HTMLElement>('.leaflet-popup .hp-stack')
    expect(list()?.getAttribute('aria-label')).toBe('3 places here')
    const buttons = () => [...list()!.querySelectorAll<HTMLButtonElement>('button')]
    expect(buttons().map((b) => b.textContent)).toEqual(['Ash Park Park', 'Birch Park Restaurant', 'Cedar Park Park'])
    expect(wrapper.emitted('select')).toBeUndefined()
    expect(document.activeElement).not.toBe(buttons()[0]) // a tap does not move the focus
    buttons()[1]!.click()
    expect(wrapper.emitted('select')).toEqual([['b']])
    await afterFade()
    expect(list()).toBeNull()

    // From the keyboard, the list takes the focus; closing it (Escape) gives it back to the marker.
    await stack.trigger('keypress', { key: 'Enter', keyCode: 13 })
    expect(document.activeElement).toBe(buttons()[0])
    buttons()[0]!.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', keyCode: 27, bubbles: true }))
    await afterFade()
    expect(list()).toBeNull()
    expect(document.activeElement).toBe(stack.element)

    // While a new place is being placed, the marker gives its position, as a single one does.
    await wrapper.setProps({ picking: true })
    await wrapper.get('.hp-marker-stack').trigger('click')
    expect(list()).toBeNull()
    expect(wrapper.emitted('pick')).toEqual([[spot]])
    wrapper.unmount()
  })

  it('searched where the person put it, stays centred there and zooms out only to show places outside its view', async () => {
    sizeTheMap()
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, zoom: 15, tileUrl: '', fit: false, places: [] }, attachTo: document.body })
    await flushPromises()
    const centre = () => latestMap!.getCenter()
    const moves = () => ((wrapper.emitted('move') ?? []) as [unknown, boolean][]).filter(([, byUser]) => byUser)

    await wrapper.setProps({ places: [near({ placeId: 'a', lat: 47.3705, lng: 8.5405 }, 60)] }) // in view
    await flushPromises()
    expect(latestMap!.getZoom()).toBe(15)

    // A 20 km search: places 9 km north and 12 km west of the centre, far outside a view at zoom 15.
    const far = [near({ placeId: 'b', lat: 47.451, lng: 8.54 }, 9000), near({ placeId: 'c', lat: 47.37, lng: 8.381 }, 12000)]
    await wrapper.setProps({ places: far })
    await flushPromises()
    const view = latestMap!.getBounds()
    expect(far.every(({ place }) => view.contains([place.lat, place.lng]))).toBe(true)
    expect(latestMap!.getZoom()).toBeLessThan(15)
    expect(latestMap!.getZoom()).toBeGreaterThanOrEqual(9) // as far out as needed, no further
    expect([centre().lat, centre().lng].map((n) => n.toFixed(4))).toEqual(['47.3700', '8.5400'])
    expect(moves()).toEqual([]) // the app's zoom: no "Search this area" for it
    wrapper.unmount()
  })

  it('brings a position set away from it into view, as a move of the person, and leaves one in view alone', async () => {
    sizeTheMap()
    withReducedMotion()
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '', places: [] }, attachTo: document.body })
    await flushPromises()
    const moves = () => (wrapper.emitted('move') ?? []) as [{ lat: number; lng: number }, boolean][]
    const map = wrapper.vm as unknown as { reveal: (p: { lat: number; lng: number }) => void }
    map.reveal({ lat: 47.371, lng: 8.541 }) // in view
    await flushPromises()
    expect(moves()).toEqual([])
    map.reveal({ lat: 51.6, lng: 0.05 }) // "Use where I am", far away
    await flushPromises()
    const [centre, byUser] = moves().at(-1)!
    expect([centre.lat.toFixed(2), centre.lng.toFixed(2), byUser]).toEqual(['51.60', '0.05', true])
    expect(latestMap!.getZoom()).toBe(base.zoom)
    wrapper.unmount()
  })

  it('turned to search where the person panned, does not zoom out to the places of the search before', async () => {
    sizeTheMap()
    const old = [near({ placeId: 'a', lat: 47.37, lng: 8.54 }, 100), near({ placeId: 'b', lat: 47.372, lng: 8.542 }, 300)]
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '', fit: true, places: old }, attachTo: document.body })
    await flushPromises()
    latestMap!.setView([47.37, 8.65], 14, { animate: false }) // the person panned ~8 km east
    await flushPromises()
    await wrapper.setProps({ fit: false }) // "Search this area": the old places are still set, out of view
    await flushPromises()
    expect(latestMap!.getZoom()).toBe(14)
    await wrapper.setProps({ places: [near({ placeId: 'c', lat: 47.371, lng: 8.651 }, 150)] }) // found here
    await flushPromises()
    expect(latestMap!.getZoom()).toBe(14)
    expect(latestMap!.getCenter().lng.toFixed(2)).toBe('8.65')
    wrapper.unmount()
  })

  it('draws the markers of new places once, at the zoom the fit to them chose', async () => {
    sizeTheMap()
    // 100 m apart: one marker at zoom 13 (~9 m a pixel here), two at the fit's zoom.
    const places = [near({ placeId: 'a', lat: 47.37, lng: 8.54 }, 100), near({ placeId: 'b', lat: 47.3709, lng: 8.54 }, 200)]
    const made = vi.spyOn(L, 'marker')
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '', fit: true, places: [] }, attachTo: document.body })
    await flushPromises()
    made.mockClear()
    await wrapper.setProps({ places })
    await flushPromises()
    expect(latestMap!.getZoom()).toBeGreaterThan(13)
    expect(wrapper.findAll('.leaflet-marker-pane .hp-marker').map((m) => m.attributes('data-place-id'))).toEqual(['a', 'b'])
    expect(made).toHaveBeenCalledTimes(2) // not a shared marker first, then two
    // The same places again, with new distances: drawn afresh (their labels), once.
    made.mockClear()
    await wrapper.setProps({ places: places.map((p) => ({ ...p, distanceM: p.distanceM + 50 })) })
    await flushPromises()
    expect(made).toHaveBeenCalledTimes(2)
    wrapper.unmount()
  })

  it('shows places whose pins would cover each other as one marker, until a zoom sets them apart', async () => {
    const spot = { lat: 47.3702, lng: 8.5401 }
    const twins = { lat: 47.3792, lng: 8.5401 } // 1 km north: two places at the very same position
    const shown = [
      near({ placeId: 'a', name: 'Ash Park', ...spot }, 100),
      near({ placeId: 'b', name: 'Birch Park', lat: spot.lat + 0.0003, lng: spot.lng }, 130), // 33 m north
      near({ placeId: 'c', name: 'Cedar Park', ...twins }, 1100),
      near({ placeId: 'd', name: 'Dogwood Park', ...twins }, 1100),
    ]
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '', places: shown }, attachTo: document.body })
    await flushPromises()
    const drawn = () =>
      wrapper
        .findAll('.leaflet-marker-pane .hp-marker')
        .map((m) => m.attributes('data-place-ids') ?? m.attributes('data-place-id'))
        .sort()
    const zoomTo = async (zoom: number) => {
      latestMap!.setZoom(zoom, { animate: false })
      await flushPromises()
    }
    // At zoom 13 a pixel is ~13 m: 33 m apart, the pins would cover each other.
    expect(drawn()).toEqual(['a b', 'c d'])
    expect(wrapper.get('.hp-marker-stack[data-place-ids="a b"]').attributes('aria-label')).toBe(
      '2 places here: Ash Park, Birch Park; 100 m to 130 m away',
    )
    // At 18 (~0.4 m a pixel) they are 80 px apart; the places at one position never part.
    await zoomTo(18)
    expect(drawn()).toEqual(['a', 'b', 'c d'])
    await zoomTo(12)
    expect(drawn()).toEqual(['a b', 'c d'])
    // A zoom that changes no group redraws nothing: the focus stays on the very same marker.
    const stack = wrapper.get('.hp-marker-stack[data-place-ids="a b"]').element as HTMLElement
    stack.focus()
    await zoomTo(13)
    expect(wrapper.get('.hp-marker-stack[data-place-ids="a b"]').element).toBe(stack)
    expect(document.activeElement).toBe(stack)
    // From the list, each entry opens its own place.
    await wrapper.get('.hp-marker-stack[data-place-ids="a b"]').trigger('click')
    const entries = [...document.querySelectorAll<HTMLButtonElement>('.leaflet-popup .hp-stack button')]
    // Not at one position: each entry says how far it is.
    expect(entries.map((b) => b.textContent)).toEqual(['Ash Park Park · 100 m away', 'Birch Park Park · 130 m away'])
    entries[1]!.click()
    expect(wrapper.emitted('select')).toEqual([['b']])
    wrapper.unmount()
  })

  it('names the first five of many places at one position and counts the rest', async () => {
    const spot = { lat: 47.3702, lng: 8.5401 }
    const many = 'ABCDEFG'.split('').map((letter) => near({ placeId: letter, name: `Park ${letter}`, ...spot }, 0))
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '', places: many }, attachTo: document.body })
    await flushPromises()
    expect(wrapper.findAll('.leaflet-marker-pane .hp-marker')).toHaveLength(1)
    expect(wrapper.get('.hp-marker-stack').attributes('aria-label')).toBe(
      '7 places here: Park A, Park B, Park C, Park D, Park E and 2 more; 0 m away',
    )
    await wrapper.get('.hp-marker-stack').trigger('click')
    expect(document.querySelectorAll('.leaflet-popup .hp-stack button')).toHaveLength(7) // the list has them all
    // New places close a list of the old ones.
    await wrapper.setProps({ places: many.slice(0, 1) })
    await afterFade()
    expect(document.querySelector('.leaflet-popup')).toBeNull()
    expect(wrapper.find('.hp-marker-stack').exists()).toBe(false)
    wrapper.unmount()
  })

  it('keeps the focus where it was when the places are redrawn: on the new marker there, or on the map', async () => {
    const spot = { lat: 47.3702, lng: 8.5401 }
    const shared = [near({ placeId: 'a', name: 'Ash Park', ...spot }, 120), near({ placeId: 'b', name: 'Birch Park', ...spot }, 120)]
    const far = places[0]!
    const { wrapper } = mountWith(PlaceMap, { props: { ...base, tileUrl: '', places: [...shared, far] }, attachTo: document.body })
    await flushPromises()
    const stack = () => wrapper.get('.hp-marker-stack').element as HTMLElement
    const redraw = async (shown: NearbyPlace[]) => {
      await wrapper.setProps({ places: shown.map((p) => ({ ...p })) })
      await afterFade()
    }

    // A shared marker with the focus: the new one at its position takes it.
    stack().focus()
    const old = stack()
    await redraw([...shared, far])
    expect(stack()).not.toBe(old)
    expect(document.activeElement).toBe(stack())

    // Its list with the focus: the list closes, and the new marker at its position has the focus.
    await wrapper.get('.hp-marker-stack').trigger('keypress', { key: 'Enter', keyCode: 13 })
    expect(document.activeElement?.closest('.hp-stack')).not.toBeNull()
    await redraw([...shared, near({ placeId: 'c', name: 'Cedar Park', ...spot }, 120)])
    expect(document.querySelector('.leaflet-popup')).toBeNull()
    expect(document.activeElement).toBe(stack())
    expect(stack().getAttribute('data-place-ids')).toBe('a b c')

    // A marker whose place is gone: the map has the focus.
    const farMarker = () => wrapper.find(`.hp-marker[data-place-id="${far.place.placeId}"]`)
    await redraw([...shared, far])
    ;(farMarker().element as HTMLElement).focus()
    await redraw(shared)
    expect(farMarker().exists()).toBe(false)
    expect(document.activeElement).toBe(wrapper.get('.leaflet-container').element)

    // Focus elsewhere on the page stays there.
    const outside = document.body.appendChild(document.createElement('button'))
    outside.focus()
    await redraw([...shared, far])
    expect(document.activeElement).toBe(outside)
    outside.remove()
    wrapper.unmount()
  })

  it('ignores a picked position that is not a number (a coordinate being typed), keeping the last marker', async () => {
    const { wrapper } = mountWith(PlaceMap, {
      props: { ...base, tileUrl: '', picking: true, pickedPosition: { lat: 47.37, lng: 8.54 } },
      attachTo: document.body,
    })
    await flushPromises()
    const picked = () => wrapper.findAll('.leaflet-marker-pane .hp-marker-new')
    expect(picked()).toHaveLength(1)
    // Leaflet would throw "Invalid LatLng object: (NaN, 8.54)" here.
    await wrapper.setProps({ pickedPosition: { lat: Number.NaN, lng: 8.54 } })
    await wrapper.setProps({ pickedPosition: { lat: 47.37, lng: Number.POSITIVE_INFINITY } })
    await flushPromises()
    expect(picked()).toHaveLength(1)
    await wrapper.setProps({ pickedPosition: { lat: 47.4, lng: 8.6 } })
    expect(picked()).toHaveLength(1)
    // Named, but neither a stop for the keyboard nor a target for clicks: a tap on it still sets the position.
    expect(picked()[0]!.attributes('title')).toBe('Position of the new place')
    expect(picked()[0]!.attributes('tabindex')).toBeUndefined()
    expect(picked()[0]!.classes()).not.toContain('leaflet-interactive')
    await wrapper.setProps({ picking: false })
    expect(picked()).toHaveLength(0)
    // Placing given up while a coordinate was half typed: the marker goes all the same.
    await wrapper.setProps({ picking: true, pickedPosition: { lat: 47.4, lng: 8.6 } })
    expect(picked()).toHaveLength(1)
    await wrapper.setProps({ picking: false, pickedPosition: { lat: Number.NaN, lng: 8.6 } })
    expect(picked()).toHaveLength(0)
    // Nothing to keep: a first position that is not a number draws no marker at all.
    await wrapper.setProps({ picking: true, pickedPosition: { lat: Number.NaN, lng: Number.NaN } })
    expect(picked()).toHaveLength(0)
    wrapper.unmount()
  })
})

/** The start page, signed in, with the map hidden and no places nearby. */
async function homeSignedInWithoutMap(calls: Partial<Api> = {}) {
  vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
  localStorage.setItem('happypath.showMap', 'false')
  const api = fakeApi({ nearbyPlaces: vi.fn(async () => ({ places: [] })), ...calls })
  const { wrapper } = mountWith(HomeView, { api, auth: fakeAuth({ sub: 'me', name: 'Me' }), attachTo: document.body })
  await flushPromises()
  return wrapper
}

/** Signed in, the map shown (its chunk loaded), "Add a place" pressed: the page and its form. */
async function creatingPlaceOnTheMap(api: Api, onError?: (err: unknown) => void) {
  const { wrapper } = mountWith(HomeView, { api, auth: fakeAuth({ sub: 'me', name: 'Me' }), attachTo: document.body })
  if (onError) wrapper.vm.$.appContext.config.errorHandler = onError
  await flushPromises()
  await vi.dynamicImportSettled()
  await flushPromises()
  await wrapper.findAll('button').find((b) => b.text() === 'Add a place')!.trigger('click')
  await flushPromises()
  return { wrapper, form: wrapper.get('form') }
}

/** Signed in, the map hidden, "Add a place" pressed: the page and its form. */
async function creatingPlace(calls: Partial<Api> = {}) {
  const wrapper = await homeSignedInWithoutMap(calls)
  await wrapper.findAll('button').find((b) => b.text() === 'Add a place')!.trigger('click')
  return { wrapper, form: wrapper.get('form') }
}

describe('useGeolocation', () => {
  function device(answer: (ok: PositionCallback, fail: PositionErrorCallback) => void) {
    const getCurrentPosition = vi.fn((ok: PositionCallback, fail?: PositionErrorCallback | null, _options?: PositionOptions) =>
      answer(ok, fail!),
    )
    return { geolocation: { getCurrentPosition } as unknown as Geolocation, getCurrentPosition }
  }

  it("uses the device's position when shared, asking for a rough one at most 5 minutes old", async () => {
    let report!: PositionCallback
    const { geolocation, getCurrentPosition } = device((ok) => (report = ok))
    const geo = useGeolocation([47.37, 8.54], geolocation)
    const done = geo.locate(3000)
    expect([geo.source.value, geo.note.value]).toEqual(['pending', 'Finding your location…'])
    expect(getCurrentPosition.mock.calls[0]![2]).toEqual({ enableHighAccuracy: false, timeout: 3000, maximumAge: 300_000 })
    report({ coords: { latitude: 46.95, longitude: 7.45 } } as GeolocationPosition)
    await done
    expect([geo.position.value, geo.source.value, geo.note.value]).toEqual([{ lat: 46.95, lng: 7.45 }, 'device', ''])
  })

  it('falls back on the configured centre and says why', async () => {
    const refused = device((_ok, fail) => fail({ code: 1 } as GeolocationPositionError))
    const geo = useGeolocation([47.37, 8.54], refused.geolocation)
    await geo.locate()
    expect(refused.getCurrentPosition.mock.calls[0]![2]).toMatchObject({ timeout: 8000 })
    expect([geo.position.value, geo.source.value, geo.note.value]).toEqual([
      { lat: 47.37, lng: 8.54 },
      'default',
      'Location not shared: showing places near the default location.',
    ])
    // Refused because the browser's settings block the site (it asks no one then): the note says where to allow it.
    const permissions = { query: vi.fn(async () => ({ state: 'denied' }) as PermissionStatus) }
    const blocked = useGeolocation([47.37, 8.54], refused.geolocation, true, permissions)
    await blocked.locate()
    expect(blocked.note.value).toBe(
      "Location is blocked for this site: allow it in the browser's site settings, then choose Use my location again.",
    )
    expect(permissions.query).toHaveBeenCalledWith({ name: 'geolocation' })
    // Refused by the person, who will be asked again: the plain note.
    permissions.query.mockResolvedValue({ state: 'prompt' } as PermissionStatus)
    await blocked.locate()
    expect(blocked.note.value).toBe('Location not shared: showing places near the default location.')
    const lost = useGeolocation([47.37, 8.54], device((_ok, fail) => fail({ code: 3 } as GeolocationPositionError)).geolocation)
    await lost.locate()
    expect(lost.note.value).toBe('Your location could not be found: showing places near the default location.')
    const none = useGeolocation([1, 2], undefined)
    await none.locate()
    expect([none.position.value, none.source.value, none.note.value]).toEqual([
      { lat: 1, lng: 2 },
      'default',
      'This browser cannot share a location: showing places near the default location.',
    ])
  })

  it('says a plain-http page is why the browser refused, not the person', async () => {
    const refusal = () => device((_ok, fail) => fail({ code: 1 } as GeolocationPositionError)).geolocation
    const insecure = useGeolocation([47.37, 8.54], refusal(), false)
    await insecure.locate()
    expect([insecure.source.value, insecure.note.value]).toEqual([
      'default',
      'This page is not secure (https), so the browser does not share a location: showing places near the default location.',
    ])
    const secure = useGeolocation([47.37, 8.54], refusal(), true)
    await secure.locate()
    expect(secure.note.value).toBe('Location not shared: showing places near the default location.')
  })

  it('measures great-circle distances in metres', () => {
    // The API's figure for the same points (geo.distance_m), to the centimetre: both use the mean Earth radius.
    expect(metresBetween({ lat: 0, lng: 0 }, { lat: 0, lng: 1 })).toBeCloseTo(111_195.08, 2)
    expect(metresBetween({ lat: 60, lng: 0 }, { lat: 60, lng: 1 })).toBeCloseTo(55_597, -1)
    expect(metresBetween({ lat: 47.3769, lng: 8.5417 }, { lat: 46.948, lng: 7.4474 })).toBeCloseTo(95_500, -3)
  })
})

describe('HomeView', () => {
  // Each test is a fresh visit: what an earlier one left in the history entry would be taken for a Back.
  beforeEach(() => window.history.replaceState(null, ''))

  it('falls back to the configured centre, loads nearby places and shows list and map', async () => {
    const denied = {
      getCurrentPosition: (_ok: PositionCallback, fail: PositionErrorCallback) =>
        fail({ code: 1, message: 'denied' } as GeolocationPositionError),
    }
    vi.stubGlobal('navigator', { ...navigator, geolocation: denied })
    localStorage.clear()
    const api = fakeApi({
      nearbyPlaces: vi.fn(async () => ({
        places: [...places, near({ placeId: 'cafe', name: 'Cafe Blue', type: 'cafe' }, 50)],
      })),
    })
    const { wrapper } = mountWith(HomeView, { api, auth: fakeAuth(null), attachTo: document.body })
    await flushPromises()
    await vi.dynamicImportSettled()
    await flushPromises()

    expect(api.nearbyPlaces).toHaveBeenCalledWith({ lat: 47.37, lng: 8.54, radius: 5000, limit: 100 })
    expect(wrapper.get('h1').text()).toBe('Parks nearby')
    expect(wrapper.text()).toContain('Location not shared')
    // Only the configured place types (parks), closest first.
    const names = wrapper.findAll('ol[aria-label="Places by distance"] .name').map((n) => n.text())
    expect(names).toEqual(['Close Park', 'Mid Park', 'Far Park'])
    // The lazily loaded map shows the same places, on a plain background.
    expect(wrapper.findAll('.leaflet-marker-pane .hp-marker')).toHaveLength(3)
    expect(wrapper.findAll('img.leaflet-tile')).toHaveLength(0)
    // Signed out: creating a place asks to sign in.
    expect(wrapper.findAll('button').map((b) => b.text())).toContain('Sign in to add a place')

    const toggle = wrapper.findAll('button').find((b) => b.text() === 'Hide map')!
    expect(toggle.attributes('aria-expanded')).toBe('true')
    await toggle.trigger('click')
    expect(wrapper.find('.leaflet-container').exists()).toBe(false)
    expect(localStorage.getItem('happypath.showMap')).toBe('false')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('finds the same search again on Back from a place: distance, area and location, scrolled where it was', async () => {
    const getCurrentPosition = vi.fn((ok: PositionCallback) => ok({ coords: { latitude: 46.95, longitude: 7.45 } } as GeolocationPosition))
    vi.stubGlobal('navigator', { ...navigator, geolocation: { getCurrentPosition } })
    localStorage.setItem('happypath.showMap', 'false')
    const nearbyPlaces = vi.fn(async () => ({ places }))
    const router = testRouter()
    await router.push('/')
    const first = mountWith(HomeView, { api: fakeApi({ nearbyPlaces }), router, attachTo: document.body }).wrapper
    await flushPromises()
    await first.get('select').setValue('20000')
    await flushPromises()
    const scrollY = vi.spyOn(window, 'scrollY', 'get').mockReturnValue(640)
    window.history.replaceState({ current: '/' }, '') // the home page's entry, as the router's web history keeps it
    await router.push('/places/close') // the person opens a place from the list ...
    scrollY.mockRestore()
    first.unmount()
    router.back() // ... and comes back
    await flushPromises()

    nearbyPlaces.mockClear()
    getCurrentPosition.mockClear()
    const scrollTo = vi.spyOn(window, 'scrollTo').mockImplementation(() => {})
    const back = mountWith(HomeView, { api: fakeApi({ nearbyPlaces }), router, attachTo: document.body }).wrapper
    await flushPromises()
    expect(getCurrentPosition).not.toHaveBeenCalled()
    expect(nearbyPlaces).toHaveBeenCalledExactlyOnceWith({ lat: 46.95, lng: 7.45, radius: 20_000, limit: 100 })
    expect((back.get('select').element as HTMLSelectElement).value).toBe('20000')
    expect(back.text()).toContain('Near your location.')
    expect(back.findAll('ol[aria-label="Places by distance"] li')).toHaveLength(3)
    expect(scrollTo).toHaveBeenLastCalledWith({ top: 640 })
    expect(window.history.state.happypathHome).toBeUndefined() // taken: a reload now is a new visit
    back.unmount()
    vi.unstubAllGlobals()
  })

  it("leaves alone an entry that is not the home page's (the browser's Back or Forward has already moved)", async () => {
    const wrapper = await homeSignedInWithoutMap()
    const router = wrapper.vm.$router
    await router.push('/')
    window.history.replaceState({ current: '/places/a' }, '')
    await router.push('/places/b')
    expect(window.history.state).toEqual({ current: '/places/a' })
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('searches the widest circle the API can this close to a pole, and says so', async () => {
    const svalbard = near({ placeId: 'sv', name: 'Svalbard Park', lat: 78.22, lng: 15.65 }, 1200)
    const nearbyPlaces = vi.fn(async ({ radius }: { radius?: number }) => {
      if ((radius ?? 0) > 39092) {
        const message = 'The search area is too large this close to a pole: use a radius of at most 39092 m.'
        throw new ApiError(400, message, { largestRadius: 39092 })
      }
      return { places: radius === 39092 ? [svalbard] : [] }
    })
    const wrapper = await homeSignedInWithoutMap({ nearbyPlaces })
    const pick = (metres: number) => wrapper.get('select').setValue(String(metres))
    const narrowed = () => wrapper.find('.narrowed')

    await pick(50_000)
    await flushPromises()
    expect(nearbyPlaces.mock.calls.map(([q]) => q.radius)).toEqual([5000, 50_000, 39092])
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    expect(narrowed().text()).toBe('Searched within 39 km: the widest search possible this close to the pole.')
    expect(wrapper.findAll('ol[aria-label="Places by distance"] .name').map((n) => n.text())).toEqual(['Svalbard Park'])

    // Nothing there either: the empty list names the radius searched, and no larger one to try.
    nearbyPlaces.mockImplementation(async ({ radius }: { radius?: number }) => {
      if ((radius ?? 0) > 39092) throw new ApiError(400, 'Too large.', { largestRadius: 39092 })
      return { places: [] }
    })
    await pick(20_000)
    await pick(50_000)
    await flushPromises()
    expect(wrapper.text()).toContain('No places within 39 km yet. Add the first one.')

    // A radius that works there searches as chosen, with no note.
    await pick(20_000)
    await flushPromises()
    expect(narrowed().exists()).toBe(false)
    expect(wrapper.text()).toContain('No places within 20 km yet. Try a larger distance, or add the first one.')

    // A refusal naming no radius that works is shown as it is.
    nearbyPlaces.mockImplementation(async () => {
      throw new ApiError(400, 'No search can be centred this close to a pole.')
    })
    await pick(1000)
    await flushPromises()
    expect(wrapper.get('[role="alert"]').text()).toContain('No search can be centred this close to a pole.')
    expect(narrowed().exists()).toBe(false)
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('searches again by itself once the browser is back online after failing to reach the server', async () => {
    const nearbyPlaces = vi
      .fn<Api['nearbyPlaces']>()
      .mockRejectedValueOnce(new ApiError(0, 'Could not reach the server.'))
      .mockResolvedValue({ places })
    const wrapper = await homeSignedInWithoutMap({ nearbyPlaces })
    expect(wrapper.get('[role="alert"]').text()).toContain('Could not reach the server.')
    window.dispatchEvent(new Event('online'))
    await flushPromises()
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    expect(wrapper.findAll('ol[aria-label="Places by distance"] .name')).toHaveLength(3)
    window.dispatchEvent(new Event('online')) // nothing failing: no search
    await flushPromises()
    expect(nearbyPlaces).toHaveBeenCalledTimes(2)
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('suggests a larger distance only while there is a larger one to choose', async () => {
    const wrapper = await homeSignedInWithoutMap({ nearbyPlaces: vi.fn(async () => ({ places: [] })) })
    expect(wrapper.text()).toContain('No places within 5 km yet. Try a larger distance, or add the first one.')
    await wrapper.get('select').setValue('50000')
    await flushPromises()
    expect(wrapper.text()).toContain('No places within 50 km yet. Add the first one.')
    expect(wrapper.text()).not.toContain('Try a larger distance')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('keeps what the distances shown are from with the search that found them, while the device is asked again', async () => {
    const asked: PositionCallback[] = []
    const getCurrentPosition = vi.fn((ok: PositionCallback) => asked.push(ok))
    vi.stubGlobal('navigator', { ...navigator, geolocation: { getCurrentPosition } })
    localStorage.setItem('happypath.showMap', 'false')
    const api = fakeApi({ nearbyPlaces: vi.fn(async () => ({ places: [near({ placeId: 'zh', name: 'Zurich Park' }, 120)] })) })
    const { wrapper } = mountWith(HomeView, { api, attachTo: document.body })
    await flushPromises()
    asked[0]!({ coords: { latitude: 47.37, longitude: 8.54 } } as GeolocationPosition)
    await flushPromises()
    const distance = () => wrapper.get('ol[aria-label="Places by distance"] li').text()
    expect(distance()).toContain('120 m away')
    await wrapper.findAll('button').find((b) => b.text() === 'Use my location')!.trigger('click')
    await flushPromises()
    expect(asked).toHaveLength(2) // asked again, no answer yet: the list shown is still the last search's
    expect(distance()).toContain('120 m away')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('offers "Search this area" once the person moved the map away, and searches around the map centre', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'true')
    const zurich = near({ placeId: 'zh', name: 'Zurich Park' }, 100)
    const winterthur = near({ placeId: 'wt', name: 'Winterthur Park', lat: 47.5, lng: 8.72 }, 300)
    const nearbyPlaces = vi.fn(async ({ lat }: { lat: number }) => ({ places: lat > 47.45 ? [winterthur] : [zurich] }))
    const api = fakeApi({ nearbyPlaces })
    const { wrapper } = mountWith(HomeView, { api, auth: fakeAuth(null), attachTo: document.body })
    await flushPromises()
    await vi.dynamicImportSettled()
    await flushPromises()
    expect(nearbyPlaces).toHaveBeenCalledTimes(1)
    const map = wrapper.findComponent(PlaceMap)
    const searchHere = () => wrapper.findAll('button').find((b) => b.text() === 'Search this area')
    // No location shared: the distances are from the default location, not "away" from the person.
    expect(wrapper.get('ol[aria-label="Places by distance"] li').text()).toContain('100 m from the default location')

    // The app fitting the map, or a nudge of a few metres, offers nothing.
    map.vm.$emit('move', { lat: 47.6, lng: 8.9 }, false)
    map.vm.$emit('move', { lat: 47.3702, lng: 8.5401 }, true)
    await flushPromises()
    expect(searchHere()).toBeUndefined()
    // Nor does zooming the map where the app fitted it, far as that is from the search's centre.
    map.vm.$emit('move', { lat: 47.6, lng: 8.9 }, false)
    map.vm.$emit('move', { lat: 47.6003, lng: 8.9004 }, true)
    await flushPromises()
    expect(searchHere()).toBeUndefined()

    // Panned to Winterthur: one search there when asked, none while moving.
    map.vm.$emit('move', { lat: 47.45, lng: 8.65 }, true)
    map.vm.$emit('move', { lat: 47.5, lng: 8.72 }, true)
    await flushPromises()
    expect(nearbyPlaces).toHaveBeenCalledTimes(1)
    await searchHere()!.trigger('click')
    await flushPromises()
    expect(nearbyPlaces).toHaveBeenCalledTimes(2)
    expect(nearbyPlaces).toHaveBeenLastCalledWith({ lat: 47.5, lng: 8.72, radius: 5000, limit: 100 })
    // List and map show the same, new places; the button is gone until the next move.
    expect(wrapper.findAll('ol[aria-label="Places by distance"] .name').map((n) => n.text())).toEqual(['Winterthur Park'])
    expect(wrapper.findAll('.leaflet-marker-pane .hp-marker').map((m) => m.attributes('data-place-id'))).toEqual(['wt'])
    expect(wrapper.text()).toContain('Near the centre of the map.')
    // Its distances are from the map's centre, not from the person ("away"), on the list and on the map.
    expect(wrapper.get('ol[aria-label="Places by distance"] li').text()).toContain("300 m from the map's centre")
    expect(wrapper.get('.leaflet-marker-pane .hp-marker').attributes('aria-label')).toBe("Winterthur Park, Park, 300 m from the map's centre")
    expect(searchHere()).toBeUndefined()
    // Focus stays where the person was: on the map whose area they searched, not back at the top of the page.
    expect(document.activeElement).toBe(wrapper.get('.leaflet-container').element)
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('says what is wrong with a coordinate on leaving it, even a "-" that changed nothing, but not when Create is pressed', async () => {
    const { wrapper, form } = await creatingPlace()
    const lat = form.get('#place-lat')
    const message = () => (form.find('[role="alert"]').exists() ? form.get('[role="alert"]').text() : null)
    await form.get('#place-name').setValue('Corner Park')
    ;(lat.element as HTMLInputElement).value = ''
    await lat.trigger('input')
    await lat.trigger('blur')
    expect(message()).toBe('Enter the latitude, or set the position on the map.')
    // A "-" typed in (a number field reads it as empty, and fires no change) forgives it while typing...
    await lat.trigger('input')
    expect(message()).toBeNull()
    await lat.trigger('blur') // ...and leaving says it again
    expect(message()).toBe('Enter the latitude, or set the position on the map.')

    // Left by pressing Create: nothing appears under the field as the finger is down (it would push the button
    // away from under it); Create says it, on the field. A touch screen ends the press before the field's blur.
    await form.findAll('button').find((b) => b.text() === 'Use map centre')!.trigger('click')
    expect(message()).toBeNull()
    ;(lat.element as HTMLInputElement).value = ''
    await lat.trigger('input')
    const create = form.findAll('button').find((b) => b.text() === 'Create place')!
    for (const event of ['pointerdown', 'pointerup', 'pointerleave']) await create.trigger(event)
    await lat.trigger('blur')
    expect(message()).toBeNull()
    await create.trigger('click') // a submit button's click submits the form
    expect(message()).toBe('Enter the latitude, or set the position on the map.')
    expect(document.activeElement).toBe(lat.element)
    // Only typing makes leaving a field check it: tabbing through says nothing more, nor moves the map.
    const positioned = () => wrapper.getComponent(CreatePlaceForm).emitted('positioned')?.length ?? 0
    await form.get('#place-lng').trigger('blur')
    const before = positioned()
    await lat.setValue('46.9')
    await lat.trigger('blur')
    expect(positioned()).toBe(before + 1) // once, for the change and the blur both
    await lat.trigger('blur')
    expect(positioned()).toBe(before + 1)
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('keeps the page when a coordinate is emptied or is a lone "-" while the map shows the new place', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'true')
    const errors: unknown[] = []
    const api = fakeApi({
      nearbyPlaces: vi.fn(async () => ({ places: [] })),
      createPlace: vi.fn(async (p) => ({ ...p, placeId: 'new1', createdAt: '2026-05-01T00:00:00Z' })),
    })
    const { wrapper, form } = await creatingPlaceOnTheMap(api, (err) => errors.push(err))
    const picked = () => wrapper.findAll('.leaflet-marker-pane .hp-marker-new')
    expect(picked()).toHaveLength(1)
    await form.get('#place-name').setValue('Corner Park')

    // Emptied: the map keeps its marker; the form says what is wrong once the field is left (not while it is
    // being typed in, which an alert at each keystroke would interrupt), and refuses to submit.
    const lat = form.get('#place-lat')
    ;(lat.element as HTMLInputElement).value = '' // typed: setValue would also leave the field (change)
    await lat.trigger('input')
    await flushPromises()
    expect(errors).toEqual([])
    expect(picked()).toHaveLength(1)
    expect(form.find('[role="alert"]').exists()).toBe(false)
    await lat.trigger('change')
    expect(form.get('[role="alert"]').text()).toBe('Enter the latitude, or set the position on the map.')
    expect(form.get('#place-lat').attributes('aria-invalid')).toBe('true')
    await form.trigger('submit')
    await flushPromises()
    expect(api.createPlace).not.toHaveBeenCalled()

    // A lone "-" (the start of a negative number) is not a position either.
    await form.get('#place-lng').setValue('-')
    await flushPromises()
    expect(errors).toEqual([])
    expect(picked()).toHaveLength(1)

    // A tap on the map mends both: the fields take its position and the message goes.
    wrapper.getComponent(PlaceMap).vm.$emit('pick', { lat: 51.51, lng: -0.12 })
    await flushPromises()
    expect(form.find('[role="alert"]').exists()).toBe(false)
    expect((form.get('#place-lat').element as HTMLInputElement).value).toBe('51.51')
    await form.get('#place-lat').setValue('')
    await flushPromises()

    // Valid again: the message goes, the marker moves, and the place is created there.
    await form.get('#place-lat').setValue('51.5')
    await form.get('#place-lng').setValue('-0.16')
    await flushPromises()
    expect(form.find('[role="alert"]').exists()).toBe(false)
    expect(form.get('#place-lat').attributes('aria-invalid')).toBe('false')
    await form.trigger('submit')
    await flushPromises()
    expect(api.createPlace).toHaveBeenCalledWith({ name: 'Corner Park', type: 'park', lat: 51.5, lng: -0.16 }, expect.any(String))
    expect(errors).toEqual([])
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('brings a position typed far from the map into its view', async () => {
    sizeTheMap()
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'true')
    const { wrapper, form } = await creatingPlaceOnTheMap(fakeApi({ nearbyPlaces: vi.fn(async () => ({ places: [] })) }))
    await form.get('#place-lat').setValue('48.2')
    await form.get('#place-lng').setValue('16.37')
    await form.get('#place-lng').trigger('blur')
    await flushPromises()
    expect([latestMap!.getCenter().lat.toFixed(1), latestMap!.getCenter().lng.toFixed(1)]).toEqual(['48.2', '16.4'])
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('moves focus to the form when "Add a place" opens it, and back to the button on Cancel', async () => {
    const wrapper = await homeSignedInWithoutMap()
    const addPlace = () => wrapper.findAll('button').find((b) => b.text() === 'Add a place')
    ;(addPlace()!.element as HTMLElement).focus()
    await addPlace()!.trigger('click')
    await flushPromises()
    expect(document.activeElement).toBe(wrapper.get('form h2').element)
    expect(document.activeElement!.textContent).toBe('Add a place')

    await wrapper.findAll('form button').find((b) => b.text() === 'Cancel')!.trigger('click')
    await flushPromises()
    expect(wrapper.find('form').exists()).toBe(false)
    expect(document.activeElement).toBe(addPlace()!.element)
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('ties each error to its field, and a refused submit puts the focus on the first field to put right', async () => {
    const { wrapper, form } = await creatingPlace()
    const field = (id: string) => form.get(`#${id}`)
    const submit = async () => {
      await form.trigger('submit')
      await flushPromises()
    }

    await submit()
    const alert = form.get('[role="alert"]')
    expect(alert.text()).toBe('Enter a name for the place.')
    expect(field('place-name').attributes('aria-invalid')).toBe('true')
    expect(field('place-name').attributes('aria-describedby')).toBe(alert.attributes('id'))
    expect(document.activeElement).toBe(field('place-name').element)
    expect(field('place-lat').attributes('aria-describedby')).toBe('position-hint')

    // Put right, it is no longer marked.
    await field('place-name').setValue('Corner Park')
    expect(field('place-name').attributes('aria-invalid')).toBe('false')
    expect(field('place-name').attributes('aria-describedby')).toBeUndefined()
    expect(form.find('[role="alert"]').exists()).toBe(false)

    // The coordinates the same way: marked, described by the error, focused on submit.
    await field('place-lat').setValue('') // typed and left
    expect(field('place-lat').attributes('aria-invalid')).toBe('true')
    expect(field('place-lat').attributes('aria-describedby')).toBe(`position-hint ${form.get('[role="alert"]').attributes('id')}`)
    expect(field('place-lng').attributes('aria-describedby')).toBe('position-hint')
    ;(field('place-name').element as HTMLElement).focus()
    await submit()
    expect(document.activeElement).toBe(field('place-lat').element)
    await field('place-lat').setValue('47.5')
    await field('place-lng').setValue('200')
    expect(form.get('[role="alert"]').text()).toBe('Longitude must be between -180 and 180.')
    expect(field('place-lat').attributes('aria-describedby')).toBe('position-hint')
    expect(field('place-lng').attributes('aria-describedby')).toContain(form.get('[role="alert"]').attributes('id'))
    await submit()
    expect(document.activeElement).toBe(field('place-lng').element)
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('sends a place again under the same Idempotency-Key after an answer that did not come, and a changed one under a new key', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'false')
    const createPlace = vi
      .fn<Api['createPlace']>()
      .mockRejectedValueOnce(new ApiError(0, NETWORK_MESSAGE))
      .mockRejectedValueOnce(new ApiError(0, NETWORK_MESSAGE))
      .mockImplementation(async (p) => ({ ...p, placeId: 'new1', createdAt: '2026-05-01T00:00:00Z' }))
    const api = fakeApi({ nearbyPlaces: vi.fn(async () => ({ places: [] })), createPlace })
    const { wrapper } = mountWith(HomeView, { api, auth: fakeAuth({ sub: 'me', name: 'Me' }), attachTo: document.body })
    await flushPromises()
    await wrapper.findAll('button').find((b) => b.text() === 'Add a place')!.trigger('click')
    const form = wrapper.get('form')
    await form.get('#place-name').setValue('Corner Park')
    await form.trigger('submit') // no answer: the place may have been added
    await flushPromises()
    expect(form.get('[role="alert"]').text()).toBe(NETWORK_MESSAGE)
    await form.trigger('submit') // the same place, asked again
    await flushPromises()
    await form.get('#place-name').setValue('Corner Gardens') // another place now
    await form.trigger('submit')
    await flushPromises()
    const [first, again, changed] = createPlace.mock.calls.map(([, key]) => key)
    expect(first).toMatch(/\S{8,}/)
    expect(again).toBe(first)
    expect(changed).not.toBe(first)
    expect(createPlace.mock.calls[2]![0].name).toBe('Corner Gardens')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('names a place already on the map that the new one would repeat: open it, or add this one as another', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'false')
    const hyde = makePlace({ placeId: 'hyde', name: 'Hyde Park' })
    const message = 'a park named "Hyde Park" is already on the map 12 m from here (placeId hyde): add photos to it…'
    const createPlace = vi.fn<Api['createPlace']>(async (p) =>
      p.allowNamesake ? { ...p, placeId: 'new1', createdAt: '2026-05-01T00:00:00Z' } : Promise.reject(new ApiError(409, message, { namesake: { place: hyde, distanceM: 12.4 } })),
    )
    const api = fakeApi({ nearbyPlaces: vi.fn(async () => ({ places: [] })), createPlace })
    const { wrapper, router } = mountWith(HomeView, { api, auth: fakeAuth({ sub: 'me', name: 'Me' }), attachTo: document.body })
    await flushPromises()
    await wrapper.findAll('button').find((b) => b.text() === 'Add a place')!.trigger('click')
    const form = wrapper.get('form')
    await form.get('#place-name').setValue('hyde park')
    ;(form.get('button[type="submit"]').element as HTMLElement).focus() // Create place pressed: saving disables it
    await form.trigger('submit')
    await flushPromises()
    const block = () => form.find('.namesake')
    expect(block().attributes('role')).toBe('alert')
    expect(block().get('p').text()).toBe(
      'A park named “Hyde Park” is already on the map, 10 m from this position. Add your photos to it, or add yours if it is another place.',
    )
    expect(block().get('a').text()).toBe('Open Hyde Park')
    expect(block().get('a').attributes('href')).toBe('/places/hyde')
    expect(form.find('.message-error').exists()).toBe(false) // not an error: nothing to put right
    expect(document.activeElement).toBe(block().get('a').element) // Tab from the buttons below would skip it

    // Another name asks again: the question goes until the next answer.
    await form.get('#place-name').setValue('Hyde Park Corner')
    expect(block().exists()).toBe(false)
    await form.get('#place-name').setValue('hyde park')
    await form.trigger('submit')
    await flushPromises()

    // It is another place: added all the same, and opened.
    await block().findAll('button').find((b) => b.text() === 'Add mine as another place')!.trigger('click')
    await flushPromises()
    expect(createPlace).toHaveBeenLastCalledWith(expect.objectContaining({ name: 'hyde park', allowNamesake: true }), expect.any(String))
    expect(createPlace.mock.calls.map(([p]) => p.allowNamesake)).toEqual([undefined, undefined, true])
    expect(router.currentRoute.value.params.placeId).toBe('new1')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it("shows the API's refusal of a field beside that field, focused, and others above the buttons", async () => {
    const refusals = [
      new ApiError(400, 'invalid request: name: must not stack more than 4 combining marks', {
        problems: [{ field: 'name', problem: 'must not stack more than 4 combining marks' }],
      }),
      new ApiError(400, 'invalid request: address: String should have at most 200 characters', {
        problems: [{ field: 'address', problem: 'String should have at most 200 characters' }],
      }),
      new ApiError(429, '25 places a day is the most one person may add'),
    ]
    const createPlace = vi.fn<Api['createPlace']>(async () => Promise.reject(refusals.shift()!))
    const { wrapper, form } = await creatingPlace({ createPlace })
    const invalid = (id: string) => form.get(`#${id}`).attributes('aria-invalid')
    const alert = () => form.get('[role="alert"]')
    await form.get('#place-name').setValue('Zalgo park')
    await form.get('#place-lat').setValue('47.5')
    await form.get('#place-lng').setValue('8.25')

    await form.trigger('submit')
    await flushPromises()
    expect(alert().text()).toBe('The name must not stack more than 4 combining marks.')
    expect(form.get('#place-name').attributes('aria-describedby')).toContain(alert().attributes('id'))
    expect([invalid('place-name'), invalid('place-address')]).toEqual(['true', 'false'])
    expect(document.activeElement).toBe(form.get('#place-name').element)

    await form.trigger('submit')
    await flushPromises()
    expect(alert().text()).toBe('String should have at most 200 characters.')
    expect([invalid('place-name'), invalid('place-address')]).toEqual(['false', 'true'])
    expect(document.activeElement).toBe(form.get('#place-address').element)

    ;(form.get('button[type="submit"]').element as HTMLElement).focus() // Create place pressed: saving disables it
    await form.trigger('submit')
    await flushPromises()
    expect(alert().text()).toBe('25 places a day is the most one person may add')
    expect([invalid('place-name'), invalid('place-address')]).toEqual(['false', 'false'])
    expect(form.get('button[type="submit"]').text()).toBe('Create place')
    expect(form.get('button[type="submit"]').attributes('disabled')).toBeUndefined()
    expect(document.activeElement).toBe(form.get('button[type="submit"]').element) // not lost to the page

    // Enter pressed in a field: the focus stays there, the answer announced all the same.
    refusals.push(new ApiError(0, 'Could not reach the server. Check your connection and try again.'))
    ;(form.get('#place-name').element as HTMLElement).focus()
    await form.trigger('submit')
    await flushPromises()
    expect(alert().text()).toBe('Could not reach the server. Check your connection and try again.')
    expect(document.activeElement).toBe(form.get('#place-name').element)

    // Each field by its own name, with the focus on it; a refusal about no field of the form, above the buttons.
    for (const [refusal, message, id] of [
      [{ field: 'lat', problem: 'must be at most 90' }, 'The latitude must be at most 90.', 'place-lat'],
      [{ field: 'lng', problem: 'must be at most 180' }, 'The longitude must be at most 180.', 'place-lng'],
      [{ field: 'type', problem: 'must be one of the kinds offered' }, 'The kind of place must be one of the kinds offered.', 'place-type'],
      [{ field: 'address', problem: 'Value error, e.g. no HTML.' }, 'Value error, e.g. no HTML.', 'place-address'],
      [{ field: 'body', problem: 'must be JSON' }, 'invalid request: body: must be JSON', null],
    ] as const) {
      refusals.push(new ApiError(400, `invalid request: ${refusal.field}: ${refusal.problem}`, { problems: [refusal] }))
      await form.trigger('submit')
      await flushPromises()
      expect(alert().text()).toBe(message)
      if (id) expect(document.activeElement).toBe(form.get(`#${id}`).element)
    }
    // A failure that is not the API's answer at all.
    vi.spyOn(console, 'error').mockImplementation(() => {})
    refusals.push(new TypeError('Failed to fetch') as never)
    await form.trigger('submit')
    await flushPromises()
    expect(alert().text()).toBe(NETWORK_MESSAGE)
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('marks a coordinate invalid only while the error shown is about it, as the other fields', async () => {
    const { wrapper, form } = await creatingPlace()
    const invalid = (id: string) => form.get(`#${id}`).attributes('aria-invalid')
    const message = () => form.get('[role="alert"]').text()

    // Both coordinates are wrong; the message is about the first, and only that field is marked.
    await form.get('#place-lat').setValue('') // typed and left
    await form.get('#place-lng').setValue('-')
    expect(message()).toBe('Enter the latitude, or set the position on the map.')
    expect([invalid('place-lat'), invalid('place-lng')]).toEqual(['true', 'false'])

    // The latitude put right, the message and the mark move on to the longitude.
    await form.get('#place-lat').setValue('47.5')
    expect(message()).toBe('Enter the longitude, or set the position on the map.')
    expect([invalid('place-lat'), invalid('place-lng')]).toEqual(['false', 'true'])

    // A refused submit says what is wrong with the name first: the name is marked, the longitude no longer.
    await form.trigger('submit')
    await flushPromises()
    expect(message()).toBe('Enter a name for the place.')
    expect([invalid('place-name'), invalid('place-lng')]).toEqual(['true', 'false'])
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('refuses a name or address with an invisible character in words, before asking the API', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'false')
    const api = fakeApi({
      nearbyPlaces: vi.fn(async () => ({ places: [] })),
      createPlace: vi.fn(async (p) => ({ ...p, placeId: 'new1', createdAt: '2026-05-01T00:00:00Z' })),
    })
    const { wrapper } = mountWith(HomeView, { api, auth: fakeAuth({ sub: 'me', name: 'Me' }) })
    await flushPromises()
    await wrapper.findAll('button').find((b) => b.text() === 'Add a place')!.trigger('click')
    const form = wrapper.get('form')
    await form.get('#place-lat').setValue('51.5')
    await form.get('#place-lng').setValue('-0.16')
    for (const [field, text, what] of [
      ['#place-name', 'Caf\u00e9 \u202egnp.exe', 'The name'], // a right-to-left override
      ['#place-name', 'Regent\u200bs Park', 'The name'], // a zero-width space
    ] as const) {
      await form.get(field).setValue(text)
      await form.trigger('submit')
      expect(form.get('[role="alert"]').text()).toBe(
        `${what} contains an invisible or control character (such as a direction mark): remove it and type it again.`,
      )
      expect(form.get(field).attributes('aria-invalid')).toBe('true')
    }
    await form.get('#place-name').setValue('Family picnic \u{1F468}\u200d\u{1F469}\u200d\u{1F467}') // emoji joiners are fine
    await form.get('#place-address').setValue('1 Park Lane\u200e')
    await form.trigger('submit')
    expect(form.get('[role="alert"]').text()).toContain('The address contains an invisible')
    expect(form.get('#place-address').attributes('aria-invalid')).toBe('true')
    expect(api.createPlace).not.toHaveBeenCalled()
    await form.get('#place-address').setValue(' 1 Park Lane ')
    await form.trigger('submit')
    await flushPromises()
    expect(api.createPlace).toHaveBeenCalledTimes(1)
    expect(vi.mocked(api.createPlace).mock.calls[0]![0]).toMatchObject({ address: '1 Park Lane' })
    vi.unstubAllGlobals()
  })

  it('lets a signed-in user create a place of a configured type', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'false')
    const config = { ...testConfig, placeTypes: ['restaurant', 'cafe', 'bar'] }
    const api = fakeApi({
      nearbyPlaces: vi.fn(async () => ({ places: [] })),
      createPlace: vi.fn(async (p) => ({ ...p, placeId: 'new1', createdAt: '2026-05-01T00:00:00Z' })),
    })
    const { wrapper, router } = mountWith(HomeView, { api, config, auth: fakeAuth({ sub: 'me', name: 'Me' }) })
    await flushPromises()
    expect(wrapper.get('h1').text()).toBe('Restaurants, cafes and bars nearby')
    expect(wrapper.text()).toContain('No places within 5 km yet')

    await wrapper.findAll('button').find((b) => b.text() === 'Add a place')!.trigger('click')
    const form = wrapper.get('form')
    expect(form.findAll('#place-type option').map((o) => o.text())).toEqual(['Restaurant', 'Cafe', 'Bar'])
    expect(form.get('#position-hint').text()).toBe('Tap or click the map to set it, use the map centre, or type the coordinates.')
    await form.get('button[type="submit"]').trigger('submit')
    expect(form.get('[role="alert"]').text()).toBe('Enter a name for the place.')
    expect(api.createPlace).not.toHaveBeenCalled()

    await form.get('#place-name').setValue('   ')
    await form.trigger('submit')
    expect(form.get('[role="alert"]').text()).toBe('Enter a name for the place.')
    await form.get('#place-address').setValue('   ')
    await form.get('#place-name').setValue('  Blue Cafe ')
    await form.get('#place-lat').setValue('')
    await form.trigger('submit')
    expect(form.get('[role="alert"]').text()).toBe('Enter the latitude, or set the position on the map.')
    await form.get('#place-type').setValue('cafe')
    await form.get('#place-lat').setValue('47.5')
    await form.get('#place-lng').setValue('8.25')
    await form.trigger('submit')
    await flushPromises()
    expect(api.createPlace).toHaveBeenCalledWith({ name: 'Blue Cafe', type: 'cafe', lat: 47.5, lng: 8.25 }, expect.any(String))
    expect(router.currentRoute.value.fullPath).toBe('/places/new1')
    expect(notices.map((n) => [n.kind, n.text])).toContainEqual(['info', '"Blue Cafe" was added.'])
    expect(wrapper.find('form').exists()).toBe(false)
    notices.splice(0)
    vi.unstubAllGlobals()
  })

  it('takes latitudes from -90 to 90 and longitudes from -180 to 180, the ends included', async () => {
    const { wrapper, form } = await creatingPlace()
    const problem = () => (form.find('[role="alert"]').exists() ? form.get('[role="alert"]').text() : null)
    for (const [lat, lng, expected] of [
      ['90', '180', null],
      ['-90', '-180', null],
      ['90.5', '0', 'Latitude must be between -90 and 90.'],
      ['-90.5', '0', 'Latitude must be between -90 and 90.'],
      ['0', '180.5', 'Longitude must be between -180 and 180.'],
      ['0', '-180.5', 'Longitude must be between -180 and 180.'],
    ] as const) {
      await form.get('#place-lat').setValue(lat)
      await form.get('#place-lng').setValue(lng)
      expect(problem(), `${lat}, ${lng}`).toBe(expected)
    }
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('keeps a message about one field while another is edited, and "Use map centre" sets the position', async () => {
    const { wrapper, form } = await creatingPlace()
    const problem = () => (form.find('[role="alert"]').exists() ? form.get('[role="alert"]').text() : null)
    // A wrong coordinate is not forgotten when another field is edited, whatever else is still missing.
    await form.get('#place-lat').setValue('')
    await form.get('#place-address').setValue('1 Park Lane')
    expect(problem()).toBe('Enter the latitude, or set the position on the map.')
    await form.get('#place-lat').setValue('47.37')
    await form.get('#place-lng').setValue('')
    await form.get('#place-address').setValue('2 Park Lane')
    expect(problem()).toBe('Enter the longitude, or set the position on the map.')
    await form.get('#place-lng').setValue('8.54')
    expect(problem()).toBeNull()

    await form.trigger('submit')
    await flushPromises()
    expect(problem()).toBe('Enter a name for the place.')
    await form.get('#place-name').setValue('  ') // still no name
    expect(problem()).toBe('Enter a name for the place.')
    await form.get('#place-lat').setValue('47.1') // a good coordinate does not answer for the name
    expect(problem()).toBe('Enter a name for the place.')
    await form.get('#place-name').setValue('Corner Park')
    expect(problem()).toBeNull()

    await form.get('#place-lat').setValue('')
    expect(problem()).toBe('Enter the latitude, or set the position on the map.')
    await form.get('#place-address').setValue('1 Park Lane') // the coordinate is still wrong
    expect(problem()).toBe('Enter the latitude, or set the position on the map.')

    await form.findAll('button').find((b) => b.text() === 'Use map centre')!.trigger('click')
    await flushPromises()
    expect(problem()).toBeNull()
    expect((form.get('#place-lat').element as HTMLInputElement).value).toBe('47.37')
    expect((form.get('#place-lng').element as HTMLInputElement).value).toBe('8.54')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('starts a new place where the device says the person is, and "Use where I am" asks the device again', async () => {
    const fixes: Array<(pos: GeolocationPosition | null) => void> = []
    const getCurrentPosition = vi.fn((ok: PositionCallback, fail: PositionErrorCallback, _options?: PositionOptions) =>
      fixes.push((pos) => (pos ? ok(pos) : fail({ code: 3, message: 'timeout' } as GeolocationPositionError))),
    )
    const at = (latitude: number, longitude: number) => ({ coords: { latitude, longitude } }) as GeolocationPosition
    vi.stubGlobal('navigator', { ...navigator, geolocation: { getCurrentPosition } })
    localStorage.setItem('happypath.showMap', 'false')
    const api = fakeApi({ nearbyPlaces: vi.fn(async () => ({ places: [] })) })
    const { wrapper } = mountWith(HomeView, { api, auth: fakeAuth({ sub: 'me', name: 'Me' }), attachTo: document.body })
    fixes.shift()!(at(46.95, 7.45))
    await flushPromises()
    await wrapper.findAll('button').find((b) => b.text() === 'Add a place')!.trigger('click')
    const form = wrapper.get('form')
    const coordinates = () => [form.get('#place-lat'), form.get('#place-lng')].map((f) => (f.element as HTMLInputElement).value)
    const hereButton = () => form.findAll('button').find((b) => b.text() === 'Use where I am')!
    const note = () => form.get('.locate-note').text()
    expect(coordinates()).toEqual(['46.95', '7.45'])
    expect(form.get('#position-hint').text()).toBe('Tap or click the map to set it, use your location or the map centre, or type the coordinates.')

    // The person walked on: the device is asked again, for a precise and recent fix, and the place goes there.
    await form.get('#place-lat').setValue('46.9')
    ;(hereButton().element as HTMLElement).focus()
    await hereButton().trigger('click')
    expect(getCurrentPosition).toHaveBeenCalledTimes(2)
    expect(getCurrentPosition.mock.calls[1]![2]).toEqual({ enableHighAccuracy: true, timeout: 10_000, maximumAge: 0 })
    expect(note()).toBe('Finding where you are…') // read out (a status line)
    expect(hereButton().attributes('aria-disabled')).toBe('true')
    expect(hereButton().attributes('disabled')).toBeUndefined() // it keeps the keyboard's focus
    await hereButton().trigger('click') // pressed again meanwhile: asked once
    expect(getCurrentPosition).toHaveBeenCalledTimes(2)
    fixes.shift()!(at(46.951, 7.452))
    await flushPromises()
    expect(coordinates()).toEqual(['46.951', '7.452'])
    expect(note()).toBe('Set to where you are.')
    expect(wrapper.getComponent(CreatePlaceForm).emitted('positioned')?.at(-1)).toEqual([{ lat: 46.951, lng: 7.452 }]) // brought into the map's view
    expect(hereButton().attributes('aria-disabled')).toBe('false')
    expect(document.activeElement).toBe(hereButton().element)

    // No fix this time: the position stays as it was, and the form says why nothing moved; a new one clears it.
    await form.get('#place-lat').setValue('46.9')
    expect(note()).toBe('')
    await hereButton().trigger('click')
    fixes.shift()!(null)
    await flushPromises()
    expect(coordinates()).toEqual(['46.9', '7.452'])
    expect(note()).toBe('Your location could not be found just now: the position is as it was.')
    await form.findAll('button').find((b) => b.text() === 'Use map centre')!.trigger('click')
    await flushPromises()
    expect(note()).toBe('')

    // Set by hand while the device looked: the fix that comes after does not undo it.
    await hereButton().trigger('click')
    await form.get('#place-lat').setValue('46.5')
    fixes.shift()!(at(46.951, 7.452))
    await flushPromises()
    expect(coordinates()[0]).toBe('46.5')
    expect(note()).toBe('Kept the position you set meanwhile.')

    // A coordinate emptied, then "Use where I am" pressed and no fix: what is wrong is said once the press is over.
    const lat = form.get('#place-lat')
    ;(lat.element as HTMLInputElement).value = ''
    await lat.trigger('input')
    await hereButton().trigger('pointerdown')
    await lat.trigger('blur')
    expect(form.find('[role="alert"]').exists()).toBe(false) // not while the button is pressed
    await hereButton().trigger('click')
    fixes.shift()!(null)
    await flushPromises()
    expect(form.get('[role="alert"]').text()).toBe('Enter the latitude, or set the position on the map.')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('says when a name or an address is as long as it can be, instead of stopping the typing without a word', async () => {
    const { wrapper, form } = await creatingPlace()
    const name = form.get('#place-name')
    // The API's limits, from its OpenAPI document (generated from its models).
    const { name: nameSchema, address: addressSchema } = openapi.components.schemas.NewPlace.properties
    expect([nameSchema.maxLength, addressSchema.anyOf[0]!.maxLength]).toEqual([120, 200])
    expect(name.attributes('maxlength')).toBe('120')
    await name.setValue('x'.repeat(119))
    expect(form.get('#name-limit').text()).toBe('')
    expect(name.attributes('aria-describedby')).toBeUndefined()
    await name.setValue('x'.repeat(120))
    expect(form.get('#name-limit').text()).toBe('That is as long as it can be (120 characters).')
    expect(name.attributes('aria-describedby')).toBe('name-limit')
    await form.get('#place-address').setValue('y'.repeat(200))
    expect(form.get('#address-limit').text()).toBe('That is as long as it can be (200 characters).')
    expect(form.get('#place-address').attributes('maxlength')).toBe('200')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('offers no "Use where I am" when the device did not say where the person is', async () => {
    const { wrapper, form } = await creatingPlace()
    expect(form.findAll('button').map((b) => b.text())).not.toContain('Use where I am')
    expect(form.get('#position-hint').text()).toBe('Tap or click the map to set it, use the map centre, or type the coordinates.')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('shows it is creating the place meanwhile, with nothing to press twice', async () => {
    let created: (place: Place) => void = () => {}
    const createPlace = vi.fn<Api['createPlace']>(() => new Promise((resolve) => (created = resolve)))
    const { wrapper, form } = await creatingPlace({ createPlace })
    await form.get('#place-name').setValue('Corner Park')
    await form.trigger('submit')
    await flushPromises()
    const submit = form.get('button[type="submit"]')
    expect(submit.text()).toBe('Creating…')
    expect(submit.attributes('disabled')).toBeDefined()
    expect(form.findAll('button').find((b) => b.text() === 'Cancel')!.attributes('disabled')).toBeDefined()
    expect(form.find('[role="alert"]').exists()).toBe(false)
    created(makePlace({ placeId: 'new1', name: 'Corner Park' }))
    await flushPromises()
    wrapper.unmount()
    vi.unstubAllGlobals()
    notices.splice(0)
  })

  it('shows only the latest search, says it is loading until then, and reports a failed one', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'false')
    const answers: { resolve: (v: { places: NearbyPlace[] }) => void; reject: (e: unknown) => void }[] = []
    const nearbyPlaces = vi.fn(() => new Promise<{ places: NearbyPlace[] }>((resolve, reject) => answers.push({ resolve, reject })))
    const { wrapper } = mountWith(HomeView, { api: fakeApi({ nearbyPlaces }), auth: fakeAuth(null) })
    await flushPromises()
    const names = () => wrapper.findAll('ol[aria-label="Places by distance"] .name').map((n) => n.text())
    const loading = () => wrapper.findAll('[role="status"]').some((s) => s.text() === 'Loading places…')
    expect(wrapper.find('#map-panel').exists()).toBe(false)
    expect(wrapper.findAll('button').find((b) => b.text() === 'Show map')!.attributes('aria-expanded')).toBe('false')
    expect(wrapper.findAll('select option').map((o) => o.text())).toEqual(['1 km', '5 km', '20 km', '50 km'])
    expect(loading()).toBe(true)

    await wrapper.get('select').setValue('20000')
    await flushPromises()
    expect(nearbyPlaces).toHaveBeenLastCalledWith(expect.objectContaining({ radius: 20_000 }))
    answers[0]!.reject(new ApiError(503, 'Service unavailable, try later.')) // the first search fails late
    await flushPromises()
    expect(loading()).toBe(true)
    answers[1]!.resolve({ places: [near({ placeId: 'a', name: 'A Park' }, 100)] })
    await flushPromises()
    expect(loading()).toBe(false)
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    expect(names()).toEqual(['A Park'])
    // Said in a status region that stays in the page: screen readers hear what each search found.
    const said = () => wrapper.get('[data-testid="search-status"]')
    expect([said().attributes('role'), said().text()]).toEqual(['status', '1 place within 20 km.'])

    await wrapper.get('select').setValue('50000')
    await wrapper.get('select').setValue('1000')
    await flushPromises()
    answers[3]!.resolve({ places: [near({ placeId: 'b', name: 'B Park' }, 100)] })
    answers[2]!.resolve({ places: [near({ placeId: 'c', name: 'C Park' }, 100)] }) // an earlier, slower answer
    await flushPromises()
    expect(names()).toEqual(['B Park'])
    expect(said().text()).toBe('1 place within 1 km.')

    await wrapper.get('select').setValue('5000')
    answers[4]!.resolve({ places: [] })
    await flushPromises()
    expect(said().text()).toBe('No places within 5 km.')
    await wrapper.get('select').setValue('1000')
    answers[5]!.reject(new ApiError(503, 'Service unavailable, try later.'))
    await flushPromises()
    expect(wrapper.get('[role="alert"]').text()).toContain('Service unavailable, try later.')
    expect(said().text()).toBe('') // the alert says it
    vi.unstubAllGlobals()
  })

  it('while the location is being found, shows the map at the default centre and no list, message or offer yet', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: { getCurrentPosition: () => {} } })
    localStorage.setItem('happypath.showMap', 'true')
    const api = fakeApi()
    const errors: unknown[] = []
    const { wrapper } = mountWith(HomeView, { api, auth: fakeAuth({ sub: 'me', name: 'Me' }), attachTo: document.body })
    wrapper.vm.$.appContext.config.errorHandler = (err) => errors.push(err)
    await flushPromises()
    await vi.dynamicImportSettled()
    await flushPromises()
    expect(errors).toEqual([])
    expect(wrapper.find('.leaflet-container').exists()).toBe(true)
    expect(wrapper.get('.where').text()).toBe('Finding your location…')
    expect(wrapper.findAll('button').map((b) => b.text())).not.toContain('Search this area')
    expect(api.nearbyPlaces).not.toHaveBeenCalled()
    const list = wrapper.get('#list-title').element.parentElement!.textContent!
    expect(list).not.toContain('Loading places')
    expect(list).not.toContain('No places within')
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    // A place added meanwhile starts at the default centre.
    await wrapper.findAll('button').find((b) => b.text() === 'Add a place')!.trigger('click')
    expect((wrapper.get('#place-lat').element as HTMLInputElement).value).toBe('47.37')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('offers "Search this area" only past a fifth of the distance searched (at least 100 m)', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'true')
    const { wrapper } = mountWith(HomeView, { api: fakeApi({ nearbyPlaces: vi.fn(async () => ({ places: [] })) }), auth: fakeAuth(null), attachTo: document.body })
    await flushPromises()
    await vi.dynamicImportSettled()
    await flushPromises()
    const map = wrapper.findComponent(PlaceMap)
    const offered = () => wrapper.findAll('button').some((b) => b.text() === 'Search this area')
    map.vm.$emit('move', { lat: 47.375, lng: 8.54 }, true) // about 560 m north: within 1 km of 5 km
    await flushPromises()
    expect(offered()).toBe(false)
    map.vm.$emit('move', { lat: 47.385, lng: 8.54 }, true) // about 1.7 km
    await flushPromises()
    expect(offered()).toBe(true)
    wrapper.unmount()
    vi.unstubAllGlobals()
  })

  it('reports a sign-in that cannot start, from "Sign in to add a place"', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'false')
    notices.splice(0)
    const auth = fakeAuth(null)
    vi.mocked(auth.signIn).mockRejectedValue(new ApiError(0, 'Could not reach the server.'))
    const { wrapper } = mountWith(HomeView, { api: fakeApi({ nearbyPlaces: vi.fn(async () => ({ places: [] })) }), auth })
    await flushPromises()
    await wrapper.findAll('button').find((b) => b.text() === 'Sign in to add a place')!.trigger('click')
    await flushPromises()
    expect(auth.signIn).toHaveBeenCalledWith('/')
    expect(notices.map((n) => [n.kind, n.text])).toEqual([['error', 'Sign-in could not start. Could not reach the server.']])
    notices.splice(0)
    vi.unstubAllGlobals()
  })

  it('opens a place from its marker; when that page cannot be downloaded, this one stays as it was', async () => {
    vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
    localStorage.setItem('happypath.showMap', 'true')
    // The place page is a chunk of its own: the first download fails (the connection dropped), the next works.
    const placePage = vi.fn().mockRejectedValueOnce(new Error('Failed to fetch dynamically imported module')).mockResolvedValue(Stub)
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/', name: 'home', component: Stub },
        { path: '/places/:placeId', name: 'place', component: placePage },
      ],
    })
    const routerReported = vi.fn()
    router.onError(routerReported)
    await router.push('/')
    const api = fakeApi({ nearbyPlaces: vi.fn(async () => ({ places })) })
    // As the app shows pages: inside the error boundary that replaces a page that fails.
    const Page = { render: () => h(ErrorBoundary, null, { default: () => h(HomeView) }) }
    const { wrapper } = mountWith(Page, { api, auth: fakeAuth(null), router, attachTo: document.body })
    await flushPromises()
    await vi.dynamicImportSettled()
    await flushPromises()

    await wrapper.get('[data-place-id="mid"]').trigger('click')
    await flushPromises()
    expect(routerReported).toHaveBeenCalledTimes(1) // the app's handler says "This page could not be loaded…"
    expect(router.currentRoute.value.fullPath).toBe('/')
    expect(wrapper.text()).not.toContain('This part of the page could not be shown')
    expect(wrapper.find('.leaflet-container').exists()).toBe(true)

    await wrapper.get('[data-place-id="mid"]').trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/places/mid')
    wrapper.unmount()
    vi.unstubAllGlobals()
  })
})

