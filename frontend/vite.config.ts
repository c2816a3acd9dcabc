/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'

/**
 * The app's stylesheet, which Vite links in <head>, is linked at the end of <body> instead, after the loading text:
 * in <head> it holds back the first paint, so a slow connection saw a blank page until it came. The app still starts
 * after it (a module script waits for the style sheets before it), so nothing shows unstyled. The build fails if
 * Vite's page no longer has what this moves.
 */
export function stylesheetAfterLoadingText(): Plugin {
  return {
    name: 'happypath-stylesheet-after-loading-text',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(html) {
        const links = html.match(/[ \t]*<link\b[^>]*\brel="stylesheet"[^>]*>\n?/g) ?? []
        const page = links.reduce((rest, link) => rest.replace(link, ''), html)
        const end = page.lastIndexOf('</body>')
        if (links.length === 0 || end < 0) {
          throw new Error('index.html: no stylesheet link, or no </body> to move it before (vite.config.ts)')
        }
        const moved = links.map((link) => `  ${link.trim()}\n  `).join('')
        return `${page.slice(0, end)}${moved}${page.slice(end)}`
      },
    },
  }
}

export default defineConfig(({ command }) => ({
  plugins: [vue(), stylesheetAfterLoadingText()],
  // The app uses the Composition API only: drop the Options API from the production bundle.
  define: command === 'build' ? { __VUE_OPTIONS_API__: 'false', __VUE_PROD_DEVTOOLS__: 'false' } : {},
  build: {
    // Phones: browsers from the last few years (Safari 14+, Chrome 87+).
    target: 'es2020',
    sourcemap: false,
  },
  server: { port: 5173 },
  preview: { port: 4173 },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts'],
    restoreMocks: true,
  },
}))
