import { describe, expect, it } from 'vitest'
import type { IndexHtmlTransformHook } from 'vite'
import { stylesheetAfterLoadingText } from '../vite.config'

/** The plugin's page transform, as the build calls it. */
function transform(html: string): string {
  const { handler } = stylesheetAfterLoadingText().transformIndexHtml as { handler: IndexHtmlTransformHook }
  return handler.call({} as ThisParameterType<IndexHtmlTransformHook>, html, {} as Parameters<IndexHtmlTransformHook>[1]) as string
}

describe('the built page', () => {
  it('links the stylesheet before </body>, after the loading text, wherever </body> stands', () => {
    for (const body of ['<body>\n    <div id="app"><p>Loading</p></div>\n  </body>', '<body><div id="app"></div></body>']) {
      const page = `<html><head>\n    <link rel="stylesheet" crossorigin href="/assets/index-x.css">\n  </head>${body}</html>`
      const built = transform(page)
      expect(built.match(/rel="stylesheet"/g)).toHaveLength(1)
      expect(built.indexOf('index-x.css')).toBeGreaterThan(built.indexOf('id="app"'))
      expect(built.indexOf('index-x.css')).toBeLessThan(built.indexOf('</body>'))
      expect(built.slice(0, built.indexOf('</head>'))).not.toContain('stylesheet')
    }
  })

  it('fails the build when the page has no stylesheet link or no </body>', () => {
    expect(() => transform('<html><head></head><body></body></html>')).toThrow(/no stylesheet link/)
    expect(() => transform('<html><head><link rel="stylesheet" href="/a.css"></head></html>')).toThrow(/no stylesheet link/)
  })
})
